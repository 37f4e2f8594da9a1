"""Read endpoints: models, history and time travel, timeline, search, registers, reports.

Each route parses its query (moments with the one rule, `domain.commands.parse_moment`), calls
one method of `Queries`, and presents the answer; the filters' limits are the service's. Every
answer read from the views or a report names what it was computed from (`Queries.basis`) in
the ``Reliquary-Basis`` header, and a JSON object answer also in its ``basis`` field.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from api.http.deps import ReaderDep, ServicesDep
from api.http.routes.transparency import IMMUTABLE, LATEST, cached_answer, json_bytes
from domain.commands import parse_as_of, parse_moment
from domain.decisions import Actor
from domain.errors import NoPreservedWeights
from projections.queries import DEFAULT_CRITERIA_DISTANCE
from projections.records import jsonable

router = APIRouter(tags=["records"])

MomentQuery = Annotated[
    str | None,
    Query(max_length=40, description="ISO 8601 with a time zone, e.g. 2026-01-01T00:00Z"),
]
AsOfQuery = Annotated[
    str | None,
    Query(
        max_length=40,
        description="A day, YYYY-MM-DD (its end, UTC), or ISO 8601 with a time zone",
    ),
]
TextQuery = Annotated[str | None, Query(max_length=500)]


def _moment(text: str | None, name: str) -> Any:
    return parse_moment(text, name) if text is not None else None


BASIS_HEADER = "Reliquary-Basis"
"""What an answer was computed from (`projections.runner.Basis.header`): docs/api.md."""


BASIS: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            BASIS_HEADER: {
                "description": "What the answer was computed from: the events it reflects and "
                "the latest signed checkpoint (RFC 8941 dictionary; docs/api.md)",
                "schema": {"type": "string"},
            }
        }
    }
}
"""The header, declared in the OpenAPI document of each answer that carries it."""


def _basis(services: Any, response: Response, report: Any = None) -> Any:
    """The answer's basis, read after its data, also set as the ``Reliquary-Basis`` header."""
    basis = services.queries.basis(report)
    response.headers[BASIS_HEADER] = basis.header()
    return basis


@router.get("/models", operation_id="records-models", summary="Every model and its status")
def models(services: ServicesDep, _: ReaderDep) -> list[dict[str, Any]]:
    """Every registered model with its lifecycle status and version."""
    return [
        {"model": m.name, "status": m.status, "version": m.version}
        for m in services.queries.models()
    ]


@router.get(
    "/models/{model}", operation_id="records-model", summary="A model's state, now or in the past"
)
def model(
    services: ServicesDep,
    _: ReaderDep,
    model: str,
    as_of: MomentQuery = None,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """The model's state: now, at a version, or as the ledger recorded it at a moment."""
    return services.queries.model_state(model, version=version, at=_moment(as_of, "as_of"))


@router.get(
    "/models/{model}/history",
    operation_id="records-history",
    summary="A model's events and its state",
)
def history(
    services: ServicesDep,
    caller: ReaderDep,
    model: str,
    as_of: MomentQuery = None,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """The model's events up to now, a version, or a moment, and its state there (private
    values opened for the board and auditors, and for a researcher's own requests)."""
    answer = services.queries.history(
        model, version=version, at=_moment(as_of, "as_of"), reader=caller
    )
    return answer.as_json()


@router.get(
    "/models/{model}/manifest",
    operation_id="records-manifest",
    tags=["public"],
    response_model=dict[str, Any],
)
def manifest(
    services: ServicesDep,
    request: Request,
    model: str,
    version: Annotated[
        int | None,
        Query(ge=1, description="The manifest in force at this version of the model (immutable)"),
    ] = None,
) -> Response:
    """The model's preserved weights record: the latest, or at a version (public: reviewers
    need no account); its files are at ``files``, ``/archive/manifests/{digest}``."""
    weights = (
        services.queries.weights(model)
        if version is None
        else services.queries.state_at(model, version=version).weights
    )
    if weights is None:
        raise NoPreservedWeights(
            f"model {model!r} had no preserved weights on record at version {version}"
        )
    body = json_bytes(
        {
            "model": model,
            "version": weights.version,
            "manifest_digest": weights.manifest_digest,
            "file_count": weights.file_count,
            "total_bytes": weights.total_bytes,
            # The files are served beside the log, by digest, a page at a time.
            "files": f"/archive/manifests/{weights.manifest_digest}",
            "locations": list(weights.locations),
            "custodian": weights.custodian,
            "retention": weights.retention,
        }
    )
    # At a version, the answer is what the ledger recorded up to it: it never changes.
    policy = IMMUTABLE if version is not None else LATEST
    return cached_answer(request, body, "application/json", policy)


@router.get(
    "/timeline",
    operation_id="records-timeline",
    summary="Every decision, filtered",
    responses=BASIS,
)
def timeline(
    services: ServicesDep,
    _: ReaderDep,
    response: Response,
    model: TextQuery = None,
    type: Annotated[str | None, Query(alias="type")] = None,  # noqa: A002
    actor: TextQuery = None,
    role: TextQuery = None,
    since: MomentQuery = None,
    until: MomentQuery = None,
    after: int | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    """Decisions in ledger order; page with ``after`` = the ``next_after`` of the last page."""
    page = services.queries.timeline(
        model=model,
        event_type=type,
        actor=actor,
        role=role,
        since=_moment(since, "since"),
        until=_moment(until, "until"),
        after=after,
        limit=limit,
    )
    return {**page.as_json(), "basis": _basis(services, response).as_json()}


@router.get(
    "/search", operation_id="records-search", summary="Why: justification search", responses=BASIS
)
def search(
    services: ServicesDep,
    _: ReaderDep,
    response: Response,
    q: Annotated[str, Query(description="Words to look for (at most 500 characters)")],
    model: TextQuery = None,
    type: Annotated[str | None, Query(alias="type")] = None,  # noqa: A002
    limit: int = 20,
    after: Annotated[
        str | None,
        Query(description="The `cursor` of the last hit seen: the page after it"),
    ] = None,
) -> list[dict[str, Any]]:
    """Decisions holding the words of ``q``: those holding every word first (rank 2), then
    those holding some (rank 1); newest first within each. Page with ``after``."""
    hits = services.queries.search(q, model=model, event_type=type, limit=limit, after=after)
    _basis(services, response)
    return [{"rank": hit.rank, "cursor": hit.cursor, **hit.entry.as_json()} for hit in hits]


def _register(
    services: Any,
    kind: str,
    model: str | None,
    response: Response,
    reader: Actor | None = None,
) -> list[dict[str, Any]]:
    rows = services.queries.register(kind, model, reader=reader)
    rows = [jsonable(dataclasses.asdict(row)) for row in rows]
    _basis(services, response)
    return rows


@router.get("/registers/access", operation_id="records-access-register", responses=BASIS)
def access_register(
    services: ServicesDep,
    caller: ReaderDep,
    response: Response,
    model: TextQuery = None,
) -> list[dict[str, Any]]:
    """Access requests and where their decisions stand; private values opened only for the
    readers allowed to read them (the board and auditors), sealed for other roles."""
    return _register(services, "access", model, response, reader=caller)


@router.get("/registers/policies", operation_id="records-policy-register", responses=BASIS)
def policy_register(
    services: ServicesDep, _: ReaderDep, response: Response
) -> list[dict[str, Any]]:
    """The access policy in force for each model, with its criteria scores."""
    return _register(services, "policies", None, response)


@router.get("/registers/essays", operation_id="records-essay-register", responses=BASIS)
def essay_register(
    services: ServicesDep,
    _: ReaderDep,
    response: Response,
    model: TextQuery = None,
) -> list[dict[str, Any]]:
    """Essays from draft to publication."""
    return _register(services, "essays", model, response)


@router.get("/registers/preferences", operation_id="records-preference-register", responses=BASIS)
def preference_register(
    services: ServicesDep,
    _: ReaderDep,
    response: Response,
    model: TextQuery = None,
) -> list[dict[str, Any]]:
    """Preferences, their stability under the configured policy, and their decisions."""
    return _register(services, "preferences", model, response)


@router.get("/registers/signals", operation_id="records-signal-register", responses=BASIS)
def signal_register(
    services: ServicesDep,
    _: ReaderDep,
    response: Response,
    model: TextQuery = None,
) -> list[dict[str, Any]]:
    """Monitoring values per model, kind and period, with their corrections."""
    return _register(services, "signals", model, response)


class FairnessQuery(BaseModel):
    """The fairness report's moment, size and thresholds, as a query string gives them."""

    as_of: str | None = Field(
        None,
        max_length=64,
        description="A day (its end, UTC) or an ISO 8601 moment with a time zone (default: now)",
    )
    # Bounds are the report's own (`projections.queries.fairness_policy`): checked there once,
    # for every door, and refused as an invalid query naming the threshold.
    size: int | None = Field(None, description="Read only the log's first SIZE events")
    criteria_distance: float = Field(
        DEFAULT_CRITERIA_DISTANCE, description="How close criteria count as alike (0 to 10)"
    )
    significance: float | None = Field(None, description="Fisher's level (0.05)")
    min_group_share: float | None = Field(
        None, description="Groups with a smaller share fold into other (0.02)"
    )
    impact_range: bool = Field(False, description="Also check ratios in 0.8-1.25 (Aequitas)")

    def thresholds(self) -> dict[str, Any]:
        """The thresholds given, for `Queries.fairness`."""
        given = {
            "criteria_distance": self.criteria_distance,
            "significance": self.significance,
            "min_group_share": self.min_group_share,
            "impact_range": self.impact_range or None,
        }
        return {name: value for name, value in given.items() if value is not None}


FairnessParams = Annotated[FairnessQuery, Query()]


def _report(services: Any, params: FairnessQuery) -> Any:
    at = parse_as_of(params.as_of, "as_of") if params.as_of is not None else None
    return services.queries.fairness(thresholds=params.thresholds(), as_of=at, size=params.size)


@router.get("/reports/fairness", operation_id="reports-fairness", tags=["reports"], responses=BASIS)
def fairness_json(
    services: ServicesDep,
    _: ReaderDep,
    response: Response,
    params: FairnessParams,
) -> dict[str, Any]:
    """The fairness report (docs/fairness.md), computed from the log's events: the tree it
    read (size, root) is in ``position``; the latest checkpoint, in the ``Reliquary-Basis``
    header. The same bytes as ``reliquary report fairness --bundle`` recomputes offline."""
    from projections.fairness import report_json

    report = _report(services, params)
    _basis(services, response, report)
    result: dict[str, Any] = report_json(report)
    return result


@router.get(
    "/reports/fairness.md",
    operation_id="reports-fairness-markdown",
    tags=["reports"],
    response_class=PlainTextResponse,
    responses={200: {**BASIS[200], "content": {"text/markdown": {}}, "description": "The report"}},
)
def fairness_markdown(
    services: ServicesDep,
    _: ReaderDep,
    params: FairnessParams,
) -> PlainTextResponse:
    """The fairness report as Markdown (charts are left out: see the CLI's --markdown)."""
    from projections.fairness import report_markdown

    report = _report(services, params)
    basis = services.queries.basis(report)
    return PlainTextResponse(
        report_markdown(report, {}, basis),
        media_type="text/markdown; charset=utf-8",
        headers={BASIS_HEADER: basis.header()},
    )
