"""The retirement checklist over HTTP: every model's, or one model's, as of a moment."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from api.http.deps import ReaderDep, ServicesDep
from api.http.routes.queries import BASIS, BASIS_HEADER
from domain.commands import parse_as_of
from projections.checklist import checklist_json

router = APIRouter(tags=["records"])

AsOfQuery = Annotated[
    str | None,
    Query(
        max_length=40,
        description="A day (its end, UTC), e.g. 2026-06-30, or an ISO 8601 moment with a zone",
    ),
]


@router.get(
    "/checklist",
    operation_id="records-checklist",
    summary="The retirement checklist of every model",
    responses=BASIS,
)
def every_checklist(
    services: ServicesDep, _: ReaderDep, response: Response, as_of: AsOfQuery = None
) -> list[dict[str, Any]]:
    """Each step of a careful retirement, per model: done, not yet, not applicable, anomaly.
    The ``Reliquary-Basis`` header names the log's events it was read from and the latest
    signed checkpoint."""
    at = parse_as_of(as_of, "as_of") if as_of is not None else None
    answer = [checklist_json(item) for item in services.queries.checklist(as_of=at)]
    response.headers[BASIS_HEADER] = services.queries.ledger_basis().header()
    return answer


@router.get(
    "/models/{model}/checklist",
    operation_id="records-model-checklist",
    summary="A model's retirement checklist",
    responses=BASIS,
)
def model_checklist(
    services: ServicesDep, _: ReaderDep, response: Response, model: str, as_of: AsOfQuery = None
) -> dict[str, Any]:
    """Each step of the model's retirement, with the event that settles it (the
    ``Reliquary-Basis`` header as for every model's)."""
    at = parse_as_of(as_of, "as_of") if as_of is not None else None
    answer = checklist_json(services.queries.checklist(model, as_of=at)[0])
    response.headers[BASIS_HEADER] = services.queries.ledger_basis().header()
    return answer
