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
from api.http.problems import Problem
from projections.translog.checkpoint import verifier_key
from projections.translog.recorders import StoredCheckpoint

router = APIRouter(prefix="/log", tags=["public"])


def latest_checkpoint(services: Any) -> StoredCheckpoint:
    """A checkpoint of the whole log: signed now if this service holds the key."""
    key = services.signing_key()
    if key is not None:
        return services.log.checkpoint(key)  # type: ignore[no-any-return]
    services.log.catch_up()
    kept = services.log.recorder.latest_checkpoint()
    if kept is None:
        raise Problem(503, "no-checkpoint", "No checkpoint", "the log has no signed checkpoint yet")
    return kept  # type: ignore[no-any-return]


@router.get("/key", operation_id="public-key", response_class=PlainTextResponse)
def key(services: ServicesDep) -> PlainTextResponse:
    """The ledger's verifier key (the public half of its signing key)."""
    signing_key = services.signing_key()
    if signing_key is None:
        raise Problem(503, "signing-key", "No key", "this service holds no signing key")
    return PlainTextResponse(verifier_key(signing_key) + "\n")


@router.get("/checkpoint", operation_id="public-checkpoint", response_class=PlainTextResponse)
def checkpoint(services: ServicesDep) -> PlainTextResponse:
    """The latest signed checkpoint (C2SP tlog-checkpoint signed note)."""
    return PlainTextResponse(latest_checkpoint(services).note)


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
    note = latest_checkpoint(services)
    if size is not None and size != note.size:
        kept = [c for c in services.log.checkpoints() if c.size == size]
        if not kept:
            raise Problem(404, "no-checkpoint", "Not found", f"no signed checkpoint of size {size}")
        note = kept[-1]
    proof = services.log.inclusion_proof(sequence, note.size)
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
    services.log.catch_up()
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
    services.log.catch_up()
    if not 0 <= sequence < services.log.size():
        raise Problem(404, "not-found", "Not found", f"no event at sequence {sequence}")
    from projections.translog.tiles import leaf_bytes

    return Response(leaf_bytes(services.log, sequence, 1)[0], media_type="application/json")


@router.get(
    "/export",
    operation_id="records-export",
    tags=["records"],
    responses={200: {"content": {"application/gzip": {}}}},
)
def export(services: ServicesDep, _: ReaderDep) -> Response:
    """An offline audit bundle (events.jsonl, checkpoint, verifier-key, README) as .tar.gz."""
    from projections.translog.bundle import export_bundle

    signing_key = services.signing_key()
    if signing_key is None:
        raise Problem(503, "signing-key", "No key", "this service holds no signing key")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "bundle"
        export_bundle(services.log, directory, signing_key, verifier_key(signing_key))
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
    note = latest_checkpoint(services).note
    return PlainTextResponse(note, headers={"Cache-Control": "max-age=5"})


@tiles_router.get(
    "/tile/{path:path}",
    operation_id="public-tlog-tile",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "Tile bytes"}},
)
def tlog_tile(services: ServicesDep, path: str) -> Response:
    """A hash tile or entry bundle (C2SP tlog-tiles) of the tree of the latest checkpoint."""
    from domain.errors import EntryTooLarge, TileNotFound
    from projections.translog.tiles import read_tile

    checkpoint_size = latest_checkpoint(services).size
    try:
        data = read_tile(services.log, checkpoint_size, "tile/" + path)
    except TileNotFound as missing:
        # Not cached: a tile that does not exist yet will exist once the tree grows.
        raise Problem(404, "not-found", "No such tile", str(missing)) from None
    except EntryTooLarge as large:
        raise Problem(
            503,
            "entry-too-large",
            "Entry too large for a bundle",
            f"{large}; export an audit bundle to read it",
        ) from None
    return Response(
        data, media_type="application/octet-stream", headers={"Cache-Control": _IMMUTABLE}
    )
