"""A weights manifest is committed by its digest; its file list is stored beside the log.

Issue #14 point 8: whatever the number of files, a ``WeightsPreserved`` leaf holds the
manifest's digest, file count and total size, and fits a tlog-tiles entry with room to spare;
the list is stored once per digest, in the transaction of the event that names it, on both
backends, and read back it hashes to the digest. Bundles carry the lists, one file per digest,
and verify-bundle refuses any that does not hash to a digest a leaf names.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from api.bootstrap import build_ledger, build_log
from api.settings import Settings
from domain.decisions import ManifestEntry, manifest_digest
from domain.errors import (
    BundleDoesNotVerify,
    InvalidQuery,
    ManifestDamaged,
    ManifestDigestMismatch,
    ManifestNotFound,
)
from domain.identity import model_id
from domain.ledger import Ledger
from domain.manifests import MAX_MANIFEST_PAGE, Manifest, manifest_of
from projections.archive.manifests import manifest_page, recorded_manifest
from projections.translog import merkle
from projections.translog.bundle import MANIFEST_FILE, export_bundle, import_bundle, verify_bundle
from projections.translog.checkpoint import (
    Checkpoint,
    generate_signing_key,
    sign_checkpoint,
    verifier_key,
)
from projections.translog.leaves import leaf_bytes
from projections.translog.proven import recorded_weights_in_bundle
from projections.translog.tree import append_leaf
from tests.support import doc, parse, register, unique

ORIGIN = "reliquary.test/manifests"
SIGNING_KEY = generate_signing_key(ORIGIN)
VERIFIER = verifier_key(SIGNING_KEY)
MANY = 20_000


def _entries(count: int, salt: str = "") -> list[ManifestEntry]:
    """``count`` files with long-ish paths, each with its own SHA-256 and size."""
    return [
        ManifestEntry(
            f"shards/layer-{i // 100:04d}/model-{i:06d}-of-{count:06d}.safetensors",
            1_000 + i,
            hashlib.sha256(f"{salt}{i}".encode()).hexdigest(),
        )
        for i in range(count)
    ]


def _preserve(ledger: Ledger, model: str, entries: list[ManifestEntry]) -> str:
    digest = manifest_digest(entries)
    ledger.execute(
        parse(
            doc(
                "preserve_weights",
                model,
                manifest={
                    "manifest_digest": digest,
                    "files": [
                        {"path": e.path, "size": e.size, "sha256": e.sha256} for e in entries
                    ],
                },
                locations=[f"s3://archive/{model}"],
                custodian="Archive Team",
                retention="indefinite",
            )
        )
    )
    return digest


def _registered(ledger: Ledger) -> str:
    model = unique()
    ledger.execute(parse(register(model)))
    return model


def test_a_manifest_of_20000_files_is_committed_by_its_digest_in_a_small_leaf(
    ledger: Ledger,
) -> None:
    model = _registered(ledger)
    entries = _entries(MANY)
    digest = _preserve(ledger, model, entries)

    # The event records the digest, the count and the size, never the list: its leaf (the
    # stored bytes in the log's envelope) is under 2 KB, where the list alone is over 2 MB.
    (stored,) = ledger.recorder.select_events(model_id(model), gt=1)
    leaf = leaf_bytes(stored, sequence=1)
    assert len(leaf) < 2_048, len(leaf)
    state = json.loads(stored.state)
    assert "files" not in state
    assert (state["manifest_digest"], state["file_count"], state["total_bytes"]) == (
        digest,
        MANY,
        sum(e.size for e in entries),
    )
    weights = ledger.state(model).weights
    assert weights is not None
    assert (weights.file_count, weights.total_bytes) == (MANY, sum(e.size for e in entries))

    # The list is stored beside it, by digest: read back whole, it hashes to the digest.
    back = recorded_manifest(ledger, digest, file_count=MANY, total_bytes=weights.total_bytes)
    assert manifest_digest(back.files) == digest
    assert set(back.files) == set(entries)

    # And a page at a time, in the manifest's order, within the page limit.
    pages, offset = [], 0
    while True:
        page = manifest_page(ledger, digest, offset, MAX_MANIFEST_PAGE)
        pages += page.files
        if page.next_offset is None:
            break
        offset = page.next_offset
    assert tuple(pages) == back.files
    assert [e.path.encode() for e in pages] == sorted(e.path.encode() for e in entries)


def test_the_same_manifest_is_stored_once_and_pages_are_bounded(ledger: Ledger) -> None:
    entries = _entries(30)
    first, second = _registered(ledger), _registered(ledger)
    digest = _preserve(ledger, first, entries)
    # The same weights preserved for another model: the list is already held, nothing is
    # written twice (the primary key would refuse it), and both events name it.
    assert _preserve(ledger, second, list(reversed(entries))) == digest
    recorder: Any = ledger.recorder
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {recorder.manifest_files_table}")
        (row,) = cursor.fetchall()
    assert (row["count"] if isinstance(row, dict) else row[0]) == 30

    page = manifest_page(ledger, digest, 25, 10)
    assert [e.path for e in page.files] == [e.path for e in entries[25:]]
    assert page.next_offset is None
    assert manifest_page(ledger, digest, 0, 10).next_offset == 10
    with pytest.raises(InvalidQuery, match="limit must be from 1"):
        manifest_page(ledger, digest, 0, MAX_MANIFEST_PAGE + 1)
    with pytest.raises(InvalidQuery, match="64 lower-case hex"):
        manifest_page(ledger, digest.upper(), 0, 10)
    with pytest.raises(ManifestNotFound):
        manifest_page(ledger, "0" * 64, 0, 10)


def test_a_list_that_does_not_hash_to_its_digest_stores_nothing(
    ledger: Ledger, tmp_path: Path
) -> None:
    # An event recorded by another ledger, to be stored in this fresh one with a forged list.
    source = build_ledger(Settings(database_url=f"sqlite:///{tmp_path / 'source.db'}"))
    try:
        model = _registered(source)
        (registered,) = source.recorder.select_events(model_id(model))
    finally:
        source.close()
    entries = _entries(3)
    forged = Manifest(manifest_digest(entries), (*entries[:2], ManifestEntry("x", 1, "0" * 64)))
    recorder: Any = ledger.recorder
    with pytest.raises(ManifestDigestMismatch):
        recorder.insert_event_batches([[registered]], manifests=[forged])
    # Nothing of that transaction: neither the event nor any of the list.
    assert not recorder.max_notification_id()
    with pytest.raises(ManifestNotFound):
        recorder.manifest_page(forged.digest)
    # The same event with the true list is stored, with the list.
    recorder.insert_event_batches([[registered]], manifests=[manifest_of(entries)])
    assert recorder.max_notification_id()
    assert recorder.read_manifest(forged.digest).files == manifest_of(entries).files


def test_a_stored_list_altered_afterwards_is_damaged_not_trusted(ledger: Ledger) -> None:
    model = _registered(ledger)
    entries = _entries(5)
    digest = _preserve(ledger, model, entries)
    # The files table is append-only: even the store's owner cannot alter a stored list.
    recorder: Any = ledger.recorder
    with (
        pytest.raises(Exception, match="append-only"),
        recorder.datastore.transaction(commit=True) as cursor,
    ):
        cursor.execute(f"UPDATE {recorder.manifest_files_table} SET size = size + 1")
    # A reader given totals that do not match (as if the list had been altered) refuses it.
    with pytest.raises(ManifestDamaged, match="its event records"):
        recorded_manifest(ledger, digest, file_count=5, total_bytes=1)


def test_bundles_carry_each_manifest_and_verify_bundle_checks_it(
    ledger: Ledger, database_url: str, tmp_path: Path
) -> None:
    model = _registered(ledger)
    entries = _entries(2_000)
    digest = _preserve(ledger, model, entries)
    log = build_log(Settings(database_url=database_url, log_origin=ORIGIN), ledger)
    bundle = tmp_path / "bundle"
    export_bundle(log, bundle, SIGNING_KEY, VERIFIER)

    # One file per digest, holding the list; it verifies, and an archive check reads it.
    name = MANIFEST_FILE.format(digest=digest)
    document = json.loads((bundle / name).read_bytes())
    assert document["manifest_digest"] == digest and len(document["files"]) == 2_000
    report = verify_bundle(bundle, VERIFIER)
    assert report.ok, report.problems
    assert report.manifests == 1
    assert recorded_weights_in_bundle(bundle, model, VERIFIER).files == list(
        manifest_of(entries).files
    )

    # A changed hash: the list no longer hashes to the digest its name and its leaf give.
    altered = _copy(bundle, tmp_path / "hash")
    document["files"][7]["sha256"] = "0" * 64
    (altered / name).write_text(json.dumps(document))
    _assert_problems(altered, f"{name}: its files hash to ")

    # A changed size keeps the digest (it covers paths and hashes) but not the leaf's total.
    altered = _copy(bundle, tmp_path / "size")
    document = json.loads((bundle / name).read_bytes())
    document["files"][7]["size"] += 1
    del document["total_bytes"]
    (altered / name).write_text(json.dumps(document))
    _assert_problems(altered, f"{name}: it lists 2000 files of")

    # The list missing, or one more that no leaf names: both reported.
    altered = _copy(bundle, tmp_path / "missing")
    (altered / name).unlink()
    _assert_problems(altered, f"line 2 (sequence 1) names manifest {digest}, which")
    altered = _copy(bundle, tmp_path / "extra")
    stray = manifest_of(_entries(2, salt="stray"))
    (altered / MANIFEST_FILE.format(digest=stray.digest)).write_text(json.dumps(stray.to_json()))
    _assert_problems(altered, f"{MANIFEST_FILE.format(digest=stray.digest)}: no Weights")

    # Restored into an empty ledger, the list is stored with the events: read it back there.
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'restored.db'}", log_origin=ORIGIN)
    restored = build_ledger(settings)
    try:
        import_bundle(build_log(settings, restored), bundle, VERIFIER)
        assert recorded_manifest(restored, digest).files == manifest_of(entries).files
        # A bundle whose list was altered is not imported at all.
        fresh = Settings(database_url=f"sqlite:///{tmp_path / 'fresh.db'}", log_origin=ORIGIN)
        again = build_ledger(fresh)
        try:
            with pytest.raises(BundleDoesNotVerify):
                import_bundle(build_log(fresh, again), tmp_path / "hash", VERIFIER)
            assert not again.recorder.max_notification_id()
        finally:
            again.close()
    finally:
        restored.close()


def _copy(bundle: Path, target: Path) -> Path:
    shutil.copytree(bundle, target)
    return target


def _assert_problems(bundle: Path, *expected: str) -> None:
    """verify-bundle reports exactly these problems (each given by how it begins)."""
    report = verify_bundle(bundle, VERIFIER)
    assert len(report.problems) == len(expected), report.problems
    for problem, start in zip(report.problems, expected, strict=True):
        assert problem.startswith(start), (problem, start)


def test_an_event_of_class_version_1_is_upcast_and_restored_with_its_list(
    ledger: Ledger, database_url: str, tmp_path: Path
) -> None:
    # A bundle whose WeightsPreserved was recorded before class version 2: the list in the leaf.
    model = _registered(ledger)
    entries = _entries(40)
    digest = _preserve(ledger, model, entries)
    log = build_log(Settings(database_url=database_url, log_origin=ORIGIN), ledger)
    bundle = tmp_path / "bundle"
    export_bundle(log, bundle, SIGNING_KEY, VERIFIER)
    records = [json.loads(line) for line in (bundle / "events.jsonl").read_bytes().splitlines()]
    state = records[1]["state"]
    for name in ("file_count", "total_bytes", "class_version"):
        del state[name]
    state["files"] = [{"_data_": [e.path, e.size, e.sha256], "_type_": "file"} for e in entries]
    (bundle / MANIFEST_FILE.format(digest=digest)).unlink()
    _resign(bundle, records)
    report = verify_bundle(bundle, VERIFIER)
    assert report.ok, report.problems
    assert report.manifests == 0  # the leaf holds its list: it names no manifest file

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'restored.db'}", log_origin=ORIGIN)
    restored = build_ledger(settings)
    try:
        import_bundle(build_log(settings, restored), bundle, VERIFIER)
        # Read back, it is upcast: the count and size from its files, the list stored by digest.
        weights = restored.state(model).weights
        assert weights is not None
        assert (weights.manifest_digest, weights.file_count) == (digest, 40)
        assert weights.total_bytes == sum(e.size for e in entries)
        assert recorded_manifest(restored, digest, file_count=40, total_bytes=weights.total_bytes)
        # Its stored bytes are the version-1 bytes the checkpoint signed, not rewritten.
        (stored,) = restored.recorder.select_events(model_id(model), gt=1)
        assert "files" in json.loads(stored.state)
    finally:
        restored.close()


def _resign(bundle: Path, records: list[dict[str, Any]]) -> None:
    """Write ``records`` as the bundle's events and sign a checkpoint of them."""
    lines = [rfc8785.dumps(record) for record in records]
    frontier: dict[merkle.Node, bytes] = {}
    for index, line in enumerate(lines):
        append_leaf(frontier, {}, index, merkle.leaf_hash(line))
    root = merkle.range_hash(0, len(lines), frontier)
    (bundle / "events.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
    checkpoint = Checkpoint(origin=ORIGIN, size=len(lines), root_hash=root)
    (bundle / "checkpoint").write_text(sign_checkpoint(checkpoint, SIGNING_KEY))


def test_a_bulk_import_stores_the_manifests_of_its_batches(ledger: Ledger) -> None:
    model = unique()
    entries = _entries(300)
    digest = manifest_digest(entries)
    preserve = doc(
        "preserve_weights",
        model,
        manifest={"manifest_digest": digest, "files": [vars(e) for e in entries]},
        locations=["s3://archive/bulk"],
        custodian="Archive Team",
        retention="indefinite",
    )
    assert ledger.import_commands([parse(register(model)), parse(preserve)], batch_size=10) == 2
    assert recorded_manifest(
        ledger, digest, file_count=300, total_bytes=sum(e.size for e in entries)
    )
