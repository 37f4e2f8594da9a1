"""The review queues: the board's access requests and the reviewers' essays, each decision a form.

``/web/queue/access`` lists the access requests awaiting a decision (pending, or reopened by
an appeal) across models, oldest first, with the requester's other requests and the model's
access policy beside each (`Queries.access_queue`); a request waiting longer than
``RELIQUARY_STALE_REQUEST_DAYS`` is highlighted. Each request has its approve and deny forms
(`api.web.forms`, posted to ``/web/record/{command}``), and several can be decided at once
with one rationale (``POST /web/queue/access/decide``): each chosen request is then its own
command, recorded as its own event or refused by the ledger with its reason, and the result
page lists every one. The shared fields are checked once before any is sent, so a missing
reason records nothing for any request and is shown beside its field.

``/web/queue/essays`` lists the drafts awaiting review (approve, or veto for high risk only)
and the approved essays awaiting publication (`Queries.essay_queue`).

What a page offers follows the reader's role (``may``); whether a decision may be taken is the
ledger's to say, for each command, as for every door.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import Response

from api.bootstrap import Services
from api.web import forms
from api.web.context import PageError, Viewer, page, reader, router, services_of
from api.web.params import excerpt, text, whole_number
from api.web.render import with_query
from domain import commands as cmd
from domain.decisions import DENIAL_REASONS
from domain.errors import CommandRejected
from projections.queues import GROUPS, MAX_AGE_DAYS, MAX_QUEUE_OFFSET, MAX_QUEUE_PAGE

MAX_DECIDED_AT_ONCE = 50
"""The most requests one bulk decision takes (each is its own command and event)."""
DECISIONS = {"approve": "approve_access_request", "deny": "deny_access_request"}
"""What a bulk decision may be, and the command each sends."""
LOG_WAIT_SECONDS = 2.0
"""How long a bulk decision's page waits for the log to take what it recorded (its sequences)."""
# The fields every request of a bulk decision shares, per command (the rest, the model and the
# request id, are each request's own).
_SHARED = {
    command: tuple(f.name for f in forms.form_fields(command) if f.name != "request_id")
    for command in DECISIONS.values()
}
_ESSAY_FORMS = ("approve_essay", "veto_essay")


@dataclass(frozen=True)
class Filters:
    """The access queue's filters and page, as the query string gives them."""

    model: str | None
    group: str | None
    min_age: int | None
    offset: int
    limit: int

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Filters:
        """Read and check the filters (an invalid one is a 400 page naming it)."""
        return cls(
            model=text(params, "model", cmd.MAX_NAME_CHARS),
            group=text(params, "group", 50),
            min_age=whole_number(params, "min_age", 0, MAX_AGE_DAYS),
            offset=whole_number(params, "offset", 0, MAX_QUEUE_OFFSET) or 0,
            limit=whole_number(params, "limit", 1, MAX_QUEUE_PAGE) or MAX_QUEUE_PAGE,
        )

    def query(self) -> dict[str, Any]:
        """The filters as query parameters (without the page position)."""
        return {
            "model": self.model,
            "group": self.group,
            "min_age": self.min_age,
            "limit": self.limit if self.limit != MAX_QUEUE_PAGE else None,
        }


def choice_of(model: str, request_id: str) -> str:
    """A request as its checkbox names it: model and id, each percent-encoded, joined by '/'
    (a name may hold a '/', its encoding never does)."""
    return f"{quote(model, safe='')}/{quote(request_id, safe='')}"


def parse_choice(value: str) -> tuple[str, str]:
    """The model and request id a checkbox's value names; a 400 page for anything else."""
    parts = value.split("/")
    try:
        model, request_id = (unquote(part, errors="strict") for part in parts)
    except (ValueError, UnicodeDecodeError):
        raise PageError(400, f"chosen: not a request of the queue: {excerpt(value)}") from None
    for part in (model, request_id):
        if not part or len(part) > cmd.MAX_NAME_CHARS or not part.isprintable():
            raise PageError(400, f"chosen: not a request of the queue: {excerpt(value)}")
    return model, request_id


def _chosen(posted: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    values = list(posted.get("chosen", ()))
    if len(values) > MAX_DECIDED_AT_ONCE:
        raise PageError(
            400,
            f"at most {MAX_DECIDED_AT_ONCE} requests are decided at once; {len(values)} were "
            "chosen: decide them in parts",
        )
    chosen = [parse_choice(value) for value in values]
    if len(set(chosen)) != len(chosen):
        raise PageError(400, "chosen: a request was chosen twice")
    return chosen


# --- the access queue ---------------------------------------------------------------------------


@router.get("/queue/access")
def access_queue(request: Request) -> Response:
    """The access requests awaiting the board, oldest first, each with its forms."""
    seen = reader(request)
    return _access_page(request, seen, Filters.parse(request.query_params))


def _access_page(
    request: Request,
    seen: Viewer,
    filters: Filters,
    *,
    bulk: Mapping[str, str] | None = None,
    bulk_errors: Mapping[str, str] | None = None,
    bulk_refusal: str = "",
    chosen: Sequence[tuple[str, str]] = (),
    status: int = 200,
) -> Response:
    services = services_of(request)
    queue = services.queries.access_queue(
        reader=seen.actor,
        stale_days=services.settings.stale_request_days,
        model=filters.model,
        group=filters.group,
        min_age_days=filters.min_age,
        offset=filters.offset,
        limit=filters.limit,
    )
    values, errors = dict(bulk or {}), dict(bulk_errors or {})
    fixed = {"model": "", "request_id": ""}  # each request's own: not fields of the bulk form
    next_offset = queue.next_offset
    return page(
        request,
        "queue_access.html",
        seen,
        {
            "title": "Access requests awaiting a decision",
            "section": "queue",
            "queue": queue,
            "filters": filters,
            "groups": GROUPS,
            "choice_of": choice_of,
            "chosen": {choice_of(m, r) for m, r in chosen},
            "row_forms": {
                (q.request.model, q.request.request_id): (
                    forms.command_form(
                        "approve_access_request",
                        {"model": q.request.model, "request_id": q.request.request_id},
                    ),
                    forms.command_form(
                        "deny_access_request",
                        {"model": q.request.model, "request_id": q.request.request_id},
                    ),
                )
                for q in queue.rows
            },
            "bulk_approve": forms.command_form("approve_access_request", fixed, values, errors),
            "bulk_deny": forms.command_form("deny_access_request", fixed, values, errors),
            "bulk_decision": values.get("decision", ""),
            "bulk_refusal": bulk_refusal,
            "bulk_errors": errors,
            "max_at_once": MAX_DECIDED_AT_ONCE,
            "denial_reasons": DENIAL_REASONS,
            "decide_action": _with_filters("/web/queue/access/decide", filters),
            "next_page": _with_filters("/web/queue/access", filters, next_offset)
            if next_offset is not None
            else None,
            "first_page": _with_filters("/web/queue/access", filters) if filters.offset else None,
        },
        status=status,
    )


def _with_filters(path: str, filters: Filters, offset: int | None = None) -> str:
    return with_query(path, {**filters.query(), "offset": offset})


@dataclass(frozen=True)
class Decided:
    """One request of a bulk decision and what became of it."""

    model: str
    request_id: str
    outcome: forms.Outcome
    sequence: int | None


@router.post("/queue/access/decide")
async def decide_several(request: Request) -> Response:
    """Decide the chosen requests alike, each its own command: every one is recorded as its
    own event or refused with the ledger's reason, and the page lists each.

    The fields the requests share (the decision, its terms or reason, the rationale) are
    checked once first: a problem there is shown beside its field and nothing is sent.
    """
    posted = await forms.read_form(request)
    seen = forms.writer(request, posted)
    filters = Filters.parse(request.query_params)
    chosen = _chosen(posted)
    decision = forms.first(posted, "decision")
    values = {
        name: forms.first(posted, name)
        for name in ("decision", *{n for shared in _SHARED.values() for n in shared})
        if name in posted
    }

    def again(errors: Mapping[str, str], refusal: str = "") -> Response:
        return _access_page(
            request,
            seen,
            filters,
            bulk=values,
            bulk_errors=errors,
            bulk_refusal=refusal,
            chosen=chosen,
            status=400,
        )

    command = DECISIONS.get(decision)
    if command is None:
        return again({"decision": "choose approve or deny"})
    if not chosen:
        return again({}, "Choose at least one request (its checkbox), then decide.")
    shared = {name: values[name] for name in _SHARED[command] if name in values}
    problems = _shared_problems(command, shared, chosen[0], seen)
    if problems:
        return again(problems)
    services = services_of(request)
    outcomes = [
        (
            model,
            request_id,
            forms.record(
                services, command, {**shared, "model": model, "request_id": request_id}, seen
            ),
        )
        for model, request_id in chosen
    ]
    results = await _with_sequences(services, outcomes)
    recorded = sum(1 for r in results if r.outcome.recorded is not None)
    return page(
        request,
        "queue_decided.html",
        seen,
        {
            "title": "Requests decided",
            "section": "queue",
            "decision": decision,
            "results": results,
            "recorded": recorded,
            "refused": len(results) - recorded,
            "recorded_path": forms.recorded_path,
            "back": _with_filters("/web/queue/access", filters),
        },
        # Nothing recorded: the first refusal's status (a 403 for a role that may not decide).
        status=200 if recorded else results[0].outcome.status,
    )


async def _with_sequences(
    services: Services, outcomes: list[tuple[str, str, forms.Outcome]]
) -> list[Decided]:
    """Each outcome with the log sequence of what it recorded, waiting a moment for the log.

    The service's log follower takes new events within moments of being woken (`forms.record`
    wakes it); waiting up to `LOG_WAIT_SECONDS` lets the page name every sequence in the usual
    case. One the log has not yet taken is linked to its recorded page, which names it later.
    """
    sequences: dict[tuple[str, int], int | None] = {}
    deadline = time.monotonic() + (LOG_WAIT_SECONDS if services.follower is not None else 0)
    while True:
        for _, _, outcome in outcomes:
            done = outcome.recorded
            if done is not None and sequences.get((done.model, done.version)) is None:
                sequences[(done.model, done.version)] = services.log.sequence_of(
                    done.model, done.version
                )
        if all(v is not None for v in sequences.values()) or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.05)
    return [
        Decided(
            model,
            request_id,
            outcome,
            None
            if outcome.recorded is None
            else sequences.get((outcome.recorded.model, outcome.recorded.version)),
        )
        for model, request_id, outcome in outcomes
    ]


def _shared_problems(
    command: str, shared: Mapping[str, str], first: tuple[str, str], seen: Viewer
) -> dict[str, str]:
    """The problems of the fields every chosen request shares, by field: the command document
    of the first request, validated as the ledger would (`domain.commands`), before any is
    sent. A problem of a request's own (its model or id) is left to that request's outcome."""
    if seen.actor is None:  # `writer` let no such post through
        return {}
    model, request_id = first
    document = forms.document_of(
        command, {**shared, "model": model, "request_id": request_id}, seen.actor
    )
    try:
        cmd.parse_command_object(document)
    except CommandRejected as error:
        fields = error.facts.get("fields") or {}
        return {name: message for name, message in fields.items() if name in _SHARED[command]}
    return {}


# --- the essays ---------------------------------------------------------------------------------


@router.get("/queue/essays")
def essay_queue(request: Request) -> Response:
    """Drafts awaiting review (approve, or veto for high risk only) and approved essays
    awaiting publication, oldest first, each with its forms."""
    seen = reader(request)
    queue = services_of(request).queries.essay_queue()
    return page(
        request,
        "queue_essays.html",
        seen,
        {
            "title": "Essays to review",
            "section": "queue",
            "queue": queue,
            "review_forms": {
                (e.model, e.essay_id): tuple(
                    forms.command_form(name, {"model": e.model, "essay_id": e.essay_id})
                    for name in _ESSAY_FORMS
                )
                for e in queue.drafted
            },
            "publish_forms": {
                (e.model, e.essay_id): forms.command_form(
                    "publish_essay", {"model": e.model, "essay_id": e.essay_id}
                )
                for e in queue.approved
            },
        },
    )


__all__ = ["MAX_DECIDED_AT_ONCE", "choice_of", "parse_choice"]
