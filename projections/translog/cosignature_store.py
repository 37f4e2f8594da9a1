"""The witnesses' cosignatures of the log's own checkpoints, kept beside the checkpoints.

Table ``checkpoint_cosignatures``: one row per verified cosignature line of a checkpoint (its
size and root hash), which witness gave it, the witness's timestamp and when it was recorded.
Append-only, as the checkpoints are (the service role may only read and insert): a
cosignature, once verified, stays true forever, and a later one is another row.

`submit_latest` is the one application method the doors call: it takes (or signs) the latest
checkpoint, submits it to the policy's witnesses (`witness_policy.submit_checkpoint`), with the
consistency proofs from the log, and stores the cosignatures that verified.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from projections.runner import ViewRecorder
from projections.translog.recorders import StoredCheckpoint
from projections.translog.service import LogService
from projections.translog.witness_policy import (
    COSIGNATURES_TABLE,
    Post,
    SubmissionReport,
    WitnessPolicy,
    submit_checkpoint,
)

__all__ = ["COSIGNATURES_TABLE", "CosignatureStore", "StoredCosignature", "submit_latest"]


@dataclass(frozen=True)
class StoredCosignature:
    """One verified cosignature line of one checkpoint."""

    size: int
    root_hash: bytes
    witness: str
    cosignature: str
    cosigned_at: int
    recorded_at: str


class CosignatureStore:
    """The ``checkpoint_cosignatures`` table, on either backend."""

    def __init__(self, recorder: ViewRecorder) -> None:
        self.recorder = recorder
        # Statements built once from constants and the recorder's placeholder, never input.
        p = recorder.param
        blob = "BYTEA" if p == "%s" else "BLOB"
        table = COSIGNATURES_TABLE
        self._create = (
            f"CREATE TABLE IF NOT EXISTS {table} (tree_size BIGINT NOT NULL, "
            f"root_hash {blob} NOT NULL, witness TEXT NOT NULL, cosignature TEXT NOT NULL, "
            "cosigned_at BIGINT NOT NULL, recorded_at TEXT NOT NULL, "
            "PRIMARY KEY (tree_size, root_hash, cosignature))"
        )
        self._insert = (
            f"INSERT INTO {table} (tree_size, root_hash, witness, cosignature, "  # noqa: S608
            f"cosigned_at, recorded_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}) "
            "ON CONFLICT DO NOTHING"
        )
        self._select = (
            "SELECT tree_size, root_hash, witness, cosignature, cosigned_at, recorded_at "  # noqa: S608
            f"FROM {table} WHERE tree_size = {p} AND root_hash = {p} "
            "ORDER BY witness, cosigned_at"
        )
        self._largest = f"SELECT MAX(tree_size) FROM {table} WHERE tree_size <= {p}"  # noqa: S608
        self._page = (
            "SELECT tree_size, root_hash, witness, cosignature, cosigned_at, recorded_at "  # noqa: S608
            f"FROM {table} WHERE (tree_size, root_hash, cosignature) > ({p}, {p}, {p}) "
            f"ORDER BY tree_size, root_hash, cosignature LIMIT {p}"
        )

    def create_table(self) -> None:
        """Create the table (idempotent; run with the store's schema, `api.bootstrap`)."""
        with self.recorder.transaction() as cursor:
            self.recorder.execute(cursor, self._create)

    def record(self, checkpoint: StoredCheckpoint, report: SubmissionReport, now: str) -> None:
        """Append every verified cosignature of `report` (a line stored before is kept once)."""
        with self.recorder.transaction() as cursor:
            for outcome in report.outcomes:
                if outcome.cosignature is None or outcome.timestamp is None:
                    continue
                params = (
                    checkpoint.size,
                    checkpoint.root_hash,
                    outcome.witness,
                    outcome.cosignature,
                    outcome.timestamp,
                    now,
                )
                self.recorder.execute(cursor, self._insert, params)

    def cosignatures(self, checkpoint: StoredCheckpoint) -> list[StoredCosignature]:
        """The stored cosignatures of `checkpoint`, by witness then time."""
        rows = self.recorder.fetch(self._select, (checkpoint.size, checkpoint.root_hash))
        return [_stored(row) for row in rows]

    def every_cosignature(self, page: int = 1000) -> Iterator[StoredCosignature]:
        """Every stored cosignature, by size, a page at a time (for `verify`)."""
        after: tuple[int, bytes, str] = (-1, b"", "")
        while True:
            rows = self.recorder.fetch(self._page, (*after, page))
            for row in rows:
                yield _stored(row)
            if len(rows) < page:
                return
            last = rows[-1]
            after = (int(last[0]), bytes(last[1]), str(last[3]))

    def quorum_candidates(
        self, witnesses: Sequence[str], quorum: int, limit: int
    ) -> list[tuple[int, bytes]]:
        """The largest (size, root) pairs cosigned by at least `quorum` of `witnesses`.

        Only a candidate list: the caller re-verifies every line before it counts one.
        """
        if not witnesses:
            return []
        p = self.recorder.param
        marks = ", ".join([p] * len(witnesses))
        statement = (
            f"SELECT tree_size, root_hash FROM {COSIGNATURES_TABLE} "  # noqa: S608
            f"WHERE witness IN ({marks}) GROUP BY tree_size, root_hash "
            f"HAVING COUNT(DISTINCT witness) >= {p} ORDER BY tree_size DESC LIMIT {p}"
        )
        rows = self.recorder.fetch(statement, (*witnesses, quorum, limit))
        return [(int(r[0]), bytes(r[1])) for r in rows]

    def largest_cosigned_size(self, at_most: int) -> int:
        """The largest checkpoint size with a stored cosignature, up to `at_most` (0 if none)."""
        rows = self.recorder.fetch(self._largest, (at_most,))
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0


def _stored(r: tuple[Any, ...]) -> StoredCosignature:
    return StoredCosignature(int(r[0]), bytes(r[1]), str(r[2]), str(r[3]), int(r[4]), str(r[5]))


def submit_latest(
    log: LogService,
    store: CosignatureStore,
    policy: WitnessPolicy,
    post: Post,
    *,
    sign: bool,
) -> tuple[StoredCheckpoint, SubmissionReport]:
    """Submit the latest checkpoint (signing one first if `sign`) and store its cosignatures.

    Each witness is first asked from the largest size cosigned before (most witnesses are
    there); one that is elsewhere answers 409 and is asked again from its own size.
    """
    checkpoint = log.sign_checkpoint() if sign else log.latest_checkpoint()
    size = checkpoint.size

    def proof_from(old: int) -> list[bytes]:
        return log.consistency_proof(old, size).path

    old = store.largest_cosigned_size(size)
    proof = proof_from(old) if 0 < old < size else []
    report = submit_checkpoint(policy, checkpoint.note, old, proof, post, proof_from)
    store.record(checkpoint, report, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    return checkpoint, report
