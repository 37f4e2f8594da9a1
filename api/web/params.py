"""Reading a page's query string: text, whole numbers, moments, and the timeline's filters.

A page's links carry every filter and moment in the query string, so a page can be shared by
its URL; a value that cannot be read is a 400 page naming its parameter (`PageError`).
Moments are read under the one rule for every door (`domain.commands.parse_moment`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from api.web.context import PageError
from api.web.render import with_query
from domain.commands import parse_moment

if TYPE_CHECKING:
    from projections.queries import TimelinePage

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE = 50


def text(params: Mapping[str, str], name: str, limit: int = 500) -> str | None:
    """A parameter's text, stripped (None if empty); at most ``limit`` characters."""
    value = params.get(name, "").strip()
    if len(value) > limit:
        raise PageError(400, f"{name}: at most {limit} characters")
    return value or None


def whole_number(
    params: Mapping[str, str], name: str, low: int, high: int | None = None
) -> int | None:
    """A parameter's whole number from ``low`` (to ``high``), or None if empty."""
    value = params.get(name, "").strip()
    if not value:
        return None
    try:
        number = int(value)
    except ValueError:
        raise PageError(400, f"{name}: expected a whole number, got {value!r}") from None
    if number < low or (high is not None and number > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise PageError(400, f"{name}: expected a number {bound}, got {number}")
    return number


def moment(value: str | None, name: str) -> datetime | None:
    """A moment from a form or URL, under the one rule (a time zone is required)."""
    return parse_moment(value, name) if value else None


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
        since, until = text(params, "since", 40), text(params, "until", 40)
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
            after=whole_number(params, "after", -1),
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
