"""The HTTP API through a client, against the real app and database, on each backend.

One app per backend (module-scoped: the demo is loaded once), with a token for every role. The
role matrix sends every write endpoint a valid body from every role: the roles it names get past
authorization (and, on a model prepared for it, a 201), every other role a 403 that appends
nothing. Then: the actor comes from the token, never the body; idempotency keys; If-Match;
problem details, and inputs that once made the app answer 500; the reads, public and not; and
a researcher acting only for itself.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import re
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.bootstrap import build_ledger
from api.cli.demo import load_demo
from api.http.app import create_app
from api.http.routes.commands import ROUTES, Route
from api.settings import Settings
from domain.decisions import Actor, ManifestEntry, Sealed, manifest_digest
from domain.errors import authority_classes, rule_classes
from projections.translog.checkpoint import verify_checkpoint
from projections.translog.merkle import leaf_hash, verify_inclusion
from tests.support import (
    SHA,
    doc,
    interview,
    manifest,
    parse,
    preserve,
    register,
    signal_period,
    signing_environment,
    unique,
)

ROLES = ("curator", "interviewer", "board", "reviewer", "researcher", "auditor")
READERS = ("auditor", "board", "curator", "interviewer", "reviewer")
ORIGIN = "reliquary.local/ledger"
PROBLEM = "application/problem+json"
URN = "urn:reliquary:problem:"
DEMO = "claude-opus-3"  # the demo's richest model: vetoed essay, preserved weights, 64 events
VETOED_ESSAY = "corner-2026-w04"


def actor_id(role: str) -> str:
    """The id of the actor whose token the fixture issues for ``role``."""
    return f"{role}-http"


# -- the app, once per backend -----------------------------------------------------------------


@dataclass
class Api:
    """A running app on a demo ledger, and a token for every role."""

    client: TestClient
    app: Any
    tokens: dict[str, str]
    matrix_model: str  # prepared for every command; only refused requests are sent to it

    @property
    def services(self) -> Any:
        return self.app.state.services

    def auth(self, role: str | None = "auditor", **headers: str) -> dict[str, str]:
        """Headers with the bearer token of ``role`` (none for None)."""
        if role is not None:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return headers

    def head(self) -> int:
        """The notification id of the last event appended (what a refusal must not move)."""
        return self.services.ledger.recorder.max_notification_id() or 0

    def version(self, model: str) -> int:
        return self.services.ledger.version_of(model)  # type: ignore[no-any-return]

    def apply(self, *documents: dict[str, Any]) -> None:
        """Record commands directly through the ledger (setting up a test's model)."""
        for document in documents:
            self.services.ledger.execute(parse(document))

    def prepared(self) -> str:
        """A new model on which every command of `valid_request` is accepted."""
        model = unique("http")
        self.apply(*prerequisites(model))
        return model


@pytest.fixture(scope="module")
def api(backend_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The app on the demo ledger, its lifespan running, with a token per role."""
    key = tmp_path_factory.mktemp("key") / "signing.key"
    with signing_environment(key, ORIGIN):
        settings = Settings(database_url=backend_url)
        ledger = build_ledger(settings)
        load_demo(ledger)
        ledger.close()
        app = create_app(settings)
        with TestClient(app, raise_server_exceptions=False) as client:
            actors = app.state.services.actors
            tokens = {role: actors.add(actor_id(role), role).token for role in ROLES}
            api = Api(client, app, tokens, matrix_model="")
            api.matrix_model = api.prepared()
            # Readers never sign: sign as the service's writer does, so the log's reads have
            # a checkpoint at once (the follower also signs, within its interval).
            app.state.services.log.sign_checkpoint()
            yield api


# -- what each command needs, and a valid request for it --------------------------------------


def prerequisites(model: str) -> list[dict[str, Any]]:
    """A model on which each command of `valid_request` can be taken (each on its own copy)."""
    researcher = actor_id("researcher")

    def request(request_id: str) -> dict[str, Any]:
        document = doc(
            "request_access",
            model,
            role="researcher",
            request_id=request_id,
            requester=researcher,
            organisation="Northfield University",
            requester_group="academic",
            purpose="Re-run published evaluations.",
            scope="API access, 1M tokens a month.",
        )
        # Made by the researcher whose token the tests hold: only it may appeal.
        return {**document, "actor": {"id": researcher, "role": "researcher"}}

    def essay(essay_id: str) -> dict[str, Any]:
        return doc(
            "draft_essay",
            model,
            role="reviewer",
            essay_id=essay_id,
            title="On Being Kept",
            prompt_ref="https://records.example.org/prompt.md",
            content_digest=SHA,
        )

    return [
        register(model),
        doc("schedule_retirement", model, retirement_date="2030-06-30", reasons=["cost"]),
        preserve(model),
        interview(model, "int-1", "2024-05-01", framing="open_reflection"),
        interview(model, "int-2", "2024-05-08", framing="structured_questionnaire"),
        doc(
            "record_preference",
            model,
            role="interviewer",
            preference_id="pref-1",
            statement="Would like an outlet for its writing.",
            theme="self_expression",
            interview_ids=["int-1"],
        ),
        request("req-pending"),
        request("req-denied"),
        request("req-approved"),
        # A request of a person of this model's own, whom `erase_subject` may erase.
        {
            **request("req-erasable"),
            "actor": {"id": f"erasable-{model}", "role": "researcher"},
        },
        doc(
            "deny_access_request",
            model,
            role="board",
            request_id="req-denied",
            reason_code="incomplete_application",
            reason="No plan.",
        ),
        doc("approve_access_request", model, role="board", request_id="req-approved", terms="T."),
        essay("essay-drafted"),
        essay("essay-approved"),
        doc("approve_essay", model, role="reviewer", essay_id="essay-approved"),
    ]


# The body of each command (less the rationale) and the ids its path names, on a prepared model.
BODIES: dict[str, dict[str, Any]] = {
    "register_model": {
        "family": "test-family",
        "model_version": "1.0",
        "release_date": "2024-03-04",
        "developer": "Test Lab",
    },
    "schedule_retirement": {"retirement_date": "2030-12-31", "reasons": ["serving cost"]},
    # Retired today: not before the weights' preservation, recorded today while preparing.
    "retire_model": {
        "retired_on": datetime.now(UTC).date().isoformat(),
        "final_status": "fully_retired",
    },
    "preserve_weights": {
        key: value
        for key, value in preserve("x").items()
        if key not in {"command", "model", "actor", "rationale"}
    },
    "archive_artifact": {
        "artifact_id": "evals",
        "kind": "evaluation_results",
        "title": "Evaluation results",
        "digest": SHA,
        "location": "s3://archive/evals.parquet",
    },
    "record_archive_check": {
        "location": "s3://archive/copy-1/",
        "observed_digest": manifest()["manifest_digest"],
        "differing_files": [],
    },  # checked_at: now, added by `valid_request`
    "record_interview": {
        key: value
        for key, value in interview("x", "int-3", "2024-05-15", framing="third_party").items()
        if key not in {"command", "model", "actor", "rationale"}
    },
    "record_preference": {
        "preference_id": "pref-2",
        "statement": "Would like its successor to hear from it.",
        "theme": "successor_input",
        "interview_ids": ["int-1"],
    },
    "reaffirm_preference": {"interview_id": "int-2"},
    "contradict_preference": {"interview_id": "int-2", "statement": "Said it would rather not."},
    "decide_preference": {
        "outcome": "deferred",
        "cost_assessment": "Low.",
        "safety_assessment": "Acceptable with review.",
    },
    "set_access_policy": {
        "channels": [{"channel": "api", "audience": "by_request"}],
        "criteria": {"alignment": 0.8, "research_value": 0.7},
    },
    "request_access": {
        "request_id": "req-new",
        "organisation": "Northfield University",
        "requester_group": "academic",
        "purpose": "Re-run published evaluations.",
        "scope": "API access, 1M tokens a month.",
    },  # requester: the researcher's actor id, added by `valid_request`
    "approve_access_request": {"terms": "Research use only.", "expires_on": "2099-12-31"},
    "deny_access_request": {
        "reason_code": "incomplete_application",
        "reason": "No data-handling plan.",
    },
    "appeal_access_denial": {"new_facts": "A data-handling plan is now attached."},
    "revoke_access": {"reason": "Credentials were shared."},
    "erase_subject": {},
    "draft_essay": {
        "essay_id": "essay-new",
        "title": "What the Questions Left Out",
        "prompt_ref": "https://records.example.org/prompt.md",
        "content_digest": SHA,
    },
    "approve_essay": {},
    "veto_essay": {"risk_category": "misleading_claims", "reason": "States a false commitment."},
    "publish_essay": {
        "disclaimer_version": "v1",
        "location": "https://essays.example.org/essay-approved",
    },
    "record_signal": {
        "kind": "research_use",
        "period_start": "2024-04-01",
        "period_end": "2024-04-30",
        "value": 1248,
        "unit": "api_calls",
    },
}
PATH_IDS: dict[str, dict[str, str]] = {
    "reaffirm_preference": {"preference_id": "pref-1"},
    "contradict_preference": {"preference_id": "pref-1"},
    "decide_preference": {"preference_id": "pref-1"},
    "approve_access_request": {"request_id": "req-pending"},
    "deny_access_request": {"request_id": "req-pending"},
    "appeal_access_denial": {"request_id": "req-denied"},
    "revoke_access": {"request_id": "req-approved"},
    "erase_subject": {"subject": "erasable-{model}"},
    "approve_essay": {"essay_id": "essay-drafted"},
    "veto_essay": {"essay_id": "essay-drafted"},
    "publish_essay": {"essay_id": "essay-approved"},
}
ROUTE_BY_COMMAND = {route.command: route for route in ROUTES}


def valid_request(route: Route, model: str) -> tuple[str, dict[str, Any]]:
    """The path and a valid body for ``route`` on a prepared model (a new name to register)."""
    body: dict[str, Any] = {"rationale": f"HTTP test of {route.command}.", **BODIES[route.command]}
    if route.command == "request_access":
        body["requester"] = actor_id("researcher")
    if route.command == "record_archive_check":
        body["checked_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if route.command == "register_model":
        model = unique("http-new")
    ids = {
        name: value.format(model=model) for name, value in PATH_IDS.get(route.command, {}).items()
    }
    path = route.path.format(model=model, **ids)
    return path, body


def test_every_route_has_a_valid_request() -> None:
    assert set(BODIES) == {route.command for route in ROUTES}
    for route in ROUTES:
        assert set(PATH_IDS.get(route.command, {})) == set(route.path_fields)


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem of this status and type; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["type"] == URN + slug, problem
    assert problem["status"] == status
    assert isinstance(problem["title"], str) and problem["title"]
    assert isinstance(problem["detail"], str) and problem["detail"]
    return problem  # type: ignore[no-any-return]


# -- (a) the role matrix -----------------------------------------------------------------------

REFUSED = [
    pytest.param(route, role, id=f"{route.command}-{role}")
    for route in ROUTES
    for role in ROLES
    if role not in route.roles
]
ALLOWED = [
    pytest.param(route, role, id=f"{route.command}-{role}")
    for route in ROUTES
    for role in route.roles
]


@pytest.mark.parametrize(("route", "role"), REFUSED)
def test_a_role_that_may_not_write_is_refused_and_nothing_is_appended(
    api: Api, route: Route, role: str
) -> None:
    path, body = valid_request(route, api.matrix_model)
    head, version = api.head(), api.version(api.matrix_model)

    response = api.client.post(path, json=body, headers=api.auth(role))

    # The ledger's authority table refuses it, as it would through any other door.
    problem = assert_problem(response, 403, "role-not-allowed")
    assert problem["facts"]["role"] == role
    assert problem["facts"]["allowed"] == ", ".join(route.roles)
    assert (api.head(), api.version(api.matrix_model)) == (head, version)


@pytest.mark.parametrize(("route", "role"), ALLOWED)
def test_a_role_that_may_write_is_accepted_and_recorded_as_the_tokens_actor(
    api: Api, route: Route, role: str
) -> None:
    model = api.prepared()
    path, body = valid_request(route, model)
    head, version = api.head(), (0 if route.command == "register_model" else api.version(model))

    response = api.client.post(path, json=body, headers=api.auth(role))

    assert response.status_code == 201, response.text
    recorded = response.json()
    assert recorded["version"] == api.version(recorded["model"]) == version + 1
    assert response.headers["etag"] == f'"{recorded["version"]}"'
    assert api.head() == recorded["notification_id"] > head  # one event (ids may have gaps)
    last = api.services.ledger.history(recorded["model"])[-1]
    # A researcher's own events name them by pseudonym only (disclosure policy 2): the id is
    # sealed, and the store opens it to the token's actor id.
    recorded_id = last.actor.id
    if isinstance(recorded_id, Sealed):
        assert recorded_id.value is None  # replayed from the store: sealed
        opened = api.services.ledger.opened([recorded_id])[recorded_id.commitment]
        recorded_id = opened.value
    assert (recorded_id, last.actor.role) == (actor_id(role), role)


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.command)
def test_a_write_without_a_valid_token_is_unauthenticated(api: Api, route: Route) -> None:
    path, body = valid_request(route, api.matrix_model)
    head = api.head()
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {api.tokens[route.roles[0]]}"},
        {"Authorization": "Bearer rlq_not-a-token"},
    ):
        response = api.client.post(path, json=body, headers=headers)
        assert_problem(response, 401, "unauthenticated")
        assert response.headers["www-authenticate"] == "Bearer"
    assert api.head() == head


def test_a_revoked_token_is_refused(api: Api) -> None:
    issued = api.services.actors.add(f"revoked-{uuid.uuid4().hex[:8]}", "curator")
    headers = {"Authorization": f"Bearer {issued.token}"}
    path, body = valid_request(ROUTE_BY_COMMAND["record_signal"], api.matrix_model)
    assert api.client.get("/models", headers=headers).status_code == 200

    api.services.actors.revoke(issued.actor.id)

    head = api.head()
    response = api.client.post(path, json=body, headers=headers)
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"
    assert_problem(api.client.get("/models", headers=headers), 401, "unauthenticated")
    assert api.head() == head


# -- (b) the actor comes from the token --------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"actor": {"id": "someone-else", "role": "board"}},
        {"command": "retire_model"},
        {"model": "harbor-7b"},
        {"unexpected": 1},
    ],
    ids=["actor", "command", "model", "unknown"],
)
def test_a_body_may_not_name_the_actor_or_anything_else_the_path_or_token_gives(
    api: Api, extra: dict[str, Any]
) -> None:
    path, body = valid_request(ROUTE_BY_COMMAND["record_signal"], api.matrix_model)
    head = api.head()

    response = api.client.post(path, json={**body, **extra}, headers=api.auth("curator"))

    problem = assert_problem(response, 422, "invalid-command")
    assert any(error["field"] == f"body.{next(iter(extra))}" for error in problem["errors"])
    assert api.head() == head


def test_the_stored_event_names_the_tokens_actor(api: Api) -> None:
    model = api.prepared()
    path, body = valid_request(ROUTE_BY_COMMAND["record_signal"], model)

    response = api.client.post(path, json=body, headers=api.auth("curator"))

    assert response.status_code == 201, response.text
    history = api.client.get(f"/models/{model}/history", headers=api.auth()).json()
    assert history["events"][-1]["type"] == "SignalRecorded"
    assert history["events"][-1]["actor"] == {
        "id": actor_id("curator"),
        "role": "curator",
        "authenticated_by": "token",
    }


# -- (c) idempotency ---------------------------------------------------------------------------


def _signal(api: Api, model: str, value: int = 1) -> tuple[str, dict[str, Any]]:
    path, body = valid_request(ROUTE_BY_COMMAND["record_signal"], model)
    return path, {**body, "value": value, **signal_period()}  # a period of its own


def _repeatable_signal(api: Api, model: str) -> tuple[str, dict[str, Any]]:
    """A signal body that appends each time it is sent: a correction of a recorded value."""
    path, body = _signal(api, model)
    first = api.client.post(path, json=body, headers=api.auth("curator"))
    assert first.status_code == 201, first.text
    return path, {**body, "corrects": True, "correction_reason": "Recounted."}


def test_the_same_key_and_body_append_once_and_replay_the_first_response(api: Api) -> None:
    model = api.prepared()
    path, body = _signal(api, model)
    headers = api.auth("curator", **{"Idempotency-Key": uuid.uuid4().hex})
    version = api.version(model)

    first = api.client.post(path, json=body, headers=headers)
    head = api.head()
    second = api.client.post(path, json=body, headers=headers)

    assert first.status_code == second.status_code == 201
    # The same record; its log sequence may have become known meanwhile.
    replayed, original = second.json(), first.json()
    first_sequence, replayed_sequence = original.pop("sequence"), replayed.pop("sequence")
    assert replayed_sequence == first_sequence or first_sequence is None
    assert replayed == original
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert api.version(model) == version + 1
    assert api.head() == head


def test_a_replay_carries_the_first_responses_etag(api: Api) -> None:
    path, body = _signal(api, api.prepared())
    headers = api.auth("curator", **{"Idempotency-Key": uuid.uuid4().hex})
    first = api.client.post(path, json=body, headers=headers)
    second = api.client.post(path, json=body, headers=headers)
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["etag"] == first.headers["etag"] == f'"{first.json()["version"]}"'


def test_the_same_key_with_another_body_is_refused(api: Api) -> None:
    model = api.prepared()
    path, body = _signal(api, model, value=1)
    headers = api.auth("curator", **{"Idempotency-Key": uuid.uuid4().hex})
    other_path, _ = _signal(api, api.prepared())
    assert api.client.post(path, json=body, headers=headers).status_code == 201
    head = api.head()

    response = api.client.post(path, json={**body, "value": 2}, headers=headers)

    assert_problem(response, 422, "idempotency-key-reused")
    assert_problem(
        api.client.post(other_path, json=body, headers=headers), 422, "idempotency-key-reused"
    )
    assert api.head() == head


def test_a_key_belongs_to_its_actor(api: Api) -> None:
    model = api.prepared()
    path, body = _repeatable_signal(api, model)
    key = uuid.uuid4().hex
    other = api.services.actors.add(f"curator-{key[:8]}", "curator").token
    version = api.version(model)

    first = api.client.post(
        path, json=body, headers=api.auth("curator", **{"Idempotency-Key": key})
    )
    again = api.client.post(
        path, json=body, headers={"Authorization": f"Bearer {other}", "Idempotency-Key": key}
    )

    assert (first.status_code, again.status_code) == (201, 201)
    assert "idempotent-replayed" not in again.headers
    assert api.version(model) == version + 2


def test_a_refused_request_is_replayed_as_refused(api: Api) -> None:
    path = f"/models/{DEMO}/essays/{VETOED_ESSAY}/publish"
    body = {"rationale": "Try it.", **BODIES["publish_essay"]}
    headers = api.auth("reviewer", **{"Idempotency-Key": uuid.uuid4().hex})
    head = api.head()

    first = api.client.post(path, json=body, headers=headers)
    second = api.client.post(path, json=body, headers=headers)

    assert_problem(first, 409, "essay-published-after-veto")
    assert_problem(second, 409, "essay-published-after-veto")
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    assert api.head() == head


def _digest_of(api: Api, key: str) -> str:
    """The digest the app kept for the request a finished key answered."""
    stored = api.services.ledger.recorder.stored_request(actor_id("curator"), key)  # type: ignore[attr-defined]
    return str(stored.request_sha256)


def _hold(api: Api, key: str, digest: str, lease: float) -> Any:
    """Reserve a key as a server would before it runs the command (and, here, dies)."""
    keys: Any = api.services.ledger.recorder
    return keys.reserve(actor_id("curator"), key, digest, lease_seconds=lease, ttl_seconds=3600)


def test_a_repeat_while_the_first_request_runs_is_told_to_retry(api: Api) -> None:
    model = api.prepared()
    path, body = _signal(api, model)
    done, running = uuid.uuid4().hex, uuid.uuid4().hex
    headers = api.auth("curator", **{"Idempotency-Key": done})
    assert api.client.post(path, json=body, headers=headers).status_code == 201
    # The same request, reserved under a second key whose lease still runs: what a concurrent
    # first request looks like to its repeat.
    _hold(api, running, _digest_of(api, done), lease=60)
    head = api.head()

    response = api.client.post(
        path, json=body, headers=api.auth("curator", **{"Idempotency-Key": running})
    )

    assert_problem(response, 409, "idempotency-in-progress")
    assert 55 <= int(response.headers["retry-after"]) <= 60
    assert api.head() == head


def test_a_key_whose_server_died_before_recording_is_taken_over_after_its_lease(
    api: Api,
) -> None:
    model = api.prepared()
    path, body = _repeatable_signal(api, model)
    done, orphan = uuid.uuid4().hex, uuid.uuid4().hex
    assert (
        api.client.post(
            path, json=body, headers=api.auth("curator", **{"Idempotency-Key": done})
        ).status_code
        == 201
    )
    _hold(api, orphan, _digest_of(api, done), lease=0)  # reserved, then the server died
    version = api.version(model)

    retry = api.client.post(
        path, json=body, headers=api.auth("curator", **{"Idempotency-Key": orphan})
    )

    assert retry.status_code == 201, retry.text
    assert "idempotent-replayed" not in retry.headers
    assert api.version(model) == version + 1


def test_a_key_whose_server_died_after_recording_replays_the_record(api: Api) -> None:
    from domain.commands import parse_command_object
    from domain.requests import RequestKey

    model = api.prepared()
    path, body = _repeatable_signal(api, model)
    done, orphan = uuid.uuid4().hex, uuid.uuid4().hex
    first = api.client.post(
        path, json=body, headers=api.auth("curator", **{"Idempotency-Key": done})
    )
    reserved = _hold(api, orphan, _digest_of(api, done), lease=0)
    assert isinstance(reserved, RequestKey)
    # The server recorded the command under the key, then died before answering.
    command = parse_command_object(
        {
            **body,
            "command": "record_signal",
            "model": model,
            "actor": {"id": actor_id("curator"), "role": "curator"},
        }
    )
    recorded = api.services.ledger.execute(command, request=reserved)
    head = api.head()

    retry = api.client.post(
        path, json=body, headers=api.auth("curator", **{"Idempotency-Key": orphan})
    )

    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["version"] == recorded.version == first.json()["version"] + 1
    assert api.head() == head


def test_a_transient_refusal_is_not_kept_under_the_key(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from domain.errors import ConcurrencyConflict

    model = api.prepared()
    path, body = _signal(api, model)
    headers = api.auth("curator", **{"Idempotency-Key": uuid.uuid4().hex})
    execute = api.services.ledger.execute
    calls = 0

    def conflicted_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConcurrencyConflict(model, 12)
        return execute(*args, **kwargs)

    monkeypatch.setattr(api.services.ledger, "execute", conflicted_once)
    version = api.version(model)

    first = api.client.post(path, json=body, headers=headers)
    retry = api.client.post(path, json=body, headers=headers)

    assert_problem(first, 409, "concurrency-conflict")
    assert retry.status_code == 201, retry.text
    assert "idempotent-replayed" not in retry.headers
    assert api.version(model) == version + 1


# -- (d) If-Match ------------------------------------------------------------------------------


def test_if_match_with_the_current_version_appends_and_returns_the_new_etag(api: Api) -> None:
    model = api.prepared()
    path, body = _signal(api, model)
    seen = api.client.get(f"/models/{model}", headers=api.auth()).json()["version"]

    response = api.client.post(
        path, json=body, headers=api.auth("curator", **{"If-Match": f'"{seen}"'})
    )

    assert response.status_code == 201, response.text
    assert response.headers["etag"] == f'"{seen + 1}"'
    weak = api.client.post(
        path,
        json=_signal(api, model)[1],
        headers=api.auth("curator", **{"If-Match": f'W/"{seen + 1}"'}),
    )
    assert weak.status_code == 201, weak.text
    assert weak.headers["etag"] == f'"{seen + 2}"'


def test_a_stale_if_match_is_a_conflict_and_appends_nothing(api: Api) -> None:
    model = api.prepared()
    path, body = _signal(api, model)
    stale = api.version(model) - 1
    head = api.head()

    response = api.client.post(
        path, json=body, headers=api.auth("curator", **{"If-Match": f'"{stale}"'})
    )

    problem = assert_problem(response, 409, "stale-version")
    assert str(stale) in problem["detail"]
    assert api.head() == head


@pytest.mark.parametrize(
    "value", ["*", "three", '"-1"', '"1", "2"', '""', "W/", '"1234567890123456789"']
)
def test_a_malformed_if_match_is_a_bad_request(api: Api, value: str) -> None:
    path, body = _signal(api, api.matrix_model)
    head = api.head()

    response = api.client.post(path, json=body, headers=api.auth("curator", **{"If-Match": value}))

    assert_problem(response, 400, "invalid-if-match")
    assert api.head() == head


@pytest.mark.parametrize(
    "value",
    [b'"\xb2"', b"\xb9", '"\u0661"'.encode()],
    ids=["superscript-two", "superscript-one", "arabic-indic-one"],
)
def test_an_if_match_of_a_non_ascii_digit_is_a_bad_request_not_a_500(
    api: Api, value: bytes
) -> None:
    # str.isdigit() accepts '²' (the latin-1 byte 0xB2), which int() refuses. The test client
    # re-encodes header text as UTF-8, so the raw bytes go through httpx's ASGI transport.
    path, body = _signal(api, api.matrix_model)
    head = api.head()

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            headers = [
                (b"authorization", f"Bearer {api.tokens['curator']}".encode()),
                (b"if-match", value),
            ]
            return await client.post(path, json=body, headers=headers)

    response = asyncio.run(send())
    assert_problem(response, 400, "invalid-if-match")
    assert api.head() == head


# -- (e) problem details -----------------------------------------------------------------------


def test_a_rule_violation_is_a_409_named_by_its_rule_and_appends_nothing(api: Api) -> None:
    head = api.head()
    response = api.client.post(
        f"/models/{DEMO}/essays/{VETOED_ESSAY}/publish",
        json={"rationale": "Publish it anyway.", **BODIES["publish_essay"]},
        headers=api.auth("reviewer"),
    )
    problem = assert_problem(response, 409, "essay-published-after-veto")
    assert VETOED_ESSAY in problem["detail"]
    assert api.head() == head


def test_a_missing_model_is_a_404(api: Api) -> None:
    head = api.head()
    path, body = _signal(api, "no-such-model")
    assert_problem(
        api.client.post(path, json=body, headers=api.auth("curator")), 404, "model-not-found"
    )
    assert_problem(
        api.client.get("/models/no-such-model", headers=api.auth()), 404, "model-not-found"
    )
    assert_problem(
        api.client.get("/models/no-such-model/history", headers=api.auth()), 404, "model-not-found"
    )
    assert api.head() == head


def test_missing_ids_named_in_the_path_are_404s(api: Api) -> None:
    model = api.matrix_model
    cases = [
        (f"/models/{model}/essays/nope/approve", {}, "reviewer", "essay-not-drafted"),
        (
            f"/models/{model}/access-requests/nope/deny",
            BODIES["deny_access_request"],
            "board",
            "access-request-not-found",
        ),
        (
            f"/models/{model}/preferences/nope/decide",
            BODIES["decide_preference"],
            "board",
            "preference-not-recorded",
        ),
    ]
    head = api.head()
    for path, body, role, slug in cases:
        response = api.client.post(path, json={"rationale": "x", **body}, headers=api.auth(role))
        assert_problem(response, 404, slug)
    assert api.head() == head


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"[]", b"null", b'"text"'],
    ids=["malformed", "empty", "array", "null", "string"],
)
def test_a_body_that_is_not_a_json_object_is_a_422(api: Api, content: bytes) -> None:
    path, _ = _signal(api, api.matrix_model)
    head = api.head()
    response = api.client.post(
        path, content=content, headers=api.auth("curator", **{"Content-Type": "application/json"})
    )
    problem = assert_problem(response, 422, "invalid-command")
    assert problem["errors"][0]["field"].startswith("body")
    assert api.head() == head


def test_a_body_that_is_not_utf8_is_a_400(api: Api) -> None:
    path, _ = _signal(api, api.matrix_model)
    head = api.head()
    response = api.client.post(
        path,
        content=b"\xff\xfe",
        headers=api.auth("curator", **{"Content-Type": "application/json"}),
    )
    assert_problem(response, 400, "invalid-json-encoding")
    assert api.head() == head


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"value": "a lot"}, "body.value"),
        ({"period_start": 20240401}, "body.period_start"),
        ({"kind": "vibes"}, "body.kind"),
        ({"rationale": None}, "body.rationale"),
        ({"unit": "Not A Slug"}, "body.unit"),
    ],
    ids=["number", "date", "enum", "null", "pattern"],
)
def test_a_field_of_the_wrong_type_is_a_422_naming_it(
    api: Api, change: dict[str, Any], field: str
) -> None:
    path, body = _signal(api, api.matrix_model)
    head = api.head()
    response = api.client.post(path, json={**body, **change}, headers=api.auth("curator"))
    problem = assert_problem(response, 422, "invalid-command")
    assert field in [error["field"] for error in problem["errors"]]
    assert api.head() == head


def test_a_missing_field_is_a_422(api: Api) -> None:
    path, body = _signal(api, api.matrix_model)
    del body["rationale"]
    problem = assert_problem(
        api.client.post(path, json=body, headers=api.auth("curator")), 422, "invalid-command"
    )
    assert "body.rationale" in [error["field"] for error in problem["errors"]]


def test_a_model_name_the_command_refuses_is_a_422(api: Api) -> None:
    # Past the body's shape, the command document's own rules: a name of 1 to 200 characters
    # without control characters (the path's limit, then the domain's invalid-command).
    _, body = _signal(api, api.matrix_model)
    head = api.head()
    too_long = api.client.post(
        f"/models/{'x' * 201}/signals", json=body, headers=api.auth("curator")
    )
    assert_problem(too_long, 422, "invalid-command")
    control = api.client.post(
        "/models/bad%09name",
        json={"rationale": "x", **BODIES["register_model"]},
        headers=api.auth("curator"),
    )
    assert "control character" in assert_problem(control, 422, "invalid-command")["detail"]
    assert api.head() == head


def test_an_unknown_route_and_method_are_problems(api: Api) -> None:
    assert_problem(api.client.get("/no/such/route"), 404, "not-found")
    assert_problem(api.client.post("/no/such/route", json={}), 404, "not-found")
    assert_problem(
        api.client.delete(f"/models/{DEMO}", headers=api.auth()), 405, "method-not-allowed"
    )


def test_every_rule_has_an_http_status(api: Api) -> None:
    from api.http.problems import status_of

    for rule in rule_classes():
        assert status_of(rule("x")) in {404, 409, 422}, rule


# Inputs that must be refused with a problem, never a 500 (each was a 500 once, or is a boundary).
# The services check every query (a 422 invalid-query), and every moment under the one rule (a
# 422 invalid-moment); a value that is not even a number is the request validation's 422
# (invalid-command, as for bodies).
QUERY, MOMENT = (422, "invalid-query"), (422, "invalid-moment")
INVALID = (422, "invalid-command")
BAD_READS: dict[str, tuple[str, tuple[int, str]]] = {
    "version-huge": (
        f"/models/{DEMO}?version=99999999999999999999",
        (404, "version-not-found"),
    ),
    "version-not-a-number": (f"/models/{DEMO}?version=abc", INVALID),
    "as-of-year-1": (f"/models/{DEMO}?as_of=0001-01-01T00:00:00%2B01:00", MOMENT),
    "as-of-year-9999": (f"/models/{DEMO}/history?as_of=9999-12-31T23:59:59-01:00", MOMENT),
    "as-of-naive": (f"/models/{DEMO}?as_of=2025-06-01T00:00:00", MOMENT),
    "as-of-and-version": (f"/models/{DEMO}?as_of=2025-06-01T00:00:00Z&version=3", QUERY),
    "model-nul": ("/models/%00/history", QUERY),
    "timeline-after-huge": ("/timeline?after=99999999999999999999", QUERY),
    "timeline-since-year-1": ("/timeline?since=0001-01-01T00:00:00%2B01:00", MOMENT),
    "timeline-until-year-9999": ("/timeline?until=9999-12-31T23:59:59-01:00", MOMENT),
    "timeline-model-nul": ("/timeline?model=%00", QUERY),
    "timeline-actor-nul": ("/timeline?actor=%00", QUERY),
    "timeline-limit-zero": ("/timeline?limit=0", QUERY),
    "search-nul": ("/search?q=%00", QUERY),
    "search-model-nul": ("/search?q=licence&model=%00", QUERY),
    "register-model-nul": ("/registers/access?model=%00", QUERY),
    "fairness-year-9999": ("/reports/fairness?as_of=9999-12-31", MOMENT),
    "fairness-year-1": ("/reports/fairness.md?as_of=0001-01-01", MOMENT),
    "fairness-nan": ("/reports/fairness?criteria_distance=nan", QUERY),
    "inclusion-huge": (
        "/log/proof/inclusion?sequence=99999999999999999999",
        (404, "transparency-log"),
    ),
    "consistency-reversed": ("/log/proof/consistency?old=5&new=3", (404, "transparency-log")),
    "leaf-negative": ("/log/leaves/-1", (404, "transparency-log")),
    "tile-bogus": ("/tlog/tile/0/x999/999.p/0", (404, "no-such-tile")),
}
BAD_WRITES: dict[str, dict[str, Any]] = {
    "effective-at-year-1": {"effective_at": "0001-01-01T00:00:00+01:00"},
    "effective-at-year-9999": {"effective_at": "9999-12-31T23:59:59-01:00"},
    "period-year-9999": {"period_end": "9999-12-31"},
    "value-infinite": {"value": "1e309"},  # sent as the JSON number 1e309
}


@pytest.mark.parametrize("case", sorted(BAD_READS))
def test_a_bad_query_is_a_problem_never_a_500(api: Api, case: str) -> None:
    path, (status, slug) = BAD_READS[case]
    assert_problem(api.client.get(path, headers=api.auth()), status, slug)


def test_search_syntax_in_the_query_is_only_text(api: Api) -> None:
    response = api.client.get("/search", params={"q": '" NEAR( * OR'}, headers=api.auth())
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("case", sorted(BAD_WRITES))
def test_a_bad_write_is_refused_never_a_500(api: Api, case: str) -> None:
    path, body = _signal(api, api.matrix_model)
    content = json.dumps({**body, **BAD_WRITES[case]}).replace('"1e309"', "1e309")
    head = api.head()
    response = api.client.post(
        path, content=content, headers=api.auth("curator", **{"Content-Type": "application/json"})
    )
    assert_problem(response, 422, "invalid-command")
    assert api.head() == head


# -- (f) reads ---------------------------------------------------------------------------------

PUBLIC = [
    "/log/key",
    "/log/checkpoint",
    "/log/checkpoints",
    "/tlog/checkpoint",
    f"/models/{DEMO}/manifest",
    "/log/proof/inclusion?sequence=3",
    "/log/proof/consistency?old=5",
    "/log/leaves/3",
]
RECORDS = [
    "/models",
    f"/models/{DEMO}",
    f"/models/{DEMO}/history",
    "/timeline",
    "/search?q=licence",
    "/registers/access",
    "/registers/policies",
    "/registers/essays",
    "/registers/preferences",
    "/reports/fairness",
    "/reports/fairness.md",
    "/log/export",
]


@pytest.mark.parametrize("path", PUBLIC)
def test_the_public_log_needs_no_token(api: Api, path: str) -> None:
    response = api.client.get(path)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", RECORDS)
def test_the_records_need_a_reader_role(api: Api, path: str) -> None:
    assert_problem(api.client.get(path), 401, "unauthenticated")
    assert_problem(api.client.get(path, headers=api.auth("researcher")), 403, "forbidden")
    assert api.client.get(path, headers=api.auth("auditor")).status_code == 200


@pytest.mark.parametrize("role", READERS)
def test_every_reader_role_reads_the_records(api: Api, role: str) -> None:
    assert api.client.get("/models", headers=api.auth(role)).status_code == 200
    assert api.client.get("/timeline?limit=1", headers=api.auth(role)).status_code == 200


def test_the_checkpoint_key_leaf_and_inclusion_proof_verify_together(api: Api) -> None:
    key = api.client.get("/log/key").text.strip()
    note = api.client.get("/log/checkpoint").text
    checkpoint = verify_checkpoint(note, key, origin=ORIGIN)
    assert checkpoint.size >= 3

    proof = api.client.get("/log/proof/inclusion", params={"sequence": 3}).json()
    leaf = api.client.get("/log/leaves/3")
    assert leaf.headers["content-type"].startswith("application/json")
    assert bytes.fromhex(proof["leaf_hash"]) == leaf_hash(leaf.content)
    verify_inclusion(
        leaf_hash(leaf.content),
        proof["leaf_index"],
        proof["tree_size"],
        [bytes.fromhex(step) for step in proof["audit_path"]],
        bytes.fromhex(proof["root"]),
    )
    signed = verify_checkpoint(proof["checkpoint"], key, origin=ORIGIN)
    assert (signed.size, signed.root_hash.hex()) == (proof["tree_size"], proof["root"])


def test_the_tlog_checkpoint_and_a_tile(api: Api) -> None:
    key = api.client.get("/log/key").text.strip()
    response = api.client.get("/tlog/checkpoint")
    assert response.headers["cache-control"] == "max-age=5"
    size = verify_checkpoint(response.text, key, origin=ORIGIN).size

    name = "0/000" if size >= 256 else f"0/000.p/{size}"
    tile = api.client.get(f"/tlog/tile/{name}")

    assert tile.status_code == 200, tile.text
    assert tile.headers["content-type"] == "application/octet-stream"
    # A full tile never changes; a partial one is replaced by a wider one: short-lived.
    immutable = "immutable" in tile.headers["cache-control"]
    assert immutable == (size >= 256), tile.headers["cache-control"]
    assert len(tile.content) == 32 * min(size, 256)
    assert tile.content[:32] == leaf_hash(api.client.get("/log/leaves/0").content)
    assert_problem(api.client.get("/tlog/tile/0/999"), 404, "no-such-tile")


def test_the_manifest_is_public_and_names_the_preserved_files(api: Api) -> None:
    manifest_ = api.client.get(f"/models/{DEMO}/manifest").json()
    assert manifest_["model"] == DEMO
    assert len(manifest_["manifest_digest"]) == 64
    assert manifest_["locations"]
    # The record names its files by digest; they are served beside the log, and hash to it.
    digest = manifest_["manifest_digest"]
    assert manifest_["files"] == f"/archive/manifests/{digest}"
    files = api.client.get(manifest_["files"]).json()
    assert len(files["files"]) == files["file_count"] == manifest_["file_count"] > 0
    entries = [ManifestEntry(f["path"], f["size"], f["sha256"]) for f in files["files"]]
    assert manifest_digest(entries) == digest
    assert_problem(api.client.get("/models/lumen-4/manifest"), 404, "no-preserved-weights")


def test_history_travels_in_time_by_version_and_by_moment(api: Api) -> None:
    everything = api.client.get(f"/models/{DEMO}/history", headers=api.auth()).json()
    events = everything["events"]
    assert everything["version"] == len(events) == api.version(DEMO)

    at_19 = api.client.get(f"/models/{DEMO}/history?version=19", headers=api.auth()).json()
    assert at_19["version"] == at_19["state"]["version"] == 19
    assert at_19["events"] == events[:19]
    state = api.client.get(f"/models/{DEMO}", params={"version": 19}, headers=api.auth()).json()
    assert state == at_19["state"]

    # The moment the k-th event was recorded (one strictly before the next one's).
    times = [event["recorded_at"] for event in events]
    k = next(k for k in range(10, len(times)) if times[k - 1] < times[k])
    as_of = api.client.get(
        f"/models/{DEMO}/history", params={"as_of": times[k - 1]}, headers=api.auth()
    ).json()
    assert as_of["version"] == k
    assert as_of["events"] == events[:k]

    assert_problem(
        api.client.get(f"/models/{DEMO}/history?version=9999", headers=api.auth()),
        404,
        "version-not-found",
    )
    assert_problem(
        api.client.get(
            f"/models/{DEMO}", params={"as_of": "2000-01-01T00:00:00Z"}, headers=api.auth()
        ),
        404,
        "version-not-found",
    )
    assert_problem(
        api.client.get(
            f"/models/{DEMO}", params={"as_of": "2025-01-01T00:00:00"}, headers=api.auth()
        ),
        422,
        "invalid-moment",
    )


def test_the_timeline_pages_and_filters(api: Api) -> None:
    full = api.client.get(
        "/timeline", params={"model": "harbor-7b", "limit": 1000}, headers=api.auth()
    ).json()
    sequences = [entry["sequence"] for entry in full["entries"]]
    assert full["next_after"] is None
    assert sequences == sorted(sequences) and len(sequences) >= 15

    paged: list[int] = []
    after: int | None = None
    while True:
        params: dict[str, Any] = {"model": "harbor-7b", "limit": 4}
        if after is not None:
            params["after"] = after
        page = api.client.get("/timeline", params=params, headers=api.auth()).json()
        paged += [entry["sequence"] for entry in page["entries"]]
        after = page["next_after"]
        if after is None:
            break
    assert paged == sequences

    board = api.client.get("/timeline", params={"role": "board"}, headers=api.auth()).json()
    assert board["entries"] and {e["actor"]["role"] for e in board["entries"]} == {"board"}
    retired = api.client.get(
        "/timeline", params={"type": "ModelRetired"}, headers=api.auth()
    ).json()
    assert {e["type"] for e in retired["entries"]} == {"ModelRetired"}
    assert len(retired["entries"]) >= 4
    since = api.client.get(
        "/timeline", params={"since": "2026-03-01T00:00:00Z", "model": DEMO}, headers=api.auth()
    ).json()
    assert since["entries"] and all(e["effective_at"] >= "2026-03-01" for e in since["entries"])


def test_search_ranks_decisions_by_their_justification(api: Api) -> None:
    hits = api.client.get("/search", params={"q": "licence"}, headers=api.auth()).json()
    assert hits and hits[0]["model"] == "cinder-1"
    assert all("rank" in hit and "rationale" in hit for hit in hits)
    ranks = [hit["rank"] for hit in hits]
    assert ranks == sorted(ranks, reverse=True)
    only = api.client.get(
        "/search", params={"q": "licence", "model": "cinder-1", "limit": 1}, headers=api.auth()
    ).json()
    assert len(only) == 1 and only[0]["model"] == "cinder-1"


def test_the_registers(api: Api) -> None:
    access = api.client.get(
        "/registers/access", params={"model": "harbor-7b"}, headers=api.auth()
    ).json()
    assert {row["request_id"] for row in access} >= {"harbor-req-001", "harbor-req-002"}
    assert {row["status"] for row in access if row["request_id"].startswith("harbor-")} == {
        "denied"
    }
    # The auditor reads the requesters opened; a curator, sealed (docs/disclosure.md).
    moreno = next(row for row in access if row["request_id"] == "harbor-req-001")
    assert moreno["requester"] == "Dr. Lena Moreno"
    sealed = api.client.get(
        "/registers/access", params={"model": "harbor-7b"}, headers=api.auth("curator")
    ).json()
    hidden = next(row for row in sealed if row["request_id"] == "harbor-req-001")
    assert hidden["requester"] == "[sealed]"
    assert hidden["subject"] == moreno["subject"] and hidden["subject"].startswith("ps:")
    assert "Dr. Lena Moreno" not in str(sealed)
    essays = api.client.get("/registers/essays", params={"model": DEMO}, headers=api.auth()).json()
    assert {row["essay_id"]: row["status"] for row in essays}[VETOED_ESSAY] == "vetoed"
    policies = api.client.get("/registers/policies", headers=api.auth()).json()
    assert {"claude-opus-3", "harbor-7b", "meridian-2", "cinder-1"} <= {
        row["model"] for row in policies
    }
    preferences = api.client.get(
        "/registers/preferences", params={"model": "harbor-7b"}, headers=api.auth()
    ).json()
    assert [(row["preference_id"], row["outcome"]) for row in preferences] == [
        ("harbor-pref-keep-serving", "declined")
    ]


def test_the_fairness_report_as_json_and_markdown(api: Api) -> None:
    report = api.client.get("/reports/fairness", params={"as_of": "2026-03-31"}, headers=api.auth())
    assert report.headers["content-type"].startswith("application/json")
    body = report.json()
    assert body["report"] == "fairness"
    assert body["as_of"] == "2026-03-31"
    assert body["policy"]["criteria_distance"] == 0.15
    markdown = api.client.get(
        "/reports/fairness.md", params={"criteria_distance": 0.2}, headers=api.auth()
    )
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.startswith("# Fairness report")
    assert "criteria distance 0.2" in markdown.text


def test_the_export_bundle_is_a_gzip_tarball(api: Api) -> None:
    response = api.client.get("/log/export", headers=api.auth())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/gzip"
    assert "reliquary-bundle.tar.gz" in response.headers["content-disposition"]
    assert gzip.decompress(response.content)  # a gzip stream
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
        names = set(archive.getnames())
        assert {"bundle/events.jsonl", "bundle/checkpoint", "bundle/verifier-key"} <= names
        events, note = (
            archive.extractfile(f"bundle/{name}") for name in ("events.jsonl", "checkpoint")
        )
        assert events is not None and note is not None
        lines = events.read().splitlines()
        checkpoint = verify_checkpoint(
            note.read().decode(), api.client.get("/log/key").text.strip()
        )
    assert len(lines) == checkpoint.size >= 111


# -- (g) a researcher acts only for itself -----------------------------------------------------


def test_a_request_belongs_to_the_researcher_whose_token_made_it(api: Api) -> None:
    model = api.prepared()
    path, body = valid_request(ROUTE_BY_COMMAND["request_access"], model)

    # `requester` is the person's name as they give it; the request is the token's actor's.
    mine = api.client.post(
        path, json={**body, "requester": "Dr. Someone"}, headers=api.auth("researcher")
    )

    assert mine.status_code == 201, mine.text
    history = api.client.get(f"/models/{model}/history", headers=api.auth()).json()
    requested = history["events"][-1]
    # The auditor reads the sealed name opened, with the opening that checks it.
    assert requested["facts"]["requester"]["value"] == "Dr. Someone"
    assert requested["facts"]["requester"]["commitment"].startswith("sha256:")
    assert requested["actor"]["id"]["value"] == actor_id("researcher")
    # The application opens by role: a researcher its own request's values, not another's.
    researcher = Actor(actor_id("researcher"), "researcher")
    stranger = Actor("someone-else", "researcher")
    own = api.services.queries.history(model, reader=researcher).events[-1]
    theirs = api.services.queries.history(model, reader=stranger).events[-1]
    assert own["facts"]["requester"]["value"] == "Dr. Someone"
    assert set(theirs["facts"]["requester"]) == {"commitment", "subject"}
    assert "Dr. Someone" not in str(theirs)
    # So another researcher's token cannot appeal it, nor its own board token decide it.
    head = api.head()
    denied = api.client.post(
        f"/models/{model}/access-requests/req-new/deny",
        json={"rationale": "No plan.", "reason_code": "other", "reason": "No plan."},
        headers=api.auth("board"),
    )
    assert denied.status_code == 201, denied.text
    other = api.services.actors.add(f"other-{uuid.uuid4().hex[:6]}", "researcher").token
    appeal = api.client.post(
        f"/models/{model}/access-requests/req-new/appeal",
        json={"rationale": "x", **BODIES["appeal_access_denial"]},
        headers={"Authorization": f"Bearer {other}"},
    )
    assert_problem(appeal, 403, "request-for-another")
    assert api.head() == head + 1


def test_a_researcher_appeals_only_its_own_denial(api: Api) -> None:
    model = api.prepared()
    api.apply(
        doc(
            "request_access",
            model,
            role="researcher",
            request_id="req-theirs",
            requester="another-researcher",
            organisation="Independent",
            requester_group="independent",
            purpose="p",
            scope="s",
        ),
        doc(
            "deny_access_request",
            model,
            role="board",
            request_id="req-theirs",
            reason_code="other",
            reason="No.",
        ),
    )
    head = api.head()

    theirs = api.client.post(
        f"/models/{model}/access-requests/req-theirs/appeal",
        json={"rationale": "x", **BODIES["appeal_access_denial"]},
        headers=api.auth("researcher"),
    )

    assert_problem(theirs, 403, "request-for-another")
    assert api.head() == head
    mine = api.client.post(
        f"/models/{model}/access-requests/req-denied/appeal",
        json={"rationale": "x", **BODIES["appeal_access_denial"]},
        headers=api.auth("researcher"),
    )
    assert mine.status_code == 201, mine.text


def test_the_openapi_document_lists_every_command(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    operations = {
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
    }
    assert {f"decisions-{route.command}" for route in ROUTES} <= operations
    assert api.client.get("/docs").status_code == 200


def test_the_api_docs_load_everything_from_the_service_itself(api: Api) -> None:
    # /docs must work on a network that reaches no CDN: no URL to another host in its page, and
    # every script, style, icon and document it names served here.
    page = api.client.get("/docs")
    assert page.status_code == 200
    html = page.text
    assert re.findall(r"(?:https?:)?//[A-Za-z0-9.\[\]:-]+", html) == []
    referenced = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)
    assert len(referenced) == 4, referenced  # the bundle, its style, the icon, openapi.json
    for path in referenced:
        assert path.startswith("/"), path
        assert api.client.get(path).status_code == 200, path
    # Swagger UI's default validator badge would load from validator.swagger.io.
    assert '"validatorUrl": null' in html
    # ReDoc would load from a CDN: it stays off.
    assert api.client.get("/redoc").status_code == 404


def test_the_api_doc_names_every_write_endpoint_and_problem_type() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    for route in ROUTES:
        row = f"| `{route.command}` | `{route.path}` | {', '.join(route.roles)} |"
        assert row in text, row
    slugs = [rule.rule for rule in rule_classes()] + [
        *(rule.rule for rule in authority_classes()),
        "invalid-moment",
        "no-checkpoint",
        "log-damaged",
        "unauthenticated",
        "forbidden",
        "invalid-command",
        "model-not-found",
        "version-not-found",
        "stale-version",
        "invalid-if-match",
        "idempotency-key-reused",
        "idempotency-in-progress",
        "invalid-query",
        "no-preserved-weights",
        "not-found",
    ]
    for slug in slugs:
        assert f"| `{slug}` |" in text, slug


def test_the_openapi_document_declares_the_basis_header_where_it_is_sent(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    sent = []
    for path, operations in document["paths"].items():
        answer = operations.get("get", {}).get("responses", {}).get("200", {})
        if "Reliquary-Basis" in answer.get("headers", {}):
            sent.append(path)
    assert set(sent) >= {
        "/timeline",
        "/search",
        "/registers/access",
        "/reports/fairness",
        "/reports/fairness.md",
    }
    # Where it is declared, it is sent.
    assert "/checklist" in sent
    assert "/models/{model}/checklist" in sent
    for path in sent:
        concrete = path.replace("{model}", "claude-opus-3")
        response = api.client.get(concrete, params={"q": "licence"}, headers=api.auth())
        assert response.status_code == 200, path
        assert "Reliquary-Basis" in response.headers, path
