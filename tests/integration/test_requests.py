"""Faults between a request and its record: keys, leases, stored events and restores.

A server can die after reserving an Idempotency-Key, after recording a command, or while its
connection is dropped mid-commit. Each test reproduces one such moment on both backends and
checks what a retry finds: nothing stuck, nothing recorded twice, nothing acknowledged lost.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

from domain.decisions_table import command_facts, decide
from domain.errors import LedgerError, RequestKeyTaken
from domain.ledger import MODEL_LOCK_STRIPES, Ledger, justification
from domain.requests import RequestKey, StoredRequest
from tests.support import doc, parse, register, signal_period, stored_manifests, unique


def _signal(model: str, value: float = 1.0) -> dict[str, Any]:
    return doc(
        "record_signal",
        model,
        kind="research_use",
        **signal_period(int(value)),
        value=value,
        unit="count",
    )


def _reserve(ledger: Ledger, key: str, *, lease: float = 60, ttl: float = 3600) -> Any:
    keys: Any = ledger.recorder
    return keys.reserve("curator-1", key, "digest", lease_seconds=lease, ttl_seconds=ttl)


def test_a_key_is_reserved_once_and_its_outcome_is_written_with_the_event(
    ledger: Ledger,
) -> None:
    model = unique()
    ledger.execute(parse(register(model)))
    key = uuid.uuid4().hex
    reserved = _reserve(ledger, key)
    assert isinstance(reserved, RequestKey)
    running = _reserve(ledger, key)
    assert isinstance(running, StoredRequest)
    assert running.running and running.lease_left() > 50

    recorded = ledger.execute(parse(_signal(model)), request=reserved)

    stored = ledger.recorder.stored_request("curator-1", key)  # type: ignore[attr-defined]
    assert stored is not None and stored.status == 201
    assert (stored.version, stored.notification_id) == (recorded.version, recorded.sequence)
    assert stored.topic == "reliquary/SignalRecorded/v1"


def test_a_lease_that_expired_is_taken_over_and_its_first_holder_records_nothing(
    ledger: Ledger,
) -> None:
    model = unique()
    ledger.execute(parse(register(model)))
    key = uuid.uuid4().hex
    first = _reserve(ledger, key, lease=0)  # the server that held it died at once
    assert isinstance(first, RequestKey)
    second = _reserve(ledger, key)
    assert isinstance(second, RequestKey) and second.lease != first.lease

    ledger.execute(parse(_signal(model)), request=second)
    with pytest.raises(RequestKeyTaken):
        ledger.execute(parse(_signal(model, 2.0)), request=first)

    assert ledger.version_of(model) == 2  # registered, then the one signal of the key


def test_a_key_recorded_before_a_crash_is_found_finished_by_the_retry(ledger: Ledger) -> None:
    model = unique()
    ledger.execute(parse(register(model)))
    key = uuid.uuid4().hex
    reserved = _reserve(ledger, key, lease=0)
    # The server recorded the command, then died before it answered.
    ledger.execute(parse(_signal(model)), request=reserved)

    retry = _reserve(ledger, key)

    assert isinstance(retry, StoredRequest) and retry.status == 201 and not retry.running
    assert ledger.version_of(model) == 2


def test_a_refused_command_leaves_its_key_to_the_caller_and_appends_nothing(
    ledger: Ledger,
) -> None:
    key = uuid.uuid4().hex
    reserved = _reserve(ledger, key)
    head = ledger.recorder.max_notification_id()
    with pytest.raises(LedgerError):
        ledger.execute(parse(_signal(unique())), request=reserved)  # no such model
    assert ledger.recorder.max_notification_id() == head
    keys: Any = ledger.recorder
    keys.release(reserved)
    assert keys.stored_request("curator-1", key) is None


def test_keys_expire_and_are_purged(ledger: Ledger) -> None:
    keys: Any = ledger.recorder
    old = uuid.uuid4().hex
    assert isinstance(_reserve(ledger, old), RequestKey)
    time.sleep(0.01)
    assert isinstance(_reserve(ledger, uuid.uuid4().hex, ttl=0.005), RequestKey)
    assert keys.stored_request("curator-1", old) is None


def test_a_save_that_finds_its_own_events_stored_is_not_applied_twice(ledger: Ledger) -> None:
    """The connection failed after the server committed; the store's retry met the events."""
    model = unique()
    ledger.execute(parse(register(model)))
    command = parse(_signal(model))
    lifecycle = ledger.state(model)
    decide(lifecycle, "record_signal", justification(command), command_facts(command))
    events = list(lifecycle.pending_events)
    ledger.recorder.insert_events([ledger.mapper.to_stored_event(e) for e in events])

    found = ledger._save(lifecycle, None)

    assert len(found) == 1
    assert len(ledger.history(model)) == 2


def test_another_writers_event_at_that_version_is_still_a_conflict(ledger: Ledger) -> None:
    from eventsourcing.persistence import IntegrityError

    model = unique()
    ledger.execute(parse(register(model)))
    mine, theirs = parse(_signal(model, 1.0)), parse(_signal(model, 2.0))
    lifecycle = ledger.state(model)
    other = ledger.repository.get(lifecycle.id)
    decide(other, "record_signal", justification(theirs), command_facts(theirs))
    ledger.save(other)
    decide(lifecycle, "record_signal", justification(mine), command_facts(mine))
    with pytest.raises(IntegrityError):
        ledger._save(lifecycle, None)


def test_refused_commands_grow_no_table_of_locks(ledger: Ledger) -> None:
    for _ in range(200):
        with pytest.raises(LedgerError):
            ledger.execute(parse(_signal(unique())))
    assert len(ledger._model_locks) == MODEL_LOCK_STRIPES


@pytest.fixture
def empty_target(database_url: str, tmp_path: Any) -> Iterator[Ledger]:
    """A second, empty store of the same backend."""
    from api.bootstrap import build_ledger
    from api.settings import Settings
    from tests.conftest import _admin

    if database_url.startswith("sqlite"):
        url, schema = f"sqlite:///{tmp_path / 'target.db'}", None
    else:
        schema = f"t_{uuid.uuid4().hex[:16]}"
        url = database_url.split("?")[0] + f"?schema={schema}"
    target = build_ledger(Settings(database_url=url))
    yield target
    target.close()
    if schema:
        _admin(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_a_restore_interrupted_while_storing_stores_nothing(
    ledger: Ledger, empty_target: Ledger
) -> None:
    from api.cli.demo import load_demo

    load_demo(ledger)
    source: list[StoredEvent] = [
        StoredEvent(n.originator_id, n.originator_version, n.topic, n.state)
        for n in ledger.notifications_after(0)
    ]
    lists = stored_manifests(ledger)
    passes = 0

    def read() -> Iterator[StoredEvent]:
        nonlocal passes
        passes += 1
        for number, event in enumerate(source):
            if passes == 2 and number == len(source) // 2:
                raise KeyboardInterrupt  # killed halfway through storing
            yield event

    with pytest.raises(KeyboardInterrupt):
        empty_target.restore(read, batch_size=10, manifests=lists)

    assert not empty_target.recorder.max_notification_id()
    # Nothing is half-stored, so the next restore starts over and stores everything.
    assert empty_target.restore(lambda: iter(source), batch_size=10, manifests=lists) == len(source)
