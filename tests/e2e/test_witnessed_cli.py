"""The witnesses at every CLI door, and the service's follower submitting on its own.

The ledger of `test_witness_submit` (each backend) publishes under a policy whose witness is the
spec-only `TinyWitness` behind a real loopback HTTP server: `reliquary checkpoint` submits what
it signs; `verify`, `proof inclusion`, `history --proofs` and `verify-bundle` say who vouched and
fail on what does not verify; the HTTP service's log follower gets a new checkpoint cosigned
with no command at all.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from api.bootstrap import build_services
from api.cli import main
from projections.translog.cosignature import verify_cosignature
from projections.translog.witness_policy import PolicyWitness
from tests.integration.test_witness_submit import ORIGIN, Ledger, _serve


class Served:
    """The ledger, the tiny witness served over HTTP, and policy files naming it."""

    def __init__(self, ledger: Ledger, tmp_path: Path) -> None:
        self.ledger = ledger
        self.server = _serve(ledger.tiny)
        url = f"http://127.0.0.1:{self.server.server_address[1]}/w"
        tiny = {"name": ledger.tiny.name, "url": url, "verifier_key": ledger.tiny.vkey}
        other = {
            "name": ledger.reliquary.name,
            "url": f"http://127.0.0.1:{self.server.server_address[1]}/nowhere",
            "verifier_key": ledger.reliquary.verifier_key,
        }
        self.policy = tmp_path / "policy.json"
        self.policy.write_text(json.dumps({"quorum": 1, "witnesses": [tiny]}))
        # What a stricter reviewer pins: two witnesses, both needed.
        self.strict = tmp_path / "strict.json"
        self.strict.write_text(json.dumps({"quorum": 2, "witnesses": [tiny, other]}))

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def served(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    ledger = Ledger(database_url, tmp_path)
    made = Served(ledger, tmp_path)
    monkeypatch.setenv("RELIQUARY_DATABASE_URL", ledger.settings.database_url)
    monkeypatch.setenv("RELIQUARY_SIGNING_KEY", str(ledger.settings.signing_key))
    monkeypatch.setenv("RELIQUARY_LOG_ORIGIN", ORIGIN)
    monkeypatch.setenv("RELIQUARY_WITNESS_POLICY", str(made.policy))
    yield made
    made.close()
    ledger.close()


def _json(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> dict:  # type: ignore[type-arg]
    assert main([*args, "--json"]) == code, capsys.readouterr()
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_every_door_says_who_vouched(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = served.ledger
    ledger.grow(3)
    signed = _json(capsys, "checkpoint")
    assert signed["witnessing"]["quorum_met"] is True and signed["size"] == 4
    verify_cosignature(signed["note"], ledger.tiny.vkey)

    verified = _json(capsys, "verify")
    assert verified["ok"] and verified["cosignatures_checked"] == 1
    assert verified["witnesses"]["vouched"][0]["witness"] == ledger.tiny.name
    assert verified["witnessed_size"] == 4

    proof = _json(capsys, "proof", "inclusion", "2")
    assert proof["witnesses"]["quorum_met"] is True
    verify_cosignature(proof["checkpoint"], ledger.tiny.vkey)
    assert main(["proof", "inclusion", "2", "--tlog-proof"]) == 0
    out, err = capsys.readouterr()
    assert f"witnesses: vouched by {ledger.tiny.name} (1 of 1; quorum 1 met)" in err
    assert out.startswith("c2sp.org/tlog-proof@v1") and ledger.tiny.name in out

    history = _json(capsys, "history", ledger.model, "--proofs")
    assert history["proofs"]["witnesses"]["quorum_met"] is True
    # A reader who pins a stricter policy is told the quorum is not met.
    strict = _json(
        capsys, "history", ledger.model, "--proofs", "--witness-policy", str(served.strict)
    )
    assert strict["proofs"]["witnesses"]["quorum_met"] is False

    bundle = tmp_path / "bundle"
    assert main(["export", str(bundle)]) == 0
    capsys.readouterr()
    key = str(ledger.settings.signing_key)
    assert main(["verify-bundle", str(bundle), "--witness-policy", str(served.policy)]) == 0
    assert "vouched by" in capsys.readouterr().err
    failed = _json(
        capsys, "verify-bundle", str(bundle), "--witness-policy", str(served.strict), code=1
    )
    assert failed["witnesses"]["quorum_met"] is False
    assert "quorum 2 NOT met" in failed["problems"][0]
    assert key  # the bundle's own key was used: the pinned-key path is tested elsewhere


def test_an_altered_cosignature_in_the_store_fails_verify_and_the_proof(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = served.ledger
    ledger.grow(1)
    _json(capsys, "checkpoint")
    checkpoint = ledger.services.log.latest_checkpoint()
    line = ledger.store.cosignatures(checkpoint)[0].cosignature
    # Two rows someone wrote: the line with one signature character changed (still base64,
    # no longer valid), and garbage. Neither may hide the valid line, or pass `verify`.
    head, tail = line[:40], line[41:]
    altered = head + ("A" if line[40] != "A" else "B") + tail
    for row in (altered, "\u2014 not a line\n"):
        with ledger.store.recorder.transaction() as cursor:
            ledger.store.recorder.execute(
                cursor,
                ledger.store._insert,
                (checkpoint.size, checkpoint.root_hash, ledger.tiny.name, row, 1, "now"),
            )
    report = _json(capsys, "verify", code=1)
    assert sum(f"cosignature by {ledger.tiny.name}" in p for p in report["problems"]) == 2
    assert report["cosignatures_checked"] == 3
    # The published note keeps the valid line only: the proof's checkpoint is vouched for.
    proof = _json(capsys, "proof", "inclusion", "0")
    assert proof["witnesses"]["quorum_met"] is True
    assert proof["checkpoint"] == checkpoint.note + line


def test_submit_without_a_policy_is_refused(
    served: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RELIQUARY_WITNESS_POLICY")
    assert main(["witness", "submit"]) == 2
    assert "RELIQUARY_WITNESS_POLICY" in capsys.readouterr().err
    monkeypatch.setenv("RELIQUARY_WITNESS_MODE", "required")
    assert main(["checkpoint"]) == 2
    assert "needs RELIQUARY_WITNESS_POLICY" in capsys.readouterr().err


def test_the_service_follower_submits_what_it_signs(served: Served) -> None:
    ledger = served.ledger
    settings = ledger.settings.model_copy(
        update={"witness_policy": served.policy, "checkpoint_interval_seconds": 0.1}
    )
    services = build_services(settings)
    try:
        services.follow_log()
        ledger.grow(2)
        services.follower.wake()  # type: ignore[union-attr]
        store = services.log.cosignatures
        assert store is not None
        deadline = time.monotonic() + 30
        cosigned = 0
        while time.monotonic() < deadline:
            latest = services.log.log.recorder.latest_checkpoint()
            if latest is not None and latest.size == 3 and store.cosignatures(latest):
                cosigned = latest.size
                break
            time.sleep(0.05)
        assert cosigned == 3
        note = services.log.published_checkpoint().note
        verify_cosignature(note, ledger.tiny.vkey)
    finally:
        services.close()


def test_a_submission_killed_after_the_witness_cosigned_is_completed_by_the_next(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGKILL of `witness submit` after the witness moved its state, before the answer was
    stored: nothing is stored, and the next submission completes it (409, then a retry from
    the witness's own size) with one cosignature, not two."""
    ledger = served.ledger
    ledger.grow(2)
    ledger.services.log.sign_checkpoint()
    cosigned, release = threading.Event(), threading.Event()

    class Hanging(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the http.server API)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            answer = ledger.tiny.post(PolicyWitness(ledger.tiny.name, "http://x/", ""), body)
            cosigned.set()
            release.wait(30)  # the client is killed meanwhile
            with contextlib.suppress(OSError):
                self.send_response(answer.status)
                self.end_headers()
                self.wfile.write(answer.body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    hanging = ThreadingHTTPServer(("127.0.0.1", 0), Hanging)
    threading.Thread(target=hanging.serve_forever, daemon=True).start()
    policy = tmp_path / "hanging.json"
    entry = {
        "name": ledger.tiny.name,
        "url": f"http://127.0.0.1:{hanging.server_address[1]}/w",
        "verifier_key": ledger.tiny.vkey,
    }
    policy.write_text(json.dumps({"quorum": 1, "witnesses": [entry]}))
    command = [str(Path(sys.executable).parent / "reliquary"), "witness", "submit"]
    process = subprocess.Popen(  # noqa: S603 (our own console script)
        [*command, str(policy), "--latest"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert cosigned.wait(60), "the witness was never asked"
        process.kill()
        process.wait(30)
    finally:
        release.set()
        hanging.shutdown()
    checkpoint = ledger.services.log.latest_checkpoint()
    assert ledger.tiny.size == checkpoint.size  # the witness moved on
    assert ledger.store.cosignatures(checkpoint) == []  # the killed client stored nothing
    out = _json(capsys, "witness", "submit", str(served.policy), "--latest")
    assert [(w["outcome"], w["attempts"]) for w in out["witnesses"]] == [("cosigned", 2)]
    assert len(ledger.store.cosignatures(checkpoint)) == 1
