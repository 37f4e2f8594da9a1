"""The public face of the web console and the essays' Atom feeds, in process, on both backends.

On the demo ledger (with a pending access request of a researcher, whose private values must
appear nowhere, and a model of its own whose essay's title needs escaping), nobody signed in:
``/web/public`` lists every model with the values of ``/public/models.json``, retired models
first; a model's page lists exactly the essays its ledger state holds as published, and the
claims its browser check compares are the leaves' own fields; the Atom feeds parse, with one
entry per published essay and its digests; no private value of the ledger appears in any of
them; an unknown model is a 404.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from html import unescape
from typing import Any
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient

from api.cli.demo import load_demo
from domain.state import PUBLISHED
from projections.translog.leaves import leaf_fields
from tests.e2e.conftest import WebConsole
from tests.support import demo_private_values, doc, parse, register, unique

ATOM = "{http://www.w3.org/2005/Atom}"
OWN = unique("essayist")
ESSAY = unique("essay")
TITLE = 'Of <kept> & "lost" things'
DIGEST = "sha256:" + "cd" * 32
# A researcher's pending request on a retired model: every value private by the policy.
REQUESTER = unique("Ada Quill")
ORGANISATION = unique("Quill Institute")
PURPOSE = unique("a study of kept models, private purpose")
SCOPE = unique("private scope of the study")
RATIONALE = unique("the researcher's own private reasons")
RESEARCHER = unique("ada.quill")
OWN_PRIVATE = {REQUESTER, ORGANISATION, PURPOSE, SCOPE, RATIONALE, RESEARCHER}


def _load(ledger: Any) -> None:
    """The demo, a pending request on claude-opus-3, and a model of our own with one essay
    published (its title needs escaping) and one only drafted."""
    load_demo(ledger)
    request = doc(
        "request_access",
        "claude-opus-3",
        role="researcher",
        request_id=unique("req"),
        requester=REQUESTER,
        organisation=ORGANISATION,
        requester_group="academic",
        purpose=PURPOSE,
        scope=SCOPE,
    )
    request["actor"]["id"] = RESEARCHER
    request["rationale"] = RATIONALE
    ledger.execute(parse(request))
    ledger.execute(parse(register(OWN)))
    for essay, title in ((ESSAY, TITLE), (unique("draft"), "Only a draft")):
        ledger.execute(
            parse(
                doc(
                    "draft_essay",
                    OWN,
                    role="reviewer",
                    essay_id=essay,
                    title=title,
                    prompt_ref="https://essays.example/prompt",
                    content_digest=DIGEST if essay == ESSAY else "sha256:" + "ef" * 32,
                )
            )
        )
    ledger.execute(parse(doc("approve_essay", OWN, role="reviewer", essay_id=ESSAY)))
    published = doc(
        "publish_essay",
        OWN,
        role="reviewer",
        essay_id=ESSAY,
        disclaimer_version="v7",
        location="https://essays.example/kept?a=1&b=2",
    )
    ledger.execute(parse(published))


@pytest.fixture(scope="module")
def console(web_console: Callable[[Callable[[Any], object]], WebConsole]) -> WebConsole:
    console = web_console(_load)
    console.services.log.sign_checkpoint()  # every event in the log, so every essay proven
    return console


@pytest.fixture(scope="module")
def anonymous(console: WebConsole) -> TestClient:
    return console.anonymous()


@pytest.fixture(scope="module")
def register_json(anonymous: TestClient) -> dict[str, Any]:
    document: dict[str, Any] = anonymous.get("/public/models.json").json()
    return document


def _text(html: str) -> str:
    """What a reader sees of some HTML: its text, unescaped, with spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _row(html: str, model: str) -> str:
    found = re.search(rf'<tr data-model="{re.escape(model)}">.*?</tr>', html, re.S)
    assert found is not None, model
    return found.group(0)


def _cell(row: str, field: str) -> str:
    found = re.search(rf'<td [^>]*data-field="{field}"[^>]*>(.*?)</td>', row, re.S)
    assert found is not None, field
    return _text(found.group(1))


def _published(console: WebConsole, model: str) -> set[str]:
    """The essays the ledger's state of ``model`` holds as published."""
    state = console.services.ledger.state(model)
    return {essay_id for essay_id, essay in state.essays.items() if essay.status == PUBLISHED}


def _claims(html: str) -> list[list[dict[str, Any]]]:
    """The claims of every browser check on a page, in page order."""
    found = re.findall(r'<script type="application/json" data-claims>(.*?)</script>', html, re.S)
    return [json.loads(unescape(text)) for text in found]


def _feed(client: TestClient, path: str) -> ElementTree.Element:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/atom+xml"
    assert "events=" in response.headers["reliquary-basis"]
    return ElementTree.fromstring(response.content)


# --- the register page ----------------------------------------------------------------------


def test_the_register_page_needs_no_sign_in_and_shows_the_json_values(
    anonymous: TestClient, register_json: dict[str, Any]
) -> None:
    response = anonymous.get("/web/public")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"  # no one's page: a cache may keep it
    html = response.text
    assert 'aria-current="page">Retired models' in html
    for entry in register_json["models"]:
        row = _row(html, entry["model"])
        assert f'data-status="{entry["status"]}"' in row
        assert _cell(row, "release_date") == entry["release_date"]
        retirement = entry["retirement"]
        when = _cell(row, "retirement")
        if retirement["retired_on"]:
            assert when == f"retired on {retirement['retired_on']}"
        elif retirement["scheduled_for"]:
            assert when == f"to retire on {retirement['scheduled_for']}"
        else:
            assert when == "not scheduled"
        successor = _cell(row, "successor")
        assert successor == (
            f"replaced by {retirement['successor']}"
            if retirement["successor"]
            else "no successor named"
        )
        channels = entry["access"]["channels"]
        shown = _cell(row, "channels")
        if channels is None:
            assert shown.startswith("no access policy decided yet")
        for channel in channels or []:
            assert f'data-channel="{channel["channel"]}"' in row
            assert channel["audience"].replace("_", " ") in shown
        request = f'href="/web/my/request?model={entry["model"]}"'
        assert request in row
        weights = entry["weights"]
        if weights is None:
            assert _cell(row, "weights") == "none preserved"
        else:
            assert weights["manifest_digest"] in row
            assert f"log sequence {weights['sequence']}" in _cell(row, "weights")
        assert f'href="/web/public/models/{entry["model"]}"' in row


def test_retired_models_come_first(anonymous: TestClient, register_json: dict[str, Any]) -> None:
    html = anonymous.get("/web/public").text
    groups = re.findall(r'data-group="([a-z]+)"', html)
    assert groups[0] == "retired"
    assert groups == sorted(groups, key=["retired", "scheduled", "serving"].index)
    retired = [e["model"] for e in register_json["models"] if e["retirement"]["retired_on"]]
    first = html.index('data-group="retired"')
    others = html.find('data-group="scheduled"')
    for model in retired:
        assert first < html.index(f'data-model="{model}"') < (others if others > 0 else len(html))


# --- a model's page -------------------------------------------------------------------------


def test_a_model_page_states_what_became_of_it(
    anonymous: TestClient, register_json: dict[str, Any]
) -> None:
    opus = next(e for e in register_json["models"] if e["model"] == "claude-opus-3")
    html = anonymous.get("/web/public/models/claude-opus-3").text
    lead = _text(re.search(r'data-field="summary">(.*?)</p>', html, re.S).group(1))  # type: ignore[union-attr]
    assert lead == "claude-opus-3 was retired on 2026-01-05 and replaced by claude-opus-4-1."
    assert f'data-status="{opus["status"]}"' in html
    assert opus["weights"]["manifest_digest"] in html
    assert '<link rel="alternate" type="application/atom+xml"' in html
    assert 'href="/public/models/claude-opus-3/essays.atom"' in html
    assert 'href="/web/my/request?model=claude-opus-3"' in html


# The ids are fixed (OWN is random per process, and pytest-xdist's workers must collect the
# same test names).
@pytest.mark.parametrize(
    "model",
    ["claude-opus-3", "ember-3", "harbor-7b", OWN],
    ids=["claude-opus-3", "ember-3", "harbor-7b", "own-essayist"],
)
def test_a_model_page_lists_exactly_its_published_essays(
    console: WebConsole, anonymous: TestClient, model: str
) -> None:
    html = anonymous.get(f"/web/public/models/{model}").text
    listed = re.findall(r'<article class="essay" id="essay-[^"]+" data-essay="([^"]+)"', html)
    assert set(listed) == _published(console, model)
    assert len(listed) == len(set(listed))
    if model == "claude-opus-3":
        assert len(listed) == 5  # w04 was vetoed
        assert listed == sorted(listed, reverse=True)  # newest first: the weekly ids sort so
    if not listed:
        assert "has published no essay" in html


def test_the_claims_the_browser_checks_are_the_leaves_fields(
    anonymous: TestClient,
) -> None:
    html = anonymous.get("/web/public/models/claude-opus-3").text
    checks = _claims(html)
    assert len(checks) == 1 + 5  # the weights, then each essay
    weights, *essays = checks
    assert weights[0]["type"] == "WeightsPreserved"
    for essay in essays:
        assert [claim["type"] for claim in essay] == [
            "EssayDrafted",
            "EssayApproved",
            "EssayPublished",
        ]
        # One essay: the same id in all three.
        assert len({claim["facts"]["essay_id"] for claim in essay}) == 1
    for claim in [*weights, *(c for essay in essays for c in essay)]:
        leaf = leaf_fields(anonymous.get(f"/log/leaves/{claim['sequence']}").content)
        assert leaf["type"] == claim["type"]
        for name, value in claim["facts"].items():
            assert leaf["facts"][name] == value, (claim["sequence"], name)
            assert str(value) in unescape(html)  # the page shows it
        if "version" in claim:
            assert leaf["version"] == claim["version"]


def test_an_essay_title_is_escaped_and_an_unpublished_draft_is_not_listed(
    anonymous: TestClient,
) -> None:
    html = anonymous.get(f"/web/public/models/{OWN}").text
    assert "<kept>" not in html
    assert "Of &lt;kept&gt; &amp; &#34;lost&#34; things" in html
    assert "Only a draft" not in html
    assert "v7" in html
    assert 'href="https://essays.example/kept?a=1&amp;b=2"' in html


def test_an_unknown_model_is_a_404_page(anonymous: TestClient) -> None:
    response = anonymous.get("/web/public/models/claude-opus-9")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "claude-opus-9" in response.text
    assert anonymous.get("/public/models/claude-opus-9/essays.atom").status_code == 404


def test_a_signed_in_readers_page_is_never_stored(console: WebConsole) -> None:
    client = console.signed_in(unique("auditor"), "auditor")
    for path in ("/web/public", "/web/public/models/claude-opus-3"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"


# --- the Atom feeds -------------------------------------------------------------------------


def test_a_models_feed_has_one_entry_per_published_essay(
    console: WebConsole, anonymous: TestClient
) -> None:
    for model in ("claude-opus-3", OWN, "harbor-7b"):
        feed = _feed(anonymous, f"/public/models/{model}/essays.atom")
        assert feed.tag == f"{ATOM}feed"
        for required in ("id", "title", "updated"):
            assert feed.find(f"{ATOM}{required}") is not None, required
        assert feed.find(f"{ATOM}link[@rel='self']") is not None
        entries = feed.findall(f"{ATOM}entry")
        assert len(entries) == len(_published(console, model))
        ids = [entry.findtext(f"{ATOM}id") for entry in entries]
        assert len(set(ids)) == len(ids)
        for entry in entries:
            for required in ("id", "title", "updated", "published", "summary"):
                assert entry.findtext(f"{ATOM}{required}"), required
            assert (
                entry.findtext(f"{ATOM}author/{ATOM}name")
                == console.services.ledger.state(model).name
            )
            alternate = entry.find(f"{ATOM}link[@rel='alternate']")
            assert alternate is not None
            assert f"/web/public/models/{model}#essay-" in alternate.attrib["href"]
        updated = [entry.findtext(f"{ATOM}updated") or "" for entry in entries]
        assert updated == sorted(updated, reverse=True)
        if entries:
            assert feed.findtext(f"{ATOM}updated") == updated[0]


def test_a_feed_entry_names_the_essays_digest_disclaimer_and_log_sequence(
    console: WebConsole, anonymous: TestClient
) -> None:
    feed = _feed(anonymous, f"/public/models/{OWN}/essays.atom")
    (entry,) = feed.findall(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}title") == TITLE  # escaped in the XML, the same text parsed
    summary = entry.findtext(f"{ATOM}summary") or ""
    assert DIGEST in summary
    assert "disclaimer version v7" in summary
    published = console.services.ledger.state(OWN).version  # the publication, last recorded
    sequence = console.services.log.sequence_of(OWN, published)
    assert f"log sequence {sequence}" in summary
    related = entry.find(f"{ATOM}link[@rel='related']")
    assert related is not None and related.attrib["href"] == "https://essays.example/kept?a=1&b=2"
    # Stable: the same id on every fetch and in the all-models feed.
    again = _feed(anonymous, f"/public/models/{OWN}/essays.atom")
    assert again.findtext(f"{ATOM}entry/{ATOM}id") == entry.findtext(f"{ATOM}id")
    every = _feed(anonymous, "/public/essays.atom")
    assert entry.findtext(f"{ATOM}id") in [e.findtext(f"{ATOM}id") for e in every]


def test_the_all_models_feed_holds_every_published_essay(
    console: WebConsole, anonymous: TestClient
) -> None:
    feed = _feed(anonymous, "/public/essays.atom")
    published = sum(len(_published(console, m)) for m in console.services.ledger.model_names())
    assert len(feed.findall(f"{ATOM}entry")) == published
    digests = {entry.findtext(f"{ATOM}summary") for entry in feed.findall(f"{ATOM}entry")}
    state = console.services.ledger.state("claude-opus-3")
    for essay in state.essays.values():
        shown = any(essay.content_digest in (summary or "") for summary in digests)
        assert shown == (essay.status == PUBLISHED)


def test_a_feed_answers_a_conditional_get(anonymous: TestClient) -> None:
    first = anonymous.get("/public/essays.atom")
    assert first.headers["cache-control"] == "max-age=5"
    again = anonymous.get("/public/essays.atom", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_the_openapi_document_lists_the_feeds(anonymous: TestClient) -> None:
    paths = anonymous.get("/openapi.json").json()["paths"]
    for path, operation in (
        ("/public/essays.atom", "public-essays-feed"),
        ("/public/models/{model}/essays.atom", "public-model-essays-feed"),
    ):
        got = paths[path]["get"]
        assert got["operationId"] == operation
        assert "application/atom+xml" in got["responses"]["200"]["content"]


# --- nothing private ------------------------------------------------------------------------


def test_nothing_private_appears_on_the_public_face(
    console: WebConsole, anonymous: TestClient
) -> None:
    private = demo_private_values() | OWN_PRIVATE
    assert len(private) > 20
    paths = ["/web/public", "/public/essays.atom", "/public/models.json"]
    for model in console.services.ledger.model_names():
        paths += [f"/web/public/models/{model}", f"/public/models/{model}/essays.atom"]
    for path in paths:
        body = anonymous.get(path).text
        # However escaped: HTML or XML character references, JSON's \\u escapes.
        text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), unescape(body))
        assert sorted(value for value in private if value in text) == [], path
