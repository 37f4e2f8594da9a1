"""The append path made cheap keeps its guarantees (docs/performance.md, appending events).

- A save waits while an earlier save's transaction holds the events table's lock, so ids
  become visible in the order they were issued: a reader paging with "greater than the last
  id seen" never passes over an id that commits later (PostgreSQL: the insert function's
  ``EXCLUSIVE`` lock).
- Sealed values written set-based (a statement for all the subjects' keys, one for all the
  openings) are each stored once and each open their own commitment, for any number of
  subjects and values in a save, one command at a time or a batch of an import.
- A batch that seals a value of an erased person is refused whole.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

from domain import errors
from domain.decisions import sealed_in
from domain.ledger import Ledger
from tests.conftest import POSTGRES_URL
from tests.support import doc, parse, register, unique


def _request(model: str, request_id: str, actor: str) -> dict[str, Any]:
    return {
        **doc(
            "request_access",
            model,
            role="researcher",
            request_id=request_id,
            requester=f"Person {actor}",
            organisation=f"Organisation of {actor}",
            requester_group="academic",
            purpose=f"study {request_id}",
            scope="API access",
        ),
        "actor": {"id": actor, "role": "researcher"},
    }


def _sealed_values(ledger: Ledger, model: str) -> list[Any]:
    return [
        value
        for event in ledger.history(model)
        for field in vars(event).values()
        for value in sealed_in(field)
    ]


def _openings(ledger: Ledger) -> int:
    recorder: Any = ledger.recorder
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(f"SELECT COUNT(*) AS n FROM {recorder.openings_table}")  # noqa: S608
        row = cursor.fetchone()
    return int(row["n"] if isinstance(row, dict) else row[0])


@pytest.mark.parametrize("batched", [False, True])
def test_every_sealed_value_of_many_subjects_is_stored_once_and_opens(
    ledger: Ledger, batched: bool
) -> None:
    model = unique()
    ledger.execute(parse(register(model)))
    commands = [
        parse(_request(model, f"r{n}", actor))
        for n, actor in enumerate(["ada", "bea", "cy", "ada", "dee", "bea"])
    ]
    if batched:
        ledger.import_commands(commands, batch_size=len(commands))
    else:
        for command in commands:
            ledger.execute(command)
    values = _sealed_values(ledger, model)
    assert values  # each request seals its private fields
    assert len({value.commitment for value in values}) == len(values)
    assert _openings(ledger) == len(values)
    opened = ledger.opened(values)
    assert len(opened) == len(values)
    assert all(o.value is not None and not o.erased for o in opened.values())
    # Each person has one key, however many saves and batches sealed their values.
    assert len({value.subject for value in values}) == 4


def test_a_batch_sealing_a_value_of_an_erased_person_is_refused_whole(ledger: Ledger) -> None:
    model = unique()
    ledger.execute(parse(register(model)))
    ledger.execute(parse(_request(model, "r1", "ada")))
    ledger.execute(parse(doc("erase_subject", model, role="board", subject="ada")))
    before = ledger.version_of(model)
    openings = _openings(ledger)
    with pytest.raises(errors.SubjectErased):
        ledger.import_commands(
            [parse(_request(model, "r2", "bea")), parse(_request(model, "r3", "ada"))],
            batch_size=10,
        )
    assert ledger.version_of(model) == before
    assert _openings(ledger) == openings


def _postgres_only(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("the events table's lock and its insert function are PostgreSQL's")


def test_the_insert_function_takes_the_tables_exclusive_lock(
    database_url: str, ledger: Ledger
) -> None:
    _postgres_only(database_url)
    recorder: Any = ledger.recorder
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(
            "SELECT p.prosrc FROM pg_proc p JOIN pg_namespace n "
            "ON n.oid = p.pronamespace WHERE n.nspname = %s AND p.proname = %s",
            (recorder.datastore.schema, recorder.insert_function_name),
        )
        row = cursor.fetchone()
    assert "lock_timeout" in row["prosrc"]
    assert "IN EXCLUSIVE MODE" in row["prosrc"]


def test_a_save_waits_for_an_earlier_save_so_no_reader_skips_an_id(
    database_url: str, ledger: Ledger
) -> None:
    """An earlier save, its id taken and not yet committed: a later save waits for it, and a
    reader that pages by "greater than the last id seen" meets every id, in order."""
    _postgres_only(database_url)
    first, second = unique(), unique()
    ledger.execute(parse(register(first)))
    recorder: Any = ledger.recorder
    table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
    function = f'"{recorder.datastore.schema}"."{recorder.insert_function_name}"'
    seen = ledger.recorder.max_notification_id() or 0
    with psycopg.connect(POSTGRES_URL) as earlier:
        # The earlier writer: its event inserted through the function (the lock taken, the
        # id drawn), its transaction still open.
        row = earlier.execute(
            f"SELECT originator_id, originator_version + 1 AS version, topic, state "  # noqa: S608
            f"FROM {table} ORDER BY notification_id DESC LIMIT 1"
        ).fetchone()
        assert row is not None
        earlier.execute(
            f"SELECT * FROM {function}(ARRAY[ROW(%s, %s, %s, %s)]::"  # noqa: S608
            f'"{recorder.datastore.schema}"."{recorder.stored_event_type_name}"[])',
            row,
        )
        later = threading.Thread(target=lambda: ledger.execute(parse(register(second))))
        later.start()
        # The later save is waiting for the lock (bounded wait for it to get there).
        with psycopg.connect(POSTGRES_URL, autocommit=True) as watcher:
            deadline = time.monotonic() + 30
            while True:
                waiting = watcher.execute(
                    "SELECT COUNT(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "WHERE NOT l.granted AND c.relname = %s",
                    (recorder.events_table_name,),
                ).fetchone()
                if waiting is not None and waiting[0]:
                    break
                assert later.is_alive(), "the later save did not wait for the earlier one"
                assert time.monotonic() < deadline, "the later save never reached the lock"
                time.sleep(0.02)
        # Nothing after the earlier writer's id is visible while it is open.
        assert ledger.recorder.select_notifications(seen, 10, inclusive_of_start=False) == []
        earlier.commit()
    later.join(timeout=60)
    assert not later.is_alive()
    after = ledger.recorder.select_notifications(seen, 10, inclusive_of_start=False)
    assert [n.originator_version for n in after] == [2, 1]  # the earlier event, then the later
    assert [n.id for n in after] == sorted(n.id for n in after)
