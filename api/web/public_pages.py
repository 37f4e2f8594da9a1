"""The public face of the web console: the register of models and each model's public page.

No sign-in is needed: ``/web/public`` presents the same register document as
``/public/models.json`` (`Queries.public_register`), grouped by where each model stands;
``/web/public/models/{model}`` one model's entry with its outlet's published essays
(`Queries.public_model`), where the reader's browser proves the preserved weights' leaf and each
essay's draft, approval and publication included in the signed log and compares them with what
the page shows (``static/verify.js``, ``data-verify-leaves``). Only fields the disclosure policy
leaves public reach these pages: the register reads none of an access request, and an essay's
events have no private field.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from api.web.context import page, router, services_of, viewer
from projections.public_essays import MAX_FEED_ENTRIES, MAX_PAGE_ESSAYS

# The register's groups, in the order shown: retired models first, as the public asks first
# what became of a model it used.
RETIRED, SCHEDULED, SERVING = "retired", "scheduled", "serving"
GROUP_TITLES = {
    RETIRED: "Retired models",
    SCHEDULED: "Retirement scheduled",
    SERVING: "Not scheduled for retirement",
}


def _group_of(entry: dict[str, Any]) -> str:
    """Which group of the register page a model's entry is listed in (by its dates alone)."""
    retirement = entry["retirement"]
    if retirement["retired_on"] is not None:
        return RETIRED
    return SCHEDULED if retirement["scheduled_for"] is not None else SERVING


def _groups(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The register's entries by group, each group in the register's order; empty ones left out."""
    groups = [
        {"key": key, "title": title, "models": [m for m in models if _group_of(m) == key]}
        for key, title in GROUP_TITLES.items()
    ]
    return [group for group in groups if group["models"]]


@router.get("/public")
def public_register_page(request: Request) -> Response:
    """The register of every model: what became of it, what stays open and how to ask."""
    seen = viewer(request)
    services = services_of(request)
    register = services.queries.public_register(sequence_of=services.log.sequence_of)
    return page(
        request,
        "public_register.html",
        seen,
        {
            "title": "Retired models: the public register",
            "section": "public",
            "groups": _groups(register.document["models"]),
            "count": len(register.document["models"]),
        },
        # A signed-in reader's page names them (and carries their form token): never stored.
        private=seen.actor is not None,
    )


@router.get("/public/models/{model}")
def public_model_page(request: Request, model: str) -> Response:
    """One model's public page: its register entry, its preserved weights and its outlet's
    published essays, each checked by the reader's browser against the signed log."""
    seen = viewer(request)
    services = services_of(request)
    found = services.queries.public_model(model, sequence_of=services.log.sequence_of)
    return page(
        request,
        "public_model.html",
        seen,
        {
            "title": f"{found.model}: what became of it",
            "section": "public",
            "model": found.model,
            "entry": found.entry,
            "essays": found.essays,
            "max_essays": MAX_PAGE_ESSAYS,
            "max_feed": MAX_FEED_ENTRIES,
            # The browser compares the signed records with exactly what the template rendered.
            "weights_claims": found.weights_claims,
        },
        private=seen.actor is not None,
    )
