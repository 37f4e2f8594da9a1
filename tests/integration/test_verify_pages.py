"""`verify` a page at a time: the same report whatever the page, and every stored change named.

`verify_log` reads the events, the leaf rows and the nodes a page at a time, compares each
page's leaf rows and each level of its nodes as a whole, and only compares node by node where
something differs (`projections/translog/verify.py`). These tests hold it to the node-by-node
answer on both backends: on an honest ledger with pages of every size from one event up, and
on a log whose stored rows were changed behind the triggers' back, including a change that
keeps a level's joined bytes the same.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse
from uuid import UUID

import psycopg
import pytest

from api.bootstrap import build_ledger
from api.settings import Settings
from domain.ledger import Ledger
from projections.translog import merkle
from projections.translog import verify as verify_module
from projections.translog.checkpoint import generate_signing_key, verifier_key
from projections.translog.feed import leaf_feed, read_ahead
from projections.translog.recorders import stored_events_reader
from projections.translog.tree import TransparencyLog
from projections.translog.verify import verify_log
from tests.conftest import POSTGRES_URL
from tests.support import doc, open_log, parse, register, signal_period, unique

SIGNING_KEY = generate_signing_key("reliquary.test/ledger")
VERIFIER = verifier_key(SIGNING_KEY)
EVENTS = 37  # not a power of two: a short last page at every page size below 64
CHECKPOINT_SIZES = (5, 16, 17, EVENTS)  # inside a page, at a page's end, just after one


def _record(ledger: Ledger, model: str, count: int) -> None:
    for _ in range(count):
        ledger.execute(
            parse(
                doc(
                    "record_signal",
                    model,
                    kind="research_use",
                    **signal_period(),
                    value=1.0,
                    unit="count",
                )
            )
        )


@pytest.fixture
def log(database_url: str, ledger: Ledger) -> TransparencyLog:
    """A ledger of `EVENTS` events, signed at each of `CHECKPOINT_SIZES`."""
    model = unique()
    ledger.execute(parse(register(model)))
    opened = open_log(database_url, ledger)
    recorded = 1
    for size in CHECKPOINT_SIZES:
        _record(ledger, model, size - recorded)
        recorded = size
        assert opened.checkpoint(SIGNING_KEY).size == size
    return opened


def _kept(log: TransparencyLog, size: int) -> str:
    return next(c.note for c in log.checkpoints() if c.size == size)


@pytest.mark.parametrize("page", [1, 2, 4, 8, 16, 64, 8192])
def test_every_page_size_gives_the_node_by_node_answer(log: TransparencyLog, page: int) -> None:
    leaves = [entry.leaf for entry in leaf_feed(log.ledger)]
    assert len(leaves) == EVENTS

    report = verify_log(log, VERIFIER, kept_checkpoint=_kept(log, 17), page=page)

    assert report.ok, report.problems
    assert report.events == EVENTS
    assert report.root == merkle.root_of([merkle.leaf_hash(leaf) for leaf in leaves])
    # Each checkpoint's root was recomputed at its size, wherever the size falls in a page.
    assert report.checkpoints_checked == len(CHECKPOINT_SIZES)
    assert report.extends_kept_checkpoint is True


@pytest.mark.parametrize("page", [1, 4, 8192])
def test_an_honest_log_is_compared_a_page_at_a_time(
    log: TransparencyLog, page: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The node-by-node comparison is for naming a difference; on an honest log the runs the
    # reader asks for must be exactly the nodes the page computes, or verify is slow.
    def one_by_one(*_: object) -> None:
        raise AssertionError("compared node by node")

    monkeypatch.setattr(verify_module, "_compare_nodes", one_by_one)
    monkeypatch.setattr(log.recorder, "leaves", one_by_one)

    assert verify_log(log, VERIFIER, page=page).ok


def test_a_page_that_is_not_a_power_of_two_is_refused(log: TransparencyLog) -> None:
    with pytest.raises(ValueError, match="power of two"):
        verify_log(log, VERIFIER, page=12)


# -- changed stored rows, behind the triggers' back ------------------------------------------


def _tamper(database_url: str, table: str, statement: str, *params: object) -> None:
    """Run one statement on a log table with its append-only triggers dropped.

    ``{t}`` in the statement stands for the table, ``{p}`` for the placeholder.
    """
    if database_url.startswith("sqlite"):
        with sqlite3.connect(urlparse(database_url).path) as db:
            for action in ("update", "delete"):
                db.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
            db.execute(statement.format(t=table, p="?"), params)
        return
    schema = parse_qs(urlparse(database_url).query)["schema"][0]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {schema}.{table}")
        conn.execute(statement.format(t=f"{schema}.{table}", p="%s"), params)  # type: ignore[arg-type]


def _node(log: TransparencyLog, level: int, index: int) -> bytes:
    return log.recorder.nodes([(level, index)])[(level, index)]


# A changed node (level, index), the page size verify reads, and how the first problem starts:
# a leaf hash, a node inside a page, the top of a page, a node above pages, and a node of the
# short last page (sequences 32-36 in pages of 8).
CHANGED_NODES = {
    "leaf hash": (0, 9, 4, "sequence 9: the stored leaf does not match"),
    "node inside a page": (1, 5, 4, "sequences 10-11: the stored node (1, 5)"),
    "top of a page": (2, 3, 4, "sequences 12-15: the stored node (2, 3)"),
    "node above pages": (4, 1, 4, "sequences 16-31: the stored node (4, 1)"),
    "node of the short last page": (2, 8, 8, "sequences 32-35: the stored node (2, 8)"),
}


@pytest.mark.parametrize("changed", sorted(CHANGED_NODES))
def test_a_changed_node_is_named_by_its_sequences(
    database_url: str, log: TransparencyLog, changed: str
) -> None:
    level, index, page, named = CHANGED_NODES[changed]
    original = _node(log, level, index)
    _tamper(
        database_url,
        "translog_nodes",
        "UPDATE {t} SET hash = {p} WHERE level = {p} AND idx = {p}",
        bytes(32),
        level,
        index,
    )

    report = verify_log(log, VERIFIER, page=page)

    first = index << level
    assert report.first_bad_sequence == first
    assert report.problems[0].startswith(named), report.problems
    assert original.hex() in report.problems[0]  # the recomputed hash, as expected


def test_a_node_split_across_its_neighbour_is_named(
    database_url: str, log: TransparencyLog
) -> None:
    # Leaves 2 and 3 stored as 31 and 33 bytes: joined, level 0 reads exactly as before.
    left, right = _node(log, 0, 2), _node(log, 0, 3)
    for index, value in ((2, left[:31]), (3, left[31:] + right)):
        _tamper(
            database_url,
            "translog_nodes",
            "UPDATE {t} SET hash = {p} WHERE level = 0 AND idx = {p}",
            value,
            index,
        )

    report = verify_log(log, VERIFIER, page=8)

    assert report.first_bad_sequence == 2
    assert report.problems[0].startswith("sequence 2: the stored leaf does not match"), report


def test_a_missing_node_is_named(database_url: str, log: TransparencyLog) -> None:
    _tamper(database_url, "translog_nodes", "DELETE FROM {t} WHERE level = 1 AND idx = 3")

    report = verify_log(log, VERIFIER, page=8)

    assert report.first_bad_sequence == 6
    assert report.problems[0] == "sequences 6-7: the log is missing node (1, 3)"


def test_a_missing_leaf_row_is_named(database_url: str, log: TransparencyLog) -> None:
    _tamper(database_url, "translog_leaves", "DELETE FROM {t} WHERE idx = 21")

    report = verify_log(log, VERIFIER, page=8)

    assert report.first_bad_sequence == 21
    assert report.problems[0].startswith("sequence 21: the log has no leaf row for it")


def test_a_leaf_row_naming_another_event_is_named(database_url: str, log: TransparencyLog) -> None:
    _tamper(
        database_url,
        "translog_leaves",
        "UPDATE {t} SET notification_id = notification_id + 100000 WHERE idx = 30",
    )

    report = verify_log(log, VERIFIER, page=8)

    assert report.first_bad_sequence == 30
    assert report.problems[0].startswith("sequence 30: the log's leaf is event #")


def test_a_model_id_that_is_not_a_uuid_is_named(tmp_path: Path) -> None:
    # SQLite keeps a model's id as text: a damaged one is named, not a crash of verify.
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger = build_ledger(Settings(database_url=url))
    model = unique()
    ledger.execute(parse(register(model)))
    _record(ledger, model, 3)
    log = open_log(url, ledger)
    log.checkpoint(SIGNING_KEY)
    with sqlite3.connect(tmp_path / "ledger.db") as db:
        db.execute("DROP TRIGGER stored_events_no_update")
        db.execute(
            "UPDATE stored_events SET originator_id = 'not-a-uuid' "
            "WHERE rowid = (SELECT rowid FROM stored_events ORDER BY rowid LIMIT 1 OFFSET 2)"
        )

    report = verify_log(log, VERIFIER, page=2)
    ledger.close()

    assert report.first_bad_sequence == 2
    assert report.problems[0].startswith("sequence 2: event #3 has the model id 'not-a-uuid'")


# -- what verify relies on ----------------------------------------------------------------------


def test_the_feed_reads_the_rows_the_library_reads(ledger: Ledger) -> None:
    model = unique()
    ledger.execute(parse(register(model)))
    _record(ledger, model, 4)
    read = stored_events_reader(ledger.recorder)
    library = ledger.recorder.select_notifications(start=0, limit=10, inclusive_of_start=False)

    rows = list(read(0, 10)) + list(read(library[2].id, 10))

    # The model id as stored: 32 hex digits on SQLite, the server's text on PostgreSQL; the
    # feed parses it as the library does.
    assert [(row[0], UUID(str(row[1])), row[2], row[3], bytes(row[4])) for row in rows] == [
        (n.id, n.originator_id, n.originator_version, n.topic, n.state)
        for n in [*library, *library[3:]]
    ]
    assert list(read(library[-1].id, 10)) == []


def test_read_ahead_hands_over_every_item_then_the_error() -> None:
    def items() -> Iterator[int]:
        yield from (1, 2, 3)
        raise LookupError("the fourth")

    ahead = read_ahead(items())
    got = [next(ahead), next(ahead), next(ahead)]
    with pytest.raises(LookupError, match="the fourth"):
        next(ahead)
    assert got == [1, 2, 3]


def test_read_ahead_stops_and_closes_when_the_caller_leaves() -> None:
    closed = threading.Event()
    made: list[int] = []

    def items() -> Iterator[int]:
        try:
            for n in range(1000):
                made.append(n)
                yield n
        finally:
            closed.set()

    ahead = read_ahead(items())
    assert next(ahead) == 0
    ahead.close()  # the caller leaves: the thread is joined before close returns

    assert closed.is_set()
    assert len(made) <= 3  # the one handed over, one waiting, one being made
    assert not any(t.name == "read-ahead" and t.is_alive() for t in threading.enumerate())
