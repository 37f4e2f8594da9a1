"""The one feed of the log: every stored event in ledger order, with its leaf bytes.

The tree (`tree.py`), the auditor's recomputation (`verify.py`), audit bundles (`bundle.py`)
and C2SP entry bundles (`tiles.py`) all read the ledger the same way: page through the events
table after a position ("greater than the last notification id seen", because PostgreSQL's ids
have gaps), number each event by its position, name its model from the registration seen
earlier, and compute its leaf (`leaves.leaf_bytes`: the stored bytes in a canonical envelope).
An event whose model no earlier event registers cannot be given a leaf: the feed raises
`LogDamaged` naming its sequence, the one behaviour every reader shares.

`leaf_pages` is the feed itself, a page of events at a time in columns; `leaf_feed` gives the
same events one `LeafEntry` at a time. The rows come from `recorders.stored_events_reader`,
which reads the events table of the ledger's own store as plain tuples (the library's
``select_notifications`` makes a dict and a `Notification` per event, and that, not hashing,
was most of `verify`'s time: docs/performance.md). What is read is the same: the four stored
columns the leaf covers, and the notification id.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import orjson
from eventsourcing.persistence import Notification

from domain.errors import LogDamaged
from projections.translog.leaves import leaf_of_columns, registered_name
from projections.translog.recorders import EventReader, EventRow, stored_events_reader

if TYPE_CHECKING:
    from domain.ledger import Ledger

T = TypeVar("T")


@dataclass(frozen=True)
class LeafEntry:
    """One event as the log sees it: its sequence number, the stored event, and its leaf."""

    sequence: int
    notification: Any
    model_id: str
    model: str
    registers_model: bool
    leaf: bytes


@dataclass(frozen=True)
class LeafPage:
    """Consecutive events of the feed, in columns: event ``k`` is at ``first_sequence + k``.

    ``rows`` are the stored events as read (notification id, model id as stored, version,
    topic, state); ``model_ids`` their models' ids in canonical form; ``registrations`` the
    position in the page of each event that registers a model, with the model's id and name.
    """

    first_sequence: int
    rows: Sequence[EventRow]
    model_ids: list[str]
    leaves: list[bytes]
    registrations: dict[int, tuple[str, str]]

    @property
    def notification_ids(self) -> list[int]:
        """The events' notification ids, in order."""
        return [row[0] for row in self.rows]

    def __len__(self) -> int:
        return len(self.rows)


def leaf_pages(
    ledger: Ledger,
    *,
    after: int = 0,
    first_sequence: int = 0,
    names: dict[str, str] | None = None,
    page: int = 1000,
    ahead: bool = False,
) -> Generator[LeafPage, None, None]:
    """Every event stored after notification id ``after``, numbered from ``first_sequence``.

    Pages hold ``page`` events (the last one fewer). ``names`` maps the ids of models
    registered before ``after`` to their names (empty when reading from the start); the feed
    adds each registration it reads to it. An event of an unregistered model, or whose model
    id is not a UUID (a store that keeps ids as text), ends the feed: the events before it are
    yielded as a last, short page, then `LogDamaged` is raised. With ``ahead``, a thread
    reads the next page's rows (`read_ahead`) while the caller works on this one; the leaves
    are made in the caller's thread either way.
    """
    if page < 1:
        raise ValueError(f"a page holds at least one event, not {page}")
    known = names if names is not None else {}
    row_pages = _row_pages(stored_events_reader(ledger.recorder), after, page)
    pages = read_ahead(row_pages) if ahead else row_pages
    try:
        yield from _leaf_pages(pages, first_sequence, known)
    finally:
        pages.close()


def _row_pages(
    read: EventReader, after: int, page: int
) -> Generator[Sequence[EventRow], None, None]:
    """The stored events after notification id ``after``, ``page`` rows at a time, as read."""
    position = after
    while True:
        rows = read(position, page)
        if not rows:
            return
        yield rows
        if len(rows) < page:
            return
        position = rows[-1][0]


def _leaf_pages(
    row_pages: Iterator[Sequence[EventRow]], sequence: int, known: dict[str, str]
) -> Iterator[LeafPage]:
    """Each page of rows with its leaves, numbered from ``sequence`` (see `leaf_pages`)."""
    ids: dict[Any, _ModelId] = {}
    topics: dict[str, bytes] = {}  # each topic as JSON, written once
    # One object refilled for an event of a model not yet registered: `registered_name` reads
    # its stored columns (and keeps nothing), so no object is made per event.
    stored = _Stored()
    for rows in row_pages:
        model_ids: list[str] = []
        leaves: list[bytes] = []
        registrations: dict[int, tuple[str, str]] = {}
        for offset, (notification_id, stored_id, version, topic, state) in enumerate(rows):
            model = ids.get(stored_id)
            if model is None:
                try:
                    model = ids[stored_id] = _ModelId(stored_id)
                except ValueError:
                    if offset:
                        yield LeafPage(sequence, rows[:offset], model_ids, leaves, registrations)
                    raise LogDamaged(
                        f"sequence {sequence + offset}: event #{notification_id} has the model "
                        f"id {stored_id!r}, which is not a UUID; run `reliquary verify`",
                        sequence=sequence + offset,
                        notification_id=notification_id,
                    ) from None
            model_id = model.text
            if model_id not in known:
                stored.id = notification_id
                stored.originator_id = model
                stored.originator_version = version
                stored.topic = topic
                stored.state = state
                name = _registered_name(stored)
                if name is not None:
                    known[model_id] = name
                    registrations[offset] = (model_id, name)
                else:
                    if offset:
                        yield LeafPage(sequence, rows[:offset], model_ids, leaves, registrations)
                    raise LogDamaged(
                        f"sequence {sequence + offset}: event #{notification_id} (version "
                        f"{version}) belongs to model {model_id}, which no earlier event "
                        "registers; run `reliquary verify`",
                        sequence=sequence + offset,
                        notification_id=notification_id,
                    )
            model_ids.append(model_id)
            topic_json = topics.get(topic)
            if topic_json is None:
                topic_json = topics[topic] = orjson.dumps(topic)
            leaf = leaf_of_columns(model.leaf_id, sequence + offset, state, topic_json, version)
            leaves.append(leaf)
        yield LeafPage(sequence, rows, model_ids, leaves, registrations)
        sequence += len(rows)


def leaf_feed(
    ledger: Ledger,
    *,
    after: int = 0,
    first_sequence: int = 0,
    names: dict[str, str] | None = None,
    page: int = 1000,
) -> Iterator[LeafEntry]:
    """The events of `leaf_pages`, one at a time (same arguments, same numbering and errors).

    Each entry's ``notification`` is the library's `Notification` of the stored event.
    """
    known = names if names is not None else {}
    uuids: dict[str, UUID] = {}
    pages = leaf_pages(ledger, after=after, first_sequence=first_sequence, names=known, page=page)
    for leaf_page in pages:
        for offset, row in enumerate(leaf_page.rows):
            notification_id, _, version, topic, state = row
            model_id = leaf_page.model_ids[offset]
            originator_id = uuids.get(model_id)
            if originator_id is None:
                originator_id = uuids[model_id] = UUID(model_id)
            yield LeafEntry(
                sequence=leaf_page.first_sequence + offset,
                notification=Notification(
                    id=notification_id,
                    originator_id=originator_id,
                    originator_version=version,
                    topic=topic,
                    state=state,
                ),
                model_id=model_id,
                model=known[model_id],
                registers_model=offset in leaf_page.registrations,
                leaf=leaf_page.leaves[offset],
            )


def read_ahead(items: Iterator[T]) -> Generator[T, None, None]:
    """The items of an iterator, each made by a thread while the caller works on the one before.

    For an iterator that mostly waits on the database (`leaf_pages`, and what `verify` reads
    beside it): the thread's waits overlap the caller's work. At most one item waits made; an
    error the iterator raises is raised here, after the items made before it. When the caller
    stops early, the thread stops after the item it is making, and the iterator is closed.
    """
    handoff: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)
    stopped = threading.Event()

    def hand_over(item: tuple[bool, Any]) -> bool:
        while not stopped.is_set():
            try:
                handoff.put(item, timeout=0.1)  # wakes now and then to see if the caller left
            except queue.Full:
                continue
            return True
        return False

    def make() -> None:
        last: tuple[bool, Any] = (False, None)
        try:
            for item in items:
                if not hand_over((True, item)):
                    break
        except BaseException as error:  # handed to the caller, which raises it
            last = (False, error)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        hand_over(last)

    thread = threading.Thread(target=make, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            more, value = handoff.get()
            if not more:
                if value is not None:
                    raise value
                return
            yield value
    finally:
        stopped.set()
        thread.join()


def _registered_name(stored: _Stored) -> str | None:
    """The name a registration carries; None for another event or a state that is not JSON.

    A state no longer JSON is damage, not a crash: the event then registers nothing, and an
    event of a model nothing registers is `LogDamaged`, named by its sequence.
    """
    try:
        return registered_name(stored)  # type: ignore[arg-type]
    except ValueError:
        return None


class _ModelId(UUID):
    """A model's id whose text form is computed once, not once per event.

    A leaf writes its model's id in text (`leaf_id`, once per model), and a ledger has
    few models and many events. The value is the stored one, parsed as `UUID` parses it.
    """

    __slots__ = ("leaf_id", "text")
    text: str
    leaf_id: bytes  # the text as a leaf writes it

    def __init__(self, stored: Any) -> None:
        super().__init__(str(stored))
        object.__setattr__(self, "text", UUID.__str__(self))
        object.__setattr__(self, "leaf_id", self.text.encode())

    def __str__(self) -> str:
        return self.text


class _Stored:
    """The stored columns of one event, as `leaf_bytes` and `registered_name` read them."""

    __slots__ = ("id", "originator_id", "originator_version", "state", "topic")

    id: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes
