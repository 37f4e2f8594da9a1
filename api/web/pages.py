"""The web console's record pages, and `install_pages(app)`, which adds the console to the API.

Every page is rendered on the server from the same services and projections as the JSON API
(the ledger for a model's state now or in the past, the views for the timeline, search and
registers, the fairness report, the transparency log), read-only: it reads its query string
(`api.web.params`), asks `services.queries` or `services.log`, and renders its template
(`api.web.context.page`). The public parts (the checkpoint and key on the overview, a model's
preserved-weights manifest, a decision as its leaf shows it, the verify page) need no account,
as in the API; everything else is for a signed-in reader (`api.web.signin`). A decision's
private values are opened only for a signed-in reader allowed to open them
(`Queries.shown_decision`).

The pages live under ``/web/`` (the API's own paths, ``/models``, ``/timeline`` and so on, are
JSON); ``/`` redirects to ``/web/``. The decision and verify pages let the reader's browser
check the log's proofs itself (``static/verify.js``).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.bootstrap import Services
from api.web import sessions as web_sessions
from api.web.context import (
    PageError,
    SignInRequired,
    error_page,
    page,
    reader,
    router,
    services_of,
    viewer,
)
from api.web.params import (
    MAX_VERSION,
    MOMENT_CHARS,
    PAGE_SIZES,
    TimelineFilters,
    decimal,
    excerpt,
    moment,
    text,
    whole_number,
)
from api.web.params import as_of as as_of_param
from api.web.render import (
    STATIC,
    Renderer,
    form_moment,
    key_fingerprint,
    path_part,
    svg_data_uri,
)
from api.web.signin import sign_in_first
from domain.authority import may_read
from domain.decisions import Role
from domain.errors import LedgerError
from projections.queries import MAX_SEARCH_RESULTS, TimelinePage

ROLES = tuple(role.value for role in Role)
MANIFEST_SHOWN = 500
# A model's own decisions a form records from its page; those about one request or essay are
# offered in the queues, beside what they decide.
RECORD_ON_MODEL_PAGE = (
    "schedule_retirement",
    "retire_model",
    "archive_artifact",
    "record_archive_check",
    "record_signal",
    "record_interview",
    "record_preference",
    "set_access_policy",
    "draft_essay",
)
MAX_CRITERIA_DISTANCE = 10.0  # the fairness report's own bound (`projections.queries`)
MAX_CHECKPOINT_CHARS = 8192  # a signed checkpoint is a few hundred characters
_SEQUENCE = re.compile(r"[0-9]{1,18}")
_CHECKPOINT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _timeline(services: Services, filters: TimelineFilters) -> TimelinePage:
    return services.queries.timeline(
        model=filters.model,
        event_type=filters.type,
        actor=filters.actor,
        role=filters.role,
        since=filters.since_at,
        until=filters.until_at,
        after=filters.after,
        limit=filters.limit,
    )


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


def _log_facts(services: Services) -> dict[str, Any]:
    """The public facts of the log a reader keeps and compares: its checkpoint and key."""
    return {"checkpoint": _checkpoint(services), "server_key": _server_key(services)}


def _checklist_counts(services: Services) -> dict[str, dict[str, int]]:
    """Per model, how many checklist steps are anomalies and how many are not yet done."""
    from projections.checklist import ANOMALY, NOT_YET

    return {
        item.model: {
            "anomalies": sum(step.status == ANOMALY for step in item.steps),
            "not_yet": sum(step.status == NOT_YET for step in item.steps),
        }
        for item in services.queries.checklist()
    }


# --- pages --------------------------------------------------------------------------------------


@router.get("/")
def overview(request: Request) -> Response:
    """Every model with its status (for readers of the records), and the latest signed
    checkpoint (for all)."""
    seen = viewer(request)
    services = services_of(request)
    reads = seen.actor is not None and may_read(seen.actor.role)
    models = services.queries.model_statuses() if reads else None
    steps = _checklist_counts(services) if models is not None else {}
    return page(
        request,
        "overview.html",
        seen,
        {
            "title": "Overview",
            "section": "overview",
            "models": models,
            "checklist_counts": steps,
            **_log_facts(services),
        },
        private=seen.actor is not None,
    )


@router.get("/models/{model}")
def model_page(request: Request, model: str) -> Response:
    """A model: its state now or as of a moment or version, manifest, registers, timeline."""
    seen = reader(request)
    services = services_of(request)
    queries = services.queries
    params = request.query_params
    version = whole_number(params, "version", 1, MAX_VERSION)
    as_of_text = text(params, "as_of", MOMENT_CHARS)
    as_of = moment(as_of_text, "as_of")
    # The model now and as read, with its checklist: its events read once, none as records.
    read = queries.model_at(model, version=version, at=as_of)
    current, state, shown = read.current, read.lifecycle, read.state
    filters = TimelineFilters.parse(params, model=model)
    timeline = _timeline(services, filters)
    path = f"/web/models/{path_part(model)}"
    travel = {"version": version, "as_of": as_of_text}
    return page(
        request,
        "model.html",
        seen,
        {
            "title": model,
            "section": "models",
            "model": model,
            "state": shown,
            "weights": state.weights,
            # The first files of its manifest, read by digest (the event names it so).
            "manifest_files": queries.manifest_page(
                state.weights.manifest_digest, 0, MANIFEST_SHOWN
            ).files
            if state.weights
            else (),
            "manifest_shown": MANIFEST_SHOWN,
            "current_version": current.version,
            "current_status": current.lifecycle_status,
            "travel": travel,
            "as_of_value": form_moment(as_of),
            "travelling": version is not None or as_of is not None,
            "filters": filters,
            "entries": timeline.entries,
            "paging": filters.paging(path, timeline, with_model=False),
            "path": path,
            "travel_query": {key: value for key, value in travel.items() if value},
            "filter_query": filters.query(with_model=False),
            # Requesters, purposes and reasons only for a reader who may open them.
            "access_requests": queries.register("access", model, reader=seen.actor),
            "policies": queries.register("policies", model),
            "essays": queries.register("essays", model),
            "preferences": queries.register("preferences", model),
            "signals": queries.register("signals", model),  # by kind, then period
            "checklist": read.checklist,
            "roles": ROLES,
            "page_sizes": PAGE_SIZES,
            # The decisions about this model a form records (offered where the role may).
            "record_commands": RECORD_ON_MODEL_PAGE,
        },
    )


@router.get("/models/{model}/manifest")
def manifest_page(request: Request, model: str) -> Response:
    """A model's latest preserved-weights manifest (public, as in the API)."""
    seen = viewer(request)
    queries = services_of(request).queries
    weights = queries.weights(model)
    # Its first files, read by digest (the event names them so); the rest page by page as JSON.
    first = queries.manifest_page(weights.manifest_digest, 0, MANIFEST_SHOWN)
    return page(
        request,
        "manifest.html",
        seen,
        {
            "title": f"{model}: preserved weights",
            "section": "models",
            "model": model,
            "weights": weights,
            "files": first.files,
            "manifest_shown": MANIFEST_SHOWN,
            "total_bytes": weights.total_bytes,
        },
        private=False,
    )


@router.get("/timeline")
def timeline_page(request: Request) -> Response:
    """Every decision of every model, filtered and paged."""
    seen = reader(request)
    services = services_of(request)
    filters = TimelineFilters.parse(request.query_params)
    timeline = _timeline(services, filters)
    return page(
        request,
        "timeline.html",
        seen,
        {
            "title": "Timeline",
            "section": "timeline",
            "filters": filters,
            "entries": timeline.entries,
            "paging": filters.paging("/web/timeline", timeline, with_model=True),
            "model_names": [m.model for m in services.queries.model_statuses()],
            "roles": ROLES,
            "page_sizes": PAGE_SIZES,
        },
    )


@router.get("/decisions/{sequence}")
def decision_page(request: Request, sequence: str) -> Response:
    """One decision in full, with its leaf hash and a check in the reader's own browser.

    Public, as its leaf is: what the page shows is the leaf's public form, with the private
    values opened only for a signed-in reader allowed to open them (`Queries.shown_decision`).
    """
    seen = viewer(request)
    services = services_of(request)
    if not _SEQUENCE.fullmatch(sequence):
        raise PageError(404, f"there is no decision {excerpt(sequence)}")
    number = int(sequence)
    shown = services.queries.shown_decision(number, signed_in=seen.actor)
    leaf = services.log.leaf_hash(number)
    facts = dict(shown["facts"])
    criteria = facts.get("criteria")
    if isinstance(criteria, dict):  # its own table; any other form is shown with the facts
        del facts["criteria"]
    else:
        criteria = None
    return page(
        request,
        "decision.html",
        seen,
        {
            "title": f"Decision {number}",
            "section": "timeline",
            "shown": shown,
            "facts": facts,
            "criteria": criteria,
            "leaf_hash": leaf.hex() if leaf else None,
            # The browser compares the signed record with exactly what the template rendered.
            "claims": shown,
        },
    )


@router.get("/search")
def search_page(request: Request) -> Response:
    """Justification search, ranked as `reliquary why` ranks it."""
    seen = reader(request)
    queries = services_of(request).queries
    params = request.query_params
    query = text(params, "q", 500)
    model = text(params, "model", 200)
    kind = text(params, "type", 100)
    limit = whole_number(params, "limit", 1, MAX_SEARCH_RESULTS) or 20
    after = text(params, "after", 40)
    found = (
        queries.search_page(query, model=model, event_type=kind, limit=limit, after=after)
        if query
        else None
    )
    hits = found.hits if found else []
    return page(
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
            "after": after or "",
            "next_after": found.next_after if found else None,
            "limit": limit,
            "model_names": [m.model for m in queries.model_statuses()],
        },
    )


@router.get("/fairness")
def fairness_page(request: Request) -> Response:
    """The fairness report with its charts, each figure explained; printable.

    It names the tree it was computed from and the command that recomputes it from an audit
    bundle (`/web/fairness/bundle`), offline, to the same JSON.
    """
    from projections import fairness
    from projections.fairness.reproduce import reproduce_command

    seen = reader(request)
    params = request.query_params
    distance_text = text(params, "criteria_distance", 20)
    distance = decimal(params, "criteria_distance", 0.0, MAX_CRITERIA_DISTANCE)
    size = whole_number(params, "size", 0, 2**62)
    as_of_text = text(params, "as_of", MOMENT_CHARS)
    as_of = as_of_param(as_of_text, "as_of")
    queries = services_of(request).queries
    thresholds = {} if distance is None else {"criteria_distance": distance}
    report = queries.fairness(thresholds=thresholds, as_of=as_of, size=size)
    basis = queries.basis(report)
    charts = {name: svg_data_uri(svg) for name, svg in fairness.report_charts(report).items()}
    return page(
        request,
        "fairness.html",
        seen,
        {
            "title": "Fairness report",
            "section": "fairness",
            "report": report,
            "approval_chart": charts[fairness.APPROVAL_CHART],
            "veto_chart": charts[fairness.VETO_CHART],
            "criteria_names": report.criteria_consistency.criteria_names,
            "criteria_distance": distance_text or "",
            "as_of": as_of_text or "",
            "reproduce": reproduce_command(report),
            # A bundle of the latest signed checkpoint holds the report's events once it covers
            # them (the service signs new events within its checkpoint interval).
            "bundle_covers": basis.covered,
            "signed_size": basis.checkpoint_size,
        },
    )


@router.get("/fairness/bundle")
def fairness_bundle(request: Request) -> Response:
    """The audit bundle of the latest signed checkpoint, to recompute a report offline."""
    reader(request)
    archive = services_of(request).log.export_archive()
    return Response(
        archive,
        media_type="application/gzip",
        headers={"Content-Disposition": 'attachment; filename="reliquary-bundle.tar.gz"'},
    )


@router.get("/verify")
def verify_page(request: Request) -> Response:
    """Paste a kept checkpoint; the browser proves the current tree extends it (public)."""
    seen = viewer(request)
    kept = request.query_params.get("checkpoint", "")
    if len(kept) > MAX_CHECKPOINT_CHARS:
        raise PageError(
            400,
            f"checkpoint: a signed checkpoint is a few hundred characters, at most "
            f"{MAX_CHECKPOINT_CHARS}; got {len(kept)}",
        )
    if _CHECKPOINT_CONTROL.search(kept):
        raise PageError(400, "checkpoint: a signed checkpoint has no control characters")
    return page(
        request,
        "verify.html",
        seen,
        {
            "title": "Verify the log",
            "section": "verify",
            "kept": kept.replace("\r\n", "\n"),
            **_log_facts(services_of(request)),
        },
        private=False,
    )


# --- installing ---------------------------------------------------------------------------------


def _root() -> RedirectResponse:
    return RedirectResponse("/web/", status_code=307)


def _no_such_page() -> Response:
    """Any other path under ``/web/``: a 404 page, as HTML like every page of the console."""
    raise PageError(404, "there is no such page in the console")


def install_pages(app: FastAPI) -> None:
    """Add the web console (pages under ``/web/``, their assets, ``/`` to it) to ``app``.

    Every route joins the one `router` when its module is imported: the record pages here,
    signing in and out in `api.web.signin` (imported above, for `sign_in_first`), the forms
    that record decisions in `api.web.forms`.
    """
    from api.web import (
        forms,  # noqa: F401 (its routes join the router when imported)
        public_pages,  # noqa: F401 (the public register and model pages)
        queues,  # noqa: F401 (the board's and the reviewers' queues)
        researchers,  # noqa: F401 (a researcher's own requests and form)
    )

    app.state.web_sessions = web_sessions.SessionStore()
    app.state.web_renderer = Renderer()
    app.include_router(router)
    app.mount("/web/static", StaticFiles(directory=str(STATIC)), name="web-static")
    # After the pages and their assets: any other path under /web/ is the console's 404 page.
    app.add_api_route("/web/{rest:path}", _no_such_page, methods=["GET"], include_in_schema=False)
    if not any(getattr(route, "path", None) == "/" for route in app.routes):
        app.add_api_route("/", _root, methods=["GET"], include_in_schema=False)
    app.add_exception_handler(PageError, error_page)
    app.add_exception_handler(SignInRequired, sign_in_first)


__all__ = ["install_pages"]
