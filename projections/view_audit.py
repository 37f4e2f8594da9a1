"""Checking the views the board reads: recompute them from the events and compare, row by row.

`audit_views` replays the ledger's events through fresh copies of every view a `ViewRunner`
keeps (the very classes, driven by a `ViewRunner` of their own) into a scratch SQLite database
(`projections.scratch.ScratchRecorder`, a temporary file, so that a large replay lives on disk
rather than in memory). Each view is replayed exactly up to the position its tracking record
claims, so a view that is merely behind the head is reported as lagging, not as tampered. Then
every table of every view, and ``view_counts`` (how many events each view took), is compared
with the stored one in primary-key order, a page at a time from both databases (a server-side
cursor on PostgreSQL), naming each row missing from the stored view, each row the events do
not produce, and each column whose stored value differs from the recomputed one.

Values are normalised so that both backends compare equal: booleans as integers, integral
floats as integers (PostgreSQL DOUBLE PRECISION against SQLite REAL), bytes as bytes. The
search index is compared as its terms (`projections.search.search_terms`), which both backends
store exactly: FTS5's text on SQLite, the tsvector's lexemes on PostgreSQL.

What it trusts: the views' tracking records (a position moved back makes the stored view hold
rows the replay does not, which are named; moved forward, rows are missing, also named), and
the events themselves (`reliquary verify` checks those against the signed log). If another
process moves a view while the audit runs, the rows may differ for that reason alone: the
audit then says which views moved, and the result does not count as a pass.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from projections.runner import ViewRecorder, ViewRunner
from projections.scratch import ScratchRecorder

if TYPE_CHECKING:
    from domain.ledger import Ledger

PAGE = 1000
"""Rows read from each database at a time, per table."""
KEPT = 10_000
"""The most differences an audit keeps (all are counted; the first ones are kept)."""
COUNTS_TABLE = "view_counts"
_MISSING, _UNEXPECTED, _CHANGED = "missing", "unexpected", "changed"


@dataclass(frozen=True)
class Difference:
    """One way a stored view differs from the view recomputed from the events."""

    table: str
    key: tuple[tuple[str, Any], ...]  # (column, value) pairs of the row's primary key
    problem: str  # "missing" (from the stored view), "unexpected" (stored only), "changed"
    column: str | None = None
    stored: Any = None
    expected: Any = None

    def describe(self) -> str:
        """One line naming the table, the row's key and, for a change, the column and values."""
        key = ", ".join(f"{name}={value!r}" for name, value in self.key)
        where = f"{self.table} ({key})"
        if self.problem == _MISSING:
            return f"{where}: row missing from the stored view"
        if self.problem == _UNEXPECTED:
            return f"{where}: row in the stored view that the events do not produce"
        return f"{where}: {self.column} is {self.stored!r}, the events give {self.expected!r}"

    def as_json(self) -> dict[str, Any]:
        """The difference as JSON."""
        return {
            "table": self.table,
            "key": dict(self.key),
            "problem": self.problem,
            "column": self.column,
            "stored": self.stored,
            "expected": self.expected,
        }


@dataclass(frozen=True)
class Lag:
    """A view behind the head of the log (checked up to its own position, not beyond)."""

    view: str
    position: int
    head: int
    behind: int


@dataclass
class ViewAudit:
    """What the audit compared and what differed."""

    views: list[str]
    tables: list[str]
    rows: int = 0  # rows recomputed from the events, over every table
    differences: list[Difference] = field(default_factory=list)  # the first `KEPT`
    differences_total: int = 0
    lagging: list[Lag] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)  # views another process moved meanwhile

    @property
    def ok(self) -> bool:
        """Every stored row is the recomputed row, and no view moved during the audit."""
        return self.differences_total == 0 and not self.moved

    def as_json(self) -> dict[str, Any]:
        """The whole result as JSON."""
        return {
            "ok": self.ok,
            "views": self.views,
            "tables": self.tables,
            "rows": self.rows,
            "differences_total": self.differences_total,
            "differences": [d.as_json() for d in self.differences],
            "lagging": [vars(lag) for lag in self.lagging],
            "moved": self.moved,
        }


def audit_views(
    runner: ViewRunner,
    *,
    on_progress: Callable[[int], None] | None = None,
    page: int = PAGE,
    kept: int = KEPT,
) -> ViewAudit:
    """Recompute every view of ``runner`` from the events and compare it with the stored one.

    Nothing is written to the stored views (they are not caught up first). ``on_progress`` is
    told of events taken by the replay (events x views) and of rows compared.
    """
    positions = _positions(runner)
    audit = ViewAudit(
        views=list(runner.views),
        tables=[t for view in runner.views.values() for t in view.tables] + [COUNTS_TABLE],
        lagging=[Lag(s.name, s.position, s.head, s.behind) for s in runner.status() if s.behind],
    )
    with tempfile.TemporaryDirectory(prefix="reliquary-view-audit-") as folder:
        scratch = ScratchRecorder(str(Path(folder) / "views.db"))
        try:
            scratch.connection.execute("PRAGMA journal_mode = OFF")
            scratch.connection.execute("PRAGMA synchronous = OFF")
            _replay(runner, scratch, positions, on_progress)
            _compare(runner.recorder, scratch, audit, page, kept, on_progress)
        finally:
            scratch.close()
    after = _positions(runner)
    audit.moved = [name for name in positions if after[name] != positions[name]]
    return audit


def _positions(runner: ViewRunner) -> dict[str, int]:
    return {name: runner.recorder.max_tracking_id(name) or 0 for name in runner.views}


class _Upto:
    """The ledger as if its log ended at notification id ``stop`` (all else passes through)."""

    def __init__(self, ledger: Ledger, stop: int) -> None:
        self._ledger = ledger
        self.stop = stop

    def notifications_after(
        self, position: int, topics: Sequence[str] = (), page: int = 1000
    ) -> Iterator[Any]:
        for notification in self._ledger.notifications_after(position, topics, page):
            if notification.id > self.stop:
                return
            yield notification

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)


def _replay(
    runner: ViewRunner,
    scratch: ScratchRecorder,
    positions: dict[str, int],
    on_progress: Callable[[int], None] | None,
) -> None:
    """Each view into the scratch database, up to its own tracked position.

    One replay runner takes every view to the lowest position, then those further on to the
    next, and so on: the events are read once, whatever the positions.
    """
    upto = _Upto(runner.ledger, 0)
    views = [type(view)(scratch) for view in runner.views.values()]
    replay = ViewRunner(cast("Ledger", upto), scratch, views)
    replay.page = runner.page
    replay.create_tables()
    for stop in sorted(set(positions.values()) - {0}):
        upto.stop = stop
        chosen = [name for name, position in positions.items() if position >= stop]
        replay.catch_up(chosen, on_progress)


@dataclass(frozen=True)
class _Table:
    name: str
    key: tuple[str, ...]
    columns: tuple[str, ...]  # the key's columns first
    stored_select: str
    scratch_select: str


def _table(
    stored: ViewRecorder, scratch: ScratchRecorder, name: str, views: Sequence[str]
) -> _Table:
    """How to read one table from both databases in the same key order (of the counts, the
    audited views' rows only: other views may share the table)."""
    if name == "view_search":
        return _search_table(stored)
    info = scratch.connection.execute(f"PRAGMA table_info({name})").fetchall()
    types = {row[1]: str(row[2]).upper() for row in info}
    primary = [row[1] for row in sorted((row for row in info if row[5]), key=lambda r: r[5])]
    key = tuple(primary) or tuple(types)
    columns = key + tuple(column for column in types if column not in key)
    postgres = stored.dialect == "postgres"
    order = ", ".join(
        f'{column} COLLATE "C"' if postgres and "TEXT" in types[column] else column
        for column in key
    )
    where = ""
    if name == COUNTS_TABLE:  # view names are the code's own: quoted here, never input
        where = "WHERE name IN (" + ", ".join(f"'{view}'" for view in views) + ") "
    return _Table(
        name=name,
        key=key,
        columns=columns,
        stored_select=f"SELECT {', '.join(columns)} FROM {name} {where}ORDER BY {order}",  # noqa: S608 (names from the views' own DDL)
        scratch_select=f"SELECT {', '.join(columns)} FROM {name} {where}ORDER BY {', '.join(key)}",  # noqa: S608
    )


def _search_table(stored: ViewRecorder) -> _Table:
    """The search index, as its terms: FTS5's text (rowid = sequence) on SQLite; on PostgreSQL
    the tsvector's lexemes, which are exactly the terms (``array_to_tsvector``), in code point
    order as `projections.search.search_terms` sorts them."""
    sqlite = "SELECT rowid AS sequence, terms, model, type FROM view_search ORDER BY rowid"
    postgres = (
        "SELECT sequence, array_to_string(ARRAY(SELECT lexeme FROM "
        "unnest(tsvector_to_array(document)) AS lexeme ORDER BY lexeme COLLATE \"C\"), ' ') "
        "AS terms, model, type FROM view_search ORDER BY sequence"
    )
    return _Table(
        name="view_search",
        key=("sequence",),
        columns=("sequence", "terms", "model", "type"),
        stored_select=postgres if stored.dialect == "postgres" else sqlite,
        scratch_select=sqlite,
    )


def _compare(
    stored: ViewRecorder,
    scratch: ScratchRecorder,
    audit: ViewAudit,
    page: int,
    kept: int,
    on_progress: Callable[[int], None] | None,
) -> None:
    """Every table, row by row in key order, stored against recomputed."""

    def differ(difference: Difference) -> None:
        audit.differences_total += 1
        if len(audit.differences) < kept:
            audit.differences.append(difference)

    with stored.reading() as cursor:
        for number, name in enumerate(audit.tables):
            table = _table(stored, scratch, name, audit.views)
            width = len(table.key)
            have = _stored_rows(stored, cursor, table, page, number)
            want = _scratch_rows(scratch, table, page)
            s, e = next(have, None), next(want, None)
            while s is not None or e is not None:
                if e is None or (s is not None and _order(s[:width]) < _order(e[:width])):
                    assert s is not None  # noqa: S101 (for the type checker)
                    differ(Difference(name, _key(table, s), _UNEXPECTED))
                    s = next(have, None)
                    continue
                audit.rows += 1
                if on_progress and audit.rows % page == 0:
                    on_progress(page)
                if s is None or _order(e[:width]) < _order(s[:width]):
                    differ(Difference(name, _key(table, e), _MISSING))
                    e = next(want, None)
                    continue
                for column, mine, theirs in zip(table.columns, s, e, strict=True):
                    if mine != theirs:
                        differ(Difference(name, _key(table, e), _CHANGED, column, mine, theirs))
                s, e = next(have, None), next(want, None)


def _stored_rows(
    stored: ViewRecorder, cursor: Any, table: _Table, page: int, number: int
) -> Iterator[tuple[Any, ...]]:
    """The stored table in key order, a page at a time (a server-side cursor on PostgreSQL)."""
    if stored.dialect == "postgres":
        reader = cursor.connection.cursor(name=f"reliquary_view_audit_{number}")
    else:  # the library wraps SQLite's cursor, and its wrapper cannot fetch a page
        reader = getattr(stored.reader(cursor), "sqlite_cursor", stored.reader(cursor))
    try:
        reader.execute(table.stored_select)
        yield from _ordered(table, (_normal_row(stored.values(r)) for r in _pages(reader, page)))
    finally:
        if stored.dialect == "postgres":
            reader.close()


def _scratch_rows(scratch: ScratchRecorder, table: _Table, page: int) -> Iterator[tuple[Any, ...]]:
    """The recomputed table in key order, a page at a time."""
    reader = scratch.connection.execute(table.scratch_select)
    while rows := reader.fetchmany(page):
        yield from _ordered(table, (_normal_row(tuple(row)) for row in rows))


def _pages(reader: Any, page: int) -> Iterator[Any]:
    while rows := reader.fetchmany(page):
        yield from rows


def _ordered(table: _Table, rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """The rows, checked to come in the order the comparison assumes (else it would lie)."""
    width = len(table.key)
    last: tuple[Any, ...] | None = None
    for row in rows:
        order = _order(row[:width])
        if last is not None and order < last:
            raise RuntimeError(
                f"{table.name}: the database returned rows out of key order; cannot compare"
            )
        last = order
        yield row


def _key(table: _Table, row: tuple[Any, ...]) -> tuple[tuple[str, Any], ...]:
    return tuple(zip(table.key, row[: len(table.key)], strict=True))


def _order(key: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    """A key as both databases order it: NULL, then numbers, then text (code points), bytes."""
    return tuple(_rank(value) for value in key)


def _rank(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, value)


def _normal_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(_normal(value) for value in row)


def _normal(value: Any) -> Any:
    """A value as both backends' drivers would agree on it."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
