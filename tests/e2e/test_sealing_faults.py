"""Faults around sealing and erasure: killed processes, dropped connections, retries, races.

An erasure is one transaction: its `SubjectErased` event, the destruction of the person's key
and the deletion of their openings are committed together or not at all. These tests cut it at
each moment (a process killed with SIGKILL before or after the key is destroyed, or after the
commit and before the scrub; a connection dropped inside the transaction or at its commit) and
require that the store never holds the event without the destroyed key, or the destroyed key
without the event, and that a retry erases exactly once. A command that seals values retried
under the same ``Idempotency-Key`` (after its commit, or after a connection dropped at its
commit) stores one event and one set of openings and answers the same. Two requests sealed at
once lose nothing. And the HTTP service writes no private value to its logs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import OperationalError
from fastapi.testclient import TestClient

from api.bootstrap import build_ledger
from api.cli import main
from api.http.app import create_app
from api.settings import Settings
from domain import errors
from domain.decisions import sealed_in
from domain.disclosure import subject_identity
from domain.ledger import Ledger
from domain.sealed import pseudonym
from tests.conftest import POSTGRES_URL
from tests.support import doc, parse, register, signing_environment, unique

ROOT = Path(__file__).resolve().parents[2]

ADA = {
    "requester": "Ada Faultline-Quorum",
    "organisation": "Faultline Quorum Institute",
    "purpose": "replicate the faultline refusal study",
    "scope": "faultline API tier",
    "rationale": "faultline study needs the model",
}


def _request(model: str, request_id: str, actor: str = "ada") -> dict[str, Any]:
    document = doc(
        "request_access",
        model,
        role="researcher",
        request_id=request_id,
        requester=ADA["requester"],
        organisation=ADA["organisation"],
        requester_group="academic",
        purpose=ADA["purpose"],
        scope=ADA["scope"],
    )
    actor_of = {"id": actor, "role": "researcher"}
    return {**document, "rationale": ADA["rationale"], "actor": actor_of}


def _erase(model: str, subject: str = "ada") -> dict[str, Any]:
    return doc("erase_subject", model, role="board", subject=subject)


def _subject(ledger: Ledger, actor: str = "ada") -> str:
    return pseudonym(ledger.pseudonym_key(), subject_identity(actor))


def _openings(ledger: Ledger, subject: str) -> int:
    recorder: Any = ledger.recorder
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(
            f"SELECT COUNT(*) AS n FROM {recorder.openings_table} WHERE subject = {recorder.param}",
            (subject,),
        )
        row = cursor.fetchone()
    return int(row["n"] if isinstance(row, dict) else row[0])


def erasure_state(ledger: Ledger, model: str, subject: str) -> tuple[int, str | None, int]:
    """(SubjectErased events for the subject, the subject's key state, their openings)."""
    erased = [
        e
        for e in ledger.history(model)
        if type(e).__name__ == "SubjectErased" and e.subject == subject  # type: ignore[attr-defined]
    ]
    state = ledger.recorder.subject_state(subject)  # type: ignore[attr-defined]
    return len(erased), state, _openings(ledger, subject)


def assert_all_or_nothing(state: tuple[int, str | None, int], sealed: int) -> None:
    """Either the erasure happened whole, or not at all."""
    assert state in {(0, "active", sealed), (1, "erased", 0)}, state


def _prepared(url: str) -> tuple[str, int]:
    """A model with one request of Ada's; the number of values it sealed."""
    ledger = build_ledger(Settings(database_url=url))
    try:
        model = unique()
        ledger.execute(parse(register(model)))
        ledger.execute(parse(_request(model, "r1")))
        requested = ledger.history(model)[-1]
        sealed = sum(1 for field in vars(requested).values() for _ in sealed_in(field))
        assert sealed >= 5  # requester, organisation, purpose, scope, rationale at least
        assert _openings(ledger, _subject(ledger)) == sealed
        return model, sealed
    finally:
        ledger.close()


# -- (a) an erasure cut at each moment -------------------------------------------------------

KILLER = """
import json, os, signal, sys
from api.bootstrap import build_ledger
from api.cli import main
from api.settings import Settings
from domain.commands import parse_command_object

url, moment, document = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
ledger = build_ledger(Settings(database_url=url))
recorder = ledger.recorder
erase_subject = recorder.erase_subject

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def erase_then_die(cursor, subject):
    if moment == "before-key":
        die()
    erased = erase_subject(cursor, subject)
    if moment == "after-key":  # the key destroyed and the openings deleted, not committed
        die()
    return erased

recorder.erase_subject = erase_then_die
if moment == "before-scrub":  # committed; the process dies before the files are scrubbed
    ledger.scrub_erased = lambda **_: die()
ledger.execute(parse_command_object(document))
print("not killed")
"""


@pytest.mark.parametrize("moment", ["before-key", "after-key", "before-scrub"])
def test_a_process_killed_during_an_erasure_erases_all_or_nothing_and_the_retry_once(
    database_url: str, moment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    model, sealed = _prepared(database_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELIQUARY_")}
    killed = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", KILLER, database_url, moment, json.dumps(_erase(model))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]

    ledger = build_ledger(Settings(database_url=database_url))
    try:
        subject = _subject(ledger)
        state = erasure_state(ledger, model, subject)
        assert_all_or_nothing(state, sealed)
        assert state[0] == (1 if moment == "before-scrub" else 0)
        if moment == "before-scrub":
            # Recorded, key destroyed; the scrub is pending, and the next one does it.
            assert ledger.recorder.scrub_pending()[0][0] == subject  # type: ignore[attr-defined]
            with pytest.raises(errors.SubjectAlreadyErased):
                ledger.execute(parse(_erase(model)))
            # The operator's maintenance command finds it pending and does it, once.
            assert main(["--database-url", database_url, "scrub", "--json"]) == 0
            done = json.loads(capsys.readouterr().out)
            assert done["subjects"] == [subject] and done["complete"], done
            assert ledger.recorder.scrub_pending() == []  # type: ignore[attr-defined]
            assert main(["--database-url", database_url, "scrub", "--json"]) == 0
            assert json.loads(capsys.readouterr().out)["subjects"] == []
        else:
            ledger.execute(parse(_erase(model)))  # the retry erases, once
            with pytest.raises(errors.SubjectAlreadyErased):
                ledger.execute(parse(_erase(model)))
        assert erasure_state(ledger, model, subject) == (1, "erased", 0)
    finally:
        ledger.close()


class _Fault:
    """Fail a store's transaction once: inside it (before its commit) or right after it."""

    def __init__(self, ledger: Ledger, url: str) -> None:
        self.recorder: Any = ledger.recorder
        self.postgres = not url.startswith("sqlite")
        self.fired = False

    def drop_inside(self, cursor: Any) -> None:
        """The connection is lost in the middle of the transaction."""
        if self.fired:
            return
        self.fired = True
        if self.postgres:  # the server ends the session: the transaction is rolled back
            pid = cursor.connection.info.backend_pid
            with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            cursor.execute("SELECT 1")  # raises: the connection is gone
        raise OperationalError("disk I/O error (injected)")

    @contextlib.contextmanager
    def dropped_at_commit(self) -> Iterator[None]:
        """The server commits the transaction that stores openings or erases a key; the answer
        to its COMMIT never reaches the client (once). Other transactions (an
        Idempotency-Key's reservation) are left alone."""
        datastore = self.recorder.datastore
        transaction = datastore.transaction
        armed: list[bool] = []

        def arming(method: Any) -> Any:
            def armed_call(*args: Any, **kwargs: Any) -> Any:
                armed.append(True)
                return method(*args, **kwargs)

            return armed_call

        @contextlib.contextmanager
        def committed_then_lost(*args: Any, **kwargs: Any) -> Iterator[Any]:
            armed.clear()
            with transaction(*args, **kwargs) as cursor:
                yield cursor
            if kwargs.get("commit") and armed and not self.fired:
                self.fired = True
                raise OperationalError("server closed the connection unexpectedly (injected)")

        datastore.transaction = committed_then_lost
        self.recorder.store_openings = arming(self.recorder.store_openings)
        self.recorder.erase_subject = arming(self.recorder.erase_subject)
        try:
            yield
        finally:
            del datastore.transaction
            del self.recorder.store_openings
            del self.recorder.erase_subject


def test_a_connection_dropped_inside_an_erasure_leaves_all_or_nothing(database_url: str) -> None:
    model, sealed = _prepared(database_url)
    ledger = build_ledger(Settings(database_url=database_url))
    try:
        subject = _subject(ledger)
        fault = _Fault(ledger, database_url)
        erase_subject = fault.recorder.erase_subject

        def dropped(cursor: Any, who: str) -> int:
            erased = erase_subject(cursor, who)  # the key destroyed, not yet committed
            fault.drop_inside(cursor)
            return int(erased)

        fault.recorder.erase_subject = dropped
        try:
            # PostgreSQL's store retries a lost connection itself (the transaction was rolled
            # back); SQLite's reports it, and the caller retries.
            with contextlib.suppress(OperationalError):
                ledger.execute(parse(_erase(model)))
        finally:
            del fault.recorder.erase_subject
        assert fault.fired
        state = erasure_state(ledger, model, subject)
        assert_all_or_nothing(state, sealed)
        if state[0] == 0:
            ledger.execute(parse(_erase(model)))
        with pytest.raises(errors.SubjectAlreadyErased):
            ledger.execute(parse(_erase(model)))
        assert erasure_state(ledger, model, subject) == (1, "erased", 0)
    finally:
        ledger.close()


def test_a_connection_dropped_at_an_erasures_commit_erases_once(database_url: str) -> None:
    model, _ = _prepared(database_url)
    ledger = build_ledger(Settings(database_url=database_url))
    try:
        subject = _subject(ledger)
        fault = _Fault(ledger, database_url)
        with fault.dropped_at_commit(), contextlib.suppress(OperationalError):
            ledger.execute(parse(_erase(model)))
        assert fault.fired
        # Committed: the event with the destroyed key. A retry meets the erasure recorded.
        assert erasure_state(ledger, model, subject) == (1, "erased", 0)
        with pytest.raises(errors.SubjectAlreadyErased):
            ledger.execute(parse(_erase(model)))
        assert erasure_state(ledger, model, subject) == (1, "erased", 0)
    finally:
        ledger.close()


# -- (b) a sealing command retried under its Idempotency-Key -----------------------------------


@pytest.fixture
def http(database_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Any, dict[str, str]]]:
    """The app on a fresh store: (client, services, a token per actor)."""
    key = tmp_path / "signing.key"
    with signing_environment(key, "reliquary.test/faults"):
        settings = Settings(database_url=database_url)
        app = create_app(settings)
        with TestClient(app, raise_server_exceptions=False) as client:
            services = app.state.services
            tokens = {
                actor: services.actors.add(actor, role).token
                for actor, role in (("ada", "researcher"), ("board-1", "board"), ("cur", "curator"))
            }
            yield client, services, tokens


def _post(
    client: TestClient, token: str, path: str, body: dict[str, Any], key: str | None = None
) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(path, json=body, headers=headers)


def _request_body(request_id: str) -> dict[str, Any]:
    body = {k: v for k, v in ADA.items() if k != "rationale"}
    return {**body, "request_id": request_id, "requester_group": "academic",
            "rationale": ADA["rationale"]}  # fmt: skip


def _answer(response: Any) -> dict[str, Any]:
    """What a recorded command's answer says (the log's sequence is given once it has it)."""
    body = dict(response.json())
    body.pop("sequence", None)
    return body


def test_a_sealing_request_retried_under_its_key_stores_one_event_and_one_set_of_openings(
    http: tuple[TestClient, Any, dict[str, str]], database_url: str
) -> None:
    client, services, tokens = http
    ledger: Ledger = services.ledger
    model = unique()
    ledger.execute(parse(register(model)))
    path = f"/models/{model}/access-requests"
    subject = _subject(ledger)

    # Retried after its commit: the answer is replayed, nothing is stored again.
    key = uuid.uuid4().hex
    first = _post(client, tokens["ada"], path, _request_body("r1"), key)
    again = _post(client, tokens["ada"], path, _request_body("r1"), key)
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert _answer(again) == _answer(first)
    requested = [e for e in ledger.history(model) if type(e).__name__ == "AccessRequested"]
    assert len(requested) == 1
    sealed = sum(1 for field in vars(requested[0]).values() for _ in sealed_in(field))
    assert _openings(ledger, subject) == sealed

    # The connection dropped at the commit: the retry finds it recorded, once.
    key = uuid.uuid4().hex
    fault = _Fault(ledger, database_url)
    with fault.dropped_at_commit():
        dropped = _post(client, tokens["ada"], path, _request_body("r2"), key)
    assert fault.fired
    # PostgreSQL's store retries the lost commit itself and finds its events stored (201);
    # SQLite's reports the failure (5xx), and the client retries.
    assert dropped.status_code in (201, 500, 503), dropped.text
    retried = _post(client, tokens["ada"], path, _request_body("r2"), key)
    once_more = _post(client, tokens["ada"], path, _request_body("r2"), key)
    assert retried.status_code == once_more.status_code == 201, retried.text
    assert _answer(retried) == _answer(once_more)
    assert {k: _answer(retried)[k] for k in ("model", "event", "version")} == {
        "model": model,
        "event": "AccessRequested",
        "version": 3,
    }
    if dropped.status_code == 201:  # the store's own retry answers as the replays do
        assert _answer(dropped) == _answer(retried)
        assert _answer(dropped)["notification_id"] is not None
    requested = [e for e in ledger.history(model) if type(e).__name__ == "AccessRequested"]
    assert [e.request_id for e in requested] == ["r1", "r2"]  # type: ignore[attr-defined]
    assert _openings(ledger, subject) == 2 * sealed
    # Each stored opening opens its own event's commitment.
    values = [v for e in requested for f in vars(e).values() for v in sealed_in(f)]
    opened = ledger.opened(values)
    assert len(opened) == len(values) == 2 * sealed
    assert all(o.value is not None and not o.erased for o in opened.values())


# -- (c) sealing under concurrency -------------------------------------------------------------


def test_two_requests_sealed_at_once_lose_nothing(database_url: str) -> None:
    """Two writers (two ledgers, as two processes) seal requests of the same person at once."""
    model, sealed = _prepared(database_url)
    ledgers = [build_ledger(Settings(database_url=database_url)) for _ in range(2)]
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def write(ledger: Ledger, request_id: str) -> None:
        try:
            barrier.wait(timeout=30)
            ledger.execute(parse(_request(model, request_id)))
        except BaseException as error:  # noqa: BLE001 (reported by the test)
            failures.append(error)

    try:
        for round_ in range(5):
            threads = [
                threading.Thread(target=write, args=(ledger, f"c{round_}-{n}"))
                for n, ledger in enumerate(ledgers)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
        assert failures == []
        ledger = ledgers[0]
        requested = [e for e in ledger.history(model) if type(e).__name__ == "AccessRequested"]
        assert len(requested) == 11  # r1 and the ten written in pairs
        values = [v for e in requested for f in vars(e).values() for v in sealed_in(f)]
        assert len({v.commitment for v in values}) == len(values) == 11 * sealed
        opened = ledger.opened(values)
        assert len(opened) == len(values)
        assert {o.value for o in opened.values()} >= set(ADA.values())
        assert _openings(ledger, _subject(ledger)) == 11 * sealed
    finally:
        for each in ledgers:
            each.close()


# -- what the service writes to its logs -------------------------------------------------------


def test_the_http_service_logs_no_private_value(
    http: tuple[TestClient, Any, dict[str, str]],
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, services, tokens = http
    caplog.set_level(logging.DEBUG)
    model = unique()
    services.ledger.execute(parse(register(model)))
    path = f"/models/{model}/access-requests"
    assert _post(client, tokens["ada"], path, _request_body("r1")).status_code == 201
    # A refused one, a malformed one, and one that meets a failing store.
    assert _post(client, tokens["ada"], path, _request_body("r1")).status_code == 409
    bad = _request_body("r2") | {"requester_group": f"not a group {ADA['requester']}"}
    assert _post(client, tokens["ada"], path, bad).status_code == 422
    fault = _Fault(services.ledger, database_url)
    erase_subject = fault.recorder.erase_subject

    def failing(cursor: Any, who: str) -> int:
        erased = erase_subject(cursor, who)
        raise RuntimeError(f"injected failure while erasing {who}")
        return int(erased)  # pragma: no cover

    fault.recorder.erase_subject = failing
    try:
        broken = _post(client, tokens["board-1"], f"/models/{model}/subjects/ada/erase",
                       {"rationale": "erasure requested"})  # fmt: skip
    finally:
        del fault.recorder.erase_subject
    assert broken.status_code == 500
    erased = _post(client, tokens["board-1"], f"/models/{model}/subjects/ada/erase",
                   {"rationale": "erasure requested"})  # fmt: skip
    assert erased.status_code == 201, erased.text
    assert client.get(f"/models/{model}/history", headers={
        "Authorization": f"Bearer {tokens['board-1']}"}).status_code == 200  # fmt: skip

    assert caplog.records  # the failure above was logged, so the capture works
    logged = "\n".join(
        [caplog.text] + [str(r.args) + str(r.exc_text) + str(r.__dict__) for r in caplog.records]
    )
    for value in ADA.values():
        assert value not in logged, value
