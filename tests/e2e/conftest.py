"""Fixtures for the end-to-end tests of the CLI."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from api.cli import main
from tests.conftest import POSTGRES_URL, require_postgres


@pytest.fixture
def demo_cli(database_url: str, tmp_path: Path, capsys, monkeypatch):  # type: ignore[no-untyped-def]
    """`reliquary ARGS` on an initialised store of each backend holding the demo ledger.

    Returns a function giving (exit code, stdout, stderr); the signing key is in tmp_path.
    """
    monkeypatch.setenv("RELIQUARY_SIGNING_KEY", str(tmp_path / "signing.key"))
    monkeypatch.setenv("RELIQUARY_DATABASE_URL", database_url)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    assert run("init")[0] == 0
    assert run("demo")[0] == 0
    return run


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty store of each backend for one test module (conftest's logic, module-scoped)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('store') / 'ledger.db'}"
        return
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}schema={schema}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
