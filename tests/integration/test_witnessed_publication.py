"""The log publishes its checkpoints with the witnesses' cosignatures, advisory or required.

A real ledger on each backend, a Reliquary witness and the spec-only `TinyWitness` (the fixtures
of `test_witness_submit`); the ledger's services are opened again under a witness policy file.
What is checked: the note served at ``/log/checkpoint`` and ``/tlog/checkpoint`` carries a
quorum of cosignatures an independent verifier (written from c2sp.org/tlog-cosignature, in
`tests.unit.test_cosignature`) accepts; under ``required`` every default proof, tile and bundle
is of the latest checkpoint a quorum cosigned, never a newer unwitnessed one; a cosignature row
altered in the store is never published and makes ``verify`` fail.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Services, build_services
from api.http.app import create_app
from domain.errors import CheckpointNotFound, WitnessPolicyError
from projections.translog.bundle import verify_bundle
from projections.translog.checkpoint import verify_checkpoint
from projections.translog.cosignature import cosign, generate_cosigner_key
from projections.translog.cosignature_store import submit_latest
from projections.translog.witness_policy import (
    PolicyWitness,
    PostAnswer,
    WitnessPolicy,
    WitnessUnreachable,
)
from tests.integration.test_witness_submit import ORIGIN, Ledger
from tests.unit.test_cosignature import _independent_verify, _public_of


def _policy_file(path: Path, policy: WitnessPolicy) -> Path:
    entries = [
        {"name": w.name, "url": w.url, "verifier_key": w.verifier_key} for w in policy.witnesses
    ]
    path.write_text(json.dumps({"quorum": policy.quorum, "witnesses": entries}))
    return path


class Witnessed:
    """The ledger of `test_witness_submit`, its services opened under a witness policy."""

    def __init__(self, ledger: Ledger, tmp_path: Path, mode: str) -> None:
        self.ledger = ledger
        self.policy = WitnessPolicy((ledger.reliquary, ledger.tiny_entry), 2)
        self.policy_file = _policy_file(tmp_path / "policy.json", self.policy)
        self.settings = ledger.settings.model_copy(
            # The service's follower also submits, to the policy's made-up URLs: fail fast.
            update={
                "witness_policy": self.policy_file,
                "witness_mode": mode,
                "witness_timeout_seconds": 0.2,
            }
        )
        self.services: Services = build_services(self.settings)
        self.down: set[str] = set()  # witnesses that do not answer

    def post(self, witness: PolicyWitness, body: bytes) -> PostAnswer:
        if witness.name in self.down:
            raise WitnessUnreachable("connection refused")
        return self.ledger.post(witness, body)

    def submit(self, grow: int = 0) -> tuple[int, bool]:
        self.ledger.grow(grow)
        store = self.services.log.cosignatures
        assert store is not None
        checkpoint, report = submit_latest(
            self.services.log, store, self.policy, self.post, sign=True
        )
        return checkpoint.size, report.quorum_met

    def close(self) -> None:
        self.services.close()


@pytest.fixture
def ledger(database_url: str, tmp_path: Path) -> Iterator[Ledger]:
    made = Ledger(database_url, tmp_path)
    yield made
    made.close()


@pytest.fixture(params=["advisory", "required"])
def witnessed(
    request: pytest.FixtureRequest, ledger: Ledger, tmp_path: Path
) -> Iterator[Witnessed]:
    made = Witnessed(ledger, tmp_path, request.param)
    yield made
    made.close()


def _vouchers(note: str, policy: WitnessPolicy) -> set[str]:
    """The policy witnesses whose cosignature the independent verifier accepts."""
    found = set()
    for witness in policy.witnesses:
        name, public = _public_of(witness.verifier_key)
        if _independent_verify(note, name, public):
            found.add(name)
    return found


def test_the_published_checkpoint_carries_a_quorum_an_independent_verifier_accepts(
    witnessed: Witnessed,
) -> None:
    size, met = witnessed.submit(grow=3)
    assert met
    with TestClient(create_app(witnessed.settings)) as client:
        _check_served(client, witnessed, size)


def _check_served(client: TestClient, witnessed: Witnessed, size: int) -> None:
    for path in ("/log/checkpoint", "/tlog/checkpoint"):
        note = client.get(path).text
        # The operator's signature still verifies: readers ignore the witnesses' lines.
        assert verify_checkpoint(note, witnessed.services.log.verifier_key(), ORIGIN).size == size
        assert _vouchers(note, witnessed.policy) == {w.name for w in witnessed.policy.witnesses}
    policy = client.get("/log/witnesses").json()
    witnessing = witnessed.services.log.witnessing
    assert witnessing is not None
    assert policy["mode"] == ("required" if witnessing.required else "advisory")
    assert [w["verifier_key"] for w in policy["witnesses"]] == [
        w.verifier_key for w in witnessed.policy.witnesses
    ]
    verdict = witnessed.services.log.vouching(client.get("/log/checkpoint").text)
    assert verdict is not None and verdict.quorum_met and len(verdict.vouched) == 2


def test_required_serves_proofs_tiles_and_bundles_of_the_last_witnessed_checkpoint(
    ledger: Ledger, tmp_path: Path
) -> None:
    witnessed = Witnessed(ledger, tmp_path, "required")
    try:
        log = witnessed.services.log
        log.sign_checkpoint()  # signed, never submitted: not published
        with pytest.raises(CheckpointNotFound, match="quorum of 2"):
            log.published_checkpoint()
        first, met = witnessed.submit(grow=2)
        assert met
        witnessed.down = {ledger.tiny.name}  # one witness of two: no quorum
        second, met = witnessed.submit(grow=4)
        assert not met and second > first
        assert log.latest_checkpoint().size == second
        published = log.published_checkpoint()
        assert published.size == first
        # Default proofs are against it; the newer events are not yet provable.
        assert log.inclusion_proof(first - 1)[1].size == first
        with pytest.raises(CheckpointNotFound, match="witnessed"):
            log.inclusion_proof(second - 1)
        assert log.consistency_proof(1).new_size == first
        with TestClient(create_app(witnessed.settings)) as client:
            served = client.get("/tlog/checkpoint").text
        assert served == published.note
        assert _vouchers(served, witnessed.policy) == {ledger.reliquary.name, ledger.tiny.name}
        # A bundle is of the witnessed tree, and a reviewer's pinned policy accepts it.
        bundle = tmp_path / "bundle"
        log.export(bundle)
        report = verify_bundle(bundle, log.verifier_key(), policy=witnessed.policy)
        assert report.ok and report.events == first
        assert report.witnesses is not None and report.witnesses.quorum_met
        # Once the quorum is back, the newer checkpoint is published.
        witnessed.down = set()
        assert witnessed.submit() == (second, True)
        assert log.published_checkpoint().size == second
    finally:
        witnessed.close()


def test_a_bundle_without_the_pinned_quorum_fails(ledger: Ledger, tmp_path: Path) -> None:
    witnessed = Witnessed(ledger, tmp_path, "advisory")
    try:
        witnessed.down = {ledger.tiny.name}
        witnessed.submit(grow=2)
        bundle = tmp_path / "bundle"
        witnessed.services.log.export(bundle)
        key = witnessed.services.log.verifier_key()
        assert verify_bundle(bundle, key).ok  # no policy pinned: the log's signature holds
        report = verify_bundle(bundle, key, policy=witnessed.policy)
        assert not report.ok
        assert "1 of 2; quorum 2 NOT met" in report.problems[0]
    finally:
        witnessed.close()


def test_a_forged_cosignature_row_is_never_published_and_verify_fails(
    ledger: Ledger, tmp_path: Path
) -> None:
    witnessed = Witnessed(ledger, tmp_path, "required")
    try:
        witnessed.down = {ledger.tiny.name}
        witnessed.submit(grow=2)
        log = witnessed.services.log
        checkpoint = log.latest_checkpoint()
        # Someone with write access to the table adds a line by the tiny witness's name,
        # signed by another key: it must not make a quorum.
        impostor = cosign(checkpoint.note, generate_cosigner_key(ledger.tiny.name), 1)
        forged = impostor.replace(impostor.split(" ")[2][:8], _key_prefix(ledger.tiny.vkey))
        store = log.cosignatures
        assert store is not None
        with store.recorder.transaction() as cursor:
            store.recorder.execute(
                cursor,
                store._insert,
                (checkpoint.size, checkpoint.root_hash, ledger.tiny.name, forged, 1, "now"),
            )
        with pytest.raises(CheckpointNotFound):
            log.published_checkpoint()
        report = log.verify()
        assert not report.ok
        assert any(f"cosignature by {ledger.tiny.name}" in p for p in report.problems)
        assert report.cosignatures_checked == 2
    finally:
        witnessed.close()


def _key_prefix(vkey: str) -> str:
    """The first base64 characters of a line by this key: its 4-byte key ID."""
    import base64

    key_id = bytes.fromhex(vkey.split("+")[1])
    return base64.b64encode(key_id + b"\0\0").decode()[:8]


def test_required_without_a_policy_is_refused_at_start(ledger: Ledger) -> None:
    settings = ledger.settings.model_copy(update={"witness_mode": "required"})
    with pytest.raises(WitnessPolicyError, match="RELIQUARY_WITNESS_POLICY"):
        create_app(settings)


def test_verify_says_who_vouched(witnessed: Witnessed) -> None:
    witnessed.submit(grow=1)
    witnessed.submit(grow=2)
    report = witnessed.services.log.verify()
    assert report.ok, report.problems
    assert report.cosignatures_checked == 4
    assert report.witnesses is not None and report.witnesses.quorum_met
    assert report.witnessed_size == witnessed.services.log.latest_checkpoint().size
