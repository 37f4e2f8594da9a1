"""docs/reviewers.md's witness and static-log scripts check a real witnessed log without
Reliquary's code.

``check_witnesses.py`` and ``check_tiles.py`` are taken verbatim from the doc (as
`test_reviewers_script` takes the others) and run on what a reviewer receives from a real
ledger of 300 events whose checkpoint a Reliquary witness and the spec-only `TinyWitness`
cosigned (the ledger of `test_witnessed_publication`): its bundle's ``checkpoint`` and the
folder ``reliquary tiles export`` writes, read from disk and through a plain HTTP server. At
300 events the folder has one full and one partial tile at level 0, a partial tile at level 1,
and two entry bundles. Good data passes; one changed byte in an entry bundle, a hash tile, the
log's signature or a cosignature fails, as do too few witnesses and another log key.
"""

from __future__ import annotations

import base64
import functools
import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from projections.translog.checkpoint import generate_signing_key, verifier_key
from projections.translog.cosignature import cosigner_verifier_key, generate_cosigner_key
from projections.translog.static_tiles import export_tiles
from projections.translog.witness_policy import load_witness_policy
from projections.translog.witnessed import check_witnesses
from tests.docs.test_reviewers_script import _run, scripts_fixture  # noqa: F401 (a fixture)
from tests.integration.test_witness_submit import ORIGIN, Ledger
from tests.integration.test_witnessed_publication import Witnessed

EVENTS = 300  # past one full tile of 256: full and partial tiles at level 0, one at level 1
ABSENT = "absent.example/w3"  # a witness of the reviewer's policy that never cosigned


@dataclass(frozen=True)
class Published:
    """What a reviewer holds of a witnessed log: its key, its copies, and policies they pin."""

    root: str  # hex
    witnesses: tuple[str, str]  # the two that cosigned, in the policy's order
    key: Path  # the log's verifier key
    bundle: Path  # `reliquary export`: its checkpoint carries the cosignatures
    tiles: Path  # `reliquary tiles export`
    policy: Path  # the two witnesses and one that never cosigned; quorum 2
    strict: Path  # the same three witnesses; quorum 3


def _policy(path: Path, witnesses: list[dict[str, str]], quorum: int) -> Path:
    path.write_text(json.dumps({"quorum": quorum, "witnesses": witnesses}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Published:
    """A ledger on SQLite grown to 300 events, cosigned by two witnesses, exported both ways."""
    tmp = tmp_path_factory.mktemp("witnessed")
    ledger = Ledger(f"sqlite:///{tmp / 'ledger.db'}", tmp)
    witnessed = Witnessed(ledger, tmp, "advisory")
    try:
        size, met = witnessed.submit(grow=EVENTS - 1)  # the model's registration is the first
        assert (size, met) == (EVENTS, True)
        log = witnessed.services.log
        log.export(tmp / "bundle")
        done = export_tiles(log, tmp / "tiles")
        (tmp / "log.key").write_text(log.verifier_key() + "\n", encoding="utf-8")
    finally:
        witnessed.close()
        ledger.close()
    entries = [
        {"name": w.name, "url": w.url, "verifier_key": w.verifier_key}
        for w in witnessed.policy.witnesses
    ]
    absent = cosigner_verifier_key(generate_cosigner_key(ABSENT))
    entries.append({"name": ABSENT, "url": "https://absent.example/", "verifier_key": absent})
    return Published(
        root=done.root.hex(),
        witnesses=(entries[0]["name"], entries[1]["name"]),
        key=tmp / "log.key",
        bundle=tmp / "bundle",
        tiles=tmp / "tiles",
        policy=_policy(tmp / "policy.json", entries, 2),
        strict=_policy(tmp / "strict.json", entries, 3),
    )


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *_: object) -> None:  # no access log on the test's stderr
        pass


@pytest.fixture(scope="module")
def served(published: Published) -> Iterator[str]:
    """The tiles folder behind a plain HTTP server on loopback: the URL prefix it has there."""
    handler = functools.partial(_Quiet, directory=str(published.tiles.parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{published.tiles.name}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _vouched(published: Published) -> str:
    first, second = published.witnesses
    return f"OK: vouched by {first}, {second} (2 of 3; quorum 2 met)\n"


def _tiles_ok(published: Published) -> str:
    return (
        f"OK: {ORIGIN}: {EVENTS} entries, root {published.root}\n"
        "OK: 3 hash tiles on 2 levels, each the hashes of the entries\n"
    )


def _copy(folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy)
    return copy


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _alter_signature_line(checkpoint: Path, signer: str, offset: int) -> None:
    """Flip one bit of the decoded signature line by `signer` (key ID, time, signature)."""
    lines = checkpoint.read_text(encoding="utf-8").split("\n")
    [number] = [n for n, line in enumerate(lines) if line.startswith(f"\u2014 {signer} ")]
    prefix, _, encoded = lines[number].rpartition(" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[offset] ^= 0x01
    lines[number] = f"{prefix} {base64.b64encode(bytes(raw)).decode()}"
    checkpoint.write_text("\n".join(lines), encoding="utf-8")


# -- check_witnesses.py ------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["bundle", "tiles"])
def test_the_published_checkpoint_is_vouched_for_by_the_quorum(
    published: Published, scripts: Path, where: str
) -> None:
    checkpoint = getattr(published, where) / "checkpoint"
    result = _run(scripts, "check_witnesses.py", checkpoint, published.policy)
    assert result.returncode == 0, result.stderr
    assert result.stdout == _vouched(published)


def test_too_few_witnesses_fail(published: Published, scripts: Path) -> None:
    result = _run(scripts, "check_witnesses.py", published.bundle / "checkpoint", published.strict)
    assert result.returncode == 1
    first, second = published.witnesses
    assert result.stderr == f"FAIL: vouched by {first}, {second} (2 of 3; quorum 3 NOT met)\n"
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("offset", "problem"),
    [(4 + 8 + 10, "does not verify"), (4 + 7, "does not verify")],
    ids=["signature byte", "timestamp byte"],
)
def test_an_altered_cosignature_line_fails(
    published: Published, scripts: Path, tmp_path: Path, offset: int, problem: str
) -> None:
    checkpoint = tmp_path / "checkpoint"
    shutil.copy(published.bundle / "checkpoint", checkpoint)
    first, second = published.witnesses
    _alter_signature_line(checkpoint, second, offset)
    result = _run(scripts, "check_witnesses.py", checkpoint, published.policy)
    assert result.returncode == 1
    failures = result.stderr.splitlines()
    assert failures[0].startswith(f"FAIL: witness {second}: its cosignature at time ")
    assert failures[0].endswith(problem)
    # Never counted, even though the other witness alone would not make the quorum either.
    assert failures[1] == f"FAIL: vouched by {first} (1 of 3; quorum 2 NOT met)"


def test_a_line_by_a_key_outside_the_policy_is_ignored(
    published: Published, scripts: Path, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "checkpoint"
    shutil.copy(published.bundle / "checkpoint", checkpoint)
    # A key ID no witness of the policy has: someone else's line, not judged.
    _alter_signature_line(checkpoint, published.witnesses[1], 0)
    result = _run(scripts, "check_witnesses.py", checkpoint, published.policy)
    assert result.returncode == 1
    first = published.witnesses[0]
    assert result.stderr == f"FAIL: vouched by {first} (1 of 3; quorum 2 NOT met)\n"


# -- check_tiles.py ----------------------------------------------------------------------------


def test_the_exported_folder_passes(published: Published, scripts: Path) -> None:
    result = _run(scripts, "check_tiles.py", published.tiles, published.key, published.policy)
    assert result.returncode == 0, result.stderr
    assert result.stdout == _tiles_ok(published) + _vouched(published)
    files = {p.relative_to(published.tiles).as_posix() for p in published.tiles.rglob("*")}
    assert {"tile/0/000", "tile/0/001.p/44", "tile/1/000.p/1", "tile/entries/001.p/44"} <= files


def test_the_folder_served_over_http_passes(
    published: Published, scripts: Path, served: str
) -> None:
    result = _run(scripts, "check_tiles.py", served, published.key, published.policy)
    assert result.returncode == 0, result.stderr
    assert result.stdout == _tiles_ok(published) + _vouched(published)
    # Without a policy the witnesses are not looked at.
    alone = _run(scripts, "check_tiles.py", served, published.key)
    assert alone.stdout == _tiles_ok(published)


@pytest.mark.parametrize(
    ("path", "offset", "message"),
    [
        ("tile/entries/000", 2 + 40, "FAIL: root mismatch: signed "),
        ("tile/entries/001.p/44", -3, "FAIL: root mismatch: signed "),
        ("tile/0/000", 32 * 7 + 5, "FAIL: tile/0/000 is not the hashes of the entries"),
        ("tile/0/001.p/44", 32 * 43, "FAIL: tile/0/001.p/44 is not the hashes of the entries"),
        ("tile/1/000.p/1", 31, "FAIL: tile/1/000.p/1 is not the hashes of the entries"),
    ],
)
def test_one_altered_byte_in_a_tile_fails(
    published: Published, scripts: Path, tmp_path: Path, path: str, offset: int, message: str
) -> None:
    folder = _copy(published.tiles, tmp_path)
    _flip(folder / path, offset)
    result = _run(scripts, "check_tiles.py", folder, published.key, published.policy)
    assert result.returncode == 1
    assert result.stderr.startswith(message), result.stderr


def test_an_altered_log_signature_or_cosignature_fails(
    published: Published, scripts: Path, tmp_path: Path
) -> None:
    folder = _copy(published.tiles, tmp_path)
    _alter_signature_line(folder / "checkpoint", ORIGIN, 4 + 10)
    result = _run(scripts, "check_tiles.py", folder, published.key, published.policy)
    assert result.returncode == 1
    assert result.stderr == f"FAIL: the signature by {ORIGIN} does not verify\n"
    folder = _copy(published.tiles, tmp_path / "again")
    _alter_signature_line(folder / "checkpoint", published.witnesses[0], 4 + 8 + 3)
    result = _run(scripts, "check_tiles.py", folder, published.key, published.policy)
    assert result.returncode == 1
    assert result.stdout == _tiles_ok(published)  # the log's part holds; the witnesses' not
    assert result.stderr.startswith(f"FAIL: witness {published.witnesses[0]}: its cosignature")


def test_another_log_key_and_a_missing_tile_are_refused(
    published: Published, scripts: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.key"
    other.write_text(verifier_key(generate_signing_key(ORIGIN)) + "\n", encoding="utf-8")
    result = _run(scripts, "check_tiles.py", published.tiles, other)
    assert result.returncode == 1
    assert result.stderr.startswith(f"FAIL: no signature by {ORIGIN}+")
    folder = _copy(published.tiles, tmp_path)
    (folder / "tile/1/000.p/1").unlink()
    result = _run(scripts, "check_tiles.py", folder, published.key)
    assert result.returncode == 1
    assert result.stderr.startswith("FAIL: cannot check: FileNotFoundError(")


@pytest.mark.parametrize("change", ["none", "quorum 3", "a bad line", "a foreign line"])
def test_the_script_and_reliquarys_rule_agree(
    published: Published, scripts: Path, tmp_path: Path, change: str
) -> None:
    checkpoint = tmp_path / "checkpoint"
    shutil.copy(published.bundle / "checkpoint", checkpoint)
    policy = published.strict if change == "quorum 3" else published.policy
    if change in ("a bad line", "a foreign line"):
        _alter_signature_line(checkpoint, published.witnesses[0], 4 + 8 if "bad" in change else 1)
    verdict = check_witnesses(checkpoint.read_text(encoding="utf-8"), load_witness_policy(policy))
    result = _run(scripts, "check_witnesses.py", checkpoint, policy)
    assert result.returncode == (0 if verdict.quorum_met else 1)
    assert (result.stdout + result.stderr).splitlines()[-1].split(": ", 1)[1] == (
        verdict.describe().split("; witness ")[0]  # the script names each problem on a line
    )
    assert len(result.stderr.splitlines()) == len(verdict.problems) + (not verdict.quorum_met)
