"""Reliquary as a witness: the ``add-checkpoint`` call of C2SP tlog-witness v1.

A witness keeps, for each log it is configured for (an origin and the log's verifier keys),
the latest checkpoint it cosigned: its size and root hash (table ``witness_state``). A
submission is a request body (c2sp.org/tlog-witness, "add-checkpoint")::

    old <size>\\n
    <base64 consistency proof hash>\\n   (zero to 63 lines)
    \\n
    <signed checkpoint note>

and the answer is exactly one of the spec's, checked in its order:

- 400: the body is malformed, or ``old`` exceeds the checkpoint's size (413: over the limit);
- 404: the checkpoint's origin is not configured here;
- 403: no signature by a configured key of that log verifies;
- 409 (``text/x.tlog.size``, the witness's size and a newline): ``old`` is not the size of the
  latest checkpoint cosigned for the origin (0 if none), or the sizes are equal and the roots
  differ;
- 422: the consistency proof from the stored tree to the new one does not verify (a non-empty
  proof when ``old`` is 0 is refused the same way);
- 200 (``text/plain``): the cosignature line, after the new state is stored.

The check of ``old`` and the write of the new state are one compare-and-swap in one
transaction (an insert that does nothing if the origin has a row, or an update that matches
only the size and root that were checked), so of two racing submissions at most one moves the
state; the other is answered 409 with the size that won. The state only moves forward along
verified consistency proofs, so the witness never cosigns two different roots for one size.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.errors import Kind, LedgerError, MalformedError, ProofError, VerificationError
from projections.runner import ViewRecorder
from projections.translog.checkpoint import MAX_UINT64, Checkpoint, open_note
from projections.translog.cosignature import cosign, cosigner_verifier_key, generate_cosigner_key
from projections.translog.keys import load_signing_key
from projections.translog.merkle import verify_consistency

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_PROOF_LINES",
    "SIZE_CONTENT_TYPE",
    "WITNESS_STATE_TABLE",
    "LogEntry",
    "Witness",
    "WitnessAnswer",
    "WitnessConfigError",
    "WitnessState",
    "create_witness_key",
    "load_witness_config",
    "parse_submission",
    "witness_verifier_key",
]

WITNESS_STATE_TABLE = "witness_state"
# c2sp.org/tlog-witness, "add-checkpoint": "The client MUST NOT send more than 63 consistency
# proof lines" (a tree of 2**64 leaves needs no more).
MAX_PROOF_LINES = 63
# The largest body taken: 63 proof lines (45 bytes each), the old line, and a checkpoint note
# with its signatures (at most 100, `checkpoint.MAX_SIGNATURES`, of a few hundred bytes each).
MAX_BODY_BYTES = 64 * 1024
# c2sp.org/tlog-witness, "add-checkpoint": the Content-Type of a 409's body.
SIZE_CONTENT_TYPE = "text/x.tlog.size"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
# The most logs one witness configuration may list: every submission looks its origin up.
MAX_LOGS = 10_000

_OLD_LINE = re.compile(r"old (0|[1-9][0-9]*)")
_HASH_SIZE = 32


class WitnessConfigError(LedgerError):
    """The witness's configuration file cannot be used; says which file and why.

    Kept beside the witness rather than in `domain.errors`: only a witness's start raises it.
    """

    rule = "witness-config"
    kind = Kind.INVALID


@dataclass(frozen=True)
class LogEntry:
    """One log this witness cosigns: its origin and the verifier keys it trusts for it."""

    origin: str
    verifier_keys: tuple[str, ...]


@dataclass(frozen=True)
class WitnessAnswer:
    """An HTTP answer exactly as c2sp.org/tlog-witness prescribes: status, type, body."""

    status: int
    body: str
    content_type: str = TEXT_CONTENT_TYPE


@dataclass(frozen=True)
class WitnessState:
    """The latest checkpoint the witness cosigned for one origin."""

    origin: str
    size: int
    root_hash: bytes


@dataclass(frozen=True)
class Submission:
    """A parsed ``add-checkpoint`` body."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str


def load_witness_config(path: Path) -> dict[str, LogEntry]:
    """Read the witness configuration: ``{"logs": [{"origin": ..., "verifier_key": ...}]}``.

    An origin may be listed more than once (a log with several keys, as during a rotation);
    every key must be a well-formed note verifier key. Raises `WitnessConfigError`.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WitnessConfigError(f"witness configuration {path}: {error}") from None
    logs = document.get("logs") if isinstance(document, dict) else None
    if not isinstance(logs, list) or not logs:
        raise WitnessConfigError(f"witness configuration {path}: expected a non-empty 'logs' list")
    if len(logs) > MAX_LOGS:
        raise WitnessConfigError(
            f"witness configuration {path}: expected at most {MAX_LOGS} logs, got {len(logs)}"
        )
    keys: dict[str, list[str]] = {}
    for number, log in enumerate(logs, 1):
        if not isinstance(log, dict) or set(log) != {"origin", "verifier_key"}:
            raise WitnessConfigError(
                f"witness configuration {path}: log {number}: expected exactly "
                "'origin' and 'verifier_key'"
            )
        origin, key = log["origin"], log["verifier_key"]
        if not isinstance(origin, str) or not isinstance(key, str):
            raise WitnessConfigError(
                f"witness configuration {path}: log {number}: expected strings"
            )
        try:
            Checkpoint(origin, 0, bytes(_HASH_SIZE))  # the origin must fit a checkpoint
            _check_verifier_key(key)
        except MalformedError as error:
            raise WitnessConfigError(
                f"witness configuration {path}: log {number}: {error}"
            ) from None
        keys.setdefault(origin, []).append(key)
    return {origin: LogEntry(origin, tuple(found)) for origin, found in keys.items()}


def _check_verifier_key(key: str) -> None:
    from projections.translog.checkpoint import _parse_verifier_key

    _parse_verifier_key(key)


def parse_submission(body: bytes) -> Submission:
    """Split an ``add-checkpoint`` body into old size, proof and note; `MalformedError` if bad.

    Limits: `MAX_BODY_BYTES` (checked by the caller first, as the answer differs),
    `MAX_PROOF_LINES`; sizes fit in 64 bits; hashes are canonical base64 of 32 bytes.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError("malformed submission: the body is not UTF-8") from None
    head, separator, note = text.partition("\n\n")
    if not separator:
        raise MalformedError("malformed submission: no empty line before the checkpoint")
    lines = head.split("\n")
    match = _OLD_LINE.fullmatch(lines[0])
    if not match:
        raise MalformedError(
            f"malformed submission: expected the first line 'old <size>', got {lines[0][:80]!r}"
        )
    old_size = int(match.group(1))
    if old_size > MAX_UINT64:
        raise MalformedError("malformed submission: old size does not fit in 64 bits")
    proof_lines = lines[1:]
    if len(proof_lines) > MAX_PROOF_LINES:
        raise MalformedError(
            f"malformed submission: expected at most {MAX_PROOF_LINES} consistency proof "
            f"lines, got {len(proof_lines)}"
        )
    proof = tuple(_proof_hash(number, line) for number, line in enumerate(proof_lines, 1))
    if not note:
        raise MalformedError("malformed submission: no checkpoint after the empty line")
    return Submission(old_size, proof, note)


def _proof_hash(number: int, line: str) -> bytes:
    try:
        digest = base64.b64decode(line.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise MalformedError(f"malformed submission: proof line {number} is not base64") from None
    if len(digest) != _HASH_SIZE or base64.b64encode(digest).decode("ascii") != line:
        raise MalformedError(
            f"malformed submission: proof line {number} is not the canonical base64 of a "
            f"{_HASH_SIZE}-byte hash"
        )
    return digest


class WitnessStore:
    """The ``witness_state`` table, beside the events, on either backend."""

    def __init__(self, recorder: ViewRecorder) -> None:
        self.recorder = recorder
        # Statements built once from constants and the recorder's placeholder, never input.
        p = recorder.param
        blob = "BYTEA" if p == "%s" else "BLOB"
        table = WITNESS_STATE_TABLE
        self._create = (
            f"CREATE TABLE IF NOT EXISTS {table} (origin TEXT PRIMARY KEY, "
            f"tree_size BIGINT NOT NULL, root_hash {blob} NOT NULL, note TEXT NOT NULL, "
            "updated_at TEXT NOT NULL)"
        )
        self._select = f"SELECT tree_size, root_hash FROM {table} WHERE origin = {p}"  # noqa: S608
        self._insert = (
            f"INSERT INTO {table} (origin, tree_size, root_hash, note, updated_at) "  # noqa: S608
            f"VALUES ({p}, {p}, {p}, {p}, {p}) ON CONFLICT (origin) DO NOTHING RETURNING origin"
        )
        self._update = (
            f"UPDATE {table} SET tree_size = {p}, root_hash = {p}, note = {p}, "  # noqa: S608
            f"updated_at = {p} WHERE origin = {p} AND tree_size = {p} AND root_hash = {p} "
            "RETURNING origin"
        )

    def create_table(self) -> None:
        """Create the table (idempotent; run with the store's schema, `api.bootstrap`)."""
        with self.recorder.transaction() as cursor:
            self.recorder.execute(cursor, self._create)

    def state(self, origin: str) -> WitnessState | None:
        """The latest cosigned size and root for `origin`, or None if never cosigned."""
        rows = self.recorder.fetch(self._select, (origin,))
        return WitnessState(origin, int(rows[0][0]), bytes(rows[0][1])) if rows else None

    def advance(
        self, expected: WitnessState | None, checkpoint: Checkpoint, note: str, now: str
    ) -> bool:
        """Move the origin's state from `expected` to `checkpoint`, if it is still `expected`.

        One statement in one transaction, so it is the compare and the swap at once: an insert
        that does nothing when a row exists, or an update matching the expected size and root.
        Returns whether `expected` was still the state (and `checkpoint` now is).
        """
        with self.recorder.transaction() as cursor:
            if expected is None:
                params: tuple[Any, ...] = (
                    checkpoint.origin,
                    checkpoint.size,
                    checkpoint.root_hash,
                    note,
                    now,
                )
                self.recorder.execute(cursor, self._insert, params)
            else:
                params = (
                    checkpoint.size,
                    checkpoint.root_hash,
                    note,
                    now,
                    expected.origin,
                    expected.size,
                    expected.root_hash,
                )
                self.recorder.execute(cursor, self._update, params)
            return _rowcount(cursor) == 1


def _rowcount(cursor: Any) -> int:
    # RETURNING, not ``rowcount``: in psycopg's pipeline mode (`PostgresViewRecorder`) a
    # statement's row count is not known until its results are fetched.
    return len(cursor.fetchall())


class Witness:
    """The witness side of c2sp.org/tlog-witness: one method per call, `add_checkpoint`."""

    def __init__(
        self,
        logs: dict[str, LogEntry],
        signing_key: str,
        store: WitnessStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.logs = logs
        self.signing_key = signing_key
        self.store = store
        self.clock = clock

    def add_checkpoint(self, body: bytes) -> WitnessAnswer:
        """Check a submission and cosign it, or answer why not (see the module docstring)."""
        if len(body) > MAX_BODY_BYTES:
            return WitnessAnswer(413, f"the body exceeds {MAX_BODY_BYTES} bytes\n")
        try:
            submission = parse_submission(body)
            text = _note_text(submission.note)
            checkpoint = Checkpoint.parse(text)
        except MalformedError as error:
            return WitnessAnswer(400, f"{error}\n")
        log = self.logs.get(checkpoint.origin)
        if log is None:
            return WitnessAnswer(404, f"unknown log origin {checkpoint.origin!r}\n")
        if not _signed_by_any(submission.note, log.verifier_keys):
            return WitnessAnswer(403, "no signature by a key of this log verifies\n")
        if submission.old_size > checkpoint.size:
            return WitnessAnswer(
                400, f"old size {submission.old_size} exceeds the checkpoint size\n"
            )
        stored = self.store.state(checkpoint.origin)
        answer = self._check(stored, submission, checkpoint)
        if answer is not None:
            return answer
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock()))
        # Even at the stored size the swap runs: it confirms that state is still the latest
        # (a cosignature says "the largest tree seen as of now"), or loses to the racer.
        if not self.store.advance(stored, checkpoint, submission.note, now):
            # Another submission moved the state between the check and the swap.
            return self._conflict(self.store.state(checkpoint.origin))
        return WitnessAnswer(200, cosign(submission.note, self.signing_key, int(self.clock())))

    def _check(
        self, stored: WitnessState | None, submission: Submission, checkpoint: Checkpoint
    ) -> WitnessAnswer | None:
        size = stored.size if stored else 0
        if submission.old_size != size:
            return self._conflict(stored)
        if stored is not None and stored.size == checkpoint.size:
            if stored.root_hash != checkpoint.root_hash:
                return self._conflict(stored)  # the spec's answer to a fork at one size
            if submission.proof:
                return WitnessAnswer(422, "expected an empty proof between equal sizes\n")
            return None
        if stored is None or stored.size == 0:
            # Every tree extends the empty one; RFC 9162 defines no proof from it.
            if submission.proof:
                return WitnessAnswer(422, "expected an empty proof from old size 0\n")
            return None
        try:
            verify_consistency(
                stored.size,
                checkpoint.size,
                stored.root_hash,
                checkpoint.root_hash,
                list(submission.proof),
            )
        except ProofError as error:
            return WitnessAnswer(422, f"the consistency proof does not verify: {error}\n")
        return None

    @staticmethod
    def _conflict(stored: WitnessState | None) -> WitnessAnswer:
        return WitnessAnswer(409, f"{stored.size if stored else 0}\n", SIZE_CONTENT_TYPE)


def _note_text(note: str) -> str:
    from projections.translog.checkpoint import _split_note

    text, _ = _split_note(note)
    return text


def _signed_by_any(note: str, verifier_keys: Sequence[str]) -> bool:
    """Whether a signature by one of the log's keys verifies (others' lines are ignored)."""
    for key in verifier_keys:
        try:
            open_note(note, key)
        except VerificationError:
            continue
        return True
    return False


def create_witness_key(path: Path, name: str) -> bool:
    """Create the witness's cosigner key file if it does not exist; return whether it was.

    Mode 0600 from the first byte, never overwriting (as the ledger's key, `keys`): a witness
    whose key changed is a new witness, which every log's policy would have to be told about.
    """
    if path.exists():
        return False
    key = generate_cosigner_key(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key + "\n")
    return True


def witness_verifier_key(path: Path) -> str:
    """The public vkey of the witness key at `path` (type 0x04), refusing a readable file."""
    return cosigner_verifier_key(load_signing_key(path))
