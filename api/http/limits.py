"""The request guard: hostile input is refused before the service does any work for it.

`RequestGuard` is an ASGI middleware around every route (inside only Starlette's own error
middleware). For each HTTP request, in this order:

1. It gives the request an id: the caller's ``X-Request-Id`` if well formed (1 to 64 of
   ``A-Z a-z 0-9 . _ -``), else a new one. Every response carries it back in ``X-Request-Id``,
   and the log record of a failure names it.
2. A URL whose path or query string is not UTF-8 once percent-decoded is a 400
   ``invalid-url-encoding``: the server would decode ``%FF`` and ``%FE`` alike to U+FFFD, so
   two different paths would reach one model.
3. A ``Content-Length`` over the limit is a 413 ``body-too-large``, without a byte of the body
   read.
4. A route that reads a body and needs a bearer token (`api.http.deps.token_before_body`: the
   command POSTs) has its token checked before the body is read: no token, or an unknown one,
   is a 401, however malformed the body.
5. The body is read, and reading stops as soon as it passes the limit (a 413: a chunked body has
   no ``Content-Length`` to refuse first). A JSON body with an object that names a key twice,
   at any depth, is a 422 ``duplicate-json-key`` (`domain.json_input`). The route then reads the
   body from memory.
6. An exception no handler answered is logged (logger ``reliquary.http``, with the request id
   and the traceback) and answered with a 500 ``internal-error`` naming the request id.

The limit is ``RELIQUARY_MAX_DOCUMENT_BYTES``, the same as for a line of ``reliquary apply``.
The answers are problem documents (`api.http.problems`), except under the web console's paths,
where they are HTML pages (`api.web.render.standalone_error_page`).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.http.deps import AUTHENTICATED_ACTOR, authenticate, token_before_body
from api.http.problems import (
    BODY_TOO_LARGE,
    DUPLICATE_JSON_KEY,
    INTERNAL_ERROR,
    INVALID_URL_ENCODING,
    STORE_UNAVAILABLE,
    Problem,
    response_of,
)
from api.web.render import standalone_error_page
from domain.json_input import duplicate_key

logger = logging.getLogger("reliquary.http")

REQUEST_ID_HEADER = "X-Request-Id"
_WELL_FORMED_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id_of(scope: Scope) -> str:
    """The request's id: the caller's ``X-Request-Id`` if it is well formed, else a new one."""
    incoming = Headers(scope=scope).get(REQUEST_ID_HEADER)
    if incoming is not None and _WELL_FORMED_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def is_json(headers: Headers) -> bool:
    """Whether the body is JSON as FastAPI reads one: ``application/json`` or ``.../...+json``."""
    media = headers.get("content-type", "").partition(";")[0].strip().lower()
    kind, _, subtype = media.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


class _Exchange:
    """The response side of one request: the request id added, whether it has started."""

    def __init__(self, send: Send, request_id: str) -> None:
        self._send = send
        self._header = (REQUEST_ID_HEADER.lower().encode(), request_id.encode())
        self.started = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            message = {**message, "headers": [*message.get("headers", ()), self._header]}
        await self._send(message)


def _failure(error: Exception, request_id: str) -> Problem:
    """The problem a failure is answered with: 503 if the store was unreachable, else 500."""
    from eventsourcing.persistence import InterfaceError, OperationalError

    if isinstance(error, InterfaceError | OperationalError):
        # A dropped or refused connection: nothing of the request was committed unless its
        # Idempotency-Key says so, and a retry (with the same key) is the right answer.
        return Problem(
            503,
            STORE_UNAVAILABLE,
            "Store unavailable",
            "the ledger's store could not be reached or dropped the connection; retry (with "
            f"the same Idempotency-Key); the service's log names it by the request id {request_id}",
            request_id=request_id,
            headers={"Retry-After": "1"},
        )
    return Problem(
        500,
        INTERNAL_ERROR,
        "Internal error",
        f"the service failed to answer; its log names the failure by the request id {request_id}",
        request_id=request_id,
    )


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body already read, then what the client sends next."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # an http.disconnect, for a response that listens for it

    return replay


def _flattened(routes: Sequence[BaseRoute]) -> list[tuple[BaseRoute, Any]]:
    """Each route of the app with what matches a request to it, through included routers.

    Newer FastAPI keeps an included router as one lazy route (`iter_route_contexts` then gives
    each route with its prefix applied); older FastAPI copied its routes into the app's list.
    """
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover (FastAPI before lazily included routers)
        return [(route, route) for route in routes]
    return [(context.original_route, context) for context in iter_route_contexts(routes)]


class RequestGuard:
    """The ASGI middleware (see the module's documentation)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        routes: Sequence[BaseRoute],
        web_prefix: str = "/web",
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.routes = routes  # the app's, read at its first request (every route is added)
        self.web_prefix = web_prefix
        self._token_routes: list[Any] | None = None  # what matches a token-first route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        exchange = _Exchange(send, request_id)
        try:
            await self._guarded(scope, receive, exchange.send)
        except Exception as error:
            logger.error(
                "unhandled %s answering %s %r (request id %s)",
                type(error).__name__,
                scope.get("method"),
                scope.get("path"),
                request_id,
                exc_info=error,
                extra={"request_id": request_id},
            )
            if exchange.started:
                raise  # too late for a problem document: the server ends the response
            await self._answer(scope, receive, exchange.send, _failure(error, request_id))

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            self._check_url(scope)
            self._check_length(scope)
            if self._needs_token(scope):
                await self._authenticate(scope)
            body = await self._read_body(receive)
            if body is None:
                return  # the client left: there is nobody to answer
            self._check_json(scope, body)
        except Problem as refusal:
            await self._answer(scope, receive, send, refusal)
            return
        await self.app(scope, _replay(body, receive), send)

    # -- the checks, in order -------------------------------------------------------------------

    def _check_url(self, scope: Scope) -> None:
        parts = (
            ("path", bytes(scope.get("raw_path") or b"").partition(b"?")[0]),
            ("query string", bytes(scope.get("query_string") or b"")),
        )
        for part, raw in parts:
            try:
                unquote_to_bytes(raw).decode("utf-8")
            except UnicodeDecodeError as error:
                raise Problem(
                    400,
                    INVALID_URL_ENCODING,
                    "Invalid URL encoding",
                    f"the {part} is not UTF-8 once percent-decoded (byte {error.start} of it "
                    "begins no UTF-8 character); encode text as UTF-8 before percent-encoding it",
                    part=part,
                ) from None

    def _check_length(self, scope: Scope) -> None:
        declared = Headers(scope=scope).get("content-length", "").strip()
        if not (declared.isascii() and declared.isdigit()):
            return  # none (or one the server refuses itself): the body is counted as it comes
        size: int | str = int(declared) if len(declared) <= 18 else declared
        if isinstance(size, str) or size > self.max_body_bytes:
            raise Problem(
                413,
                BODY_TOO_LARGE,
                "Body too large",
                f"the request body is {size} bytes, over the limit of {self.max_body_bytes} bytes",
                limit=self.max_body_bytes,
                size=size,
            )

    def _needs_token(self, scope: Scope) -> bool:
        if self._token_routes is None:
            self._token_routes = [
                matcher for route, matcher in _flattened(self.routes) if token_before_body(route)
            ]
        return any(matcher.matches(scope)[0] is Match.FULL for matcher in self._token_routes)

    async def _authenticate(self, scope: Scope) -> None:
        services = scope["app"].state.services
        header = Headers(scope=scope).get("authorization")
        actor = await run_in_threadpool(authenticate, services, header)  # a 401 Problem if not
        scope["state"][AUTHENTICATED_ACTOR] = actor

    async def _read_body(self, receive: Receive) -> bytes | None:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                raise Problem(  # and nothing more is read
                    413,
                    BODY_TOO_LARGE,
                    "Body too large",
                    f"the request body passed the limit of {self.max_body_bytes} bytes "
                    f"(refused at {len(body)} bytes)",
                    limit=self.max_body_bytes,
                    received=len(body),
                )
            if not message.get("more_body", False):
                return bytes(body)

    def _check_json(self, scope: Scope, body: bytes) -> None:
        if not body or not is_json(Headers(scope=scope)):
            return
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as error:
            # RFC 8259 §8.1: JSON exchanged between systems is UTF-8. A parser that guesses
            # UTF-16 or UTF-32 from the first bytes would read what the sender did not mean.
            raise Problem(
                400,
                "invalid-json-encoding",
                "Invalid JSON encoding",
                f"the body is not UTF-8 (byte {error.start}); send JSON in UTF-8",
                byte=error.start,
            ) from None
        key = duplicate_key(body)
        if key is not None:
            raise Problem(
                422,
                DUPLICATE_JSON_KEY,
                "Duplicate JSON key",
                f"an object in the body names the key {key!r} twice; name each key once",
                key=key,
            )

    # -- answering ------------------------------------------------------------------------------

    def _is_page(self, scope: Scope) -> bool:
        path: str = scope.get("path", "")
        prefix = self.web_prefix
        return path == "/" or path == prefix or path.startswith(prefix + "/")

    async def _answer(self, scope: Scope, receive: Receive, send: Send, problem: Problem) -> None:
        response: Response
        if self._is_page(scope):
            request_id: str | None = scope.get("state", {}).get("request_id")
            response = standalone_error_page(
                problem.status, problem.title, problem.detail, request_id=request_id
            )
            response.headers.update(problem.headers)
        else:
            response = response_of(problem)
        await response(scope, receive, send)
