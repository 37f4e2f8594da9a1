"""The web console serves private values in clear only to the readers allowed to open them.

On the demo ledger of each backend, fetched in process: the page of every decision that holds
a private field (`domain.disclosure.PRIVATE_FIELDS`) is public, as its leaf is, and its HTML
holds none of the demo's private values for nobody signed in, for a role that reads the records
but may not open them (a curator), or for a researcher who made none of the requests. A
researcher reads the values of their own requests, and still none of anyone else's; the board
reads them all. The model pages' access registers follow the same rule.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from html import unescape
from importlib import resources
from typing import Any

import pytest

from api.cli.demo import load_demo
from domain.authority import COMMAND_OF_EVENT
from domain.disclosure import PRIVATE_FIELDS
from tests.e2e.conftest import WebConsole
from tests.support import demo_private_values

MODELS = ("claude-opus-3", "harbor-7b", "meridian-2")
HANNAH = "hannah.lindgren"


def _private_values_by_requester() -> dict[str, set[str]]:
    """The demo's private values, by the researcher whose request they are about."""
    event_of = {command: event for event, command in COMMAND_OF_EVENT.items()}
    text = resources.files("domain.demo").joinpath("scenario.jsonl").read_text(encoding="utf-8")
    documents = [json.loads(line) for line in filter(str.strip, text.splitlines())]
    owner = {
        (d["model"], d["request_id"]): d["actor"]["id"]
        for d in documents
        if d["command"] == "request_access"
    }
    values: dict[str, set[str]] = {}
    for document in documents:
        for name in PRIVATE_FIELDS.get(event_of.get(document["command"], ""), {}):
            # ``actor.id`` in the actor, ``evidence.uri`` in each piece of evidence.
            field, _, part = name.partition(".")
            found = document.get(field)
            items = found if isinstance(found, list) else [found]
            named = [i.get(part) for i in items if isinstance(i, dict)] if part else [found]
            who = owner[(document["model"], document["request_id"])]
            values.setdefault(who, set()).update(v for v in named if isinstance(v, str))
    return values


@pytest.fixture(scope="module")
def console(web_console: Callable[[Callable[[Any], object]], WebConsole]) -> WebConsole:
    return web_console(load_demo)


@pytest.fixture(scope="module")
def private_pages(console: WebConsole) -> list[str]:
    """The decision page of every demo decision holding a private field."""
    pages = []
    for model in MODELS:
        entries = console.services.queries.timeline(model=model, limit=1000).entries
        pages += [f"/web/decisions/{e.sequence}" for e in entries if e.type in PRIVATE_FIELDS]
    assert len(pages) > 20  # requests, approvals, denials, appeals and revocations
    return pages


def _leaks(page: str, values: set[str]) -> list[str]:
    """The values a page holds, in its text, its attributes or its embedded JSON, however
    escaped (HTML character references, JSON's ``\\u0027``)."""
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), unescape(page))
    return sorted(value for value in values if value in text)


def test_nobody_signed_in_reads_no_private_value(
    console: WebConsole, private_pages: list[str]
) -> None:
    client = console.anonymous()
    private = demo_private_values()
    for path in private_pages:
        page = client.get(path)
        assert page.status_code == 200, path  # public, as its leaf is
        assert _leaks(page.text, private) == [], path
        assert "data-sealed" in page.text, path  # and it says what is sealed


def test_a_reader_who_may_not_open_reads_no_private_value(
    console: WebConsole, private_pages: list[str]
) -> None:
    client = console.signed_in("c.curator", "curator")
    private = demo_private_values()
    for path in [*private_pages, *(f"/web/models/{model}" for model in MODELS)]:
        page = client.get(path)
        assert page.status_code == 200, path
        assert _leaks(page.text, private) == [], path
    register = client.get("/web/models/claude-opus-3").text
    assert "[sealed]" in register


def test_a_researcher_reads_their_own_requests_and_nobody_elses(
    console: WebConsole, private_pages: list[str]
) -> None:
    by_requester = _private_values_by_requester()
    own = by_requester[HANNAH]
    others = set().union(*(v for who, v in by_requester.items() if who != HANNAH)) - own
    assert set().union(*by_requester.values()) == demo_private_values()  # nobody's left out
    hannah = console.signed_in(HANNAH, "researcher")
    stranger = console.signed_in("r.stranger", "researcher")  # made no request
    seen_own: set[str] = set()
    for path in private_pages:
        page = hannah.get(path)
        assert page.status_code == 200, path
        assert _leaks(page.text, others) == [], path
        seen_own.update(_leaks(page.text, own))
        assert _leaks(stranger.get(path).text, demo_private_values()) == [], path
    assert seen_own == own  # each of her values, on the pages of her requests
    # The records themselves are not for researchers: the page says so.
    refused = hannah.get("/web/models/claude-opus-3")
    assert refused.status_code == 403
    assert "may not read the ledger's records" in unescape(refused.text)


def test_the_board_reads_every_private_value_with_its_opening(
    console: WebConsole, private_pages: list[str]
) -> None:
    board = console.signed_in("b.board", "board")
    private = demo_private_values()
    seen: set[str] = set()
    for path in private_pages:
        page = board.get(path)
        seen.update(_leaks(page.text, private))
        if "data-opened" in page.text:
            assert "data-opening" in page.text, path
    assert seen == private
    register = board.get("/web/models/claude-opus-3").text
    assert "Hannah Lindgren" in register and "[sealed]" not in register
