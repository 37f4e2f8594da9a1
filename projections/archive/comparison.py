"""Compare a recorded manifest with an observed one, file by file.

Both sides are lists of `domain.decisions.ManifestEntry` (a manifest recorded in the ledger,
one just hashed by `projections.archive.hashing`); every file of either side gets one
`FileCheck`, so a copy that differs says which files differ and how.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.decisions import ManifestEntry

STATUSES = ("ok", "modified", "missing", "unexpected")
"""The outcomes of `compare` for one file."""


@dataclass(frozen=True)
class FileCheck:
    """How one file of a copy compares with the recorded manifest."""

    path: str
    status: str
    """``ok``, ``modified`` (digest or size differ), ``missing`` or ``unexpected``."""
    recorded_sha256: str | None
    observed_sha256: str | None
    recorded_size: int | None
    observed_size: int | None


def _by_path(entries: Sequence[ManifestEntry], side: str) -> dict[str, ManifestEntry]:
    indexed: dict[str, ManifestEntry] = {}
    for entry in entries:
        if entry.path in indexed:
            raise ValueError(f"the {side} manifest lists {entry.path!r} twice")
        indexed[entry.path] = entry
    return indexed


def compare(
    recorded: Sequence[ManifestEntry], observed: Sequence[ManifestEntry]
) -> list[FileCheck]:
    """Compare a recorded manifest with an observed one: every file of either side, once.

    Sorted by the UTF-8 bytes of the path. A file is ``ok`` when its SHA-256 and size both match,
    ``modified`` when either differs, ``missing`` when only recorded, ``unexpected`` when only
    observed. A path listed twice on one side is a `ValueError` (no manifest can hold it).
    """
    before = _by_path(recorded, "recorded")
    after = _by_path(observed, "observed")
    checks: list[FileCheck] = []
    for path in sorted(before.keys() | after.keys(), key=lambda path: path.encode("utf-8")):
        old, new = before.get(path), after.get(path)
        if old is None:
            status = "unexpected"
        elif new is None:
            status = "missing"
        elif old.sha256 == new.sha256 and old.size == new.size:
            status = "ok"
        else:
            status = "modified"
        checks.append(
            FileCheck(
                path=path,
                status=status,
                recorded_sha256=None if old is None else old.sha256,
                observed_sha256=None if new is None else new.sha256,
                recorded_size=None if old is None else old.size,
                observed_size=None if new is None else new.size,
            )
        )
    return checks
