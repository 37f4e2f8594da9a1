"""GET /health through the app, on each backend and with the views in a database of their own.

Ready (the views and the log hold every event), lagging (views beyond their threshold, the
log's tree catching up: still 200), broken (a view's table missing, the log's tree beyond its
threshold: 503). No token is sent: the route needs none. The log's follower is stopped so that
each state is the test's doing, not a race with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.bootstrap import build_ledger
from api.cli.demo import load_demo
from api.http.app import create_app
from api.settings import Settings
from projections.translog.keys import create_signing_key
from tests.conftest import POSTGRES_URL, require_postgres
from tests.support import parse, register, unique

ORIGIN = "reliquary.local/ledger"
LOG_THRESHOLD = 5


@pytest.fixture(params=["sqlite", "postgres", "views-elsewhere"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The database settings of each layout: SQLite, PostgreSQL, PostgreSQL with the views in
    a database of their own."""
    if request.param == "sqlite":
        yield {"database_url": f"sqlite:///{tmp_path / 'ledger.db'}"}
        return
    require_postgres()
    tag = uuid.uuid4().hex[:12]
    separator = "&" if "?" in POSTGRES_URL else "?"
    urls = {"database_url": f"{POSTGRES_URL}{separator}schema=t_{tag}"}
    views_database = f"rq_views_{tag}"
    if request.param == "views-elsewhere":
        base = POSTGRES_URL.split("?")[0].rsplit("/", 1)[0]
        urls["views_database_url"] = f"{base}/{views_database}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {views_database}")
    try:
        yield urls
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS t_{tag} CASCADE")
            conn.execute(f"DROP DATABASE IF EXISTS {views_database} WITH (FORCE)")


@pytest.fixture
def served(stores: dict[str, str], tmp_path: Path) -> Iterator[tuple[TestClient, Any]]:
    """The app on the demo ledger, its log caught up and its follower stopped."""
    key = tmp_path / "signing.key"
    create_signing_key(key, ORIGIN)
    settings = Settings(
        **stores,
        signing_key=key,
        log_origin=ORIGIN,
        health_max_lag_events=0,
        health_max_lag_seconds=3600,
        health_max_log_lag_events=LOG_THRESHOLD,
    )
    ledger = build_ledger(settings)
    try:
        load_demo(ledger)
    finally:
        ledger.close()
    app = create_app(settings)
    with TestClient(app) as client:
        services = app.state.services
        if services.follower is not None:
            services.follower.stop()
            services.follower = None
        services.log.catch_up()
        yield client, services


def _append(services: Any, count: int) -> None:
    for _ in range(count):
        services.ledger.execute(parse(register(unique("health"))))


def test_health_is_ready_lagging_or_broken(served: tuple[TestClient, Any]) -> None:
    client, services = served
    # Views not caught up yet (a read would), the log holding every event: lagging, 200.
    answer = client.get("/health")
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["status"] == "lagging"
    assert body["service"]["status"] == "ready"
    assert body["log"]["status"] == "ready" and body["log"]["behind"] == 0
    views = body["views"]
    assert views["status"] == "lagging"
    head = body["service"]["head"]
    timeline = views["views"]["timeline"]
    assert timeline["status"] == "lagging" and timeline["position"] == 0
    assert timeline["head"] == head
    assert timeline["behind"] == 1  # counted up to the threshold (0) plus one
    assert timeline["waiting_since"] is not None
    assert any("timeline" in problem for problem in views["problems"])

    services.queries.catch_up()
    body = client.get("/health").json()
    assert body["status"] == "ready", body
    assert all(v["behind"] == 0 and v["lag_seconds"] == 0 for v in body["views"]["views"].values())
    events = len(list(services.ledger.notifications_after(0)))
    assert (body["log"]["size"], body["log"]["position"]) == (events, head)

    # One event the log has not taken yet: within its threshold, lagging.
    _append(services, 1)
    services.queries.catch_up()
    body = client.get("/health").json()
    assert (body["status"], body["views"]["status"], body["log"]["status"]) == (
        "lagging",
        "ready",
        "lagging",
    )
    assert body["log"]["behind"] == 1

    # Beyond the log's threshold: its follower has stopped, broken, 503.
    _append(services, LOG_THRESHOLD)
    services.queries.catch_up()
    answer = client.get("/health")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "broken" and body["log"]["status"] == "broken"
    assert body["log"]["behind"] == LOG_THRESHOLD + 1
    assert body["log"]["problems"] == [
        f"the log's tree is more than {LOG_THRESHOLD} event(s) behind the ledger"
    ]
    services.log.catch_up()
    assert client.get("/health").json()["status"] == "ready"

    # A view's table missing: broken, 503, naming it.
    recorder = services.views.recorder
    with recorder.transaction() as cursor:
        recorder.execute(cursor, "DROP TABLE view_essays")
    answer = client.get("/health")
    assert answer.status_code == 503
    body = answer.json()
    assert body["views"]["status"] == "broken"
    assert body["views"]["missing_tables"] == ["view_essays"]
    assert body["service"]["status"] == "ready"


def test_health_is_in_the_openapi_document_with_its_two_answers(
    served: tuple[TestClient, Any],
) -> None:
    client, _ = served
    operation = client.get("/openapi.json").json()["paths"]["/health"]["get"]
    assert operation["operationId"] == "service-health"
    assert {"200", "503"} <= set(operation["responses"])
    assert "security" not in operation


@pytest.mark.parametrize("stores", ["views-elsewhere"], indirect=True)
def test_health_is_broken_when_the_views_database_does_not_answer(
    stores: dict[str, str], served: tuple[TestClient, Any]
) -> None:
    client, services = served
    services.queries.catch_up()
    assert client.get("/health").json()["status"] == "ready"
    database = stores["views_database_url"].rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {database} WITH (FORCE)")
    for _ in range(2):  # a connection of the pool killed, then no connection at all
        answer = client.get("/health")
        assert answer.status_code == 503
        body = answer.json()
        assert body["views"] == {
            "status": "broken",
            "problems": ["the views' database does not answer"],
            "max_lag_events": 0,
            "max_lag_seconds": 3600.0,
        }
        assert body["service"]["status"] == "ready"
        assert database not in answer.text  # no address, no driver message
