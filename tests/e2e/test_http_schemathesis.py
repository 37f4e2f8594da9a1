"""Schemathesis against the app's own OpenAPI document, in process, on the demo ledger.

Every operation of ``/openapi.json`` is called with generated requests (schema-valid and
schema-violating ones, from Schemathesis' examples, coverage and fuzzing phases) within a fixed,
derandomized example budget, so CI sees the same cases on every run. Every response must pass:
``not_a_server_error`` (no 5xx), ``response_schema_conformance`` (the body matches the documented
schema) and ``problem_details`` (below: every 4xx is one of the API's RFC 9457 problems, which the
OpenAPI document does not describe). Writes are sent with a token of a role that may take them
(the first role of the route in ``ROUTES``), reads with an auditor's, so that generated requests
reach the handlers instead of stopping at 401/403. On SQLite every operation is fuzzed; on
PostgreSQL the reads, whose SQL is what differs between the backends.

Schemathesis' other checks are left out: those on documented status codes and content types
would fail on what the OpenAPI document does not declare yet (the 400/404/503 problems of the
reads, ``text/markdown``, the leaves' ``application/json``).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from api.bootstrap import build_ledger
from api.cli.demo import load_demo
from api.http.app import create_app
from api.http.routes.commands import ROUTES
from api.settings import Settings
from tests.conftest import POSTGRES_URL, require_postgres
from tests.support import signing_environment

# The budget: generated examples per operation in the fuzzing phase (the examples and coverage
# phases add their own, bounded, deterministic cases). With 8, the 42 operations take about
# 30 s on SQLite and the 20 reads about 10 s on PostgreSQL; HYPOTHESIS_PROFILE=thorough raises
# it to 100 (about 6 minutes).
MAX_EXAMPLES = 100 if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else 8
WRITER = {route.path: route.roles[0] for route in ROUTES}
TOKENS: dict[str, str] = {}  # role -> token, for the app the fixture runs
BACKEND = ["sqlite"]  # the backend of the app the fixture runs
ACTOR_SUFFIX = "schemathesis"  # each role's actor is "<role>-schemathesis"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api_schema(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """The OpenAPI schema of an app on a demo ledger (its lifespan running), tokens in TOKENS."""
    tmp = tmp_path_factory.mktemp("schemathesis")
    schema_name = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'ledger.db'}"
    else:
        require_postgres()
        schema_name = f"t_{uuid.uuid4().hex[:16]}"
        url = f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={schema_name}"
    key = tmp / "signing.key"
    with signing_environment(key, "reliquary.local/ledger"):
        settings_ = Settings(database_url=url)
        ledger = build_ledger(settings_)
        load_demo(ledger)
        ledger.close()
        app = create_app(settings_)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the lifespan
        actors = app.state.services.actors
        TOKENS.clear()
        TOKENS.update(
            (role, actors.add(f"{role}-{ACTOR_SUFFIX}", role).token)
            for role in ("curator", "interviewer", "board", "reviewer", "researcher", "auditor")
        )
        BACKEND[0] = request.param
        yield schema
    _stop(app)
    if schema_name is not None:
        import psycopg

        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema_name} CASCADE")


def _stop(app: Any) -> None:
    """Run the app's shutdown (Schemathesis keeps an ASGI app's lifespan open until exit)."""
    from schemathesis.python import asgi

    stop = getattr(asgi, "shutdown_lifespans", None)
    if stop is not None:
        stop()
    else:  # an older 4.x: close the ledger ourselves
        app.state.services.ledger.close()


def _fuzzed_here(ctx: Any) -> bool:
    """Every operation on SQLite; on PostgreSQL, the reads.

    Writes run the same domain code on both backends (and tests/e2e/test_http.py sends each one
    on PostgreSQL); the reads' SQL (timeline, search, registers) is what differs between them.
    """
    return BACKEND[0] != "postgres" or ctx.operation.method.upper() == "GET"


schema = schemathesis.pytest.from_fixture("api_schema").include(_fuzzed_here)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_responses_match_the_schema(case: Any) -> None:
    if case.method == "POST" and _positive(case):
        _reach_the_ledger(case)
    role = WRITER.get(case.operation.path, "curator") if case.method == "POST" else "auditor"
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKENS[role]}"},
        checks=[not_a_server_error, response_schema_conformance, problem_details],
    )


def problem_details(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error is an RFC 9457 problem of this API, whatever the OpenAPI document declares.

    (``response_schema_conformance`` cannot judge them: the document declares its 422s as
    FastAPI's ``application/json`` validation error and no other error bodies, so Schemathesis
    finds no schema for ``application/problem+json``.)
    """
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    assert content_type.startswith("application/problem+json"), content_type
    problem = response.json()
    assert problem["type"].startswith("urn:reliquary:problem:"), problem
    assert problem["status"] == response.status_code, problem
    assert isinstance(problem["title"], str) and isinstance(problem["detail"], str), problem
    return True


def _positive(case: Any) -> bool:
    meta = getattr(case, "meta", None)
    return meta is not None and str(meta.generation.mode) == "positive"


def _reach_the_ledger(case: Any) -> None:
    """Let a schema-valid write get past the HTTP layer's own refusals, to the command.

    Generated headers would stop nearly every one of them first: an If-Match is almost never
    the model's version (400 or 409), and the few Idempotency-Key values the coverage phase
    repeats make most requests a reused key (422). A key derived from the request keeps the
    replay path in play (an exact repeat is replayed) without the collisions; a requester that
    is not the caller would be a 403. Schema-violating requests are sent as generated.
    """
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "if-match":
            del headers[name]
        elif name.lower() == "idempotency-key":
            request = repr((case.formatted_path, case.query, case.body)).encode()
            headers[name] = hashlib.sha256(request).hexdigest()
    if case.operation.path == "/models/{model}/access-requests" and isinstance(case.body, dict):
        case.body["requester"] = f"researcher-{ACTOR_SUFFIX}"
