"""The transparency log as a projection of the ledger: follow the events, keep the tree.

`TransparencyLog.catch_up` reads the notification log after the last event it took (the
library's tracking record), turns each event into its leaf (``leaves.py``) at the next index,
extends the tree by the perfect subtrees each new leaf completes (an append costs O(log n)),
and writes leaves, nodes and tracking in one transaction. A root, an inclusion proof or a
consistency proof for any size reads only the O(log n) stored nodes it needs, in one query.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import IntegrityError, OperationalError, Tracking

from domain.errors import LogError
from projections.translog import merkle
from projections.translog.checkpoint import (
    Checkpoint,
    sign_checkpoint,
    verifier_key,
    verify_checkpoint,
)
from projections.translog.feed import leaf_feed
from projections.translog.recorders import Leaf, LogQueries, LogRecorder, StoredCheckpoint

if TYPE_CHECKING:
    from domain.ledger import Ledger


@dataclass(frozen=True)
class InclusionProof:
    """Proof that the leaf at ``index`` is in the tree of ``size`` leaves."""

    index: int
    size: int
    leaf_hash: bytes
    path: list[bytes]
    root: bytes


@dataclass(frozen=True)
class ConsistencyProof:
    """Proof that the tree of ``old_size`` leaves is a prefix of the tree of ``new_size``."""

    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    path: list[bytes]


@dataclass
class _Cursor:
    """Where the log stands, as this process last wrote or read it."""

    position: int
    size: int
    frontier: dict[merkle.Node, bytes]
    names: dict[str, str]


class TransparencyLog:
    """The ledger's Merkle tree, checkpoints and proofs."""

    batch_size = 1000

    def __init__(self, ledger: Ledger, recorder: LogRecorder, origin: str) -> None:
        self.ledger = ledger
        self.recorder = recorder
        self.origin = origin
        self._cursor: _Cursor | None = None

    # -- following the ledger ------------------------------------------------------------------

    def catch_up(self, on_progress: Callable[[int], None] | None = None) -> int:
        """Take every event not yet in the log; return how many were taken."""
        taken = 0
        busy = conflicts = 0
        while True:
            try:
                count = self._take_batch()
            except IntegrityError as error:
                # Another process took these events first: reload where the log stands. A
                # conflict that persists is not a race but a damaged log: report it.
                self._cursor = None
                conflicts += 1
                if conflicts > 50:
                    raise LogError(
                        f"the transparency log cannot take the next events: {error}; "
                        "run `reliquary verify` to find what no longer matches"
                    ) from None
                continue
            except OperationalError as error:
                # SQLite refuses a second writer at once ("database is locked"): wait a
                # little and retry, a bounded number of times.
                self._cursor = None
                busy += 1
                if "locked" not in str(error) or busy > 50:
                    raise
                time.sleep(random.uniform(0.005, 0.05))  # noqa: S311 (jitter, not crypto)
                continue
            taken += count
            if count and on_progress:
                on_progress(count)
            if count < self.batch_size:
                return taken

    def pending(self) -> int:
        """How many events the log has not taken yet (for status and progress bars)."""
        head = self.ledger.recorder.max_notification_id() or 0
        position = self.recorder.max_tracking_id(self.ledger.name) or 0
        if head <= position:
            return 0
        # On PostgreSQL ids have gaps, so count rather than subtract.
        return sum(1 for _ in self.ledger.notifications_after(position))

    def _where_the_log_stands(self) -> _Cursor:
        """The last event taken, the size, the right edge and the names, read once."""
        if self._cursor is None:
            size = self.recorder.size()
            self._cursor = _Cursor(
                position=self.recorder.max_tracking_id(self.ledger.name) or 0,
                size=size,
                frontier=self.recorder.nodes(merkle.perfect_subtrees(0, size)),
                names=self.recorder.model_names(),
            )
        return self._cursor

    def _take_batch(self) -> int:
        # The cursor is this process's memory of the log. If another process has appended
        # since, the batch below reuses indexes it took, the insert fails on their primary
        # key (IntegrityError), and catch_up reloads the cursor: stale memory never writes.
        cursor = self._where_the_log_stands()
        names = dict(cursor.names)
        feed = leaf_feed(
            self.ledger,
            after=cursor.position,
            first_sequence=cursor.size,
            names=names,
            page=self.batch_size,
        )
        entries = list(itertools.islice(feed, self.batch_size))
        if not entries:
            return 0
        frontier = dict(cursor.frontier)
        new_nodes: dict[merkle.Node, bytes] = {}
        for entry in entries:
            append_leaf(frontier, new_nodes, entry.sequence, merkle.leaf_hash(entry.leaf))
        last = entries[-1].notification
        self.recorder.append(
            leaves=[
                Leaf(e.sequence, e.notification.id, e.model_id, e.notification.originator_version)
                for e in entries
            ],
            nodes=new_nodes,
            models={e.model_id: e.model for e in entries if e.registers_model},
            tracking=Tracking(self.ledger.name, last.id),
        )
        cursor.position = last.id
        cursor.size += len(entries)
        cursor.frontier = frontier
        cursor.names = names
        return len(entries)

    # -- reading the tree ----------------------------------------------------------------------

    def size(self) -> int:
        """The number of leaves in the log."""
        return self.recorder.size()

    def root(self, size: int | None = None) -> bytes:
        """The root hash of the tree of ``size`` leaves (the whole log by default)."""
        size = self._size(size)
        if size == 0:
            return merkle.EMPTY_ROOT
        nodes = self.recorder.nodes(merkle.perfect_subtrees(0, size))
        return merkle.range_hash(0, size, nodes)

    def inclusion_proof(self, index: int, size: int | None = None) -> InclusionProof:
        """Prove the leaf at ``index`` (its sequence number) is in the tree of ``size``."""
        size = self._size(size)
        if not 0 <= index < size:
            raise LogError(f"sequence {index} is not in a tree of {size} events")
        ranges = merkle.inclusion_ranges(index, size)
        wanted = merkle.nodes_needed(ranges) | set(merkle.perfect_subtrees(0, size))
        wanted.add((0, index))
        nodes = self.recorder.nodes(wanted)
        return InclusionProof(
            index=index,
            size=size,
            leaf_hash=nodes[(0, index)],
            path=merkle.inclusion_proof(index, size, nodes),
            root=merkle.range_hash(0, size, nodes),
        )

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """Prove the tree of ``old_size`` leaves is a prefix of the tree of ``new_size``."""
        new_size = self._size(new_size)
        if not 0 < old_size <= new_size:
            raise LogError(
                f"a consistency proof needs 0 < old size <= new size; got {old_size} and {new_size}"
            )
        ranges = merkle.consistency_ranges(old_size, new_size)
        wanted = (
            merkle.nodes_needed(ranges)
            | set(merkle.perfect_subtrees(0, old_size))
            | set(merkle.perfect_subtrees(0, new_size))
        )
        nodes = self.recorder.nodes(wanted)
        return ConsistencyProof(
            old_size=old_size,
            new_size=new_size,
            old_root=merkle.range_hash(0, old_size, nodes),
            new_root=merkle.range_hash(0, new_size, nodes),
            path=merkle.consistency_proof(old_size, new_size, nodes),
        )

    def sequence_of(self, model_id: str, version: int) -> int:
        """The sequence number (leaf index) of a model's version."""
        index = self.recorder.leaf_index(model_id, version)
        if index is None:
            raise LogError(f"version {version} of model {model_id} is not in the log yet")
        return index

    def _size(self, size: int | None) -> int:
        current = self.recorder.size()
        if size is None:
            return current
        if not 0 <= size <= current:
            raise LogError(f"the log has {current} events; there is no tree of size {size}")
        return size

    # -- checkpoints ---------------------------------------------------------------------------

    def checkpoint(self, signing_key: str) -> StoredCheckpoint:
        """Sign a checkpoint of the whole log (after catching up) and keep it.

        When the log has not grown since the latest checkpoint this key signed, that one is
        returned and nothing is signed: one checkpoint per tree size and key.
        """
        signed = self.sign_if_grown(signing_key)
        latest = signed or self.recorder.latest_checkpoint()
        if latest is None:  # sign_if_grown signs unless a checkpoint covers the log
            raise LogError("the log has no checkpoint, and none was signed")
        return latest

    def sign_if_grown(self, signing_key: str) -> StoredCheckpoint | None:
        """Catch up; sign and keep a checkpoint of the whole log if it grew, else None.

        "Grew" means: the latest checkpoint is of a smaller size, or was signed by another key
        (after a rotation the same tree is signed again under the new one). Only writers call
        this (`reliquary checkpoint`, the service's log follower); a read never signs.
        """
        self.catch_up()
        size = self.size()
        latest = self.recorder.latest_checkpoint()
        if latest is not None and latest.size == size and _signed_by(latest.note, signing_key):
            return None
        root = self.root(size)
        note = sign_checkpoint(
            Checkpoint(origin=self.origin, size=size, root_hash=root), signing_key
        )
        stored = StoredCheckpoint(
            size=size,
            root_hash=root,
            note=note,
            signed_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        )
        self.recorder.add_checkpoint(stored)
        return stored

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every checkpoint the log has signed, oldest first (unbounded: for `verify`)."""
        return self.recorder.checkpoints()

    def checkpoints_of_size(self, size: int) -> list[StoredCheckpoint]:
        """The checkpoints of one tree size, in the order signed (one per key, at most a few)."""
        if isinstance(self.recorder, LogQueries):
            rows = self.recorder._rows(
                _CHECKPOINT_COLUMNS + " WHERE tree_size = {p} ORDER BY id", (size,)
            )
            return [_stored(row[1:]) for row in rows]
        return [c for c in self.recorder.checkpoints() if c.size == size]

    def checkpoint_page(self, after: int, limit: int) -> tuple[list[StoredCheckpoint], int | None]:
        """Up to ``limit`` checkpoints signed after the cursor ``after``, oldest first.

        The cursor is the checkpoint's position in signing order (its row id: increasing, with
        gaps on PostgreSQL); 0 starts at the first. Returns the page and the cursor of the next
        page, or None when this page is the last. One indexed query of ``limit + 1`` rows.
        """
        if isinstance(self.recorder, LogQueries):
            rows = self.recorder._rows(
                _CHECKPOINT_COLUMNS + " WHERE id > {p} ORDER BY id LIMIT {p}", (after, limit + 1)
            )
            numbered = [(int(row[0]), _stored(row[1:])) for row in rows]
        else:  # a recorder without SQL (a test's): number them 1, 2, ...
            everything = enumerate(self.recorder.checkpoints(), start=1)
            numbered = [(n, c) for n, c in everything if n > after][: limit + 1]
        page = numbered[:limit]
        more = len(numbered) > limit
        return [c for _, c in page], (page[-1][0] if more and page else None)


class AtCheckpoint(TransparencyLog):
    """The log as of one signed checkpoint: `checkpoint` returns it and signs nothing.

    For code written against `TransparencyLog.checkpoint` (such as `bundle.export_bundle`) that
    must use a checkpoint already signed rather than sign one: a read never signs.
    """

    def __init__(self, log: TransparencyLog, signed: StoredCheckpoint) -> None:
        super().__init__(log.ledger, log.recorder, log.origin)
        self.signed = signed

    def checkpoint(self, signing_key: str) -> StoredCheckpoint:  # noqa: ARG002 (never signs)
        """The checkpoint this view is of."""
        return self.signed

    def sign_if_grown(self, signing_key: str) -> StoredCheckpoint | None:  # noqa: ARG002
        """Never signs."""
        return None


_CHECKPOINT_COLUMNS = "SELECT id, tree_size, root_hash, note, signed_at FROM {checkpoints}"


def _stored(row: tuple[Any, ...]) -> StoredCheckpoint:
    size, root_hash, note, signed_at = row
    return StoredCheckpoint(int(size), bytes(root_hash), note, signed_at)


def _signed_by(note: str, signing_key: str) -> bool:
    """Whether a checkpoint carries a valid signature by this key (after a rotation, it may not)."""
    try:
        verify_checkpoint(note, verifier_key(signing_key))
    except ValueError:
        return False
    return True


def append_leaf(
    frontier: dict[merkle.Node, bytes],
    new_nodes: dict[merkle.Node, bytes],
    index: int,
    digest: bytes,
) -> None:
    """Add leaf ``index`` and every perfect subtree it completes (O(log n) work).

    ``frontier`` holds exactly the maximal perfect subtrees of the tree so far (at most
    log2(n) + 1 of them); each subtree the leaf completes is also put in ``new_nodes``.
    """
    level, position = 0, index
    new_nodes[(level, position)] = digest
    while position % 2 == 1:
        left = frontier.pop((level, position - 1))
        digest = merkle.node_hash(left, digest)
        level, position = level + 1, position // 2
        new_nodes[(level, position)] = digest
    frontier[(level, position)] = digest
