"""Following the event log into views: exactly once, in order, resumable, rebuildable.

Each view is a library `Projection` whose view is a tracking recorder of the library on the
ledger's own database (SQLite or PostgreSQL) or on a database of the views' own
(``RELIQUARY_VIEWS_DATABASE_URL``), extended with a `transaction` the view writes its rows in,
together with the tracking record of the last event it took. A view writes a page in a few
statements (`View.apply_page`: rows inserted and updated as arrays, `ViewRecorder.insert_rows`
and `update_rows`; what a page changes per key folded in memory, `projections.page_rows`).
The library's `ProjectionRunner` cannot follow an SQLite application (it has no subscriptions), so
`ViewRunner` drives the same projections on both backends by reading the notification log
after each view's tracked position through the ledger's pager (`Ledger.notifications_after`),
a page at a time: one transaction per view per page, so a crash leaves each view either with
the whole page and its tracking record, or with neither.

Who writes the views is decided once per process (`ViewRunner.catches_up_on_read`): a process
that may write them catches them up before each answer; one that may not (the HTTP service
under the hardened deployment's service role) reads them as they are, kept current by the
projection runner's role (`ViewRunner.follow`, ``reliquary projections follow``), and says how
far behind they are (`Basis`). `reliquary projections status` shows each view's position
against the head of the log, and `rebuild` empties a view's tables and tracking record (rows
deleted, tables kept) and takes every event again.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from eventsourcing.persistence import (
    IntegrityError,
    Notification,
    OperationalError,
    ProgrammingError,
    Tracking,
    TrackingRecorder,
)
from eventsourcing.projection import Projection

from domain.decisions import Sealed, sealed_in, with_sealed
from domain.identity import model_id

if TYPE_CHECKING:
    from domain.ledger import Ledger

TRACKING_TABLE = "view_tracking"


@dataclass(frozen=True)
class RowColumn:
    """A column of rows inserted together (`ViewRecorder.insert_rows`): its name, its
    PostgreSQL type, and, if the stored value is computed from the one sent, the PostgreSQL
    expression that computes it from ``{}`` (the value sent)."""

    name: str
    postgres_type: str
    postgres_expression: str = "{}"


class ViewRecorder(TrackingRecorder):
    """What a view needs from the database: transactions, a dialect, and tracking.

    The statements views, API tokens and idempotency keys run are written once, with the
    recorder's `param` where a value goes (``?`` on SQLite, ``%s`` on PostgreSQL), in
    f-strings: ``f"UPDATE view_models SET version = {p} WHERE model = {p}"``. Nothing rewrites
    a statement afterwards, and the few that differ by more than a placeholder (DDL, full-text
    search) choose by `dialect`. A dialect's recorder (`projections.sqlite_recorder`,
    `projections.postgres_recorder`) says how to open a transaction and read a row; running
    statements, reading rows and tracking are written here, once.
    """

    dialect: ClassVar[str]
    param: ClassVar[str]

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        """A cursor in a transaction that commits when the block ends without error."""
        raise NotImplementedError

    def reading(self) -> contextlib.AbstractContextManager[Any]:
        """A cursor in a transaction that only reads."""
        raise NotImplementedError

    def values(self, row: Any) -> tuple[Any, ...]:
        """A fetched row as a tuple."""
        raise NotImplementedError

    def reader(self, cursor: Any) -> Any:
        """A cursor, in the same transaction, whose results are read back."""
        return cursor

    def _insert_tracking(self, cursor: Any, tracking: Tracking) -> None:
        """The library's: record a tracking position with a cursor."""
        raise NotImplementedError

    def execute(self, cursor: Any, statement: str, params: Sequence[Any] = ()) -> None:
        """Run one statement (written with `param`)."""
        cursor.execute(statement, tuple(params))

    def insert_rows(
        self,
        cursor: Any,
        table: str,
        columns: Sequence[RowColumn],
        rows: Sequence[Sequence[Any]],
    ) -> None:
        """Insert many rows in one statement (``executemany`` on SQLite; PostgreSQL overrides
        it with one ``INSERT ... SELECT FROM unnest`` of binary arrays)."""
        if not rows:
            return
        names = ", ".join(column.name for column in columns)
        marks = ", ".join(self.param for _ in columns)
        cursor.executemany(
            f"INSERT INTO {table} ({names}) VALUES ({marks})",  # noqa: S608 (names: code's)
            [tuple(row) for row in rows],
        )

    def update_rows(
        self,
        cursor: Any,
        table: str,
        key: Sequence[RowColumn],
        columns: Sequence[RowColumn],
        rows: Sequence[Sequence[Any]],
    ) -> None:
        """Update many rows, each found by its key: rows are the key's values, then the
        columns' (``executemany`` on SQLite; one ``UPDATE ... FROM unnest`` on PostgreSQL)."""
        if not rows:
            return
        p = self.param
        assignments = ", ".join(f"{column.name} = {p}" for column in columns)
        where = " AND ".join(f"{column.name} = {p}" for column in key)
        width = len(key)
        cursor.executemany(
            f"UPDATE {table} SET {assignments} WHERE {where}",  # noqa: S608 (names: code's)
            [(*row[width:], *row[:width]) for row in rows],
        )

    def rows_by_keys(
        self,
        cursor: Any,
        table: str,
        key: Sequence[RowColumn],
        columns: Sequence[RowColumn],
        keys: Sequence[tuple[Any, ...]],
    ) -> Callable[[], dict[tuple[Any, ...], tuple[Any, ...]]]:
        """Ask for the named columns of the rows with these keys, in the transaction of
        ``cursor``, in one statement; the answer, by key, when the returned function is called.

        On PostgreSQL the statement is sent and its rows read only when asked for, so that a
        page's reads all go out before its writes and the page waits for the server once
        (`ViewRunner._take`). On SQLite (row values, in chunks under its limit on parameters)
        the rows are read at once.
        """
        found: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        names = ", ".join(column.name for column in (*key, *columns))
        keyed = ", ".join(column.name for column in key)
        width = len(key)
        marks = "(" + ", ".join(self.param for _ in key) + ")"
        chunk = max(1, 30_000 // width)
        for start in range(0, len(keys), chunk):
            part = keys[start : start + chunk]
            reader = self.reader(cursor)
            reader.execute(
                f"SELECT {names} FROM {table} WHERE ({keyed}) IN "  # noqa: S608 (names: code's)
                f"(VALUES {', '.join(marks for _ in part)})",
                [value for k in part for value in k],
            )
            for row in reader.fetchall():
                values = self.values(row)
                found[tuple(values[:width])] = tuple(values[width:])
        return lambda: found

    def fetch(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query in a transaction of its own; return its rows as tuples."""
        with self.reading() as cursor:
            cursor.execute(statement, tuple(params))
            return [self.values(row) for row in cursor.fetchall()]

    def fetch_row(
        self, cursor: Any, statement: str, params: Sequence[Any] = ()
    ) -> tuple[Any, ...] | None:
        """Run a query in the transaction of ``cursor``; return its first row, if any."""
        reader = self.reader(cursor)
        reader.execute(statement, tuple(params))
        row = reader.fetchone()
        return None if row is None else self.values(row)

    def tracked_positions(self, cursor: Any, names: Sequence[str]) -> dict[str, int]:
        """The last notification id each named view took (absent: none), read in the
        transaction of ``cursor``."""
        marks = ", ".join(self.param for _ in names)
        reader = self.reader(cursor)
        reader.execute(
            "SELECT application_name, MAX(notification_id) "  # noqa: S608 (names: params)
            f"FROM {TRACKING_TABLE} WHERE application_name IN ({marks}) "
            "GROUP BY application_name",
            tuple(names),
        )
        return {
            str(name): int(position or 0)
            for name, position in (self.values(row) for row in reader.fetchall())
        }

    def track(self, cursor: Any, tracking: Tracking) -> None:
        """Record, in the view's transaction, the last event the view took."""
        self._insert_tracking(self.reader(cursor), tracking)

    def forget(self, name: str) -> None:
        """Drop a view's tracking record, so that it takes every event again."""
        with self.transaction() as cursor:
            self.execute(
                cursor,
                f"DELETE FROM {TRACKING_TABLE} WHERE application_name = {self.param}",
                (name,),
            )


@dataclass
class Context:
    """What a view knows besides the event: the model's name and the event's position."""

    model: str
    position: int
    notification_id: int


class View(Projection[ViewRecorder]):
    """A projection whose rows live in tables of its own, beside the events."""

    name = "view"
    # The tables this view writes (tables only: a rebuild deletes their rows).
    tables: tuple[str, ...] = ()
    # The schema version (`api.bootstrap.SCHEMA_VERSION`) that last changed these tables'
    # columns: a store upgraded from an older version drops and rebuilds them (`upgrade`).
    changed_in = 1
    # Whether the view takes private fields opened (their values, for the readers the API lets
    # see them) or sealed (commitments, as in the public log). See `opened_events`.
    opens_sealed = False
    # The event types whose sealed values a view that opens them needs opened (None: all).
    # Events of other types reach it as they are: finding a page's sealed values costs.
    opened_types: frozenset[str] | None = None

    def create_statements(self, dialect: str) -> list[str]:
        """DDL that creates the view's tables if they do not exist."""
        raise NotImplementedError

    def apply(self, cursor: Any, event: Any, context: Context) -> None:
        """Write what one event changes (the runner tracks it in the same transaction)."""
        raise NotImplementedError

    def read_page(self, cursor: Any, events: Sequence[Any], contexts: Sequence[Context]) -> Any:  # noqa: ARG002 (a view that reads overrides it)
        """Ask for what the view must read to take a page (nothing by default), before any
        view writes: the runner asks every view first, then has each write (`apply_page`,
        given what this returned), so that on PostgreSQL a page waits for the server once
        rather than once per view."""
        return None

    def apply_page(
        self,
        cursor: Any,
        events: Sequence[Any],
        contexts: Sequence[Context],
        read: Any = None,  # noqa: ARG002 (this view reads nothing first)
    ) -> None:
        """Write what a page of events changes, in the page's transaction.

        One event at a time by default. A view whose rows a page can write in a few statements
        (the timeline's and search's in one each, the status folded per model) overrides this:
        a statement costs the client about 20 µs whatever it writes, and the views issued four
        per event when each was written alone (docs/performance.md). Whatever a view writes
        here must equal what `apply`, one event at a time, would have written: the tests
        compare a rebuild with an incremental catch-up of pages of every size.
        """
        for event, context in zip(events, contexts, strict=True):
            self.apply(cursor, event, context)

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """The library's interface: take one event and its tracking record atomically."""
        raise NotImplementedError(
            "views are driven by ViewRunner, which knows each event's model and position"
        )


@dataclass(frozen=True)
class Basis:
    """What an answer was computed from: how many events, against the latest signed checkpoint.

    ``events`` is how many events the answer reflects: the log's first ``events`` events, in
    ledger order (a page's views, or the ledger position a report names). ``recorded`` is how
    many events the ledger held when asked, so ``recorded - events`` were recorded but are not
    in the answer yet. The checkpoint is the latest signed one (None: none signed yet); its
    root is base64, as in the checkpoint's note. Against it, the answer is ``at`` the
    checkpoint (exactly its events), ``ahead`` of it (``unsigned`` events not yet in a signed
    checkpoint), or ``behind`` it (the checkpoint has ``size - events`` events more, and still
    covers every event of the answer, so each can be proven against it).
    """

    events: int
    recorded: int
    checkpoint_size: int | None
    checkpoint_root: str | None
    checkpoint_signed_at: str | None

    @property
    def behind_ledger(self) -> int:
        """Events recorded that the answer does not reflect yet."""
        return max(self.recorded - self.events, 0)

    @property
    def relation(self) -> str:
        """``at``, ``ahead`` or ``behind`` the latest signed checkpoint, or ``unsigned``."""
        if self.checkpoint_size is None:
            return "unsigned"
        if self.events == self.checkpoint_size:
            return "at"
        return "ahead" if self.events > self.checkpoint_size else "behind"

    @property
    def covered(self) -> bool:
        """Whether a signed checkpoint covers every event of the answer (``at`` or ``behind``)."""
        return self.checkpoint_size is not None and self.unsigned == 0

    @property
    def unsigned(self) -> int:
        """Events of the answer that no signed checkpoint covers yet."""
        return max(self.events - (self.checkpoint_size or 0), 0)

    def as_json(self) -> dict[str, Any]:
        """The basis as JSON (the ``basis`` field of reports and the CLI's ``--json``)."""
        checkpoint = None
        if self.checkpoint_size is not None:
            checkpoint = {
                "size": self.checkpoint_size,
                "root_hash": self.checkpoint_root,
                "signed_at": self.checkpoint_signed_at,
            }
        return {
            "events": self.events,
            "recorded": self.recorded,
            "behind_ledger": self.behind_ledger,
            "checkpoint": checkpoint,
            "relation": self.relation,
            "unsigned": self.unsigned,
        }

    def header(self) -> str:
        """The basis as an RFC 8941 dictionary, for the ``Reliquary-Basis`` HTTP header."""
        parts = [
            f"events={self.events}",
            f"recorded={self.recorded}",
            f"behind-ledger={self.behind_ledger}",
            f"relation={self.relation}",
            f"unsigned={self.unsigned}",
        ]
        if self.checkpoint_size is not None:
            parts += [
                f"checkpoint-size={self.checkpoint_size}",
                f"checkpoint-root=:{self.checkpoint_root}:",
                f'signed-at="{self.checkpoint_signed_at}"',
            ]
        return ", ".join(parts)

    def text(self) -> str:
        """The basis in one sentence (a page's footer, a report, the CLI's messages)."""
        reflects = f"Computed from the log's first {self.events} event(s)"
        if self.behind_ledger:
            reflects += f"; {self.behind_ledger} recorded after them are not in it"
        if self.checkpoint_size is None:
            return reflects + "; no checkpoint has been signed yet."
        checkpoint = (
            f"the latest signed checkpoint (size {self.checkpoint_size}, root "
            f"{self.checkpoint_root}, signed {self.checkpoint_signed_at})"
        )
        if self.relation == "at":
            return f"{reflects}; exactly {checkpoint}."
        if self.relation == "ahead":
            return f"{reflects}; {self.unsigned} of them not yet in {checkpoint}."
        more = (self.checkpoint_size or 0) - self.events
        return f"{reflects}; behind {checkpoint} by {more} event(s), which covers all of them."


@dataclass(frozen=True)
class ViewStatus:
    """Where a view stands against the head of the log, and how far behind it is.

    ``behind`` counts the events after ``position`` (notification ids have gaps on PostgreSQL,
    so it is counted, not ``head - position``); with a limit (`ViewRunner.status`) it stops
    there. ``lag_seconds`` is the age of the oldest event the view has not taken (now minus
    that event's timestamp, the writer's clock when it was recorded), 0 when caught up:
    how long the oldest decision not yet in the view has been waiting for it.
    """

    name: str
    position: int  # the last notification id taken (0 if none)
    head: int  # the last notification id in the log
    behind: int  # events not yet taken
    lag_seconds: float = 0.0
    waiting_since: datetime | None = None  # when the oldest event not taken was recorded

    def as_json(self) -> dict[str, Any]:
        """The status as JSON (``reliquary projections status --json``, ``GET /health``)."""
        return {
            "view": self.name,
            "position": self.position,
            "head": self.head,
            "behind": self.behind,
            "lag_seconds": round(self.lag_seconds, 3),
            "waiting_since": None if self.waiting_since is None else self.waiting_since.isoformat(),
        }


class ViewRunner:
    """Catches views up with the ledger, reports their status, and rebuilds them."""

    page = 1000

    def __init__(
        self,
        ledger: Ledger,
        recorder: ViewRecorder,
        views: Sequence[View],
        *,
        tables_exist: bool = False,
        catches_up_on_read: bool | None = True,
        events: ViewRecorder | None = None,
    ) -> None:
        self.ledger = ledger
        self.recorder = recorder
        # The ledger's own database, where the events are counted (`recorded_after`,
        # `status`): the views' recorder when they live beside the events; else a recorder on
        # the ledger's database (`api.bootstrap.build_views`, RELIQUARY_VIEWS_DATABASE_URL).
        self.events = events if events is not None else recorder
        self.views = {view.name: view for view in views}
        self._names: dict[str, str] = {}
        # Whether the tables are known to exist (the store's schema was ensured when the ledger
        # was opened, `api.bootstrap`): then nothing here runs DDL, which a service role may not.
        self._created = tables_exist
        # None: ask the database, once, at the first read (`catches_up_on_read`).
        self._catches_up_on_read = catches_up_on_read

    @property
    def catches_up_on_read(self) -> bool:
        """Whether a read catches the views up first (`refresh`), or reads them as they are
        (a process whose role may not write them: the projection runner keeps them).

        Decided once per runner: as configured, or, if not, by `may_write` on first use (not
        as the runner is built, so that building one, as the owner's upgrade does, reads
        nothing).
        """
        if self._catches_up_on_read is None:
            self._catches_up_on_read = self.may_write()
        return self._catches_up_on_read

    def may_write(self) -> bool:
        """Whether this connection's role may write the views (their tracking table).

        On PostgreSQL the server says (``has_table_privilege`` of the current user); on
        SQLite whoever may open the file may write it.
        """
        if self.recorder.dialect != "postgres":
            return True
        # A table not created yet is created by this role, which may then write it.
        rows = self.recorder.fetch(
            f"SELECT COALESCE(has_table_privilege(to_regclass('{TRACKING_TABLE}'), 'INSERT'), true)"
        )
        return bool(rows and rows[0][0])

    def refresh(self, on_progress: Callable[[int], None] | None = None) -> int:
        """Before a read: catch the views up if this process keeps them, else take nothing."""
        if not self.catches_up_on_read:
            return 0
        return self.catch_up(on_progress=on_progress)

    def follow(
        self,
        stop: threading.Event,
        interval: float,
        on_progress: Callable[[int], None] | None = None,
    ) -> int:
        """Keep the views caught up until ``stop`` is set; how many events were taken.

        Polls: catch up, then wait ``interval`` seconds or until stopped. A page is taken
        whole or not at all (`catch_up`), and a stop is heeded between pages, so stopping
        loses nothing and waits for one page at most.
        """
        if not 0 < interval <= 3600:
            raise ValueError(f"interval must be more than 0 and at most 3600 s; got {interval}")
        taken = 0
        while not stop.is_set():
            taken += self.catch_up(on_progress=on_progress, stop=stop)
            stop.wait(interval)
        return taken

    def reflected(self) -> tuple[int, int]:
        """How many events every view has taken, and the notification id they reach.

        The least of the views' (a view being rebuilt holds the others back), read in one
        statement so that the count and the id belong together.
        """
        names = list(self.views)
        p = self.recorder.param
        marks = ", ".join([p] * len(names))
        rows = self.recorder.fetch(
            "SELECT c.name, c.taken, t.position FROM view_counts c "  # noqa: S608 (names: params)
            "LEFT JOIN (SELECT application_name, MAX(notification_id) AS position "
            f"FROM {TRACKING_TABLE} GROUP BY application_name) t "
            f"ON t.application_name = c.name WHERE c.name IN ({marks})",
            names,
        )
        found = {name: (int(taken), int(position or 0)) for name, taken, position in rows}
        return min((found.get(name, (0, 0)) for name in names), default=(0, 0))

    def recorded_after(self, position: int, limit: int | None = None) -> int:
        """How many events the ledger holds after notification id ``position`` (one count).

        Counted in the ledger's database (`events`), over the ids after ``position`` only: a
        range of the primary key's index, as long as the views' lag, never the whole log. With
        ``limit``, the count stops there (a check against a threshold costs the threshold).
        """
        table = self.ledger.recorder.events_table_name  # type: ignore[attr-defined]
        column = "notification_id" if self.events.dialect == "postgres" else "rowid"
        p = self.events.param
        if limit is None:
            statement = f"SELECT COUNT(*) FROM {table} WHERE {column} > {p}"  # noqa: S608 (no input)
            params: tuple[int, ...] = (position,)
        else:
            statement = (
                f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} "  # noqa: S608 (no input)
                f"WHERE {column} > {p} ORDER BY {column} LIMIT {p}) AS pending"
            )
            params = (position, max(limit, 0))
        rows = self.events.fetch(statement, params)
        return int(rows[0][0]) if rows else 0

    def waiting_since(self, position: int) -> datetime | None:
        """When the first event after notification id ``position`` was recorded (None: none).

        One event read through the ledger's pager and decoded: its timestamp is the writer's
        clock as it recorded the event.
        """
        first = next(iter(self.ledger.notifications_after(position, page=1)), None)
        if first is None:
            return None
        event: Any = self.ledger.mapper.to_domain_event(first)
        moment: datetime = event.timestamp
        return moment

    def positions(self) -> dict[str, int]:
        """Each view's position (the last notification id it took; 0 if none), in one read."""
        names = list(self.views)
        p = self.recorder.param
        marks = ", ".join([p] * len(names))
        rows = self.recorder.fetch(
            f"SELECT application_name, MAX(notification_id) FROM {TRACKING_TABLE} "  # noqa: S608 (names: params)
            f"WHERE application_name IN ({marks}) GROUP BY application_name",
            names,
        )
        found = {str(name): int(position or 0) for name, position in rows}
        return {name: found.get(name, 0) for name in names}

    def taking(self, names: Sequence[str]) -> ViewRunner:
        """A runner over the same databases that takes only the named views (in this order).

        Several `follow` processes may each take a subset; an unknown name is refused
        (`InvalidQuery`, naming it and the views there are). Give each view to one process:
        two taking the same view take a page they both read once (its tracking record
        conflicts for the second to write it, which rolls back and looks again, `catch_up`),
        but not yet a page one read longer than the other's (`_take` does not compare the
        view's position as it writes).
        """
        from domain.errors import InvalidQuery

        chosen = list(dict.fromkeys(name.strip() for name in names if name.strip()))
        if not chosen:
            raise InvalidQuery(f"name at least one view; the views: {', '.join(self.views)}")
        unknown = [name for name in chosen if name not in self.views]
        if unknown:
            raise InvalidQuery(f"no view named {unknown[0]!r}; the views: {', '.join(self.views)}")
        runner = ViewRunner(
            self.ledger,
            self.recorder,
            [self.views[name] for name in chosen],
            tables_exist=self._created,
            catches_up_on_read=self._catches_up_on_read,
            events=self.events,
        )
        runner.page = self.page
        return runner

    def missing_tables(self) -> list[str]:
        """The views' tables (and their tracking and counts) the views' database lacks."""
        wanted = [TRACKING_TABLE, "view_counts"] + [
            table for view in self.views.values() for table in view.tables
        ]
        missing = []
        for table in wanted:
            try:
                self.recorder.fetch(f"SELECT 1 FROM {table} LIMIT 1")  # noqa: S608 (code's names)
            except Exception:  # noqa: BLE001 (whatever the driver says: the table cannot be read)
                missing.append(table)
        return missing

    def create_tables(self) -> None:
        """Create every view's tables, unless they are known to exist (idempotent)."""
        if self._created:
            return
        with self.recorder.transaction() as cursor:
            # How many events each view has taken: the sequence number of its next event.
            self.recorder.execute(
                cursor,
                "CREATE TABLE IF NOT EXISTS view_counts "
                "(name TEXT PRIMARY KEY, taken BIGINT NOT NULL)",
            )
            for view in self.views.values():
                for statement in view.create_statements(self.recorder.dialect):
                    self.recorder.execute(cursor, statement)
        self._created = True

    def catch_up(
        self,
        names: Sequence[str] | None = None,
        on_progress: Callable[[int], None] | None = None,
        stop: threading.Event | None = None,
    ) -> int:
        """Take every new event into the named views (all by default); return how many.

        Views at the same position (the usual case) share each page: it is read and decoded
        once, and applied to each of them in one transaction with each view's own tracking
        record. A view that is behind catches up first, until it joins the others. Once
        ``stop`` is set, it returns after the page it is taking (each page is whole).
        """
        if not self._created:
            self.create_tables()
        chosen = [self.views[name] for name in names or list(self.views)]
        taken = 0
        attempts = 0
        while True:
            positions = {
                view.name: self.recorder.max_tracking_id(view.name) or 0 for view in chosen
            }
            try:
                for group, notifications, start in self._pages(chosen, positions):
                    self._take(group, notifications, start)
                    taken += len(notifications) * len(group)
                    if on_progress:
                        on_progress(len(notifications) * len(group))
                    if stop is not None and stop.is_set():
                        return taken
            except (IntegrityError, OperationalError, ProgrammingError) as error:
                # Another process took this page first (its tracking record conflicts), SQLite
                # refused a second writer, or psycopg's pipeline lost a result ("didn't produce
                # records", seen rarely on large rebuilds): the page was rolled back whole, so
                # look again where the views stand and take it again.
                attempts += 1
                if attempts > 50 or not _retryable(error):
                    raise
                time.sleep(0.01)
                continue
            return taken

    def _pages(
        self, views: Sequence[View], positions: dict[str, int]
    ) -> Iterator[tuple[list[View], list[Notification], int]]:
        """The next page of the log, the views that take it, and where they stand (the
        notification id before the page), until none is left.

        The views furthest behind take each page, read through the ledger's pager
        (`Ledger.notifications_after`). When they reach another view's position, the groups
        are formed again: that view joins them, or, passed over, goes first. ``positions`` is
        kept here as the pages are read; `_take` checks each view's position as it writes.
        """
        while True:
            lowest = min(positions[view.name] for view in views)
            group = [view for view in views if positions[view.name] == lowest]
            ahead = min((positions[v.name] for v in views if v not in group), default=None)
            notifications = self.ledger.notifications_after(lowest, page=self.page)
            while page := list(itertools.islice(notifications, self.page)):
                yield group, page, lowest
                lowest = page[-1].id
                positions.update((view.name, lowest) for view in group)
                if ahead is not None and lowest >= ahead:
                    break
            else:
                return

    def status(self, limit: int | None = None, now: datetime | None = None) -> list[ViewStatus]:
        """Each view's position against the head of the log, its lag in events and seconds.

        What it costs: the head (one read of the events' largest id), the positions (one read
        of the views' tracking), and, once per distinct position behind the head (views share
        one when they move together), a count of the events after it (an index range as long
        as the lag; with ``limit``, at most ``limit`` entries) and one event read and decoded
        for its timestamp. Never a count over the whole log.
        """
        head = self.ledger.recorder.max_notification_id() or 0
        positions = self.positions()
        moment = now or datetime.now(UTC)
        lags: dict[int, tuple[int, datetime | None]] = {}
        statuses = []
        for name, position in positions.items():
            if position >= head:
                statuses.append(ViewStatus(name, position, head, 0))
                continue
            if position not in lags:
                lags[position] = (
                    self.recorded_after(position, limit),
                    self.waiting_since(position),
                )
            behind, since = lags[position]
            age = 0.0 if since is None else max((moment - since).total_seconds(), 0.0)
            statuses.append(ViewStatus(name, position, head, behind, age, since))
        return statuses

    def upgrade(self, stored_version: int | None) -> list[str]:
        """Drop the tables of views whose columns changed since ``stored_version``.

        Run by the store's owner as it upgrades the schema (`api.bootstrap.ensure_schema`),
        before any view is read: a view's table created by older code lacks the columns newer
        code writes, and ``CREATE TABLE IF NOT EXISTS`` would keep it. The dropped views are
        created empty and untracked, so they take every event again on their next catch-up.
        Returns the names of the views dropped (none for a new store).
        """
        stale = (
            []
            if stored_version is None
            else [v for v in self.views.values() if v.changed_in > stored_version]
        )
        if stale:  # dropped first: a new index on a new column cannot be built on the old table
            with self.recorder.transaction() as cursor:
                for view in stale:
                    for table in view.tables:
                        self.recorder.execute(cursor, f"DROP TABLE IF EXISTS {table}")
            self._created = False  # the dropped tables are created anew, empty
        self.create_tables()
        if not stale:
            return []
        p = self.recorder.param
        with self.recorder.transaction() as cursor:
            for view in stale:
                self.recorder.execute(
                    cursor, f"DELETE FROM view_counts WHERE name = {p}", (view.name,)
                )
                self.recorder.execute(
                    cursor,
                    f"DELETE FROM {TRACKING_TABLE} WHERE application_name = {p}",
                    (view.name,),
                )
        return [view.name for view in stale]

    def rebuild(
        self, names: Sequence[str] | None = None, on_progress: Callable[[int], None] | None = None
    ) -> int:
        """Empty the named views' tables and tracking, then take every event again.

        Rows are deleted (in one transaction), not tables dropped: the service role, which
        may not drop what the store's owner created, rebuilds as the owner does.
        """
        chosen = list(names or self.views)
        self.create_tables()
        p = self.recorder.param
        with self.recorder.transaction() as cursor:
            for name in chosen:
                for table in self.views[name].tables:
                    self.recorder.execute(cursor, f"DELETE FROM {table}")
                self.recorder.execute(cursor, f"DELETE FROM view_counts WHERE name = {p}", (name,))
                self.recorder.execute(
                    cursor, f"DELETE FROM {TRACKING_TABLE} WHERE application_name = {p}", (name,)
                )
        return self.catch_up(chosen, on_progress)

    def _decode(self, notifications: Sequence[Notification]) -> tuple[list[Any], list[str]]:
        """A page's events and the names of their models."""
        mapper = self.ledger.mapper
        events = [mapper.to_domain_event(notification) for notification in notifications]
        return events, [self._name_of(event) for event in events]

    def _take(
        self,
        views: Sequence[View],
        notifications: Sequence[Notification],
        start: int,
    ) -> None:
        """One page into some views, each with its tracking record, in one transaction.

        ``start`` is the notification id the views were at when the page was read: if another
        runner moved any of them on since, the page is refused (`IntegrityError`, so that
        `catch_up` looks again), and nothing of it is written.
        """
        events, models = self._decode(notifications)
        opening = [view for view in views if view.opens_sealed]
        opened: list[Any] = []
        if opening:
            kinds = [view.opened_types for view in opening]
            only = None if None in kinds else frozenset().union(*(k for k in kinds if k))
            opened = opened_events(self.ledger, events, only)
        with self.recorder.transaction() as cursor:
            positions = self._claim(cursor, views, start)
            # Views at the same position (the usual case) share the page's contexts.
            shared: dict[int, list[Context]] = {}
            # Every view asks for what it reads first; then each writes (`View.read_page`).
            asked: list[tuple[View, Sequence[Any], list[Context], Any]] = []
            for view in views:
                position = positions.get(view.name, 0)
                contexts = shared.get(position)
                if contexts is None:
                    contexts = shared[position] = [
                        Context(
                            model=models[offset],
                            position=position + offset,
                            notification_id=notification.id,
                        )
                        for offset, notification in enumerate(notifications)
                    ]
                page: Sequence[Any] = opened if view.opens_sealed else events
                asked.append((view, page, contexts, view.read_page(cursor, page, contexts)))
            for view, page, contexts, read in asked:
                view.apply_page(cursor, page, contexts, read)
                self._count(cursor, view, positions.get(view.name, 0) + len(notifications))
                self.recorder.track(cursor, Tracking(view.name, notifications[-1].id))

    def _claim(self, cursor: Any, views: Sequence[View], start: int) -> dict[str, int]:
        """Take the views' count rows for this transaction, check that each view is still at
        ``start``, and return how many events each has taken (the sequence of its next one).

        Runners that share a view are serialised on its count row: created if missing, then
        locked (``FOR UPDATE`` on PostgreSQL; on SQLite the first write takes the database's
        lock). Once it holds them, a runner reads the views' tracked positions as the last
        runner to commit left them: a page read before another runner took some of its events
        would take them twice, so it is refused. Two statements whose rows are read, for all
        the views at once (each waits for everything sent before it).
        """
        p = self.recorder.param
        names = tuple(view.name for view in views)
        marks = ", ".join(p for _ in names)
        for name in names:
            self.recorder.execute(
                cursor,
                f"INSERT INTO view_counts (name, taken) VALUES ({p}, 0) "
                "ON CONFLICT (name) DO NOTHING",
                (name,),
            )
        lock = " FOR UPDATE" if self.recorder.dialect == "postgres" else ""
        reader = self.recorder.reader(cursor)
        reader.execute(
            f"SELECT name, taken FROM view_counts WHERE name IN ({marks}){lock}",  # noqa: S608
            names,
        )
        taken = {
            str(name): int(count)
            for name, count in (self.recorder.values(row) for row in reader.fetchall())
        }
        tracked = self.recorder.tracked_positions(cursor, names)
        moved = [name for name in names if tracked.get(name, 0) != start]
        if moved:
            raise IntegrityError(
                f"view(s) {', '.join(moved)} moved on from notification {start} while this "
                "page was read: another runner took it"
            )
        return taken

    def _count(self, cursor: Any, view: View, taken: int) -> None:
        p = self.recorder.param
        self.recorder.execute(
            cursor,
            f"INSERT INTO view_counts (name, taken) VALUES ({p}, {p}) "
            "ON CONFLICT (name) DO UPDATE SET taken = excluded.taken",
            (view.name, taken),
        )

    def _name_of(self, event: Any) -> str:
        key = str(event.originator_id)
        name = getattr(event, "name", None)
        if event.originator_version == 1 and isinstance(name, str):
            self._names[key] = name
            return name
        if key not in self._names:
            self._names.update({str(model_id(n)): n for n in self.ledger.model_names()})
        return self._names[key]


def _retryable(error: Exception) -> bool:
    if isinstance(error, IntegrityError):
        return True
    if isinstance(error, OperationalError):
        return "locked" in str(error)
    return "didn't produce records" in str(error)


ERASED = "[erased]"
"""What a view shows of a private value whose subject was erased."""


def opened_events(
    ledger: Any, events: Sequence[Any], only: frozenset[str] | None = None
) -> list[Any]:
    """The events with each sealed value carrying its value, as the store opens it (only
    those of the types in ``only``, if given; the others as they are).

    A value whose subject was erased (or never stored here: an event restored from a bundle
    without its openings) reads `ERASED`. The events themselves are not changed: each one
    with a sealed value is copied.
    """
    holding = [
        [v for field in vars(event).values() for v in sealed_in(field)]
        if only is None or type(event).__name__ in only
        else []
        for event in events
    ]
    sealed = [value for values in holding for value in values]
    if not sealed:
        return list(events)
    found = ledger.opened(sealed)
    return [
        _with_sealed(
            event, lambda v: Sealed(v.commitment, v.subject, _value_of(found.get(v.commitment)))
        )
        if values
        else event
        for event, values in zip(events, holding, strict=True)
    ]


def plain(value: Any) -> Any:
    """A field's value for a row: an opened sealed value's text; anything else as it is."""
    return str(value) if isinstance(value, Sealed) else value


def subject_of(value: Any) -> str | None:
    """Whose a private value is (its pseudonym), or None for a value that was never sealed."""
    return value.subject if isinstance(value, Sealed) else None


def unopened_event(event: Any) -> Any:
    """The event with each sealed value shown as its commitment's text, not opened: for a
    replay whose rows never show a private value (the fairness report's scratch registers)."""
    return _with_sealed(event, str)


def _with_sealed(event: Any, replace: Callable[[Sealed], Any]) -> Any:
    """A copy of the event with each sealed value replaced (the event itself if it has none),
    in its fields and inside its value objects (a sealed actor id, evidence)."""
    changes = {
        name: changed
        for name, value in vars(event).items()
        if (changed := with_sealed(value, replace)) is not value
    }
    if not changes:
        return event
    event = copy.copy(event)
    for name, value in changes.items():
        object.__setattr__(event, name, value)  # the library's events are frozen dataclasses
    return event


def _value_of(opened: Any) -> str:
    if opened is None or opened.value is None:
        return ERASED
    return str(opened.value)


def day_of_decision(event: Any) -> date:
    """The day a decision took effect: its ``effective_at``, else when it was recorded (UTC)."""
    moment: datetime = event.effective_at or event.timestamp
    return moment.astimezone(UTC).date()
