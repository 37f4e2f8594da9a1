"""The log as static files (`static_tiles.export_tiles`): the same bytes as ``/tlog/``, readable
by a tile client over a plain HTTP server, extended in place, and valid after an interrupted run.

The log grows to 300 events, is signed and exported, then grows to 600 and is signed again. At
300 the tree has one full level-0 tile and the partial ``tile/0/001.p/44``; at 600 two full
ones and ``tile/0/002.p/88``, and level 1 goes from ``.p/1`` to ``.p/2``.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Services, build_services
from api.http.app import create_app
from api.settings import Settings
from domain.errors import TileNotFound
from projections.translog import merkle, static_tiles
from projections.translog.checkpoint import Checkpoint, verify_checkpoint
from projections.translog.keys import create_signing_key
from projections.translog.merkle import ProofError
from projections.translog.static_tiles import (
    TilesFolderDiffers,
    TilesFolderRefused,
    export_tiles,
    tile_paths,
)
from projections.translog.tiles import decode_entry_bundle
from tests.integration.test_tiles import TileClient
from tests.support import parse, register, research_signal, unique

ORIGIN = "reliquary.test/static"


@dataclass
class Log:
    settings: Settings  # the service's, over the same store
    writer: Services  # holds the signing key
    model: str

    def grow_and_sign(self, size: int) -> Checkpoint:
        log = self.writer.log
        log.catch_up()
        for n in range(size - log.log.size()):
            self.writer.ledger.execute(parse(research_signal(self.model, n)))
        signed = log.sign_checkpoint()
        assert signed.size == size
        return verify_checkpoint(signed.note, log.verifier_key(), ORIGIN)


@pytest.fixture
def grown(database_url: str, tmp_path: Path) -> Iterator[Log]:
    key = tmp_path / "signing.key"
    create_signing_key(key, ORIGIN)
    settings = Settings(database_url=database_url, signing_key=key, log_origin=ORIGIN)
    writer = build_services(settings)
    model = unique("static")
    writer.ledger.execute(parse(register(model)))
    try:
        yield Log(settings, writer, model)
    finally:
        writer.close()


def _files(directory: Path) -> dict[str, bytes]:
    """Every regular file under the folder, by its path relative to it."""
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in directory.rglob("*")
        if path.is_file()
    }


def test_every_file_is_what_tlog_serves(grown: Log, tmp_path: Path) -> None:
    signed = grown.grow_and_sign(600)
    folder = tmp_path / "public"
    umask = os.umask(0o077)  # an operator's private umask must not make the log private
    try:
        done = export_tiles(grown.writer.log, folder)
    finally:
        os.umask(umask)
    files = _files(folder)
    expected = ["checkpoint", *tile_paths(600)]
    assert sorted(files) == sorted(expected)
    assert sorted(done.written) == sorted(expected[1:]) and not done.kept
    assert "tile/0/002.p/88" in files and "tile/1/000.p/2" in files
    with TestClient(create_app(grown.settings)) as client:
        for path, data in files.items():
            answer = client.get("/tlog/" + path)
            assert answer.status_code == 200, path
            assert answer.content == data, path
        # And nothing the folder lacks is a tile of this tree (a 404 there too).
        assert client.get("/tlog/tile/0/002").status_code == 404
    assert files["checkpoint"].decode() == grown.writer.log.latest_checkpoint().note
    assert verify_checkpoint(files["checkpoint"].decode(), grown.writer.log.verifier_key()).size
    assert signed.size == 600
    # Public, whatever the umask: files 0644, folders 0755.
    for path in folder.rglob("*"):
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), path


class Server:
    """``python -m http.server`` over a folder, on a free loopback port."""

    def __init__(self, directory: Path) -> None:
        command = [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1"]
        self.process = subprocess.Popen(  # noqa: S603 (our interpreter, fixed arguments)
            [*command, "--directory", str(directory)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N (...) ..."
        found = re.search(r"port (\d+)", line)
        assert found, line
        self.base = f"http://127.0.0.1:{found.group(1)}/"

    def fetch(self, path: str) -> bytes:
        try:
            with urllib.request.urlopen(self.base + path, timeout=10) as answer:  # noqa: S310
                return bytes(answer.read())
        except urllib.error.HTTPError as error:
            if error.code == 404:
                raise TileNotFound(path) from None
            raise

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(name="server")
def server_fixture(tmp_path: Path) -> Iterator[Server]:
    (tmp_path / "public").mkdir()
    served = Server(tmp_path / "public")
    try:
        yield served
    finally:
        if served.process.poll() is None:  # a test may have stopped it (a dead server)
            served.close()


def test_a_plain_http_server_over_the_folder_serves_a_verifiable_log(
    grown: Log, tmp_path: Path, server: Server
) -> None:
    folder = tmp_path / "public"
    earlier = grown.grow_and_sign(300)
    export_tiles(grown.writer.log, folder)
    latest = grown.grow_and_sign(600)
    export_tiles(grown.writer.log, folder)
    verifier = grown.writer.log.verifier_key()
    served = verify_checkpoint(server.fetch("checkpoint").decode(), verifier, ORIGIN)
    assert (served.size, served.root_hash) == (latest.size, latest.root_hash)

    client = TileClient(server.fetch, served.size)
    assert client.root() == latest.root_hash
    # A reader still holding the earlier checkpoint recomputes its root from the folder too:
    # through the partial level-1 tile kept for it and the full level-0 tile that replaced
    # its partial one.
    old_client = TileClient(server.fetch, earlier.size)
    with pytest.raises(TileNotFound):
        old_client.root()  # tile/0/001.p/44 was removed once tile/0/001 existed (spec: MAY)
    leaves = [
        merkle.leaf_hash(entry)
        for n in range(3)
        for entry in decode_entry_bundle(
            server.fetch(f"tile/entries/00{n}" + (".p/88" if n == 2 else ""))
        )
    ]
    assert len(leaves) == 600
    assert merkle.root_of(leaves[:300]) == earlier.root_hash
    assert server.fetch("tile/1/000.p/1") == merkle.root_of(leaves[:256])

    size, root = latest.size, latest.root_hash
    for index in [0, 1, 255, 256, 299, 300, 511, 512, 599]:
        ranges = merkle.inclusion_ranges(index, size)
        proof = merkle.inclusion_proof(index, size, client.nodes(merkle.nodes_needed(ranges)))
        merkle.verify_inclusion(leaves[index], index, size, proof, root)
        assert proof == grown.writer.log.inclusion_proof(index, size)[0].path
    ranges = merkle.consistency_ranges(earlier.size, size)
    proof = merkle.consistency_proof(earlier.size, size, client.nodes(merkle.nodes_needed(ranges)))
    merkle.verify_consistency(earlier.size, size, earlier.root_hash, root, proof)
    # A proof against a wrong old root fails: the check above could fail.
    with pytest.raises(ProofError):
        merkle.verify_consistency(earlier.size, size, bytes(32), root, proof)


def test_a_second_export_extends_the_folder_and_keeps_full_tiles(
    grown: Log, tmp_path: Path
) -> None:
    folder = tmp_path / "public"
    grown.grow_and_sign(300)
    first = export_tiles(grown.writer.log, folder)
    assert "tile/0/001.p/44" in first.written
    full = {p: os.stat(folder / p) for p in ["tile/0/000", "tile/entries/000"]}
    before = _files(folder)

    grown.grow_and_sign(600)
    second = export_tiles(grown.writer.log, folder)
    # Full tiles written before are checked and kept: same bytes, same file (inode, mtime).
    assert set(second.kept) == {"tile/0/000", "tile/entries/000"}
    for path, info in full.items():
        now = os.stat(folder / path)
        assert (now.st_ino, now.st_mtime_ns) == (info.st_ino, info.st_mtime_ns), path
        assert (folder / path).read_bytes() == before[path]
    # The partial tiles of 300 whose full tile now exists are gone; level 1 is still partial,
    # and a reader of the checkpoint of 300 needs tile/1/000.p/1: it stays.
    assert sorted(second.removed) == ["tile/0/001.p/44", "tile/entries/001.p/44"]
    assert set(second.written) == {
        "tile/0/001",
        "tile/0/002.p/88",
        "tile/1/000.p/2",
        "tile/entries/001",
        "tile/entries/002.p/88",
    }

    fresh = _files(_exported(grown, tmp_path / "fresh"))
    extended = _files(folder)
    assert {p: extended[p] for p in fresh} == fresh
    assert set(extended) - set(fresh) == {"tile/1/000.p/1"}
    assert extended["tile/1/000.p/1"] == fresh["tile/1/000.p/2"][:32]

    # A third run with nothing new writes nothing and changes nothing.
    third = export_tiles(grown.writer.log, folder)
    assert third.written == [] and third.removed == [] and _files(folder) == extended


def _exported(grown: Log, folder: Path) -> Path:
    export_tiles(grown.writer.log, folder)
    return folder


def test_an_interrupted_export_leaves_the_old_checkpoint_valid(
    grown: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "public"
    earlier = grown.grow_and_sign(300)
    export_tiles(grown.writer.log, folder)
    old_note = (folder / "checkpoint").read_bytes()
    grown.grow_and_sign(600)

    def crash(folder_fd: int, temporary: str, name: str) -> None:
        raise OSError("power cut before the checkpoint's rename")

    monkeypatch.setattr(static_tiles, "_replace_checkpoint", crash)
    with pytest.raises(OSError, match="power cut"):
        export_tiles(grown.writer.log, folder)
    monkeypatch.undo()

    # The old checkpoint is served, every tile it needs is there, and no temporary is left.
    assert (folder / "checkpoint").read_bytes() == old_note
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp-")]
    files = _files(folder)
    for path in tile_paths(300):
        assert path in files, path
    client = TileClient(lambda path: _read(folder, path), earlier.size)
    assert client.root() == earlier.root_hash
    # The next run completes the export.
    done = export_tiles(grown.writer.log, folder)
    assert "tile/0/001" in done.kept  # written by the interrupted run, checked now
    assert TileClient(lambda path: _read(folder, path), 600).root() == grown.writer.log.log.root()


def test_a_killed_export_leaves_no_temporary_after_the_next_run(grown: Log, tmp_path: Path) -> None:
    """A run killed between writing a tile's temporary and renaming it (SIGKILL runs no
    cleanup) leaves ``.tmp-<its pid>-<name>`` in that tile's folder: the next run removes it."""
    folder = tmp_path / "public"
    grown.grow_and_sign(300)
    export_tiles(grown.writer.log, folder)
    grown.grow_and_sign(600)
    # What a run killed mid-write leaves, in three folders, under another process's id.
    left = [
        folder / "tile" / "0" / "002.p" / ".tmp-4242-88",
        folder / "tile" / "entries" / ".tmp-4242-001",
        folder / ".tmp-4242-checkpoint",
    ]
    left[0].parent.mkdir(parents=True, exist_ok=True)
    for path in left:
        path.write_bytes(b"half a tile")
    export_tiles(grown.writer.log, folder)
    assert not list(folder.rglob(".tmp-*"))
    assert TileClient(lambda path: _read(folder, path), 600).root() == grown.writer.log.log.root()


def _read(folder: Path, path: str) -> bytes:
    try:
        return (folder / path).read_bytes()
    except FileNotFoundError:
        raise TileNotFound(path) from None


def test_a_link_a_file_or_another_logs_tile_is_refused(grown: Log, tmp_path: Path) -> None:
    grown.grow_and_sign(300)
    log = grown.writer.log
    (tmp_path / "file").write_text("x")
    with pytest.raises(TilesFolderRefused, match="not a folder"):
        export_tiles(log, tmp_path / "file")
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(TilesFolderRefused, match="symbolic link"):
        export_tiles(log, tmp_path / "link")
    assert list((tmp_path / "real").iterdir()) == []
    # A link inside the folder, where a tile folder goes, is not followed.
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "tile").symlink_to(tmp_path / "real")
    with pytest.raises(TilesFolderRefused, match="symbolic link"):
        export_tiles(log, tmp_path / "inner")
    assert list((tmp_path / "real").iterdir()) == []

    folder = tmp_path / "public"
    export_tiles(log, folder)
    tile = folder / "tile" / "0" / "000"
    damaged = bytearray(tile.read_bytes())
    damaged[0] ^= 1
    tile.write_bytes(bytes(damaged))
    note = (folder / "checkpoint").read_bytes()
    with pytest.raises(TilesFolderDiffers, match="tile/0/000"):
        export_tiles(log, folder)
    assert (folder / "checkpoint").read_bytes() == note

    # A folder holding a larger tree's checkpoint, or another log's, is never taken back.
    other = tmp_path / "other"
    export_tiles(log, other)
    lines = note.decode().split("\n")
    (other / "checkpoint").write_text("\n".join([lines[0], "301", *lines[2:]]))
    with pytest.raises(TilesFolderRefused, match="take the published log back"):
        export_tiles(log, other)
    (other / "checkpoint").write_text("\n".join(["example.org/other-log", *lines[1:]]))
    with pytest.raises(TilesFolderRefused, match="another log"):
        export_tiles(log, other)
    assert (other / "checkpoint").read_text().startswith("example.org/other-log\n")
