"""The transparency log on each backend: leaves, tree, proofs, checkpoints, tamper evidence."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from api.cli.demo import load_demo
from domain.canonical import canonical_bytes
from domain.errors import LogError
from domain.ledger import Ledger
from projections.translog import merkle
from projections.translog.bundle import export_bundle, import_bundle, verify_bundle
from projections.translog.checkpoint import generate_signing_key, verifier_key, verify_checkpoint
from projections.translog.tree import TransparencyLog
from projections.translog.verify import verify_log
from tests.support import open_log, parse, register, research_signal, unique

SIGNING_KEY = generate_signing_key("reliquary.test/ledger")
VERIFIER = verifier_key(SIGNING_KEY)


@pytest.fixture
def log(database_url: str, ledger: Ledger) -> TransparencyLog:
    return open_log(database_url, ledger)


def _leaf_hashes_from_bundle(directory: Path) -> list[bytes]:
    lines = (directory / "events.jsonl").read_bytes().splitlines()
    return [merkle.leaf_hash(line) for line in lines]


def test_every_event_is_one_leaf_in_ledger_order(log: TransparencyLog, tmp_path: Path) -> None:
    load_demo(log.ledger)
    taken = log.catch_up()
    # Every event was taken once, in order, and a second catch-up takes nothing.
    assert taken == log.size() == len(list(log.ledger.recorder.select_notifications(None, 10**6)))
    assert log.catch_up() == 0
    # The root is the RFC 9162 hash of the leaves as anyone recomputes them from the bundle.
    export_bundle(log, tmp_path / "bundle", SIGNING_KEY, VERIFIER)
    leaves = _leaf_hashes_from_bundle(tmp_path / "bundle")
    assert len(leaves) == taken
    assert log.root() == merkle.root_of(leaves)
    lines = (tmp_path / "bundle/events.jsonl").read_bytes().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["sequence"] for r in records] == list(range(taken))
    assert records[0]["topic"] == "reliquary/ModelRegistered/v1"
    # Each line is the canonical JSON of its own content (RFC 8785), the stored state inside.
    for line, record in zip(lines, records, strict=True):
        assert rfc8785.dumps(record) == line
    stored = list(log.ledger.recorder.select_notifications(None, 10**6))
    assert [canonical_bytes(r["state"]) for r in records] == [s.state for s in stored]


def test_proofs_verify_against_roots_of_every_size(log: TransparencyLog) -> None:
    model = unique()
    log.ledger.execute(parse(register(model)))
    for n in range(12):
        log.ledger.execute(parse(research_signal(model, n)))
    log.catch_up()
    size = log.size()
    for tree_size in range(1, size + 1):
        root = log.root(tree_size)
        for index in range(tree_size):
            proof = log.inclusion_proof(index, tree_size)
            merkle.verify_inclusion(proof.leaf_hash, index, tree_size, proof.path, root)
        consistency = log.consistency_proof(tree_size, size)
        merkle.verify_consistency(
            tree_size, size, consistency.old_root, consistency.new_root, consistency.path
        )
    with pytest.raises(LogError, match="not in a tree"):
        log.inclusion_proof(size, size)
    with pytest.raises(LogError, match="no tree of size"):
        log.root(size + 1)


@given(chunks=st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=6))
def test_incremental_catch_up_equals_a_rebuild(
    database_url: str, ledger: Ledger, chunks: list[int]
) -> None:
    log = open_log(database_url, ledger)
    model = unique()
    ledger.execute(parse(register(model)))
    for chunk in chunks:
        for n in range(chunk):
            ledger.execute(parse(research_signal(model, n)))
        log.catch_up()
    # Rebuild: recompute every leaf from the stored events, hash the tree from scratch.
    from projections.translog.leaves import leaf_bytes

    leaves = [
        merkle.leaf_hash(leaf_bytes(notification, sequence=index))
        for index, notification in enumerate(ledger.recorder.select_notifications(None, 10**6))
    ]
    assert log.size() == len(leaves)
    assert log.root() == merkle.root_of(leaves)


def test_concurrent_catch_ups_take_each_event_exactly_once(database_url: str, open_ledger) -> None:  # type: ignore[no-untyped-def]
    writer = open_ledger()
    model = unique()
    writer.execute(parse(register(model)))
    for n in range(40):
        writer.execute(parse(research_signal(model, n)))
    logs = [open_log(database_url, open_ledger()) for _ in range(3)]
    for each in logs:
        each.batch_size = 7
    threads = [threading.Thread(target=each.catch_up) for each in logs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert logs[0].size() == 41
    leaves = logs[0].recorder.leaves(0, 1000)
    assert [leaf.index for leaf in leaves] == list(range(len(leaves)))
    assert len({leaf.notification_id for leaf in leaves}) == len(leaves) == 41


def test_checkpoints_are_signed_kept_and_listed(log: TransparencyLog) -> None:
    model = unique()
    log.ledger.execute(parse(register(model)))
    first = log.checkpoint(SIGNING_KEY)
    assert log.checkpoint(SIGNING_KEY) == first  # nothing new: the same checkpoint
    log.ledger.execute(parse(research_signal(model, 1)))
    second = log.checkpoint(SIGNING_KEY)
    assert [c.size for c in log.checkpoints()] == [first.size, second.size] == [1, 2]
    signed = verify_checkpoint(second.note, VERIFIER, origin="reliquary.test/ledger")
    assert (signed.size, signed.root_hash) == (2, log.root(2))


def test_verify_passes_on_an_honest_ledger(log: TransparencyLog) -> None:
    load_demo(log.ledger)
    kept = log.checkpoint(SIGNING_KEY)
    log.ledger.execute(parse(research_signal("claude-opus-3", 9)))
    log.checkpoint(SIGNING_KEY)
    report = verify_log(log, VERIFIER, kept_checkpoint=kept.note)
    assert report.problems == []
    assert report.extends_kept_checkpoint is True
    assert report.checkpoints_checked == 2


def test_bundle_round_trip_and_import_gives_the_same_root(
    log: TransparencyLog, tmp_path: Path, open_ledger
) -> None:  # type: ignore[no-untyped-def]
    load_demo(log.ledger)
    count, note = export_bundle(log, tmp_path / "b", SIGNING_KEY, VERIFIER)
    report = verify_bundle(tmp_path / "b", pinned_verifier=VERIFIER)
    assert report.problems == []
    assert report.events == count

    # Import into an empty ledger (a fresh SQLite file): the same root.
    from api.bootstrap import build_ledger
    from api.settings import Settings

    copy_url = f"sqlite:///{tmp_path / 'copy.db'}"
    empty = build_ledger(Settings(database_url=copy_url))
    copy = open_log(copy_url, empty)
    assert import_bundle(copy, tmp_path / "b", VERIFIER) == count
    assert copy.root() == log.root(count)
    # And the imported ledger replays to the same models.
    assert [m.name for m in empty.models()] == [m.name for m in log.ledger.models()]
    empty.close()


def test_an_altered_bundle_fails_verification(log: TransparencyLog, tmp_path: Path) -> None:
    load_demo(log.ledger)
    export_bundle(log, tmp_path / "b", SIGNING_KEY, VERIFIER)
    events = tmp_path / "b/events.jsonl"
    lines = events.read_bytes().splitlines()
    lines[5] = lines[5].replace(b'"rationale":"', b'"rationale":"Not ', 1)
    events.write_bytes(b"\n".join(lines) + b"\n")
    report = verify_bundle(tmp_path / "b")
    assert not report.ok
    assert any("root mismatch" in problem for problem in report.problems)

    other = generate_signing_key("someone.else/log")
    report = verify_bundle(tmp_path / "b", pinned_verifier=verifier_key(other))
    assert any("not the one you pinned" in problem for problem in report.problems)
