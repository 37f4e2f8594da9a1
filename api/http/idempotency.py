"""Idempotent POSTs: the same ``Idempotency-Key`` applied twice appends once.

The first request with a key (per actor) reserves it with the SHA-256 of its method, path and
body, runs, and stores its response; a repeat with the same request gets that response again,
appending nothing; the same key with a different request is refused (422); a repeat while the
first is still running is refused with 409 and may be retried.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from eventsourcing.persistence import IntegrityError

from projections.runner import ViewRecorder


@dataclass(frozen=True)
class Stored:
    """A response kept for a key (status None while the first request runs)."""

    request_sha256: str
    status: int | None
    body: bytes | None


def request_digest(method: str, path: str, body: bytes) -> str:
    """What identifies a request for idempotency."""
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


class IdempotencyStore:
    """Keys and the responses they produced, beside the events."""

    def __init__(self, recorder: ViewRecorder) -> None:
        self.recorder = recorder
        with recorder.transaction() as cursor:
            recorder.execute(
                cursor,
                "CREATE TABLE IF NOT EXISTS api_idempotency (actor_id TEXT NOT NULL, "
                "idempotency_key TEXT NOT NULL, request_sha256 TEXT NOT NULL, status INTEGER, "
                "body TEXT, created_at TEXT NOT NULL, PRIMARY KEY (actor_id, idempotency_key))",
            )

    def reserve(self, actor_id: str, key: str, digest: str) -> Stored | None:
        """Claim a key for a request; return what is stored if it was claimed before."""
        p = self.recorder.param
        try:
            with self.recorder.transaction() as cursor:
                self.recorder.execute(
                    cursor,
                    "INSERT INTO api_idempotency (actor_id, idempotency_key, request_sha256, "
                    f"created_at) VALUES ({p}, {p}, {p}, {p})",
                    (actor_id, key, digest, datetime.now(UTC).isoformat()),
                )
        except IntegrityError:
            rows = self.recorder.fetch(
                "SELECT request_sha256, status, body FROM api_idempotency "
                f"WHERE actor_id = {p} AND idempotency_key = {p}",
                (actor_id, key),
            )
            row = rows[0]
            return Stored(row[0], row[1], row[2].encode() if row[2] is not None else None)
        return None

    def complete(self, actor_id: str, key: str, status: int, body: bytes) -> None:
        """Keep the response of the request that claimed the key."""
        p = self.recorder.param
        with self.recorder.transaction() as cursor:
            self.recorder.execute(
                cursor,
                f"UPDATE api_idempotency SET status = {p}, body = {p} "
                f"WHERE actor_id = {p} AND idempotency_key = {p}",
                (status, body.decode(), actor_id, key),
            )

    def release(self, actor_id: str, key: str) -> None:
        """Free a key whose request failed unexpectedly, so that it can be retried."""
        p = self.recorder.param
        with self.recorder.transaction() as cursor:
            self.recorder.execute(
                cursor,
                f"DELETE FROM api_idempotency WHERE actor_id = {p} AND idempotency_key = {p} "
                "AND status IS NULL",
                (actor_id, key),
            )
