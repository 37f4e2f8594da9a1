"""Shared fixtures: one suite, every backend.

`database_url` is parametrized over SQLite (a file in the test's tmp dir) and PostgreSQL (a
schema of its own, dropped afterwards). PostgreSQL tests skip with the reason when no server is
reachable, unless ``RELIQUARY_REQUIRE_POSTGRES=1``, which turns the skip into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from functools import cache

import pytest
from hypothesis import HealthCheck, settings

from api.bootstrap import build_ledger
from api.settings import Settings
from domain.ledger import Ledger

# Bounded example counts keep `make test` well inside its 10 minutes on 2 cores.
settings.register_profile(
    "ci",
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "thorough",
    max_examples=300,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

POSTGRES_URL = os.environ.get(
    "RELIQUARY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("RELIQUARY_REQUIRE_POSTGRES") == "1"


@cache
def postgres_unreachable_reason() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    import psycopg

    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as error:
        return f"PostgreSQL at {POSTGRES_URL} is not reachable: {str(error).strip()}"
    return None


def require_postgres() -> None:
    """Skip (or, with RELIQUARY_REQUIRE_POSTGRES=1, fail) when PostgreSQL is unreachable."""
    reason = postgres_unreachable_reason()
    if reason is None:
        return
    if REQUIRE_POSTGRES:
        pytest.fail(f"RELIQUARY_REQUIRE_POSTGRES=1 but {reason}")
    pytest.skip(reason)


def _admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A fresh, empty store of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}schema={schema}"
    _admin(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    """A ledger on a fresh store of each backend."""
    app = build_ledger(Settings(database_url=database_url))
    yield app
    app.close()


@pytest.fixture
def open_ledger(database_url: str) -> Iterator:  # type: ignore[type-arg]
    """A factory for more ledgers on the same store (other processes, in effect)."""
    opened: list[Ledger] = []

    def make(cache_size: int = 1000) -> Ledger:
        app = build_ledger(Settings(database_url=database_url, cache_size=cache_size))
        opened.append(app)
        return app

    yield make
    for app in opened:
        app.close()
