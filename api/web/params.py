"""Reading a page's query string: text, whole numbers, decimals, moments, days, the timeline's
filters.

A page's links carry every filter and moment in the query string, so a page can be shared by
its URL. Every value is checked here, before any service sees it, against an explicit range:

- text: at most a given number of characters, and no control characters;
- whole numbers: ASCII digits only (``int()`` would take ``١٢``, ``1_0`` or ``+5``), at most
  40 characters, within the page's range (a version from 1 to `MAX_VERSION`, a page cursor from
  -1 to `MAX_SEQUENCE`, a page size from 1 to the page's largest);
- decimals: ASCII digits with an optional fraction, within the page's range;
- moments and "as of": under the one rule for every door (`domain.commands.parse_moment`,
  `parse_as_of`: ISO 8601, a moment with its time zone or a day meaning its end, a year from
  1900 to 9000).

A value that is malformed or out of range is a 400 page naming its parameter and the problem
(`PageError`); what the reader sent is quoted back only as a short excerpt (`excerpt`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from api.web.context import PageError
from api.web.render import with_query
from domain.commands import parse_as_of, parse_moment
from domain.errors import InvalidMoment

if TYPE_CHECKING:
    from projections.queries import TimelinePage

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE = 50
MAX_SEQUENCE = 2**62  # a page cursor (``after``): the JSON API's bound (`projections.queries`)
MAX_VERSION = 2**31 - 1  # a model's version: far beyond any model's, within every column type
MOMENT_CHARS = 40  # ``2026-01-01T09:30:00.123456+02:00`` is 32
EXCERPT = 40  # the characters of a refused value quoted back in the error page

_WHOLE = re.compile(r"-?[0-9]+")  # at most 40 characters (`text`)
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")  # at most 20 characters
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def excerpt(value: str) -> str:
    """A value a reader sent, quoted for an error page: its start only, control characters
    escaped (``repr``), so a refused value is recognisable but never echoed at length."""
    short = value[:EXCERPT]
    return repr(short) + (
        f" (and {len(value) - EXCERPT} more characters)" if short != value else ""
    )


def text(params: Mapping[str, str], name: str, limit: int = 500) -> str | None:
    """A parameter's text, stripped (None if empty); at most ``limit`` characters, no control
    characters."""
    value = params.get(name, "").strip()
    if len(value) > limit:
        raise PageError(400, f"{name}: at most {limit} characters, got {len(value)}")
    if _CONTROL.search(value):
        raise PageError(400, f"{name}: control characters are not allowed, got {excerpt(value)}")
    return value or None


def whole_number(params: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    """A parameter's whole number from ``low`` to ``high`` (ASCII digits), or None if empty."""
    value = text(params, name, 40)
    if value is None:
        return None
    if not _WHOLE.fullmatch(value):
        raise PageError(
            400,
            f"{name}: expected a whole number (digits 0-9) from {low} to {high}, "
            f"got {excerpt(value)}",
        )
    number = int(value)
    if not low <= number <= high:
        raise PageError(400, f"{name}: expected a whole number from {low} to {high}, got {value}")
    return number


def decimal(params: Mapping[str, str], name: str, low: float, high: float) -> float | None:
    """A parameter's decimal number from ``low`` to ``high`` (``0.15``, ``2``), or None."""
    value = text(params, name, 20)
    if value is None:
        return None
    if not _DECIMAL.fullmatch(value):
        raise PageError(
            400,
            f"{name}: expected a number such as 0.15 (digits 0-9 and a point) from {low:g} "
            f"to {high:g}, got {excerpt(value)}",
        )
    number = float(value)
    if not low <= number <= high:
        raise PageError(400, f"{name}: expected a number from {low:g} to {high:g}, got {value}")
    return number


def moment(value: str | None, name: str) -> datetime | None:
    """A moment from a form or URL, under the one rule (a time zone is required)."""
    if not value:
        return None
    if len(value) > MOMENT_CHARS:
        raise PageError(400, f"{name}: a moment has at most {MOMENT_CHARS} characters")
    try:
        return parse_moment(value, name)
    except (InvalidMoment, ValueError, OverflowError) as error:
        raise PageError(400, _moment_problem(error, name)) from None


def as_of(value: str | None, name: str) -> date | datetime | None:
    """A report's "as of" from a form or URL: a day (its end, UTC) or a moment."""
    if not value:
        return None
    if len(value) > MOMENT_CHARS:
        raise PageError(400, f"{name}: a day or a moment has at most {MOMENT_CHARS} characters")
    try:
        return parse_as_of(value, name)
    except (InvalidMoment, ValueError, OverflowError) as error:
        raise PageError(400, _moment_problem(error, name)) from None


def _moment_problem(error: Exception, name: str) -> str:
    message = str(error)
    return message if message.startswith(f"{name}:") else f"{name}: {message}"


@dataclass(frozen=True)
class TimelineFilters:
    """The timeline's filters and page, as given in the query string."""

    model: str | None
    type: str | None
    actor: str | None
    role: str | None
    since: str | None
    until: str | None
    after: int | None
    limit: int
    since_at: datetime | None
    until_at: datetime | None

    @classmethod
    def parse(cls, params: Mapping[str, str], model: str | None = None) -> TimelineFilters:
        """Read and check the filters (an invalid one is a 400 page naming it)."""
        since, until = text(params, "since", MOMENT_CHARS), text(params, "until", MOMENT_CHARS)
        since_at = moment(since, "since")
        until_at = moment(until, "until")
        limit = whole_number(params, "limit", 1, max(PAGE_SIZES)) or DEFAULT_PAGE
        return cls(
            model=model if model is not None else text(params, "model", 200),
            type=text(params, "type", 100),
            actor=text(params, "actor", 200),
            role=text(params, "role", 50),
            since=since,
            until=until,
            after=whole_number(params, "after", -1, MAX_SEQUENCE),
            limit=limit,
            since_at=since_at,
            until_at=until_at,
        )

    def query(self, *, with_model: bool = True) -> dict[str, Any]:
        """The filters as query parameters (without the page position)."""
        params: dict[str, Any] = {
            "type": self.type,
            "actor": self.actor,
            "role": self.role,
            "since": self.since,
            "until": self.until,
            "limit": self.limit if self.limit != DEFAULT_PAGE else None,
        }
        return {"model": self.model, **params} if with_model else params

    def active(self) -> bool:
        """Whether any filter (beyond the model) is set."""
        return any((self.type, self.actor, self.role, self.since, self.until))

    def paging(self, path: str, page: TimelinePage, *, with_model: bool) -> dict[str, str | None]:
        """Links to the first page (if this is not it) and the next (if the service has one)."""
        query = self.query(with_model=with_model)
        return {
            "first": with_query(path, query) if self.after is not None else None,
            "next": with_query(path, {**query, "after": page.next_after})
            if page.next_after is not None
            else None,
        }
