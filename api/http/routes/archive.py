"""Weights manifests served beside the log, by digest: public, paged, immutable.

A ``WeightsPreserved`` leaf names its manifest by digest, file count and total size; the files
are served here. A manifest's digest fixes its content, so every page is immutable: strong
``ETag``, ``Cache-Control: public, max-age=31536000, immutable``. File paths, sizes and hashes of
preserved weights are public (docs/disclosure.md), so no token is needed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from api.http.deps import ServicesDep
from api.http.routes.transparency import IMMUTABLE, cached_answer, json_bytes
from domain.commands import MAX_MANIFEST_FILES
from domain.manifests import DEFAULT_MANIFEST_PAGE, MAX_MANIFEST_PAGE, entry_json

router = APIRouter(prefix="/archive", tags=["public"])


@router.get(
    "/manifests/{digest}",
    operation_id="public-manifest",
    response_model=dict[str, Any],
    responses={200: {"headers": {"Link": {"description": 'The next page, rel="next"'}}}},
)
def manifest(
    services: ServicesDep,
    request: Request,
    digest: Annotated[
        str, Path(pattern="^[0-9a-f]{64}$", description="The manifest digest (SHA-256, hex)")
    ],
    offset: Annotated[
        int, Query(ge=0, le=MAX_MANIFEST_FILES, description="The first file's position")
    ] = 0,
    limit: Annotated[
        int, Query(ge=1, le=MAX_MANIFEST_PAGE, description="Files in this page")
    ] = DEFAULT_MANIFEST_PAGE,
) -> Response:
    """A recorded manifest's files, in the manifest's order, from ``offset``; the next page is
    in ``Link`` and ``next``. The whole list hashes to ``manifest_digest`` (docs/archive.md)."""
    page = services.queries.manifest_page(digest, offset, limit)
    following = page.next_offset
    next_url = None
    headers = {}
    if following is not None:
        target = request.url.include_query_params(offset=following, limit=limit)
        next_url = f"{target.path}?{target.query}"
        headers["Link"] = f'<{next_url}>; rel="next"'
    body = json_bytes(
        {
            "manifest_digest": page.digest,
            "file_count": page.file_count,
            "total_bytes": page.total_bytes,
            "offset": page.offset,
            "limit": page.limit,
            "files": [entry_json(entry) for entry in page.files],
            "next": next_url,
        }
    )
    return cached_answer(request, body, "application/json", IMMUTABLE, headers=headers)
