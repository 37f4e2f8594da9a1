"""Walk a directory into the files its manifest would list, refusing what no manifest can hold.

A manifest (`domain.decisions`, docs/archive.md) lists every regular file under a directory by
its relative POSIX path and size. This module finds those files and only looks at them (it
reads no content): hashing them is `projections.archive.hashing`.

What it refuses, each with an `ArchiveError` that names the path and why: a root that is not a
directory, symbolic links anywhere inside the tree (never followed, wherever they point),
sockets, FIFOs and devices, files or directories it cannot read, names the command model would
refuse (not UTF-8, a backslash, a control character, leading or trailing whitespace), more
files than a manifest can list, and a tree with no regular file at all.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from domain.errors import ArchiveError

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

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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
