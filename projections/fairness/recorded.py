"""The registers' rows as the ledger held them at a moment T, for the fairness report's as-of.

`rows_as_of` reads the notification log, keeps the events recorded at or before T (by each
event's recorded timestamp) whose decision was in effect by T (``effective_at``, else the
recorded time, at or before T), and replays them, in ledger order, through the very views that
keep the registers (`projections.registers`, `projections.views.StatusView`) into a scratch
in-memory SQLite database: the rows are those the views would hold had the ledger stopped at T,
on either backend. It returns them with the `LedgerPosition` they were read at.

`views_position` answers the same question cheaply for T = now: when every event the views
have taken was recorded and is in effect by T, the views' own rows are the rows at T, and it
returns their position; otherwise None (then `rows_as_of` replays).

Unlike the report's figures, this module reads a database; the CLI, HTTP and the web console
reach it only through `projections.queries.Queries.fairness`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from projections import registers
from projections.fairness.figures import LedgerPosition
from projections.runner import Context, View, ViewRecorder, unopened_event
from projections.scratch import ScratchRecorder
from projections.views import StatusView, moment

if TYPE_CHECKING:
    from domain.ledger import Ledger
    from domain.rules import PreferencePolicy
    from projections.rows import AccessPolicyRow, AccessRequestRow, EssayRow, PreferenceRow


@dataclass(frozen=True)
class RecordedRows:
    """The four registers' rows at a moment, and where in the ledger they were read."""

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


def rows_as_of(ledger: Ledger, policy: PreferencePolicy, at: datetime) -> RecordedRows:
    """The registers as they stood at ``at``: decisions recorded and in effect by then.

    An event left out because it was not yet in effect leaves out what depends on it (a
    decision on a request not yet in effect has nothing to decide); the replay skips such
    events as the views would skip a decision on a row they do not hold.
    """
    if at.tzinfo is None:
        raise ValueError("the moment of a report needs a time zone")
    scratch = ScratchRecorder()
    views = _register_views(scratch)
    names: dict[str, str] = {}
    seen = counted = not_in_effect = late = late_within = 0
    log_size, last_id = 0, None
    with scratch.transaction() as cursor:
        for view in views:
            for statement in view.create_statements("sqlite"):
                scratch.execute(cursor, statement)
        for notification in ledger.notifications_after(0):
            event = ledger.mapper.to_domain_event(notification)
            seen += 1
            key = str(event.originator_id)
            if event.originator_version == 1 and isinstance(getattr(event, "name", None), str):
                names[key] = event.name  # type: ignore[attr-defined]
            if event.timestamp > at:  # type: ignore[attr-defined]
                late += 1
                continue
            # Events recorded after T yet stored before this one (writers' clocks differ).
            late_within, late = late_within + late, 0
            log_size, last_id = seen, notification.id
            effective = event.effective_at or event.timestamp  # type: ignore[attr-defined]
            if effective > at:
                not_in_effect += 1
                continue
            counted += 1
            context = Context(model=names.get(key, key), position=counted - 1, notification_id=0)
            plain = unopened_event(event)  # the report counts requests; it shows no names
            for view in views:
                with contextlib.suppress(LookupError):
                    view.apply(cursor, plain if view.opens_sealed else event, context)
    position = LedgerPosition(
        moment=at.astimezone(UTC),
        log_size=log_size,
        last_notification_id=last_id,
        events_counted=counted,
        not_yet_in_effect=not_in_effect,
        recorded_after=late_within,
    )
    return RecordedRows(
        requests=registers.access_requests(scratch, as_of=at.astimezone(UTC).date()),
        policies=registers.access_policies(scratch),
        essays=registers.essays(scratch),
        preferences=registers.preferences(scratch, policy),
        position=position,
    )


def views_position(recorder: ViewRecorder, at: datetime) -> LedgerPosition | None:
    """The views' position, if their rows are the rows at ``at``; else None.

    They are when every event the views took (the timeline view's rows, taken with the others
    page by page) was recorded and is in effect by ``at``.
    """
    p = recorder.param
    cut = moment(at)
    statement = (
        "SELECT COUNT(*), MAX(notification_id), "  # noqa: S608 (no input: T is a parameter)
        f"SUM(CASE WHEN recorded_at > {p} OR effective_at > {p} THEN 1 ELSE 0 END) "
        "FROM view_timeline"
    )
    rows = recorder.fetch(statement, (cut, cut))
    taken, last_id, later = rows[0] if rows else (0, None, 0)
    if later:
        return None
    return LedgerPosition(
        moment=at.astimezone(UTC),
        log_size=int(taken or 0),
        last_notification_id=None if last_id is None else int(last_id),
        events_counted=int(taken or 0),
        not_yet_in_effect=0,
        recorded_after=0,
    )
