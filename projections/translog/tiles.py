"""The transparency log as C2SP tlog-tiles: hash tiles and entry bundles, read-only.

c2sp.org/tlog-tiles serves a Merkle tree as static resources under a URL prefix:

- ``checkpoint``: the signed checkpoint (the HTTP layer serves the latest stored note);
- ``tile/<L>/<N>[.p/<W>]``: hash tiles. Tile ``N`` at level ``L`` holds, for ``i`` from 0 to
  ``W - 1``, ``MTH(D[(N * 256 + i) * 256**L : (N * 256 + i + 1) * 256**L])``: the hashes of the
  perfect subtrees at tree level ``8 * L``, which are exactly the stored nodes
  ``(8 * L, N * 256 + i)``. Level 0 holds the leaf hashes. Each hash is 32 bytes, so a full
  tile (``W`` = 256) is 8,192 bytes;
- ``tile/entries/<N>[.p/<W>]``: entry bundles, the leaves ``N * 256 .. N * 256 + W - 1`` (each
  the RFC 8785 bytes of an event's public record, see ``leaves.py``), each prefixed by its
  length as a big-endian uint16.

Paths, as the spec writes them. ``<L>`` is decimal 0 to 63 with no leading zeroes (or the
literal ``entries``). ``<N>`` is split into 3-digit groups, most significant first, zero-padded,
every group but the last prefixed with ``x`` (1234067 is ``x001/x234/067``, 5 is ``005``).
``.p/<W>`` is present only for a partial tile, ``<W>`` decimal 1 to 255 with no leading zeroes.
Parsing is strict: a path is accepted only in the one form `tile_path` writes, so ``x000/005``,
``05``, ``tile/00/...``, ``.p/0``, ``.p/256`` and ``.p/007`` all name no tile.

Which tiles a tree of ``size`` leaves has. There are ``size >> (8 * L)`` hashes at level ``L``
(the complete subtrees of ``256**L`` leaves). A full tile ``N`` exists once all 256 of its
hashes do; the rightmost tile of a level is partial with width ``(size >> (8 * L)) % 256``
(none when that is 0: empty tiles are never served). A partial tile of width ``W`` is the
first ``W`` hashes of its full tile, so its bytes never change. The spec requires a log to keep
serving the partial tiles of every size it signed a checkpoint for (it MAY drop one once the
full tile exists), so here a partial tile is served whenever it is a prefix of the tree of
``size`` (``(N * 256 + W) << (8 * L) <= size``): the current width, every narrower width of
the same tile (earlier checkpoints), and the partial forms of tiles that have since filled.
Nothing beyond ``size`` is ever served: pass the size of the latest signed checkpoint.

Entries longer than 65,535 bytes cannot be written in a bundle (the spec has only the uint16
prefix); a bundle holding one raises `EntryTooLarge` rather than serve bytes no client could
parse or hash. Its hash tiles, proofs and the audit bundle are unaffected.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from domain.errors import EntryTooLarge, LogDamaged, LogError, TileNotFound
from projections.translog import merkle
from projections.translog.feed import leaf_feed

if TYPE_CHECKING:
    from projections.translog.tree import TransparencyLog

__all__ = [
    "ENTRIES",
    "MAX_ENTRY_SIZE",
    "MAX_LEVEL",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "BundleRef",
    "EntryTooLarge",
    "TileNotFound",
    "TileRef",
    "decode_entry_bundle",
    "entry_bundle",
    "hash_tile",
    "leaf_bytes",
    "parse_tile_path",
    "read_tile",
    "tile_path",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # 256 hashes (or entries) in a full tile
MAX_LEVEL = 63  # "<L> ... MUST be a decimal ASCII integer between 0 and 63"
MAX_ENTRY_SIZE = 0xFFFF  # an entry's length is a big-endian uint16
ENTRIES = "entries"  # the <L> of entry bundles
_MAX_INDEX = 2**64  # tree sizes are uint64 (tlog-checkpoint), so no tile index reaches this

# The shape of a tile path; the values are then checked by writing the path back (`tile_path`)
# and comparing, so only the canonical form is accepted. [0-9] rather than \d: ASCII digits only.
_PATH = re.compile(r"tile/(entries|[0-9]{1,2})/((?:x[0-9]{3}/){0,6}[0-9]{3})(?:\.p/([0-9]{1,3}))?")


@dataclass(frozen=True)
class TileRef:
    """A hash tile: ``level`` (0 to 63), ``index`` within the level, ``width`` 1 to 256."""

    level: int
    index: int
    width: int

    def __post_init__(self) -> None:
        """Refuse values no tile path can carry (`ValueError`)."""
        _check_level(self.level)
        _check_index_width(self.index, self.width)

    @property
    def partial(self) -> bool:
        """Whether this is a partial tile (fewer than 256 hashes)."""
        return self.width < TILE_WIDTH

    @property
    def path(self) -> str:
        """``tile/<L>/<N>[.p/<W>]``."""
        return tile_path(self.level, self.index, self.width)


@dataclass(frozen=True)
class BundleRef:
    """An entry bundle: ``index`` (the level-0 tile it matches) and ``width`` 1 to 256."""

    index: int
    width: int

    def __post_init__(self) -> None:
        """Refuse values no bundle path can carry (`ValueError`)."""
        _check_index_width(self.index, self.width)

    @property
    def partial(self) -> bool:
        """Whether this is a partial bundle (fewer than 256 entries)."""
        return self.width < TILE_WIDTH

    @property
    def path(self) -> str:
        """``tile/entries/<N>[.p/<W>]``."""
        return tile_path(ENTRIES, self.index, self.width)


def _check_level(level: object) -> None:
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= MAX_LEVEL:
        raise ValueError(f"expected a tile level 0 to {MAX_LEVEL} or {ENTRIES!r}, got {level!r}")


def _check_index_width(index: object, width: object) -> None:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < _MAX_INDEX:
        raise ValueError(f"expected a tile index 0 <= index < 2**64, got {index!r}")
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= TILE_WIDTH:
        raise ValueError(f"expected a tile width 1 to {TILE_WIDTH}, got {width!r}")


# --- paths -----------------------------------------------------------------------------------


def tile_path(level: int | str, index: int, width: int) -> str:
    """The tlog-tiles path of a tile (``level`` 0 to 63) or bundle (``level`` ``"entries"``).

    ``width`` 256 is a full tile (no suffix); 1 to 255 adds ``.p/<W>``. Bad values raise
    `ValueError`.
    """
    if level != ENTRIES:
        _check_level(level)
    _check_index_width(index, width)
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    suffix = f".p/{width}" if width < TILE_WIDTH else ""
    return f"tile/{level}/{'/'.join(reversed(groups))}{suffix}"


def parse_tile_path(path: str) -> TileRef | BundleRef:
    """Read ``tile/<L>/<N>[.p/<W>]`` (a hash tile) or ``tile/entries/<N>[.p/<W>]`` (a bundle).

    The path is relative to the log's prefix, with no leading slash. Only the canonical form
    is accepted (see the module docstring); anything else raises `TileNotFound`.
    """
    match = _PATH.fullmatch(path)
    if match is None:
        raise TileNotFound(f"not a tlog-tiles path: {path!r}")
    level_text, index_text, width_text = match.groups()
    index = int(index_text.replace("x", "").replace("/", ""))
    width = int(width_text) if width_text is not None else TILE_WIDTH
    level: int | str = level_text if level_text == ENTRIES else int(level_text)
    if width_text is not None and width >= TILE_WIDTH:
        raise TileNotFound(f"not a tlog-tiles path: {path!r} (a partial width is 1 to 255)")
    try:
        canonical = tile_path(level, index, width)
    except ValueError as error:
        raise TileNotFound(f"not a tlog-tiles path: {path!r} ({error})") from None
    if canonical != path:
        raise TileNotFound(f"not a canonical tlog-tiles path: {path!r} (it is {canonical!r})")
    if isinstance(level, str):
        return BundleRef(index, width)
    return TileRef(level, index, width)


# --- which tiles a tree has ------------------------------------------------------------------


def _require_in_tree(level: int, index: int, width: int, size: int, what: str) -> None:
    """Raise `TileNotFound` unless the tree of ``size`` leaves has this tile (see module doc)."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"expected a tree size >= 0, got {size!r}")
    hashes = size >> (TILE_HEIGHT * level)  # complete subtrees of 256**level leaves
    first = index * TILE_WIDTH
    if first + width <= hashes:
        return
    if width == TILE_WIDTH and first < hashes:
        raise TileNotFound(
            f"{what} is not full yet in the tree of {size} leaves: it has "
            f"{hashes - first} of its {TILE_WIDTH} hashes (ask for .p/{hashes - first})"
        )
    raise TileNotFound(f"the tree of {size} leaves has no {what}")


# --- hash tiles ------------------------------------------------------------------------------


def hash_tile(log: TransparencyLog, size: int, ref: TileRef) -> bytes:
    """The tile's hashes, concatenated (32 bytes each), for the tree of ``size`` leaves.

    ``size`` is the signed checkpoint's size; tiles it does not have raise `TileNotFound`. The
    hashes are the stored nodes ``(8 * level, index * 256 + i)``, read in one range query.
    """
    _require_in_tree(ref.level, ref.index, ref.width, size, ref.path)
    level, first = TILE_HEIGHT * ref.level, ref.index * TILE_WIDTH
    found = log.recorder.nodes_at_level(level, first, first + ref.width - 1)
    missing = [first + i for i in range(ref.width) if first + i not in found]
    if missing:
        raise LogError(
            f"the log has no stored node ({level}, {missing[0]}) for {ref.path}: is {size} "
            "beyond the log's size? (run `reliquary verify` if it is not)"
        )
    return b"".join(found[first + i] for i in range(ref.width))


# --- entry bundles ---------------------------------------------------------------------------


def leaf_bytes(log: TransparencyLog, first: int, count: int) -> list[bytes]:
    """The leaf bytes (canonical records) of leaves ``first .. first + count - 1``, in order.

    Reads the leaf rows (which notification each leaf is) and the model names, then the log's
    feed from the first of those notifications. A leaf the log does not have yet raises
    `LogError`; a feed that disagrees with the leaf rows means the log is damaged.
    """
    if count <= 0:
        return []
    rows = log.recorder.leaves(first, count)
    if len(rows) != count or any(row.index != first + k for k, row in enumerate(rows)):
        raise LogError(
            f"the log has no leaves {first} to {first + count - 1} (it has {len(rows)} from "
            f"{first}); is that beyond its size?"
        )
    feed = leaf_feed(
        log.ledger,
        after=rows[0].notification_id - 1,
        first_sequence=first,
        names=log.recorder.model_names(),
        page=count,
    )
    entries = list(itertools.islice(feed, count))
    got = [entry.notification.id for entry in entries]
    expected = [row.notification_id for row in rows]
    if got != expected:
        # Every notification the log follows is a leaf, in order, so the ids match one to one.
        raise LogDamaged(
            f"leaves {first} to {first + count - 1} are notifications {expected[0]} to "
            f"{expected[-1]} but the ledger returned other ones; run `reliquary verify`"
        )
    return [entry.leaf for entry in entries]


def entry_bundle(log: TransparencyLog, size: int, index: int, width: int) -> bytes:
    """The entry bundle ``index`` of ``width`` entries, for the tree of ``size`` leaves.

    Each entry is its leaf's bytes, prefixed by their length as a big-endian uint16. Bundles
    the tree does not have raise `TileNotFound`; an entry over 65,535 bytes raises
    `EntryTooLarge`. Each entry is checked against the stored leaf hash before it is served.
    """
    ref = BundleRef(index, width)
    _require_in_tree(0, index, width, size, ref.path)
    first = index * TILE_WIDTH
    entries = leaf_bytes(log, first, width)
    stored = log.recorder.nodes_at_level(0, first, first + width - 1)
    out = bytearray()
    for offset, data in enumerate(entries):
        sequence = first + offset
        if stored.get(sequence) != merkle.leaf_hash(data):
            raise LogError(
                f"leaf {sequence} no longer hashes to the log's stored leaf hash; "
                "run `reliquary verify`"
            )
        if len(data) > MAX_ENTRY_SIZE:
            raise EntryTooLarge(
                f"{ref.path}: the leaf at sequence {sequence} is {len(data)} bytes, over the "
                f"{MAX_ENTRY_SIZE} bytes an entry bundle's uint16 length prefix can say; "
                "the entry is in the audit bundle (`reliquary export bundle`)"
            )
        out += len(data).to_bytes(2, "big")
        out += data
    return bytes(out)


def decode_entry_bundle(data: bytes) -> list[bytes]:
    """Split an entry bundle into its entries (as a client does); `ValueError` if malformed."""
    entries: list[bytes] = []
    position = 0
    while position < len(data):
        if position + 2 > len(data):
            raise ValueError(f"entry bundle: a length prefix is cut off at byte {position}")
        length = int.from_bytes(data[position : position + 2], "big")
        position += 2
        if position + length > len(data):
            raise ValueError(
                f"entry bundle: entry {len(entries)} says {length} bytes, "
                f"{len(data) - position} remain"
            )
        entries.append(data[position : position + length])
        position += length
    return entries


# --- one entry point for the HTTP layer ------------------------------------------------------


def read_tile(log: TransparencyLog, size: int, path: str) -> bytes:
    """The bytes of ``tile/...`` (a hash tile or an entry bundle) for the tree of ``size``.

    `TileNotFound` for a path that names nothing the tree has (404); `EntryTooLarge` for a
    bundle that cannot be encoded; `LogError` if ``size`` is beyond the log.
    """
    ref = parse_tile_path(path)
    if isinstance(ref, BundleRef):
        return entry_bundle(log, size, ref.index, ref.width)
    return hash_tile(log, size, ref)
