"""The read side the three doors share: one method per question a reader asks of the ledger.

The CLI, the HTTP API and the web console each parse their input, call one method of `Queries`
(or of `projections.translog.service.LogService` for the transparency log), and present the
answer; none of them loads state, reads a view or assembles a report itself, so the same
question gets the same answer whichever door it came through. Views are caught up with the
events before each answer, so a reader sees every decision recorded before it asked.

Time travel is answered here once: a model's state at a version replays its events 1..N
through the library's repository; at a moment, up to the last event the ledger had recorded by
then (`Ledger.state_as_of`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from domain.errors import InvalidQuery, LogError, NoPreservedWeights
from projections import registers
from projections.model_state import model_state
from projections.records import event_record

if TYPE_CHECKING:
    from domain.ledger import Ledger, ModelSummary
    from domain.lifecycle import ModelLifecycle
    from domain.rules import PreferencePolicy
    from domain.state import PreservedWeights
    from projections.runner import ViewRunner, ViewStatus
    from projections.search import Hit
    from projections.views import ModelStatus, TimelineEntry

MAX_TIMELINE_PAGE = 1000
"""The most timeline entries one answer holds; page on with ``after``."""
MAX_SEARCH_RESULTS = 200
"""The most decisions one search answers with."""
MAX_QUERY_TEXT = 500
"""The longest search text, filter value or name a query takes (characters)."""
DEFAULT_CRITERIA_DISTANCE = 0.15
"""How close two policies' criteria scores must be to count as alike (docs/fairness.md)."""
REGISTERS = ("access", "policies", "essays", "preferences")
"""The registers a reader can list."""


@dataclass(frozen=True)
class History:
    """A model's events up to a point, and its state there."""

    model: str
    version: int
    events: list[dict[str, Any]]
    state: dict[str, Any]
    lifecycle: ModelLifecycle

    def as_json(self) -> dict[str, Any]:
        """The answer as JSON (what `reliquary history --json` and the API return)."""
        return {
            "model": self.model,
            "version": self.version,
            "events": self.events,
            "state": self.state,
        }


@dataclass(frozen=True)
class TimelinePage:
    """One page of the timeline, and where the next page starts (None on the last)."""

    entries: list[TimelineEntry]
    next_after: int | None

    def as_json(self) -> dict[str, Any]:
        """The page as JSON."""
        return {
            "entries": [entry.as_json() for entry in self.entries],
            "next_after": self.next_after,
        }


class Queries:
    """Every question about the ledger's records, answered from the ledger and its views."""

    def __init__(self, ledger: Ledger, views: ViewRunner, policy: PreferencePolicy) -> None:
        self.ledger = ledger
        self.views = views
        self.policy = policy

    # -- views ---------------------------------------------------------------------------------

    def catch_up(self, on_progress: Callable[[int], None] | None = None) -> int:
        """Take every new event into the views (a progress callback for terminals)."""
        return self.views.catch_up(on_progress=on_progress)

    def view_status(self) -> list[ViewStatus]:
        """Each view's position against the head of the event log."""
        return self.views.status()

    def rebuild_views(
        self, names: list[str] | None = None, on_progress: Callable[[int], None] | None = None
    ) -> tuple[list[str], int]:
        """Drop views (all by default) and take every event again; the names and events taken."""
        unknown = [name for name in names or [] if name not in self.views.views]
        if unknown:
            raise InvalidQuery(
                f"no view named {unknown[0]!r}; the views: {', '.join(self.views.views)}"
            )
        chosen = names or list(self.views.views)
        return chosen, self.views.rebuild(chosen, on_progress=on_progress)

    # -- models and time travel ----------------------------------------------------------------

    def models(self) -> list[ModelSummary]:
        """Every registered model with its lifecycle status, in order of registration."""
        return self.ledger.models()

    def model_statuses(self) -> list[ModelStatus]:
        """Every model's status as the status view holds it (cheap: no replay)."""
        from projections.views import model_statuses

        self.catch_up()
        return model_statuses(self.views.recorder)

    def state_at(
        self, model: str, *, version: int | None = None, at: datetime | None = None
    ) -> ModelLifecycle:
        """A model's state now, at a version, or as the ledger had recorded it at a moment."""
        _check_text(model=model)
        if version is not None and at is not None:
            raise InvalidQuery("give a version or a moment, not both")
        if version is None and at is None:
            return self.ledger.state(model)
        return self.ledger.state_as_of(model, version=version, at=at)

    def model_state(
        self, model: str, *, version: int | None = None, at: datetime | None = None
    ) -> dict[str, Any]:
        """A model's state as JSON, now or in the past."""
        return model_state(self.state_at(model, version=version, at=at), self.policy)

    def history(
        self, model: str, *, version: int | None = None, at: datetime | None = None
    ) -> History:
        """A model's events up to now, a version or a moment, and its state there."""
        state = self.state_at(model, version=version, at=at)
        events = self.ledger.history(model, up_to_version=state.version)
        return History(
            model=model,
            version=state.version,
            events=[event_record(event, model) for event in events],
            state=model_state(state, self.policy),
            lifecycle=state,
        )

    def weights(self, model: str) -> PreservedWeights:
        """A model's latest preserved weights (`NoPreservedWeights` if it has none)."""
        _check_text(model=model)
        weights = self.ledger.state(model).weights
        if weights is None:
            raise NoPreservedWeights(f"model {model!r} has no preserved weights on record")
        return weights

    # -- the timeline and search ---------------------------------------------------------------

    def timeline(
        self,
        *,
        model: str | None = None,
        event_type: str | None = None,
        actor: str | None = None,
        role: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> TimelinePage:
        """Decisions in ledger order, filtered; page on with ``after`` = ``next_after``."""
        from projections.views import timeline

        _check_text(model=model, type=event_type, actor=actor, role=role)
        if not 1 <= limit <= MAX_TIMELINE_PAGE:
            raise InvalidQuery(f"limit must be from 1 to {MAX_TIMELINE_PAGE}; got {limit}")
        if after is not None and not -1 <= after <= 2**62:
            raise InvalidQuery(f"after must be a sequence number; got {after}")
        self.catch_up()
        entries = timeline(
            self.views.recorder,
            model=model,
            event_type=event_type,
            actor=actor,
            role=role,
            since=since,
            until=until,
            after=after,
            limit=limit,
        )
        return TimelinePage(entries, entries[-1].sequence if len(entries) == limit else None)

    def decision(self, sequence: int) -> TimelineEntry:
        """One decision by its sequence number."""
        from projections.views import timeline_entries

        self.catch_up()
        entry = timeline_entries(self.views.recorder, [sequence]).get(sequence)
        if entry is None:
            raise LogError(f"there is no decision with sequence number {sequence}")
        return entry

    def search(
        self,
        text: str,
        *,
        model: str | None = None,
        event_type: str | None = None,
        limit: int = 20,
    ) -> list[Hit]:
        """Decisions ranked by how well their rationale and evidence match ``text``."""
        from projections.search import search

        _check_text(q=text, model=model, type=event_type)
        if not 1 <= limit <= MAX_SEARCH_RESULTS:
            raise InvalidQuery(f"limit must be from 1 to {MAX_SEARCH_RESULTS}; got {limit}")
        self.catch_up()
        return search(self.views.recorder, text, model=model, event_type=event_type, limit=limit)

    # -- registers and the fairness report -----------------------------------------------------

    def register(self, kind: str, model: str | None = None) -> list[Any]:
        """A register's rows: access requests, access policies, essays or preferences."""
        _check_text(model=model)
        if kind not in REGISTERS:
            raise InvalidQuery(f"no register {kind!r}: use {', '.join(REGISTERS)}")
        self.catch_up()
        recorder = self.views.recorder
        if kind == "access":
            return registers.access_requests(recorder, model)
        if kind == "policies":
            return [p for p in registers.access_policies(recorder) if model in (None, p.model)]
        if kind == "essays":
            return registers.essays(recorder, model)
        return registers.preferences(recorder, self.policy, model)

    def fairness(
        self,
        *,
        criteria_distance: float = DEFAULT_CRITERIA_DISTANCE,
        as_of: date | None = None,
    ) -> Any:
        """The fairness report (docs/fairness.md), missed weeks counted up to ``as_of``."""
        from projections import fairness

        if not 0.0 <= criteria_distance <= 10.0:
            raise InvalidQuery(f"criteria distance must be from 0 to 10; got {criteria_distance}")
        self.catch_up()
        recorder = self.views.recorder
        return fairness.fairness_report(
            registers.access_requests(recorder),
            registers.access_policies(recorder),
            registers.essays(recorder),
            registers.preferences(recorder, self.policy),
            policy=fairness.FairnessPolicy(criteria_distance=criteria_distance),
            as_of=as_of or datetime.now(UTC).date(),
        )


def _check_text(**values: str | None) -> None:
    """Refuse filter text no record can hold: too long, or with control characters."""
    for name, value in values.items():
        if value is None:
            continue
        if len(value) > MAX_QUERY_TEXT:
            raise InvalidQuery(f"{name} is longer than {MAX_QUERY_TEXT} characters")
        if any(ord(char) < 32 or ord(char) == 127 for char in value):
            raise InvalidQuery(f"{name} has a control character")
