"""Reliquary as a witness over HTTP: ``POST /witness/add-checkpoint`` (c2sp.org/tlog-witness).

Mounted only when the service is configured as a witness (``RELIQUARY_WITNESS_CONFIG`` and
``RELIQUARY_WITNESS_KEY``). The route reads the body (bounded by the request guard, then by the
witness's own limit), makes one call, and sends the witness's answer as it is: the spec fixes
every status, body and ``Content-Type``, so answers here are not RFC 9457 problems.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.http.deps import ServicesDep
from api.settings import Settings

router = APIRouter(prefix="/witness", tags=["witness"])

_ANSWERS: dict[int | str, dict[str, object]] = {
    200: {"description": "the cosignature line(s)", "content": {"text/plain": {}}},
    400: {"description": "malformed body, or old size above the checkpoint's"},
    403: {"description": "no signature by a key of this log verifies"},
    404: {"description": "the checkpoint's origin is not a log this witness follows"},
    409: {
        "description": "old size is not the witness's; the body is its size",
        "content": {"text/x.tlog.size": {}},
    },
    413: {"description": "the body exceeds the witness's limit"},
    422: {"description": "the consistency proof does not verify"},
}


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the witness's route, if this service is configured as a witness."""
    from api.settings import witness_configuration

    # Read both files now, so that a bad configuration stops `serve` at start, not a request.
    if witness_configuration(settings) is not None:
        app.include_router(router)


@router.post("/add-checkpoint", responses=_ANSWERS, response_class=Response)
async def add_checkpoint(request: Request, services: ServicesDep) -> Response:
    """Submit a checkpoint with a consistency proof; get a cosignature or the spec's refusal."""
    witness = services.witness
    if witness is None:  # mounted only when configured; kept for a settings object changed later
        return Response("this service is not a witness\n", 404, media_type="text/plain")
    body = await request.body()
    answer = await run_in_threadpool(witness.add_checkpoint, body)
    # The type as the spec writes it (a media_type here would gain "; charset=utf-8").
    return Response(answer.body, answer.status, headers={"Content-Type": answer.content_type})
