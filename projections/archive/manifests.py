"""Recorded manifests read back by digest: whole for an archive check, or a page at a time.

A ``WeightsPreserved`` event names its manifest by digest, with the file count and total size;
the files are stored beside the events (`domain.manifests`). Everything that needs the files
(archive checks, the manifest pages and answers, bundles) reads them here, by the digest, and
each read is checked: a whole manifest must still hash to its digest and match the event's
count and size (`ManifestDamaged` otherwise); a page is served with the manifest's totals so a
reader can check the whole once it has every page.
"""

from __future__ import annotations

import re
from typing import Any

from domain.errors import InvalidQuery
from domain.manifests import (
    DEFAULT_MANIFEST_PAGE,
    MAX_MANIFEST_PAGE,
    Manifest,
    ManifestPage,
    check_totals,
)

DIGEST = re.compile(r"[0-9a-f]{64}")
"""A manifest digest's form: SHA-256, lower-case hex (docs/archive.md)."""

__all__ = ["DEFAULT_MANIFEST_PAGE", "MAX_MANIFEST_PAGE", "manifest_page", "recorded_manifest"]


def _checked_digest(digest: str) -> str:
    if not DIGEST.fullmatch(digest):
        raise InvalidQuery(
            f"a manifest digest is 64 lower-case hex digits (SHA-256); got {digest[:80]!r}"
        )
    return digest


def recorded_manifest(
    ledger: Any,
    digest: str,
    *,
    file_count: int | None = None,
    total_bytes: int | None = None,
) -> Manifest:
    """The whole manifest of this digest, checked against it and against the event's totals.

    ``ledger`` is the `domain.ledger.Ledger` whose store holds it; ``file_count`` and
    ``total_bytes``, when given, are what the event naming the digest records.
    """
    manifest: Manifest = ledger.recorder.read_manifest(_checked_digest(digest))
    if file_count is not None and total_bytes is not None:
        check_totals(manifest, file_count, total_bytes)
    return manifest


def manifest_page(
    ledger: Any, digest: str, offset: int = 0, limit: int = DEFAULT_MANIFEST_PAGE
) -> ManifestPage:
    """Files ``offset`` to ``offset + limit`` of a stored manifest (at most `MAX_MANIFEST_PAGE`).

    A digest not in the form of one, an offset below 0 or a limit outside 1 to
    `MAX_MANIFEST_PAGE` is `InvalidQuery`; a digest not stored, `ManifestNotFound`.
    """
    if not 1 <= limit <= MAX_MANIFEST_PAGE:
        raise InvalidQuery(f"limit must be from 1 to {MAX_MANIFEST_PAGE}; got {limit}")
    if offset < 0:
        raise InvalidQuery(f"offset must be 0 or more; got {offset}")
    page: ManifestPage = ledger.recorder.manifest_page(_checked_digest(digest), offset, limit)
    return page
