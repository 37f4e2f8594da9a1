"""Fixtures for the end-to-end tests of the CLI and of the web console in process."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.bootstrap import build_ledger
from api.cli import main
from api.http.app import create_app
from api.settings import Settings
from projections.translog.keys import create_signing_key
from tests.conftest import POSTGRES_URL, require_postgres

WEB_ORIGIN = "reliquary.local/ledger"


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


class WebConsole:
    """The app (its lifespan running) on a loaded ledger, and clients of it per reader."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.services: Any = app.state.services

    def anonymous(self) -> TestClient:
        """A client with no session (sharing the app, not the cookies)."""
        return TestClient(self.app)

    def signed_in(self, actor_id: str, role: str) -> TestClient:
        """A client signed in through the sign-in form with a new token of ``actor_id``."""
        token = self.services.actors.add(actor_id, role).token
        client = TestClient(self.app)
        form = client.get("/web/login", params={"next": "/web/"})
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        signed = client.post(
            "/web/login",
            data={"token": token, "csrf": csrf.group(1), "next": "/web/"},
            follow_redirects=False,
        )
        assert signed.status_code == 303, signed.text
        return client


@pytest.fixture(scope="module")
def web_console(
    backend_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[Callable[[Any], object]], WebConsole]]:
    """``web_console(load)``: the web console on a store of each backend that ``load(ledger)``
    filled, with a signing key; the app runs until the module's tests are done."""
    with ExitStack() as running:

        def start(load: Callable[[Any], object]) -> WebConsole:
            key = tmp_path_factory.mktemp("web-key") / "signing.key"
            create_signing_key(key, WEB_ORIGIN)
            settings = Settings(database_url=backend_url, signing_key=key, log_origin=WEB_ORIGIN)
            ledger = build_ledger(settings)
            try:
                load(ledger)
            finally:
                ledger.close()
            app = create_app(settings)
            running.enter_context(TestClient(app))
            return WebConsole(app)

        yield start
