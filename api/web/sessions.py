"""Browser sessions: a token given once in a form, then a random session id in a cookie.

The cookie holds only a random id (256 bits); the server keeps, in this process's memory, the
SHA-256 of that id and the token it stands for. Every request looks the token up again with
`ActorStore.actor_for`, so revoking the token (``reliquary actors revoke``) ends its sessions
at once. A session lasts at most `ABSOLUTE_SECONDS` and ends after `IDLE_SECONDS` unused; a
restart of the service ends them all (the reader signs in again). The cookie is HttpOnly,
SameSite=Strict, limited to ``/web``, and Secure when the page was served over HTTPS.

Forms that change something (signing in, signing out) carry a CSRF token: for signing in, the
double-submit pattern (a random value in a SameSite=Strict cookie and in the form); for
signing out, a value kept with the session.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

SESSION_COOKIE = "reliquary_session"
LOGIN_CSRF_COOKIE = "reliquary_login_csrf"
COOKIE_PATH = "/web"
IDLE_SECONDS = 8 * 3600
ABSOLUTE_SECONDS = 24 * 3600
MAX_SESSIONS = 10_000


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def new_secret() -> str:
    """A random value for a cookie or a form (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def same_secret(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison of two secrets; False if either is missing."""
    if not given or not expected:
        return False
    return secrets.compare_digest(given.encode(), expected.encode())


@dataclass
class Session:
    """What the server remembers of one signed-in browser."""

    token: str
    csrf: str
    created: float
    seen: float = field(default=0.0)


class SessionStore:
    """Sessions of one service process, by the SHA-256 of their id."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def open(self, token: str) -> str:
        """Start a session for a token; return the session id to put in the cookie."""
        session_id = new_secret()
        now = self._clock()
        with self._lock:
            self._expire(now)
            while len(self._sessions) >= MAX_SESSIONS:
                oldest = min(self._sessions, key=lambda key: self._sessions[key].seen)
                del self._sessions[oldest]
            self._sessions[_key(session_id)] = Session(token, new_secret(), now, now)
        return session_id

    def get(self, session_id: str | None) -> Session | None:
        """The live session of this id, or None (unknown, idle too long, or too old)."""
        if not session_id:
            return None
        now = self._clock()
        with self._lock:
            session = self._sessions.get(_key(session_id))
            if session is None:
                return None
            if now - session.seen > IDLE_SECONDS or now - session.created > ABSOLUTE_SECONDS:
                del self._sessions[_key(session_id)]
                return None
            session.seen = now
            return session

    def close(self, session_id: str | None) -> None:
        """End a session (signing out, or a token found revoked)."""
        if session_id:
            with self._lock:
                self._sessions.pop(_key(session_id), None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _expire(self, now: float) -> None:
        stale = [
            key
            for key, session in self._sessions.items()
            if now - session.seen > IDLE_SECONDS or now - session.created > ABSOLUTE_SECONDS
        ]
        for key in stale:
            del self._sessions[key]
