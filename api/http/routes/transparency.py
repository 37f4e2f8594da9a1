"""The transparency log over HTTP: key, checkpoints, proofs and leaves (public), bundles."""

from __future__ import annotations

import io
import tarfile
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, Response

from api.http.deps import ReaderDep, ServicesDep

router = APIRouter(prefix="/log", tags=["public"])


@router.get("/key", operation_id="public-key", response_class=PlainTextResponse)
def key(services: ServicesDep) -> PlainTextResponse:
    """The ledger's verifier key (the public half of its signing key)."""
    return PlainTextResponse(services.log.verifier_key() + "\n")


@router.get("/checkpoint", operation_id="public-checkpoint", response_class=PlainTextResponse)
def checkpoint(services: ServicesDep) -> PlainTextResponse:
    """The latest signed checkpoint (C2SP tlog-checkpoint signed note)."""
    return PlainTextResponse(services.log.checkpoint_for_proof().note)


@router.get("/checkpoints", operation_id="public-checkpoints")
def checkpoints(services: ServicesDep) -> list[dict[str, Any]]:
    """Every checkpoint signed, in order."""
    return [
        {"size": c.size, "root": c.root_hash.hex(), "signed_at": c.signed_at, "note": c.note}
        for c in services.log.checkpoints()
    ]


@router.get("/proof/inclusion", operation_id="public-inclusion-proof")
def inclusion(
    services: ServicesDep,
    sequence: Annotated[int, Query(ge=0)],
    size: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """Proof that the event at ``sequence`` is in the tree of ``size`` (default: latest)."""
    proof, note = services.log.inclusion_proof(sequence, size)
    return {
        "sequence": proof.index,
        "leaf_index": proof.index,
        "tree_size": proof.size,
        "leaf_hash": proof.leaf_hash.hex(),
        "audit_path": [step.hex() for step in proof.path],
        "root": proof.root.hex(),
        "checkpoint": note.note,
    }


@router.get("/proof/consistency", operation_id="public-consistency-proof")
def consistency(
    services: ServicesDep,
    old: Annotated[int, Query(ge=1)],
    new: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """Proof that the tree of ``old`` events is a prefix of the tree of ``new`` (default: all)."""
    proof = services.log.consistency_proof(old, new)
    return {
        "old_size": proof.old_size,
        "new_size": proof.new_size,
        "old_root": proof.old_root.hex(),
        "new_root": proof.new_root.hex(),
        "path": [step.hex() for step in proof.path],
    }


@router.get(
    "/leaves/{sequence}",
    operation_id="public-leaf",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "The leaf bytes"}},
)
def leaf(services: ServicesDep, sequence: int) -> Response:
    """The leaf bytes (RFC 8785 record) of one event, as hashed into the tree."""
    return Response(services.log.leaf(sequence), media_type="application/json")


@router.get(
    "/export",
    operation_id="records-export",
    tags=["records"],
    responses={200: {"content": {"application/gzip": {}}}},
)
def export(services: ServicesDep, _: ReaderDep) -> Response:
    """An offline audit bundle (events.jsonl, checkpoint, verifier-key, README) as .tar.gz."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "bundle"
        services.log.export(directory)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            archive.add(directory, arcname="bundle")
    return Response(
        buffer.getvalue(),
        media_type="application/gzip",
        headers={"Content-Disposition": 'attachment; filename="reliquary-bundle.tar.gz"'},
    )


tiles_router = APIRouter(prefix="/tlog", tags=["public"])
_IMMUTABLE = "public, max-age=31536000, immutable"


@tiles_router.get(
    "/checkpoint", operation_id="public-tlog-checkpoint", response_class=PlainTextResponse
)
def tlog_checkpoint(services: ServicesDep) -> PlainTextResponse:
    """The latest checkpoint, for C2SP tlog-tiles clients (short-lived)."""
    note = services.log.checkpoint_for_proof().note
    return PlainTextResponse(note, headers={"Cache-Control": "max-age=5"})


@tiles_router.get(
    "/tile/{path:path}",
    operation_id="public-tlog-tile",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "Tile bytes"}},
)
def tlog_tile(services: ServicesDep, path: str) -> Response:
    """A hash tile or entry bundle (C2SP tlog-tiles) of the tree of the latest checkpoint."""
    # A tile that does not exist yet is a 404 (and not cached): it exists once the tree grows.
    data = services.log.tile("tile/" + path)
    return Response(
        data, media_type="application/octet-stream", headers={"Cache-Control": _IMMUTABLE}
    )
