"""The same question or command through every door gets the same answer from the ledger.

A command by a role the authority table does not allow, or by the actor who requested the
access it decides, is refused with the same rule through `reliquary apply`, HTTP and a restored
bundle, and appends nothing; every event says how its actor was authenticated. The checkpoint a
proof is made against, a moment, and the fairness report are the same from the CLI, HTTP and the
web console. A failure of the log after a stored command never turns it into an error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.cli import main
from api.http.app import create_app
from api.settings import Settings
from projections.translog.leaves import leaf_fields
from tests.support import SHELL_SETTINGS, doc, unique

ORIGIN = "reliquary.local/ledger"


@dataclass
class Doors:
    """The CLI, and the HTTP API and web console of one app, on one demo ledger."""

    client: TestClient
    app: Any
    tokens: dict[str, str]
    tmp: Path
    capsys: Any

    def cli(self, *args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    @property
    def services(self) -> Any:
        return self.app.state.services

    def head(self) -> int:
        return self.services.ledger.recorder.max_notification_id() or 0

    def apply(self, *documents: dict[str, Any]) -> tuple[int, str]:
        path = self.tmp / f"{unique('commands')}.jsonl"
        path.write_text("".join(json.dumps(d) + "\n" for d in documents))
        code, _, err = self.cli("apply", str(path))
        return code, err

    def web_sign_in(self, role: str) -> None:
        form = self.client.get("/web/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        signed = self.client.post(
            "/web/login",
            data={"token": self.tokens[role], "csrf": csrf.group(1), "next": "/web/"},
            follow_redirects=False,
        )
        assert signed.status_code == 303, signed.text


@pytest.fixture
def doors(
    database_url: str, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Doors]:
    monkeypatch.setenv("RELIQUARY_SIGNING_KEY", str(tmp_path / "signing.key"))
    monkeypatch.setenv("RELIQUARY_DATABASE_URL", database_url)
    for name in SHELL_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    assert main(["init"]) == 0
    assert main(["demo"]) == 0
    capsys.readouterr()
    app = create_app(Settings(database_url=database_url))
    with TestClient(app, raise_server_exceptions=False) as client:
        actors = app.state.services.actors
        tokens = {
            role: actors.add(f"{role}-door", role).token
            for role in ("curator", "board", "researcher", "auditor")
        }
        yield Doors(client, app, tokens, tmp_path, capsys)


def _request(model: str, request_id: str, actor: str) -> dict[str, Any]:
    return {
        **doc(
            "request_access",
            model,
            role="researcher",
            request_id=request_id,
            requester="A. Researcher",
            organisation="Northfield University",
            requester_group="academic",
            purpose="Re-run published evaluations.",
            scope="API access.",
        ),
        "actor": {"id": actor, "role": "researcher"},
    }


# -- authority at every door --------------------------------------------------------------------


def test_a_role_not_allowed_is_refused_with_one_rule_at_every_door(doors: Doors) -> None:
    signal = {"kind": "research_use", "period_start": "2026-01-01", "period_end": "2026-01-31"}
    signal |= {"value": 3.0, "unit": "count"}
    head = doors.head()

    # reliquary apply: an auditor recording a monitoring signal.
    code, err = doors.apply(doc("record_signal", "harbor-7b", role="auditor", **signal))
    assert code == 1
    assert "line 1: role-not-allowed: the auditor role may not record signal" in err
    # HTTP: the same command, the auditor's token.
    response = doors.client.post(
        "/models/harbor-7b/signals",
        json={"rationale": "Monthly count.", **signal},
        headers=doors.auth("auditor"),
    )
    assert response.status_code == 403
    assert response.json()["type"] == "urn:reliquary:problem:role-not-allowed"

    assert doors.head() == head  # nothing appended by either door


def test_a_requester_never_decides_its_own_request_at_any_door(doors: Doors) -> None:
    model = "claude-opus-3"
    # Through apply: the researcher requests, then approves in a board role (same actor id).
    assert doors.apply(_request(model, "req-cli", "dual.actor"))[0] == 0
    head = doors.head()
    approve = doc("approve_access_request", model, role="board", request_id="req-cli", terms="T.")
    code, err = doors.apply({**approve, "actor": {"id": "dual.actor", "role": "board"}})
    assert code == 1
    assert "own-request-decision" in err
    assert doors.head() == head

    # Over HTTP: one actor id holding both a researcher and a board token.
    board_token = doors.services.actors.add("researcher-door", "board").token
    created = doors.client.post(
        f"/models/{model}/access-requests",
        json={
            key: value
            for key, value in _request(model, "req-http", "ignored").items()
            if key not in ("command", "model", "actor")
        },
        headers=doors.auth("researcher"),
    )
    assert created.status_code == 201, created.text
    head = doors.head()
    decided = doors.client.post(
        f"/models/{model}/access-requests/req-http/approve",
        json={"rationale": "Approved.", "terms": "T."},
        headers={"Authorization": f"Bearer {board_token}"},
    )
    assert decided.status_code == 403
    assert decided.json()["type"] == "urn:reliquary:problem:own-request-decision"
    assert doors.head() == head


def test_every_event_says_how_its_actor_was_authenticated(doors: Doors) -> None:
    model = unique()
    register = doc(
        "register_model",
        model,
        family="f",
        model_version="1",
        release_date="2024-01-01",
        developer="Lab",
    )
    assert doors.apply(register)[0] == 0
    response = doors.client.post(
        f"/models/{model}/signals",
        json={
            "rationale": "Monthly count.",
            "kind": "research_use",
            "period_start": "2026-01-01",
            "period_end": "2026-01-31",
            "value": 1.0,
            "unit": "count",
        },
        headers=doors.auth("curator"),
    )
    assert response.status_code == 201, response.text

    history = doors.client.get(f"/models/{model}/history", headers=doors.auth("auditor")).json()
    assert [e["actor"]["authenticated_by"] for e in history["events"]] == ["operator", "token"]
    # The public leaf of each event carries it too: the log proves how the actor was known.
    doors.services.log.catch_up()
    sequence = doors.services.log.sequence_of(model, 2)
    leaf = leaf_fields(doors.client.get(f"/log/leaves/{sequence}").content)
    assert leaf["actor"] == {"id": "curator-door", "role": "curator", "authenticated_by": "token"}


# -- the log off the write path -----------------------------------------------------------------


def test_a_failing_log_never_fails_a_recorded_command(
    doors: Doors, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> int:
        raise RuntimeError("the log's tables are unreachable")

    monkeypatch.setattr(doors.services.log.log, "catch_up", broken)
    body = {
        "rationale": "Monthly count.",
        "kind": "research_use",
        "period_start": "2026-02-01",
        "period_end": "2026-02-28",
        "value": 7.0,
        "unit": "count",
    }
    headers = {**doors.auth("curator"), "Idempotency-Key": unique("key")}
    head = doors.head()

    first = doors.client.post("/models/harbor-7b/signals", json=body, headers=headers)
    retry = doors.client.post("/models/harbor-7b/signals", json=body, headers=headers)

    assert first.status_code == 201, first.text
    assert first.json()["sequence"] is None  # the log has not taken it (it cannot, here)
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert len(list(doors.services.ledger.notifications_after(head))) == 1  # one event


# -- the same answer through every door ---------------------------------------------------------


def test_the_checkpoint_for_a_proof_is_the_same_at_every_door(doors: Doors) -> None:
    code, out, _ = doors.cli("checkpoint", "--json")
    assert code == 0
    size = json.loads(out)["size"]
    # The size of the whole log, asked for explicitly: the same checkpoint everywhere.
    code, out, _ = doors.cli("proof", "inclusion", "3", "--size", str(size), "--json")
    assert code == 0
    cli_proof = json.loads(out)
    http_proof = doors.client.get(f"/log/proof/inclusion?sequence=3&size={size}").json()
    assert http_proof == cli_proof
    # A size never signed: refused alike (CLI: not found; HTTP: 404).
    code, _, err = doors.cli("proof", "inclusion", "3", "--size", "2")
    assert code == 1 and "no signed checkpoint of size 2" in err
    missing = doors.client.get("/log/proof/inclusion?sequence=0&size=2")
    assert missing.status_code == 404
    assert missing.json()["type"] == "urn:reliquary:problem:no-checkpoint"
    # The web console shows the checkpoint a proof would use.
    page = doors.client.get("/web/").text
    assert f"<span data-checkpoint-size>{size}</span>" in page


@pytest.mark.parametrize(
    ("moment", "accepted"),
    [
        ("2999-01-01T00:00:00Z", True),
        ("2999-01-01T09:00:00+09:00", True),
        ("2999-01-01T00:00:00", False),  # no zone: refused everywhere, never read as UTC
        ("2026-01-01", False),
        ("yesterday", False),
    ],
)
def test_a_moment_is_parsed_under_one_rule_at_every_door(
    doors: Doors, moment: str, accepted: bool
) -> None:
    code, out, err = doors.cli("history", "claude-opus-3", "--as-of", moment, "--json")
    http = doors.client.get(
        "/models/claude-opus-3/history", params={"as_of": moment}, headers=doors.auth("auditor")
    )
    doors.web_sign_in("auditor")
    web = doors.client.get("/web/models/claude-opus-3", params={"as_of": moment})
    if accepted:
        assert code == 0 and http.status_code == 200 and web.status_code == 200
        version = json.loads(out)["version"]
        assert http.json()["version"] == version
        assert f"version {version}</strong>" in web.text
    else:
        assert code == 2
        assert http.status_code == 422
        assert http.json()["type"] == "urn:reliquary:problem:invalid-moment"
        assert web.status_code == 400
        # The same reason (each door names its own parameter: --as-of, as_of).
        reason = http.json()["detail"].split(": ", 1)[1]
        assert reason in err
        assert reason in web.text.replace("&#39;", "'")


def test_the_fairness_report_is_the_same_at_every_door(doors: Doors) -> None:
    # As of today's end: the demo, recorded today, is all in it.
    today = datetime.now(UTC).date().isoformat()
    code, out, _ = doors.cli("report", "fairness", "--as-of", today, "--json")
    assert code == 0
    cli_report = json.loads(out)
    assert cli_report["access_by_group"]["groups"]
    http_report = doors.client.get(
        "/reports/fairness", params={"as_of": today}, headers=doors.auth("auditor")
    ).json()
    assert http_report == cli_report
    doors.web_sign_in("auditor")
    page = doors.client.get("/web/fairness", params={"as_of": today}).text
    assert f"the log's first {cli_report['position']['log_size']} events" in page
    for group in cli_report["access_by_group"]["groups"]:
        assert group["group"] in page
    assert "data-denial-reasons" in page  # the demo's denials, by reason code
    for code_, _count in cli_report["access_by_group"]["overall"]["denial_reasons"]:
        assert code_.replace("_", " ") in page


def test_the_fairness_report_as_of_a_moment_is_the_same_at_every_door(doors: Doors) -> None:
    moment = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    code, out, _ = doors.cli("report", "fairness", "--as-of", moment, "--json")
    assert code == 0
    cli_report = json.loads(out)
    http_report = doors.client.get(
        "/reports/fairness", params={"as_of": moment}, headers=doors.auth("auditor")
    ).json()
    assert http_report == cli_report
    assert http_report["position"]["moment"].startswith(moment[:16])
    doors.web_sign_in("auditor")
    page = doors.client.get("/web/fairness", params={"as_of": moment})
    assert page.status_code == 200
    assert f"the log's first {cli_report['position']['log_size']} events" in page.text
