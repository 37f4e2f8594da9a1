"""API actors: one bearer token per actor, stored only as its SHA-256, created and revoked.

The token is shown once, when it is created; the database keeps its hash, the actor's id and
role, and when it was revoked. A request's actor comes from its token, never from its body.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from domain.decisions import Actor, Role
from domain.errors import ActorError
from projections.runner import ViewRecorder


@dataclass(frozen=True)
class IssuedToken:
    """A new token (shown once) and whom it names."""

    actor: Actor
    token: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ActorStore:
    """The table of tokens, beside the events."""

    def __init__(self, recorder: ViewRecorder) -> None:
        self.recorder = recorder

    def create_table(self) -> None:
        """Create the table (idempotent; run with the store's schema, `api.bootstrap`)."""
        with self.recorder.transaction() as cursor:
            self.recorder.execute(
                cursor,
                "CREATE TABLE IF NOT EXISTS api_actors (token_sha256 TEXT PRIMARY KEY, "
                "actor_id TEXT NOT NULL, role TEXT NOT NULL, created_at TEXT NOT NULL, "
                "revoked_at TEXT)",
            )

    def add(self, actor_id: str, role: str) -> IssuedToken:
        """Issue a token for an actor in a role."""
        p = self.recorder.param
        if role not in {r.value for r in Role}:
            raise ActorError(f"unknown role {role!r}; roles: {', '.join(r.value for r in Role)}")
        if not actor_id.strip() or actor_id != actor_id.strip():
            raise ActorError("an actor id is a non-empty name without outer spaces")
        token = "rlq_" + secrets.token_urlsafe(32)
        with self.recorder.transaction() as cursor:
            self.recorder.execute(
                cursor,
                "INSERT INTO api_actors (token_sha256, actor_id, role, created_at) "
                f"VALUES ({p}, {p}, {p}, {p})",
                (_digest(token), actor_id, role, _now()),
            )
        return IssuedToken(Actor(id=actor_id, role=role), token)

    def revoke(self, actor_id: str) -> int:
        """Revoke every live token of an actor; return how many."""
        p = self.recorder.param
        live = self.recorder.fetch(
            f"SELECT COUNT(*) FROM api_actors WHERE actor_id = {p} AND revoked_at IS NULL",
            (actor_id,),
        )[0][0]
        if not live:
            raise ActorError(f"actor {actor_id!r} has no live token")
        with self.recorder.transaction() as cursor:
            self.recorder.execute(
                cursor,
                f"UPDATE api_actors SET revoked_at = {p} "
                f"WHERE actor_id = {p} AND revoked_at IS NULL",
                (_now(), actor_id),
            )
        return int(live)

    def actor_for(self, token: str) -> Actor | None:
        """The actor a live token names, or None."""
        p = self.recorder.param
        rows = self.recorder.fetch(
            "SELECT actor_id, role FROM api_actors "
            f"WHERE token_sha256 = {p} AND revoked_at IS NULL",
            (_digest(token),),
        )
        return Actor(id=rows[0][0], role=rows[0][1]) if rows else None

    def list(self) -> list[dict[str, Any]]:
        """Every actor's tokens (never the tokens themselves)."""
        rows = self.recorder.fetch(
            "SELECT actor_id, role, created_at, revoked_at FROM api_actors ORDER BY created_at"
        )
        return [
            {"actor_id": r[0], "role": r[1], "created_at": r[2], "revoked_at": r[3]} for r in rows
        ]


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
