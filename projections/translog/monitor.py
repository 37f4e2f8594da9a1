"""A monitor of any C2SP tlog-tiles log: verify each new checkpoint from the entries, keep state.

`run_monitor` follows one log through a `TileSource` (``tile_sources``), trusting only the
log's verifier key pinned on the first run. Each run:

1. reads the source's ``checkpoint`` and opens it with the pinned key and origin
   (c2sp.org/signed-note, c2sp.org/tlog-checkpoint; lines by other keys, such as witness
   cosignatures, are ignored as signed-note requires);
2. reads the entry bundles ``tile/entries/<N>[.p/<W>]`` covering [verified size, new size)
   (c2sp.org/tlog-tiles), hashes every new entry (RFC 9162 section 2.1.1, ``merkle.leaf_hash``),
   checks that the level-0 hash tiles of those entries hold exactly those hashes, and extends
   the *frontier*: the roots of the perfect subtrees that RFC 9162's decomposition of the
   verified size gives (at most 64 hashes). Their right fold is the tree's root
   (``merkle.range_hash``), so only the new entries are read, and the new checkpoint is
   accepted only if that root is its signed root. That proves the new tree extends the one
   verified before, without trusting the server or asking it for a consistency proof;
3. with a witness policy, requires a quorum of its witnesses' cosignatures
   (c2sp.org/tlog-cosignature, ``witnessed.check_witnesses``).

A signed checkpoint that contradicts what was verified is an *alarm*, a possible split view:
the same size with another root, a larger one whose root the verified tree plus the served
entries do not give (or whose served entries and hash tiles disagree), a smaller one whose root
differs from the one verified at that size, or a policy witness's cosignature line that does not
verify. The monitor then writes evidence (both notes verbatim and ``detail.json``) under
``evidence/<UTC time>-<kind>/`` and leaves its verified state as it was.

The state folder (`MonitorState`):

- ``state.json``: the pinned verifier key and origin, the verified checkpoint's note verbatim,
  its size and root, and the frontier; replaced atomically (temporary file, fsync, rename,
  fsync of the folder), so a run killed at any point leaves the previous state whole;
- ``checkpoint``: a copy of the verified note, for people and scripts (never read back);
- ``verified.log``: one ``<size> <root hex>`` line per accepted checkpoint, append-only, so a
  checkpoint smaller than the verified one can be compared with what was verified at its size;
- ``lock``: held with ``flock`` for the whole run, so two runs from cron never interleave;
- ``evidence/``: one folder per alarm.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.errors import (
    MalformedError,
    MonitorBusy,
    MonitorStateError,
    SourceUnreachable,
    TileMissing,
    VerificationError,
)
from projections.translog import merkle
from projections.translog.checkpoint import (
    Checkpoint,
    _parse_verifier_key,
    verify_checkpoint,
)
from projections.translog.tile_sources import TileSource
from projections.translog.tiles import (
    ENTRIES,
    MAX_ENTRY_SIZE,
    TILE_WIDTH,
    decode_entry_bundle,
    tile_path,
)

if TYPE_CHECKING:
    from projections.translog.witness_policy import WitnessPolicy

__all__ = [
    "ALARM",
    "BEHIND",
    "EXIT_CODES",
    "MAX_CHECKPOINT_BYTES",
    "MAX_FRONTIER",
    "MAX_TILE_BYTES",
    "OK",
    "REFUSED",
    "UNREACHABLE",
    "UNWITNESSED",
    "MonitorBusy",
    "MonitorReport",
    "MonitorState",
    "MonitorStateError",
    "VerifiedState",
    "frontier_append",
    "frontier_root",
    "run_monitor",
]

# What a run concluded, and the exit code the CLI gives each.
OK = "ok"
BEHIND = "behind"  # the source's checkpoint is older than the verified one; nothing changes
UNWITNESSED = "unwitnessed"  # no quorum of the policy's witnesses cosigned it
REFUSED = "refused"  # not a checkpoint the pinned key signed for the pinned origin
ALARM = "alarm"  # a signed contradiction: a possible split view, with evidence
UNREACHABLE = "unreachable"  # the source (or a tile) could not be read, or the state is busy
EXIT_CODES = {OK: 0, BEHIND: 1, UNWITNESSED: 1, REFUSED: 1, ALARM: 3, UNREACHABLE: 4}

# A signed checkpoint is a few hundred bytes; 100 signature lines (checkpoint.MAX_SIGNATURES)
# of under 200 bytes each stay well within this (the same bound as bundle.MAX_CHECKPOINT_BYTES).
MAX_CHECKPOINT_BYTES = 64 * 1024
# The largest tile: a full entry bundle of 256 entries of 65,535 bytes, each with its prefix.
MAX_TILE_BYTES = TILE_WIDTH * (2 + MAX_ENTRY_SIZE)
# One perfect subtree per set bit of a uint64 tree size.
MAX_FRONTIER = 64
# state.json holds a note, a key and at most 64 hashes in hex: far below this.
MAX_STATE_BYTES = 256 * 1024
# A verified.log line: a 20-digit size, a space, 64 hex digits, a newline.
_HISTORY_LINE = re.compile(r"(0|[1-9][0-9]{0,19}) ([0-9a-f]{64})")
STATE_FORMAT = 1
STATE_FILE = "state.json"
CHECKPOINT_COPY = "checkpoint"
HISTORY_FILE = "verified.log"
LOCK_FILE = "lock"
EVIDENCE = "evidence"
_TEMPORARY = ".tmp-"

# Alarm kinds (the suffix of an evidence folder's name).
SPLIT_VIEW = "split-view"  # same size (or an older verified size), another root
INCONSISTENT = "inconsistent"  # the served entries or tiles do not give the signed root
FORGED_COSIGNATURE = "forged-cosignature"


# --- the frontier ----------------------------------------------------------------------------


def frontier_append(frontier: list[bytes], size: int, leaf: bytes) -> None:
    """Add leaf hash ``leaf`` as leaf ``size`` of the tree whose frontier is ``frontier``.

    The frontier is the roots of `merkle.perfect_subtrees(0, size)`, largest first: one per set
    bit of ``size``. A new leaf merges with every subtree the carry of ``size + 1`` closes.
    """
    node = leaf
    carry = size
    while carry & 1:
        node = merkle.node_hash(frontier.pop(), node)
        carry >>= 1
    frontier.append(node)


def frontier_root(frontier: list[bytes], size: int) -> bytes:
    """MTH(D[size]) from the frontier: the right fold of its subtrees (`merkle.range_hash`)."""
    subtrees = merkle.perfect_subtrees(0, size)
    if len(subtrees) != len(frontier):
        raise ValueError(
            f"expected {len(subtrees)} frontier hashes for size {size}, got {len(frontier)}"
        )
    return merkle.range_hash(0, size, dict(zip(subtrees, frontier, strict=True)))


# --- the state folder ------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedState:
    """What the monitor has verified: the pinned key and origin, the checkpoint, its frontier."""

    verifier_key: str
    origin: str
    note: str
    size: int
    root: bytes
    frontier: tuple[bytes, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "verifier_key": self.verifier_key,
            "origin": self.origin,
            "note": self.note,
            "size": self.size,
            "root": self.root.hex(),
            "frontier": [node.hex() for node in self.frontier],
        }


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class MonitorState:
    """The monitor's state folder: load and save the verified state, the lock, the evidence."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def _fail(self, problem: str) -> MonitorStateError:
        return MonitorStateError(f"monitor state {self.directory}: {problem}")

    def _prepare(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise self._fail(f"cannot create the folder: {error.strerror}") from None
        if not self.directory.is_dir():
            raise self._fail("not a folder")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the state's lock (non-blocking); `MonitorBusy` if another run holds it."""
        self._prepare()
        try:
            descriptor = os.open(
                self.directory / LOCK_FILE,
                os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o644,
            )
        except OSError as error:
            raise self._fail(f"cannot open the lock file: {error.strerror}") from None
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise MonitorBusy(
                    f"monitor state {self.directory} is busy: another monitor run holds its lock"
                ) from None
            yield
        finally:
            os.close(descriptor)  # closing releases the lock

    def _read(self, name: str, limit: int) -> bytes | None:
        """A state file's bytes (None if absent); never through a link, never over ``limit``."""
        try:
            descriptor = os.open(
                self.directory / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            )
        except FileNotFoundError:
            return None
        except OSError as error:
            raise self._fail(f"cannot read {name}: {error.strerror}") from None
        with os.fdopen(descriptor, "rb") as stream:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise self._fail(f"{name} is not a regular file")
            data = stream.read(limit + 1)
        if len(data) > limit:
            raise self._fail(f"{name} is over {limit:,} bytes")
        return data

    def load(self) -> VerifiedState | None:
        """The verified state, or None before the first accepted checkpoint.

        Everything is checked again (the note against the pinned key, the frontier against the
        root): a state folder that was edited or damaged raises `MonitorStateError`.
        """
        data = self._read(STATE_FILE, MAX_STATE_BYTES)
        if data is None:
            return None
        try:
            document = json.loads(data)
            if document.get("format") != STATE_FORMAT:
                raise ValueError(f"expected format {STATE_FORMAT}, got {document.get('format')!r}")
            state = VerifiedState(
                verifier_key=str(document["verifier_key"]),
                origin=str(document["origin"]),
                note=str(document["note"]),
                size=int(document["size"]),
                root=bytes.fromhex(document["root"]),
                frontier=tuple(bytes.fromhex(node) for node in document["frontier"]),
            )
            if len(state.frontier) > MAX_FRONTIER:
                raise ValueError(f"over {MAX_FRONTIER} frontier hashes")
            checkpoint = verify_checkpoint(state.note, state.verifier_key, state.origin)
            if (checkpoint.size, checkpoint.root_hash) != (state.size, state.root):
                raise ValueError("the size or root differs from the verified note's")
            if frontier_root(list(state.frontier), state.size) != state.root:
                raise ValueError("the frontier does not give the verified root")
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise self._fail(f"{STATE_FILE} is damaged ({error}); it was not changed") from None
        return state

    def _write_atomically(self, name: str, data: bytes) -> None:
        """Write a file by temporary name, fsync, rename, fsync of the folder."""
        temporary = self.directory / f"{_TEMPORARY}{name}"
        with open(temporary, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, self.directory / name)
        _fsync_directory(self.directory)

    def save(self, state: VerifiedState) -> None:
        """Record ``state`` as verified: the history line first, then the state, then the copy.

        The history line first: if the run is killed before the state is replaced, the line
        still names a checkpoint that was verified, and the old state stays whole.
        """
        try:
            with open(self.directory / HISTORY_FILE, "ab") as history:
                history.write(f"{state.size} {state.root.hex()}\n".encode())
                history.flush()
                os.fsync(history.fileno())
            document = json.dumps(state.as_json(), indent=1, sort_keys=True) + "\n"
            self._write_atomically(STATE_FILE, document.encode())
            self._write_atomically(CHECKPOINT_COPY, state.note.encode())
        except OSError as error:
            raise self._fail(f"cannot save the verified state: {error}") from None

    def verified_root(self, size: int) -> bytes | None:
        """The root verified at ``size`` (from ``verified.log``), or None if none was."""
        try:
            history = open(self.directory / HISTORY_FILE, "rb")  # noqa: SIM115 (closed below)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise self._fail(f"cannot read {HISTORY_FILE}: {error.strerror}") from None
        with history:
            for raw in history:
                match = _HISTORY_LINE.fullmatch(raw.decode("ascii", "replace").rstrip("\n"))
                if match is None:
                    # A line cut by a crash mid-append is the only way to get here honestly.
                    continue
                if int(match.group(1)) == size:
                    return bytes.fromhex(match.group(2))
        return None

    def write_evidence(self, kind: str, notes: dict[str, str], detail: dict[str, Any]) -> Path:
        """A new ``evidence/<UTC time>-<kind>/`` with the notes verbatim and ``detail.json``.

        Written under a temporary name and renamed, so a folder that exists is complete.
        """
        evidence = self.directory / EVIDENCE
        try:
            evidence.mkdir(exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            name = f"{stamp}-{kind}"
            number = 1
            while (evidence / name).exists():
                number += 1
                name = f"{stamp}-{kind}-{number}"
            temporary = evidence / f"{_TEMPORARY}{name}"
            temporary.mkdir()
            files = {file_name: text.encode() for file_name, text in notes.items()}
            files["detail.json"] = (json.dumps(detail, indent=1, sort_keys=True) + "\n").encode()
            for file_name, data in files.items():
                with open(temporary / file_name, "wb") as stream:
                    stream.write(data)
                    stream.flush()
                    os.fsync(stream.fileno())
            os.rename(temporary, evidence / name)
            _fsync_directory(evidence)
        except OSError as error:
            raise self._fail(f"cannot write the evidence of a {kind} alarm: {error}") from None
        return evidence / name


# --- one run ---------------------------------------------------------------------------------


@dataclass
class MonitorReport:
    """What one run concluded (``status``, one of the module's statuses) and on what."""

    status: str
    source: str
    origin: str | None = None
    verified_size: int | None = None
    verified_root: bytes | None = None
    new_size: int | None = None
    entries_checked: int = 0
    witnesses: tuple[str, ...] = ()
    evidence: Path | None = None
    detail: str = ""
    alarm: str | None = None  # the alarm's kind, when status is ALARM

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "source": self.source,
            "origin": self.origin,
            "verified_size": self.verified_size,
            "verified_root": self.verified_root.hex() if self.verified_root else None,
            "new_size": self.new_size,
            "entries_checked": self.entries_checked,
            "witnesses": list(self.witnesses),
            "evidence": str(self.evidence) if self.evidence else None,
            "detail": self.detail,
        }


class _Contradiction(Exception):
    """The served entries or tiles do not agree with the signed checkpoint."""


@dataclass
class _Run:
    source: TileSource
    state: MonitorState
    verified: VerifiedState | None
    verifier_key: str
    policy: WitnessPolicy | None
    on_progress: Callable[[int, int], None] | None
    checked: int = 0
    witnesses: tuple[str, ...] = field(default=())

    def report(self, status: str, detail: str, **extra: Any) -> MonitorReport:
        verified = self.verified
        origin = extra.pop("origin", None)
        return MonitorReport(
            status=status,
            source=self.source.name,
            origin=verified.origin if verified else origin,
            verified_size=verified.size if verified else None,
            verified_root=verified.root if verified else None,
            entries_checked=self.checked,
            witnesses=self.witnesses,
            detail=detail,
            **extra,
        )

    def alarm(
        self, kind: str, note: str, checkpoint: Checkpoint, reason: str, **facts: Any
    ) -> MonitorReport:
        verified = self.verified
        notes = {"conflicting.checkpoint": note}
        if verified is not None:
            notes["verified.checkpoint"] = verified.note
        detail = {
            "kind": kind,
            "source": self.source.name,
            "origin": checkpoint.origin,
            "detected_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "verified_size": verified.size if verified else None,
            "verified_root": verified.root.hex() if verified else None,
            "conflicting_size": checkpoint.size,
            "conflicting_root": checkpoint.root_hash.hex(),
            "entries_checked": self.checked,
            "reason": reason,
            **facts,
        }
        evidence = self.state.write_evidence(kind, notes, detail)
        return self.report(
            ALARM,
            f"ALARM ({kind}): {reason}",
            origin=checkpoint.origin,
            new_size=checkpoint.size,
            evidence=evidence,
            alarm=kind,
        )

    def _tile(self, level: int | str, index: int, width: int, limit: int) -> tuple[str, bytes, int]:
        """A tile of the new tree, or its full tile if the partial one is gone: (path read,
        bytes, width read). c2sp.org/tlog-tiles: a log MAY delete a partial tile once the full
        tile exists, whose first ``width`` items are the partial one's.
        """
        path = tile_path(level, index, width)
        try:
            return path, self.source.read(path, limit), width
        except TileMissing:
            if width == TILE_WIDTH:
                raise
        full = tile_path(level, index, TILE_WIDTH)
        try:
            return full, self.source.read(full, limit), TILE_WIDTH
        except TileMissing:
            raise TileMissing(
                f"the source has neither {path} nor {full} ({self.source.name})"
            ) from None

    def extend(self, frontier: list[bytes], old_size: int, new_size: int) -> bytes:
        """Read the entries [old_size, new_size), check them against the level-0 tiles, extend
        ``frontier``, and return the new root; `_Contradiction` if the source disagrees."""
        total = new_size - old_size
        size = old_size
        for index in range(old_size // TILE_WIDTH, -(-new_size // TILE_WIDTH)):
            first = index * TILE_WIDTH
            width = min(TILE_WIDTH, new_size - first)
            bundle_path, bundle, read = self._tile(ENTRIES, index, width, MAX_TILE_BYTES)
            try:
                entries = decode_entry_bundle(bundle)
            except ValueError as error:
                raise _Contradiction(f"{bundle_path} is not an entry bundle: {error}") from None
            if len(entries) != read:
                raise _Contradiction(f"{bundle_path} holds {len(entries)} entries, not {read}")
            hashes = merkle.leaf_hashes(entries[:width])
            tile_path_read, tile, read = self._tile(0, index, width, TILE_WIDTH * merkle.HASH_SIZE)
            if len(tile) != read * merkle.HASH_SIZE:
                raise _Contradiction(
                    f"{tile_path_read} is {len(tile)} bytes, not {read} hashes of "
                    f"{merkle.HASH_SIZE} bytes"
                )
            served = tile[: width * merkle.HASH_SIZE]
            if served != b"".join(hashes):
                position = next(
                    (
                        k
                        for k, leaf in enumerate(hashes)
                        if served[k * merkle.HASH_SIZE : (k + 1) * merkle.HASH_SIZE] != leaf
                    ),
                    width,
                )
                raise _Contradiction(
                    f"{tile_path_read} does not hold the hashes of the entries of "
                    f"{bundle_path}: leaf {first + position} differs"
                )
            for leaf in hashes[max(0, size - first) :]:
                frontier_append(frontier, size, leaf)
                size += 1
                self.checked += 1
            if self.on_progress is not None:
                self.on_progress(self.checked, total)
        return frontier_root(frontier, new_size)


def _pin_key(key: str | None, verified: VerifiedState | None, state: MonitorState) -> str:
    if verified is not None:
        if key is not None and key.strip() != verified.verifier_key:
            raise MonitorStateError(
                f"monitor state {state.directory}: --key {key.strip()!r} differs from the key "
                f"pinned on the first run, {verified.verifier_key!r}; refused (use another "
                "state folder to follow another log)"
            )
        return verified.verifier_key
    if key is None:
        raise MonitorStateError(
            f"monitor state {state.directory} is new: pin the log's verifier key with --key "
            "on the first run"
        )
    try:
        _parse_verifier_key(key.strip())
    except MalformedError as error:
        raise MonitorStateError(f"--key: {error}") from None
    return key.strip()


def run_monitor(
    source: TileSource,
    state: MonitorState,
    key: str | None = None,
    policy: WitnessPolicy | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> MonitorReport:
    """One run of the monitor (see the module docstring): verify the source's checkpoint.

    ``key`` pins the log's verifier key on the first run (later runs use the stored one; a
    different key raises `MonitorStateError`). ``on_progress(done, total)`` is called after
    each entry bundle. Returns a `MonitorReport`; raises `MonitorStateError` for a state
    folder or key it cannot use. An unreachable source or a busy state is a report, not an
    exception.
    """
    try:
        with state.locked():
            return _run_locked(source, state, key, policy, on_progress)
    except MonitorBusy as error:
        return MonitorReport(UNREACHABLE, source.name, detail=f"busy: {error}")


def _run_locked(
    source: TileSource,
    state: MonitorState,
    key: str | None,
    policy: WitnessPolicy | None,
    on_progress: Callable[[int, int], None] | None,
) -> MonitorReport:
    verified = state.load()
    verifier = _pin_key(key, verified, state)
    run = _Run(source, state, verified, verifier, policy, on_progress)
    try:
        raw = source.read(CHECKPOINT_COPY, MAX_CHECKPOINT_BYTES)
    except SourceUnreachable as error:
        return run.report(UNREACHABLE, f"cannot read the checkpoint: {error}")
    try:
        note = raw.decode("utf-8")
        checkpoint = verify_checkpoint(note, verifier, verified.origin if verified else None)
    except (UnicodeDecodeError, VerificationError) as error:
        return run.report(REFUSED, f"the source's checkpoint is refused: {error}")
    old_size = verified.size if verified else 0
    old_root = verified.root if verified else merkle.EMPTY_ROOT
    new = checkpoint
    if new.size < old_size:
        known = state.verified_root(new.size)
        if known is not None and known != new.root_hash:
            return run.alarm(
                SPLIT_VIEW,
                note,
                new,
                f"the log signed root {new.root_hash.hex()} for size {new.size}, but "
                f"{known.hex()} was verified at that size",
                recomputed_root=known.hex(),
            )
        return run.report(
            BEHIND,
            f"the source's checkpoint (size {new.size}) is older than the verified one "
            f"(size {old_size}); nothing changed",
            new_size=new.size,
        )
    if new.size == old_size:
        if new.root_hash != old_root:
            return run.alarm(
                SPLIT_VIEW,
                note,
                new,
                f"the log signed two roots for size {new.size}: {old_root.hex()} (verified) "
                f"and {new.root_hash.hex()}",
                recomputed_root=old_root.hex(),
            )
        root = old_root
        frontier = list(verified.frontier) if verified else []
    else:
        frontier = list(verified.frontier) if verified else []
        try:
            root = run.extend(frontier, old_size, new.size)
        except SourceUnreachable as error:
            return run.report(UNREACHABLE, f"cannot read the entries: {error}", new_size=new.size)
        except _Contradiction as error:
            return run.alarm(
                INCONSISTENT,
                note,
                new,
                f"{error}; the signed checkpoint of size {new.size} cannot be verified from "
                "the served entries",
            )
        if root != new.root_hash:
            return run.alarm(
                INCONSISTENT,
                note,
                new,
                f"the verified tree of size {old_size} extended by the {new.size - old_size} "
                f"served entries has root {root.hex()}, but the log signed "
                f"{new.root_hash.hex()} for size {new.size}",
                recomputed_root=root.hex(),
            )
    if policy is not None:
        answer = _witnessed(run, note, new, policy)
        if answer is not None:
            return answer
    if verified is not None and new.size == old_size:
        return run.report(OK, f"nothing new: size {new.size}", new_size=new.size)
    accepted = VerifiedState(verifier, new.origin, note, new.size, root, tuple(frontier))
    state.save(accepted)
    run.verified = accepted
    return run.report(
        OK,
        f"verified size {new.size} ({run.checked} new entries from size {old_size})",
        new_size=new.size,
    )


def _witnessed(
    run: _Run, note: str, checkpoint: Checkpoint, policy: WitnessPolicy
) -> MonitorReport | None:
    """None when a quorum of the policy's witnesses cosigned; else the run's report."""
    from projections.translog.witnessed import check_witnesses

    try:
        verdict = check_witnesses(note, policy)
    except MalformedError as error:  # opened above, so this is not expected; never accept it
        return run.report(REFUSED, f"the checkpoint's cosignatures: {error}")
    run.witnesses = verdict.names
    if verdict.problems:
        return run.alarm(
            FORGED_COSIGNATURE,
            note,
            checkpoint,
            "a policy witness's cosignature line does not verify: " + "; ".join(verdict.problems),
        )
    if not verdict.quorum_met:
        return run.report(
            UNWITNESSED,
            f"size {checkpoint.size} is not accepted: {verdict.describe()}",
            new_size=checkpoint.size,
        )
    return None
