"""The ledger's own checkpoints witnessed: `submit_latest` and `reliquary witness submit`.

A real ledger on each backend signs checkpoints; a Reliquary witness (its own SQLite store and
key) and the spec-only `TinyWitness` cosign them; the cosignatures are stored beside the
checkpoints. The command is run against the tiny witness behind a real loopback HTTP server,
so the httpx call is exercised too.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from api.bootstrap import build_services
from api.cli import main
from api.settings import Settings
from projections.translog.cosignature import (
    cosigner_verifier_key,
    generate_cosigner_key,
    verify_cosignature,
)
from projections.translog.cosignature_store import CosignatureStore, submit_latest
from projections.translog.keys import create_signing_key
from projections.translog.witness_policy import (
    Outcome,
    PolicyWitness,
    PostAnswer,
    WitnessPolicy,
)
from tests.integration.test_witness_client import TinyWitness, _write_private
from tests.support import parse, register, research_signal, unique

ORIGIN = "reliquary.test/witnessed"


class Ledger:
    """The witnessed ledger, a Reliquary witness of it, and the tiny witness."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        key = tmp_path / "signing.key"
        create_signing_key(key, ORIGIN)
        self.settings = Settings(database_url=database_url, signing_key=key, log_origin=ORIGIN)
        self.services = build_services(self.settings)
        self.model = unique("witnessed")
        self.services.ledger.execute(parse(register(self.model)))
        self.signals = 0
        log_vkey = self.services.log.verifier_key()
        config = tmp_path / "witness.json"
        config.write_text(json.dumps({"logs": [{"origin": ORIGIN, "verifier_key": log_vkey}]}))
        name = "witness.example/reliquary"
        witness_key = generate_cosigner_key(name)
        self.witness_services = build_services(
            Settings(
                database_url=f"sqlite:///{tmp_path / 'witness.db'}",
                witness_config=config,
                witness_key=_write_private(tmp_path / "witness.key", witness_key),
                signing_key=tmp_path / "witness-ledger.key",
            )
        )
        self.reliquary = PolicyWitness(
            name, "https://w.example/witness", cosigner_verifier_key(witness_key)
        )
        # The tiny witness reads the log's key from a signing key: it needs only the public
        # half, which `TinyWitness` takes from `note_verifier_key` of the file's key.
        self.tiny = TinyWitness("tiny.example/witness", key.read_text().strip(), ORIGIN)
        self.tiny_entry = PolicyWitness(self.tiny.name, "http://tiny.example/", self.tiny.vkey)
        self.store = CosignatureStore(self.services.views.recorder)

    def grow(self, events: int) -> None:
        for _ in range(events):
            self.services.ledger.execute(parse(research_signal(self.model, self.signals)))
            self.signals += 1

    def post(self, witness: PolicyWitness, body: bytes) -> PostAnswer:
        if witness.name == self.tiny.name:
            return self.tiny.post(witness, body)
        assert self.witness_services.witness is not None
        answer = self.witness_services.witness.add_checkpoint(body)
        return PostAnswer(answer.status, answer.body)

    def close(self) -> None:
        self.services.close()
        self.witness_services.close()


@pytest.fixture
def ledger(database_url: str, tmp_path: Path) -> Iterator[Ledger]:
    made = Ledger(database_url, tmp_path)
    yield made
    made.close()


def test_checkpoints_are_cosigned_and_stored_as_the_log_grows(ledger: Ledger) -> None:
    policy = WitnessPolicy((ledger.reliquary, ledger.tiny_entry), 2)
    sizes = []
    for events in (2, 5, 0):
        ledger.grow(events)
        checkpoint, report = submit_latest(
            ledger.services.log, ledger.store, policy, ledger.post, sign=True
        )
        sizes.append(checkpoint.size)
        # From the last cosigned size, with the log's own proof: no 409 needed.
        assert [(o.outcome, o.attempts) for o in report.outcomes] == [(Outcome.COSIGNED, 1)] * 2
        assert report.quorum_met
        stored = ledger.store.cosignatures(checkpoint)
        # A resubmission of one checkpoint may add a later line by a witness: a set, then.
        assert {s.witness for s in stored} == {ledger.reliquary.name, ledger.tiny.name}
        note = checkpoint.note + "".join(s.cosignature for s in stored)
        for entry in policy.witnesses:
            verify_cosignature(note, entry.verifier_key)
        assert ledger.store.largest_cosigned_size(checkpoint.size) == checkpoint.size
    assert sizes == [3, 8, 8]


def test_a_witness_that_never_saw_the_log_is_caught_up_from_zero(ledger: Ledger) -> None:
    ledger.grow(4)
    first = WitnessPolicy((ledger.reliquary,), 1)
    submit_latest(ledger.services.log, ledger.store, first, ledger.post, sign=True)
    ledger.grow(6)
    both = WitnessPolicy((ledger.reliquary, ledger.tiny_entry), 2)
    checkpoint, report = submit_latest(
        ledger.services.log, ledger.store, both, ledger.post, sign=True
    )
    # The tiny witness answered 409 "0" to "old 5": asked again from 0, it cosigned.
    assert [(o.witness, o.attempts) for o in report.outcomes] == [
        (ledger.reliquary.name, 1),
        (ledger.tiny.name, 2),
    ]
    assert report.quorum_met and checkpoint.size == 11
    assert len(ledger.store.cosignatures(checkpoint)) == 2


def _serve(tiny: TinyWitness) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the http.server API)
            length = int(self.headers["Content-Length"])
            answer = tiny.post(
                PolicyWitness(tiny.name, "http://x/", tiny.vkey), self.rfile.read(length)
            )
            data = answer.body.encode()
            self.send_response(answer.status if self.path == "/w/add-checkpoint" else 404)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_the_command_submits_over_http_and_reports(
    ledger: Ledger,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger.grow(2)
    server = _serve(ledger.tiny)
    port = server.server_address[1]
    policy = tmp_path / "policy.json"
    entries = [
        {
            "name": ledger.tiny.name,
            "url": f"http://127.0.0.1:{port}/w",
            "verifier_key": ledger.tiny.vkey,
        },
        # A path where no witness is: 404, not configured; the quorum of 2 is not met.
        {
            "name": ledger.reliquary.name,
            "url": f"http://127.0.0.1:{port}/nowhere",
            "verifier_key": ledger.reliquary.verifier_key,
        },
    ]
    policy.write_text(json.dumps({"quorum": 2, "witnesses": entries}))
    monkeypatch.setenv("RELIQUARY_DATABASE_URL", ledger.settings.database_url)
    monkeypatch.setenv("RELIQUARY_SIGNING_KEY", str(ledger.settings.signing_key))
    monkeypatch.setenv("RELIQUARY_LOG_ORIGIN", ORIGIN)
    try:
        code = main(["witness", "submit", str(policy), "--json"])
        out = json.loads(capsys.readouterr().out)
        assert code == 1, out  # the quorum is not met
        assert out["size"] == 3 and out["quorum_met"] is False and out["cosignatures"] == 1, out
        outcomes = {w["name"]: w["outcome"] for w in out["witnesses"]}
        assert outcomes == {ledger.tiny.name: "cosigned", ledger.reliquary.name: "not-configured"}
        verify_cosignature(out["note"], ledger.tiny.vkey)
        policy.write_text(json.dumps({"quorum": 1, "witnesses": entries}))
        ledger.grow(1)
        assert main(["witness", "submit", str(policy), "--latest"]) == 0  # no new signature
        said = capsys.readouterr().out
        assert "size 3: 1 cosignature(s), quorum 1 met" in said
    finally:
        server.shutdown()
    stored = ledger.store.cosignatures(ledger.services.log.latest_checkpoint())
    # The tiny witness's clock stands still: its second cosignature is the same line (Ed25519
    # is deterministic), kept once.
    assert [s.witness for s in stored] == [ledger.tiny.name]
    assert stored[0].size == 3 and stored[0].cosigned_at == ledger.tiny.clock
    assert main(["witness", "submit", str(tmp_path / "missing.json")]) == 2
    assert "witness policy" in capsys.readouterr().err
