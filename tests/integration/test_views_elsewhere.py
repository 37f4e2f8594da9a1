"""Views in a database of their own (RELIQUARY_VIEWS_DATABASE_URL), split among processes.

Two PostgreSQL databases: the events in a schema of the test database, the views in a database
created for the test (and dropped after). The views, their tracking and counts are written
there and nothing of them in the events' database; API tokens stay with the events; a command
appended through the ledger reaches the views after a catch-up; runners that each take a
subset (overlapping or not), in parallel, end where one runner's rebuild ends; the status's
lags; the view audit; and the settings refused for a SQLite ledger.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from api.bootstrap import Services, build_services
from api.cli.demo import load_demo
from api.settings import Settings
from domain.errors import InvalidQuery
from projections.runner import ViewRunner
from projections.view_audit import audit_views
from tests.conftest import POSTGRES_URL, require_postgres
from tests.support import doc, parse, register, signal_period, unique

VIEW_TABLES = {
    "view_tracking",
    "view_counts",
    "view_timeline",
    "view_models",
    "view_search",
}


def _admin(statement: str, url: str = POSTGRES_URL) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


def _tables(url: str, schema: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
    return {row[0] for row in rows}


class TwoDatabases:
    """The events' store (a schema of the test database) and the views' (a database)."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:12]
        self.events_schema = f"t_{tag}"
        self.views_database = f"rq_views_{tag}"
        self.views_schema = "views"
        separator = "&" if "?" in POSTGRES_URL else "?"
        self.events_url = f"{POSTGRES_URL}{separator}schema={self.events_schema}"
        base = POSTGRES_URL.split("?")[0].rsplit("/", 1)[0]
        self.views_admin_url = f"{base}/{self.views_database}"
        self.views_url = f"{self.views_admin_url}?schema={self.views_schema}"
        self.opened: list[Services] = []

    def settings(self, **more: Any) -> Settings:
        return Settings(database_url=self.events_url, views_database_url=self.views_url, **more)

    def services(self, **more: Any) -> Services:
        opened = build_services(self.settings(**more))
        self.opened.append(opened)
        return opened

    def events_tables(self) -> set[str]:
        return _tables(POSTGRES_URL, self.events_schema)

    def views_tables(self) -> set[str]:
        return _tables(self.views_admin_url, self.views_schema)

    def in_views(self, statement: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.views_admin_url) as conn:
            conn.execute(f"SET search_path TO {self.views_schema}")
            return conn.execute(statement).fetchall()


@pytest.fixture
def two() -> Iterator[TwoDatabases]:
    require_postgres()
    databases = TwoDatabases()
    _admin(f"CREATE DATABASE {databases.views_database}")
    try:
        yield databases
    finally:
        for services in databases.opened:
            services.close()
        _admin(f"DROP DATABASE IF EXISTS {databases.views_database} WITH (FORCE)")
        _admin(f"DROP SCHEMA IF EXISTS {databases.events_schema} CASCADE")


def _dump(two: TwoDatabases, tables: set[str]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the views' tables (the search index as its terms), in a fixed order."""
    dumped = {}
    for table in sorted(tables - {"view_tracking", "reliquary_schema"}):
        if table == "view_search":
            statement = "SELECT sequence, model, type, document::text FROM view_search"
        else:
            statement = f"SELECT * FROM {table}"  # noqa: S608 (the test's own names)
        dumped[table] = sorted(two.in_views(statement), key=repr)
    return dumped


def test_the_views_and_their_tracking_live_only_in_the_views_database(
    two: TwoDatabases,
) -> None:
    services = two.services()
    load_demo(services.ledger)
    assert services.queries.catch_up() > 0
    services.actors.add("dana", "auditor")
    views, events = two.views_tables(), two.events_tables()
    assert views >= VIEW_TABLES
    expected = {table for view in services.views.views.values() for table in view.tables}
    assert expected <= views
    assert not (events & (VIEW_TABLES | expected)), events & (VIEW_TABLES | expected)
    # What belongs with the events stays there: tokens, the log, request keys.
    assert {"api_actors", "reliquary_schema"} <= events
    assert "api_actors" not in views
    assert two.in_views("SELECT COUNT(*) FROM view_timeline")[0][0] == len(
        list(services.ledger.notifications_after(0))
    )
    # Every view's tracking is in the views' database.
    tracked = dict(two.in_views("SELECT application_name, notification_id FROM view_tracking"))
    head = services.ledger.recorder.max_notification_id()
    assert all(tracked[name] == head for name in services.views.views)


def test_a_command_appended_through_the_ledger_reaches_the_views_after_catch_up(
    two: TwoDatabases,
) -> None:
    services = two.services()
    load_demo(services.ledger)
    services.queries.catch_up()
    model = unique("elsewhere")
    services.ledger.execute(parse(register(model)))
    assert services.views.status()[0].behind == 1
    assert services.queries.catch_up() == len(services.views.views)
    rows = two.in_views(f"SELECT model, type FROM view_timeline WHERE model = '{model}'")
    assert rows == [(model, "ModelRegistered")]
    assert [s.behind for s in services.views.status()] == [0] * len(services.views.views)
    # Another process opening the same settings reads the same views (and creates nothing).
    again = two.services()
    page = again.queries.timeline(model=model)
    assert [e.model for e in page.entries] == [model]


def test_the_status_counts_the_lag_in_events_and_seconds(two: TwoDatabases) -> None:
    services = two.services()
    ledger = services.ledger
    models = [unique("lag") for _ in range(3)]
    for model in models:
        ledger.execute(parse(register(model)))
    services.views.taking(["timeline"]).catch_up()
    head = ledger.recorder.max_notification_id() or 0
    first = next(iter(ledger.notifications_after(0)))
    recorded = ledger.mapper.to_domain_event(first).timestamp
    now = recorded + timedelta(seconds=90)
    statuses = {s.name: s for s in services.views.status(now=now)}
    assert statuses["timeline"].position == head
    assert statuses["timeline"].behind == 0 and statuses["timeline"].lag_seconds == 0
    assert statuses["timeline"].waiting_since is None
    search = statuses["search"]
    assert (search.position, search.head, search.behind) == (0, head, 3)
    assert search.waiting_since == recorded  # the oldest event the view has not taken
    assert search.lag_seconds == pytest.approx(90.0)
    # A limit stops the count there (as /health counts), never more.
    limited = {s.name: s for s in services.views.status(limit=2, now=now)}
    assert limited["search"].behind == 2
    assert limited["timeline"].behind == 0
    # A clock behind the writer's never gives a negative lag.
    early = {s.name: s for s in services.views.status(now=recorded - timedelta(seconds=5))}
    assert early["search"].lag_seconds == 0.0


def test_runners_taking_subsets_in_parallel_end_as_one_rebuild(two: TwoDatabases) -> None:
    owner = two.services()
    load_demo(owner.ledger)
    names = list(owner.views.views)
    # Three processes, in effect (each its own connections): two disjoint halves, and one
    # overlapping both, so that some pages are offered twice and taken once.
    subsets = [names[: len(names) // 2], names[len(names) // 2 :], [names[0], names[-1]]]
    runners = []
    for subset in subsets:
        services = two.services()
        services.take_views(subset)
        runners.append(services)
    failures: list[BaseException] = []
    start = threading.Barrier(len(runners))

    def run(services: Services) -> None:
        try:
            start.wait()
            services.queries.catch_up()
        except BaseException as error:  # noqa: BLE001 (reported by the test)
            failures.append(error)

    threads = [threading.Thread(target=run, args=(services,)) for services in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    tables = two.views_tables()
    split = _dump(two, tables)
    assert [s.behind for s in owner.views.status()] == [0] * len(names)
    audit = audit_views(owner.views)  # `reliquary verify --views`, with the views elsewhere
    assert audit.ok, [d.describe() for d in audit.differences]
    owner.queries.rebuild_views()
    assert _dump(two, tables) == split


def test_a_process_takes_only_its_views(two: TwoDatabases) -> None:
    owner = two.services()
    load_demo(owner.ledger)
    services = two.services()
    services.take_views(["timeline", "search"])
    assert list(services.views.views) == ["timeline", "search"]
    services.queries.catch_up()
    taken = {s.name: s.behind for s in owner.views.status()}
    assert taken["timeline"] == taken["search"] == 0
    assert all(behind > 0 for name, behind in taken.items() if name not in {"timeline", "search"})
    with pytest.raises(InvalidQuery, match="no view named 'nope'"):
        services.take_views(["timeline", "nope"])


def test_a_sqlite_ledger_refuses_views_elsewhere(tmp_path: Any) -> None:
    with pytest.raises(ValidationError, match="RELIQUARY_VIEWS_DATABASE_URL needs a PostgreSQL"):
        Settings(
            database_url=f"sqlite:///{tmp_path / 'ledger.db'}",
            views_database_url="postgresql://postgres@127.0.0.1:5432/views",
        )
    with pytest.raises(ValidationError, match="must be a postgresql:// URL"):
        Settings(
            database_url="postgresql://postgres@127.0.0.1:5432/test",
            views_database_url=f"sqlite:///{tmp_path / 'views.db'}",
        )
    unset = Settings(
        database_url="postgresql://postgres@127.0.0.1:5432/test", views_database_url=""
    )
    assert unset.views_database_url is None


def test_an_empty_views_database_is_created_at_the_next_start(two: TwoDatabases) -> None:
    services = two.services()
    load_demo(services.ledger)
    services.queries.catch_up()
    services.close()
    two.opened.remove(services)
    _admin(f"DROP SCHEMA {two.views_schema} CASCADE", two.views_admin_url)
    again = two.services()  # the ledger's schema is current; the views' is made anew
    assert two.views_tables() >= VIEW_TABLES
    assert again.queries.catch_up() > 0
    assert [s.behind for s in again.views.status()] == [0] * len(again.views.views)


class _Paused(ViewRunner):
    """A runner that stops before writing each page, until told to go on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reached = threading.Event()
        self.go = threading.Event()

    def _take(self, views: Any, notifications: Any, start: int) -> None:
        self.reached.set()
        assert self.go.wait(60)
        super()._take(views, notifications, start)


def test_overlapping_runners_whose_pages_differ_take_each_event_once(
    database_url: str, open_ledger: Any
) -> None:
    from api.bootstrap import build_views

    settings = Settings(database_url=database_url)
    ledger = open_ledger()
    model = unique("signals")
    ledger.execute(parse(register(model)))
    period = signal_period()

    def signal(value: int, reason: str | None) -> None:
        fields = {"corrects": True, "correction_reason": reason} if reason else {}
        document = doc(
            "record_signal",
            model,
            kind="research_use",
            **period,
            value=float(value),
            unit="count",
            **fields,
        )
        ledger.execute(parse(document))

    signal(1, None)
    build_views(ledger, settings).catch_up()  # the signal's row exists: what follows updates it
    for value in (2, 3, 4):
        signal(value, f"recount {value}")

    def runner() -> _Paused:
        views = build_views(open_ledger(), settings)
        return _Paused(views.ledger, views.recorder, [views.views["signals"]])

    shorter, longer = runner(), runner()
    runs = [threading.Thread(target=r.catch_up) for r in (shorter, longer)]
    runs[0].start()
    assert shorter.reached.wait(60)  # it has read the page of three corrections
    for value in (5, 6):
        signal(value, f"recount {value}")
    runs[1].start()
    assert longer.reached.wait(60)  # it has read all five
    shorter.go.set()
    runs[0].join()
    longer.go.set()
    runs[1].join()
    check = build_views(ledger, settings).taking(["signals"])
    rows = check.recorder.fetch(
        "SELECT value, corrections FROM view_signals WHERE model = " + check.recorder.param,
        (model,),
    )
    assert [tuple(row) for row in rows] == [(6.0, 5)]
    audit = audit_views(check)
    assert audit.ok, [d.describe() for d in audit.differences]
