"""The web console's pages: `install_pages(app)` adds them to the API's FastAPI app.

Every page is rendered on the server from the same services and projections as the JSON API
(the ledger for a model's state now or in the past, the views for the timeline, search and
registers, the fairness report, the transparency log), read-only. The public parts (the
checkpoint and key on the overview, a model's preserved-weights manifest, the verify page)
need no account, as in the API; everything else asks once for a token whose role may read the
records (`domain.authority.may_read`) and keeps a session in an HttpOnly cookie
(`api.web.sessions`).

The pages live under ``/web/`` (the API's own paths, ``/models``, ``/timeline`` and so on, are
JSON); ``/`` redirects to ``/web/``. Their links carry every filter and moment in the query
string, so a page can be shared by its URL. The decision and verify pages let the reader's
browser check the log's proofs itself (``static/verify.js``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from api.bootstrap import Services
from api.http.problems import Problem, status_of
from api.web import sessions as web_sessions
from api.web.render import (
    STATIC,
    Renderer,
    form_moment,
    key_fingerprint,
    path_part,
    svg_data_uri,
    with_query,
)
from domain.authority import may_read
from domain.commands import parse_moment
from domain.decisions import Actor, Role
from domain.errors import Kind, LedgerError
from domain.lifecycle import ModelLifecycle
from projections.queries import DEFAULT_CRITERIA_DISTANCE

EVENT_TYPES = tuple(
    sorted(
        name
        for name, value in vars(ModelLifecycle).items()
        if isinstance(value, type)
        and issubclass(value, ModelLifecycle.Event)
        and value is not ModelLifecycle.Event
    )
)
ROLES = tuple(role.value for role in Role)
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE = 50
MANIFEST_SHOWN = 500
MAX_FORM_BYTES = 16 * 1024
_SEQUENCE = re.compile(r"[0-9]{1,18}")


# --- errors and sign-in ---------------------------------------------------------------------


class PageError(Exception):
    """A request a page cannot answer: shown as an HTML page with this status and message."""

    def __init__(self, status: int, message: str, *, title: str = "") -> None:
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


@dataclass(frozen=True)
class Viewer:
    """Who is reading: an actor with a session, or nobody."""

    actor: Actor | None
    csrf: str | None


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _sessions(request: Request) -> web_sessions.SessionStore:
    store: web_sessions.SessionStore = request.app.state.web_sessions
    return store


def _renderer(request: Request) -> Renderer:
    renderer: Renderer = request.app.state.web_renderer
    return renderer


def viewer(request: Request) -> Viewer:
    """The signed-in reader, if the session is live and its token still valid for reading."""
    session_id = request.cookies.get(web_sessions.SESSION_COOKIE)
    session = _sessions(request).get(session_id)
    if session is None:
        return Viewer(None, None)
    actor = _services(request).actors.actor_for(session.token)
    if actor is None or not may_read(actor.role):
        _sessions(request).close(session_id)  # revoked since: the session ends with it
        return Viewer(None, None)
    return Viewer(actor, session.csrf)


def reader(request: Request) -> Viewer:
    """The signed-in reader of a private page, or `SignInRequired`."""
    seen = viewer(request)
    if seen.actor is None:
        raise SignInRequired
    return seen


def _page(
    request: Request,
    name: str,
    seen: Viewer,
    context: dict[str, Any],
    *,
    status: int = 200,
    private: bool = True,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    base = {
        "actor": seen.actor,
        "csrf": seen.csrf,
        "section": "",
        "event_types": EVENT_TYPES,
        "here": _target(request),
    }
    return _renderer(request).page(
        request, name, {**base, **context}, status=status, private=private, headers=headers
    )


def _target(request: Request) -> str:
    """This request's path and query, as a URL of this site."""
    path = quote(request.url.path, safe="/:@!$&'()*+,;=-._~")
    return path + (f"?{request.url.query}" if request.url.query else "")


def _local_target(value: str | None) -> str:
    """Where to go after signing in: a page of this console, never another site."""
    if not value or "\\" in value or any(ord(c) < 0x20 for c in value):
        return "/web/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not (parts.path == "/web" or parts.path.startswith("/web/")):
        return "/web/"
    return value


def _cookie_flags(request: Request) -> dict[str, Any]:
    return {
        "httponly": True,
        "samesite": "strict",
        "secure": request.url.scheme == "https",
        "path": web_sessions.COOKIE_PATH,
    }


# --- parameters -------------------------------------------------------------------------------


def _text(params: Mapping[str, str], name: str, limit: int = 500) -> str | None:
    value = params.get(name, "").strip()
    if len(value) > limit:
        raise PageError(400, f"{name}: at most {limit} characters")
    return value or None


def _int(params: Mapping[str, str], name: str, low: int, high: int | None = None) -> int | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    try:
        number = int(value)
    except ValueError:
        raise PageError(400, f"{name}: expected a whole number, got {value!r}") from None
    if number < low or (high is not None and number > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise PageError(400, f"{name}: expected a number {bound}, got {number}")
    return number


def _moment(value: str | None, name: str) -> datetime | None:
    """A moment from a form or URL, under the one rule (a time zone is required)."""
    return parse_moment(value, name) if value else None


@dataclass(frozen=True)
class TimelineFilters:
    """The timeline's filters and page, as given in the query string."""

    model: str | None
    type: str | None
    actor: str | None
    role: str | None
    since: str | None
    until: str | None
    after: int | None
    limit: int
    since_at: datetime | None
    until_at: datetime | None

    @classmethod
    def parse(cls, params: Mapping[str, str], model: str | None = None) -> TimelineFilters:
        """Read and check the filters (an invalid one is a 400 page naming it)."""
        since, until = _text(params, "since", 40), _text(params, "until", 40)
        since_at = _moment(since, "since")
        until_at = _moment(until, "until")
        limit = _int(params, "limit", 1, max(PAGE_SIZES)) or DEFAULT_PAGE
        return cls(
            model=model if model is not None else _text(params, "model", 200),
            type=_text(params, "type", 100),
            actor=_text(params, "actor", 200),
            role=_text(params, "role", 50),
            since=since,
            until=until,
            after=_int(params, "after", -1),
            limit=limit,
            since_at=since_at,
            until_at=until_at,
        )

    def query(self, *, with_model: bool = True) -> dict[str, Any]:
        """The filters as query parameters (without the page position)."""
        params: dict[str, Any] = {
            "type": self.type,
            "actor": self.actor,
            "role": self.role,
            "since": self.since,
            "until": self.until,
            "limit": self.limit if self.limit != DEFAULT_PAGE else None,
        }
        return {"model": self.model, **params} if with_model else params

    def active(self) -> bool:
        """Whether any filter (beyond the model) is set."""
        return any((self.type, self.actor, self.role, self.since, self.until))


def _timeline(services: Services, filters: TimelineFilters) -> list[Any]:
    page = services.queries.timeline(
        model=filters.model,
        event_type=filters.type,
        actor=filters.actor,
        role=filters.role,
        since=filters.since_at,
        until=filters.until_at,
        after=filters.after,
        limit=filters.limit,
    )
    return page.entries


def _paging(path: str, filters: TimelineFilters, entries: list[Any], with_model: bool) -> Any:
    query = filters.query(with_model=with_model)
    return {
        "first": with_query(path, query) if filters.after is not None else None,
        "next": with_query(path, {**query, "after": entries[-1].sequence})
        if len(entries) == filters.limit
        else None,
    }


def _checkpoint(services: Services) -> dict[str, Any] | None:
    """The checkpoint a proof would be made against now (see `LogService`), or None."""
    from projections.translog.checkpoint import Checkpoint

    try:
        stored = services.log.checkpoint_for_proof()
    except LedgerError:
        return None
    body = stored.note[: stored.note.rfind("\n\n") + 1]
    return {
        "size": stored.size,
        "root": stored.root_hash.hex(),
        "signed_at": stored.signed_at,
        "note": stored.note,
        "origin": Checkpoint.parse(body).origin,
    }


def _server_key(services: Services) -> dict[str, str] | None:
    try:
        return key_fingerprint(services.log.verifier_key())
    except LedgerError:
        return None


# --- sign in and out ----------------------------------------------------------------------------


def _login_page(
    request: Request, target: str, message: str = "", status: int = 200, notice: str = ""
) -> HTMLResponse:
    csrf = web_sessions.new_secret()
    response = _page(
        request,
        "login.html",
        viewer(request),
        {
            "title": "Sign in",
            "target": target,
            "here": target,
            "login_csrf": csrf,
            "message": message,
            "notice": notice,
        },
        status=status,
    )
    response.set_cookie(
        web_sessions.LOGIN_CSRF_COOKIE, csrf, max_age=3600, **_cookie_flags(request)
    )
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/web/", signed_out: str = "") -> Response:  # noqa: A002
    """The sign-in form: a token, once."""
    notice = "You are signed out." if signed_out else ""
    return _login_page(request, _local_target(next), notice=notice)


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PageError(413, "the form is too large", title="Too large")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise PageError(400, "the form could not be read") from None
    return {name: values[0] for name, values in fields.items()}


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the token; open a session for a reader, refuse anyone else."""
    form = await _form(request)
    target = _local_target(form.get("next"))
    if not web_sessions.same_secret(
        form.get("csrf"), request.cookies.get(web_sessions.LOGIN_CSRF_COOKIE)
    ):
        return _login_page(
            request, target, "The sign-in form had expired. Please give your token again.", 400
        )
    token = form.get("token", "").strip()
    actor = _services(request).actors.actor_for(token) if token else None
    if actor is None:
        return _login_page(request, target, "That token is unknown or has been revoked.", 401)
    if not may_read(actor.role):
        return _login_page(
            request,
            target,
            f"The {actor.role} role may not read the ledger's records; the public parts "
            "(checkpoints, proofs, the key, manifests, the verify page) need no sign-in.",
            403,
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        web_sessions.SESSION_COOKIE,
        _sessions(request).open(token),
        max_age=web_sessions.ABSOLUTE_SECONDS,
        **_cookie_flags(request),
    )
    response.delete_cookie(web_sessions.LOGIN_CSRF_COOKIE, **_cookie_flags(request))
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session (the form carries the session's own CSRF value)."""
    form = await _form(request)
    session_id = request.cookies.get(web_sessions.SESSION_COOKIE)
    session = _sessions(request).get(session_id)
    if session is not None and not web_sessions.same_secret(form.get("csrf"), session.csrf):
        raise PageError(400, "the sign-out form had expired; reload the page and try again")
    _sessions(request).close(session_id)
    response = RedirectResponse("/web/login?signed_out=1", status_code=303)
    response.delete_cookie(web_sessions.SESSION_COOKIE, **_cookie_flags(request))
    return response


# --- pages --------------------------------------------------------------------------------------


@router.get("/")
def overview(request: Request) -> Response:
    """Every model with its status (for readers), and the latest signed checkpoint (for all)."""
    seen = viewer(request)
    services = _services(request)
    models = services.queries.model_statuses() if seen.actor is not None else None
    return _page(
        request,
        "overview.html",
        seen,
        {
            "title": "Overview",
            "section": "overview",
            "models": models,
            "checkpoint": _checkpoint(services),
            "server_key": _server_key(services),
        },
        private=seen.actor is not None,
    )


@router.get("/models/{model}")
def model_page(request: Request, model: str) -> Response:
    """A model: its state now or as of a moment or version, manifest, registers, timeline."""
    seen = reader(request)
    services = _services(request)
    queries = services.queries
    params = request.query_params
    version = _int(params, "version", 1)
    as_of_text = _text(params, "as_of", 40)
    as_of = _moment(as_of_text, "as_of")
    current = queries.state_at(model)
    answer = queries.history(model, version=version, at=as_of)
    state, shown = answer.lifecycle, answer.state
    filters = TimelineFilters.parse(params, model=model)
    entries = _timeline(services, filters)
    path = f"/web/models/{path_part(model)}"
    travel = {"version": version, "as_of": as_of_text}
    return _page(
        request,
        "model.html",
        seen,
        {
            "title": model,
            "section": "models",
            "model": model,
            "state": shown,
            "weights": state.weights,
            "manifest_shown": MANIFEST_SHOWN,
            "current_version": current.version,
            "current_status": current.lifecycle_status,
            "travel": travel,
            "as_of_value": form_moment(as_of),
            "travelling": version is not None or as_of is not None,
            "filters": filters,
            "entries": entries,
            "paging": _paging(path, filters, entries, with_model=False),
            "path": path,
            "travel_query": {key: value for key, value in travel.items() if value},
            "filter_query": filters.query(with_model=False),
            "access_requests": queries.register("access", model),
            "policies": queries.register("policies", model),
            "essays": queries.register("essays", model),
            "preferences": queries.register("preferences", model),
            "roles": ROLES,
            "page_sizes": PAGE_SIZES,
        },
    )


@router.get("/models/{model}/manifest")
def manifest_page(request: Request, model: str) -> Response:
    """A model's latest preserved-weights manifest (public, as in the API)."""
    seen = viewer(request)
    weights = _services(request).queries.weights(model)
    return _page(
        request,
        "manifest.html",
        seen,
        {
            "title": f"{model}: preserved weights",
            "section": "models",
            "model": model,
            "weights": weights,
            "total_bytes": sum(entry.size for entry in weights.files),
        },
        private=False,
    )


@router.get("/timeline")
def timeline_page(request: Request) -> Response:
    """Every decision of every model, filtered and paged."""
    seen = reader(request)
    services = _services(request)
    filters = TimelineFilters.parse(request.query_params)
    entries = _timeline(services, filters)
    return _page(
        request,
        "timeline.html",
        seen,
        {
            "title": "Timeline",
            "section": "timeline",
            "filters": filters,
            "entries": entries,
            "paging": _paging("/web/timeline", filters, entries, with_model=True),
            "model_names": [m.model for m in services.queries.model_statuses()],
            "roles": ROLES,
            "page_sizes": PAGE_SIZES,
        },
    )


@router.get("/decisions/{sequence}")
def decision_page(request: Request, sequence: str) -> Response:
    """One decision in full, with its leaf hash and a check in the reader's own browser."""
    seen = reader(request)
    services = _services(request)
    if not _SEQUENCE.fullmatch(sequence):
        raise PageError(404, f"there is no decision {sequence!r}")
    number = int(sequence)
    entry = services.queries.decision(number)
    leaf = services.log.leaf_hash(number)
    facts = dict(entry.facts)
    criteria = facts.pop("criteria", None)
    return _page(
        request,
        "decision.html",
        seen,
        {
            "title": f"Decision {number}",
            "section": "timeline",
            "entry": entry,
            "facts": facts,
            "criteria": criteria if isinstance(criteria, dict) else None,
            "leaf_hash": leaf.hex() if leaf else None,
            "claims": {
                "sequence": entry.sequence,
                "model": entry.model,
                "version": entry.version,
                "type": entry.type,
                "actor": entry.actor_id,
                "role": entry.actor_role,
                "rationale": entry.rationale,
            },
        },
    )


@router.get("/search")
def search_page(request: Request) -> Response:
    """Justification search, ranked as `reliquary why` ranks it."""
    seen = reader(request)
    services = _services(request)
    params = request.query_params
    query = _text(params, "q", 500)
    model = _text(params, "model", 200)
    kind = _text(params, "type", 100)
    limit = _int(params, "limit", 1, 200) or 20
    queries = services.queries
    hits = queries.search(query, model=model, event_type=kind, limit=limit) if query else []
    return _page(
        request,
        "search.html",
        seen,
        {
            "title": f"Search: {query}" if query else "Search",
            "section": "search",
            "query": query or "",
            "model": model or "",
            "type": kind or "",
            "hits": hits,
            "model_names": [m.model for m in queries.model_statuses()],
        },
    )


@router.get("/fairness")
def fairness_page(request: Request) -> Response:
    """The fairness report with its charts, each figure explained; printable."""
    from domain.commands import parse_day
    from projections import fairness

    seen = reader(request)
    services = _services(request)
    params = request.query_params
    distance_text = _text(params, "criteria_distance", 20)
    try:
        distance = float(distance_text) if distance_text else DEFAULT_CRITERIA_DISTANCE
    except ValueError:
        raise PageError(
            400, f"criteria_distance: expected a number, got {distance_text!r}"
        ) from None
    as_of_text = _text(params, "as_of", 10)
    as_of = parse_day(as_of_text, "as_of") if as_of_text else None
    report = services.queries.fairness(criteria_distance=distance, as_of=as_of)
    charts = {name: svg_data_uri(svg) for name, svg in fairness.report_charts(report).items()}
    return _page(
        request,
        "fairness.html",
        seen,
        {
            "title": "Fairness report",
            "section": "fairness",
            "report": report,
            "approval_chart": charts[fairness.APPROVAL_CHART],
            "veto_chart": charts[fairness.VETO_CHART],
            "criteria_names": _criteria_names(report),
            "criteria_distance": distance_text or "",
            "as_of": as_of_text or "",
        },
    )


def _criteria_names(report: Any) -> list[str]:
    from projections.fairness import CRITERIA_ORDER

    names = {name for o in report.criteria_consistency.policies for name in o.criteria or {}}
    ordered = [name for name in CRITERIA_ORDER if name in names]
    return ordered + sorted(names - set(ordered))


@router.get("/verify")
def verify_page(request: Request) -> Response:
    """Paste a kept checkpoint; the browser proves the current tree extends it (public)."""
    seen = viewer(request)
    services = _services(request)
    kept = request.query_params.get("checkpoint", "")
    if len(kept) > 8192:
        raise PageError(400, "checkpoint: a signed checkpoint is a few hundred characters")
    return _page(
        request,
        "verify.html",
        seen,
        {
            "title": "Verify the log",
            "section": "verify",
            "kept": kept.replace("\r\n", "\n"),
            "checkpoint": _checkpoint(services),
            "server_key": _server_key(services),
        },
        private=False,
    )


# --- installing ---------------------------------------------------------------------------------


def _error_page(request: Request, error: Exception) -> Response:
    if not isinstance(error, PageError):  # registered for PageError only
        raise error
    return _page(
        request,
        "error.html",
        viewer(request),
        {"title": error.title, "status": error.status, "message": error.message},
        status=error.status,
    )


def _sign_in(request: Request, _: Exception) -> Response:
    target = _target(request)
    if request.headers.get("sec-fetch-site") == "cross-site":
        # A link followed from another site arrives without the SameSite=Strict cookie; load
        # the page again from this site, which sends it (and then asks to sign in if need be).
        return _renderer(request).page(request, "bounce.html", {"target": target}, private=True)
    return RedirectResponse(with_query("/web/login", {"next": target}), status_code=303)


def _root() -> RedirectResponse:
    return RedirectResponse("/web/", status_code=307)


def install_pages(app: FastAPI) -> None:
    """Add the web console (pages under ``/web/``, their assets, ``/`` to it) to ``app``."""
    app.state.web_sessions = web_sessions.SessionStore()
    app.state.web_renderer = Renderer()
    app.include_router(router)
    app.mount("/web/static", StaticFiles(directory=str(STATIC)), name="web-static")
    if not any(getattr(route, "path", None) == "/" for route in app.routes):
        app.add_api_route("/", _root, methods=["GET"], include_in_schema=False)
    app.add_exception_handler(PageError, _error_page)
    app.add_exception_handler(SignInRequired, _sign_in)


__all__ = ["install_pages"]
