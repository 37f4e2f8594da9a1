"""`monitor.run_monitor` on real Reliquary logs exported as static tiles, from a folder and over
a plain HTTP server: incremental verification, forks, tampering, witnesses, and its state.

A *fork* is a second ledger signed with the same key and origin but holding other events: the
split view a monitor exists to catch. A hypothesis property then runs the monitor over
synthetic tiles of random sizes, with one byte altered.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from api.bootstrap import build_services
from api.http.app import create_app
from api.settings import Settings
from projections.translog import merkle
from projections.translog.checkpoint import (
    Checkpoint,
    generate_signing_key,
    sign_checkpoint,
    verify_checkpoint,
)
from projections.translog.checkpoint import verifier_key as note_verifier_key
from projections.translog.cosignature import cosign, cosigner_verifier_key, generate_cosigner_key
from projections.translog.keys import create_signing_key
from projections.translog.monitor import (
    ALARM,
    BEHIND,
    OK,
    REFUSED,
    UNREACHABLE,
    UNWITNESSED,
    MonitorReport,
    MonitorState,
    MonitorStateError,
    frontier_append,
    frontier_root,
    run_monitor,
)
from projections.translog.static_tiles import export_tiles
from projections.translog.tile_sources import FolderSource, HttpSource, TileMissing
from projections.translog.tiles import ENTRIES, TILE_WIDTH, tile_path
from projections.translog.witness_policy import PolicyWitness, WitnessPolicy
from tests.integration.test_static_tiles import ORIGIN, Log, Server, server_fixture  # noqa: F401
from tests.support import parse, register, unique


class Ledgers:
    """A signing key, the main ledger on the test's backend, and fork ledgers on SQLite."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.key = tmp_path / "signing.key"
        create_signing_key(self.key, ORIGIN)
        self.opened: list[Log] = []
        self.main = self.open(database_url)

    def open(self, database_url: str) -> Log:
        settings = Settings(database_url=database_url, signing_key=self.key, log_origin=ORIGIN)
        writer = build_services(settings)
        model = unique("monitored")
        writer.ledger.execute(parse(register(model)))
        log = Log(settings, writer, model)
        self.opened.append(log)
        return log

    def fork(self) -> Log:
        """Another history under the same key and origin (a ledger of its own, on SQLite)."""
        return self.open(f"sqlite:///{self.tmp_path / f'fork{len(self.opened)}.db'}")

    @property
    def verifier(self) -> str:
        return self.main.writer.log.verifier_key()

    def close(self) -> None:
        for log in self.opened:
            log.writer.close()


@pytest.fixture
def ledgers(database_url: str, tmp_path: Path) -> Iterator[Ledgers]:
    made = Ledgers(database_url, tmp_path)
    try:
        yield made
    finally:
        made.close()


def _export(log: Log, size: int, folder: Path) -> Path:
    log.grow_and_sign(size)
    export_tiles(log.writer.log, folder)
    return folder


class Counting:
    """A source that records every path read through it."""

    def __init__(self, inner: FolderSource | HttpSource) -> None:
        self.inner = inner
        self.paths: list[str] = []

    @property
    def name(self) -> str:
        return self.inner.name

    def read(self, path: str, limit: int) -> bytes:
        self.paths.append(path)
        return self.inner.read(path, limit)


def _files(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != "lock"
    }


def _monitor(folder: Path, state: Path, key: str | None = None, **options: object) -> MonitorReport:
    return run_monitor(FolderSource(folder), MonitorState(state), key, **options)  # type: ignore[arg-type]


def test_the_first_run_pins_the_key_and_later_runs_read_only_new_entries(
    ledgers: Ledgers, tmp_path: Path
) -> None:
    folder, state = tmp_path / "public", tmp_path / "state"
    _export(ledgers.main, 5, folder)
    with pytest.raises(MonitorStateError, match="pin the log's verifier key"):
        _monitor(folder, state)
    first = _monitor(folder, state, ledgers.verifier)
    assert (first.status, first.new_size, first.entries_checked) == (OK, 5, 5)
    assert first.origin == ORIGIN and first.exit_code == 0
    saved = json.loads((state / "state.json").read_text())
    assert saved["verifier_key"] == ledgers.verifier and saved["origin"] == ORIGIN
    assert (state / "checkpoint").read_text() == (folder / "checkpoint").read_text()

    # Across a tile boundary, then a few more: each run reads only the bundles it needs.
    _export(ledgers.main, 300, folder)
    second = _monitor(folder, state)
    assert (second.status, second.entries_checked, second.verified_size) == (OK, 295, 300)
    _export(ledgers.main, 310, folder)
    counting = Counting(FolderSource(folder))
    third = run_monitor(counting, MonitorState(state))
    assert (third.status, third.entries_checked, third.verified_size) == (OK, 10, 310)
    assert counting.paths == ["checkpoint", "tile/entries/001.p/54", "tile/0/001.p/54"]
    assert (
        third.verified_root
        == verify_checkpoint((folder / "checkpoint").read_text(), ledgers.verifier).root_hash
    )
    saved = json.loads((state / "state.json").read_text())
    assert len(saved["frontier"]) == bin(310).count("1")
    history = (state / "verified.log").read_text().splitlines()
    assert [line.split()[0] for line in history] == ["5", "300", "310"]
    assert history[-1] == f"310 {saved['root']}"

    # Nothing new: nothing read but the checkpoint, nothing changed.
    before = _files(state)
    counting.paths.clear()
    again = run_monitor(counting, MonitorState(state))
    assert (again.status, again.entries_checked) == (OK, 0)
    assert counting.paths == ["checkpoint"] and _files(state) == before
    # The same key again is fine; another one is refused, and changes nothing.
    assert _monitor(folder, state, ledgers.verifier).status == OK
    other = note_verifier_key(generate_signing_key(ORIGIN))
    with pytest.raises(MonitorStateError, match="differs from the key pinned"):
        _monitor(folder, state, other)
    assert _files(state) == before


def test_a_plain_http_server_over_the_folder_is_monitored_until_it_dies(
    ledgers: Ledgers, tmp_path: Path, server: Server
) -> None:
    folder, state = tmp_path / "public", tmp_path / "state"
    _export(ledgers.main, 260, folder)
    source = HttpSource(server.base, timeout=5)
    try:
        report = run_monitor(source, MonitorState(state), ledgers.verifier)
        assert (report.status, report.entries_checked) == (OK, 260)
        _export(ledgers.main, 270, folder)
        report = run_monitor(source, MonitorState(state))
        assert (report.status, report.entries_checked, report.verified_size) == (OK, 10, 270)
        # A tile gone from the server: unreachable, naming it; the state stays at 270.
        _export(ledgers.main, 280, folder)
        (folder / "tile/0/001.p/24").unlink()
        report = run_monitor(source, MonitorState(state))
        assert report.status == UNREACHABLE and report.exit_code == 4
        assert "tile/0/001.p/24" in report.detail and report.verified_size == 270
        server.close()
        report = run_monitor(source, MonitorState(state))
        assert report.status == UNREACHABLE and "checkpoint" in report.detail
    finally:
        source.close()


def test_reliquarys_own_tlog_is_monitored_over_http(ledgers: Ledgers, tmp_path: Path) -> None:
    state = tmp_path / "state"
    ledgers.main.grow_and_sign(5)
    with TestClient(create_app(ledgers.main.settings)) as client:
        source = HttpSource("http://testserver/tlog", client=client)
        report = run_monitor(source, MonitorState(state), ledgers.verifier)
        assert (report.status, report.entries_checked, report.origin) == (OK, 5, ORIGIN)
        signed = ledgers.main.grow_and_sign(12)
        report = run_monitor(source, MonitorState(state))
        assert (report.status, report.entries_checked) == (OK, 7)
        assert report.verified_root == signed.root_hash
        assert run_monitor(source, MonitorState(state)).entries_checked == 0


def test_a_fork_of_the_same_size_or_larger_is_an_alarm_with_evidence(
    ledgers: Ledgers, tmp_path: Path
) -> None:
    honest, forked, state = tmp_path / "a", tmp_path / "b", tmp_path / "state"
    _export(ledgers.main, 4, honest)
    assert _monitor(honest, state, ledgers.verifier).status == OK
    _export(ledgers.main, 6, honest)
    assert _monitor(honest, state).status == OK
    before = _files(state)
    fork = ledgers.fork()
    _export(fork, 6, forked)

    same = _monitor(forked, state)
    assert same.status == ALARM and same.exit_code == 3 and same.evidence is not None
    assert same.evidence.name.endswith("-split-view")
    assert (same.evidence / "verified.checkpoint").read_text() == (
        honest / "checkpoint"
    ).read_text()
    assert (same.evidence / "conflicting.checkpoint").read_text() == (
        forked / "checkpoint"
    ).read_text()
    detail = json.loads((same.evidence / "detail.json").read_text())
    assert detail["verified_size"] == detail["conflicting_size"] == 6
    assert detail["verified_root"] != detail["conflicting_root"]
    assert {k: v for k, v in _files(state).items() if not k.startswith("evidence/")} == before

    _export(fork, 9, forked)
    larger = _monitor(forked, state)
    assert larger.status == ALARM and larger.evidence is not None
    assert larger.evidence.name.endswith("-inconsistent") and larger.evidence != same.evidence
    assert (larger.evidence / "conflicting.checkpoint").read_text() == (
        forked / "checkpoint"
    ).read_text()
    detail = json.loads((larger.evidence / "detail.json").read_text())
    assert (
        detail["conflicting_size"] == 9 and detail["recomputed_root"] != detail["conflicting_root"]
    )
    assert larger.verified_size == 6

    # A fork behind the verified size: an alarm when a root was verified at its size.
    older = tmp_path / "c"
    _export(ledgers.fork(), 4, older)
    behind = _monitor(older, state)
    assert behind.status == ALARM and "was verified at that size" in behind.detail
    assert {k: v for k, v in _files(state).items() if not k.startswith("evidence/")} == before
    # The honest log, still there, is fine.
    assert _monitor(honest, state).status == OK


def test_an_older_checkpoint_of_the_same_log_is_behind(ledgers: Ledgers, tmp_path: Path) -> None:
    folder, old, state = tmp_path / "public", tmp_path / "old", tmp_path / "state"
    _export(ledgers.main, 3, folder)
    shutil.copytree(folder, old)
    _export(ledgers.main, 8, folder)
    assert _monitor(folder, state, ledgers.verifier).status == OK
    before = _files(state)
    report = _monitor(old, state)
    assert (report.status, report.exit_code, report.new_size) == (BEHIND, 1, 3)
    assert report.evidence is None and _files(state) == before


def test_a_checkpoint_the_pinned_key_did_not_sign_is_refused(
    ledgers: Ledgers, tmp_path: Path
) -> None:
    folder, state = tmp_path / "public", tmp_path / "state"
    _export(ledgers.main, 3, folder)
    other = note_verifier_key(generate_signing_key(ORIGIN))
    report = _monitor(folder, state, other)
    assert report.status == REFUSED and report.exit_code == 1
    assert "expected a signature by" in report.detail
    assert not (state / "state.json").exists()
    # A signature by the right key name and ID that does not verify: refused too.
    assert _monitor(folder, state, ledgers.verifier).status == OK
    _export(ledgers.main, 5, folder)
    note = (folder / "checkpoint").read_text()
    text, _, signature = note.rpartition(" ")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    (folder / "checkpoint").write_text(f"{text} {flipped}")
    before = _files(state)
    report = _monitor(folder, state)
    assert report.status == REFUSED and report.verified_size == 3
    assert _files(state) == before


@pytest.mark.parametrize("target", ["tile/entries/000.p/7", "tile/0/000.p/7", "both"])
def test_a_tampered_bundle_or_tile_is_never_accepted(
    ledgers: Ledgers, tmp_path: Path, target: str
) -> None:
    folder, state = tmp_path / "public", tmp_path / "state"
    _export(ledgers.main, 4, folder)
    assert _monitor(folder, state, ledgers.verifier).status == OK
    before = _files(state)
    _export(ledgers.main, 7, folder)
    bundle = bytearray((folder / "tile/entries/000.p/7").read_bytes())
    bundle[-3] ^= 0x01  # a byte of the last entry (leaf 6, a new one)
    if target in ("tile/entries/000.p/7", "both"):
        (folder / "tile/entries/000.p/7").write_bytes(bytes(bundle))
    if target in ("tile/0/000.p/7", "both"):
        tile = bytearray((folder / "tile/0/000.p/7").read_bytes())
        if target == "both":  # the tile made to match the altered entries
            entries = merkle.leaf_hashes(_decode(bytes(bundle)))
            tile = bytearray(b"".join(entries))
        else:
            tile[-1] ^= 0x01
        (folder / "tile/0/000.p/7").write_bytes(bytes(tile))
    report = _monitor(folder, state)
    assert report.status == ALARM and report.verified_size == 4
    if target == "both":
        assert "served entries has root" in report.detail
    else:
        assert "leaf 6 differs" in report.detail
    assert {k: v for k, v in _files(state).items() if not k.startswith("evidence/")} == before


def _decode(bundle: bytes) -> list[bytes]:
    from projections.translog.tiles import decode_entry_bundle

    return decode_entry_bundle(bundle)


def test_a_partial_tile_gone_for_its_full_tile_is_read_from_the_full_one(
    ledgers: Ledgers, tmp_path: Path
) -> None:
    folder, state = tmp_path / "public", tmp_path / "state"
    _export(ledgers.main, 300, folder)
    older = (folder / "checkpoint").read_text()
    _export(ledgers.main, 600, folder)  # removes tile/0/001.p/44 and its bundle
    assert not (folder / "tile/0/001.p/44").exists()
    (folder / "checkpoint").write_text(older)  # a reader that got the checkpoint before that
    counting = Counting(FolderSource(folder))
    report = run_monitor(counting, MonitorState(state), ledgers.verifier)
    assert (report.status, report.verified_size, report.entries_checked) == (OK, 300, 300)
    assert "tile/entries/001.p/44" in counting.paths and "tile/entries/001" in counting.paths


def test_a_missing_tile_or_folder_is_unreachable(ledgers: Ledgers, tmp_path: Path) -> None:
    folder, state = tmp_path / "public", tmp_path / "state"
    missing = _monitor(tmp_path / "nowhere", state, ledgers.verifier)
    assert missing.status == UNREACHABLE and missing.exit_code == 4
    _export(ledgers.main, 5, folder)
    (folder / "tile/entries/000.p/5").unlink()
    report = _monitor(folder, state, ledgers.verifier)
    assert report.status == UNREACHABLE and "tile/entries/000.p/5" in report.detail
    assert not (state / "state.json").exists()
    # A link inside the folder is not followed.
    (folder / "tile/entries/000.p/5").symlink_to(tmp_path / "elsewhere")
    report = _monitor(folder, state, ledgers.verifier)
    assert report.status == UNREACHABLE and "link" in report.detail


def test_a_second_run_on_the_same_state_is_busy(ledgers: Ledgers, tmp_path: Path) -> None:
    folder, state = tmp_path / "public", tmp_path / "state"
    _export(ledgers.main, 2, folder)
    with MonitorState(state).locked():
        report = _monitor(folder, state, ledgers.verifier)
    assert report.status == UNREACHABLE and "busy" in report.detail
    assert not (state / "state.json").exists()
    assert _monitor(folder, state, ledgers.verifier).status == OK  # released


def test_a_run_killed_while_saving_leaves_the_old_state_whole(
    ledgers: Ledgers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, state = tmp_path / "public", tmp_path / "state"
    _export(ledgers.main, 3, folder)
    assert _monitor(folder, state, ledgers.verifier).status == OK
    old = MonitorState(state).load()
    _export(ledgers.main, 9, folder)

    def killed(*args: object) -> None:
        raise OSError("killed")

    with monkeypatch.context() as patch:
        patch.setattr("projections.translog.monitor.os.replace", killed)
        with pytest.raises(MonitorStateError, match="cannot save"):
            _monitor(folder, state)
    assert MonitorState(state).load() == old
    report = _monitor(folder, state)
    assert (report.status, report.entries_checked, report.verified_size) == (OK, 6, 9)


def _cosigned(folder: Path, *keys: str) -> str:
    note = (folder / "checkpoint").read_text()
    lines = "".join(cosign(note, key, 1_700_000_000 + n) for n, key in enumerate(keys))
    (folder / "checkpoint").write_text(note + lines)
    return note


def test_a_witness_policy_needs_its_quorum_and_a_forged_cosignature_is_an_alarm(
    ledgers: Ledgers, tmp_path: Path
) -> None:
    folder, state = tmp_path / "public", tmp_path / "state"
    keys = [generate_cosigner_key(f"witness.test/w{n}") for n in range(3)]
    policy = WitnessPolicy(
        tuple(
            PolicyWitness(f"witness.test/w{n}", "https://w.test/", cosigner_verifier_key(key))
            for n, key in enumerate(keys)
        ),
        2,
    )
    _export(ledgers.main, 3, folder)
    note = _cosigned(folder, keys[0])
    report = _monitor(folder, state, ledgers.verifier, policy=policy)
    assert (report.status, report.exit_code) == (UNWITNESSED, 1)
    assert report.witnesses == ("witness.test/w0",) and not (state / "state.json").exists()
    (folder / "checkpoint").write_text(note)  # the log's note again, then two cosignatures
    _cosigned(folder, keys[0], keys[2])
    report = _monitor(folder, state, ledgers.verifier, policy=policy)
    assert report.status == OK and report.witnesses == ("witness.test/w0", "witness.test/w2")
    before = _files(state)

    # A line under w1's name and key that is not w1's cosignature of this checkpoint.
    _export(ledgers.main, 5, folder)
    plain = (folder / "checkpoint").read_text()
    stale = cosign(plain.replace("\n5\n", "\n4\n", 1), keys[1], 1_700_000_000)
    (folder / "checkpoint").write_text(
        plain + cosign(plain, keys[0], 1) + cosign(plain, keys[2], 2) + stale
    )
    report = _monitor(folder, state, policy=policy)
    assert report.status == ALARM and report.evidence is not None
    assert report.evidence.name.endswith("-forged-cosignature")
    assert "witness.test/w1" in report.detail
    assert {k: v for k, v in _files(state).items() if not k.startswith("evidence/")} == before


# --- a property over synthetic logs ------------------------------------------------------------


class Tiles:
    """The checkpoint, entry bundles and level-0 tiles of a tree of random entries, in memory."""

    def __init__(self, entries: list[bytes], size: int, signing_key: str) -> None:
        self.files: dict[str, bytes] = {}
        hashes = merkle.leaf_hashes(entries[:size])
        for index in range(-(-size // TILE_WIDTH)):
            chunk = slice(index * TILE_WIDTH, min(size, (index + 1) * TILE_WIDTH))
            width = chunk.stop - chunk.start
            self.files[tile_path(ENTRIES, index, width)] = b"".join(
                len(e).to_bytes(2, "big") + e for e in entries[chunk]
            )
            self.files[tile_path(0, index, width)] = b"".join(hashes[chunk])
        root = merkle.root_of(hashes)
        self.files["checkpoint"] = sign_checkpoint(
            Checkpoint("example.test/log", size, root), signing_key
        ).encode()

    name = "memory"

    def read(self, path: str, limit: int) -> bytes:
        if path not in self.files:
            raise TileMissing(path)
        return self.files[path]


SIGNING_KEY = generate_signing_key("example.test/log")


@given(
    entries=st.lists(st.binary(min_size=1, max_size=6), min_size=2, max_size=300),
    data=st.data(),
)
def test_monitoring_a_then_b_accepts_and_any_altered_entry_byte_is_refused(
    entries: list[bytes], data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    b = data.draw(st.integers(2, len(entries)), label="b")
    a = data.draw(st.integers(1, b - 1), label="a")
    state = MonitorState(tmp_path_factory.mktemp("state"))
    key = note_verifier_key(SIGNING_KEY)
    assert run_monitor(Tiles(entries, a, SIGNING_KEY), state, key).status == OK
    later = Tiles(entries, b, SIGNING_KEY)
    # Alter one byte of one entry of [a, b), in its bundle only or in its tile too.
    target = data.draw(st.integers(a, b - 1), label="n")
    position = data.draw(st.integers(0, len(entries[target]) - 1), label="byte")
    altered = bytearray(entries[target])
    altered[position] ^= data.draw(st.integers(1, 255), label="xor")
    forged = Tiles([*entries[:target], bytes(altered), *entries[target + 1 :]], b, SIGNING_KEY)
    forged.files["checkpoint"] = later.files["checkpoint"]  # the log's signed root
    if data.draw(st.booleans(), label="bundle only"):
        for path, content in later.files.items():
            if path.startswith("tile/0/"):
                forged.files[path] = content
    report = run_monitor(forged, state)
    assert report.status == ALARM and report.verified_size == a
    honest = run_monitor(later, state)
    assert (honest.status, honest.verified_size, honest.entries_checked) == (OK, b, b - a)


def test_the_frontier_gives_the_root_of_every_size() -> None:
    leaves = merkle.leaf_hashes(bytes([n]) for n in range(70))
    frontier: list[bytes] = []
    for size, leaf in enumerate(leaves):
        assert frontier_root(frontier, size) == merkle.root_of(leaves[:size])
        frontier_append(frontier, size, leaf)
    assert frontier_root(frontier, 70) == merkle.root_of(leaves)
    with pytest.raises(ValueError, match="frontier hashes"):
        frontier_root(frontier, 71)
