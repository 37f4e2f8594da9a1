"""Verify the transparency log against the events, as an auditor does.

One pass over the ledger, in order: recompute every leaf from the stored event, rebuild the
tree from those leaves, and compare each leaf and each node with what is stored; check every
stored checkpoint's signature and that its root is the recomputed root at its size; and, given
a checkpoint a reviewer kept, check that the current tree extends it (its root recomputed at
its size, and a consistency proof from the stored nodes that verifies per RFC 9162 2.1.4.2).
The first mismatch is named by its sequence number. Memory stays bounded: the page checked and
at most two more being read ahead, with their nodes, and the tree's right edge (at most
log2(n) + 1 hashes).

It works a page at a time (`feed.leaf_pages`; a page is a power of two of events, so each full
page is one perfect subtree). A page's leaves are hashed in one loop and its nodes level by
level (`merkle.parent_level`); the stored leaf rows of the page are read as one list of
notification ids, and its stored nodes as one joined run of hashes per level
(`LogRecorder.node_runs`), each compared whole. Only a page where something differs is
compared again node by node, to name the first difference as before. Which nodes a page holds
depends only on where it starts and how many events it has, so two threads read ahead while
this page is hashed (`feed.read_ahead`, each on its own connection): one the next page's
events, the other the next page's stored leaf rows and nodes. The database works on both at
once, and the leaves are made and hashed meanwhile. Reading rows one by one and comparing node
by node, not hashing, was most of verify's time (docs/performance.md).
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from domain.errors import LogDamaged
from projections.translog import merkle
from projections.translog.checkpoint import Checkpoint, verify_checkpoint
from projections.translog.feed import LeafPage, leaf_pages, read_ahead
from projections.translog.recorders import NodeRun, StoredCheckpoint
from projections.translog.tree import TransparencyLog

if TYPE_CHECKING:
    from projections.translog.witnessed import WitnessVerdict

PAGE = 8192
"""Events per page: a power of two (so each full page is a perfect subtree); about 8 MB of
leaves at 1 KB an event, and few enough statements (three a page) not to wait on the server."""


@dataclass
class Report:
    """What verification found: ``ok`` only if every check held."""

    events: int = 0
    checkpoints_checked: int = 0
    root: bytes = b""
    first_bad_sequence: int | None = None
    problems: list[str] = field(default_factory=list)
    extends_kept_checkpoint: bool | None = None
    cosignatures_checked: int = 0
    """Stored cosignatures checked against a witness policy (0 without a policy)."""
    witnesses: WitnessVerdict | None = None
    """Which witnesses of the policy vouch for the latest checkpoint (None without a policy)."""
    witnessed_size: int | None = None
    """The size of the checkpoint `witnesses` is about."""

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
    page: int = PAGE,
) -> Report:
    """Recompute and compare everything; see the module docstring.

    ``verifiers`` are the keys a checkpoint may be signed by: the current one, and after a
    rotation the earlier ones too. ``page`` (a power of two) is how many events are read and
    compared at a time.
    """
    if page < 1 or page & (page - 1):
        raise ValueError(f"a page is a power of two of events, not {page}")
    trusted = [verifiers] if isinstance(verifiers, str) else list(verifiers)
    report = Report()
    kept = _open_kept(kept_checkpoint, trusted, report)
    # A damaged log cannot take every event; the pass below names the one it cannot.
    with contextlib.suppress(LogDamaged):
        log.catch_up()
    stored_checkpoints: dict[int, list[StoredCheckpoint]] = {}
    for checkpoint in log.checkpoints():
        stored_checkpoints.setdefault(checkpoint.size, []).append(checkpoint)
    wanted_sizes = sorted(set(stored_checkpoints) | ({kept.size} if kept else set()))
    roots: dict[int, bytes] = {0: merkle.EMPTY_ROOT}

    frontier: dict[merkle.Node, bytes] = {}
    index = 0
    pages = leaf_pages(log.ledger, page=page, ahead=True)
    # What the log stores for each full page, read ahead on its own (it depends on nothing the
    # events say); a short last page's is read again for its length.
    stored_pages = read_ahead(_stored(log, first, page) for first in itertools.count(0, page))
    try:
        for leaf_page in pages:
            stored = next(stored_pages)
            if len(leaf_page) != page:
                stored = _stored(log, index, len(leaf_page))
            levels = _levels(merkle.leaf_hashes(leaf_page.leaves))
            before = dict(frontier)
            above = _extend(frontier, index, levels)
            end = index + len(leaf_page)
            for size in wanted_sizes[bisect.bisect_right(wanted_sizes, index) :]:
                if size >= end:
                    if size == end:  # the page's top may have completed nodes above it
                        roots[size] = merkle.range_hash(0, size, frontier)
                    break
                roots[size] = _root_within(before, index, levels, size)
            _compare_leaf_rows(log, leaf_page, stored.leaf_ids, report)
            computed = [b"".join(hashes) for hashes in levels] + list(above.values())
            if stored.node_runs != computed:
                _compare_nodes(log, _page_nodes(index, levels) | above, report)
            index = end
            if on_progress:
                on_progress(len(leaf_page))
    except LogDamaged as damaged:
        report.fail(str(damaged), index)
    finally:
        stored_pages.close()
        pages.close()
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


@dataclass(frozen=True)
class _StoredPage:
    """What the log stores for a page of events: its leaf rows and its nodes, as read."""

    leaf_ids: list[int]
    """The notification ids of the page's leaf rows, by sequence (`leaf_notification_ids`)."""
    node_runs: list[bytes | None]
    """The stored nodes of `_page_runs`, each run joined (`LogRecorder.node_runs`)."""


def _stored(log: TransparencyLog, first: int, count: int) -> _StoredPage:
    """What the log stores for the page of ``count`` events from ``first`` (read, not compared)."""
    return _StoredPage(
        leaf_ids=log.recorder.leaf_notification_ids(first, count),
        node_runs=log.recorder.node_runs(_page_runs(first, count)),
    )


def _page_runs(first: int, count: int) -> list[NodeRun]:
    """The nodes a page of ``count`` events from ``first`` completes, as runs of one level.

    In the order `verify_log` lists what it computed: each level of the page (`_levels`: a
    level has half the nodes of the one below, rounded down), then the nodes above the page
    that its top completes (`_extend`, one run each). ``first`` is a multiple of the page size.
    """
    sizes = [count]
    while sizes[-1] > 1:
        sizes.append(sizes[-1] // 2)
    runs = [(level, first >> level, (first >> level) + n - 1) for level, n in enumerate(sizes)]
    for level, n in enumerate(sizes):
        if n % 2 == 1:
            position = (first >> level) + n - 1
            while position % 2 == 1:
                level, position = level + 1, position // 2
                runs.append((level, position, position))
    return runs


def _levels(leaf_hashes: list[bytes]) -> list[list[bytes]]:
    """Every complete node of a page, level by level: ``levels[L][k]`` is node ``(L, first >> L
    + k)`` of a page starting at leaf ``first`` (a multiple of the page size)."""
    levels = [leaf_hashes]
    while len(levels[-1]) > 1:
        levels.append(merkle.parent_level(levels[-1]))
    return levels


def _extend(
    frontier: dict[merkle.Node, bytes], first: int, levels: list[list[bytes]]
) -> dict[merkle.Node, bytes]:
    """Add a page's maximal subtrees to the tree's right edge; return the nodes above the page.

    A full page has one (its top); a short last page one per level where a node is left
    without a sibling, each already a maximal subtree. The top of a full page completes the
    nodes above it whose left half is on the right edge, as `tree.append_leaf` does a leaf's.
    """
    above: dict[merkle.Node, bytes] = {}
    for level, hashes in enumerate(levels):
        if len(hashes) % 2 == 0:
            continue
        position, digest = (first >> level) + len(hashes) - 1, hashes[-1]
        while position % 2 == 1:
            digest = merkle.node_hash(frontier.pop((level, position - 1)), digest)
            level, position = level + 1, position // 2
            above[(level, position)] = digest
        frontier[(level, position)] = digest
    return above


def _root_within(
    before: dict[merkle.Node, bytes], first: int, levels: list[list[bytes]], size: int
) -> bytes:
    """The root of the tree of ``size`` leaves, ``first < size`` and before the page's end.

    Its maximal subtrees are those of the right edge before the page (all of ``[0, first)``)
    and those of ``[first, size)``, which are nodes of the page: ``size - first`` is less than
    the page size, so no subtree of ``[0, size)`` spans the page's start. (At the page's end
    the page's top may complete larger ones: that root is taken from the extended edge.)
    """
    nodes = dict(before)
    for level, position in merkle.perfect_subtrees(first, size):
        nodes[(level, position)] = levels[level][position - (first >> level)]
    return merkle.range_hash(0, size, nodes)


def _compare_leaf_rows(
    log: TransparencyLog, leaf_page: LeafPage, leaf_ids: list[int], report: Report
) -> None:
    """The log's leaf row at each sequence of the page must be the event there (by id)."""
    first, expected = leaf_page.first_sequence, leaf_page.notification_ids
    if leaf_ids == expected:
        return
    logged = {x.index: x.notification_id for x in log.recorder.leaves(first, len(expected))}
    for offset, notification_id in enumerate(expected):
        sequence = first + offset
        taken = logged.get(sequence)
        if taken is None:
            report.fail(
                f"sequence {sequence}: the log has no leaf row for it (the ledger's event at "
                f"this position is #{notification_id})",
                sequence,
            )
        elif taken != notification_id:
            report.fail(
                f"sequence {sequence}: the log's leaf is event #{taken} "
                f"but the ledger's event at this position is #{notification_id}",
                sequence,
            )


def _page_nodes(first: int, levels: list[list[bytes]]) -> dict[merkle.Node, bytes]:
    """A page's computed nodes by (level, index), to compare one by one."""
    return {
        (level, (first >> level) + k): digest
        for level, hashes in enumerate(levels)
        for k, digest in enumerate(hashes)
    }


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
