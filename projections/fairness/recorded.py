"""The registers' rows at a moment T, read from the log's leaves: the fairness report's input.

A report is computed from the events, never from views that nothing verifies. `rows_of_leaves`
reads leaves of the transparency log in order (format 2, `projections.translog.leaves`: each
one an event's stored bytes), hashes each into the Merkle tree as it reads it (RFC 9162), keeps
the events recorded at or before T (by each event's recorded timestamp) whose decision was in
effect by T (``effective_at``, else the recorded time, at or before T), and replays them, in
log order, through the very views that keep the registers (`projections.registers`,
`projections.views.StatusView`) into a scratch in-memory SQLite database. It returns the rows
with the `LedgerPosition` they stand on: T, the tree size up to the last event recorded by T,
and the Merkle root of that tree, which a signed checkpoint of that size (or a consistency
proof from it to a larger one) proves.

The same function reads the operator's store (`ledger_leaves`) and an offline audit bundle
(`bundle_leaves`, after the bundle verified against the key the reader pinned): the same bytes
give the same rows, so the same report, byte for byte (docs/fairness.md, "Reproducing a
report"). Unlike the report's figures, this module reads a database or files; the doors reach
it through `projections.queries.Queries.fairness` and `fairness_from_bundle`.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.errors import BundleDoesNotVerify, BundleError, InvalidQuery, LogDamaged
from projections import registers
from projections.fairness.figures import LedgerPosition
from projections.runner import Context, View, ViewRecorder, unopened_event
from projections.scratch import ScratchRecorder
from projections.translog import merkle
from projections.translog.leaves import stored_event_of_leaf
from projections.translog.tree import append_leaf
from projections.views import StatusView

if TYPE_CHECKING:
    from domain.ledger import Ledger
    from domain.rules import PreferencePolicy
    from projections.rows import AccessPolicyRow, AccessRequestRow, EssayRow, PreferenceRow


@dataclass(frozen=True)
class RecordedRows:
    """The four registers' rows at a moment, and where in the log they were read."""

    requests: list[AccessRequestRow]
    policies: list[AccessPolicyRow]
    essays: list[EssayRow]
    preferences: list[PreferenceRow]
    position: LedgerPosition


def _register_views(recorder: ViewRecorder) -> list[View]:
    return [
        StatusView(recorder),
        registers.AccessView(recorder),
        registers.EssayView(recorder),
        registers.PreferenceView(recorder),
    ]


def event_decoder() -> Callable[[bytes], tuple[int, Any]]:
    """A function from a leaf to (sequence, domain event), with the ledger's own mapper.

    The event type is looked up in the ledger's catalogue before anything is decoded, so a leaf
    naming any other topic is refused and never makes Python import what it names.
    """
    from eventsourcing.persistence import Mapper

    from domain.ledger import EVENT_BY_TOPIC, event_transcoder

    mapper: Mapper[Any] = Mapper(transcoder=event_transcoder())

    def decode(leaf: bytes) -> tuple[int, Any]:
        sequence, stored = stored_event_of_leaf(leaf)
        if stored.topic not in EVENT_BY_TOPIC:
            raise ValueError(f"unknown event type {stored.topic[:80]!r}: not in the catalogue")
        return sequence, mapper.to_domain_event(stored)

    return decode


def rows_of_leaves(
    leaves: Iterable[bytes],
    policy: PreferencePolicy,
    at: datetime,
    *,
    origin: str | None,
    size: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RecordedRows:
    """The registers as they stood at ``at``, from the log's first ``size`` leaves (all given).

    Each leaf must carry its position as its sequence (0, 1, 2, ...); a leaf that is not an
    event of the catalogue, or out of order, raises `LogDamaged` naming it. The position's
    root is the Merkle root of the leaves up to the last one recorded by ``at``.

    An event left out because it was not yet in effect leaves out what depends on it (a
    decision on a request not yet in effect has nothing to decide); the replay skips such
    events as the views would skip a decision on a row they do not hold.
    """
    if at.tzinfo is None:
        raise ValueError("the moment of a report needs a time zone")
    decode = event_decoder()
    scratch = ScratchRecorder()
    views = _register_views(scratch)
    names: dict[str, str] = {}
    seen = counted = not_in_effect = late = late_within = 0
    log_size = 0
    frontier: dict[merkle.Node, bytes] = {}
    kept: dict[merkle.Node, bytes] = {}  # the frontier at log_size
    page: list[Any] = []
    contexts: list[Context] = []
    with scratch.transaction() as cursor:
        for view in views:
            for statement in view.create_statements("sqlite"):
                scratch.execute(cursor, statement)
        for leaf in leaves:
            if size is not None and seen == size:
                break
            try:
                sequence, event = decode(leaf)
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
                raise LogDamaged(
                    f"leaf {seen} cannot be read as an event: {str(error)[:200]}", sequence=seen
                ) from None
            if sequence != seen:
                raise LogDamaged(
                    f"leaf {seen} says it is at sequence {sequence}", sequence=seen
                ) from None
            append_leaf(frontier, {}, seen, merkle.leaf_hash(leaf))
            seen += 1
            if on_progress is not None and seen % 1000 == 0:
                on_progress(1000)
            key = str(event.originator_id)
            if event.originator_version == 1 and isinstance(getattr(event, "name", None), str):
                names[key] = event.name
            if event.timestamp > at:
                late += 1
                continue
            # Events recorded after T yet stored before this one (writers' clocks differ).
            late_within, late = late_within + late, 0
            log_size = seen
            kept = dict(frontier)
            effective = event.effective_at or event.timestamp
            if effective > at:
                not_in_effect += 1
                continue
            counted += 1
            page.append(event)
            contexts.append(
                Context(model=names.get(key, key), position=counted - 1, notification_id=0)
            )
            if len(page) == PAGE:
                _take(scratch, cursor, views, page, contexts)
                page, contexts = [], []
        _take(scratch, cursor, views, page, contexts)
    if size is not None and seen < size:
        raise InvalidQuery(
            f"size: the log has {seen} events, fewer than the {size} asked for", size=size
        )
    root = merkle.range_hash(0, log_size, kept) if log_size else merkle.EMPTY_ROOT
    position = LedgerPosition(
        moment=at.astimezone(UTC),
        log_size=log_size,
        events_counted=counted,
        not_yet_in_effect=not_in_effect,
        recorded_after=late_within,
        origin=origin,
        checkpoint_size=log_size,
        checkpoint_root=base64.b64encode(root).decode(),
    )
    return RecordedRows(
        requests=registers.access_requests(scratch, as_of=at.astimezone(UTC).date()),
        policies=registers.access_policies(scratch),
        essays=registers.essays(scratch),
        preferences=registers.preferences(scratch, policy),
        position=position,
    )


PAGE = 1000
"""Events the views take at a time (a page of statements, as the projection runner writes)."""


def _take(
    scratch: ScratchRecorder,
    cursor: Any,
    views: list[View],
    events: list[Any],
    contexts: list[Context],
) -> None:
    """The views take a page of events, as the projection runner has them take it.

    A decision on a row the views do not hold (its request was left out: not yet in effect)
    raises `LookupError`; then the page is rolled back and taken one event at a time, each
    such decision skipped, as the views would skip it.
    """
    if not events:
        return
    plain = [unopened_event(event) for event in events]  # the report shows no private value
    scratch.execute(cursor, "SAVEPOINT page")
    try:
        for view in views:
            chosen = plain if view.opens_sealed else events
            view.apply_page(cursor, chosen, contexts, view.read_page(cursor, chosen, contexts))
    except LookupError:
        scratch.execute(cursor, "ROLLBACK TO page")
        for event, shown, context in zip(events, plain, contexts, strict=True):
            for view in views:
                with contextlib.suppress(LookupError):
                    view.apply(cursor, shown if view.opens_sealed else event, context)
    scratch.execute(cursor, "RELEASE page")


def ledger_leaves(ledger: Ledger) -> Iterator[bytes]:
    """Every leaf of the ledger's log, in order, as the transparency log makes them."""
    from projections.translog.feed import leaf_pages

    for page in leaf_pages(ledger, ahead=True):
        yield from page.leaves


def bundle_leaves(
    directory: Path,
    pinned_verifier: str,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[str, int, Iterator[bytes]]:
    """Verify an offline audit bundle, then its leaves: (origin, signed size, the leaves).

    The bundle must verify against the key the reader pinned (`bundle.verify_bundle`: the
    checkpoint's signature, every leaf, the root); else `BundleDoesNotVerify` with its problems.
    The leaves are read again afterwards, each through the same safe reader; the report names the
    root of those it reads, which the verified checkpoint proves.
    """
    from projections.translog.bundle import read_leaves, verify_bundle

    report = verify_bundle(directory, pinned_verifier, on_progress)
    if not report.ok or report.checkpoint is None:
        problems = "; ".join(report.problems[:5]) or "no signed checkpoint"
        raise BundleDoesNotVerify(f"the bundle does not verify: {problems}")
    checkpoint = report.checkpoint
    return checkpoint.origin, checkpoint.size, read_leaves(directory, checkpoint)


def bundle_rows(
    directory: Path,
    pinned_verifier: str,
    policy: PreferencePolicy,
    at: datetime,
    size: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RecordedRows:
    """`rows_of_leaves` of a verified bundle's first ``size`` leaves (all by default)."""
    origin, signed, leaves = bundle_leaves(directory, pinned_verifier, on_progress)
    if size is not None and size > signed:
        raise BundleError(
            f"the bundle's checkpoint covers {signed} events; a report at size {size} needs a "
            "newer bundle"
        )
    rows = rows_of_leaves(leaves, policy, at, origin=origin, size=size)
    for _ in leaves:  # the rest, so that every leaf is checked against the checkpoint again
        pass
    return rows
