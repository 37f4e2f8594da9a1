"""Hash a directory into a manifest of file digests, with bounded memory and several workers.

The manifest and its digest are defined once, in `domain.decisions` (`ManifestEntry`,
`manifest_digest`) and in docs/archive.md: every regular file under the directory, by its
relative POSIX path, size and SHA-256, and one SHA-256 over the ``sha256sum`` lines of the
files sorted by the UTF-8 bytes of their paths. The files are found, and refused, by
`projections.archive.scan` before any byte is hashed; this module only reads them.

Hashing reads each file in 1 MiB blocks into buffers each worker reuses (``readv``), so memory
stays bounded whatever the file sizes, and hashes several files at once on threads: CPython's
``hashlib`` and ``os.readv`` release the GIL on large buffers, which measured about 2x on two
cores, as fast as processes would be without their start-up and copying. One file is hashed by
one worker, start to end (SHA-256 of a single stream cannot be split); when there are fewer
workers than CPUs, a reader thread per worker reads the next block while the last is hashed.
Figures: docs/performance.md (``bench/archive.py``).
"""

from __future__ import annotations

import hashlib
import mmap
import os
import queue
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.decisions import ManifestEntry, manifest_digest
from domain.errors import ArchiveError
from projections.archive.scan import _Job, _scan

DEFAULT_BLOCK_SIZE = 1 << 20
"""Bytes read per system call: 256 KiB measured 2-4% slower here, 4 MiB no faster."""


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
