"""The log served as C2SP tlog-tiles: paths, hash tiles, entry bundles, and a tile client's view.

The expected values are computed independently: leaf hashes from an exported audit bundle's
lines, tree hashes with `merkle.root_of` (the RFC 9162 recursion), and the root folded from
tiles the way a tile client does it, by the tile arithmetic of c2sp.org/tlog-tiles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from api.cli.demo import load_demo
from domain.decisions import NAMED_DIFFERING_FILES, Actor, DifferingFile, differing_digest
from domain.errors import EntryTooLarge, LogError, RecordTooLarge, TileNotFound
from domain.identity import model_id
from domain.ledger import Ledger
from domain.lifecycle import ModelLifecycle
from projections.translog import merkle
from projections.translog.bundle import export_bundle
from projections.translog.checkpoint import (
    Checkpoint,
    generate_signing_key,
    verifier_key,
    verify_checkpoint,
)
from projections.translog.tiles import (
    BundleRef,
    TileRef,
    decode_entry_bundle,
    entry_bundle,
    hash_tile,
    parse_tile_path,
    read_tile,
    tile_path,
)
from projections.translog.tree import TransparencyLog
from tests.support import (
    doc,
    manifest,
    open_log,
    parse,
    register,
    research_signal,
    unique,
)

ORIGIN = "reliquary.test/ledger"
SIGNING_KEY = generate_signing_key(ORIGIN)
VERIFIER = verifier_key(SIGNING_KEY)


# --- paths (no database) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "index", "width", "path"),
    [
        (0, 0, 256, "tile/0/000"),
        (0, 5, 256, "tile/0/005"),
        (0, 999, 256, "tile/0/999"),
        (0, 1000, 256, "tile/0/x001/000"),
        (0, 1234067, 256, "tile/0/x001/x234/067"),
        (1, 1234067, 8, "tile/1/x001/x234/067.p/8"),
        (63, 0, 1, "tile/63/000.p/1"),
        (2, 2**64 - 1, 255, "tile/2/x018/x446/x744/x073/x709/x551/615.p/255"),
        ("entries", 0, 256, "tile/entries/000"),
        ("entries", 1234067, 112, "tile/entries/x001/x234/067.p/112"),
    ],
)
def test_paths_are_written_and_read_as_the_spec_shows(
    level: int | str, index: int, width: int, path: str
) -> None:
    assert tile_path(level, index, width) == path
    ref = parse_tile_path(path)
    if level == "entries":
        assert ref == BundleRef(index, width)
    else:
        assert ref == TileRef(int(level), index, width)
    assert ref.path == path
    assert ref.partial == (width < 256)


def test_paths_round_trip_over_many_values() -> None:
    indexes = [0, 1, 9, 10, 99, 100, 999, 1000, 1001, 999_999, 10**6, 10**9 + 7, 2**64 - 1]
    levels: list[int | str] = [0, 1, 7, 10, 63, "entries"]
    for level in levels:
        for index in indexes:
            for width in [1, 2, 100, 255, 256]:
                path = tile_path(level, index, width)
                ref = parse_tile_path(path)
                assert (ref.index, ref.width) == (index, width)
                assert isinstance(ref, BundleRef) == (level == "entries")
                assert ref.path == path


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/5",  # not zero-padded
        "tile/0/0005",
        "tile/0/x000/005",  # a leading zero group: 5 is 005
        "tile/0/x001",  # the last group has no x
        "tile/0/001/234",  # groups before the last have an x
        "tile/0/x01/234",
        "tile/00/000",  # leading zeroes in the level
        "tile/01/000",
        "tile/64/000",  # levels are 0 to 63
        "tile/-1/000",
        "tile/0/000.p/0",  # partial widths are 1 to 255
        "tile/0/000.p/256",
        "tile/0/000.p/007",
        "tile/0/000.p/",
        "tile/0/000.p",
        "tile/0/000/",
        "/tile/0/000",  # relative to the prefix
        "tile/0/000.p/8/",
        "tile/entry/000",
        "tile/data/000",
        "tile/8/0/000",  # the Go checksum database's form, with the tile height
        "tile/0/٠٠٠",  # Arabic-Indic digits are digits to Python, not to the spec
        "tile/0/x018/x446/x744/x073/x709/x551/616",  # 2**64: no uint64 tree has it
        "tile/0/x001/x001/x001/x001/x001/x001/x001/000",
        "checkpoint",
        "tile",
        "",
    ],
)
def test_malformed_and_non_canonical_paths_name_no_tile(path: str) -> None:
    with pytest.raises(TileNotFound):
        parse_tile_path(path)


@pytest.mark.parametrize(
    ("level", "index", "width"),
    [(64, 0, 256), (-1, 0, 256), ("data", 0, 256), (0, -1, 256), (0, 0, 0), (0, 0, 257)],
)
def test_tile_path_refuses_values_no_path_carries(level: int | str, index: int, width: int) -> None:
    with pytest.raises(ValueError, match="expected"):
        tile_path(level, index, width)


# --- a log of 600 leaves, checkpointed at 300 and at 600 -------------------------------------


@dataclass
class Served:
    log: TransparencyLog
    lines: list[bytes]  # every leaf's bytes, from the exported audit bundle
    earlier: Checkpoint  # signed at 300 leaves
    latest: Checkpoint  # signed at 600 leaves, the one the server serves tiles for

    def fetch(self, path: str) -> bytes:
        """GET <prefix>/<path>, as the HTTP layer answers it (TileNotFound is a 404)."""
        return read_tile(self.log, self.latest.size, path)


def _grow_to(log: TransparencyLog, model: str, size: int) -> None:
    log.catch_up()
    for n in range(size - log.size()):
        log.ledger.execute(parse(research_signal(model, n)))
    log.catch_up()
    assert log.size() == size


def _checkpoint(log: TransparencyLog) -> Checkpoint:
    return verify_checkpoint(log.checkpoint(SIGNING_KEY).note, VERIFIER, ORIGIN)


@pytest.fixture
def served(database_url: str, ledger: Ledger, tmp_path: Path) -> Served:
    log = open_log(database_url, ledger, ORIGIN)
    load_demo(ledger)
    model = unique()
    ledger.execute(parse(register(model)))
    _grow_to(log, model, 300)
    earlier = _checkpoint(log)
    _grow_to(log, model, 600)
    latest = _checkpoint(log)
    export_bundle(log, tmp_path / "bundle", SIGNING_KEY, VERIFIER)
    lines = (tmp_path / "bundle" / "events.jsonl").read_bytes().splitlines()
    assert (earlier.size, latest.size, len(lines)) == (300, 600, 600)
    return Served(log, lines, earlier, latest)


def _hashes(tile: bytes) -> list[bytes]:
    assert len(tile) % 32 == 0
    return [tile[k : k + 32] for k in range(0, len(tile), 32)]


def test_level_0_tiles_hold_exactly_the_leaf_hashes(served: Served) -> None:
    leaves = [merkle.leaf_hash(line) for line in served.lines]
    assert served.fetch("tile/0/000") == b"".join(leaves[0:256])
    assert served.fetch("tile/0/001") == b"".join(leaves[256:512])
    # 600 = 2 * 256 + 88: the rightmost level-0 tile is partial, of width 88.
    assert served.fetch("tile/0/002.p/88") == b"".join(leaves[512:600])
    assert len(served.fetch("tile/0/000")) == 8192
    # The same through the function the brief names, with a TileRef.
    log, size = served.log, served.latest.size
    assert hash_tile(log, size, TileRef(0, 2, 88)) == b"".join(leaves[512:600])


def test_a_level_1_tile_holds_the_level_8_node_hashes(served: Served) -> None:
    leaves = [merkle.leaf_hash(line) for line in served.lines]
    # 600 >> 8 = 2 complete subtrees of 256 leaves: level 1 has one partial tile of width 2.
    tile = served.fetch("tile/1/000.p/2")
    expected = [merkle.root_of(leaves[0:256]), merkle.root_of(leaves[256:512])]
    assert _hashes(tile) == expected
    stored = served.log.recorder.nodes([(8, 0), (8, 1)])
    assert _hashes(tile) == [stored[(8, 0)], stored[(8, 1)]]


def test_tiles_the_tree_does_not_have_are_not_found(served: Served) -> None:
    for path in [
        "tile/0/002",  # not full: 88 of 256
        "tile/0/002.p/89",  # wider than the tree
        "tile/0/002.p/255",
        "tile/0/003.p/1",  # past the end
        "tile/0/003",
        "tile/1/000",  # 2 of 256
        "tile/1/000.p/3",
        "tile/1/001.p/1",
        "tile/2/000.p/1",  # 600 < 65536: level 2 is empty, and empty tiles are not served
        "tile/63/000.p/1",
        "tile/entries/002",
        "tile/entries/002.p/89",
        "tile/entries/003.p/1",
        "tile/0/x001/000",
        "tile/0/000.p/7/",  # malformed
    ]:
        with pytest.raises(TileNotFound):
            served.fetch(path)
    log = served.log
    # For a smaller signed size, what lies beyond it is not served either.
    with pytest.raises(TileNotFound, match="not full yet"):
        hash_tile(log, 300, TileRef(0, 1, 256))
    with pytest.raises(TileNotFound):
        hash_tile(log, 255, TileRef(0, 0, 256))
    with pytest.raises(TileNotFound):
        entry_bundle(log, 300, 1, 45)
    # The empty tree has no tiles at all.
    with pytest.raises(TileNotFound):
        hash_tile(log, 0, TileRef(0, 0, 1))
    with pytest.raises(TileNotFound):
        entry_bundle(log, 0, 0, 1)
    # A size the log does not have is the caller's mistake, not a missing tile.
    with pytest.raises(LogError):
        hash_tile(log, 700, TileRef(0, 2, 100))
    with pytest.raises(LogError):
        entry_bundle(log, 700, 2, 100)


def test_partial_tiles_of_earlier_checkpoints_stay_served(served: Served) -> None:
    # c2sp.org/tlog-tiles: "Logs MUST serve partial tiles corresponding to tree sizes for which
    # a checkpoint was produced". 300 = 256 + 44: the earlier checkpoint's tiles.
    leaves = [merkle.leaf_hash(line) for line in served.lines]
    assert served.fetch("tile/0/001.p/44") == b"".join(leaves[256:300])
    assert served.fetch("tile/1/000.p/1") == merkle.root_of(leaves[0:256])
    assert decode_entry_bundle(served.fetch("tile/entries/001.p/44")) == served.lines[256:300]
    # A partial tile is a prefix of its full tile, whatever the width (its bytes never change).
    assert served.fetch("tile/0/000.p/5") == served.fetch("tile/0/000")[: 5 * 32]
    assert served.fetch("tile/0/002.p/10") == served.fetch("tile/0/002.p/88")[: 10 * 32]


def test_entry_bundles_decode_to_the_exact_bundle_lines(served: Served) -> None:
    full = served.fetch("tile/entries/000")
    # Each entry is a big-endian uint16 length, then the bytes.
    first = served.lines[0]
    assert full[:2] == len(first).to_bytes(2, "big")
    assert full[2 : 2 + len(first)] == first
    decoded: list[bytes] = []
    for path in ["tile/entries/000", "tile/entries/001", "tile/entries/002.p/88"]:
        decoded += decode_entry_bundle(served.fetch(path))
    assert decoded == served.lines
    # Each entry hashes to the corresponding hash of the level-0 tile (as clients check).
    for index, path in enumerate(["tile/0/000", "tile/0/001", "tile/0/002.p/88"]):
        tile = _hashes(served.fetch(path))
        bundle = decode_entry_bundle(served.fetch(path.replace("tile/0/", "tile/entries/")))
        assert [merkle.leaf_hash(entry) for entry in bundle] == tile, index
    assert entry_bundle(served.log, 600, 2, 88) == served.fetch("tile/entries/002.p/88")
    assert decode_entry_bundle(served.fetch("tile/entries/002.p/3")) == served.lines[512:515]


def test_malformed_bundles_are_refused_by_the_decoder() -> None:
    assert decode_entry_bundle(b"") == []
    assert decode_entry_bundle(b"\x00\x00\x00\x01a") == [b"", b"a"]
    for data in [b"\x00", b"\x00\x02a", b"\x00\x01a\x00"]:
        with pytest.raises(ValueError, match="entry bundle"):
            decode_entry_bundle(data)


# --- a tile client ---------------------------------------------------------------------------


class TileClient:
    """Reads tree hashes from tiles alone, for a tree size it holds a checkpoint for.

    A node (tree level k, index i) with k = 8 * L + h (0 <= h < 8) is the root of 2**h
    consecutive hashes of the level-L tile that holds hash i << h; the tile's width is the one
    the tree of `size` has there (full, or its partial width).
    """

    def __init__(self, fetch: Callable[[str], bytes], size: int) -> None:
        self.fetch, self.size = fetch, size
        self.paths: set[str] = set()

    def node(self, level: int, index: int) -> bytes:
        tile_level, height = divmod(level, 8)
        position = index << height  # at tree level 8 * tile_level
        tile_index, offset = divmod(position, 256)
        available = self.size >> (8 * tile_level)
        width = min(256, available - tile_index * 256)
        path = tile_path(tile_level, tile_index, width)
        self.paths.add(path)
        hashes = _hashes(self.fetch(path))
        assert len(hashes) == width
        return merkle.root_of(hashes[offset : offset + (1 << height)])

    def root(self) -> bytes:
        """Fold the tree's maximal perfect subtrees (one per set bit of size), right to left."""
        parts, start = [], 0
        for level in reversed(range(self.size.bit_length())):
            if self.size >> level & 1:
                parts.append(self.node(level, start >> level))
                start += 1 << level
        root = parts[-1]
        for part in reversed(parts[:-1]):
            root = merkle.node_hash(part, root)
        return root

    def nodes(self, wanted: set[merkle.Node]) -> dict[merkle.Node, bytes]:
        return {node: self.node(*node) for node in wanted}


def test_the_root_from_tiles_is_the_signed_root(served: Served) -> None:
    client = TileClient(served.fetch, served.latest.size)
    assert client.root() == served.latest.root_hash == served.log.root()
    # 600 = 512 + 64 + 16 + 8: the 512 comes from the level-1 tile, the rest from level 0.
    assert client.paths == {"tile/1/000.p/2", "tile/0/002.p/88"}
    # A client holding the earlier checkpoint gets its root from the tiles served now.
    earlier = TileClient(served.fetch, served.earlier.size)
    assert earlier.root() == served.earlier.root_hash == served.log.root(300)
    assert earlier.paths == {"tile/1/000.p/1", "tile/0/001.p/44"}


@pytest.mark.parametrize("size", [1, 2, 255, 256, 257, 511, 512, 513, 599])
def test_roots_of_smaller_trees_from_tiles(served: Served, size: int) -> None:
    leaves = [merkle.leaf_hash(line) for line in served.lines]
    assert TileClient(served.fetch, size).root() == merkle.root_of(leaves[:size])


def test_proofs_built_from_tiles_verify_against_the_checkpoint(served: Served) -> None:
    size, root = served.latest.size, served.latest.root_hash
    client = TileClient(served.fetch, size)
    for index in [0, 1, 255, 256, 300, 511, 512, 599]:
        ranges = merkle.inclusion_ranges(index, size)
        proof = merkle.inclusion_proof(index, size, client.nodes(merkle.nodes_needed(ranges)))
        assert proof == served.log.inclusion_proof(index, size).path
        merkle.verify_inclusion(merkle.leaf_hash(served.lines[index]), index, size, proof, root)
    old = served.earlier
    ranges = merkle.consistency_ranges(old.size, size)
    proof = merkle.consistency_proof(old.size, size, client.nodes(merkle.nodes_needed(ranges)))
    merkle.verify_consistency(old.size, size, old.root_hash, root, proof)


# --- entries too long for a bundle -----------------------------------------------------------


def test_an_archive_check_of_a_copy_damaged_throughout_fits_one_log_entry(
    database_url: str, ledger: Ledger
) -> None:
    log = open_log(database_url, ledger, ORIGIN)
    model = unique()
    ledger.execute(parse(register(model)))
    ledger.execute(parse(_preservation(model)))
    command = parse(_damaged_check(model))
    ledger.execute(command)
    log.catch_up()
    checked = ledger.history(model)[-1]
    # Counted and committed in full, the first named: the record fits one entry.
    assert checked.differing_count == 1000 and not checked.intact
    assert checked.differing_digest == differing_digest(command.differing_files)  # type: ignore[attr-defined]
    assert (
        [f.path for f in checked.differing_files]
        == sorted(
            f.path
            for f in command.differing_files  # type: ignore[attr-defined]
        )[:NAMED_DIFFERING_FILES]
    )
    leaf = decode_entry_bundle(entry_bundle(log, log.size(), 0, 3))[2]
    assert b'"differing_count":1000' in leaf and len(leaf) < 65_535 - 2_048


def test_a_record_that_would_not_fit_a_log_entry_is_refused(ledger: Ledger) -> None:
    model = unique()
    ledger.execute(parse(register(model)))
    ledger.execute(parse(_preservation(model)))
    oversized = _oversized_event(ledger, model)
    with pytest.raises(RecordTooLarge, match="at most 63487 bytes"):
        ledger._fitting_log_entries([oversized])  # noqa: SLF001 (the guard every save passes)
    assert ledger.version_of(model) == 2


def _preservation(model: str) -> dict[str, object]:
    return doc(
        "preserve_weights",
        model,
        manifest=manifest(),
        locations=["s3://archive/models/" + model],
        custodian="Archive Team",
        retention="indefinite",
    )


def _damaged_check(model: str) -> dict[str, object]:
    """An archive check finding 1,000 differing files: named in full, they would be over one log
    entry (a manifest is not either: its files are stored beside the log)."""
    return doc(
        "record_archive_check",
        model,
        location="s3://archive/models/" + model,
        checked_at=datetime.now(UTC).isoformat(),
        observed_digest="0" * 64,
        differing_files=[
            {"path": f"weights/model-{n:05d}-of-01000.safetensors", "status": "modified"}
            for n in range(1000)
        ],
    )


def _oversized_event(ledger: Ledger, model: str) -> Any:
    """An archive check naming 1,000 differing files in its record, as no command records it
    any more: over one log entry."""
    files = tuple(
        DifferingFile(f"weights/model-{n:05d}-of-01000.safetensors", "modified")
        for n in range(1000)
    )
    return ModelLifecycle.ArchiveVerified(  # type: ignore[call-arg]
        originator_id=model_id(model),
        originator_version=3,
        timestamp=ModelLifecycle.Event.create_timestamp(),
        actor=Actor("curator-1", "curator", "operator"),
        rationale="checked",
        evidence=(),
        effective_at=None,
        disclosure=2,
        location="s3://archive/models/" + model,
        checked_at=datetime.now(UTC),
        manifest_digest=ledger.state(model).weights.manifest_digest,  # type: ignore[union-attr]
        observed_digest="0" * 64,
        intact=False,
        differing_count=len(files),
        differing_digest=differing_digest(files),
        differing_files=files,
    )


def test_an_entry_over_65535_bytes_refuses_its_bundle_but_not_its_tiles(
    database_url: str, ledger: Ledger
) -> None:
    # The ledger refuses such a record today (above); a store written before that rule may
    # still hold one, so the event is stored here as an older version would have.
    log = open_log(database_url, ledger, ORIGIN)
    model = unique()
    ledger.execute(parse(register(model)))
    ledger.execute(parse(_preservation(model)))
    ledger.recorder.insert_events([ledger.mapper.to_stored_event(_oversized_event(ledger, model))])
    ledger.execute(parse(research_signal(model, 1)))
    log.catch_up()
    size = log.size()
    assert size == 4
    with pytest.raises(EntryTooLarge, match="sequence 2 is") as raised:
        entry_bundle(log, size, 0, 4)
    assert "65535" in str(raised.value)
    # The entries before it are served, and the hash tile (and so every proof) still is.
    assert len(decode_entry_bundle(entry_bundle(log, size, 0, 2))) == 2
    assert TileClient(lambda path: read_tile(log, size, path), size).root() == log.root()
