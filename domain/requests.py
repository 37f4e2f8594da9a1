"""Requests applied once: ``Idempotency-Key`` leases, and their outcomes beside the events.

A client that may retry a command sends a key with it. The key's row lives in the event store
(``ledger_requests``), and its life is:

1. **Reserved.** The first request with a key inserts the row with a *lease*: a random holder
   id and a moment it expires (`reserve`). A repeat while the lease runs is told the request
   is in progress; a repeat after the lease has expired (the server died, the connection
   dropped) takes the lease over, because of step 2 nothing can have been recorded under it.
2. **Recorded.** The command's events are saved in one transaction with the row's outcome
   (`complete_recorded`, called by the event store's insert): the row says 201, and which
   event, only if those events exist, and those events exist only if the row says so. The
   update names the lease, so a holder whose lease was taken over records nothing
   (`RequestKeyTaken` rolls its transaction back).
3. **Refused.** A refusal that would be the same on a retry (an invalid body, a lifecycle rule,
   a missing model) is kept under the key (`complete_refused`); a transient one (a
   concurrency conflict, an unavailable store, a server error) is not: the lease is released
   (`release`) and the retry runs the command again.

Rows expire ``ttl_seconds`` after they were reserved and are purged by the next reservation,
so neither refusals nor successes grow the table without bound.

`RequestRecords` is a mixin of the two event-store recorders (`domain.sqlite_recorder`,
`domain.postgres_recorder`); its statements are written once with ``{p}`` for the placeholder,
in the tables its `requests_table` names.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from domain.errors import RequestKeyTaken

REQUESTS_TABLE = "ledger_requests"
"""The event store's table of request keys (created with the events table)."""


@dataclass(frozen=True)
class RequestKey:
    """A reserved key: whose, which, and the lease that holds it."""

    actor_id: str
    key: str
    lease: str


@dataclass(frozen=True)
class StoredRequest:
    """What is kept under a key another request reserved first."""

    request_sha256: str
    status: int | None
    """201 (recorded), a refusal's status, or None while the request runs."""
    body: bytes | None
    """A refusal's problem document."""
    topic: str | None
    """The topic of the last event a recorded command appended."""
    version: int | None
    notification_id: int | None
    lease_expires: float

    @property
    def running(self) -> bool:
        """Whether the request that reserved the key has not finished."""
        return self.status is None

    def lease_left(self, now: float | None = None) -> float:
        """Seconds until a retry may take the key over (0 if it may now)."""
        return max(0.0, self.lease_expires - (time.time() if now is None else now))


def requests_table_statement(qualified: str) -> str:
    """The table of request keys (the same DDL on SQLite and PostgreSQL)."""
    return (
        f"CREATE TABLE IF NOT EXISTS {qualified} (actor_id TEXT NOT NULL, "
        "request_key TEXT NOT NULL, request_sha256 TEXT NOT NULL, lease TEXT NOT NULL, "
        "lease_expires DOUBLE PRECISION NOT NULL, created_at DOUBLE PRECISION NOT NULL, "
        "status INTEGER, body TEXT, topic TEXT, version BIGINT, notification_id BIGINT, "
        "PRIMARY KEY (actor_id, request_key))"
    )


def requests_index_statement(qualified: str, index: str) -> str:
    """The index expired keys are purged by."""
    return f"CREATE INDEX IF NOT EXISTS {index} ON {qualified} (created_at)"


_COLUMNS = "request_sha256, status, body, topic, version, notification_id, lease_expires"


class RequestRecords:
    """Reserve, complete and release request keys, in the event store's database."""

    param: str
    requests_table: str
    """The qualified table name."""
    datastore: Any

    def reserve(
        self, actor_id: str, key: str, digest: str, *, lease_seconds: float, ttl_seconds: float
    ) -> RequestKey | StoredRequest:
        """Reserve a key for a request, or say what another request left under it.

        Returns the `RequestKey` to record the command with, or the `StoredRequest` kept
        under the key: finished (replay it), running (its lease has not expired), or of
        another request (its digest differs). Expired keys are purged first.
        """
        p, table = self.param, self.requests_table
        now = time.time()
        lease = secrets.token_hex(16)
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE created_at < {p}", (now - ttl_seconds,))
            cursor.execute(
                f"INSERT INTO {table} (actor_id, request_key, request_sha256, lease, "
                f"lease_expires, created_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}) "
                "ON CONFLICT (actor_id, request_key) DO NOTHING RETURNING lease",
                (actor_id, key, digest, lease, now + lease_seconds, now),
            )
            if rows(cursor):
                return RequestKey(actor_id, key, lease)
            # The holder of an expired lease recorded nothing (its outcome would have been
            # written with its events): take the key over.
            cursor.execute(
                f"UPDATE {table} SET lease = {p}, lease_expires = {p} WHERE actor_id = {p} "
                f"AND request_key = {p} AND request_sha256 = {p} AND status IS NULL "
                f"AND lease_expires <= {p} RETURNING lease",
                (lease, now + lease_seconds, actor_id, key, digest, now),
            )
            if rows(cursor):
                return RequestKey(actor_id, key, lease)
            cursor.execute(
                f"SELECT {_COLUMNS} FROM {table} WHERE actor_id = {p} AND request_key = {p}",
                (actor_id, key),
            )
            return _stored(rows(cursor)[0])

    def stored_request(self, actor_id: str, key: str) -> StoredRequest | None:
        """What is kept under a key, if anything."""
        p = self.param
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT {_COLUMNS} FROM {self.requests_table} "
                f"WHERE actor_id = {p} AND request_key = {p}",
                (actor_id, key),
            )
            found = rows(cursor)
        return _stored(found[0]) if found else None

    def complete_recorded(
        self,
        cursor: Any,
        request: RequestKey,
        topic: str,
        version: int,
        notification_id: int | None,
    ) -> None:
        """Write a recorded command's outcome, in the transaction that saves its events.

        Raises `RequestKeyTaken` (rolling the transaction back) if the lease is no longer
        this request's.
        """
        p = self.param
        cursor.execute(
            f"UPDATE {self.requests_table} SET status = 201, topic = {p}, version = {p}, "
            f"notification_id = {p} WHERE actor_id = {p} AND request_key = {p} "
            f"AND lease = {p} AND status IS NULL RETURNING lease",
            (topic, version, notification_id, request.actor_id, request.key, request.lease),
        )
        if not rows(cursor):
            raise RequestKeyTaken(
                "the Idempotency-Key's lease expired and another request took it over; "
                "nothing was recorded by this one",
                key=request.key,
            )

    def complete_refused(self, request: RequestKey, status: int, body: bytes) -> None:
        """Keep a refusal under the key (one that a retry would meet again)."""
        p = self.param
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"UPDATE {self.requests_table} SET status = {p}, body = {p} WHERE "
                f"actor_id = {p} AND request_key = {p} AND lease = {p} AND status IS NULL",
                (status, body.decode(), request.actor_id, request.key, request.lease),
            )

    def release(self, request: RequestKey) -> None:
        """Free a key whose request failed transiently, so that a retry runs it again."""
        p = self.param
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"DELETE FROM {self.requests_table} WHERE actor_id = {p} "
                f"AND request_key = {p} AND lease = {p} AND status IS NULL",
                (request.actor_id, request.key, request.lease),
            )

    def count_requests(self) -> int:
        """How many keys are kept (for tests and the fault suite)."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {self.requests_table}")
            return int(rows(cursor)[0][0])


def rows(cursor: Any) -> list[tuple[Any, ...]]:
    """A cursor's rows as tuples, on either backend."""
    # PostgreSQL's library cursors give dicts; SQLite's give rows indexable by position.
    return [
        tuple(row.values()) if isinstance(row, dict) else tuple(row) for row in cursor.fetchall()
    ]


def _stored(row: Sequence[Any]) -> StoredRequest:
    digest, status, body, topic, version, notification_id, lease_expires = row
    return StoredRequest(
        request_sha256=digest,
        status=status,
        body=body.encode() if body is not None else None,
        topic=topic,
        version=version,
        notification_id=notification_id,
        lease_expires=float(lease_expires),
    )
