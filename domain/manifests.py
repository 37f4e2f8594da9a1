"""Weights manifests kept beside the events: each file list stored once, by its digest.

A ``WeightsPreserved`` event (class version 2) records a manifest's digest, its file count and
its total size, never the list itself: a list of many thousand files would not fit one entry
of the transparency log (65,535 bytes), and the log is what must hold every event. The list is
stored once, content-addressed by `domain.decisions.manifest_digest` (docs/archive.md), in two
tables beside the events:

- ``ledger_manifests``: one row per digest, with the file count and total size;
- ``ledger_manifest_files``: one row per file, at its position in the manifest's order (the
  UTF-8 bytes of the paths), so a large list is read a page at a time.

They are written by `ManifestRecords.store_manifests` in the transaction that saves the event
that names the digest (or restores it from a bundle), so an event never names a list the
store does not hold, and a list is never stored for an event that was not saved. Storing is
idempotent: a digest already held is not written again. A list that does not hash to its
digest, or lists a path twice, is refused, and the transaction with it: nothing half-written.
Both tables are append-only (their recorders add the triggers): a list, once named by the
log, never changes.

The digest covers each file's path and SHA-256, not its size (it is what ``sha256sum`` prints,
so anyone recomputes it with standard tools); a file's size is fixed by its content, which its
SHA-256 fixes, and the event records the sum of the sizes, which a reader checks too.

`ManifestRecords` is a mixin of the two event-store recorders, as `domain.sealed` is; its
statements are written once with ``{p}`` for the placeholder.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from domain.canonical import canonical_bytes
from domain.decisions import ManifestEntry, manifest_digest
from domain.errors import CommandRejected, ManifestDamaged, ManifestDigestMismatch, ManifestNotFound
from domain.requests import rows as _rows

MANIFESTS_TABLE = "ledger_manifests"
MANIFEST_FILES_TABLE = "ledger_manifest_files"

DEFAULT_MANIFEST_PAGE = 1_000
"""Files per page of a served manifest when the reader names no page size."""
MAX_MANIFEST_PAGE = 10_000
"""The most files one page of a served manifest holds (about 1.5 MB of JSON)."""

_INSERT_ROWS = 1_000
"""File rows per INSERT statement on SQLite (5,000 parameters, under its limit of 32,766)."""

_ARRAY_ROWS = 20_000
"""File rows per INSERT statement on PostgreSQL, sent as four arrays (`PostgresManifestRecords`)."""


@dataclass(frozen=True)
class Manifest:
    """A weights manifest: its digest and every file, in the manifest's order."""

    digest: str
    files: tuple[ManifestEntry, ...]
    """Sorted by the UTF-8 bytes of the paths (`manifest_of` sorts them)."""

    @property
    def file_count(self) -> int:
        """How many files it lists."""
        return len(self.files)

    @property
    def total_bytes(self) -> int:
        """The sum of the files' sizes."""
        return sum(entry.size for entry in self.files)

    def to_json(self) -> dict[str, Any]:
        """``{"manifest_digest", "file_count", "total_bytes", "files": [{"path", "size",
        "sha256"}, ...]}``: a bundle's manifest file and ``reliquary archive manifest --json``."""
        return {
            "manifest_digest": self.digest,
            "file_count": self.file_count,
            "total_bytes": self.total_bytes,
            "files": [entry_json(entry) for entry in self.files],
        }


@dataclass(frozen=True)
class ManifestPage:
    """Part of a stored manifest: ``files`` from position ``offset``, with its totals."""

    digest: str
    file_count: int
    total_bytes: int
    offset: int
    limit: int
    files: tuple[ManifestEntry, ...]

    @property
    def next_offset(self) -> int | None:
        """Where the next page starts, or None if this one reaches the end."""
        end = self.offset + len(self.files)
        return end if end < self.file_count and self.files else None


def entry_json(entry: ManifestEntry) -> dict[str, Any]:
    """One file as JSON: ``{"path", "size", "sha256"}``."""
    return {"path": entry.path, "size": entry.size, "sha256": entry.sha256}


def manifest_of(files: Iterable[ManifestEntry], digest: str | None = None) -> Manifest:
    """The manifest of these files, checked: each path once, and (if given) its digest.

    A path listed twice is `CommandRejected`; a digest the files do not hash to is
    `ManifestDigestMismatch`. Either refuses the save that would store it.
    """
    ordered = tuple(sorted(files, key=lambda entry: entry.path.encode("utf-8")))
    for before, after in zip(ordered, ordered[1:], strict=False):
        if before.path == after.path:
            raise CommandRejected(f"the manifest lists file {before.path!r} twice")
    computed = manifest_digest(ordered)
    if digest is not None and computed != digest:
        raise ManifestDigestMismatch(
            f"the manifest digest given, {digest}, is not the digest of the {len(ordered)} "
            f"files listed, which is {computed}",
            expected=computed,
            given=digest,
        )
    return Manifest(computed, ordered)


def oms_order(path: str) -> tuple[str, ...]:
    """A path's place in an OMS statement: model-signing sorts ``PurePosixPath``s, which
    compare component by component ("a/b" before "a.b", unlike the manifest's byte order)."""
    return tuple(path.split("/"))


def oms_root_digest(files: Iterable[ManifestEntry]) -> str:
    """The OMS root digest of these files: what an OpenSSF model-signing v1.0 statement
    (``model_signing`` 1.1.1, file serialization, SHA-256) names as its subject's sha256.

    It is the SHA-256 of the files' raw 32-byte SHA-256 digests, concatenated in `oms_order`.
    A preservation may record it beside the manifest digest (``WeightsPreserved`` class
    version 3), and the aggregate checks it is the root of the files listed; docs/archive.md
    defines both digests.
    """
    hasher = hashlib.sha256()
    for entry in sorted(files, key=lambda entry: oms_order(entry.path)):
        hasher.update(bytes.fromhex(entry.sha256))
    return hasher.hexdigest()


def manifest_from_json(document: Any) -> Manifest:
    """A manifest document (`Manifest.to_json`, or ``reliquary manifest --json``) read back.

    The files must hash to its ``manifest_digest``, and its ``file_count`` and
    ``total_bytes``, when it has them, must be the list's (`ManifestDamaged` otherwise).
    """
    try:
        digest = document["manifest_digest"]
        files = [
            ManifestEntry(path=item["path"], size=item["size"], sha256=item["sha256"])
            for item in document["files"]
        ]
        if not isinstance(digest, str) or not all(
            isinstance(e.path, str) and type(e.size) is int and isinstance(e.sha256, str)
            for e in files
        ):
            raise TypeError("a field has the wrong type")
    except (KeyError, TypeError) as error:
        raise ManifestDamaged(f"not a manifest document: {error}") from None
    try:
        manifest = manifest_of(files)
    except CommandRejected as error:
        raise ManifestDamaged(str(error), digest=digest) from None
    if manifest.digest != digest:
        raise ManifestDamaged(
            f"its files hash to {manifest.digest}, not to its manifest_digest {digest[:64]}",
            digest=digest,
        )
    for name, value in (("file_count", manifest.file_count), ("total_bytes", manifest.total_bytes)):
        if name in document and document[name] != value:
            raise ManifestDamaged(
                f"manifest {digest}: its {name} says {document[name]!r}, its files give {value}",
                digest=digest,
            )
    return manifest


def check_totals(manifest: Manifest | ManifestPage, file_count: int, total_bytes: int) -> None:
    """`ManifestDamaged` unless a stored manifest has the count and total an event records."""
    if (manifest.file_count, manifest.total_bytes) != (file_count, total_bytes):
        raise ManifestDamaged(
            f"manifest {manifest.digest} lists {manifest.file_count} files of "
            f"{manifest.total_bytes} bytes; its event records {file_count} files of "
            f"{total_bytes} bytes",
            digest=manifest.digest,
        )


def manifest_in_state(state: Mapping[str, Any]) -> Manifest | None:
    """The file list a class-version-1 ``WeightsPreserved`` carried in its stored state.

    Events recorded before class version 2 held the list themselves (each file as the
    transcoding ``{"_type_": "file", "_data_": [path, size, sha256]}``); restoring one stores
    its list beside it, so every reader finds every list by digest.
    """
    files = state.get("files")
    if not isinstance(files, list):
        return None
    entries = []
    for item in files:
        path, size, sha256 = item["_data_"] if isinstance(item, dict) else item
        entries.append(ManifestEntry(path=path, size=size, sha256=sha256))
    return manifest_of(entries, state.get("manifest_digest"))


def given_manifests(command: Any) -> list[Manifest]:
    """The file list a command gives (``preserve_weights``), to store beside its event."""
    from domain.commands import PreserveWeights

    if not isinstance(command, PreserveWeights):
        return []
    files = tuple(
        ManifestEntry(path=item.path, size=item.size, sha256=item.sha256)
        for item in command.manifest.files
    )
    return [Manifest(command.manifest.manifest_digest, files)]


def manifests_named(events: Iterable[Any], manifests: Sequence[Manifest]) -> list[Manifest]:
    """The manifests that some of these events name (``WeightsPreserved.manifest_digest``)."""
    from domain.lifecycle import ModelLifecycle

    if not manifests:
        return []
    named = {
        event.manifest_digest
        for event in events
        if isinstance(event, ModelLifecycle.WeightsPreserved)
    }
    return [manifest for manifest in manifests if manifest.digest in named]


class RestoredManifests:
    """The file lists a restore replays ``WeightsPreserved`` events with, and then stores.

    A bundle gives them by digest; an event of class version 1 carries its own list in its
    stored state. Every list used is kept in ``named``, once, for the store.
    """

    def __init__(self, given: Mapping[str, Manifest]) -> None:
        """Hold the bundle's lists by digest."""
        self.given = given
        self._used: dict[str, Manifest] = {}

    @property
    def named(self) -> list[Manifest]:
        """Every list a restored event named, in the order first named."""
        return list(self._used.values())

    def files_for(self, stored: Any, event: Any) -> tuple[ManifestEntry, ...]:
        """The files of the manifest a ``WeightsPreserved`` names (`ManifestNotFound` if the
        bundle lacks it)."""
        digest = event.manifest_digest
        manifest = self._used.get(digest)
        if manifest is None:
            state = json.loads(stored.state)
            try:
                manifest = manifest_in_state(state) if "files" in state else self.given.get(digest)
            except (KeyError, TypeError, ValueError) as error:
                raise ManifestDamaged(f"the event's own file list is malformed: {error}") from None
        if manifest is None:
            raise ManifestNotFound(
                f"the manifest {digest} this event names is not in the bundle", digest=digest
            )
        self._used[digest] = manifest
        return manifest.files


def manifests_table_statement(qualified: str) -> str:
    """One row per stored manifest: its digest, file count and total size."""
    return (
        f"CREATE TABLE IF NOT EXISTS {qualified} (digest TEXT PRIMARY KEY, "
        "file_count BIGINT NOT NULL, total_bytes BIGINT NOT NULL)"
    )


def manifest_files_table_statement(qualified: str) -> str:
    """One row per file of a stored manifest, at its position in the manifest's order."""
    return (
        f"CREATE TABLE IF NOT EXISTS {qualified} (digest TEXT NOT NULL, "
        "position INTEGER NOT NULL, path TEXT NOT NULL, size BIGINT NOT NULL, "
        "sha256 TEXT NOT NULL, PRIMARY KEY (digest, position))"
    )


class ManifestRecords:
    """Store and read weights manifests by digest, in the event store's database."""

    param: str
    manifests_table: str
    manifest_files_table: str
    datastore: Any

    def store_manifests(self, cursor: Any, manifests: Sequence[Manifest]) -> None:
        """Store each manifest not yet held, in the transaction of the save that names it.

        Each list is checked against its digest first (`manifest_of`), so a list that does not
        hash to its digest fails the whole save. A digest already held is left as it is; one
        held with another file count or total size is refused (`ManifestDigestMismatch`):
        the same paths and hashes cannot have other sizes.
        """
        p = self.param
        for given in manifests:
            manifest = manifest_of(given.files, given.digest)
            cursor.execute(
                f"SELECT file_count, total_bytes FROM {self.manifests_table} WHERE digest = {p}",
                (manifest.digest,),
            )
            held = _rows(cursor)
            if held:
                if tuple(held[0]) != (manifest.file_count, manifest.total_bytes):
                    raise ManifestDigestMismatch(
                        f"manifest {manifest.digest} is held with {held[0][0]} files of "
                        f"{held[0][1]} bytes; this one lists {manifest.file_count} files of "
                        f"{manifest.total_bytes} bytes",
                        expected=manifest.digest,
                        given=manifest.digest,
                    )
                continue
            # ON CONFLICT: a concurrent save of the same manifest waits for the first, then
            # writes nothing (the rows are the same, the digest says so).
            cursor.execute(
                f"INSERT INTO {self.manifests_table} (digest, file_count, total_bytes) "
                f"VALUES ({p}, {p}, {p}) ON CONFLICT (digest) DO NOTHING",
                (manifest.digest, manifest.file_count, manifest.total_bytes),
            )
            self._insert_files(cursor, manifest)

    def _insert_files(self, cursor: Any, manifest: Manifest) -> None:
        """Insert a manifest's file rows: many rows per statement (see the dialects below)."""
        p = self.param
        row = f"({p}, {p}, {p}, {p}, {p})"
        for start in range(0, manifest.file_count, _INSERT_ROWS):
            chunk = manifest.files[start : start + _INSERT_ROWS]
            cursor.execute(
                f"INSERT INTO {self.manifest_files_table} (digest, position, path, size, sha256) "
                f"VALUES {', '.join([row] * len(chunk))} "
                "ON CONFLICT (digest, position) DO NOTHING",
                [
                    value
                    for offset, e in enumerate(chunk)
                    for value in (manifest.digest, start + offset, e.path, e.size, e.sha256)
                ],
            )

    def manifest_page(
        self, digest: str, offset: int = 0, limit: int = DEFAULT_MANIFEST_PAGE
    ) -> ManifestPage:
        """The files of a stored manifest from position ``offset``, at most ``limit`` of them.

        `ManifestNotFound` if no manifest of that digest is stored.
        """
        p = self.param
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT file_count, total_bytes FROM {self.manifests_table} WHERE digest = {p}",
                (digest,),
            )
            held = _rows(cursor)
            if not held:
                raise ManifestNotFound(
                    f"no manifest with digest {digest[:64]} is stored", digest=digest[:64]
                )
            cursor.execute(
                f"SELECT path, size, sha256 FROM {self.manifest_files_table} "
                f"WHERE digest = {p} AND position >= {p} ORDER BY position LIMIT {p}",
                (digest, offset, limit),
            )
            files = tuple(
                ManifestEntry(path, int(size), sha256) for path, size, sha256 in _rows(cursor)
            )
        return ManifestPage(digest, int(held[0][0]), int(held[0][1]), offset, limit, files)

    def read_manifest(self, digest: str) -> Manifest:
        """A stored manifest, whole, checked to still hash to its digest (`ManifestDamaged`)."""
        page = self.manifest_page(digest, 0, MAX_MANIFEST_PAGE)
        files = list(page.files)
        while page.next_offset is not None:
            page = self.manifest_page(digest, page.next_offset, MAX_MANIFEST_PAGE)
            files += page.files
        manifest = Manifest(digest, tuple(files))
        if manifest_digest(manifest.files) != digest:
            raise ManifestDamaged(
                f"the stored manifest {digest} no longer hashes to its digest", digest=digest
            )
        check_totals(manifest, page.file_count, page.total_bytes)
        return manifest


class PostgresManifestRecords(ManifestRecords):
    """`ManifestRecords` for PostgreSQL: each statement takes its rows as four arrays.

    psycopg parses a statement's text for its placeholders on every call; one of 5,000
    placeholders per 1,000 rows cost 13 s of client time for 200,000 files, and one row per
    statement (``executemany``, pipelined) 9 s. ``unnest`` over arrays keeps the statement short.
    """

    def _insert_files(self, cursor: Any, manifest: Manifest) -> None:
        """Insert a manifest's file rows, `_ARRAY_ROWS` per statement."""
        for start in range(0, manifest.file_count, _ARRAY_ROWS):
            chunk = manifest.files[start : start + _ARRAY_ROWS]
            cursor.execute(
                f"INSERT INTO {self.manifest_files_table} (digest, position, path, size, sha256) "
                "SELECT %s, * FROM unnest(%s::integer[], %s::text[], %s::bigint[], %s::text[]) "
                "ON CONFLICT (digest, position) DO NOTHING",
                (
                    manifest.digest,
                    list(range(start, start + len(chunk))),
                    [e.path for e in chunk],
                    [e.size for e in chunk],
                    [e.sha256 for e in chunk],
                ),
            )


def manifest_json_bytes(manifest: Manifest) -> bytes:
    """A manifest document in RFC 8785 canonical JSON (a bundle's manifest file)."""
    return canonical_bytes(manifest.to_json())


def loads_manifest(data: bytes) -> Manifest:
    """A manifest document's bytes read back and checked (`manifest_from_json`)."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise ManifestDamaged(f"not JSON: {str(error)[:80]}") from None
    if not isinstance(document, dict):
        raise ManifestDamaged("not a JSON object")
    return manifest_from_json(document)
