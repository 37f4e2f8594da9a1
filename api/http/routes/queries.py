"""Read endpoints: models, history and time travel, timeline, search, registers, reports."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse

from api.http.deps import ReaderDep, ServicesDep, caught_up_views
from api.http.problems import Problem
from api.settings import preference_policy
from domain.rules import PreferencePolicy
from projections import registers
from projections.model_state import model_state
from projections.records import event_record, jsonable

router = APIRouter(tags=["records"])
ViewsDep = Annotated[Any, Depends(caught_up_views)]


def _checked(**values: Any) -> None:
    """Refuse query values no record can hold: control characters, implausible moments."""
    from domain.commands import EARLIEST_YEAR, LATEST_YEAR

    for name, value in values.items():
        if isinstance(value, str) and any(ord(char) < 32 or ord(char) == 127 for char in value):
            raise Problem(400, "invalid-query", "Invalid query", f"{name} has a control character")
        if isinstance(value, date) and not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
            raise Problem(
                400,
                "invalid-query",
                "Invalid query",
                f"{name} must fall between the years {EARLIEST_YEAR} and {LATEST_YEAR}",
            )
        if isinstance(value, datetime) and value.tzinfo is None:
            raise Problem(400, "invalid-query", "Invalid query", f"{name} needs a time zone")


def _policy(services: Any) -> PreferencePolicy:
    return preference_policy(services.settings)


@router.get("/models", operation_id="records-models", summary="Every model and its status")
def models(services: ServicesDep, _: ReaderDep) -> list[dict[str, Any]]:
    """Every registered model with its lifecycle status and version."""
    return [
        {"model": m.name, "status": m.status, "version": m.version}
        for m in services.ledger.models()
    ]


@router.get(
    "/models/{model}", operation_id="records-model", summary="A model's state, now or in the past"
)
def model(
    services: ServicesDep,
    _: ReaderDep,
    model: str,
    as_of: Annotated[datetime | None, Query(description="ISO 8601 with a time zone")] = None,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """The model's state: now, at a version, or as the ledger recorded it at a moment."""
    _checked(model=model, as_of=as_of)
    state = _state(services, model, as_of, version)
    return model_state(state, _policy(services))


@router.get(
    "/models/{model}/history",
    operation_id="records-history",
    summary="A model's events and its state",
)
def history(
    services: ServicesDep,
    _: ReaderDep,
    model: str,
    as_of: Annotated[datetime | None, Query(description="ISO 8601 with a time zone")] = None,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """The model's events up to now, a version, or a moment, and its state there."""
    _checked(model=model, as_of=as_of)
    state = _state(services, model, as_of, version)
    events = services.ledger.history(model, up_to_version=state.version)
    return {
        "model": model,
        "version": state.version,
        "events": [event_record(event, model) for event in events],
        "state": model_state(state, _policy(services)),
    }


def _state(services: Any, model: str, as_of: datetime | None, version: int | None) -> Any:
    if as_of is not None and version is not None:
        raise Problem(400, "invalid-query", "Invalid query", "give as_of or version, not both")
    if as_of is not None:
        if as_of.tzinfo is None:
            raise Problem(400, "invalid-query", "Invalid query", "as_of needs a time zone")
        return services.ledger.state_as_of(model, at=as_of)
    if version is not None:
        return services.ledger.state_as_of(model, version=version)
    return services.ledger.state(model)


@router.get("/models/{model}/manifest", operation_id="records-manifest", tags=["public"])
def manifest(services: ServicesDep, model: str) -> dict[str, Any]:
    """The model's latest preserved weights manifest (public: reviewers need no account)."""
    _checked(model=model)
    state = services.ledger.state(model)
    if state.weights is None:
        raise Problem(
            404, "no-preserved-weights", "Not found", f"model {model!r} has no preserved weights"
        )
    weights = state.weights
    return {
        "model": model,
        "version": weights.version,
        "manifest_digest": weights.manifest_digest,
        "files": [dataclasses.asdict(entry) for entry in weights.files],
        "locations": list(weights.locations),
        "custodian": weights.custodian,
        "retention": weights.retention,
    }


@router.get("/timeline", operation_id="records-timeline", summary="Every decision, filtered")
def timeline(
    _: ReaderDep,
    views: ViewsDep,
    model: str | None = None,
    type: Annotated[str | None, Query(alias="type")] = None,  # noqa: A002
    actor: str | None = None,
    role: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: Annotated[int | None, Query(ge=-1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Decisions in ledger order; page with ``after`` = the ``next_after`` of the last page."""
    from projections.views import timeline as query

    _checked(model=model, type=type, actor=actor, role=role, since=since, until=until)
    entries = query(
        views,
        model=model,
        event_type=type,
        actor=actor,
        role=role,
        since=since,
        until=until,
        after=after,
        limit=limit,
    )
    return {
        "entries": [entry.as_json() for entry in entries],
        "next_after": entries[-1].sequence if len(entries) == limit else None,
    }


@router.get("/search", operation_id="records-search", summary="Why: justification search")
def search(
    _: ReaderDep,
    views: ViewsDep,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    model: str | None = None,
    type: Annotated[str | None, Query(alias="type")] = None,  # noqa: A002
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[dict[str, Any]]:
    """Decisions ranked by how well their rationale and evidence match ``q``."""
    from projections.search import search as query

    _checked(q=q, model=model, type=type)
    return [
        {"rank": hit.rank, **hit.entry.as_json()}
        for hit in query(views, q, model=model, event_type=type, limit=limit)
    ]


@router.get("/registers/access", operation_id="records-access-register")
def access_register(
    _: ReaderDep, views: ViewsDep, model: str | None = None
) -> list[dict[str, Any]]:
    """Access requests and where their decisions stand."""
    _checked(model=model)
    return [jsonable(dataclasses.asdict(row)) for row in registers.access_requests(views, model)]


@router.get("/registers/policies", operation_id="records-policy-register")
def policy_register(_: ReaderDep, views: ViewsDep) -> list[dict[str, Any]]:
    """The access policy in force for each model, with its criteria scores."""
    return [jsonable(dataclasses.asdict(row)) for row in registers.access_policies(views)]


@router.get("/registers/essays", operation_id="records-essay-register")
def essay_register(_: ReaderDep, views: ViewsDep, model: str | None = None) -> list[dict[str, Any]]:
    """Essays from draft to publication."""
    _checked(model=model)
    return [jsonable(dataclasses.asdict(row)) for row in registers.essays(views, model)]


@router.get("/registers/preferences", operation_id="records-preference-register")
def preference_register(
    services: ServicesDep, _: ReaderDep, views: ViewsDep, model: str | None = None
) -> list[dict[str, Any]]:
    """Preferences, their stability under the configured policy, and their decisions."""
    _checked(model=model)
    rows = registers.preferences(views, _policy(services), model)
    return [jsonable(dataclasses.asdict(row)) for row in rows]


def _report(services: Any, views: Any, criteria_distance: float, as_of: date | None) -> Any:
    from projections import fairness

    _checked(as_of=as_of)
    return fairness.fairness_report(
        registers.access_requests(views),
        registers.access_policies(views),
        registers.essays(views),
        registers.preferences(views, _policy(services)),
        policy=fairness.FairnessPolicy(criteria_distance=criteria_distance),
        as_of=as_of or datetime.now(UTC).date(),
    )


@router.get("/reports/fairness", operation_id="reports-fairness", tags=["reports"])
def fairness_json(
    services: ServicesDep,
    _: ReaderDep,
    views: ViewsDep,
    criteria_distance: Annotated[float, Query(ge=0.0, le=10.0)] = 0.15,
    as_of: date | None = None,
) -> dict[str, Any]:
    """The fairness report (see docs/fairness.md)."""
    from projections.fairness import report_json

    result: dict[str, Any] = report_json(_report(services, views, criteria_distance, as_of))
    return result


@router.get(
    "/reports/fairness.md",
    operation_id="reports-fairness-markdown",
    tags=["reports"],
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/markdown": {}}, "description": "The report"}},
)
def fairness_markdown(
    services: ServicesDep,
    _: ReaderDep,
    views: ViewsDep,
    criteria_distance: Annotated[float, Query(ge=0.0, le=10.0)] = 0.15,
    as_of: date | None = None,
) -> PlainTextResponse:
    """The fairness report as Markdown (charts are left out: see the CLI's --markdown)."""
    from projections.fairness import report_markdown

    text = report_markdown(_report(services, views, criteria_distance, as_of), {})
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")
