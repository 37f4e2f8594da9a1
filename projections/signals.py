"""The signals register: each model's monitoring values per kind and period.

A model has one value per signal kind and period (``period_start`` to ``period_end``); a later
value for the same period is a correction of it, with its reason (docs/events.md,
`SignalRecorded`). The view keeps one row per (model, kind, period): the current value and, once
corrected, the reason, the day of the correction and the value it replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from projections.page_rows import KeyedRows
from projections.runner import Context, RowColumn, View, ViewRecorder, day_of_decision


@dataclass(frozen=True)
class SignalRow:
    """One model's value of one signal kind for one period."""

    model: str
    kind: str  # user_satisfaction | safety_incidents | serving_cost | research_use
    period_start: date
    period_end: date
    value: float  # the current value
    unit: str
    recorded_on: date  # the day the period's first value took effect
    corrections: int  # how many times the value was corrected
    corrected_on: date | None  # the day of the latest correction
    correction_reason: str | None  # the latest correction's reason
    replaced_value: float | None  # the value the latest correction replaced
    replaced_unit: str | None


class SignalView(View):
    """Signal values per model, kind and period, with their corrections."""

    name = "signals"
    tables = ("view_signals",)

    def create_statements(self, dialect: str) -> list[str]:  # noqa: ARG002 (one DDL for both)
        """One row per model, kind and period."""
        return [
            "CREATE TABLE IF NOT EXISTS view_signals (model TEXT NOT NULL, kind TEXT NOT NULL, "
            "period_start TEXT NOT NULL, period_end TEXT NOT NULL, "
            "value DOUBLE PRECISION NOT NULL, unit TEXT NOT NULL, recorded_on TEXT NOT NULL, "
            "corrections INTEGER NOT NULL, corrected_on TEXT, correction_reason TEXT, "
            "replaced_value DOUBLE PRECISION, replaced_unit TEXT, "
            "PRIMARY KEY (model, kind, period_start, period_end))"
        ]

    def apply(self, cursor: Any, event: Any, context: Context) -> None:
        """A period's first value inserts its row; a correction (or, in events recorded before
        corrections existed, a second value) replaces the value and keeps the one it replaced."""
        self.apply_page(cursor, [event], [context])

    def read_page(self, cursor: Any, events: Sequence[Any], contexts: Sequence[Context]) -> Any:
        """Ask for the rows of the periods the page's signals fall in."""
        rows = KeyedRows(self.view, cursor, "view_signals", _SIGNAL_KEY, _SIGNAL)
        for event, context in zip(events, contexts, strict=True):
            if type(event).__name__ == "SignalRecorded":
                rows.need(_key(event, context))
        rows.load()
        return rows

    def apply_page(
        self, cursor: Any, events: Sequence[Any], contexts: Sequence[Context], read: Any = None
    ) -> None:
        """The page folded per model, kind and period (`KeyedRows`)."""
        rows = read if read is not None else self.read_page(cursor, events, contexts)
        taken = [
            (event, _key(event, context))
            for event, context in zip(events, contexts, strict=True)
            if type(event).__name__ == "SignalRecorded"
        ]
        for event, key in taken:
            day = day_of_decision(event).isoformat()
            row = rows.get(key)
            if row is None:
                rows.add(
                    key,
                    {
                        "value": float(event.value),
                        "unit": event.unit,
                        "recorded_on": day,
                        "corrections": 0,
                        "corrected_on": None,
                        "correction_reason": None,
                        "replaced_value": None,
                        "replaced_unit": None,
                    },
                )
            else:
                row.update(
                    replaced_value=row["value"],
                    replaced_unit=row["unit"],
                    value=float(event.value),
                    unit=event.unit,
                    corrections=int(row["corrections"]) + 1,
                    corrected_on=day,
                    correction_reason=event.correction_reason,
                )
        rows.write()


def _key(event: Any, context: Context) -> tuple[str, str, str, str]:
    return (
        context.model,
        event.kind,
        event.period_start.isoformat(),
        event.period_end.isoformat(),
    )


_SIGNAL_KEY = tuple(
    RowColumn(name, "text") for name in ("model", "kind", "period_start", "period_end")
)
_SIGNAL = (
    RowColumn("value", "float8"),
    RowColumn("unit", "text"),
    RowColumn("recorded_on", "text"),
    RowColumn("corrections", "integer"),
    RowColumn("corrected_on", "text"),
    RowColumn("correction_reason", "text"),
    RowColumn("replaced_value", "float8"),
    RowColumn("replaced_unit", "text"),
)


def signals(recorder: ViewRecorder, model: str | None = None) -> list[SignalRow]:
    """Every signal value (of one model, if named), by model, kind and period."""
    p = recorder.param
    where, params = (f"WHERE model = {p} ", (model,)) if model else ("", ())
    statement = (
        "SELECT model, kind, period_start, period_end, value, unit, recorded_on, "  # noqa: S608 (no input)
        "corrections, corrected_on, correction_reason, replaced_value, replaced_unit "
        f"FROM view_signals {where}ORDER BY model, kind, period_start, period_end"
    )
    return [
        SignalRow(
            model=r[0],
            kind=r[1],
            period_start=date.fromisoformat(r[2]),
            period_end=date.fromisoformat(r[3]),
            value=float(r[4]),
            unit=r[5],
            recorded_on=date.fromisoformat(r[6]),
            corrections=int(r[7]),
            corrected_on=date.fromisoformat(r[8]) if r[8] else None,
            correction_reason=r[9],
            replaced_value=float(r[10]) if r[10] is not None else None,
            replaced_unit=r[11],
        )
        for r in recorder.fetch(statement, params)
    ]
