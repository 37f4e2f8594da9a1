"""A researcher's own pages: their access requests, and the form to ask for access.

``/web/my`` lists the signed-in researcher's own requests across models, newest first
(`Queries.own_requests`): status, purpose and scope, a denial's reason code (explained) and
reason, a grant's terms and expiry, and links to the decisions in the log. A denied request
offers its appeal (the ``appeal_access_denial`` form, `api.web.forms`) and a new request in its
place (the request form with ``resubmission_of`` filled in). Only the reader's own requests are
read: another person's never reaches the page, not even sealed.

``/web/my/request`` is the ``request_access`` form (`Queries.request_offer`): the models whose
access policy keeps a channel open, each with its channels and audiences, or the model named in
the query; a fresh request id to keep or change. Both forms post to ``/web/record/{command}``,
where the ledger records the command, or refuses it, as for every door.

Whether the reader may ask for access is the authority table's to say (``request_access`` among
the role's commands); a role that may not is told these pages are for researchers.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from api.web import forms
from api.web.context import SignInRequired, Viewer, page, router, services_of, viewer
from api.web.params import text
from domain import commands as cmd
from domain.authority import commands_for
from domain.decisions import DENIAL_REASONS

REQUEST = "request_access"
APPEAL = "appeal_access_denial"
PRIVATE = " Private: sealed in the public record; read by you, the board and auditors."
# What each field of a researcher's forms is for, said to the researcher (the forms' own hints,
# `api.web.forms.HINTS`, speak to every reader of a command's form).
HINTS = {
    REQUEST: {
        "request_id": "Your name for this request, unique for the model; public. The suggestion "
        "is fresh: keep it or change it.",
        "requester": "Your name, as the board should know you." + PRIVATE,
        "organisation": "The university, company or group you work for." + PRIVATE,
        "requester_group": "The kind of organisation; public, so the fairness report can "
        "compare how each group's requests are decided.",
        "purpose": "What the access is for; the board reads it against the access policy."
        + PRIVATE,
        "scope": "Which channel (from the policy above), for how long, for how many people."
        + PRIVATE,
        "resubmission_of": "The id of your denied request this one replaces, if any; public.",
        "rationale": "Why you need this model, and not its successor." + PRIVATE,
        "evidence": forms.HINTS["evidence"] + PRIVATE,
    },
    APPEAL: {
        "new_facts": "What the board did not know when it denied the request." + PRIVATE,
        "rationale": "Why the board should decide again." + PRIVATE,
        "evidence": forms.HINTS["evidence"] + PRIVATE,
    },
}


def _for_researchers(request: Request, seen: Viewer) -> Response:
    """The page telling a role that may not request access that these pages are for
    researchers (what the role may do instead is in the navigation)."""
    return page(
        request,
        "my_requests.html",
        seen,
        {"title": "For researchers", "section": "my", "for_researchers": False},
        status=403,
    )


def suggested_request_id() -> str:
    """A fresh request id to suggest (the researcher may change it): the day and a random part,
    so two suggestions never meet."""
    return f"req-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"


def _with_hints(form: forms.CommandForm) -> forms.CommandForm:
    """``form`` with each field's hint said to a researcher (what it is for, who reads it)."""
    hints = HINTS.get(form.command, {})
    fields = tuple(replace(f, hint=hints.get(f.name, f.hint)) for f in form.fields)
    return replace(form, fields=fields)


@router.get("/my")
def my_requests(request: Request) -> Response:
    """The reader's own access requests, newest first, with what each denial offers."""
    seen = viewer(request)
    if seen.actor is None:
        raise SignInRequired
    if REQUEST not in commands_for(seen.actor.role):
        return _for_researchers(request, seen)
    own = services_of(request).queries.own_requests(seen.actor)
    appeals = {
        (item.request.model, item.request.request_id): _with_hints(
            forms.command_form(
                APPEAL, {"model": item.request.model, "request_id": item.request.request_id}
            )
        )
        for item in own.requests
        if item.may_appeal
    }
    return page(
        request,
        "my_requests.html",
        seen,
        {
            "title": "My access requests",
            "section": "my",
            "for_researchers": True,
            "own": own,
            "appeals": appeals,
            "denial_reasons": DENIAL_REASONS,
        },
    )


@router.get("/my/request")
def request_form(request: Request) -> Response:
    """The form to ask for access to a model (the ``request_access`` command)."""
    seen = viewer(request)
    if seen.actor is None:
        raise SignInRequired
    if REQUEST not in commands_for(seen.actor.role):
        return _for_researchers(request, seen)
    model = text(request.query_params, "model", cmd.MAX_NAME_CHARS)
    earlier_id = text(request.query_params, "resubmission_of", cmd.MAX_NAME_CHARS)
    offer = services_of(request).queries.request_offer(
        seen.actor, model=model, resubmission_of=earlier_id
    )
    values: dict[str, str] = {"request_id": suggested_request_id()}
    if earlier_id:
        values["resubmission_of"] = earlier_id
    values.update(offer.earlier_values())  # the researcher's own denied request, to amend
    fixed = {"model": model} if model else {}
    form = _with_hints(forms.command_form(REQUEST, fixed, values))
    context: dict[str, Any] = {
        "title": "Request access to a model",
        "section": "my",
        "form": form,
        "offer": offer,
    }
    return page(request, "my_request_form.html", seen, context)


__all__ = ["my_requests", "request_form", "suggested_request_id"]
