"""The timeline of every decision, and each model's current status.

Both are `View`s driven by `projections.runner.ViewRunner`; their read functions take the
view recorder and return plain rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from domain.decisions import Sealed
from domain.sealed import PSEUDONYM
from projections.records import event_facts, jsonable
from projections.runner import Context, RowColumn, View, ViewRecorder, day_of_decision


def moment(value: datetime) -> str:
    """A fixed-width UTC timestamp, so that text order is time order in both databases."""
    # ``isoformat`` rather than ``strftime``: the same text, in a quarter of the time.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _json(value: Any) -> str:
    return orjson.dumps(jsonable(value)).decode()


class TimelineView(View):
    """Every decision, in ledger order, filterable by model, type, actor, role and time."""

    name = "timeline"
    tables = ("view_timeline",)

    def create_statements(self, dialect: str) -> list[str]:
        """The timeline table and its indexes."""
        big = "BIGINT" if dialect == "postgres" else "INTEGER"
        return [
            "CREATE TABLE IF NOT EXISTS view_timeline ("
            f"sequence {big} PRIMARY KEY, notification_id {big} NOT NULL UNIQUE, "
            f"model TEXT NOT NULL, version {big} NOT NULL, type TEXT NOT NULL, "
            "recorded_at TEXT NOT NULL, effective_at TEXT, at TEXT NOT NULL, "
            "actor_id TEXT NOT NULL, actor_role TEXT NOT NULL, rationale TEXT NOT NULL, "
            "evidence TEXT NOT NULL, facts TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS view_timeline_model ON view_timeline (model, sequence)",
            "CREATE INDEX IF NOT EXISTS view_timeline_type ON view_timeline (type, sequence)",
            "CREATE INDEX IF NOT EXISTS view_timeline_actor ON view_timeline (actor_id, sequence)",
            "CREATE INDEX IF NOT EXISTS view_timeline_at ON view_timeline (at)",
        ]

    def apply(self, cursor: Any, event: Any, context: Context) -> None:
        """One row per event."""
        self.apply_page(cursor, [event], [context])

    def apply_page(
        self,
        cursor: Any,
        events: Sequence[Any],
        contexts: Sequence[Context],
        read: Any = None,  # noqa: ARG002 (this view reads nothing first)
    ) -> None:
        """The page's rows, in one statement."""
        self.view.insert_rows(
            cursor,
            "view_timeline",
            _TIMELINE_ROW,
            [
                _timeline_row(event, context)
                for event, context in zip(events, contexts, strict=True)
            ],
        )


_TIMELINE_ROW = tuple(
    RowColumn(name, kind)
    for name, kind in (
        ("sequence", "bigint"),
        ("notification_id", "bigint"),
        ("model", "text"),
        ("version", "bigint"),
        ("type", "text"),
        ("recorded_at", "text"),
        ("effective_at", "text"),
        ("at", "text"),
        ("actor_id", "text"),
        ("actor_role", "text"),
        ("rationale", "text"),
        ("evidence", "text"),
        ("facts", "text"),
    )
)


def _timeline_row(event: Any, context: Context) -> tuple[Any, ...]:
    recorded = moment(event.timestamp)
    effective = moment(event.effective_at) if event.effective_at else None
    return (
        context.position,
        context.notification_id,
        context.model,
        event.originator_version,
        type(event).__name__,
        recorded,
        effective,
        effective or recorded,
        sealed_text(event.actor.id),
        event.actor.role,
        sealed_text(event.rationale),
        _json(event.evidence),
        orjson.dumps(event_facts(event)).decode(),
    )


_SEALED_PREFIX = '{"commitment":'


def sealed_text(value: str | Sealed) -> str:
    """A text field as the timeline stores it (a rationale, an actor's id): its text, or a
    sealed one's public form in JSON, as the log shows it."""
    if isinstance(value, Sealed):
        return orjson.dumps({"commitment": value.commitment, "subject": value.subject}).decode()
    return value


def sealed_text_value(text: str) -> str | dict[str, str]:
    """A stored text field read back: its text, or a sealed one's public form."""
    if text.startswith(_SEALED_PREFIX):
        value: dict[str, str] = orjson.loads(text)
        return value
    return text


@dataclass(frozen=True)
class TimelineEntry:
    """One decision as the timeline shows it."""

    sequence: int
    model: str
    version: int
    type: str
    recorded_at: str
    effective_at: str | None
    # A researcher's id on their own request (policy 2), sealed, in its public form.
    actor_id: str | dict[str, str]
    actor_role: str
    # A sealed rationale (a decision on a person's request) in its public form, as the log
    # shows it: ``{"commitment", "subject"}``.
    rationale: str | dict[str, str]
    evidence: list[dict[str, Any]]
    facts: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return {
            "sequence": self.sequence,
            "model": self.model,
            "version": self.version,
            "type": self.type,
            "recorded_at": self.recorded_at,
            "effective_at": self.effective_at,
            "actor": {"id": self.actor_id, "role": self.actor_role},
            "rationale": self.rationale,
            "evidence": self.evidence,
            "facts": self.facts,
        }


_TIMELINE_COLUMNS = (
    "sequence, model, version, type, recorded_at, effective_at, actor_id, actor_role, "
    "rationale, evidence, facts"
)


def timeline_entry(row: tuple[Any, ...]) -> TimelineEntry:
    """A timeline row as a value."""
    return TimelineEntry(
        sequence=int(row[0]),
        model=row[1],
        version=int(row[2]),
        type=row[3],
        recorded_at=row[4],
        effective_at=row[5],
        actor_id=sealed_text_value(row[6]),
        actor_role=row[7],
        rationale=sealed_text_value(row[8]),
        evidence=orjson.loads(row[9]),
        facts=orjson.loads(row[10]),
    )


def timeline(
    recorder: ViewRecorder,
    *,
    model: str | None = None,
    event_type: str | None = None,
    actor: str | None = None,
    role: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: int | None = None,
    limit: int = 100,
) -> list[TimelineEntry]:
    """Decisions in ledger order, filtered; page with ``after`` = the last sequence seen.

    ``actor`` is an actor id, or the pseudonym (``ps:…``) of a researcher, whose own events
    name them only by it (disclosure policy 2).

    ``since``/``until`` bound the time each decision took effect (or was recorded, if it
    took effect then), inclusive.
    """
    p = recorder.param
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("model", model),
        ("type", event_type),
        ("actor_id", actor),
        ("actor_role", role),
    ):
        if value is None:
            continue
        if column == "actor_id" and PSEUDONYM.fullmatch(value):
            # A researcher on their own events is stored sealed (`sealed_text`), named by the
            # pseudonym that ends its public form: found by it, never by their login.
            clauses.append(f"actor_id LIKE {p}")
            params.append(f'%"subject":"{value}"}}')
        else:
            clauses.append(f"{column} = {p}")
            params.append(value)
    if since is not None:
        clauses.append(f"at >= {p}")
        params.append(moment(since))
    if until is not None:
        clauses.append(f"at <= {p}")
        params.append(moment(until))
    if after is not None:
        clauses.append(f"sequence > {p}")
        params.append(after)
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    rows = recorder.fetch(
        f"SELECT {_TIMELINE_COLUMNS} FROM view_timeline {where}"  # noqa: S608 (no user text)
        f"ORDER BY sequence LIMIT {p}",
        (*params, limit),
    )
    return [timeline_entry(row) for row in rows]


def timeline_entries(recorder: ViewRecorder, sequences: list[int]) -> dict[int, TimelineEntry]:
    """Timeline rows by sequence number."""
    p = recorder.param
    if not sequences:
        return {}
    marks = ", ".join(p for _ in sequences)
    rows = recorder.fetch(
        f"SELECT {_TIMELINE_COLUMNS} FROM view_timeline WHERE sequence IN ({marks})",  # noqa: S608
        sequences,
    )
    return {int(row[0]): timeline_entry(row) for row in rows}


class StatusView(View):
    """Each model's current lifecycle status."""

    name = "status"
    tables = ("view_models",)

    def create_statements(self, dialect: str) -> list[str]:
        """One row per model."""
        big = "BIGINT" if dialect == "postgres" else "INTEGER"
        return [
            "CREATE TABLE IF NOT EXISTS view_models (model TEXT PRIMARY KEY, family TEXT NOT NULL, "
            "developer TEXT NOT NULL, release_date TEXT NOT NULL, status TEXT NOT NULL, "
            f"version {big} NOT NULL, retirement_date TEXT, successor TEXT, retired_on TEXT, "
            "final_status TEXT, weights_digest TEXT, updated_at TEXT NOT NULL)"
        ]

    def apply(self, cursor: Any, event: Any, context: Context) -> None:
        """Keep the model's row current."""
        self.apply_page(cursor, [event], [context])

    def apply_page(
        self,
        cursor: Any,
        events: Sequence[Any],
        contexts: Sequence[Context],
        read: Any = None,  # noqa: ARG002 (this view reads nothing first)
    ) -> None:
        """The page's changes folded per model: one INSERT or UPDATE per model it touches."""
        registered: dict[str, dict[str, Any]] = {}
        changed: dict[str, dict[str, Any]] = {}
        for event, context in zip(events, contexts, strict=True):
            if type(event).__name__ == "ModelRegistered":
                registered[context.model] = {
                    "model": context.model,
                    "family": event.family,
                    "developer": event.developer,
                    "release_date": event.release_date.isoformat(),
                    "status": "registered",
                    "version": 1,
                    "updated_at": moment(event.timestamp),
                }
            else:
                row = registered.get(context.model)
                if row is None:
                    row = changed.setdefault(context.model, {})
                row.update(_status_changes(event))
        p = self.view.param
        for row in registered.values():
            names = ", ".join(row)
            marks = ", ".join(p for _ in row)
            self.view.execute(
                cursor,
                f"INSERT INTO view_models ({names}) VALUES ({marks})",  # noqa: S608 (names: code's)
                tuple(row.values()),
            )
        for model, changes in changed.items():
            assignments = ", ".join(f"{name} = {p}" for name in changes)
            self.view.execute(
                cursor,
                f"UPDATE view_models SET {assignments} WHERE model = {p}",  # noqa: S608 (code's)
                (*changes.values(), model),
            )


def _status_changes(event: Any) -> dict[str, Any]:
    """What an event after the registration changes in its model's row."""
    kind = type(event).__name__
    changes: dict[str, Any] = {}
    if kind == "RetirementScheduled":
        changes.update(
            status="retirement_scheduled",
            retirement_date=event.retirement_date.isoformat(),
            successor=event.successor,
        )
    elif kind == "ModelRetired":
        changes.update(
            status=event.final_status,
            final_status=event.final_status,
            retired_on=event.retired_on.isoformat(),
        )
    elif kind == "WeightsPreserved":
        changes.update(weights_digest=event.manifest_digest)
    changes.update(version=event.originator_version, updated_at=moment(event.timestamp))
    return changes


@dataclass(frozen=True)
class ModelStatus:
    """A model's row in the status view."""

    model: str
    family: str
    developer: str
    release_date: str
    status: str
    version: int
    retirement_date: str | None
    successor: str | None
    retired_on: str | None
    weights_digest: str | None
    updated_at: str


def model_statuses(recorder: ViewRecorder) -> list[ModelStatus]:
    """Every model, by name."""
    rows = recorder.fetch(
        "SELECT model, family, developer, release_date, status, version, retirement_date, "
        "successor, retired_on, weights_digest, updated_at FROM view_models ORDER BY model"
    )
    return [
        ModelStatus(r[0], r[1], r[2], r[3], r[4], int(r[5]), r[6], r[7], r[8], r[9], r[10])
        for r in rows
    ]


__all__ = ["StatusView", "TimelineView", "day_of_decision", "model_statuses", "timeline"]
