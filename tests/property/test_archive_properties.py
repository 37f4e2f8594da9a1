"""Properties of directory manifests over random trees written to disk.

* The manifest equals one computed independently (hashlib per file, ``sha256sum`` lines).
* The manifest digest changes when any byte of any file, any name, or the set of files changes.
* It never changes when only the order in which the files and folders were created does (nor
  the number of workers or the read block size).
* The path rules restated in `projections.archive` agree with the command model's.

Trees are small (up to eight files of up to 200 bytes, up to three levels, unicode names) and
read in 16-byte blocks, so most files span several blocks.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from domain.commands import RelativePath
from projections.archive import hash_tree, path_refusal

BLOCK = 16

# One path segment: letters from any script, digits, punctuation, inner spaces; never a
# control character, "/", "\\", or outer whitespace (which the manifest refuses), and never
# "." or "..".
segment = (
    st.text(
        alphabet=st.characters(
            codec="utf-8",
            exclude_categories=("Cc", "Cs", "Zl", "Zp"),
            exclude_characters="/\\",
        ),
        min_size=1,
        max_size=6,
    )
    .filter(lambda name: name == name.strip() and name not in (".", ".."))
    .filter(lambda name: len(name.encode("utf-8")) <= 100)
)
relative_path = st.lists(segment, min_size=1, max_size=3).map("/".join)


def without_conflicts(files: dict[str, bytes]) -> dict[str, bytes]:
    """Drop paths that would need a file and a directory of the same name."""
    kept: dict[str, bytes] = {}
    for path in sorted(files, key=len):
        parts = path.split("/")
        prefixes = {"/".join(parts[:i]) for i in range(1, len(parts))}
        if prefixes & kept.keys() or any(other.startswith(path + "/") for other in kept):
            continue
        kept[path] = files[path]
    return kept


trees = (
    st.dictionaries(relative_path, st.binary(max_size=200), min_size=1, max_size=8)
    .map(without_conflicts)
    .filter(bool)
)


@contextmanager
def written(files: dict[str, bytes], order: list[str] | None = None) -> Iterator[Path]:
    """The files written under a fresh directory, in ``order`` (default: as given)."""
    root = Path(tempfile.mkdtemp(prefix="reliquary-prop-"))
    try:
        for path in order if order is not None else list(files):
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(files[path])
        yield root
    finally:
        shutil.rmtree(root)


def digest_of(files: dict[str, bytes], order: list[str] | None = None, workers: int = 2) -> str:
    with written(files, order) as root:
        return hash_tree(root, workers=workers, block_size=BLOCK).digest


def independent_digest(files: dict[str, bytes]) -> str:
    """SHA-256 of ``<sha256>  <path>\\n`` lines sorted by the paths' UTF-8 bytes."""
    lines = b"".join(
        hashlib.sha256(files[path]).hexdigest().encode() + b"  " + path.encode() + b"\n"
        for path in sorted(files, key=lambda path: path.encode("utf-8"))
    )
    return hashlib.sha256(lines).hexdigest()


@given(trees)
def test_manifest_equals_an_independent_computation(files: dict[str, bytes]) -> None:
    with written(files) as root:
        manifest = hash_tree(root, block_size=BLOCK)
    assert {e.path: (e.size, e.sha256) for e in manifest.files} == {
        path: (len(data), hashlib.sha256(data).hexdigest()) for path, data in files.items()
    }
    assert [e.path.encode() for e in manifest.files] == sorted(p.encode() for p in files)
    assert manifest.digest == independent_digest(files)


@given(trees, st.data())
def test_creation_order_workers_and_block_size_never_change_the_digest(
    files: dict[str, bytes], data: st.DataObject
) -> None:
    order = data.draw(st.permutations(list(files)), label="creation order")
    workers = data.draw(st.integers(1, 4), label="workers")
    assert digest_of(files, order, workers) == digest_of(files) == independent_digest(files)


@given(trees, st.data())
def test_any_changed_byte_changes_the_digest(files: dict[str, bytes], data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(sorted(files)), label="file")
    content = bytearray(files[path])
    if content:
        at = data.draw(st.integers(0, len(content) - 1), label="offset")
        content[at] ^= data.draw(st.integers(1, 255), label="xor")
    else:
        content.append(data.draw(st.integers(0, 255), label="new byte"))
    changed = {**files, path: bytes(content)}
    assert digest_of(changed) != digest_of(files)


@given(trees, st.data())
def test_any_renamed_file_changes_the_digest(files: dict[str, bytes], data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(sorted(files)), label="file")
    new_name = data.draw(relative_path, label="new name")
    renamed = dict(files)
    renamed[new_name] = renamed.pop(path)
    assume(new_name != path and without_conflicts(renamed) == renamed)
    assert digest_of(renamed) != digest_of(files)


@given(trees, relative_path, st.binary(max_size=50))
def test_an_added_file_changes_the_digest(
    files: dict[str, bytes], path: str, content: bytes
) -> None:
    grown = {**files, path: content}
    assume(path not in files and without_conflicts(grown) == grown)
    assert digest_of(grown) != digest_of(files)


@given(trees, st.data())
def test_a_removed_file_changes_the_digest(files: dict[str, bytes], data: st.DataObject) -> None:
    assume(len(files) > 1)
    path = data.draw(st.sampled_from(sorted(files)), label="removed")
    shrunk = {other: content for other, content in files.items() if other != path}
    assert digest_of(shrunk) != digest_of(files)


@given(
    st.one_of(
        relative_path,
        st.text(max_size=12),
        st.text(alphabet=st.sampled_from("ab/. \\\t\n\x7f\u00a0\u2028é"), max_size=10),
    )
)
def test_path_rules_agree_with_the_command_model(path: str) -> None:
    # projections.archive restates the command model's path rules (to keep pydantic out of
    # hashing); any string is refused by both or by neither.
    try:
        path.encode("utf-8")
        TypeAdapter(RelativePath).validate_python(path)
        accepted = True
    except (UnicodeEncodeError, ValidationError):
        accepted = False
    assert (path_refusal(path) is None) == accepted
