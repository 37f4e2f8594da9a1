"""Go's ``golang.org/x/mod/sumdb/tlog`` verifies a Reliquary log exported as static tiles.

``tlog_tiles.go`` (beside this file) reads the folder, or a plain ``python -m http.server``
over it, through ``tlog.TileHashReader``: an independent implementation of the tiled Merkle tree
recomputes the checkpoint's root from our hash tiles, proves leaves from our entry bundles and
proves consistency with an earlier checkpoint. Hash tiles are the same bytes in sumdb and
C2SP tlog-tiles (only the path drops sumdb's height, ``tile/8/L/N`` is ``tile/L/N``); entry
bundles have no sumdb counterpart (sumdb has data tiles of go.sum records), so the program reads
them with a parser of its own and tlog hashes and proves the entries.

The Debian x/mod (0.7.0) has go.dev/issue/80744 (CVE-2026-56865, fixed in v0.40.0): its
``TileHashReader`` leaves the first full tiles after the tree hash's unauthenticated. Here a
flipped leaf-0 hash in ``tile/0/000`` then passes a proof of leaf 0, so the program repeats the
parent check itself (``SaveTiles``); the tampering tests hold with or without the fix.

The log grows to 300 events (a full level-0 tile, ``tile/0/001.p/44``, ``tile/1/000.p/1``),
then to 600 (``tile/0/002.p/88``, ``tile/1/000.p/2``). A full level-1 tile needs 65,536 leaves,
too many for a test: level 1 is tampered with in its partial tile only.

Go is Debian's (``golang-go``, with ``golang-golang-x-mod-dev`` for x/mod), built offline in
GOPATH mode. Without ``go`` the tests skip, saying why; under ``RELIQUARY_REQUIRE_GO=1`` (as in
CI) they fail instead.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from api.bootstrap import build_services
from api.settings import Settings
from projections.translog.keys import create_signing_key
from projections.translog.static_tiles import export_tiles, tile_paths
from projections.translog.tiles import tile_path
from tests.integration.test_static_tiles import ORIGIN, Log, Server
from tests.support import parse, register, unique

PROGRAM = Path(__file__).with_name("tlog_tiles.go")
GOPATH = "/usr/share/gocode"  # where golang-golang-x-mod-dev puts golang.org/x/mod
REQUIRE_GO = os.environ.get("RELIQUARY_REQUIRE_GO") == "1"
GO_MISSING = "Go is not installed (apt-get install golang-go golang-golang-x-mod-dev)"
TLOG_SOURCES = Path(GOPATH) / "src" / "golang.org" / "x" / "mod" / "sumdb" / "tlog"
BUILD_TIMEOUT = 120  # seconds; a build from an empty cache takes a few
RUN_TIMEOUT = 30  # seconds for one verification
FULL_TILE_CAUGHT = "tile/0/000 hashes to|downloaded inconsistent tile"


def require_go() -> str:
    """The ``go`` command; skip without it, or fail under ``RELIQUARY_REQUIRE_GO=1``."""
    go = shutil.which("go")
    if go is not None and TLOG_SOURCES.is_dir():
        return go
    if REQUIRE_GO:
        pytest.fail(f"RELIQUARY_REQUIRE_GO=1 but {GO_MISSING}")
    pytest.skip(GO_MISSING)


@pytest.fixture(scope="module")
def verifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tlog_tiles.go`` built once: GOPATH mode, no module proxy, a cache of its own."""
    go = require_go()
    build = tmp_path_factory.mktemp("go")
    environment = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": GOPATH,
        "GOFLAGS": "",
        "GOCACHE": str(build / "cache"),
        "GOPROXY": "off",
    }
    binary = build / "tlog_tiles"
    built = subprocess.run(  # noqa: S603 (the go found on PATH, fixed arguments)
        [go, "build", "-o", str(binary), str(PROGRAM)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    return binary


@dataclass
class Verdict:
    ok: bool
    message: str  # the OK or FAIL line
    read: list[str]  # every path the program read, in order


def run_go(verifier: Path, source: str, *options: str) -> Verdict:
    done = subprocess.run(  # noqa: S603 (our build, fixed arguments)
        [str(verifier), "-v", *options, source],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    lines = done.stdout.splitlines()
    assert lines and done.returncode in (0, 1), (done.returncode, done.stdout, done.stderr)
    verdict = Verdict(done.returncode == 0, lines[-1], [])
    verdict.read = [line.removeprefix("read ") for line in lines[:-1]]
    assert verdict.message.startswith("OK: " if verdict.ok else "FAIL: "), done.stdout
    return verdict


def b64(root: bytes) -> str:
    return base64.b64encode(root).decode()


def test_go_writes_the_paths_python_writes(verifier: Path) -> None:
    tiles = [(0, 0, 256), (0, 1, 44), (1, 0, 2), (0, 999, 256), (0, 1000, 1)]
    tiles += [(0, 1_234_067, 7), (2, 1_000_000, 256), (63, 5, 255)]
    done = subprocess.run(  # noqa: S603 (our build, fixed arguments)
        [str(verifier), "-paths", *(f"{level},{n},{width}" for level, n, width in tiles)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=True,
    )
    assert done.stdout.splitlines() == [tile_path(*tile) for tile in tiles]
    assert "tile/0/x001/x234/067.p/7" in done.stdout


@pytest.fixture
def grown(database_url: str, tmp_path: Path) -> Iterator[Log]:
    key = tmp_path / "signing.key"
    create_signing_key(key, ORIGIN)
    settings = Settings(database_url=database_url, signing_key=key, log_origin=ORIGIN)
    writer = build_services(settings)
    model = unique("go-tlog")
    writer.ledger.execute(parse(register(model)))
    try:
        yield Log(settings, writer, model)
    finally:
        writer.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    (tmp_path / "public").mkdir()
    served = Server(tmp_path / "public")
    try:
        yield served
    finally:
        served.close()


def _flip(path: Path, offset: int) -> bytes:
    """Flip one bit of the file at ``offset``; returns the original bytes."""
    original = path.read_bytes()
    damaged = bytearray(original)
    damaged[offset] ^= 1
    path.write_bytes(bytes(damaged))
    return original


def test_go_verifies_the_exported_folder_and_its_growth(
    verifier: Path, grown: Log, tmp_path: Path, server: Server
) -> None:
    folder = tmp_path / "public"
    earlier = grown.grow_and_sign(300)
    export_tiles(grown.writer.log, folder)

    first = run_go(verifier, str(folder))
    assert first.ok, first.message
    assert f"tree of 300 leaves, root {b64(earlier.root_hash)}" in first.message
    # tlog read the tiles Python's layout names for this tree, and nothing else.
    tiles = [path for path in first.read if path != "checkpoint"]
    assert {"tile/0/001.p/44", "tile/1/000.p/1", "tile/entries/001.p/44"} <= set(tiles)
    assert set(tiles) <= set(tile_paths(300))

    latest = grown.grow_and_sign(600)
    export_tiles(grown.writer.log, folder)
    old = ("-old", "300", "-oldroot", b64(earlier.root_hash))
    leaves = [f"-leaf={index}" for index in (0, 255, 256, 299, 300, 511, 512, 599)]
    served = run_go(verifier, server.base, *old, *leaves)
    assert served.ok, served.message
    assert f"tree of 600 leaves, root {b64(latest.root_hash)}" in served.message
    assert "consistent with the tree of 300" in served.message
    assert {"tile/0/002.p/88", "tile/1/000.p/2", "tile/entries/002.p/88"} <= set(served.read)
    assert set(served.read) - {"checkpoint"} <= set(tile_paths(600))
    assert run_go(verifier, str(folder), *old).ok

    # The checks could fail: a wrong old root, a leaf past the end.
    wrong = run_go(verifier, server.base, "-old", "300", "-oldroot", b64(bytes(32)))
    assert not wrong.ok and "consistency from 300" in wrong.message
    assert not run_go(verifier, str(folder), "-leaf=600").ok


@pytest.mark.parametrize(
    ("damaged", "offset", "caught"),
    [
        # The tiles of the tree hash (partial, level 0 and level 1; a full level-1 tile needs
        # 65,536 leaves): tlog recomputes the root from them.
        ("tile/0/002.p/88", 87 * 32 + 31, "downloaded inconsistent tile"),
        ("tile/1/000.p/2", 0, "downloaded inconsistent tile"),
        # A full tile, authenticated by the hash its parent holds for it: by our check, or by
        # tlog's once x/mod has the fix. Leaf 0's own hash is in no proof of leaf 0 (the entry
        # gives it): only that check sees the change.
        ("tile/0/000", 5 * 32, FULL_TILE_CAUGHT),
        ("tile/0/000", 0, FULL_TILE_CAUGHT),
    ],
)
def test_one_flipped_bit_in_a_hash_tile_fails_go(
    verifier: Path, grown: Log, tmp_path: Path, damaged: str, offset: int, caught: str
) -> None:
    folder = tmp_path / "public"
    grown.grow_and_sign(600)
    export_tiles(grown.writer.log, folder)
    assert run_go(verifier, str(folder)).ok

    _flip(folder / damaged, offset)
    verdict = run_go(verifier, str(folder))
    assert not verdict.ok
    assert re.search(caught, verdict.message), verdict.message
    assert damaged in verdict.read


def test_a_changed_entry_fails_its_inclusion_proof(
    verifier: Path, grown: Log, tmp_path: Path
) -> None:
    folder = tmp_path / "public"
    grown.grow_and_sign(300)
    export_tiles(grown.writer.log, folder)
    bundle = folder / "tile" / "entries" / "000"
    original = _flip(bundle, len(bundle.read_bytes()) - 1)  # the last byte of entry 255
    assert run_go(verifier, str(folder), "-leaf=0").ok  # entry 0, in the same bundle, is not
    verdict = run_go(verifier, str(folder), "-leaf=255")
    assert not verdict.ok and "leaf 255" in verdict.message
    bundle.write_bytes(original)
    assert run_go(verifier, str(folder), "-leaf=255").ok
