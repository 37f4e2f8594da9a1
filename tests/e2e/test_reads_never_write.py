"""Reads never write: no read of the log signs a checkpoint or stores anything, at any door.

Found by a hostile client: anonymous reads signed and stored checkpoints (264 of them during
400 writes), because the checkpoint a proof was made against was signed on demand wherever the
process held the key. Now only writers sign (`reliquary checkpoint`, the service's log
follower, at most once per interval), so a reader sees the latest signed checkpoint, and an
entry newer than it is served as a leaf but is not provable until a writer signs.

Each test counts the log's rows (checkpoints, leaves, the log's position) before and after
many reads, on each backend, with a service that holds the signing key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Services, build_ledger
from api.cli import main
from api.cli.demo import load_demo
from api.http.app import create_app
from api.settings import Settings
from projections.translog.keys import create_signing_key
from tests.support import SHELL_SETTINGS, parse, register, unique

ORIGIN = "reliquary.local/ledger"
DEMO = "claude-opus-3"  # has preserved weights
READS_EACH = 5


@dataclass
class Served:
    client: TestClient
    app: Any
    auditor: str

    @property
    def services(self) -> Services:
        return self.app.state.services  # type: ignore[no-any-return]

    def rows(self) -> tuple[int, int, int | None]:
        """What the log has stored: checkpoints, leaves, the last event it took."""
        log = self.services.log.log
        return (
            len(log.checkpoints()),
            log.size(),
            log.recorder.max_tracking_id(self.services.ledger.name),
        )

    def record(self, count: int) -> None:
        """Record events straight through the ledger (a writer elsewhere)."""
        for _ in range(count):
            self.services.ledger.execute(parse(register(unique("late"))))


def _settings(database_url: str, key: Path, **extra: Any) -> Settings:
    create_signing_key(key, ORIGIN)
    settings = Settings(database_url=database_url, signing_key=key, log_origin=ORIGIN, **extra)
    ledger = build_ledger(settings)
    load_demo(ledger)
    ledger.close()
    return settings


@pytest.fixture
def quiet(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """The app holding the signing key, with no log follower: only the test writes."""
    settings = _settings(database_url, tmp_path / "signing.key")
    monkeypatch.setattr(Services, "follow_log", lambda self: None)
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        auditor = app.state.services.actors.add("reads-auditor", "auditor").token
        yield Served(client, app, auditor)


def _log_reads(served: Served, signed: int, unsigned: int) -> list[tuple[str, bool]]:
    """Every read of the log (path, whether it needs a token), for a signed and an unsigned
    sequence."""
    return [
        ("/log/key", False),
        ("/log/checkpoint", False),
        ("/log/checkpoints", False),
        ("/log/checkpoints?limit=1", False),
        (f"/log/proof/inclusion?sequence={signed}", False),
        (f"/log/proof/inclusion?sequence={unsigned}", False),
        (f"/log/proof/inclusion?sequence={signed}&size={unsigned + 1}", False),
        ("/log/proof/consistency?old=5", False),
        (f"/log/proof/consistency?old=5&new={unsigned + 1}", False),
        (f"/log/leaves/{signed}", False),
        (f"/log/leaves/{unsigned}", False),
        ("/tlog/checkpoint", False),
        ("/tlog/tile/0/000.p/5", False),
        ("/tlog/tile/entries/000.p/5", False),
        (f"/models/{DEMO}/manifest", False),
        (f"/models/{DEMO}/manifest?version=3", False),
        ("/web/", False),
        ("/web/verify", False),
        (f"/web/models/{DEMO}/manifest", False),
        (f"/web/decisions/{signed}", True),
        ("/log/export", True),
    ]


def _read_everything(served: Served, signed: int, unsigned: int) -> dict[str, int]:
    statuses: dict[str, int] = {}
    for _ in range(READS_EACH):
        for path, private in _log_reads(served, signed, unsigned):
            headers = {"Authorization": f"Bearer {served.auditor}"} if private else {}
            response = served.client.get(path, headers=headers)
            assert response.status_code < 500, (path, response.text)
            statuses[path] = response.status_code
    return statuses


def test_reads_with_no_checkpoint_sign_nothing(quiet: Served) -> None:
    quiet.services.log.catch_up()  # the log has every event; no checkpoint is signed
    assert quiet.services.log.holds_signing_key()
    before = quiet.rows()
    assert before[0] == 0

    statuses = _read_everything(quiet, signed=3, unsigned=quiet.services.log.log.size() - 1)

    assert quiet.rows() == before  # no checkpoint, no leaf, no position stored
    for path in ("/log/checkpoint", "/tlog/checkpoint", "/log/proof/inclusion?sequence=3"):
        assert statuses[path] == 404, path
    problem = quiet.client.get("/log/checkpoint").json()
    assert problem["type"] == "urn:reliquary:problem:no-checkpoint"
    assert "reliquary checkpoint" in problem["detail"]  # it says who signs
    assert statuses["/log/checkpoints"] == 200
    assert quiet.client.get("/log/checkpoints").json() == []
    assert statuses["/log/leaves/3"] == 200  # a leaf needs no checkpoint


def test_reads_after_new_events_sign_nothing_and_do_not_take_them(quiet: Served) -> None:
    signed = quiet.services.log.sign_checkpoint()  # a writer signs the demo's events
    quiet.record(3)  # three events not taken into the log yet
    before = quiet.rows()

    statuses = _read_everything(quiet, signed=3, unsigned=signed.size + 1)

    assert quiet.rows() == before  # nothing signed, and the reads took no event either
    assert statuses["/log/checkpoint"] == 200
    assert quiet.client.get("/log/checkpoint").text == signed.note
    assert quiet.services.log.pending() == 3


def test_entries_newer_than_the_checkpoint_are_served_but_not_yet_provable(quiet: Served) -> None:
    signed = quiet.services.log.sign_checkpoint()
    quiet.record(2)
    quiet.services.log.catch_up()  # the log takes them (as the follower does), unsigned
    newer = signed.size + 1
    before = quiet.rows()

    assert quiet.client.get(f"/log/leaves/{newer}").status_code == 200
    proof = quiet.client.get("/log/proof/inclusion", params={"sequence": newer})
    assert proof.status_code == 404
    assert proof.json()["type"] == "urn:reliquary:problem:no-checkpoint"
    assert "not yet in a signed checkpoint" in proof.json()["detail"]
    consistency = quiet.client.get("/log/proof/consistency", params={"old": 5}).json()
    assert consistency["new_size"] == signed.size  # the latest signed, not the log's size
    assert quiet.rows() == before

    # Once a writer signs, the same read proves it.
    later = quiet.services.log.sign_pending()
    assert later is not None and later.size == signed.size + 2
    assert quiet.services.log.sign_pending() is None  # nothing new: nothing signed
    proof = quiet.client.get("/log/proof/inclusion", params={"sequence": newer})
    assert proof.status_code == 200
    assert proof.json()["tree_size"] == later.size


def test_the_cli_reads_sign_nothing(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.setenv("RELIQUARY_SIGNING_KEY", str(tmp_path / "signing.key"))
    monkeypatch.setenv("RELIQUARY_DATABASE_URL", database_url)
    for name in SHELL_SETTINGS:
        monkeypatch.delenv(name, raising=False)

    def cli(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    assert cli("init")[0] == 0
    assert cli("demo")[0] == 0
    assert cli("checkpoint")[0] == 0
    extra = tmp_path / "one.jsonl"
    extra.write_text(json.dumps(register(unique("cli"))) + "\n")
    assert cli("apply", str(extra))[0] == 0  # recorded, not signed
    code, out, _ = cli("checkpoint", "--list", "--json")
    kept = json.loads(out)
    assert len(kept) == 1

    assert cli("proof", "inclusion", "3", "--json")[0] == 0
    assert cli("proof", "consistency", "5", str(kept[0]["size"]), "--json")[0] == 0
    assert cli("history", DEMO, "--at-version", "3", "--proofs", "--json")[0] == 0
    code, _, err = cli("proof", "inclusion", str(kept[0]["size"]), "--json")
    assert code == 1  # the new event is not in a signed checkpoint, and the read signs none
    assert cli("checkpoint", "--list", "--json")[1] == out

    # The writer's command signs it.
    code, out, _ = cli("checkpoint", "--json")
    assert json.loads(out)["size"] == kept[0]["size"] + 1
    assert cli("proof", "inclusion", str(kept[0]["size"]), "--json")[0] == 0


def test_the_service_signs_on_its_own_at_most_once_per_interval(
    database_url: str, tmp_path: Path
) -> None:
    settings = _settings(database_url, tmp_path / "signing.key", checkpoint_interval_seconds=3600)
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        services: Services = app.state.services
        follower = services.follower
        assert follower is not None
        deadline = time.monotonic() + 20
        while follower.signed == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert follower.signed == 1, "the follower did not sign the demo's events at start"
        first = services.log.latest_checkpoint()
        assert first.size == services.log.log.size() >= 111

        # Writes and reads go on; the next checkpoint is not due for an hour.
        served = Served(client, app, services.actors.add("x-auditor", "auditor").token)
        served.record(3)
        follower.wake()
        deadline = time.monotonic() + 20
        while services.log.pending() and time.monotonic() < deadline:
            time.sleep(0.02)
        _read_everything(served, signed=3, unsigned=first.size + 1)
        assert follower.signed == 1
        assert len(services.log.log.checkpoints()) == 1
