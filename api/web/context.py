"""What every page of the web console is answered with: the reader, the template, or an error.

The one `router` (under ``/web``) that every page joins, with `PageRoute`, which shows an error
of the services as an HTML page and never as JSON; `viewer` and `reader`, who is reading (a
session's actor whose role may read the records, or nobody); and `page`, a template rendered
with the context every page shares.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute

from api.bootstrap import Services
from api.http.problems import Problem, status_of
from api.web import sessions as web_sessions
from api.web.render import Renderer
from domain.authority import commands_for, may_read
from domain.decisions import Actor
from domain.errors import Kind, LedgerError
from domain.lifecycle import event_classes

EVENT_TYPES = tuple(sorted(event.__name__ for event in event_classes()))


# --- errors -------------------------------------------------------------------------------------


MAX_MESSAGE = 600  # an error page's message, cut short: a refused value is never echoed whole


class PageError(Exception):
    """A request a page cannot answer: shown as an HTML page with this status and message."""

    def __init__(self, status: int, message: str, *, title: str = "") -> None:
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 1] + "\u2026"
        super().__init__(message)
        self.status = status
        self.message = message
        self.title = title or {400: "Invalid request", 404: "Not found"}.get(status, "Error")


class SignInRequired(Exception):
    """A private page was asked for without a live session."""


def page_error(error: LedgerError | Problem) -> PageError:
    """The page for an error of the services (or of the API's own checks).

    The status follows the error's kind as in the API, except that invalid input is a 400:
    what a browser's form or link sent, not a document a client composed.
    """
    if isinstance(error, Problem):
        return PageError(error.status, error.detail, title=error.title)
    status = 400 if error.kind is Kind.INVALID else status_of(error)
    return PageError(status, str(error))


class PageRoute(APIRoute):
    """A page's route: an error of the services becomes an HTML page, never JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the route's handler so that errors below it are shown as pages."""
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except (LedgerError, Problem) as error:
                raise page_error(error) from None

        return page_handler


router = APIRouter(prefix="/web", include_in_schema=False, route_class=PageRoute)


# --- who is reading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """Who is reading: an actor with a session, or nobody."""

    actor: Actor | None
    csrf: str | None


def services_of(request: Request) -> Services:
    """The services of the running app."""
    found: Services = request.app.state.services
    return found


def sessions_of(request: Request) -> web_sessions.SessionStore:
    """The console's sessions (set up by `install_pages`)."""
    store: web_sessions.SessionStore = request.app.state.web_sessions
    return store


def renderer_of(request: Request) -> Renderer:
    """The console's templates (set up by `install_pages`)."""
    found: Renderer = request.app.state.web_renderer
    return found


def viewer(request: Request) -> Viewer:
    """The signed-in actor, if the session is live and its token still valid.

    Any role may sign in: a researcher reads the public pages with the private values of their
    own requests opened (`domain.disclosure.may_open`); the records are for `reader`.
    """
    session_id = request.cookies.get(web_sessions.SESSION_COOKIE)
    session = sessions_of(request).get(session_id)
    if session is None:
        return Viewer(None, None)
    actor = services_of(request).actors.actor_for(session.token)
    if actor is None:
        sessions_of(request).close(session_id)  # revoked since: the session ends with it
        return Viewer(None, None)
    return Viewer(actor, session.csrf)


def reader(request: Request) -> Viewer:
    """The signed-in reader of a private page: `SignInRequired` without a session, a 403 page
    for a role that may not read the records (`domain.authority.may_read`)."""
    seen = viewer(request)
    if seen.actor is None:
        raise SignInRequired
    if not may_read(seen.actor.role):
        raise PageError(
            403,
            f"The {seen.actor.role} role may not read the ledger's records; the public parts "
            "(checkpoints, the key, manifests, decisions, the verify page) are open to you.",
            title="Not for this role",
        )
    return seen


# --- rendering ----------------------------------------------------------------------------------


def target(request: Request) -> str:
    """This request's path and query, as a URL of this site."""
    path = quote(request.url.path, safe="/:@!$&'()*+,;=-._~")
    return path + (f"?{request.url.query}" if request.url.query else "")


def page(
    request: Request,
    name: str,
    seen: Viewer,
    context: dict[str, Any],
    *,
    status: int = 200,
    private: bool = True,
    basis: bool = True,
) -> HTMLResponse:
    """The template ``name`` with ``context`` over what every page shows (reader, navigation).

    Every page but an error's names what it was computed from in its footer
    (`Queries.basis`): read after the page's data, as the views only move forward; a page
    showing a report (its ``report``) names the ledger position the report was computed at.
    """
    base = {
        "actor": seen.actor,
        "csrf": seen.csrf,
        "section": "",
        "event_types": EVENT_TYPES,
        "here": target(request),
        # What the reader's role may record: the forms and queues a page offers it (the ledger
        # checks the authority of every command it is sent, whatever a page offered).
        "may": commands_for(seen.actor.role) if seen.actor else frozenset(),
        "basis": services_of(request).queries.basis(context.get("report")) if basis else None,
    }
    return renderer_of(request).page(
        request, name, {**base, **context}, status=status, private=private
    )


def error_page(request: Request, error: Exception) -> Response:
    """A `PageError` as its HTML page (the app's handler for it)."""
    if not isinstance(error, PageError):  # registered for PageError only
        raise error
    return page(
        request,
        "error.html",
        viewer(request),
        {"title": error.title, "status": error.status, "message": error.message},
        status=error.status,
        basis=False,  # the store may be what failed; an error is computed from nothing
    )
