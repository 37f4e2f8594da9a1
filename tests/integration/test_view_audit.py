"""Auditing the views: recomputed from the events, every stored difference named exactly."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.bootstrap import build_views
from api.cli.demo import load_demo, scenario_lines
from api.settings import Settings
from domain.commands import parse_command
from domain.ledger import Ledger
from projections.runner import ViewRunner
from projections.view_audit import Difference, audit_views
from tests.support import parse, register, unique


@pytest.fixture
def views(database_url: str, ledger: Ledger) -> ViewRunner:
    load_demo(ledger)
    runner = build_views(ledger, Settings(database_url=database_url))
    runner.catch_up()
    return runner


def tamper(runner: ViewRunner, statement: str, params: tuple[Any, ...] = ()) -> None:
    """Change a stored view behind the runner's back (a statement written with ``?``)."""
    statement = statement.replace("?", runner.recorder.param)
    with runner.recorder.transaction() as cursor:
        runner.recorder.execute(cursor, statement, params)


def only(runner: ViewRunner) -> Difference:
    audit = audit_views(runner)
    assert not audit.ok
    assert audit.differences_total == len(audit.differences) == 1, audit.differences
    return audit.differences[0]


def test_views_kept_by_the_runner_pass(views: ViewRunner) -> None:
    audit = audit_views(views, page=7)  # pages smaller than the tables
    assert audit.ok, [d.describe() for d in audit.differences]
    assert audit.views == list(views.views)
    assert "view_search" in audit.tables
    assert "view_counts" in audit.tables
    stored = sum(views.recorder.fetch(f"SELECT COUNT(*) FROM {t}")[0][0] for t in audit.tables)  # noqa: S608
    assert audit.rows == stored
    assert audit.lagging == []
    assert audit.moved == []


def test_a_changed_status_is_named(views: ViewRunner) -> None:
    model, request_id, status = views.recorder.fetch(
        "SELECT model, request_id, status FROM view_access_requests "
        "WHERE status <> 'approved' ORDER BY model, request_id"
    )[0]
    tamper(
        views,
        "UPDATE view_access_requests SET status = 'approved' WHERE model = ? AND request_id = ?",
        (model, request_id),
    )
    assert only(views) == Difference(
        "view_access_requests",
        (("model", model), ("request_id", request_id)),
        "changed",
        "status",
        "approved",
        status,
    )


def test_a_deleted_timeline_row_is_named(views: ViewRunner) -> None:
    tamper(views, "DELETE FROM view_timeline WHERE sequence = 3")
    difference = only(views)
    assert difference == Difference("view_timeline", (("sequence", 3),), "missing")
    assert "view_timeline (sequence=3): row missing" in difference.describe()


def test_an_inserted_row_is_named(views: ViewRunner) -> None:
    tamper(
        views,
        "INSERT INTO view_essays (model, essay_id, title, drafted_on, status) "
        "VALUES ('harbor-7b', 'bogus', 'Not an essay', '2025-01-01', 'published')",
    )
    assert only(views) == Difference(
        "view_essays", (("model", "harbor-7b"), ("essay_id", "bogus")), "unexpected"
    )


def test_a_changed_count_is_named(views: ViewRunner) -> None:
    (taken,) = views.recorder.fetch("SELECT taken FROM view_counts WHERE name = 'search'")[0]
    tamper(views, "UPDATE view_counts SET taken = taken + 5 WHERE name = 'search'")
    assert only(views) == Difference(
        "view_counts", (("name", "search"),), "changed", "taken", taken + 5, taken
    )


def test_a_changed_signal_value_and_a_search_entry_are_named(views: ViewRunner) -> None:
    model, kind, start, end, value = views.recorder.fetch(
        "SELECT model, kind, period_start, period_end, value FROM view_signals "
        "ORDER BY model, kind, period_start, period_end"
    )[0]
    tamper(
        views,
        "UPDATE view_signals SET value = value + 0.5 WHERE model = ? AND kind = ? "
        "AND period_start = ? AND period_end = ?",
        (model, kind, start, end),
    )
    # The search index's sequence is the FTS5 table's rowid on SQLite.
    sequence = "rowid" if views.recorder.dialect == "sqlite" else "sequence"
    tamper(views, f"DELETE FROM view_search WHERE {sequence} = 0")
    audit = audit_views(views)
    found = {(d.table, d.problem, d.column) for d in audit.differences}
    assert found == {("view_signals", "changed", "value"), ("view_search", "missing", None)}
    signal = next(d for d in audit.differences if d.table == "view_signals")
    assert (signal.stored, signal.expected) == (value + 0.5, value)


def test_a_view_behind_the_head_lags_and_is_not_tampered(database_url: str, ledger: Ledger) -> None:
    lines = scenario_lines()
    for line in lines[:30]:
        ledger.execute(parse_command(line))
    runner = build_views(ledger, Settings(database_url=database_url))
    runner.page = 8
    runner.catch_up()
    for line in lines[30:]:
        ledger.execute(parse_command(line))
    runner.catch_up(["essays"])  # one view at the head, the others 30 events in
    ledger.execute(parse(register(unique())))  # and now every view is behind
    audit = audit_views(runner)
    assert audit.ok, [d.describe() for d in audit.differences]
    behind = {lag.view: lag.behind for lag in audit.lagging}
    assert behind == {
        name: (1 if name == "essays" else len(lines) - 30 + 1) for name in runner.views
    }


def test_a_view_that_never_ran_is_empty_and_passes(database_url: str, ledger: Ledger) -> None:
    runner = build_views(ledger, Settings(database_url=database_url))
    runner.create_tables()
    ledger.execute(parse(register(unique())))
    audit = audit_views(runner)
    assert audit.ok
    assert audit.rows == 0
    assert {lag.view for lag in audit.lagging} == set(runner.views)


# Tables whose rows a single-cell change is tried on, with their key columns.
TABLES = {
    "view_models": ("model",),
    "view_access_requests": ("model", "request_id"),
    "view_essays": ("model", "essay_id"),
    "view_preferences": ("model", "preference_id"),
    "view_timeline": ("sequence",),
}


@given(data=st.data())
def test_any_single_cell_change_names_exactly_that_cell(views: ViewRunner, data: Any) -> None:
    table = data.draw(st.sampled_from(sorted(TABLES)), label="table")
    key = TABLES[table]
    rows = views.recorder.fetch(f"SELECT * FROM {table}")  # noqa: S608
    columns = _columns(views, table)
    row = dict(zip(columns, data.draw(st.sampled_from(rows), label="row"), strict=True))
    text = [c for c in columns if c not in key and _is_text(row[c])]
    column = data.draw(st.sampled_from(text), label="column")
    value = data.draw(
        st.text(
            st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1
        ).filter(lambda v: v != row[column]),
        label="value",
    )
    where = " AND ".join(f"{k} = ?" for k in key)
    params = tuple(row[k] for k in key)
    tamper(views, f"UPDATE {table} SET {column} = ? WHERE {where}", (value, *params))  # noqa: S608
    try:
        assert only(views) == Difference(
            table, tuple(zip(key, params, strict=True)), "changed", column, value, row[column]
        )
    finally:
        tamper(views, f"UPDATE {table} SET {column} = ? WHERE {where}", (row[column], *params))  # noqa: S608


def _columns(runner: ViewRunner, table: str) -> list[str]:
    if runner.recorder.dialect == "sqlite":
        return [r[1] for r in runner.recorder.fetch(f"PRAGMA table_info({table})")]
    rows = runner.recorder.fetch(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = %s AND table_schema = current_schema() ORDER BY ordinal_position",
        (table,),
    )
    return [r[0] for r in rows]


def _is_text(value: Any) -> bool:
    return value is None or isinstance(value, str)
