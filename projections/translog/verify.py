"""Verify the transparency log against the events, as an auditor does.

One pass over the ledger, in order: recompute every leaf from the stored event, rebuild the
tree from those leaves, and compare each leaf and each node with what is stored; check every
stored checkpoint's signature and that its root is the recomputed root at its size; and, given
a checkpoint a reviewer kept, check that the current tree extends it (its root recomputed at
its size, and a consistency proof from the stored nodes that verifies per RFC 9162 2.1.4.2).
The first mismatch is named by its sequence number. Memory stays bounded: only the tree's
right edge (at most log2(n) + 1 hashes) is kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from domain.errors import LogDamaged
from projections.translog import merkle
from projections.translog.checkpoint import Checkpoint, verify_checkpoint
from projections.translog.feed import leaf_feed
from projections.translog.recorders import StoredCheckpoint
from projections.translog.tree import TransparencyLog, append_leaf


@dataclass
class Report:
    """What verification found: ``ok`` only if every check held."""

    events: int = 0
    checkpoints_checked: int = 0
    root: bytes = b""
    first_bad_sequence: int | None = None
    problems: list[str] = field(default_factory=list)
    extends_kept_checkpoint: bool | None = None

    @property
    def ok(self) -> bool:
        """Whether everything matched."""
        return not self.problems

    def fail(self, message: str, sequence: int | None = None) -> None:
        """Record a problem (the first sequence named is the one reported)."""
        self.problems.append(message)
        if sequence is not None and self.first_bad_sequence is None:
            self.first_bad_sequence = sequence


def verify_log(
    log: TransparencyLog,
    verifiers: str | Sequence[str],
    kept_checkpoint: str | None = None,
    on_progress: Callable[[int], None] | None = None,
    page: int = 2000,
) -> Report:
    """Recompute and compare everything; see the module docstring.

    ``verifiers`` are the keys a checkpoint may be signed by: the current one, and after a
    rotation the earlier ones too.
    """
    trusted = [verifiers] if isinstance(verifiers, str) else list(verifiers)
    report = Report()
    kept = _open_kept(kept_checkpoint, trusted, report)
    # A damaged log cannot take every event; the pass below names the one it cannot.
    with contextlib.suppress(LogDamaged):
        log.catch_up()
    stored_checkpoints: dict[int, list[StoredCheckpoint]] = {}
    for checkpoint in log.checkpoints():
        stored_checkpoints.setdefault(checkpoint.size, []).append(checkpoint)
    wanted_sizes = set(stored_checkpoints) | ({kept.size} if kept else set())
    roots: dict[int, bytes] = {0: merkle.EMPTY_ROOT}

    frontier: dict[merkle.Node, bytes] = {}
    computed: dict[merkle.Node, bytes] = {}
    logged: dict[int, int] = {}
    index = 0
    try:
        for entry in leaf_feed(log.ledger, page=page):
            if index % page == 0:
                # A page: the stored leaves it should match, and its nodes compared at its end.
                _compare_nodes(log, computed, report)
                computed = {}
                logged = {x.index: x.notification_id for x in log.recorder.leaves(index, page)}
                if on_progress and index:
                    on_progress(page)
            taken = logged.get(entry.sequence)
            if taken is not None and taken != entry.notification.id:
                report.fail(
                    f"sequence {index}: the log's leaf is event #{taken} "
                    f"but the ledger's event at this position is #{entry.notification.id}",
                    index,
                )
            append_leaf(frontier, computed, index, merkle.leaf_hash(entry.leaf))
            index += 1
            if index in wanted_sizes:
                roots[index] = merkle.range_hash(0, index, frontier)
    except LogDamaged as damaged:
        report.fail(str(damaged), index)
    _compare_nodes(log, computed, report)
    if on_progress and index:
        on_progress(index - (index - 1) // page * page)  # the last page, full or not
    report.events = index
    stored_size = log.size()
    if stored_size != index:
        report.fail(
            f"the ledger has {index} events but the log has {stored_size} leaves",
            min(index, stored_size),
        )
    report.root = merkle.range_hash(0, index, frontier) if index else merkle.EMPTY_ROOT
    roots[index] = report.root
    _check_checkpoints(stored_checkpoints, roots, trusted, report)
    if kept is not None:
        _check_kept(log, kept, roots, report)
    return report


def _compare_nodes(
    log: TransparencyLog, computed: dict[merkle.Node, bytes], report: Report
) -> None:
    if not computed:
        return
    stored = _stored_nodes(log, computed)
    # In the order the tree was built (a leaf before the nodes above it), so the first
    # mismatch named is the altered event itself, or the altered node if every event holds.
    for node in sorted(computed, key=lambda n: (((n[1] + 1) << n[0]) - 1, n[0])):
        level, position = node
        first, last = position << level, ((position + 1) << level) - 1
        where = f"sequence {first}" if level == 0 else f"sequences {first}-{last}"
        if node not in stored:
            report.fail(f"{where}: the log is missing node {node}", first)
            return
        if stored[node] != computed[node]:
            what = "leaf" if level == 0 else f"node {node} over {where}"
            report.fail(
                f"{where}: the stored {what} does not match the event: expected "
                f"{computed[node].hex()}, the log has {stored[node].hex()}",
                first,
            )
            return


def _stored_nodes(
    log: TransparencyLog, computed: dict[merkle.Node, bytes]
) -> dict[merkle.Node, bytes]:
    """The stored counterparts of a page's nodes: one range scan per level."""
    by_level: dict[int, list[int]] = {}
    for level, position in computed:
        by_level.setdefault(level, []).append(position)
    stored: dict[merkle.Node, bytes] = {}
    for level, positions in by_level.items():
        found = log.recorder.nodes_at_level(level, min(positions), max(positions))
        stored.update({(level, position): digest for position, digest in found.items()})
    return stored


def _check_checkpoints(
    stored: dict[int, list[StoredCheckpoint]],
    roots: dict[int, bytes],
    trusted: Sequence[str],
    report: Report,
) -> None:
    for size, checkpoints in sorted(stored.items()):
        for checkpoint in checkpoints:
            signed = _signed_by_any(checkpoint.note, trusted)
            if isinstance(signed, str):
                report.fail(f"checkpoint of size {size}: {signed}")
                continue
            report.checkpoints_checked += 1
            if size not in roots:
                report.fail(
                    f"checkpoint of size {size}: the ledger has only {report.events} events"
                )
            elif signed.root_hash != roots[size] or signed.size != size:
                report.fail(
                    f"checkpoint of size {size}: its root {signed.root_hash.hex()} is not the "
                    f"recomputed root {roots[size].hex()}",
                    size - 1,
                )


def _signed_by_any(note: str, trusted: Sequence[str]) -> Checkpoint | str:
    """The checkpoint if a trusted key signed it, else why not (the first key's reason)."""
    reasons = []
    for verifier in trusted:
        try:
            return verify_checkpoint(note, verifier)
        except ValueError as error:
            reasons.append(str(error))
    return reasons[0] if reasons else "no trusted key to check it against"


def _open_kept(note: str | None, trusted: Sequence[str], report: Report) -> Checkpoint | None:
    if note is None:
        return None
    signed = _signed_by_any(note, trusted)
    if isinstance(signed, str):
        report.fail(f"the kept checkpoint does not verify: {signed}")
        report.extends_kept_checkpoint = False
        return None
    return signed


def _check_kept(
    log: TransparencyLog, kept: Checkpoint, roots: dict[int, bytes], report: Report
) -> None:
    if kept.size > report.events:
        report.fail(
            f"the kept checkpoint is of size {kept.size}, larger than the ledger's "
            f"{report.events} events: history was removed"
        )
        report.extends_kept_checkpoint = False
        return
    if roots.get(kept.size) != kept.root_hash:
        report.fail(
            f"the ledger no longer matches the kept checkpoint of size {kept.size}: expected "
            f"root {kept.root_hash.hex()}, recomputed {roots.get(kept.size, b'').hex()}",
            max(kept.size - 1, 0),
        )
        report.extends_kept_checkpoint = False
        return
    if kept.size == 0:
        report.extends_kept_checkpoint = True
        return
    proof = log.consistency_proof(kept.size, report.events)
    try:
        merkle.verify_consistency(kept.size, report.events, kept.root_hash, report.root, proof.path)
    except merkle.ProofError as error:
        report.fail(f"consistency with the kept checkpoint: {error}")
        report.extends_kept_checkpoint = False
        return
    report.extends_kept_checkpoint = True
