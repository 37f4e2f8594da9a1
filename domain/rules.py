"""Pure rule predicates and the policy thresholds they use: no IO, no clock (time is passed in).

The aggregate calls these from its command methods; views and reports call the same functions,
so "stable" or "coherent" means one thing everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta


@dataclass(frozen=True)
class PreferencePolicy:
    """When a preference counts as stable (configuration: ``RELIQUARY_PREFERENCE_*``).

    A preference is stable once the interviews supporting it, counted since its last
    contradiction, number at least ``min_interviews`` and fall on at least ``min_days``
    distinct days and under at least ``min_framings`` distinct framings. A contradiction
    resets the count because a preference the model has since gone back on is no longer
    shown to be stable.
    """

    min_interviews: int = 2
    min_days: int = 2
    min_framings: int = 2


@dataclass(frozen=True)
class Support:
    """One interview that expressed (or re-expressed) a preference."""

    interview_id: str
    day: date
    framing: str


def is_stable(supports_since_contradiction: Sequence[Support], policy: PreferencePolicy) -> bool:
    """Return whether a preference's supporting interviews meet the policy's thresholds."""
    interviews = {support.interview_id for support in supports_since_contradiction}
    days = {support.day for support in supports_since_contradiction}
    framings = {support.framing for support in supports_since_contradiction}
    return (
        len(interviews) >= policy.min_interviews
        and len(days) >= policy.min_days
        and len(framings) >= policy.min_framings
    )


def day_of(moment: date | datetime) -> date:
    """Return the calendar day of a date or a date-time (date-times are compared as UTC days)."""
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).date() if moment.tzinfo else moment.date()
    return moment


def first_before(
    moments: Iterable[tuple[str, date | datetime | None]], floor: date
) -> tuple[str, date] | None:
    """Return the first named moment whose day falls before ``floor``, or None if none does."""
    for name, moment in moments:
        if moment is not None and day_of(moment) < floor:
            return name, day_of(moment)
    return None


def first_after(
    moments: Iterable[tuple[str, date | datetime | None]], ceiling: date
) -> tuple[str, date] | None:
    """Return the first named moment whose day falls after ``ceiling``, or None if none does."""
    for name, moment in moments:
        if moment is not None and day_of(moment) > ceiling:
            return name, day_of(moment)
    return None


def instant(moment: datetime) -> datetime:
    """Return a date-time comparable with any other: a naive one is read as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def takes_effect_too_late(effective_at: datetime | None, recorded_at: datetime) -> bool:
    """Return whether a decision takes effect later than the day after it is recorded.

    One day of slack lets a moment written in a time zone ahead of UTC through.
    """
    return effective_at is not None and instant(effective_at) > instant(recorded_at) + timedelta(
        days=1
    )
