"""Directory manifests: digests checked independently, refused inputs named, comparisons exact.

Every expected digest here is computed in the test with ``hashlib`` (and, where the tools are
installed, with the ``find | sort | sha256sum`` recipe of docs/archive.md), never with the code
under test. Files stay small; a 64-byte read block makes "larger than the read block" cheap.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from domain.commands import Manifest, RelativePath
from domain.decisions import ManifestEntry, manifest_digest
from domain.errors import ArchiveError, LedgerError
from projections import archive
from projections.archive import (
    FileCheck,
    TreeManifest,
    compare,
    from_model_signing,
    hash_tree,
    hashing,
    scan,
    scan_tree,
    to_model_signing,
)

BLOCK = 64

# A tree with nested folders, empty files, files below, at and above the read block, unicode
# names and spaces. Paths chosen so that byte order differs from naive orders: "a.b" < "a/b"
# in bytes ('.' is 0x2e, '/' 0x2f), "Z" < "a", and the non-ASCII names sort last.
TREE: dict[str, bytes] = {
    "config.json": b'{"layers": 2}\n',
    "empty": b"",
    "a.b": b"dot",
    "a/b": b"slash",
    "Z-upper": b"upper",
    "weights/part 1 of 2.bin": bytes(range(256)) * 5,  # 1,280 bytes: twenty blocks
    "weights/part 2 of 2.bin": b"\x00" * BLOCK,  # exactly one block
    "weights/tail.bin": b"t" * (BLOCK + 1),  # one block and one byte
    "weights/nested/deeper/empty.txt": b"",
    "tokenizer/vocabulaire-été.txt": "été\n".encode(),
    "tokenizer/日本語.txt": "こんにちは".encode(),
    "emoji-🦉.md": b"owl",
    "-looks-like-an-option": b"dash",  # why the recipe says `sha256sum --`
}


def build(root: Path, files: dict[str, bytes]) -> Path:
    """Write the files under root (made if needed) and return root."""
    root.mkdir(parents=True, exist_ok=True)
    for relative, content in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return root


def expected_entries(files: dict[str, bytes]) -> list[tuple[str, int, str]]:
    """(path, size, sha256) per file, in UTF-8 byte order of the path, computed independently."""
    return sorted(
        ((path, len(data), hashlib.sha256(data).hexdigest()) for path, data in files.items()),
        key=lambda item: item[0].encode("utf-8"),
    )


def sha256sum_lines_digest(files: dict[str, bytes]) -> str:
    """SHA-256 of the lines ``sha256sum`` prints, files in byte order: the documented digest."""
    lines = "".join(f"{digest}  {path}\n" for path, _, digest in expected_entries(files))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return build(tmp_path / "model", TREE)


# --- what a manifest says ----------------------------------------------------------------------


def test_manifest_lists_every_file_with_independently_computed_digests(tree: Path) -> None:
    manifest = hash_tree(tree, block_size=BLOCK)

    assert [(e.path, e.size, e.sha256) for e in manifest.files] == expected_entries(TREE)
    assert manifest.digest == sha256sum_lines_digest(TREE)
    assert manifest.digest == manifest_digest(manifest.files)
    assert manifest.file_count == len(TREE)
    assert manifest.total_bytes == sum(len(data) for data in TREE.values())


def test_byte_order_of_paths_not_the_component_order(tree: Path) -> None:
    # '.' (0x2e) sorts before '/' (0x2f): "a.b" comes before "a/b", and "Z" before "a".
    paths = [entry.path for entry in hash_tree(tree).files]
    assert paths.index("Z-upper") < paths.index("a.b") < paths.index("a/b")
    assert paths == sorted(paths, key=lambda path: path.encode("utf-8"))


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("find", "sort", "xargs", "sha256sum", "sh")),
    reason="needs GNU find, sort, xargs and sha256sum to run the documented recipe",
)
def test_documented_shell_recipe_gives_the_same_digest(tree: Path) -> None:
    # docs/archive.md: recompute the manifest digest with standard tools only.
    recipe = "find . -type f -printf '%P\\0' | LC_ALL=C sort -z | xargs -0 sha256sum -- | sha256sum"
    output = subprocess.run(  # noqa: S603
        ["sh", "-c", recipe],  # noqa: S607
        cwd=tree,
        capture_output=True,
        check=True,
        env={**os.environ, "LC_ALL": "C"},
    ).stdout.decode()
    assert output == f"{hash_tree(tree).digest}  -\n"


def test_without_dash_dash_a_name_starting_with_a_dash_breaks_the_recipe(tree: Path) -> None:
    # Documented pitfall: sha256sum takes "-looks-like-an-option" for options and fails.
    if not shutil.which("sha256sum"):
        pytest.skip("needs sha256sum")
    result = subprocess.run(  # noqa: S603
        ["sha256sum", "-looks-like-an-option"],  # noqa: S607
        cwd=tree,
        capture_output=True,
        check=False,
    )
    assert result.returncode != 0


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("jq", "sha256sum", "sh")),
    reason="needs jq and sha256sum to run the documented recipe",
)
def test_documented_recipes_from_the_manifest_json(tree: Path, tmp_path: Path) -> None:
    # docs/archive.md: the JSON's files, written as sha256sum lines, hash to the manifest digest,
    # and `sha256sum -c` checks a copy against them file by file.
    manifest = hash_tree(tree)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest.to_json()))
    lines = (
        "jq -r '.files[] | \"\\(.sha256)  \\(.path)\"' manifest.json > SHA256SUMS && "
        "sha256sum SHA256SUMS && jq -r .manifest_digest manifest.json"
    )
    output = subprocess.run(  # noqa: S603
        ["sh", "-c", lines],  # noqa: S607
        cwd=tmp_path,
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert output == f"{manifest.digest}  SHA256SUMS\n{manifest.digest}\n"
    checked = subprocess.run(  # noqa: S603
        ["sha256sum", "--check", "--strict", str(tmp_path / "SHA256SUMS")],  # noqa: S607
        cwd=tree,
        capture_output=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()


def test_read_block_size_and_workers_do_not_change_the_result(tree: Path) -> None:
    reference = hash_tree(tree, workers=1, block_size=1)
    for workers, block in ((1, BLOCK), (2, 7), (4, BLOCK + 1), (64, 1 << 20), (None, 4096)):
        assert hash_tree(tree, workers=workers, block_size=block) == reference


def test_progress_reports_every_byte_once_on_the_calling_thread(tree: Path) -> None:
    import threading

    calls: list[tuple[int, str]] = []
    hash_tree(
        tree,
        workers=2,
        block_size=BLOCK,
        on_bytes=lambda n: calls.append((n, threading.current_thread().name)),
    )
    assert sum(n for n, _ in calls) == sum(len(data) for data in TREE.values())
    assert all(n > 0 for n, _ in calls)
    assert {name for _, name in calls} == {threading.current_thread().name}


def test_json_is_exactly_the_preserve_weights_manifest(tree: Path) -> None:
    manifest = hash_tree(tree)
    document = manifest.to_json()

    # The command model accepts it as it is, and its digest is the one it checks.
    parsed = Manifest.model_validate(json.loads(json.dumps(document)))
    assert parsed.manifest_digest == manifest.digest
    assert [file.path for file in parsed.files] == [entry.path for entry in manifest.files]
    assert set(document) == {"manifest_digest", "files"}
    assert all(set(item) == {"path", "size", "sha256"} for item in document["files"])


def test_scan_lists_paths_sizes_and_absolute_files(tree: Path) -> None:
    scanned = scan_tree(tree)

    assert [(path, size) for path, _, size in scanned] == [
        (path, size) for path, size, _ in expected_entries(TREE)
    ]
    for path, file, _ in scanned:
        assert file == tree / path
        assert file.is_absolute()


def test_empty_directories_are_not_part_of_the_manifest(tree: Path) -> None:
    before = hash_tree(tree)
    (tree / "logs" / "empty-dir").mkdir(parents=True)
    assert hash_tree(tree) == before


def test_root_given_as_a_link_to_a_directory_is_followed(tree: Path, tmp_path: Path) -> None:
    # The person named that directory; links *inside* the tree are what is refused.
    alias = tmp_path / "current"
    alias.symlink_to(tree, target_is_directory=True)
    assert hash_tree(alias) == hash_tree(tree)


# --- what is refused ---------------------------------------------------------------------------


def refused(root: Path, match: str) -> ArchiveError:
    """Both scan_tree and hash_tree refuse the tree with a message matching ``match``."""
    with pytest.raises(ArchiveError, match=match) as scanned:
        scan_tree(root)
    with pytest.raises(ArchiveError, match=match):
        hash_tree(root)
    error = scanned.value
    assert isinstance(error, LedgerError)
    assert error.rule == "archive-input"
    return error


def test_link_to_a_file_inside_the_tree_is_refused(tree: Path) -> None:
    (tree / "weights" / "alias.bin").symlink_to(tree / "weights" / "tail.bin")
    error = refused(tree, r"weights/alias\.bin: a symbolic link")
    # The message names the path under the root as given, so the person can find it.
    assert error.path == str(tree / "weights" / "alias.bin")
    assert str(error).startswith(f"{tree}/weights/alias.bin: a symbolic link")


def test_link_pointing_outside_the_tree_is_refused_never_followed(
    tree: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "outside-secret"
    secret.write_bytes(b"not part of the model")
    (tree / "leak").symlink_to(secret)
    refused(tree, r"leak: a symbolic link; links are never followed")


def test_link_to_a_directory_and_a_dangling_link_are_refused(tree: Path, tmp_path: Path) -> None:
    (tree / "linked-dir").symlink_to(tmp_path, target_is_directory=True)
    refused(tree, r"linked-dir: a symbolic link")
    (tree / "linked-dir").unlink()
    (tree / "weights" / "dangling").symlink_to(tmp_path / "does-not-exist")
    refused(tree, r"weights/dangling: a symbolic link")


def test_fifo_is_refused(tree: Path) -> None:
    os.mkfifo(tree / "weights" / "pipe")
    refused(tree, r"weights/pipe: a FIFO")


def test_socket_is_refused(tmp_path: Path) -> None:
    root = build(tmp_path / "m", {"a.bin": b"a"})
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(root / "sock"))
        refused(root, r"sock: a socket")
    finally:
        server.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file whatever its mode bits")
def test_unreadable_file_and_directory_are_refused(tree: Path) -> None:
    locked = tree / "weights" / "tail.bin"
    locked.chmod(0)
    try:
        refused(tree, r"weights/tail\.bin: file cannot be read")
    finally:
        locked.chmod(0o644)
    closed = tree / "tokenizer"
    closed.chmod(0)
    try:
        refused(tree, r"tokenizer: directory cannot be read")
    finally:
        closed.chmod(0o755)


def test_unreadable_file_is_refused_with_its_path(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same refusal when running as root (who can read anything): the permission check is
    # made to fail for one file only.
    real_access = os.access
    target = str(tree / "weights" / "tail.bin")

    def access(path: object, mode: int) -> bool:
        return False if str(path) == target else real_access(path, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)
    refused(tree, r"weights/tail\.bin: file cannot be read \(permission denied\)")


def test_unreadable_directory_is_refused_with_its_path(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_access = os.access
    target = str(tree / "weights" / "nested")

    def access(path: object, mode: int) -> bool:
        return False if str(path) == target else real_access(path, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)
    refused(tree, r"weights/nested: directory cannot be read")


def test_empty_tree_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    refused(empty, r"/empty: the tree holds no regular file")
    (empty / "only" / "directories").mkdir(parents=True)
    refused(empty, r"holds no regular file")


def test_root_that_is_a_file_or_missing_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "model.safetensors"
    file.write_bytes(b"weights")
    refused(file, r"model\.safetensors: not a directory")
    refused(tmp_path / "nowhere", r"nowhere: no such file or directory")


def test_root_that_is_a_link_to_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"w")
    (tmp_path / "alias").symlink_to(tmp_path / "weights.bin")
    refused(tmp_path / "alias", r"alias: not a directory")


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("back\\slash.bin", r"/back\\slash\.bin: its name contains a backslash"),
        ("new\nline.bin", r"/new\\x0aline\.bin: its name contains a control character"),
        ("tab\there.bin", r"/tab\\x09here\.bin: its name contains a control character"),
        ("trailing-space ", r"/trailing-space : the path has leading or trailing whitespace"),
        (" leading-space", r"/ leading-space: the path has leading or trailing whitespace"),
    ],
)
def test_names_the_command_model_refuses_are_refused(tmp_path: Path, name: str, why: str) -> None:
    root = build(tmp_path / "m", {"fine.bin": b"ok", name: b"x"})
    refused(root, why)


def test_name_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    root = build(tmp_path / "m", {"fine.bin": b"ok"})
    try:
        with open(os.path.join(os.fsencode(root), b"latin1-\xe9.bin"), "wb") as handle:
            handle.write(b"x")
    except OSError as error:  # pragma: no cover - a filesystem that insists on UTF-8
        pytest.skip(f"this filesystem refuses a non-UTF-8 name: {error}")
    refused(root, r"/latin1-\\xe9\.bin: its name is not valid UTF-8, which a manifest cannot")


def test_a_space_inside_a_path_is_fine(tmp_path: Path) -> None:
    root = build(tmp_path / "m", {"dir with space/ inner lead.bin": b"x"})
    assert [entry.path for entry in hash_tree(root).files] == ["dir with space/ inner lead.bin"]


def test_a_file_that_changes_size_while_hashed_is_refused(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Simulate a writer: the scan saw one size, the read finds another. `hash_tree` looks up
    # `_scan` (and `default_workers`) in `projections.archive.hashing`: they are replaced there.
    real_scan = scan._scan

    def stale_scan(root: Path) -> list[scan._Job]:
        jobs = real_scan(root)
        first = jobs[0]
        jobs[0] = scan._Job(first.path, first.file, first.size + 1, first.device, first.inode)
        return jobs

    monkeypatch.setattr(hashing, "_scan", stale_scan)
    with pytest.raises(ArchiveError, match="changed while being hashed"):
        hash_tree(tree, workers=2)


def test_a_file_replaced_after_the_scan_is_refused(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_scan = scan._scan

    def swapped_scan(root: Path) -> list[scan._Job]:
        jobs = real_scan(root)
        first = jobs[0]
        jobs[0] = scan._Job(first.path, first.file, first.size, first.device, first.inode + 1)
        return jobs

    monkeypatch.setattr(hashing, "_scan", swapped_scan)
    with pytest.raises(ArchiveError, match="was replaced while the tree was being hashed"):
        hash_tree(tree)


@pytest.mark.parametrize("cpus", [1, 8])
def test_with_and_without_read_ahead_the_result_is_the_same(
    tree: Path, monkeypatch: pytest.MonkeyPatch, cpus: int
) -> None:
    # Fewer workers than CPUs: each worker gets a reader thread filling buffers ahead of it.
    reference = hash_tree(tree, workers=1, block_size=1)
    monkeypatch.setattr(hashing, "default_workers", lambda: cpus)
    for workers in (1, 2, None):
        assert hash_tree(tree, workers=workers, block_size=BLOCK) == reference


@pytest.mark.parametrize("cpus", [1, 8])
def test_a_file_that_changes_size_is_refused_on_both_paths(
    tree: Path, monkeypatch: pytest.MonkeyPatch, cpus: int
) -> None:
    real_scan = scan._scan

    def stale_scan(root: Path) -> list[scan._Job]:
        jobs = real_scan(root)
        jobs[-1] = scan._Job(
            jobs[-1].path, jobs[-1].file, jobs[-1].size + 1, jobs[-1].device, jobs[-1].inode
        )
        return jobs

    monkeypatch.setattr(hashing, "_scan", stale_scan)
    monkeypatch.setattr(hashing, "default_workers", lambda: cpus)
    for workers in (1, 3):
        with pytest.raises(ArchiveError, match="changed while being hashed"):
            hash_tree(tree, workers=workers, block_size=BLOCK)


@pytest.mark.parametrize("cpus", [1, 8])
def test_an_error_in_the_progress_callback_stops_every_worker(
    tree: Path, monkeypatch: pytest.MonkeyPatch, cpus: int
) -> None:
    # As a Ctrl-C would: the exception reaches the caller and no hashing thread is left running.
    import threading

    monkeypatch.setattr(hashing, "default_workers", lambda: cpus)
    before = threading.active_count()

    def interrupt(_: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        hash_tree(tree, workers=2, block_size=1, on_bytes=interrupt)
    assert threading.active_count() == before


def test_bad_arguments_are_value_errors(tree: Path) -> None:
    with pytest.raises(ValueError, match="workers must be at least 1"):
        hash_tree(tree, workers=0)
    with pytest.raises(ValueError, match="block_size must be at least 1"):
        hash_tree(tree, block_size=0)


# --- comparing a copy with the record ----------------------------------------------------------


def entry(path: str, data: bytes) -> ManifestEntry:
    return ManifestEntry(path=path, size=len(data), sha256=hashlib.sha256(data).hexdigest())


def test_compare_reports_each_file_of_either_side_exactly_once() -> None:
    recorded = [
        entry("same.bin", b"same"),
        entry("changed.bin", b"before"),
        entry("gone.bin", b"gone"),
        entry("resized.bin", b"abc"),
    ]
    observed = [
        entry("new.bin", b"new"),
        entry("changed.bin", b"after!"),
        entry("same.bin", b"same"),
        # Same digest, another size: never both from real bytes, but a record can say so.
        ManifestEntry("resized.bin", 4, hashlib.sha256(b"abc").hexdigest()),
    ]

    checks = compare(recorded, observed)

    assert [(c.path, c.status) for c in checks] == [
        ("changed.bin", "modified"),
        ("gone.bin", "missing"),
        ("new.bin", "unexpected"),
        ("resized.bin", "modified"),
        ("same.bin", "ok"),
    ]
    by_path = {check.path: check for check in checks}
    assert by_path["gone.bin"] == FileCheck(
        "gone.bin", "missing", hashlib.sha256(b"gone").hexdigest(), None, 4, None
    )
    assert by_path["new.bin"] == FileCheck(
        "new.bin", "unexpected", None, hashlib.sha256(b"new").hexdigest(), None, 3
    )
    assert by_path["changed.bin"].recorded_sha256 != by_path["changed.bin"].observed_sha256
    assert (by_path["resized.bin"].recorded_size, by_path["resized.bin"].observed_size) == (3, 4)


def test_compare_of_a_tree_with_itself_is_all_ok_and_a_copy_edit_shows(
    tree: Path, tmp_path: Path
) -> None:
    recorded = hash_tree(tree).files
    assert {check.status for check in compare(recorded, recorded)} == {"ok"}

    copy = tmp_path / "copy"
    shutil.copytree(tree, copy)
    (copy / "weights" / "tail.bin").write_bytes(b"t" * BLOCK + b"T")  # one byte flipped
    (copy / "config.json").unlink()
    (copy / "notes.txt").write_bytes(b"added by a custodian")

    differing = {(c.path, c.status) for c in compare(recorded, hash_tree(copy).files)}
    assert differing - {(e.path, "ok") for e in recorded} == {
        ("weights/tail.bin", "modified"),
        ("config.json", "missing"),
        ("notes.txt", "unexpected"),
    }


def test_compare_sorts_by_path_bytes_and_refuses_duplicates() -> None:
    checks = compare([entry("b", b""), entry("a.b", b"")], [entry("a/b", b""), entry("Z", b"")])
    assert [check.path for check in checks] == ["Z", "a.b", "a/b", "b"]
    with pytest.raises(ValueError, match="lists 'x' twice"):
        compare([entry("x", b"1"), entry("x", b"2")], [])


def test_tree_manifest_of_sorts_and_digests() -> None:
    entries = [entry("b", b"2"), entry("a", b"1")]
    made = TreeManifest.of(entries)
    assert [e.path for e in made.files] == ["a", "b"]
    assert made.digest == manifest_digest(entries)


# --- OpenSSF model-signing ---------------------------------------------------------------------


def model_signing_subject(files: dict[str, bytes]) -> str:
    """model-signing's subject digest, independently: SHA-256 of the raw digests, in the order
    of the paths' components (PurePosixPath order)."""
    ordered = sorted(files, key=lambda path: tuple(path.split("/")))
    return hashlib.sha256(b"".join(hashlib.sha256(files[p]).digest() for p in ordered)).hexdigest()


def test_model_signing_statement_round_trips(tree: Path) -> None:
    manifest = hash_tree(tree)
    statement = to_model_signing(manifest.files, "model")

    assert statement["subject"][0]["digest"]["sha256"] == model_signing_subject(TREE)
    names = [resource["name"] for resource in statement["predicate"]["resources"]]
    assert names.index("a/b") < names.index("a.b")  # component order, unlike the manifest's

    read = from_model_signing(json.loads(json.dumps(statement)))
    assert read.model_name == "model"
    assert read.digests == {e.path: e.sha256 for e in manifest.files}
    assert read.ignore_paths == ()


def test_model_signing_bundle_payload_is_read(tree: Path) -> None:
    statement = to_model_signing(hash_tree(tree).files, "model")
    bundle = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "dsseEnvelope": {
            "payload": base64.b64encode(json.dumps(statement).encode()).decode(),
            "payloadType": "application/vnd.in-toto+json",
            "signatures": [{"sig": "", "keyid": ""}],
        },
    }
    assert from_model_signing(bundle).digests == from_model_signing(statement).digests


def test_inconsistent_model_signing_statements_are_refused(tree: Path) -> None:
    statement = to_model_signing(hash_tree(tree).files, "model")

    tampered = json.loads(json.dumps(statement))
    tampered["predicate"]["resources"][0]["digest"] = "0" * 64
    with pytest.raises(ArchiveError, match="subject digest is .* but the resources hash to"):
        from_model_signing(tampered)

    sharded = json.loads(json.dumps(statement))
    sharded["predicate"]["serialization"]["method"] = "shards"
    with pytest.raises(ArchiveError, match="only file serialization"):
        from_model_signing(sharded)

    other = json.loads(json.dumps(statement))
    other["predicateType"] = "https://model_signing/Digests/v0.1"
    with pytest.raises(ArchiveError, match="predicateType"):
        from_model_signing(other)

    escaping = json.loads(json.dumps(statement))
    escaping["predicate"]["resources"][0]["name"] = "../outside"
    with pytest.raises(ArchiveError, match=r"resource '\.\./outside': the path has an empty"):
        from_model_signing(escaping)


def test_agrees_with_the_model_signing_package(tree: Path, tmp_path: Path) -> None:
    # The peer itself (a dev dependency, with the pyOpenSSL it imports without declaring it):
    # this runs wherever the tests do, never skipped.
    import model_signing
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = tmp_path / "key.pem"
    key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    signature = tmp_path / "model.sig"  # outside the tree, so it is not hashed
    model_signing.signing.Config().use_elliptic_key_signer(private_key=key).sign(tree, signature)

    ours = hash_tree(tree)
    theirs = from_model_signing(json.loads(signature.read_text()))
    assert theirs.digests == {e.path: e.sha256 for e in ours.files}
    mine = to_model_signing(ours.files, tree.name)
    payload = json.loads(
        base64.b64decode(json.loads(signature.read_text())["dsseEnvelope"]["payload"])
    )
    assert mine["subject"] == payload["subject"]
    assert mine["predicate"]["resources"] == payload["predicate"]["resources"]


def test_the_oms_root_is_model_signing_s_subject_digest(tree: Path) -> None:
    from domain.manifests import oms_root_digest

    files = hash_tree(tree).files
    assert oms_root_digest(files) == model_signing_subject(TREE)
    assert oms_root_digest(reversed(files)) == model_signing_subject(TREE)  # order-free input
    assert from_model_signing(to_model_signing(files, "m")).root_digest == oms_root_digest(files)
    assert oms_root_digest(files) != manifest_digest(files)


def test_the_documented_oms_root_recipe_gives_model_signing_s_subject(
    tree: Path, tmp_path: Path
) -> None:
    # docs/archive.md, "The OMS root digest": its Python block, run as it is on a manifest.
    import re
    import sys

    text = (Path(__file__).resolve().parents[2] / "docs" / "archive.md").read_text("utf-8")
    section = text.split("### The OMS root digest", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None
    (tmp_path / "oms_root.py").write_text(found.group(1))
    (tmp_path / "manifest.json").write_text(json.dumps(hash_tree(tree).to_json()))
    output = subprocess.run(  # noqa: S603 (this interpreter, the doc's own script)
        [sys.executable, str(tmp_path / "oms_root.py"), str(tmp_path / "manifest.json")],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    assert output == model_signing_subject(TREE) + "\n"


def _p256_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_the_pre_authentication_encoding_is_dsse_v1_as_model_signing_computes_it() -> None:
    from model_signing._signing import sign_sigstore_pb

    from projections.archive.oms import pre_authentication

    payload = json.dumps({"name": "été"}, ensure_ascii=False).encode()  # non-ASCII bytes
    assert pre_authentication(payload) == sign_sigstore_pb.pae(payload)
    assert pre_authentication(b"ab") == b"DSSEv1 28 application/vnd.in-toto+json 2 ab"


def test_a_signed_bundle_verifies_with_model_signing_s_api(tree: Path, tmp_path: Path) -> None:
    import model_signing
    from cryptography.hazmat.primitives import serialization

    from projections.archive.oms import sign_oms_bundle

    pem = _p256_pem()
    files = hash_tree(tree).files
    bundle = sign_oms_bundle(files, "model", manifest_digest(files), pem)
    assert bundle.root_digest == model_signing_subject(TREE)
    assert bundle.bundle_digest == hashlib.sha256(bundle.content).hexdigest()
    document = json.loads(bundle.content)
    assert document["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert document["verificationMaterial"] == {
        "publicKey": {"hint": bundle.key_hint},
        "tlogEntries": [],
    }
    public = serialization.load_pem_private_key(pem, None).public_key()
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert bundle.key_hint == hashlib.sha256(public_pem).hexdigest()
    (tmp_path / "model.sig").write_bytes(bundle.content)
    (tmp_path / "pub.pem").write_bytes(public_pem)
    model_signing.verifying.Config().use_elliptic_key_verifier(
        public_key=tmp_path / "pub.pem"
    ).verify(tree, tmp_path / "model.sig")


def test_a_bundle_listing_its_files_out_of_oms_order_is_refused(tree: Path, tmp_path: Path) -> None:
    # A consistent statement (its root matches its resources as listed) whose root is not the
    # OMS root of the files: model_signing itself never writes one; the ledger would refuse it.
    from projections.archive.oms import SIGSTORE_BUNDLE_MEDIA_TYPE, oms_evidence

    files = hash_tree(tree).files  # the manifest's byte order, not OMS's
    statement = to_model_signing(files, "model")
    statement["predicate"]["resources"] = [
        {"name": e.path, "algorithm": "sha256", "digest": e.sha256} for e in files
    ]
    raw = b"".join(bytes.fromhex(e.sha256) for e in files)
    statement["subject"][0]["digest"]["sha256"] = hashlib.sha256(raw).hexdigest()
    bundle = {
        "mediaType": SIGSTORE_BUNDLE_MEDIA_TYPE,
        "dsseEnvelope": {
            "payload": base64.b64encode(json.dumps(statement).encode()).decode(),
            "payloadType": "application/vnd.in-toto+json",
            "signatures": [],
        },
    }
    (tmp_path / "model.sig").write_text(json.dumps(bundle))
    with pytest.raises(ArchiveError, match="in another order than model-signing's"):
        oms_evidence(tmp_path / "model.sig", files)
    statement["predicate"]["resources"].reverse()  # the subject no longer matches either
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    (tmp_path / "model.sig").write_text(json.dumps(bundle))
    with pytest.raises(ArchiveError, match="subject digest is"):
        oms_evidence(tmp_path / "model.sig", files)


def test_a_bundle_naming_many_differences_names_five_of_each_and_counts_the_rest(
    tmp_path: Path,
) -> None:
    from projections.archive.oms import NAMED_FILES, oms_evidence, sign_oms_bundle

    signed = [
        ManifestEntry(f"f{i:02d}", 1, hashlib.sha256(b"%d" % i).hexdigest()) for i in range(9)
    ]
    other = [ManifestEntry(e.path, 1, "0" * 64) for e in signed]
    bundle = sign_oms_bundle(signed, "m", manifest_digest(signed), _p256_pem())
    (tmp_path / "model.sig").write_bytes(bundle.content)
    with pytest.raises(ArchiveError) as refused:
        oms_evidence(tmp_path / "model.sig", other)
    assert "9 file(s) differ from what it signs: 'f00', 'f01', 'f02', 'f03', 'f04' and " in str(
        refused.value
    )
    assert f"and {9 - NAMED_FILES} more" in str(refused.value)
    assert oms_evidence(tmp_path / "model.sig", signed).bundle_digest == bundle.bundle_digest


# --- the same rules as the command model ------------------------------------------------------


def test_limits_are_the_command_models() -> None:
    from annotated_types import Le, MaxLen

    from domain.commands import ManifestFile

    def limit(model: type[Manifest] | type[ManifestFile], field: str, kind: type) -> object:
        return next(m for m in model.model_fields[field].metadata if isinstance(m, kind))

    assert limit(Manifest, "files", MaxLen).max_length == archive.MAX_FILES  # type: ignore[attr-defined]
    assert limit(ManifestFile, "size", Le).le == archive.MAX_FILE_SIZE  # type: ignore[attr-defined]
    adapter = TypeAdapter(RelativePath)
    adapter.validate_python("a" * archive.MAX_PATH_LENGTH)
    with pytest.raises(ValidationError):
        adapter.validate_python("a" * (archive.MAX_PATH_LENGTH + 1))


@pytest.mark.parametrize(
    "path",
    [
        "ok.bin",
        "dir/ok file.bin",
        "dir/ leading-inside",
        "été/日本語/🦉",
        "",
        "/absolute",
        "a//b",
        "a/./b",
        "a/../b",
        "..",
        "trailing/",
        "back\\slash",
        "tab\tname",
        "new\nline",
        "del\x7f",
        " outer",
        "outer ",
        "outer\u00a0",
        "\u2028line-separator",
        "a" * 4096,
        "a" * 4097,
        "surrogate-\udcff",
    ],
)
def test_path_rules_agree_with_the_command_model(path: str) -> None:
    assert (archive.path_refusal(path) is None) == command_model_accepts(path)


def command_model_accepts(path: str) -> bool:
    """Whether `domain.commands.RelativePath` (and JSON, which needs UTF-8) accepts a path."""
    try:
        path.encode("utf-8")
        TypeAdapter(RelativePath).validate_python(path)
    except (UnicodeEncodeError, ValidationError):
        return False
    return True
