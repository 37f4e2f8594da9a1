"""Turn a directory into a manifest of file digests, and compare two manifests file by file.

The manifest and its digest are defined once, in `domain.decisions` (`ManifestEntry`,
`manifest_digest`) and in docs/archive.md: every regular file under the directory, by its
relative POSIX path, size and SHA-256, and one SHA-256 over the ``sha256sum`` lines of the
files sorted by the UTF-8 bytes of their paths. This module only reads the files.

What it refuses, each with an `ArchiveError` that names the path and why: a root that is not a
directory, symbolic links anywhere inside the tree (never followed, wherever they point),
sockets, FIFOs and devices, files or directories it cannot read, names the command model would
refuse (not UTF-8, a backslash, a control character, leading or trailing whitespace), and a
tree with no regular file at all.

Hashing reads each file in 1 MiB blocks into buffers each worker reuses (``readv``), so memory
stays bounded whatever the file sizes, and hashes several files at once on threads: CPython's
``hashlib`` and ``os.readv`` release the GIL on large buffers, which measured about 2x on two
cores, as fast as processes would be without their start-up and copying. One file is hashed by
one worker, start to end (SHA-256 of a single stream cannot be split); when there are fewer
workers than CPUs, a reader thread per worker reads the next block while the last is hashed.
Figures: docs/performance.md (``bench/archive.py``).

The OpenSSF ``model-signing`` format (an in-toto statement listing per-file SHA-256 digests)
is read and written by `to_model_signing` and `from_model_signing`; docs/archive.md says how
the two relate.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import mmap
import os
import queue
import re
import stat
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from domain.decisions import ManifestEntry, manifest_digest
from domain.errors import ArchiveError

DEFAULT_BLOCK_SIZE = 1 << 20
"""Bytes read per system call: 256 KiB measured 2-4% slower here, 4 MiB no faster."""

STATUSES = ("ok", "modified", "missing", "unexpected")
"""The outcomes of `compare` for one file."""

# The limits and path rules of the command model (`domain.commands`: `Manifest`, `ManifestFile`,
# `RelativePath`), restated here so that hashing does not import pydantic (a tenth of a second
# of start-up, a seventh of the time to hash 1 GiB); tests/unit/test_archive.py checks that both
# accept and refuse exactly the same things.
MAX_FILES = 200_000
"""The most files a manifest may list (``Manifest.files``)."""
MAX_FILE_SIZE = 2**53 - 1
"""The largest size a manifest may record (``ManifestFile.size``): what RFC 8785 can write."""
MAX_PATH_LENGTH = 4_096
"""The longest relative path a manifest may record, in characters (``RelativePath``)."""

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class TreeManifest:
    """The files of a directory with their digests, and the manifest digest over them."""

    files: tuple[ManifestEntry, ...]
    """Every regular file, sorted by the UTF-8 bytes of its path."""
    digest: str
    """`domain.decisions.manifest_digest` of ``files``."""

    @classmethod
    def of(cls, entries: Iterable[ManifestEntry]) -> TreeManifest:
        """Sort the entries the manifest's way and compute their digest."""
        files = tuple(sorted(entries, key=lambda entry: entry.path.encode("utf-8")))
        return cls(files=files, digest=manifest_digest(files))

    @property
    def total_bytes(self) -> int:
        """The sum of the files' sizes."""
        return sum(entry.size for entry in self.files)

    @property
    def file_count(self) -> int:
        """How many files the manifest lists."""
        return len(self.files)

    def to_json(self) -> dict[str, Any]:
        """The manifest as ``preserve_weights`` takes it and ``reliquary manifest --json`` prints.

        ``{"manifest_digest": hex, "files": [{"path", "size", "sha256"}, ...]}``, files in order.
        """
        return {
            "manifest_digest": self.digest,
            "files": [
                {"path": entry.path, "size": entry.size, "sha256": entry.sha256}
                for entry in self.files
            ],
        }


class ScannedFile(NamedTuple):
    """A regular file found under the root: relative POSIX path, absolute path, size."""

    path: str
    file: Path
    size: int


@dataclass(frozen=True)
class _Job:
    """A file to hash, and the identity it had when it was scanned."""

    path: str
    file: Path
    size: int
    device: int
    inode: int


_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _kind(mode: int) -> str:
    """What a non-regular, non-directory file is, for the message."""
    for test, name in _SPECIAL_KINDS:
        if test(mode):
            return name
    return "not a regular file"  # pragma: no cover - e.g. a Solaris door


def path_refusal(relative: str) -> str | None:
    """Why a manifest cannot record this relative path, or None if it can.

    The same rules as the command model's ``RelativePath``: UTF-8, 1 to 4,096 characters, no
    control character, no leading or trailing whitespace, no backslash, not absolute, no empty,
    ``.`` or ``..`` segment.
    """
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8"
    if not relative:
        return "the path is empty"
    if len(relative) > MAX_PATH_LENGTH:
        return f"the path is longer than {MAX_PATH_LENGTH:,} characters"
    if _CONTROL.search(relative):
        return "its name contains a control character"
    if relative != relative.strip():
        return "the path has leading or trailing whitespace"
    if "\\" in relative:
        return "its name contains a backslash"
    if relative.startswith("/"):
        return "the path is absolute"
    if any(part in ("", ".", "..") for part in relative.split("/")):
        return "the path has an empty, '.' or '..' segment"
    return None


def _check_name(relative: str, shown: str) -> None:
    """Refuse a relative path that the command model would refuse."""
    reason = path_refusal(relative)
    if reason is not None:
        raise ArchiveError(shown, f"{reason}, which a manifest cannot record")


def _root_directory(root: Path) -> os.stat_result:
    """Stat the root, which must be a directory (a link to one is followed: it was named)."""
    try:
        status = root.stat()
    except FileNotFoundError:
        raise ArchiveError(str(root), "no such file or directory") from None
    except OSError as error:
        raise ArchiveError(str(root), error.strerror or str(error)) from None
    if not stat.S_ISDIR(status.st_mode):
        raise ArchiveError(str(root), "not a directory (give the directory that holds the files)")
    return status


def _scan(given: Path) -> list[_Job]:
    """Walk the tree without following links; every regular file, sorted by path bytes.

    Messages name each path under the root as given (made absolute, links in it kept), so
    that the person can find it; the manifest records it relative to the root.
    """
    root = Path(os.path.abspath(given))
    _root_directory(root)
    if not os.access(root, os.R_OK | os.X_OK):
        raise ArchiveError(str(root), "directory cannot be read (permission denied)")
    jobs: list[_Job] = []
    pending: list[tuple[str, str]] = [(str(root), "")]
    while pending:
        directory, prefix = pending.pop()
        try:
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=lambda entry: os.fsencode(entry.name))
        except PermissionError:
            raise ArchiveError(directory, "directory cannot be read (permission denied)") from None
        except OSError as error:
            raise ArchiveError(directory, f"directory cannot be read ({error.strerror})") from None
        for entry in entries:
            relative = prefix + entry.name
            shown = entry.path
            try:
                status = entry.stat(follow_symlinks=False)
            except OSError as error:
                raise ArchiveError(
                    shown, f"cannot be examined ({error.strerror}): is its directory readable?"
                ) from None
            mode = status.st_mode
            if stat.S_ISLNK(mode):
                raise ArchiveError(
                    shown,
                    "a symbolic link; links are never followed, wherever they point: "
                    "put the file itself in the tree, or remove the link",
                )
            _check_name(relative, shown)
            if stat.S_ISDIR(mode):
                if not os.access(shown, os.R_OK | os.X_OK):
                    raise ArchiveError(shown, "directory cannot be read (permission denied)")
                pending.append((shown, relative + "/"))
            elif stat.S_ISREG(mode):
                if not os.access(shown, os.R_OK):
                    raise ArchiveError(shown, "file cannot be read (permission denied)")
                if status.st_size > MAX_FILE_SIZE:
                    raise ArchiveError(
                        shown, f"larger than the {MAX_FILE_SIZE:,} bytes a manifest can record"
                    )
                jobs.append(
                    _Job(relative, Path(shown), status.st_size, status.st_dev, status.st_ino)
                )
                if len(jobs) > MAX_FILES:
                    raise ArchiveError(
                        str(root), f"more than {MAX_FILES:,} files, the most a manifest can list"
                    )
            else:
                raise ArchiveError(
                    shown, f"{_kind(mode)}; only regular files and directories can be archived"
                )
    if not jobs:
        raise ArchiveError(str(root), "the tree holds no regular file: nothing to hash")
    jobs.sort(key=lambda job: job.path.encode("utf-8"))
    return jobs


def scan_tree(root: Path) -> list[ScannedFile]:
    """Every regular file under ``root``: (relative POSIX path, absolute path, size), sorted.

    Refuses, with an `ArchiveError` naming the path: a root that is missing or not a directory;
    symbolic links inside the tree (never followed, wherever they point); FIFOs, sockets and
    devices; files and directories that cannot be read; names a manifest cannot record (not
    UTF-8, backslash, control character, outer whitespace); more files than a manifest can list;
    and a tree without a regular file. Empty directories are not part of a manifest.
    """
    return [ScannedFile(job.path, job.file, job.size) for job in _scan(Path(root))]


_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO swapped in after the scan must not block the open
    | getattr(os, "O_CLOEXEC", 0)
)
_READ_AHEAD_BUFFERS = 3
"""Buffers per worker when a reader thread fills them ahead of the hasher."""


def _buffer(size: int) -> mmap.mmap:
    """A page-aligned buffer: an anonymous mapping.

    Measured here: the kernel copies file pages into a page-aligned buffer about 8% faster
    than into a ``bytearray`` of 1 MiB, whose data starts 16 bytes into its page.
    """
    return mmap.mmap(-1, size)


def _read_blocks(
    job: _Job, free: queue.SimpleQueue[mmap.mmap | None], stop: threading.Event
) -> Iterator[tuple[mmap.mmap, int]]:
    """The blocks of one file, each read into a buffer taken from ``free``.

    The consumer puts each buffer back into ``free`` once it has hashed it, so memory is the
    buffers in circulation whatever the file's size. A ``None`` in ``free`` or ``stop`` ends
    the reading early; a file that is not the one scanned, or that changes size, is refused.
    """
    try:
        descriptor = os.open(job.file, _OPEN_FLAGS)
    except OSError as error:
        raise ArchiveError(str(job.file), f"cannot be opened ({error.strerror})") from None
    try:
        status = os.fstat(descriptor)
        # The scan reached this file without following a link; a file with another identity
        # now (a parent directory swapped for a link, a file replaced) is not the one scanned.
        if not stat.S_ISREG(status.st_mode) or (status.st_dev, status.st_ino) != (
            job.device,
            job.inode,
        ):
            raise ArchiveError(str(job.file), "was replaced while the tree was being hashed")
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        read = 0
        while True:
            buffer = free.get()
            if buffer is None or stop.is_set():
                return
            try:
                count = os.readv(descriptor, [buffer])
            except OSError as error:
                raise ArchiveError(str(job.file), f"cannot be read ({error.strerror})") from None
            if not count:
                free.put(buffer)
                break
            read += count
            yield buffer, count
    finally:
        os.close(descriptor)
    if read != job.size:
        raise ArchiveError(
            str(job.file),
            f"changed while being hashed ({job.size} bytes when scanned, {read} read)",
        )


def _next_job(todo: queue.SimpleQueue[_Job], stop: threading.Event) -> _Job | None:
    if stop.is_set():
        return None
    try:
        return todo.get_nowait()
    except queue.Empty:
        return None


class _Worker:
    """Hashes whole files from the shared queue, one at a time, through its own buffers.

    With ``read_ahead`` a second thread reads the next block while this one hashes the last
    (+15% on one large file when a core would otherwise idle; -7% when every core already
    hashes, so it is used only when there are fewer workers than CPUs).
    """

    def __init__(
        self,
        todo: queue.SimpleQueue[_Job],
        stop: threading.Event,
        block_size: int,
        read_ahead: bool,
    ) -> None:
        self.todo = todo
        self.stop = stop
        self.read_ahead = read_ahead
        self.free: queue.SimpleQueue[mmap.mmap | None] = queue.SimpleQueue()
        for _ in range(_READ_AHEAD_BUFFERS if read_ahead else 1):
            self.free.put(_buffer(block_size))
        self.hashed = 0
        """Bytes hashed so far; written by this worker only, read by the calling thread."""
        self.results: list[ManifestEntry] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        """Hash files until the queue is empty or ``stop`` is set; keep the first error."""
        try:
            if self.read_ahead:
                self._run_with_reader()
            else:
                while (job := _next_job(self.todo, self.stop)) is not None:
                    hasher = hashlib.sha256()
                    for buffer, count in _read_blocks(job, self.free, self.stop):
                        self._hash(hasher, buffer, count)
                    if self.stop.is_set():
                        return
                    self.results.append(_entry(job, hasher))
        except BaseException as error:  # handed to the calling thread by hash_tree
            self.error = error
            self.stop.set()

    def _hash(self, hasher: Any, buffer: mmap.mmap, count: int) -> None:
        with memoryview(buffer) as view:
            hasher.update(view[:count])
        self.hashed += count
        self.free.put(buffer)

    def _run_with_reader(self) -> None:
        # The reader sends, per file: the job, its blocks as (buffer, count), then None; an
        # exception if reading failed; and _DONE when it stops.
        full: queue.SimpleQueue[Any] = queue.SimpleQueue()

        def read() -> None:
            try:
                while (job := _next_job(self.todo, self.stop)) is not None:
                    full.put(job)
                    for block in _read_blocks(job, self.free, self.stop):
                        full.put(block)
                    if self.stop.is_set():
                        return
                    full.put(None)
            except BaseException as error:
                full.put(error)
            finally:
                full.put(_DONE)

        reader = threading.Thread(target=read, name=f"{threading.current_thread().name}-read")
        reader.start()
        try:
            job: _Job | None = None
            hasher = hashlib.sha256()
            while (item := full.get()) is not _DONE:
                if isinstance(item, _Job):
                    job, hasher = item, hashlib.sha256()
                elif isinstance(item, BaseException):
                    raise item
                elif item is None:
                    assert job is not None  # noqa: S101 - the reader sends a job first
                    self.results.append(_entry(job, hasher))
                else:
                    self._hash(hasher, *item)
        except BaseException:
            # Stop the reader (it may be waiting for a buffer this thread will never return).
            self.stop.set()
            self.free.put(None)
            raise
        finally:
            reader.join()


_DONE = object()


def _entry(job: _Job, hasher: Any) -> ManifestEntry:
    return ManifestEntry(path=job.path, size=job.size, sha256=hasher.hexdigest())


def default_workers() -> int:
    """How many files to hash at once by default: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def hash_tree(
    root: Path,
    *,
    workers: int | None = None,
    on_bytes: Callable[[int], None] | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> TreeManifest:
    """Hash every regular file under ``root`` into a `TreeManifest`.

    The tree is scanned first (`scan_tree`'s refusals apply before any byte is hashed). Then
    ``workers`` threads (default: the usable CPUs, at most one per file) hash whole files,
    largest first, each through its own buffers of ``block_size`` bytes (one, or three with a
    read-ahead thread when there are fewer workers than CPUs), so memory stays bounded
    whatever the file sizes. ``on_bytes`` is called on the calling thread, about ten times a
    second and once at the end, with the bytes hashed since its previous call. A file replaced
    or resized during hashing is refused.
    """
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
    jobs = _scan(Path(root))
    cpus = default_workers()
    count = min(workers or cpus, len(jobs))
    todo: queue.SimpleQueue[_Job] = queue.SimpleQueue()
    for job in sorted(jobs, key=lambda job: -job.size):  # largest first balances the workers
        todo.put(job)
    stop = threading.Event()
    pool = [_Worker(todo, stop, block_size, read_ahead=count < cpus) for _ in range(count)]
    threads = [
        threading.Thread(target=worker.run, name=f"archive-hash-{slot}", daemon=True)
        for slot, worker in enumerate(pool)
    ]
    reported = 0

    def report() -> None:
        nonlocal reported
        hashed = sum(worker.hashed for worker in pool)
        if on_bytes is not None and hashed > reported:
            on_bytes(hashed - reported)
            reported = hashed

    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.1)
                report()
        report()  # whatever was hashed after the last look, or all of it if it was quick
    finally:
        stop.set()  # also on KeyboardInterrupt: workers stop after their current block
        for thread in threads:
            thread.join()
    for worker in pool:
        if worker.error is not None:
            raise worker.error
    return TreeManifest.of(entry for worker in pool for entry in worker.results)


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


# --- OpenSSF model-signing (github.com/sigstore/model-transparency), format v1.0 ---------------
# model_signing/_signing/signing.py (v1.1.1): the signed DSSE payload is an in-toto Statement
# whose predicate lists one resource per file, {"name", "algorithm", "digest"}, in the order of
# the paths' components, and whose single subject's sha256 is the SHA-256 of the concatenated
# raw 32-byte file digests in that order. The serialization block records how to re-hash.

IN_TOTO_STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
MODEL_SIGNING_PREDICATE_TYPE = "https://model_signing/signature/v1.0"
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


@dataclass(frozen=True)
class ModelSigningManifest:
    """The per-file SHA-256 digests a model-signing statement lists (sizes are not in it)."""

    model_name: str
    digests: dict[str, str]
    """Relative POSIX path to lower-case hex SHA-256."""
    ignore_paths: tuple[str, ...]
    """Paths the signer left out (by default ``.git``, ``.gitattributes``, ``.github``,
    ``.gitignore`` and the signature file): files there are in a Reliquary manifest, not in it."""


def _model_signing_order(path: str) -> tuple[str, ...]:
    # model-signing sorts `PurePosixPath`s, which compare component by component: "a/b" comes
    # before "a.b" there, after it in the manifest digest's byte order.
    return tuple(path.split("/"))


def _model_signing_root(digests: Iterable[str]) -> str:
    hasher = hashlib.sha256()
    for digest in digests:
        hasher.update(bytes.fromhex(digest))
    return hasher.hexdigest()


def to_model_signing(files: Iterable[ManifestEntry], model_name: str) -> dict[str, Any]:
    """The unsigned model-signing v1.0 statement (the DSSE payload) for these files.

    It is what ``model_signing.hashing.hash(dir)`` with file serialization and SHA-256 would
    have a signer sign, subject digest included, except that the ``serialization`` block lists
    no ignored paths (a Reliquary manifest leaves no file out). Signing it is model-signing's
    job (a key, a certificate or Sigstore); this function does not sign.
    """
    ordered = sorted(files, key=lambda entry: _model_signing_order(entry.path))
    return {
        "_type": IN_TOTO_STATEMENT_TYPE,
        "subject": [
            {
                "name": model_name,
                "digest": {"sha256": _model_signing_root(entry.sha256 for entry in ordered)},
            }
        ],
        "predicateType": MODEL_SIGNING_PREDICATE_TYPE,
        "predicate": {
            "resources": [
                {"name": entry.path, "algorithm": "sha256", "digest": entry.sha256}
                for entry in ordered
            ],
            "serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": False},
        },
    }


def _statement_of(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The in-toto statement inside a Sigstore bundle (``model.sig``), or the statement itself."""
    envelope = document.get("dsseEnvelope")
    if envelope is None:
        return document
    if not isinstance(envelope, Mapping) or envelope.get("payloadType") != IN_TOTO_PAYLOAD_TYPE:
        raise ArchiveError(
            "model-signing bundle", f"the DSSE payload is not {IN_TOTO_PAYLOAD_TYPE}"
        )
    try:
        statement = json.loads(base64.b64decode(str(envelope.get("payload", "")), validate=True))
    except (binascii.Error, ValueError):
        raise ArchiveError("model-signing bundle", "the DSSE payload is not base64 JSON") from None
    if not isinstance(statement, Mapping):
        raise ArchiveError("model-signing bundle", "the DSSE payload is not a JSON object")
    return statement


def from_model_signing(document: Mapping[str, Any]) -> ModelSigningManifest:
    """Read the file digests of a model-signing v1.0 statement, or of a ``model.sig`` bundle.

    **This does not verify the signature**: run ``model_signing verify`` (or its API) for that.
    It checks the statement's own consistency: the in-toto and predicate types, file
    serialization with SHA-256, well-formed unique paths, and the subject digest recomputed
    from the resources. Anything else is an `ArchiveError`.
    """
    where = "model-signing statement"
    statement = _statement_of(document)
    if statement.get("_type") != IN_TOTO_STATEMENT_TYPE:
        raise ArchiveError(where, f"_type is {statement.get('_type')!r}, not an in-toto Statement")
    if statement.get("predicateType") != MODEL_SIGNING_PREDICATE_TYPE:
        raise ArchiveError(
            where,
            f"predicateType is {statement.get('predicateType')!r}; only "
            f"{MODEL_SIGNING_PREDICATE_TYPE} is read",
        )
    predicate = statement.get("predicate")
    subjects = statement.get("subject")
    if not isinstance(predicate, Mapping) or not isinstance(subjects, list) or len(subjects) != 1:
        raise ArchiveError(where, "expected one subject and a predicate object")
    serialization = predicate.get("serialization")
    if not isinstance(serialization, Mapping) or serialization.get("method") != "files":
        raise ArchiveError(
            where, "only file serialization can be compared (shards have no whole-file digest)"
        )
    if serialization.get("hash_type") != "sha256":
        raise ArchiveError(where, f"hash_type is {serialization.get('hash_type')!r}, not sha256")
    resources = predicate.get("resources")
    if not isinstance(resources, list):
        raise ArchiveError(where, "predicate.resources is not a list")
    digests: dict[str, str] = {}
    order: list[str] = []
    for resource in resources:
        if not isinstance(resource, Mapping):
            raise ArchiveError(where, "a resource is not an object")
        name, algorithm, digest = (resource.get(key) for key in ("name", "algorithm", "digest"))
        if not isinstance(name, str) or algorithm != "sha256":
            raise ArchiveError(where, f"resource {name!r} is not a sha256 file digest")
        if not isinstance(digest, str) or not _SHA256_HEX.match(digest):
            raise ArchiveError(where, f"resource {name!r} has a malformed digest")
        refusal = path_refusal(name)
        if refusal is not None:
            raise ArchiveError(
                where, f"resource {name!r}: {refusal}, which a manifest cannot record"
            )
        if name in digests:
            raise ArchiveError(where, f"resource {name!r} is listed twice")
        digests[name] = digest
        order.append(digest)
    subject = subjects[0]
    recorded = subject.get("digest", {}).get("sha256") if isinstance(subject, Mapping) else None
    computed = _model_signing_root(order)
    if recorded != computed:
        raise ArchiveError(
            where, f"subject digest is {recorded!r}, but the resources hash to {computed}"
        )
    ignored = serialization.get("ignore_paths", [])
    return ModelSigningManifest(
        model_name=str(subject.get("name", "")),
        digests=digests,
        ignore_paths=tuple(str(path) for path in ignored) if isinstance(ignored, list) else (),
    )
