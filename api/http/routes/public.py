"""The public register of models over HTTP: ``GET /public/models.json``, no token.

What became of every model (status, lifecycle dates, successor, the channels kept open and for
whom, preserved weights with where the log proves them), so that anyone can plan a migration as
from a provider's models API. The document is `projections.public_register.public_register`;
this route only reads the models and presents it, with a short ``Cache-Control`` (it changes
with every decision) and the ``Reliquary-Basis`` it was read on.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.http.deps import ServicesDep
from api.http.routes.queries import BASIS, BASIS_HEADER
from api.http.routes.transparency import LATEST, cached_answer, json_bytes
from projections.public_register import public_register

router = APIRouter(prefix="/public", tags=["public"])


@router.get(
    "/models.json",
    operation_id="public-models",
    summary="The public register of models",
    response_model=dict[str, Any],
    responses=BASIS,
)
def models(services: ServicesDep, request: Request) -> Response:
    """Every registered model's public facts, in order of registration (docs/api.md, "The
    public register of models"). No private value: only fields the disclosure policy leaves
    public. A weights ``sequence`` is null until the log has taken that event."""
    states = services.queries.public_models()
    # Read after the models, so the basis covers every event they reflect.
    basis = services.queries.ledger_basis()
    document = public_register(states, sequence_of=services.log.sequence_of, basis=basis.as_json())
    return cached_answer(
        request,
        json_bytes(document),
        "application/json",
        LATEST,
        headers={BASIS_HEADER: basis.header()},
    )
