"""Where a monitor reads a C2SP tlog-tiles log from: a local folder or an HTTP(S) URL prefix.

c2sp.org/tlog-tiles serves a log as static resources under a prefix: ``checkpoint``,
``tile/<L>/<N>[.p/<W>]`` and ``tile/entries/<N>[.p/<W>]``. A `TileSource` reads one of those
relative paths and returns its bytes, at most ``limit`` of them; anything that keeps it from
answering raises `SourceUnreachable` (`TileMissing` when the resource does not exist, so that
a client can fall back from a partial tile to its full one, as the spec allows). Nothing here
judges the bytes: `monitor` verifies them.

- `FolderSource`: a folder written by ``reliquary tiles export`` (or any copy of a tiles tree).
  Paths are relative, without ``.`` or ``..``, and every component is opened with
  ``O_NOFOLLOW`` under the folder's descriptor: nothing outside the folder is read, and no
  symbolic link inside it is followed.
- `HttpSource`: GET ``<prefix><path>`` with httpx, no redirects, a timeout per request, the body
  read only up to the limit.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING, Protocol

from domain.errors import SourceUnreachable, TileMissing

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_TIMEOUT_SECONDS",
    "FolderSource",
    "HttpSource",
    "SourceUnreachable",
    "TileMissing",
    "TileSource",
    "open_source",
]

# How long one HTTP request may take; the CLI's --timeout, bounded.
DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_TIMEOUT_SECONDS = 300.0
# Path components a tiles tree never has, and that could leave the folder.
_FORBIDDEN_COMPONENTS = ("", ".", "..")
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_HTTP_NOT_FOUND = 404
_HTTP_OK = 200


class TileSource(Protocol):
    """Reads the resources of one tlog-tiles log by their paths relative to its prefix."""

    @property
    def name(self) -> str:
        """The source as the user gave it (a URL prefix or a folder), for reports."""
        ...

    def read(self, path: str, limit: int) -> bytes:
        """The bytes at ``path`` (at most ``limit``); `SourceUnreachable` if they cannot be read."""
        ...


def _components(path: str) -> list[str]:
    """The components of a relative tiles path; `SourceUnreachable` for one that could escape."""
    parts = path.split("/")
    if path.startswith("/") or any(part in _FORBIDDEN_COMPONENTS for part in parts):
        raise SourceUnreachable(f"refused to read {path!r}: not a relative path inside the log")
    return parts


class FolderSource:
    """A tiles tree in a local folder; links inside it are never followed."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = os.fspath(folder)

    @property
    def name(self) -> str:
        return self.folder

    def read(self, path: str, limit: int) -> bytes:
        parts = _components(path)
        try:
            directory = os.open(self.folder, _DIRECTORY_FLAGS)
        except OSError as error:
            raise SourceUnreachable(
                f"cannot open the folder {self.folder}: {error.strerror}"
            ) from None
        try:
            return self._read_under(directory, parts, path, limit)
        finally:
            os.close(directory)

    def _read_under(self, directory: int, parts: list[str], path: str, limit: int) -> bytes:
        where = f"{path} in {self.folder}"
        opened: list[int] = []
        try:
            current = directory
            for part in parts[:-1]:
                current = os.open(part, _DIRECTORY_FLAGS | os.O_NOFOLLOW, dir_fd=current)
                opened.append(current)
            descriptor = os.open(parts[-1], _READ_FLAGS, dir_fd=current)
        except FileNotFoundError:
            raise TileMissing(f"{where}: no such file") from None
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                raise SourceUnreachable(
                    f"{where}: refused, a symbolic link or not a folder on the way"
                ) from None
            raise SourceUnreachable(f"{where}: {error.strerror}") from None
        finally:
            for fd in opened:
                os.close(fd)
        with os.fdopen(descriptor, "rb") as stream:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise SourceUnreachable(f"{where}: not a regular file")
            data = stream.read(limit + 1)
        if len(data) > limit:
            raise SourceUnreachable(f"{where}: over the {limit:,} bytes such a resource may have")
        return data


class HttpSource:
    """A tiles tree under an http(s) URL prefix, read with httpx (one client, no redirects)."""

    def __init__(
        self,
        prefix: str,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        client: httpx.Client | None = None,
    ) -> None:
        """``client`` replaces the default one (an app's in-process test client, say)."""
        import httpx

        if not 0 < timeout <= MAX_TIMEOUT_SECONDS:
            raise ValueError(f"expected a timeout over 0 and at most {MAX_TIMEOUT_SECONDS} s")
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        self._owned = client is None
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=False)

    @property
    def name(self) -> str:
        return self.prefix

    def read(self, path: str, limit: int) -> bytes:
        import httpx

        url = self.prefix + "/".join(_components(path))
        # The checkpoint changes; tiles never do (tlog-tiles), so only it bypasses caches.
        headers = {"Cache-Control": "no-cache"} if path == "checkpoint" else {}
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                if response.status_code == _HTTP_NOT_FOUND:
                    raise TileMissing(f"{url}: 404 Not Found")
                if response.status_code != _HTTP_OK:
                    raise SourceUnreachable(f"{url}: HTTP {response.status_code}")
                received = bytearray()
                for chunk in response.iter_bytes():
                    received += chunk
                    if len(received) > limit:  # enough to refuse it; read no more
                        raise SourceUnreachable(
                            f"{url}: over the {limit:,} bytes such a resource may have"
                        )
                return bytes(received)
        except httpx.HTTPError as error:
            raise SourceUnreachable(f"{url}: {type(error).__name__}: {error}") from None

    def close(self) -> None:
        """Close the HTTP client, unless it was given (its owner closes it)."""
        if self._owned:
            self._client.close()


def open_source(source: str, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> FolderSource | HttpSource:
    """An http(s) URL prefix as an `HttpSource`, anything else as a `FolderSource`."""
    if source.startswith(("http://", "https://")):
        return HttpSource(source, timeout)
    return FolderSource(source)
