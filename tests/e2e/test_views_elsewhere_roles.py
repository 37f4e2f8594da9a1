"""The hardened deployment's roles with the views in a database of their own.

The owner runs ``grant-service-role`` and ``grant-projection-role`` with
RELIQUARY_VIEWS_DATABASE_URL set: each role is granted in the events' schema what it needs
there, and in the views' database its views, their tracking and counts. Then the projection
runner, as its role, writes the views there; the service, as its role, reads them and may not
write them (its reads take nothing: `may_write` says no), nor create anything in either.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from api.bootstrap import build_services, grant_role
from api.cli.demo import load_demo
from api.settings import Settings
from tests.conftest import POSTGRES_URL, require_postgres


def _admin(statement: str, url: str = POSTGRES_URL) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


def _as(url: str, role: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{role}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass
class Roles:
    events_url: str  # the owner's, with the events' schema
    views_url: str  # the owner's, with the views' schema
    views_admin_url: str
    service: str
    runner: str
    password: str
    granted: dict[str, Any]

    def settings(self, role: str) -> Settings:
        return Settings(
            database_url=_as(self.events_url, role, self.password),
            views_database_url=_as(self.views_url, role, self.password),
            create_tables=False,
        )


@pytest.fixture(scope="module")
def roles() -> Iterator[Roles]:
    require_postgres()
    tag = uuid.uuid4().hex[:10]
    schema, database = f"t_{tag}", f"rq_views_{tag}"
    service, runner = f"svc_{tag}", f"prj_{tag}"
    password = secrets.token_hex(12)
    separator = "&" if "?" in POSTGRES_URL else "?"
    base = POSTGRES_URL.split("?")[0].rsplit("/", 1)[0]
    events_url = f"{POSTGRES_URL}{separator}schema={schema}"
    views_admin_url = f"{base}/{database}"
    views_url = f"{views_admin_url}?schema=views"
    _admin(f"CREATE DATABASE {database}")
    for who in (service, runner):
        _admin(f"CREATE ROLE {who} LOGIN PASSWORD '{password}'")
    try:
        owner = Settings(database_url=events_url, views_database_url=views_url)
        granted = {
            "service": grant_role(owner, service, runs="service"),
            "projections": grant_role(owner, runner, runs="projections"),
        }
        services = build_services(owner)
        try:
            load_demo(services.ledger)
        finally:
            services.close()
        yield Roles(events_url, views_url, views_admin_url, service, runner, password, granted)
    finally:
        _admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        _admin(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        for who in (service, runner):
            _admin(f"DROP OWNED BY {who}")
            _admin(f"DROP ROLE {who}")


def test_each_role_is_granted_in_both_databases(roles: Roles) -> None:
    for granted in roles.granted.values():
        tables = {grant.table for grant in granted.tables}
        assert {"view_tracking", "view_counts", "view_timeline", "ledger_events"} <= tables
        assert "(events)" in granted.schema and "(views)" in granted.schema
        assert granted.ungranted == ()
    assert roles.granted["service"].functions  # the events' insert function, in the events'
    assert roles.granted["projections"].functions == ()


def test_the_runner_writes_the_views_and_the_service_only_reads_them(roles: Roles) -> None:
    runner = build_services(roles.settings(roles.runner))
    try:
        assert runner.views.may_write()
        assert runner.queries.catch_up() > 0
        assert all(status.behind == 0 for status in runner.views.status())
    finally:
        runner.close()
    service = build_services(roles.settings(roles.service))
    try:
        assert not service.views.may_write()
        assert not service.views.catches_up_on_read
        page = service.queries.timeline(limit=5)
        assert len(page.entries) == 5
        assert service.health().views.status == "ready"
        with (
            pytest.raises(Exception, match="permission denied"),
            service.views.recorder.transaction() as cursor,
        ):
            service.views.recorder.execute(cursor, "DELETE FROM view_counts")
        with (
            pytest.raises(Exception, match="permission denied"),
            service.views.recorder.transaction() as cursor,
        ):
            service.views.recorder.execute(cursor, "CREATE TABLE intruder (id int)")
    finally:
        service.close()
