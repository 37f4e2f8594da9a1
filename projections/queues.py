"""The review queues: what awaits a decision, oldest first, with what the decider reads beside it.

Two queues, each answered from the registers (`projections.registers`), never from a view of
their own, so a queue says exactly what the registers say:

- access requests awaiting the board (`access_queue`): every request pending or appealed (an
  appealed request is decided again), across models, oldest first, filtered by model, requester
  group and age; each with the requester's other requests (the same person, by the pseudonym
  the register keeps for the row, `AccessRequestRow.subject`, across models) and the access
  policy in force for its model; a request older than the configured age is stale;
- essays awaiting a reviewer (`essay_queue`): drafts to approve or veto, and approved essays to
  publish, oldest first.

Private values are sealed or opened before they get here (`Queries.register` with the
reader): grouping by pseudonym needs none of them. Every list is bounded (`MAX_QUEUE_PAGE`);
a queue says how many rows matched, so a page says when it shows only the first of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import get_args

from domain.commands import RequestAccess
from domain.errors import InvalidQuery
from projections.rows import AccessPolicyRow, AccessRequestRow, EssayRow

MAX_QUEUE_PAGE = 100
"""The most rows one page of a queue shows; page on with ``offset``."""
MAX_QUEUE_OFFSET = 1_000_000
"""The furthest a page of a queue may start (far beyond any board's backlog)."""
MAX_EARLIER = 20
"""The most earlier requests of one requester shown beside a request (the latest ones)."""
MAX_AGE_DAYS = 36_500
"""The largest minimum age a filter takes (a hundred years)."""
AWAITING = ("pending", "appealed")
"""The statuses of a request the board is to decide: new, or reopened by an appeal."""
GROUPS: tuple[str, ...] = tuple(get_args(RequestAccess.model_fields["requester_group"].annotation))
"""The requester groups a request names (the command's own choices)."""


@dataclass(frozen=True)
class QueuedRequest:
    """One request awaiting the board, and what the board reads beside it."""

    request: AccessRequestRow
    age_days: int  # whole days since it was requested (0 on the day itself)
    stale: bool  # older than the configured age: waiting too long
    earlier: tuple[AccessRequestRow, ...]  # the requester's other requests, latest first
    earlier_total: int  # how many there are (``earlier`` holds at most `MAX_EARLIER`)
    policy: AccessPolicyRow | None  # the access policy in force for its model, if one was set


@dataclass(frozen=True)
class AccessQueue:
    """One page of the access queue under its filters."""

    rows: tuple[QueuedRequest, ...]
    matched: int  # requests awaiting a decision under the filters, on every page
    offset: int
    limit: int
    stale_days: int
    stale: int  # how many of those matched are stale
    today: date
    models: tuple[str, ...]  # the models with requests awaiting a decision (for the filter)

    @property
    def next_offset(self) -> int | None:
        """Where the next page starts, or None on the last."""
        end = self.offset + len(self.rows)
        return end if end < self.matched else None


@dataclass(frozen=True)
class EssayQueue:
    """Essays awaiting a reviewer: drafts to review, approved essays to publish."""

    drafted: tuple[EssayRow, ...]
    drafted_total: int
    approved: tuple[EssayRow, ...]
    approved_total: int
    limit: int


def access_queue(
    requests: Sequence[AccessRequestRow],
    policies: Sequence[AccessPolicyRow],
    *,
    today: date,
    stale_days: int,
    model: str | None = None,
    group: str | None = None,
    min_age_days: int | None = None,
    offset: int = 0,
    limit: int = MAX_QUEUE_PAGE,
) -> AccessQueue:
    """The requests awaiting a decision, oldest first, under the filters, one page of them.

    ``requests`` is the whole access register (every model: a requester's earlier requests
    may be for other models), ``policies`` the policies in force.
    """
    if group is not None and group not in GROUPS:
        raise InvalidQuery(f"no requester group {group!r}: use {', '.join(GROUPS)}")
    if not 1 <= limit <= MAX_QUEUE_PAGE:
        raise InvalidQuery(f"a page of the queue holds 1 to {MAX_QUEUE_PAGE} rows; got {limit}")
    if not 0 <= offset <= MAX_QUEUE_OFFSET:
        raise InvalidQuery(f"offset must be from 0 to {MAX_QUEUE_OFFSET}; got {offset}")
    if min_age_days is not None and not 0 <= min_age_days <= MAX_AGE_DAYS:
        raise InvalidQuery(f"the minimum age is 0 to {MAX_AGE_DAYS} days; got {min_age_days}")
    awaiting = [r for r in requests if r.status in AWAITING]
    matched = sorted(
        (
            r
            for r in awaiting
            if model in (None, r.model)
            and group in (None, r.requester_group)
            and (today - r.requested_on).days >= (min_age_days or 0)
        ),
        key=lambda r: (r.requested_on, r.model, r.request_id),
    )
    by_subject: dict[str, list[AccessRequestRow]] = {}
    for r in requests:
        if r.subject is not None:
            by_subject.setdefault(r.subject, []).append(r)
    in_force = {p.model: p for p in policies}

    def queued(r: AccessRequestRow) -> QueuedRequest:
        others = sorted(
            (
                o
                for o in by_subject.get(r.subject or "", ())
                if (o.model, o.request_id) != (r.model, r.request_id)
            ),
            key=lambda o: (o.requested_on, o.model, o.request_id),
            reverse=True,
        )
        age = (today - r.requested_on).days
        return QueuedRequest(
            request=r,
            age_days=age,
            stale=age > stale_days,
            earlier=tuple(others[:MAX_EARLIER]),
            earlier_total=len(others),
            policy=in_force.get(r.model),
        )

    return AccessQueue(
        rows=tuple(queued(r) for r in matched[offset : offset + limit]),
        matched=len(matched),
        offset=offset,
        limit=limit,
        stale_days=stale_days,
        stale=sum(1 for r in matched if (today - r.requested_on).days > stale_days),
        today=today,
        models=tuple(sorted({r.model for r in awaiting})),
    )


def essay_queue(essays: Sequence[EssayRow], limit: int = MAX_QUEUE_PAGE) -> EssayQueue:
    """Drafts awaiting review and approved essays awaiting publication, oldest first, at most
    ``limit`` of each."""
    order = sorted(essays, key=lambda e: (e.drafted_on, e.model, e.essay_id))
    drafted = [e for e in order if e.status == "drafted"]
    approved = [e for e in order if e.status == "approved"]
    return EssayQueue(
        drafted=tuple(drafted[:limit]),
        drafted_total=len(drafted),
        approved=tuple(approved[:limit]),
        approved_total=len(approved),
        limit=limit,
    )
