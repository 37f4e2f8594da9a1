"""Erasure reaches the bytes: after `erase`, the erased values are in no file of the store.

Deleting a row leaves its bytes in the database's files (SQLite's free space and write-ahead
log, PostgreSQL's dead tuples) until they are overwritten. These tests read the raw files
after an erasure, on both backends, and look for every private value of the erased person and
for their destroyed key: the SQLite file and its ``-wal``; on PostgreSQL the file of every
relation of the store's schema (tables, indexes, TOAST tables and their indexes), read by the
superuser with ``pg_read_binary_file`` after a ``CHECKPOINT``. Before the erasure the same
reading finds the values, so a reading that saw nothing would fail here. An export written
after the erasure holds none of them either, and every earlier checkpoint, proof and bundle
still verifies.

(Debian's SQLite, the one here, is built with ``secure_delete`` on by default; the recorder
sets it on every connection so that builds where it is off behave the same. With it forced off
the first test fails on SQLite: the destroyed key and the blanked values stay in the file.)

PostgreSQL runs in a database of its own (made and dropped here): VACUUM FULL keeps row
versions an older transaction of the same database may still see, and the shared test
database has other people's transactions in it.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from api.bootstrap import build_ledger, build_log, build_views
from api.settings import Settings
from domain.disclosure import subject_identity
from domain.ledger import Ledger
from domain.sealed import ERASED_TEXT, OPENED_VIEW_COLUMNS, SCRUB_PENDING, pseudonym
from projections import registers
from projections.runner import ERASED
from projections.translog.bundle import export_bundle, verify_bundle
from projections.translog.checkpoint import generate_signing_key, verifier_key
from projections.translog.verify import verify_log
from tests.conftest import POSTGRES_URL, require_postgres
from tests.support import doc, parse, register, unique

ORIGIN = "reliquary.test/erasure"
SIGNING_KEY = generate_signing_key(ORIGIN)

# The erased person's private values: each is distinctive, so finding it means finding theirs.
ADA = {
    "requester": "Dr. Ada Quillfeather-Ninefold",
    "organisation": "Quillfeather Refusal Lab",
    "purpose": "map the quillfeather refusals of the model",
    "scope": "quillfeather API tier nine",
    "rationale": "quillfeather needs the API for her study",
    "reason": "quillfeather plan lacks an ethics review",
    "board": "quillfeather's application was read in full",
}
BOB_NAME = "Bob Keepsake-Unerased"


def _request(model: str, request_id: str, actor: str, values: dict[str, str]) -> dict[str, Any]:
    document = doc(
        "request_access",
        model,
        role="researcher",
        request_id=request_id,
        requester=values["requester"],
        organisation=values["organisation"],
        requester_group="academic",
        purpose=values["purpose"],
        scope=values["scope"],
    )
    return {
        **document,
        "rationale": values["rationale"],
        "actor": {"id": actor, "role": "researcher"},
    }


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(backend, database URL) of a new store; PostgreSQL in a database of its own."""
    if request.param == "sqlite":
        yield "sqlite", f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    require_postgres()
    name = f"reliquary_erasure_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    base = POSTGRES_URL.split("?")[0].rsplit("/", 1)[0]
    yield "postgres", f"{base}/{name}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _everyone(subject: str) -> bool:  # noqa: ARG001 (a board's bundle: every person's values)
    return True


def raw_bytes(backend: str, url: str) -> dict[str, bytes]:
    """Every file of the store, as the disk holds it: name -> bytes."""
    if backend == "sqlite":
        path = Path(url.removeprefix("sqlite:///"))
        files = [path, Path(f"{path}-wal"), Path(f"{path}-journal")]
        return {p.name: p.read_bytes() for p in files if p.exists()}
    found: dict[str, bytes] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")  # what shared buffers hold reaches the files
        rows = conn.execute(
            """
            WITH own AS (
                SELECT c.oid, c.reltoastrelid FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = current_schema()
            ), related AS (
                SELECT oid FROM own
                UNION SELECT reltoastrelid FROM own WHERE reltoastrelid <> 0
                UNION SELECT i.indexrelid FROM pg_index i
                    WHERE i.indrelid IN (SELECT oid FROM own)
                       OR i.indrelid IN (SELECT reltoastrelid FROM own)
            )
            SELECT c.oid::regclass::text, pg_relation_filepath(c.oid)
            FROM related r JOIN pg_class c ON c.oid = r.oid
            WHERE pg_relation_filepath(c.oid) IS NOT NULL
            """
        ).fetchall()
        assert len(rows) > 20  # the events, the log, the views, their indexes and TOAST
        for name, path in rows:
            (data,) = conn.execute("SELECT pg_read_binary_file(%s)", (path,)).fetchone()  # type: ignore[misc]
            found[name] = bytes(data)
    return found


def holding(files: dict[str, bytes], secrets: dict[str, bytes]) -> list[str]:
    """Which secret is in which file."""
    return sorted(
        f"{label} in {name}"
        for name, data in files.items()
        for label, secret in secrets.items()
        if secret in data
    )


def subject_key(ledger: Ledger, subject: str) -> str | None:
    recorder: Any = ledger.recorder
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(
            f"SELECT key FROM {recorder.subjects_table} WHERE subject = {recorder.param}",
            (subject,),
        )
        rows = cursor.fetchall()
    row = rows[0]
    return row["key"] if isinstance(row, dict) else row[0]  # type: ignore[no-any-return]


def test_erased_values_and_key_are_in_no_file_of_the_store(
    store: tuple[str, str], tmp_path: Path
) -> None:
    backend, url = store
    settings = Settings(database_url=url, log_origin=ORIGIN)
    ledger = build_ledger(settings)
    try:
        model = unique()
        ledger.execute(parse(register(model)))
        ledger.execute(parse(_request(model, "r1", "ada", ADA)))
        bob = {k: f"keepsake {k} of bob" for k in ADA} | {"requester": BOB_NAME}
        ledger.execute(parse(_request(model, "r2", "bob", bob)))
        # Others' rows around hers, so that hers is rewritten in place within shared pages.
        for n in range(30):
            ledger.execute(parse(_request(model, f"o{n}", f"other-{n}", bob)))
        log = build_log(settings, ledger)
        views = build_views(ledger, settings, tables_exist=True)
        views.catch_up()  # the register holds Ada's values opened, then rewrites her row:
        deny = doc("deny_access_request", model, role="board", request_id="r1",
                   reason_code="incomplete_application", reason=ADA["reason"])  # fmt: skip
        ledger.execute(parse({**deny, "rationale": ADA["board"]}))
        views.catch_up()  # an UPDATE, which leaves the old row version behind
        log.catch_up()
        log.checkpoint(SIGNING_KEY)
        size_before, root_before = log.size(), log.root()
        before_bundle = tmp_path / "before"
        verifier = verifier_key(SIGNING_KEY)
        export_bundle(log, before_bundle, SIGNING_KEY, verifier, disclose=_everyone)

        subject = pseudonym(ledger.pseudonym_key(), subject_identity("ada"))
        key = subject_key(ledger, subject)
        assert key
        secrets = {name: value.encode() for name, value in ADA.items()}
        secrets |= {"key (hex)": key.encode(), "key": bytes.fromhex(key)}
        # The reading can fail: before the erasure it finds her values and her key.
        found_before = holding(raw_bytes(backend, url), secrets)
        assert any(item.startswith("requester in") for item in found_before), found_before
        assert any(item.startswith("key (hex) in") for item in found_before), found_before

        ledger.execute(parse(doc("erase_subject", model, role="board", subject="ada")))

        # The erasure scrubbed the files after its commit: nothing is left pending.
        assert subject_key(ledger, subject) is None
        assert ledger.recorder.scrub_pending() == []  # type: ignore[attr-defined]
        assert holding(raw_bytes(backend, url), secrets) == []
        # The views then reach the erasure, the log takes it, an export is written: still none.
        views.catch_up()
        log.catch_up()
        after_bundle = tmp_path / "after"
        export_bundle(log, after_bundle, SIGNING_KEY, verifier, disclose=_everyone)
        exported = {p.name: p.read_bytes() for p in after_bundle.iterdir()}
        assert holding(exported, secrets) == []
        # (The same export before the erasure held them: the board's bundle has the openings.)
        earlier = {p.name: p.read_bytes() for p in before_bundle.iterdir()}
        assert "requester in openings.jsonl" in holding(earlier, secrets)
        assert holding(raw_bytes(backend, url), secrets) == []
        # The other person's values are kept, opened, in the register (and so in the files).
        rows = {r.request_id: r for r in registers.access_requests(views.recorder, model)}
        assert (rows["r1"].requester, rows["r1"].reason) == (ERASED, ERASED)
        assert rows["r2"].requester == BOB_NAME
        assert BOB_NAME.encode() in b"".join(raw_bytes(backend, url).values())
        # Every earlier checkpoint, proof and bundle still verifies.
        assert log.root(size_before) == root_before
        assert verify_log(log, verifier_key(SIGNING_KEY)).ok
        assert verify_bundle(before_bundle).ok
        assert verify_bundle(after_bundle).ok
    finally:
        ledger.close()
        shutil.rmtree(tmp_path / "before", ignore_errors=True)


def test_a_scrub_left_pending_is_done_by_the_next_call_and_may_be_repeated(
    store: tuple[str, str],
) -> None:
    """The process died between the erasure's commit and its scrub: the mark stays, and the
    next scrub (a later erasure's, or `reliquary scrub`) finds it and does it."""
    backend, url = store
    settings = Settings(database_url=url, log_origin=ORIGIN)
    ledger = build_ledger(settings)
    try:
        model = unique()
        ledger.execute(parse(register(model)))
        ledger.execute(parse(_request(model, "r1", "ada", ADA)))
        views = build_views(ledger, settings, tables_exist=True)
        views.catch_up()
        recorder: Any = ledger.recorder
        subject = pseudonym(ledger.pseudonym_key(), subject_identity("ada"))
        secrets = {name: value.encode() for name, value in ADA.items()}
        # The erasure commits, and its process dies before the scrub.
        erase = parse(doc("erase_subject", model, role="board", subject="ada"))
        ledger.scrub_erased = lambda **_: None  # type: ignore[assignment,method-assign,return-value]
        ledger.execute(erase)
        del ledger.scrub_erased
        assert subject_key(ledger, subject) == SCRUB_PENDING
        assert recorder.scrub_pending()[0][0] == subject
        # Her values are already unreadable, and blanked in the register in the erasure's
        # transaction (before the view reaches the event); on PostgreSQL the old row
        # versions are still in the files.
        row = registers.access_requests(views.recorder, model)[0]
        assert {row.requester, row.organisation, row.purpose} == {ERASED}
        if backend == "postgres":
            assert holding(raw_bytes(backend, url), secrets) != []

        done = ledger.scrub_erased()

        assert done.complete and done.subjects == (subject,), done
        assert subject_key(ledger, subject) is None
        assert holding(raw_bytes(backend, url), secrets) == []
        again = ledger.scrub_erased(force=True)
        assert again.complete and again.subjects == ()
    finally:
        ledger.close()


def test_the_erasure_blanks_every_view_that_stores_opened_values() -> None:
    """`domain.sealed.OPENED_VIEW_COLUMNS` names the tables of the views that open sealed
    values (the domain cannot import the views, so this holds the two in step)."""
    from projections.registers import AccessView, EssayView, PreferenceView
    from projections.search import SearchView
    from projections.signals import SignalView
    from projections.views import StatusView, TimelineView

    every = (TimelineView, StatusView, AccessView, EssayView, PreferenceView, SearchView,
             SignalView)  # fmt: skip
    opening = [view for view in every if view.opens_sealed]
    assert opening == [AccessView]
    assert set(OPENED_VIEW_COLUMNS) == {"view_access_requests"} <= set(AccessView.tables)
    assert ERASED_TEXT == ERASED
