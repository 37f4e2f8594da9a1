"""``GET /health``: ready, lagging or broken, for the service, the views and the log.

The route only presents `Services.health` (the rule is `projections.health`): 200 for ready
and lagging (the service answers; lagging answers say how far behind they are), 503 for
broken. No token: the answer holds counts, positions and view names, nothing private
(docs/api.md).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.http.deps import ServicesDep

router = APIRouter(tags=["service"])

Status = Literal["ready", "lagging", "broken"]


class ServiceHealth(BaseModel):
    """The events' database."""

    status: Status
    problems: list[str]
    head: int | None = Field(None, description="the last notification id in the events")


class ViewHealth(BaseModel):
    """One view against the log."""

    status: Status
    position: int = Field(description="the last notification id the view took")
    head: int
    behind: int = Field(description="events not taken (counted up to the threshold plus one)")
    lag_seconds: float = Field(description="age of the oldest event not taken; 0 caught up")
    waiting_since: str | None = Field(description="when that event was recorded")


class ViewsHealth(BaseModel):
    """The views' database and each view."""

    status: Status
    problems: list[str]
    max_lag_events: int
    max_lag_seconds: float
    views: dict[str, ViewHealth] | None = None
    missing_tables: list[str] | None = None


class LogHealth(BaseModel):
    """The transparency log's tree against the ledger."""

    status: Status
    problems: list[str]
    max_lag_events: int
    size: int | None = Field(None, description="leaves in the tree")
    position: int | None = Field(None, description="the last notification id it took")
    signed_size: int | None = Field(None, description="the latest signed checkpoint's size")
    behind: int | None = Field(
        None, description="events not in the tree (counted up to the threshold plus one)"
    )


class HealthAnswer(BaseModel):
    """The whole: the worst of its parts."""

    status: Status
    checked_at: str
    service: ServiceHealth
    views: ViewsHealth
    log: LogHealth


@router.get(
    "/health",
    operation_id="service-health",
    summary="Ready, lagging or broken: the service, the views and the log",
    response_model=HealthAnswer,
    responses={503: {"model": HealthAnswer, "description": "broken: see each part's problems"}},
)
def health(services: ServicesDep) -> JSONResponse:
    """Whether the service answers and how current its answers are (no token needed)."""
    found = services.health()
    return JSONResponse(
        found.as_json(),
        status_code=200 if found.serving else 503,
        headers={"Cache-Control": "no-store"},
    )
