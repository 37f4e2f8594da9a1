"""Append-only storage: triggers refuse edits; an edit that bypasses them is caught by verify.

The events table is protected by the ledger's own recorder, so by whichever command first
opens a store; the log's tables by the log's recorder.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

import psycopg
import pytest

from api.bootstrap import build_ledger, build_log
from api.cli import main
from api.cli.demo import load_demo
from api.settings import Settings
from projections.translog.checkpoint import generate_signing_key, verifier_key
from projections.translog.verify import verify_log
from tests.conftest import POSTGRES_URL, require_postgres

SIGNING_KEY = generate_signing_key("reliquary.test/ledger")
LOG_TABLES = ["translog_leaves", "translog_nodes", "translog_models", "translog_checkpoints"]
# A column of each table, to write an UPDATE that would change nothing.
COLUMN = {
    "stored_events": "topic",
    "ledger_events": "topic",
    "translog_leaves": "idx",
    "translog_nodes": "hash",
    "translog_models": "name",
    "translog_checkpoints": "note",
}


def _demo_log(database_url: str):  # type: ignore[no-untyped-def]
    settings = Settings(database_url=database_url, log_origin="reliquary.test/ledger")
    ledger = build_ledger(settings)
    load_demo(ledger)
    log = build_log(settings, ledger)
    log.checkpoint(SIGNING_KEY)
    return log


def _apply_one_model(database_url: str, directory: Path) -> None:
    """`reliquary apply` of one register_model line, on a store nobody ran `init` on."""
    first_line = (Path(__file__).parents[2] / "docs/examples/one-model.jsonl").read_text()
    document = json.loads(first_line.splitlines()[0])
    assert document["command"] == "register_model"
    file = directory / "one-model.jsonl"
    file.write_text(json.dumps(document) + "\n")
    assert main(["--database-url", database_url, "apply", str(file)]) == 0


def _tampered_rationale(state: bytes) -> bytes:
    # Rewrite history: the stored rationale of one event now says something else.
    return state.replace(b'"rationale":"', b'"rationale":"(rewritten) ', 1)


# -- SQLite ------------------------------------------------------------------------------------


def test_sqlite_triggers_refuse_update_and_delete(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ledger.db"
    _demo_log(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        for table in ["stored_events", *LOG_TABLES]:
            column = COLUMN[table]
            for statement in (f"UPDATE {table} SET {column} = {column}", f"DELETE FROM {table}"):
                with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                    db.execute(statement)


def test_sqlite_events_refuse_edits_after_apply_alone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ledger.db"
    _apply_one_model(f"sqlite:///{path}", tmp_path)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM stored_events").fetchone() == (1,)
        for statement in ("UPDATE stored_events SET topic = topic", "DELETE FROM stored_events"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute(statement)
        assert db.execute("SELECT COUNT(*) FROM stored_events").fetchone() == (1,)


# One changed byte anywhere in a stored event: a fact, the topic column, the aggregate topic a
# registration stores, and a space that changes no value (the leaf hashes the stored bytes).
TAMPERINGS = {
    "rationale": ("state", 7, _tampered_rationale),
    "topic": ("topic", 0, lambda topic: topic.replace("/v1", "/v2")),
    "aggregate topic": ("state", 0, lambda state: state.replace(b"Lifecycle/v1", b"Lifecycle/v2")),
    "a space": ("state", 3, lambda state: state.replace(b'":', b'": ', 1)),
}


@pytest.mark.parametrize("tampering", sorted(TAMPERINGS))
def test_sqlite_byte_changed_anywhere_in_an_event_is_named_by_verify(
    tmp_path, tampering: str
) -> None:  # type: ignore[no-untyped-def]
    column, sequence, change = TAMPERINGS[tampering]
    path = tmp_path / "ledger.db"
    log = _demo_log(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        db.execute("DROP TRIGGER stored_events_no_update")
        rowid, value = db.execute(
            f"SELECT rowid, {column} FROM stored_events ORDER BY rowid LIMIT 1 OFFSET {sequence}"
        ).fetchone()
        changed = change(value)
        assert changed != value
        db.execute(f"UPDATE stored_events SET {column} = ? WHERE rowid = ?", (changed, rowid))
    report = verify_log(log, verifier_key(SIGNING_KEY))
    assert not report.ok
    assert report.first_bad_sequence == sequence
    assert report.problems[0].startswith(f"sequence {sequence}:")


@pytest.mark.parametrize("tampering", sorted(TAMPERINGS))
def test_postgres_byte_changed_anywhere_in_an_event_is_named_by_verify(
    pg_schema: str, tampering: str
) -> None:
    column, sequence, change = TAMPERINGS[tampering]
    log = _demo_log(f"{POSTGRES_URL}?schema={pg_schema}")
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"DROP TRIGGER ledger_events_append_only ON {pg_schema}.ledger_events")
        notification_id, value = conn.execute(
            f"SELECT notification_id, {column} FROM {pg_schema}.ledger_events "
            f"ORDER BY notification_id LIMIT 1 OFFSET {sequence}"
        ).fetchone()
        value = bytes(value) if column == "state" else value
        conn.execute(
            f"UPDATE {pg_schema}.ledger_events SET {column} = %s WHERE notification_id = %s",
            (change(value), notification_id),
        )
    report = verify_log(log, verifier_key(SIGNING_KEY))
    assert report.first_bad_sequence == sequence
    assert f"sequence {sequence}" in report.problems[0]


def test_sqlite_edit_bypassing_the_triggers_is_named_by_verify(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ledger.db"
    log = _demo_log(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        # As the file's owner, drop the trigger and rewrite the 8th event (sequence 7).
        db.execute("DROP TRIGGER stored_events_no_update")
        rowid, state = db.execute(
            "SELECT rowid, state FROM stored_events ORDER BY rowid LIMIT 1 OFFSET 7"
        ).fetchone()
        db.execute(
            "UPDATE stored_events SET state = ? WHERE rowid = ?",
            (_tampered_rationale(state), rowid),
        )
    report = verify_log(log, verifier_key(SIGNING_KEY))
    assert not report.ok
    assert report.first_bad_sequence == 7
    assert report.problems[0].startswith("sequence 7:")


# -- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture
def pg_schema():  # type: ignore[no-untyped-def]
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield schema
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_postgres_triggers_refuse_update_delete_and_truncate(pg_schema: str) -> None:
    _demo_log(f"{POSTGRES_URL}?schema={pg_schema}")
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        for table in ["ledger_events", *LOG_TABLES]:
            column = COLUMN[table]
            for statement in (
                f"UPDATE {pg_schema}.{table} SET {column} = {column}",
                f"DELETE FROM {pg_schema}.{table}",
                f"TRUNCATE {pg_schema}.{table} CASCADE",
            ):
                with pytest.raises(psycopg.Error, match="append-only"):
                    conn.execute(statement)


def test_postgres_events_refuse_edits_after_apply_alone(pg_schema: str, tmp_path: Path) -> None:
    _apply_one_model(f"{POSTGRES_URL}?schema={pg_schema}", tmp_path)
    events = f"{pg_schema}.ledger_events"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        assert conn.execute(f"SELECT COUNT(*) FROM {events}").fetchone() == (1,)
        for statement in (
            f"UPDATE {events} SET topic = topic",
            f"DELETE FROM {events}",
            f"TRUNCATE {events}",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(statement)
        assert conn.execute(f"SELECT COUNT(*) FROM {events}").fetchone() == (1,)


def test_postgres_edit_bypassing_the_triggers_is_named_by_verify(pg_schema: str) -> None:
    log = _demo_log(f"{POSTGRES_URL}?schema={pg_schema}")
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"DROP TRIGGER ledger_events_append_only ON {pg_schema}.ledger_events")
        notification_id, state = conn.execute(
            f"SELECT notification_id, state FROM {pg_schema}.ledger_events "
            "ORDER BY notification_id LIMIT 1 OFFSET 12"
        ).fetchone()
        conn.execute(
            f"UPDATE {pg_schema}.ledger_events SET state = %s WHERE notification_id = %s",
            (_tampered_rationale(bytes(state)), notification_id),
        )
    report = verify_log(log, verifier_key(SIGNING_KEY))
    assert report.first_bad_sequence == 12
    assert "sequence 12" in report.problems[0]


def test_postgres_service_role_may_only_insert_and_read(pg_schema: str) -> None:
    url = f"{POSTGRES_URL}?schema={pg_schema}"
    _demo_log(url).ledger.close()  # the owner's ledger, with its log and a checkpoint
    role = f"svc_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
    reader = f"ro_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {reader} LOGIN")
        conn.execute(f"GRANT USAGE ON SCHEMA {pg_schema} TO {reader}")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {pg_schema} TO {reader}")
    try:
        # A role that may only read cannot append through the ledger's insert function.
        call = f"SELECT {pg_schema}.ledger_events_insert(ARRAY[]::{pg_schema}.stored_event_uuid[])"
        with (
            psycopg.connect(POSTGRES_URL.replace("postgres@", f"{reader}@", 1)) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute(call)
        # The owner's one command (tests/e2e/test_hardened_deployment.py has the whole of it).
        assert main(["--database-url", url, "grant-service-role", role]) == 0
        service = POSTGRES_URL.replace("postgres@", f"{role}@", 1) + f"?schema={pg_schema}"
        settings = Settings(
            database_url=service, create_tables=False, log_origin="reliquary.test/ledger"
        )
        ledger = build_ledger(settings)
        # The service role writes decisions and follows the log...
        from tests.support import doc, parse

        ledger.execute(
            parse(
                doc(
                    "record_signal",
                    "claude-opus-3",
                    role="curator",
                    kind="research_use",
                    period_start="2026-03-01",
                    period_end="2026-03-31",
                    value=3.0,
                    unit="count",
                )
            )
        )
        assert build_log(settings, ledger).catch_up() == 1
        ledger.close()
        # ...but even with the triggers gone, its privileges refuse edits.
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP TRIGGER ledger_events_append_only ON {pg_schema}.ledger_events")
        with psycopg.connect(service.split("?")[0], autocommit=True) as conn:
            for statement in (
                f"UPDATE {pg_schema}.ledger_events SET topic = topic",
                f"DELETE FROM {pg_schema}.translog_nodes",
                f"TRUNCATE {pg_schema}.ledger_events",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            for who in (role, reader):
                conn.execute(f"DROP OWNED BY {who}")
                conn.execute(f"DROP ROLE {who}")
