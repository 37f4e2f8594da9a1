"""The transparency log as a folder of static files: the C2SP tlog-tiles tree, for any web host.

`export_tiles` writes into a folder exactly what ``/tlog/`` serves for the latest signed
checkpoint: ``checkpoint``, every hash tile ``tile/<L>/<N>[.p/<W>]`` and every entry bundle
``tile/entries/<N>[.p/<W>]`` of that tree (the rightmost tile of each level partial, at the
checkpoint's width), byte for byte, since both call `tiles.read_tile`. Syncing the folder to
object storage or a CDN publishes the log without the ledger's database on the read path.

Run again, it extends the folder, in an order that keeps it valid for a reader at every
moment (and after a crash):

1. every tile of the new tree is written first. A full tile already present is immutable: it
   is checked, never rewritten (a hash tile against the stored nodes; an entry bundle by
   hashing its entries into the level-0 tile, without re-reading the events), and a full tile
   whose bytes differ stops the export (`TilesFolderDiffers`): the folder holds another log,
   or was damaged. Each new file is written to a temporary name, flushed to disk and renamed,
   so no reader ever sees half a tile;
2. then ``checkpoint`` is replaced the same way (temporary file, fsync, rename, fsync of the
   folder): a reader who sees the new checkpoint finds every tile it names;
3. last, the partial tiles whose full tile now exists are removed. c2sp.org/tlog-tiles: "logs
   MUST serve partial tiles corresponding to tree sizes for which a checkpoint was produced,
   but MAY delete them once the corresponding full tile is available", and a client that
   misses one reads the full tile. Partial tiles of older sizes that are still partial are
   kept: a reader holding that older checkpoint needs them (``/tlog/`` serves them too).

So an extended folder holds a fresh export's files, plus those older partial tiles. Files are
mode 0644 and folders 0755 (public); nothing is ever opened through a symbolic link, and a
target that is not a folder is refused (`TilesFolderRefused`), as is a folder whose checkpoint
is another origin's or of a larger tree (exporting would take the published log back). An
entry over 65,535 bytes (which the ledger no longer records, see `tiles.EntryTooLarge`) has no
bundle: ``/tlog/`` refuses it too, so its bundle is left out and named in the result.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from domain.errors import EntryTooLarge, Kind, LedgerError
from projections.translog import merkle
from projections.translog.tiles import (
    ENTRIES,
    TILE_HEIGHT,
    TILE_WIDTH,
    decode_entry_bundle,
    read_tile,
    tile_path,
)

if TYPE_CHECKING:
    from projections.translog.service import LogService
    from projections.translog.tree import TransparencyLog

__all__ = [
    "CHECKPOINT",
    "StaticTiles",
    "TilesFolderDiffers",
    "TilesFolderRefused",
    "export_tiles",
    "tile_count",
    "tile_paths",
]

CHECKPOINT = "checkpoint"
FILE_MODE = 0o644  # the log is public: anyone may read every file
FOLDER_MODE = 0o755
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_TEMPORARY = ".tmp-"  # prefix of files being written; a crashed run's are removed next time
_LARGEST_TILE = TILE_WIDTH * (2 + 0xFFFF)  # a full entry bundle of maximal entries


class TilesFolderRefused(LedgerError):
    """The target of `reliquary tiles export` is not a folder it may write into."""

    rule = "tiles-folder-refused"
    kind = Kind.INVALID


class TilesFolderDiffers(LedgerError):
    """A full tile already in the folder differs from the log's: another log, or damage."""

    rule = "tiles-folder-differs"
    kind = Kind.DAMAGED


@dataclass
class StaticTiles:
    """What one export did: the tree exported, and the files written, kept and removed."""

    directory: Path
    size: int
    root: bytes
    written: list[str] = field(default_factory=list)  # paths relative to the folder
    kept: list[str] = field(default_factory=list)  # tiles already there, checked
    removed: list[str] = field(default_factory=list)  # partial tiles whose full tile exists
    unbundled: list[str] = field(default_factory=list)  # bundles with an entry over 65,535 B


def tile_paths(size: int) -> Iterator[str]:
    """Every tile path of the tree of ``size`` leaves, level by level, entry bundles last.

    Level ``L`` has ``size >> (8 * L)`` hashes: that many // 256 full tiles, then a partial
    one of the remainder's width (none when it is 0). Entry bundles match level 0; they come
    after it because a bundle already written is checked against the level-0 tile.
    """
    levels: list[int | str] = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        levels.append(level)
        level += 1
    levels.append(ENTRIES)
    for name in levels:
        hashes = size >> (TILE_HEIGHT * (0 if name == ENTRIES else int(name)))
        full, rest = divmod(hashes, TILE_WIDTH)
        for index in range(full):
            yield tile_path(name, index, TILE_WIDTH)
        if rest:
            yield tile_path(name, full, rest)


def tile_count(size: int) -> int:
    """How many files `tile_paths` names (for a progress bar)."""
    return sum(1 for _ in tile_paths(size))


def export_tiles(
    service: LogService,
    directory: Path,
    on_progress: Callable[[int], None] | None = None,
) -> StaticTiles:
    """Write (or extend) the tlog-tiles tree of the published checkpoint into ``directory``.

    The published checkpoint is the latest signed, with its cosignatures; under a witness
    policy in the ``required`` mode, the latest a quorum cosigned (`LogService`).

    Only reads the log: it never signs (`reliquary checkpoint` does). The folder is made if
    missing (mode 0755); see the module docstring for the order and what is checked.
    """
    signed = service.published_checkpoint()
    size, log = signed.size, service.log
    result = StaticTiles(directory, size, signed.root_hash)
    root = _open_root(directory)
    try:
        _remove_temporaries(root, directory)
        _require_older_checkpoint(root, directory, service.origin, size)
        for path in tile_paths(size):
            _export_one(log, size, root, path, result)
            if on_progress is not None:
                on_progress(1)
        _write_file(root, CHECKPOINT, signed.note.encode(), replace=_replace_checkpoint)
        _remove_filled_partials(root, size, result)
    finally:
        os.close(root)
    return result


def _require_older_checkpoint(root: int, directory: Path, origin: str, size: int) -> None:
    """Refuse a folder whose checkpoint is another log's or a larger tree's (no rollback).

    Replacing it would show readers a log that went back, or became another one; a monitor
    would rightly call that an alarm. Its signature is not checked here: only a log's own
    export writes the file, and the tiles are checked one by one anyway.
    """
    kept = _read_existing(root, CHECKPOINT, CHECKPOINT)
    if kept is None:
        return
    lines = kept.decode("utf-8", "replace").split("\n")
    if len(lines) < 3 or lines[0] != origin or not lines[1].isascii() or not lines[1].isdigit():
        raise TilesFolderRefused(
            f"{directory / CHECKPOINT} is not a checkpoint of {origin}: the folder holds "
            "another log; export into a new folder"
        )
    if int(lines[1]) > size:
        raise TilesFolderRefused(
            f"{directory / CHECKPOINT} is of {int(lines[1])} events, more than the {size} of "
            "the latest checkpoint here: exporting would take the published log back"
        )


# --- one tile --------------------------------------------------------------------------------


def _export_one(log: TransparencyLog, size: int, root: int, path: str, result: StaticTiles) -> None:
    folder, name = path.rsplit("/", 1)
    parent = _open_folders(root, folder)
    try:
        existing = _read_existing(parent, name, path)
        full = ".p/" not in path
        if existing is not None and full and path.startswith("tile/entries/"):
            _check_bundle(root, path, existing)  # cheaper than reading the events again
            result.kept.append(path)
            return
        try:
            data = read_tile(log, size, path)
        except EntryTooLarge:
            result.unbundled.append(path)
            return
        if existing is not None:
            # A path names one content forever (a partial tile too: it is a prefix of its
            # full tile), so any difference is another log's file or damage.
            if existing != data:
                raise TilesFolderDiffers(
                    f"{path} in {result.directory} differs from the log's tile: the folder "
                    "holds another log's tiles, or was damaged; export into a new folder",
                    path=path,
                )
            result.kept.append(path)
            return
        _write_file(parent, name, data)
        result.written.append(path)
    finally:
        os.close(parent)


def _check_bundle(root: int, path: str, bundle: bytes) -> None:
    """A full entry bundle already written: its entries must hash to its level-0 tile's hashes.

    The level-0 tile is read from the folder; it was checked against (or written from) the
    log's stored nodes earlier in this run. A bundle that does not match raises
    `TilesFolderDiffers`.
    """
    tile = "tile/0/" + path.removeprefix("tile/entries/")
    folder, name = tile.rsplit("/", 1)
    parent = _open_folders(root, folder)
    try:
        hashes = _read_existing(parent, name, tile)
    finally:
        os.close(parent)
    try:
        entries = decode_entry_bundle(bundle)
    except ValueError as error:
        raise TilesFolderDiffers(f"{path} is not an entry bundle: {error}", path=path) from None
    leaf_hashes = b"".join(merkle.leaf_hash(entry) for entry in entries)
    if hashes is None or leaf_hashes != hashes:
        raise TilesFolderDiffers(
            f"{path} does not hash to {tile}: the folder holds another log's tiles, or was "
            "damaged; export into a new folder",
            path=path,
        )


def _remove_filled_partials(root: int, size: int, result: StaticTiles) -> None:
    """Remove ``<N>.p/<W>`` files whose full tile ``<N>`` now exists (the spec allows it)."""
    for path in tile_paths(size):
        if ".p/" in path:
            continue
        folder, name = path.rsplit("/", 1)
        parent = _open_folders(root, folder)
        try:
            try:
                partials = os.open(name + ".p", _DIRECTORY_FLAGS, dir_fd=parent)
            except FileNotFoundError:
                continue
            except OSError as error:
                raise _refused(f"{folder}/{name}.p", error) from None
            try:
                for width in sorted(os.listdir(partials), key=lambda w: (len(w), w)):
                    if not (width.isascii() and width.isdigit()):
                        continue  # not a tile of ours (a crashed run's temporary): left alone
                    os.unlink(width, dir_fd=partials)
                    result.removed.append(f"{path}.p/{width}")
                os.fsync(partials)
            finally:
                os.close(partials)
            with contextlib.suppress(OSError):  # not empty: something else is in it, kept
                os.rmdir(name + ".p", dir_fd=parent)
        finally:
            os.close(parent)


# --- files, never through a link -------------------------------------------------------------


def _open_root(directory: Path) -> int:
    """Open (making it if missing) the export folder; refuse a link or anything not a folder."""
    created = True
    try:
        os.mkdir(directory, FOLDER_MODE)
    except FileExistsError:
        created = False
    except OSError as error:
        raise _refused(str(directory), error) from None
    try:
        mode = os.lstat(directory).st_mode
    except OSError as error:
        raise _refused(str(directory), error) from None
    if stat.S_ISLNK(mode):
        raise TilesFolderRefused(
            f"{directory} is a symbolic link: tiles are written only into a real folder"
        )
    if not stat.S_ISDIR(mode):
        raise TilesFolderRefused(f"{directory} exists and is not a folder")
    try:
        descriptor = os.open(directory, _DIRECTORY_FLAGS)
    except OSError as error:
        raise _refused(str(directory), error) from None
    if created:
        os.fchmod(descriptor, FOLDER_MODE)  # whatever the umask; a folder found keeps its mode
    return descriptor


def _open_folders(root: int, relative: str) -> int:
    """Open ``relative`` (``a/b/c``) under ``root``, making missing folders, following no link."""
    current = os.dup(root)
    try:
        for part in relative.split("/"):
            created = True
            try:
                os.mkdir(part, FOLDER_MODE, dir_fd=current)
            except FileExistsError:
                created = False
            try:
                child = os.open(part, _DIRECTORY_FLAGS, dir_fd=current)
            except OSError as error:
                raise _refused(relative, error) from None
            os.close(current)
            current = child
            if created:
                os.fchmod(current, FOLDER_MODE)  # public, whatever the umask
    except BaseException:
        os.close(current)
        raise
    return current


def _read_existing(parent: int, name: str, path: str) -> bytes | None:
    """The bytes of a regular file already there, None if absent; a link or other is refused."""
    try:
        descriptor = os.open(name, _READ_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise _refused(path, error) from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _LARGEST_TILE:
            raise TilesFolderRefused(f"{path} is not a tile file (a folder, or oversized)")
        chunks = []
        while chunk := os.read(descriptor, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def _replace_checkpoint(folder: int, temporary: str, name: str) -> None:
    """The rename that publishes a new checkpoint (a function of its own for the tests)."""
    os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)


def _rename(folder: int, temporary: str, name: str) -> None:
    os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)


def _write_file(
    folder: int,
    name: str,
    data: bytes,
    replace: Callable[[int, str, str], None] = _rename,
) -> None:
    """Write ``name`` atomically: a temporary file, fsync, rename over the name, fsync folder.

    A link at the temporary name is refused (``O_EXCL | O_NOFOLLOW``); the rename replaces a
    link at ``name`` itself rather than writing through it.
    """
    temporary = f"{_TEMPORARY}{os.getpid()}-{name}"
    try:
        descriptor = os.open(temporary, _CREATE_FLAGS, FILE_MODE, dir_fd=folder)
    except OSError as error:
        raise _refused(name, error) from None
    try:
        try:
            os.fchmod(descriptor, FILE_MODE)  # whatever the umask: the log is public
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        replace(folder, temporary, name)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=folder)
        raise
    os.fsync(folder)


def _remove_temporaries(root: int, directory: Path) -> None:
    """Remove the temporary files a killed run left anywhere in the folder.

    A run writes each file under a temporary name of its own (``.tmp-<pid>-<name>``) and
    renames it; a run killed between the two leaves that file behind, in the folder of the
    tile it was writing. The next run removes every one (``os.fwalk`` follows no link), so a
    sync of the folder never publishes half a tile under any name.
    """
    for folder, _, files, folder_fd in os.fwalk(dir_fd=root):
        for entry in files:
            if entry.startswith(_TEMPORARY):
                os.unlink(entry, dir_fd=folder_fd)
        if folder == "." and any(entry.startswith(_TEMPORARY) for entry in os.listdir(folder_fd)):
            raise TilesFolderRefused(f"{directory}: a folder named {_TEMPORARY}* is in the way")


def _refused(path: str, error: OSError) -> TilesFolderRefused:
    if error.errno in (errno.ELOOP, errno.ENOTDIR):
        return TilesFolderRefused(f"{path}: a symbolic link or a file where a folder should be")
    return TilesFolderRefused(f"cannot write {path}: {error.strerror}")
