"""Idempotent POSTs: the same ``Idempotency-Key`` applied twice appends once, whatever fails.

The key's life is the ledger's (`domain.requests`): the first request reserves it with a lease
and the SHA-256 of its method, path and body; a recorded command's outcome is written in the
transaction that saves its events, so a crash can never separate them; a refusal a retry would
meet again is kept; a transient one (a concurrency conflict, an unavailable store, a server
error) is not, and the key is freed. A repeat of a finished request gets its answer again,
appending nothing; a repeat while the first still holds its lease is told to retry (409 with
``Retry-After``); once the lease has expired (the server died), the repeat takes the key over.
The same key with a different request is refused (422).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import Response

from api.http.problems import TYPE_PREFIX, Problem, problem_response
from domain.errors import RequestKeyTaken
from domain.requests import RequestKey, RequestRecords, StoredRequest

if TYPE_CHECKING:
    from api.bootstrap import Services

TRANSIENT_RULES = frozenset({"concurrency-conflict"})
"""Refusals a retry may not meet again: never kept under a key."""


def request_digest(method: str, path: str, document: dict[str, Any]) -> str:
    """What identifies a request for idempotency: its method, path and parsed body."""
    body = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def apply_once(
    services: Services,
    actor_id: str,
    key: str,
    digest: str,
    run: Callable[[RequestKey], Response],
    replay: Callable[[StoredRequest], Response],
) -> Response:
    """Run a command under an Idempotency-Key, or answer what the key already holds."""
    keys: RequestRecords = services.ledger.recorder  # type: ignore[assignment]
    settings = services.settings
    reserved = keys.reserve(
        actor_id,
        key,
        digest,
        lease_seconds=settings.idempotency_lease_seconds,
        ttl_seconds=settings.idempotency_key_hours * 3600,
    )
    if isinstance(reserved, StoredRequest):
        return _answer_stored(reserved, digest, replay)
    try:
        response = run(reserved)
    except RequestKeyTaken:
        # Our lease expired and another request took the key: its answer is the key's.
        stored = keys.stored_request(actor_id, key)
        if stored is None:  # expired and purged meanwhile: nothing of ours was recorded
            return _in_progress(0.0)
        return _answer_stored(stored, digest, replay)
    except BaseException:
        keys.release(reserved)
        raise
    if response.status_code != 201:
        if _transient(response):
            keys.release(reserved)
        else:
            keys.complete_refused(reserved, response.status_code, bytes(response.body))
    return response


def _answer_stored(
    stored: StoredRequest, digest: str, replay: Callable[[StoredRequest], Response]
) -> Response:
    if stored.request_sha256 != digest:
        raise Problem(
            422,
            "idempotency-key-reused",
            "Idempotency key reused",
            "this Idempotency-Key was used for a different request",
        )
    if stored.running:
        return _in_progress(stored.lease_left())
    if stored.status == 201:
        response = replay(stored)
    else:
        response = Response(
            stored.body or b"",
            status_code=stored.status or 500,
            media_type="application/problem+json",
        )
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _in_progress(lease_left: float) -> Response:
    seconds = max(1, math.ceil(lease_left))
    return problem_response(
        409,
        "idempotency-in-progress",
        "Request in progress",
        "a request with this Idempotency-Key is still running; retry in "
        f"{seconds} s (if it never finishes, its lease expires and the retry takes it over)",
        headers={"Retry-After": str(seconds)},
    )


def _transient(response: Response) -> bool:
    if response.status_code >= 500:
        return True
    try:
        kind = str(orjson.loads(bytes(response.body)).get("type", ""))
    except (orjson.JSONDecodeError, AttributeError):
        return False
    return kind.removeprefix(TYPE_PREFIX) in TRANSIENT_RULES
