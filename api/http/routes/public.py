"""The public face over HTTP, no token: the register of models and the essays' Atom feeds.

``GET /public/models.json``: what became of every model (status, lifecycle dates, successor,
the channels kept open and for whom, preserved weights with where the log proves them), so that
anyone can plan a migration as from a provider's models API. The document is
`projections.public_register.public_register`, read through `Queries.public_register` (the web
console's register page presents the same one).

``GET /public/essays.atom`` and ``GET /public/models/{model}/essays.atom``: the newest published
essays of every model, or of one, as an Atom feed (RFC 4287), each entry naming the essay's
content digest, its disclaimer's version and the log sequence of its publication
(`Queries.essay_feed`).

Each answer has a short ``Cache-Control`` (it changes with every decision), an ``ETag`` for a
conditional GET, and the ``Reliquary-Basis`` it was read on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.http.deps import ServicesDep
from api.http.routes.queries import BASIS, BASIS_HEADER
from api.http.routes.transparency import LATEST, cached_answer, json_bytes
from projections.public_essays import MAX_FEED_ENTRIES, EssayFeed, PublishedEssay, feed_id

router = APIRouter(prefix="/public", tags=["public"])

ATOM = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml"
EMPTY_FEED_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)
"""An empty feed's ``updated``: it never changed, so a reader's cached copy stays current."""

FEED_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": f"An Atom feed (RFC 4287), the newest {MAX_FEED_ENTRIES} essays at most",
        "content": {ATOM_TYPE: {}},
        **BASIS[200],
    },
}


@router.get(
    "/models.json",
    operation_id="public-models",
    summary="The public register of models",
    response_model=dict[str, Any],
    responses=BASIS,
)
def models(services: ServicesDep, request: Request) -> Response:
    """Every registered model's public facts, in order of registration (docs/api.md, "The
    public register of models"). No private value: only fields the disclosure policy leaves
    public. A weights ``sequence`` is null until the log has taken that event."""
    register = services.queries.public_register(sequence_of=services.log.sequence_of)
    return cached_answer(
        request,
        json_bytes(register.document),
        "application/json",
        LATEST,
        headers={BASIS_HEADER: register.basis.header()},
    )


@router.get(
    "/essays.atom",
    operation_id="public-essays-feed",
    summary="Every model's published essays, as an Atom feed",
    response_class=Response,
    responses=FEED_RESPONSES,
)
def essays_feed(services: ServicesDep, request: Request) -> Response:
    """The newest published essays of every model's outlet, newest first (docs/api.md, "The
    essays' Atom feeds"): title, publication moment, content digest, disclaimer version and the
    log sequence of the publication, each linked to its model's public page."""
    feed = services.queries.essay_feed(None, sequence_of=services.log.sequence_of)
    return _feed_answer(request, feed)


@router.get(
    "/models/{model}/essays.atom",
    operation_id="public-model-essays-feed",
    summary="One model's published essays, as an Atom feed",
    response_class=Response,
    responses=FEED_RESPONSES,
)
def model_essays_feed(model: str, services: ServicesDep, request: Request) -> Response:
    """The newest published essays of one model's outlet, as ``/public/essays.atom`` has them.
    An unknown model is a 404."""
    feed = services.queries.essay_feed(model, sequence_of=services.log.sequence_of)
    return _feed_answer(request, feed)


def _feed_answer(request: Request, feed: EssayFeed) -> Response:
    """The feed's XML, cached as the register is."""
    return cached_answer(
        request,
        atom_feed(feed, str(request.base_url)),
        ATOM_TYPE,
        LATEST,
        headers={BASIS_HEADER: feed.basis.header()},
    )


def atom_feed(feed: EssayFeed, base: str) -> bytes:
    """The feed as Atom XML (RFC 4287), its links absolute under ``base`` (ends in ``/``).

    ElementTree escapes every text and attribute, so a title holding ``<`` or ``&`` stays text.
    """
    ElementTree.register_namespace("", ATOM)
    root = ElementTree.Element(_atom("feed"))
    if feed.model is None:
        title, self_path, page = (
            "Published essays of every model",
            "public/essays.atom",
            "web/public",
        )
    else:
        title = f"Published essays of {feed.model}"
        self_path = f"public/models/{_path(feed.model)}/essays.atom"
        page = _model_page(feed.model)
    _text(root, "id", feed_id(feed.origin, feed.model))
    _text(root, "title", title)
    _text(
        root,
        "subtitle",
        "Each essay was approved by a reviewer and published unedited with a disclaimer; the "
        "log's signed checkpoints prove both decisions. Newest first, "
        f"{MAX_FEED_ENTRIES} at most.",
    )
    updated = feed.essays[0].published_at if feed.essays else EMPTY_FEED_UPDATED
    _text(root, "updated", _moment(updated))
    _link(root, base + self_path, "self", ATOM_TYPE)
    _link(root, base + page, "alternate", "text/html")
    _text(root, "generator", "Reliquary")
    for essay in feed.essays:
        _entry(root, feed.origin, essay, base)
    ElementTree.indent(root)
    data: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def _entry(root: ElementTree.Element, origin: str, essay: PublishedEssay, base: str) -> None:
    """One essay's entry: its id, title, moments, links, author (the model) and summary."""
    entry = ElementTree.SubElement(root, _atom("entry"))
    _text(entry, "id", feed_id(origin, essay.model, essay.essay_id))
    _text(entry, "title", essay.title)
    published = _moment(essay.published_at)
    _text(entry, "published", published)
    _text(entry, "updated", published)  # a published essay is never edited
    author = ElementTree.SubElement(entry, _atom("author"))
    _text(author, "name", essay.model)
    _link(entry, f"{base}{_model_page(essay.model)}#essay-{_path(essay.essay_id)}", "alternate")
    _link(entry, essay.location, "related")
    sequence = essay.published.sequence
    where = (
        f"log sequence {sequence}" if sequence is not None else "not yet in the transparency log"
    )
    _text(
        entry,
        "summary",
        f"Essay {essay.essay_id} of {essay.model}. Content digest {essay.content_digest}; "
        f"disclaimer version {essay.disclaimer_version}; publication recorded at {where}.",
    )


def _atom(name: str) -> str:
    return f"{{{ATOM}}}{name}"


def _text(parent: ElementTree.Element, name: str, text: str) -> None:
    ElementTree.SubElement(parent, _atom(name)).text = text


def _link(parent: ElementTree.Element, href: str, rel: str, kind: str | None = None) -> None:
    attributes = {"href": href, "rel": rel, **({"type": kind} if kind else {})}
    ElementTree.SubElement(parent, _atom("link"), attributes)


def _moment(moment: datetime) -> str:
    """An RFC 3339 date-time in UTC, as Atom's date constructs take (RFC 4287, 3.3)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _path(part: str) -> str:
    return quote(part, safe="")


def _model_page(model: str) -> str:
    return f"web/public/models/{_path(model)}"
