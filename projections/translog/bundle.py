"""Offline audit bundles: export the log, verify it with no database, import it elsewhere.

A bundle is a directory:

- ``events.jsonl``: one line per event, in ledger order, each line exactly its leaf (format 2,
  RFC 8785 canonical JSON holding the event's stored bytes; ``SHA-256(0x00 || line)`` is the
  leaf hash);
- ``checkpoint``: the latest signed checkpoint (C2SP tlog-checkpoint signed note);
- ``verifier-key``: the ledger's public verifier key;
- ``manifest-<digest>.json``: one per weights manifest a ``WeightsPreserved`` leaf names by its
  digest (the leaf holds the digest, the file count and the total size; the file list is this
  file, `domain.manifests.Manifest.to_json` in RFC 8785 form). `verify_bundle` requires each
  to hash to its digest and match its leaf's totals, and each leaf's manifest to be there;
- ``README.md``: how to check it without Reliquary (see docs/reviewers.md).

Its files are handled as what they may be: files an adversary wrote (docs/auditors.md).
`export_bundle` writes into a new folder (mode 0700) or an empty one, never through a symbolic
link, each file created anew (``O_CREAT | O_EXCL | O_NOFOLLOW``, mode 0600). `verify_bundle` and
`import_bundle` read a bundle folder that is not itself a link, and open each of its files
without following a link and without blocking (``O_NOFOLLOW | O_NONBLOCK``), refusing anything
but a regular file (a FIFO, a device, a socket, a folder) and any file over its size limit
(`MAX_EVENTS_BYTES`, `MAX_LINE_BYTES`, `MAX_CHECKPOINT_BYTES`, `MAX_KEY_BYTES`). What they
report quotes a file only as a short, sanitised excerpt (`excerpt`), and never a file that looks
like a private key.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from uuid import UUID

import rfc8785
from eventsourcing.persistence import StoredEvent

from domain.canonical import canonical_bytes
from domain.decisions import Sealed
from domain.errors import (
    BundleDoesNotVerify,
    BundleError,
    BundleRefused,
    ManifestDamaged,
    UnreadableFile,
)
from domain.identity import model_id
from domain.manifests import Manifest, loads_manifest, manifest_json_bytes
from domain.sealed import opens
from projections.translog import merkle
from projections.translog.checkpoint import Checkpoint, verify_checkpoint
from projections.translog.feed import leaf_feed
from projections.translog.leaves import LEAF_FORMAT, event_type, leaf_bytes, leaf_state
from projections.translog.tree import TransparencyLog, append_leaf
from projections.translog.witness_policy import WitnessPolicy
from projections.translog.witnessed import WitnessVerdict, check_witnesses

EVENTS, CHECKPOINT, KEY, README = "events.jsonl", "checkpoint", "verifier-key", "README.md"
OPENINGS = "openings.jsonl"
MANIFEST_FILE = "manifest-{digest}.json"
"""The file of one weights manifest, named by its digest (64 hex digits)."""
_MANIFEST_NAME = re.compile(r"manifest-([0-9a-f]{64})\.json")
_PRESERVED = b'"topic":"reliquary/WeightsPreserved/v1"'
"""With ``export --disclose``: the sealed values the recipient may read, each with its opening."""

# What a bundle's files may hold; a larger file is refused before it is read.
MAX_LINE_BYTES = 65_535
"""A line of events.jsonl: the largest log entry (`domain.ledger.LOG_ENTRY_BYTES`)."""
MAX_EVENTS_BYTES = 64 * 2**30
"""events.jsonl: 64 GiB, about a million events of the largest size."""
MAX_CHECKPOINT_BYTES = 64 * 2**10
"""The signed checkpoint: a few hundred bytes, with room for extensions and co-signatures."""
MAX_KEY_BYTES = 2**10
"""The verifier key: one line of about 80 characters."""
MAX_MANIFEST_BYTES = 2**30
"""A manifest file: 1 GiB, room for the most files a manifest lists (200,000) at the longest
paths (4,096 characters)."""
EXCERPT = 80
"""The characters of a file's text a report or error may quote."""

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# A signed-note private key (``PRIVATE+KEY+...``, as the signing key file holds), or PEM/OpenSSH.
_PRIVATE_KEY = re.compile(r"PRIVATE\+KEY\+|PRIVATE KEY-----", re.IGNORECASE)
# A verifier key's shape: ``name+<8 hex digits>+<base64 of 33 bytes>``.
_VERIFIER_SHAPE = re.compile(r"[!-*,-~]{1,200}\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}")


@dataclass
class BundleReport:
    """What checking a bundle found: ``ok`` only if every check held."""

    events: int = 0
    checkpoint: Checkpoint | None = None
    root: bytes = b""
    problems: list[str] = field(default_factory=list)
    openings: int = 0  # the openings of openings.jsonl, each checked against its commitment
    manifests: int = 0  # the manifest files, each checked against the digest its leaf names
    witnesses: WitnessVerdict | None = None  # which witnesses of a pinned policy vouch

    @property
    def ok(self) -> bool:
        """Whether everything held."""
        return not self.problems


def export_bundle(
    log: TransparencyLog,
    directory: Path,
    signing_key: str,
    verifier: str,
    on_progress: Callable[[int], None] | None = None,
    *,
    disclose: Callable[[str], bool] | None = None,
) -> tuple[int, str]:
    """Write a bundle of the whole log; return the number of events and the checkpoint.

    With ``disclose`` (which persons', by pseudonym, the recipient may read: decided by
    `domain.disclosure.bundle_recipient`), the bundle also holds ``openings.jsonl``: each of
    those sealed values' value and opening, by sequence and field, for the values the store
    still holds (an erased person's are gone). Without it, the bundle holds commitments only,
    like the public log.

    ``directory`` must not exist (it is made, mode 0700, with any missing parents) or be an
    empty folder; a directory that is a symbolic link, holds anything, or is not a folder is
    refused (`BundleError`) before anything is signed or written. Each file is created anew in
    it, mode 0600, never through a link and never over a file that appeared meanwhile.
    """
    with _new_folder(directory) as folder:
        checkpoint = log.checkpoint(signing_key)
        written = 0
        sealed: list[tuple[int, str, Sealed]] = []
        named: dict[str, tuple[int, Any, Any]] = {}
        with _create(folder, directory, EVENTS) as out:
            for line in _leaf_lines(log, checkpoint.size, on_progress):
                out.write(line + b"\n")
                if disclose and b'"_type_":"sealed"' in line:
                    sealed += [
                        found
                        for found in _sealed_fields(json.loads(line))
                        if disclose(found[2].subject)
                    ]
                if _PRESERVED in line:
                    _note_manifest(json.loads(line), named)
                written += 1
        _write_manifests(log, folder, directory, named)
        if disclose is not None:
            opened = log.ledger.opened(value for _, _, value in sealed)
            with _create(folder, directory, OPENINGS) as out:
                for sequence, name, value in sealed:
                    found = opened.get(value.commitment)
                    if found is None or found.value is None or found.opening is None:
                        continue
                    entry = {
                        "commitment": value.commitment,
                        "field": name,
                        "opening": found.opening.hex(),
                        "sequence": sequence,
                        "value": found.value,
                    }
                    out.write(canonical_bytes(entry) + b"\n")
        _write(folder, directory, CHECKPOINT, checkpoint.note)
        _write(folder, directory, KEY, verifier + "\n")
        _write(folder, directory, README, _README.format(events=written, origin=log.origin))
    return written, checkpoint.note


def _note_manifest(record: dict[str, Any], named: dict[str, tuple[int, Any, Any]]) -> None:
    """Remember the manifest a ``WeightsPreserved`` leaf names by digest: (line, count, size).

    A leaf of class version 1 holds its file list itself and names no file.
    """
    state = record.get("state")
    if not isinstance(state, dict) or "files" in state:
        return
    digest = state.get("manifest_digest")
    if isinstance(digest, str) and digest not in named:
        named[digest] = (
            record.get("sequence", 0),
            state.get("file_count"),
            state.get("total_bytes"),
        )


def _write_manifests(
    log: TransparencyLog, folder: int, directory: Path, named: dict[str, tuple[int, Any, Any]]
) -> None:
    """Write each named manifest, read from the store and checked against its leaf's totals."""
    from projections.archive.manifests import recorded_manifest

    for digest, (_, count, total) in named.items():
        manifest = recorded_manifest(log.ledger, digest, file_count=count, total_bytes=total)
        with _create(folder, directory, MANIFEST_FILE.format(digest=digest)) as out:
            out.write(manifest_json_bytes(manifest))


def _sealed_fields(record: dict[str, Any]) -> list[tuple[int, str, Sealed]]:
    """A leaf's sealed fields: (sequence, field, the sealed value), the field named as the
    disclosure policy names it (``requester``; ``actor.id``, ``evidence.uri`` inside value
    objects, one entry per evidence item)."""
    found: list[tuple[int, str, Sealed]] = []

    def walk(value: Any, field: str) -> None:
        if isinstance(value, list):
            for item in value:
                walk(item, field)
        elif isinstance(value, dict):
            if value.get("_type_") == "sealed":
                data = value["_data_"]
                sealed = Sealed(data["commitment"], data["subject"])
                found.append((record["sequence"], field, sealed))
            elif set(value) == {"_type_", "_data_"}:
                walk(value["_data_"], field)
            else:
                for name, item in value.items():
                    walk(item, f"{field}.{name}")

    for name, value in record["state"].items():
        walk(value, name)
    return found


def _leaf_lines(
    log: TransparencyLog, size: int, on_progress: Callable[[int], None] | None
) -> Iterator[bytes]:
    for entry in itertools.islice(leaf_feed(log.ledger, page=2000), size):
        yield entry.leaf
        if on_progress and (entry.sequence + 1) % 1000 == 0:
            on_progress(1000)


def verify_bundle(
    directory: Path,
    pinned_verifier: str | None = None,
    on_progress: Callable[[int], None] | None = None,
    policy: WitnessPolicy | None = None,
) -> BundleReport:
    """Check a bundle with no database: signature, every leaf, the root, per-model versions.

    The folder and its files are read as the module says (no links, regular files only, within
    the size limits); a file that cannot be read so is a `BundleError`, not a problem found.
    With a witness `policy` the reader pinned, the checkpoint must also carry a quorum of its
    witnesses' cosignatures, each verifying (`witnessed.check_witnesses`).
    """
    with _bundle_folder(directory) as folder:
        return _verify(folder, directory, pinned_verifier, on_progress, policy)


def _verify(
    folder: int,
    directory: Path,
    pinned_verifier: str | None,
    on_progress: Callable[[int], None] | None = None,
    policy: WitnessPolicy | None = None,
) -> BundleReport:
    report = BundleReport()
    pinned = _pinned(pinned_verifier) if pinned_verifier is not None else None
    verifier = _read_text(folder, directory, KEY, MAX_KEY_BYTES).strip()
    if pinned is not None and pinned != verifier:
        report.problems.append(
            "the bundle's verifier key is not the one you pinned: expected "
            f"{_shown_key(pinned)}, the bundle has {_shown_key(verifier)}"
        )
        verifier = pinned
    try:
        note = _read_text(folder, directory, CHECKPOINT, MAX_CHECKPOINT_BYTES)
        checkpoint = verify_checkpoint(note, verifier)
    except ValueError as error:
        report.problems.append(f"checkpoint: {excerpt(str(error), 2 * EXCERPT)}")
        return report
    report.checkpoint = checkpoint
    if policy is not None:
        report.witnesses = check_witnesses(note, policy)
        if not report.witnesses.quorum_met:
            report.problems.append(f"checkpoint witnesses: {report.witnesses.describe()}")
    frontier: dict[merkle.Node, bytes] = {}
    versions: dict[str, int] = {}
    # Each sealed field's (event type, field), by (sequence, commitment): openings check them.
    commitments: dict[tuple[int, str], tuple[str, str]] = {}
    named: dict[str, tuple[int, Any, Any]] = {}
    index = 0
    for line in _lines(folder, directory):
        if _PRESERVED in line:
            with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                _note_manifest(json.loads(line), named)
        if b'"_type_":"sealed"' in line:
            with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                record = json.loads(line)
                kind = event_type(record["topic"])
                for sequence, name, value in _sealed_fields(record):
                    commitments[(sequence, value.commitment)] = (kind, name)
        problem = _check_line(line, index, versions)
        if problem:
            report.problems.append(f"line {index + 1} (sequence {index}): {problem}")
            if len(report.problems) >= 20:
                return report
        append_leaf(frontier, {}, index, merkle.leaf_hash(line))
        index += 1
        if on_progress and index % 1000 == 0:
            on_progress(1000)
    report.events = index
    report.root = merkle.range_hash(0, index, frontier) if index else merkle.EMPTY_ROOT
    if index != checkpoint.size:
        report.problems.append(
            f"the checkpoint covers {checkpoint.size} events but events.jsonl has {index}"
        )
    elif report.root != checkpoint.root_hash:
        report.problems.append(
            f"root mismatch: the checkpoint says {checkpoint.root_hash.hex()}, "
            f"events.jsonl hashes to {report.root.hex()}"
        )
    _check_openings(folder, directory, commitments, report)
    _check_manifests(folder, directory, named, report)
    return report


def _check_manifests(
    folder: int, directory: Path, named: dict[str, tuple[int, Any, Any]], report: BundleReport
) -> None:
    """Each manifest a leaf names is in the bundle, hashes to its digest and has the leaf's
    count and size; no manifest file is there that no leaf names."""
    present = set()
    for entry in sorted(os.listdir(folder)):
        match = _MANIFEST_NAME.fullmatch(entry)
        if match:
            present.add(match.group(1))
        elif entry.startswith("manifest-"):
            report.problems.append(f"{excerpt(entry)}: not a manifest file's name")
    for digest in sorted(present - named.keys()):
        report.problems.append(
            f"{MANIFEST_FILE.format(digest=digest)}: no WeightsPreserved leaf names this digest"
        )
    for digest, (sequence, count, total) in named.items():
        name = MANIFEST_FILE.format(digest=digest)
        if digest not in present:
            report.problems.append(
                f"line {sequence + 1} (sequence {sequence}) names manifest {digest}, which "
                f"the bundle lacks ({name})"
            )
            continue
        try:
            manifest = read_manifest_file(folder, directory, digest)
            if (manifest.file_count, manifest.total_bytes) != (count, total):
                raise ManifestDamaged(
                    f"it lists {manifest.file_count} files of {manifest.total_bytes} bytes; "
                    f"its leaf (sequence {sequence}) records {count} files of {total} bytes"
                )
        except ManifestDamaged as error:
            report.problems.append(f"{name}: {excerpt(str(error), 2 * EXCERPT)}")
        else:
            report.manifests += 1


def read_manifest_file(folder: int, directory: Path, digest: str) -> Manifest:
    """A bundle's manifest file, read (a regular file within `MAX_MANIFEST_BYTES`) and checked
    to hash to the digest it is named by (`ManifestDamaged` otherwise)."""
    with _open(folder, directory, MANIFEST_FILE.format(digest=digest), MAX_MANIFEST_BYTES) as f:
        data = f.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise _too_large(directory / MANIFEST_FILE.format(digest=digest), MAX_MANIFEST_BYTES)
    manifest = loads_manifest(data)
    if manifest.digest != digest:
        raise ManifestDamaged(f"its files hash to {manifest.digest}, not to its name's digest")
    return manifest


def bundle_manifest(directory: Path, digest: str) -> Manifest:
    """One manifest file of a bundle folder, checked to hash to ``digest``."""
    with _bundle_folder(directory) as folder:
        return read_manifest_file(folder, directory, digest)


def _check_openings(
    folder: int,
    directory: Path,
    commitments: dict[tuple[int, str], tuple[str, str]],
    report: BundleReport,
) -> None:
    """Check each opening of openings.jsonl, if the bundle has one, against its leaf."""
    try:
        lines = list(_lines(folder, directory, OPENINGS))
    except BundleError as error:
        if "is missing" in str(error):
            return
        raise
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
            commitment = entry["commitment"]
            kind, name = commitments[(entry["sequence"], commitment)]
            value = Sealed(commitment, "", entry["value"], bytes.fromhex(entry["opening"]))
            ok = entry["field"] == name and opens(value, kind, name)
        except (ValueError, KeyError, TypeError, AttributeError):
            ok = False
        if not ok:
            report.problems.append(
                f"{OPENINGS} line {number}: does not open the commitment of its leaf's field"
            )
            if len(report.problems) >= 20:
                return
        else:
            report.openings += 1


def _check_line(line: bytes, index: int, versions: dict[str, int]) -> str | None:
    """One line's own checks: canonical JSON, its sequence, its model's next version."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as error:
        return f"not JSON: {excerpt(str(error))}"
    if not isinstance(record, dict):
        return "not a JSON object"
    try:
        canonical = rfc8785.dumps(record)
    except (ValueError, TypeError, RecursionError):
        return "not in RFC 8785 canonical form"
    if canonical != line:
        return "not in RFC 8785 canonical form"
    if record.get("leaf") != LEAF_FORMAT:
        return f"leaf format is {excerpt(repr(record.get('leaf')))}, expected {LEAF_FORMAT}"
    if record.get("sequence") != index:
        return f"sequence is {excerpt(repr(record.get('sequence')))}, expected {index}"
    identifier, version, state = record.get("model_id"), record.get("version"), record.get("state")
    if not isinstance(identifier, str) or not isinstance(state, dict):
        return "no model_id or no state"
    expected = versions.get(identifier, 0) + 1
    if version != expected:
        return (
            f"model {excerpt(identifier)} jumps from version {expected - 1} to "
            f"{excerpt(repr(version))}"
        )
    if version == 1:
        name = state.get("name")
        if not isinstance(name, str) or str(model_id(name)) != identifier:
            return "model_id is not the id of the name its registration carries"
    versions[identifier] = expected
    return None


def import_bundle(
    log: TransparencyLog,
    directory: Path,
    pinned_verifier: str,
    batch: int = 1000,
) -> int:
    """Restore a verified bundle into an empty ledger; its log then has the bundle's root.

    The bundle must be signed by the key the operator pinned (``pinned_verifier``; the key
    inside the bundle proves nothing by itself). The whole bundle is verified first, then
    every event is replayed through the ledger's authority table and rules
    (`Ledger.restore`), and only then are the events stored, exactly as signed.

    The bundle's files are read as `verify_bundle` reads them, in the same folder, opened once;
    each pass over events.jsonl hashes its lines again and refuses the whole bundle, storing
    nothing, if they no longer make the verified root (a file changed after it was verified).
    """
    if not pinned_verifier.strip():
        raise BundleError("pin the verifier key the bundle must be signed by (--key)")
    with _bundle_folder(directory) as folder:
        report = _verify(folder, directory, pinned_verifier)
        checkpoint = report.checkpoint
        if not report.ok or checkpoint is None:
            first = report.problems[0] if report.problems else "it has no checkpoint"
            raise BundleDoesNotVerify(f"the bundle does not verify: {first}")
        manifests = {
            match.group(1): read_manifest_file(folder, directory, match.group(1))
            for entry in sorted(os.listdir(folder))
            if (match := _MANIFEST_NAME.fullmatch(entry))
        }
        count = _restore(log, folder, directory, checkpoint, batch, manifests)
    log.catch_up()
    if log.root(checkpoint.size) != checkpoint.root_hash:
        raise BundleDoesNotVerify(
            "imported, but the log's root differs from the bundle's checkpoint"
        )
    return count


def _restore(
    log: TransparencyLog,
    folder: int,
    directory: Path,
    checkpoint: Checkpoint,
    batch: int,
    manifests: dict[str, Manifest],
) -> int:
    """Replay and store the verified events; each pass checks they still make its root."""
    ledger = log.ledger

    def read() -> Iterator[StoredEvent]:
        frontier: dict[merkle.Node, bytes] = {}
        index = 0
        for number, line in enumerate(_lines(folder, directory), start=1):
            append_leaf(frontier, {}, index, merkle.leaf_hash(line))
            index += 1
            try:
                record = json.loads(line)
                event = _stored_event(number, record, line)
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
                raise BundleRefused(
                    f"line {number}: cannot be read back as an event: {excerpt(str(error))}",
                    line=number,
                    rule="invalid-command",
                ) from None
            yield event
        root = merkle.range_hash(0, index, frontier) if index else merkle.EMPTY_ROOT
        if index != checkpoint.size or root != checkpoint.root_hash:
            raise BundleDoesNotVerify(
                f"{directory / EVENTS} changed after it was verified: nothing was imported"
            )

    return ledger.restore(read, batch_size=batch, manifests=manifests)


def read_leaves(directory: Path, checkpoint: Checkpoint) -> Iterator[bytes]:
    """A verified bundle's leaves read again, each checked as it goes into the tree once more.

    Read it to the end: after the last line the leaves must still make ``checkpoint``'s size
    and root (the bundle verified earlier), else `BundleDoesNotVerify`: events.jsonl changed
    in between. Each line is read as `verify_bundle` reads it (no link, within the limits).
    """
    with _bundle_folder(directory) as folder:
        frontier: dict[merkle.Node, bytes] = {}
        index = 0
        for line in _lines(folder, directory):
            append_leaf(frontier, {}, index, merkle.leaf_hash(line))
            index += 1
            yield line
        root = merkle.range_hash(0, index, frontier) if index else merkle.EMPTY_ROOT
        if index != checkpoint.size or root != checkpoint.root_hash:
            raise BundleDoesNotVerify(
                f"{directory / EVENTS} changed after it was verified: nothing was computed"
            )


def _stored_event(line: int, record: dict[str, Any], line_bytes: bytes) -> StoredEvent:
    """Rebuild the stored event a leaf was made from: its id, version, topic and state.

    The event type is looked up in the ledger's own catalogue, never resolved as a module path
    (a topic such as ``os:system`` would otherwise import what the bundle names).
    """
    from domain.ledger import EVENT_BY_TOPIC

    if EVENT_BY_TOPIC.get(record["topic"]) is None:
        raise BundleRefused(
            f"line {line}: unknown event type {excerpt(repr(record['topic']))}: not in the "
            "catalogue",
            line=line,
            rule="invalid-command",
        )
    if not isinstance(record["state"], dict):
        raise TypeError("the leaf's state is not a JSON object")
    stored = StoredEvent(
        originator_id=UUID(record["model_id"]),
        originator_version=record["version"],
        topic=record["topic"],
        state=leaf_state(record),
    )
    # The state is stored in the canonical bytes the line carries; the restore then replays
    # the decoded event through the rules (`Ledger.restore`).
    if leaf_bytes(stored, sequence=record["sequence"]) != line_bytes:
        raise ValueError("the line is not the leaf of the event it describes")
    return stored


# --- what a report may quote ---------------------------------------------------------------


def looks_private(text: str) -> bool:
    """Whether ``text`` holds what looks like a private key (signed-note, PEM or OpenSSH)."""
    return _PRIVATE_KEY.search(text) is not None


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """``text`` as a report may quote it: at most ``limit`` characters, every character that is
    not printable escaped, and nothing at all of what looks like a private key."""
    if looks_private(text):
        return "(not shown: it looks like a private key)"
    short = "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in text[:limit]
    )
    return short + ("..." if len(text) > limit else "")


def _shown_key(key: str) -> str:
    """A verifier key as a report shows it: itself if it has a key's shape, else a description."""
    if _VERIFIER_SHAPE.fullmatch(key):
        return key
    return f"something that is not a verifier key ({len(key)} characters, not shown)"


def _pinned(pinned: str) -> str:
    key = pinned.strip()
    if looks_private(key):
        raise BundleError(
            "the key you pinned (--key) looks like a private signing key, not a verifier key; "
            "it is not shown. Pin the public key: `reliquary key` prints it"
        )
    if len(key) > MAX_KEY_BYTES:
        raise BundleError(
            f"the key you pinned (--key) is {len(key):,} characters; a verifier key is about 80"
        )
    return key


def read_pinned_key(value: str) -> str:
    """A verifier key given on the command line: the key's text, or a file holding it.

    A value with a ``+`` is the key itself; otherwise, if it names a file, the file is read,
    which must be a regular file (never a FIFO: opened without blocking, then checked) of at
    most `MAX_KEY_BYTES`, in UTF-8, and not a private key. Else the value is returned as given
    (and will not verify as a key).
    """
    path = Path(value)
    if "+" in value or not os.path.lexists(path):
        return _pinned(value)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise UnreadableFile(f"cannot read the key file {path}: {error.strerror}") from None
    with os.fdopen(descriptor, "rb") as stream:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise UnreadableFile(f"the key file {path} is {_kind(mode)}, not a regular file")
        data = stream.read(MAX_KEY_BYTES + 1)
    if len(data) > MAX_KEY_BYTES:
        raise UnreadableFile(
            f"the key file {path} is over {MAX_KEY_BYTES:,} bytes; a verifier key is one line"
        )
    try:
        return _pinned(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise UnreadableFile(f"the key file {path} is not UTF-8 text") from None


# --- reading a bundle's files -----------------------------------------------------------------


def _kind(mode: int) -> str:
    """What a file that is not a regular file is, in words."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


@contextmanager
def _bundle_folder(directory: Path) -> Iterator[int]:
    """The bundle's folder, opened (a descriptor) without following a link."""
    try:
        mode = os.lstat(directory).st_mode
    except FileNotFoundError:
        raise BundleError(f"not a bundle: {directory} does not exist") from None
    except OSError as error:
        raise UnreadableFile(f"cannot read {directory}: {error.strerror}") from None
    if stat.S_ISLNK(mode):
        raise BundleError(
            f"{directory} is a symbolic link: a bundle folder is read as itself, never "
            "through a link (give the folder it points to, if you trust it)"
        )
    if not stat.S_ISDIR(mode):
        raise BundleError(f"not a bundle: {directory} is {_kind(mode)}, not a folder")
    try:
        descriptor = os.open(directory, _DIRECTORY_FLAGS)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise BundleError(f"{directory} changed into a link or a file: refused") from None
        raise UnreadableFile(f"cannot read {directory}: {error.strerror}") from None
    try:
        yield descriptor
    finally:
        os.close(descriptor)


def _open(folder: int, directory: Path, name: str, limit: int) -> BinaryIO:
    """A bundle file, open for reading: a regular file (no link, FIFO, device) within ``limit``.

    It is looked at first (``lstat``), then opened with ``O_NOFOLLOW | O_NONBLOCK`` (a FIFO
    swapped in meanwhile cannot make the open wait) and checked again on the open file.
    """
    shown = directory / name
    try:
        mode = os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode
    except FileNotFoundError:
        raise BundleError(f"not a bundle: {shown} is missing") from None
    except OSError as error:
        raise UnreadableFile(f"cannot read {shown}: {error.strerror}") from None
    if not stat.S_ISREG(mode):
        raise _not_regular(shown, mode)
    try:
        descriptor = os.open(name, _READ_FLAGS, dir_fd=folder)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise _not_regular(shown, stat.S_IFLNK) from None
        raise UnreadableFile(f"cannot read {shown}: {error.strerror}") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(shown, info.st_mode)
        if info.st_size > limit:
            raise _too_large(shown, limit, info.st_size)
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def _not_regular(shown: Path, mode: int) -> BundleError:
    return BundleError(
        f"{shown} is {_kind(mode)}, not a regular file: refused (a bundle's files are read "
        "only as regular files, never through a link)"
    )


def _too_large(shown: Path, limit: int, size: int | None = None) -> BundleError:
    found = f"{size:,} bytes" if size is not None else "larger"
    return BundleError(f"{shown} is {found}, over the {limit:,} bytes it may have: refused")


def _read_text(folder: int, directory: Path, name: str, limit: int) -> str:
    """A small bundle file's UTF-8 text; a file that looks like a private key is refused."""
    shown = directory / name
    with _open(folder, directory, name, limit) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise _too_large(shown, limit)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BundleError(f"{shown} is not UTF-8 text: refused") from None
    if looks_private(text):
        raise BundleError(
            f"{shown} looks like a private key: refused, and not shown (a bundle holds only "
            "the public verifier key)"
        )
    return text


def _lines(folder: int, directory: Path, name: str = EVENTS) -> Iterator[bytes]:
    """A JSON Lines file's lines (events.jsonl's by default), without their newline; each at
    most `MAX_LINE_BYTES`."""
    shown = directory / name
    read = 0
    with _open(folder, directory, name, MAX_EVENTS_BYTES) as stream:
        for number in itertools.count(1):
            raw = stream.readline(MAX_LINE_BYTES + 2)
            if not raw:
                return
            read += len(raw)
            if read > MAX_EVENTS_BYTES:
                raise _too_large(shown, MAX_EVENTS_BYTES)
            line = raw[:-1] if raw.endswith(b"\n") else raw
            if len(line) > MAX_LINE_BYTES:
                raise BundleError(
                    f"{shown}: line {number} is longer than the {MAX_LINE_BYTES:,} bytes an "
                    "event's entry may have: refused"
                )
            yield line


# --- writing a bundle ---------------------------------------------------------------------------


def check_export_target(directory: Path) -> None:
    """Refuse a folder `export_bundle` would refuse, before anything is signed or written.

    It must not exist, or be an empty folder that is not a symbolic link (`BundleError`).
    """
    mode = _target_mode(directory)
    if mode is not None:
        descriptor = _open_target(directory)
        try:
            _refuse_contents(descriptor, directory)
        finally:
            os.close(descriptor)


def _target_mode(directory: Path) -> int | None:
    """The export folder's mode, None if it does not exist; a link or a file is refused."""
    try:
        mode = os.lstat(directory).st_mode
    except FileNotFoundError:
        return None
    except OSError as error:
        raise BundleError(f"cannot write to {directory}: {error.strerror}") from None
    if stat.S_ISLNK(mode):
        raise BundleError(
            f"{directory} is a symbolic link: export writes only into a real folder, never "
            "through a link"
        )
    if not stat.S_ISDIR(mode):
        raise BundleError(
            f"{directory} exists and is {_kind(mode)}: export writes into a new or empty folder"
        )
    return mode


def _open_target(directory: Path) -> int:
    try:
        return os.open(directory, _DIRECTORY_FLAGS)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise BundleError(f"{directory} changed into a link or a file: refused") from None
        raise BundleError(f"cannot write to {directory}: {error.strerror}") from None


@contextmanager
def _new_folder(directory: Path) -> Iterator[int]:
    """The folder to export into, opened: made anew (0700), or an existing empty folder."""
    mode = _target_mode(directory)
    if mode is None:
        try:
            directory.parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(directory, 0o700)
        except FileExistsError:
            raise BundleError(f"{directory} appeared while the export began: refused") from None
        except OSError as error:
            raise BundleError(f"cannot make {directory}: {error.strerror}") from None
    descriptor = _open_target(directory)
    try:
        if mode is None:
            os.fchmod(descriptor, 0o700)  # whatever the umask left of it
        _refuse_contents(descriptor, directory)
        yield descriptor
    finally:
        os.close(descriptor)


def _refuse_contents(folder: int, directory: Path) -> None:
    """Refuse a folder that holds anything: a symbolic link above all, named as such."""
    entries = sorted(os.listdir(folder))
    if not entries:
        return
    for entry in entries:
        try:
            mode = os.stat(entry, dir_fd=folder, follow_symlinks=False).st_mode
        except FileNotFoundError:
            continue  # gone meanwhile: the folder was not empty all the same
        if stat.S_ISLNK(mode):
            raise BundleError(
                f"{directory} holds a symbolic link ({excerpt(entry)}): refused; export writes "
                "into a new or empty folder and never follows a link"
            )
    raise BundleError(
        f"{directory} is not empty ({len(entries)} entries, such as {excerpt(entries[0])}): "
        "export writes into a new folder or an empty one, never over other files"
    )


def _create(folder: int, directory: Path, name: str) -> BinaryIO:
    """A new file of the bundle, mode 0600: never through a link, never over another file."""
    try:
        descriptor = os.open(name, _CREATE_FLAGS, 0o600, dir_fd=folder)
    except FileExistsError:
        raise BundleError(
            f"{directory / name} appeared while the bundle was written: refused, not overwritten"
        ) from None
    except OSError as error:
        raise BundleError(f"cannot write {directory / name}: {error.strerror}") from None
    return os.fdopen(descriptor, "wb")


def _write(folder: int, directory: Path, name: str, text: str) -> None:
    with _create(folder, directory, name) as out:
        out.write(text.encode("utf-8"))


_README = """# Reliquary audit bundle

Log origin: `{origin}`. Events: {events}.

- `events.jsonl`: one line per event, in ledger order; each line is the event's public record
  in RFC 8785 canonical JSON (leaf format 2: the event's stored bytes in an envelope, see
  Reliquary's docs/transparency.md), and its leaf hash is SHA-256(0x00 || line).
- `checkpoint`: the signed checkpoint (C2SP tlog-checkpoint, Ed25519 signed note) whose root
  is the RFC 9162 Merkle tree hash of those leaves.
- `verifier-key`: the ledger's public key (`name+keyid+base64(0x01 || ed25519 key)`). Compare
  it with the key the operator published before you trust anything signed by it.

Check it with `reliquary verify-bundle .`, or without Reliquary's code using the script in
Reliquary's docs/reviewers.md (Python's hashlib and an Ed25519 library).
"""
