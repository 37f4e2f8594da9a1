"""The transparency log over HTTP: key, checkpoints, proofs and leaves (public), bundles.

Every route here only reads: none signs a checkpoint or takes events into the log (the
service's log follower does, `projections.translog.follower`). Answers that can never change
carry a strong ``ETag`` and ``Cache-Control: public, max-age=31536000, immutable``: a leaf, a
full tile or entry bundle, and a proof at sizes given explicitly (signed sizes). Answers about
the latest checkpoint, and partial tiles, carry a short ``max-age``. Every answer with an
``ETag`` honours ``If-None-Match`` with a ``304`` and no body.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response

from api.http.deps import ReaderDep, ServicesDep
from projections.translog.service import DEFAULT_CHECKPOINT_PAGE, MAX_CHECKPOINT_PAGE

router = APIRouter(prefix="/log", tags=["public"])

IMMUTABLE = "public, max-age=31536000, immutable"
LATEST = "max-age=5"  # answers about the latest checkpoint: a new one is signed every few s
PARTIAL = "public, max-age=60"  # a partial tile: a wider one (or the full tile) replaces it


def etag_of(data: bytes) -> str:
    """A strong entity tag of some bytes: their SHA-256, hex, quoted."""
    return '"' + hashlib.sha256(data).hexdigest() + '"'


def _matches(request: Request, etag: str) -> bool:
    """Whether ``If-None-Match`` names this tag (weak comparison, RFC 9110 13.1.2)."""
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    tags = [tag.strip() for tag in header.split(",")]
    return "*" in tags or any(tag.removeprefix("W/") == etag for tag in tags)


def cached_answer(
    request: Request,
    data: bytes,
    media_type: str,
    cache_control: str,
    etag: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The bytes with their ``ETag`` and ``Cache-Control``, or a ``304`` if the client has them."""
    tag = etag or etag_of(data)
    sent = {"ETag": tag, "Cache-Control": cache_control, **(headers or {})}
    if _matches(request, tag):
        return Response(status_code=304, headers=sent)
    return Response(data, media_type=media_type, headers=sent)


def json_bytes(document: Any) -> bytes:
    """JSON as FastAPI writes it (compact, UTF-8)."""
    return json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


@router.get("/key", operation_id="public-key", response_class=PlainTextResponse)
def key(services: ServicesDep) -> PlainTextResponse:
    """The ledger's verifier key (the public half of its signing key)."""
    return PlainTextResponse(services.log.verifier_key() + "\n")


@router.get("/checkpoint", operation_id="public-checkpoint", response_class=PlainTextResponse)
def checkpoint(services: ServicesDep, request: Request) -> Response:
    """The latest signed checkpoint (C2SP tlog-checkpoint signed note)."""
    note = services.log.checkpoint_for_proof().note.encode()
    return cached_answer(request, note, "text/plain; charset=utf-8", LATEST)


@router.get(
    "/witnesses",
    operation_id="public-witnesses",
    response_model=dict[str, Any],
    responses={404: {"description": "the log publishes under no witness policy"}},
)
def witnesses(services: ServicesDep, request: Request) -> Response:
    """The witness policy the log publishes under: its witnesses, their keys, the quorum, and
    the mode (``advisory`` or ``required``). What the operator says; a reviewer pins their own."""
    from domain.errors import NoWitnessPolicy

    log = services.log
    policy = log.witness_policy()
    if policy is None or log.witnessing is None:
        raise NoWitnessPolicy("this log publishes under no witness policy")
    body = json_bytes(
        {
            "mode": "required" if log.witnessing.required else "advisory",
            "quorum": policy.quorum,
            "witnesses": [
                {"name": w.name, "url": w.url, "verifier_key": w.verifier_key}
                for w in policy.witnesses
            ],
        }
    )
    return cached_answer(request, body, "application/json", LATEST)


@router.get(
    "/checkpoints",
    operation_id="public-checkpoints",
    response_model=list[dict[str, Any]],
    responses={200: {"headers": {"Link": {"description": 'The next page, rel="next"'}}}},
)
def checkpoints(
    services: ServicesDep,
    request: Request,
    after: Annotated[int, Query(ge=0, le=2**62, description="The cursor of the next page")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_CHECKPOINT_PAGE)] = DEFAULT_CHECKPOINT_PAGE,
) -> Response:
    """Checkpoints in the order signed, a page at a time; the next page is in ``Link``."""
    page, next_after = services.log.checkpoint_page(after, limit)
    body = json_bytes(
        [
            {"size": c.size, "root": c.root_hash.hex(), "signed_at": c.signed_at, "note": c.note}
            for c in page
        ]
    )
    headers = {}
    if next_after is not None:
        target = request.url.include_query_params(after=next_after, limit=limit)
        headers["Link"] = f'<{target.path}?{target.query}>; rel="next"'
    return cached_answer(request, body, "application/json", LATEST, headers=headers)


@router.get(
    "/proof/inclusion", operation_id="public-inclusion-proof", response_model=dict[str, Any]
)
def inclusion(
    services: ServicesDep,
    request: Request,
    sequence: Annotated[int, Query(ge=0)],
    size: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """Proof that the event at ``sequence`` is in the tree of ``size`` (default: latest), and
    which witnesses of the log's policy vouch for its checkpoint (``witnesses``, null without
    a policy)."""
    body = json_bytes(services.log.inclusion_document(sequence, size))
    # At a size asked for, the proof is against a signed checkpoint of that size: fixed.
    return cached_answer(
        request, body, "application/json", IMMUTABLE if size is not None else LATEST
    )


@router.get(
    "/proof/consistency", operation_id="public-consistency-proof", response_model=dict[str, Any]
)
def consistency(
    services: ServicesDep,
    request: Request,
    old: Annotated[int, Query(ge=1)],
    new: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """Proof that the tree of ``old`` events is a prefix of the tree of ``new`` (default: latest
    checkpoint)."""
    proof = services.log.consistency_proof(old, new)
    body = json_bytes(
        {
            "old_size": proof.old_size,
            "new_size": proof.new_size,
            "old_root": proof.old_root.hex(),
            "new_root": proof.new_root.hex(),
            "path": [step.hex() for step in proof.path],
        }
    )
    fixed = new is not None and services.log.is_signed_size(new)
    return cached_answer(request, body, "application/json", IMMUTABLE if fixed else LATEST)


@router.get(
    "/leaves/{sequence}",
    operation_id="public-leaf",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "The leaf bytes"}},
)
def leaf(services: ServicesDep, request: Request, sequence: int) -> Response:
    """The leaf bytes (RFC 8785 record) of one event, as hashed into the tree."""
    blob = services.log.leaf_blob(sequence)
    return cached_answer(request, blob.data, "application/json", IMMUTABLE, blob.etag)


@router.get(
    "/export",
    operation_id="records-export",
    tags=["records"],
    responses={200: {"content": {"application/gzip": {}}}},
)
def export(services: ServicesDep, _: ReaderDep) -> Response:
    """An offline audit bundle (events.jsonl, checkpoint, verifier-key, README) as .tar.gz, of
    the latest signed checkpoint."""
    return Response(
        services.log.export_archive(),
        media_type="application/gzip",
        headers={"Content-Disposition": 'attachment; filename="reliquary-bundle.tar.gz"'},
    )


tiles_router = APIRouter(prefix="/tlog", tags=["public"])


@tiles_router.get(
    "/checkpoint", operation_id="public-tlog-checkpoint", response_class=PlainTextResponse
)
def tlog_checkpoint(services: ServicesDep, request: Request) -> Response:
    """The latest checkpoint, for C2SP tlog-tiles clients (short-lived)."""
    note = services.log.checkpoint_for_proof().note.encode()
    return cached_answer(request, note, "text/plain; charset=utf-8", LATEST)


@tiles_router.get(
    "/tile/{path:path}",
    operation_id="public-tlog-tile",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "Tile bytes"}},
)
def tlog_tile(services: ServicesDep, request: Request, path: str) -> Response:
    """A hash tile or entry bundle (C2SP tlog-tiles) of the tree of the latest checkpoint."""
    from projections.translog.tiles import parse_tile_path

    # A tile that does not exist yet is a 404 (and not cached): it exists once the tree grows.
    blob = services.log.tile_blob("tile/" + path)
    policy = PARTIAL if parse_tile_path("tile/" + path).partial else IMMUTABLE
    return cached_answer(request, blob.data, "application/octet-stream", policy, blob.etag)
