"""A researcher's own pages in the web console, in process, on each backend.

On the demo ledger, researchers ask for access through the request form (``/web/my/request``,
posted to ``/web/record/request_access``) and follow their requests on ``/web/my``; the board
decides them through its own forms. Each researcher sees their own requests only (another's
purpose and id never reach their page, not even sealed), a denial with its reason code
explained and its reason, an appeal, a grant's terms and expiry; a denied request offers its
appeal and a new request in its place (the form filled in from the denied one). Another
researcher's forged appeal is refused by the ledger and appends nothing. Without a session the
page asks to sign in; a board member is told the page is for researchers.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.cli.demo import load_demo
from domain.decisions import DENIAL_REASONS
from tests.e2e.conftest import WebConsole

MODEL = "meridian-2"  # its access policy keeps an API channel for researchers by request


@dataclass(frozen=True)
class People:
    console: WebConsole
    alice: TestClient
    bob: TestClient
    board: TestClient


@pytest.fixture(scope="module")
def people(web_console: Callable[[Callable[[Any], object]], WebConsole]) -> People:
    """The console on the demo ledger, with two researchers and a board member signed in."""
    console = web_console(load_demo)
    suffix = uuid.uuid4().hex[:8]
    return People(
        console=console,
        alice=console.signed_in(f"alice-{suffix}", "researcher"),
        bob=console.signed_in(f"bob-{suffix}", "researcher"),
        board=console.signed_in(f"board-{suffix}", "board"),
    )


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def _text(html: str) -> str:
    """What a reader sees of some HTML: its text, unescaped, with spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _entry(html: str, request_id: str) -> str:
    """The HTML of one request's entry on ``/web/my``."""
    # Entries follow one another in one <ol>, and hold no <ol> of their own.
    for part in html.split('<li class="panel my-request"')[1:]:
        if part.startswith(f' data-request="{request_id}"'):
            return part.split("</ol>")[0]
    raise AssertionError(f"{request_id} is not on the page")


def _value(html: str, name: str) -> str:
    """The value a form's field holds (an input's value, a textarea's text, a select's choice)."""
    found = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', html) or re.search(
        rf'<textarea[^>]*name="{name}"[^>]*>(.*?)</textarea>', html, re.S
    )
    if found is None:
        found = re.search(
            rf'<select[^>]*name="{name}".*?<option value="([^"]*)" selected', html, re.S
        )
    assert found is not None, name
    return unescape(found.group(1))


def _version(people: People) -> int:
    return int(people.console.services.queries.history(MODEL).version)


def _request(client: TestClient, purpose: str, **extra: str) -> str:
    """Ask for access to `MODEL` through the request form; the request's id."""
    form = client.get("/web/my/request", params={"model": MODEL, **extra})
    assert form.status_code == 200, form.text
    request_id = _value(form.text, "request_id")
    assert re.fullmatch(r"req-[0-9]{8}-[0-9a-f]{6}", request_id)
    fields = {
        "csrf": _csrf(form.text),
        "once": _value(form.text, "once"),
        "model": MODEL,
        "request_id": request_id,
        "requester": "Alice Example",
        "organisation": "Northfield University",
        "requester_group": "academic",
        "purpose": purpose,
        "scope": "API access up to 1M tokens a month; no fine-tuning.",
        "rationale": "The study needs this exact model, not its successor.",
        **extra,
    }
    posted = client.post("/web/record/request_access", data=fields, follow_redirects=False)
    assert posted.status_code == 303, posted.text
    assert posted.headers["location"].startswith(f"/web/recorded/{MODEL}/")
    return request_id


def _decide(board: TestClient, command: str, request_id: str, **fields: str) -> None:
    """The board's decision on a request, through its form."""
    form = board.get(f"/web/record/{command}", params={"model": MODEL, "request_id": request_id})
    posted = board.post(
        f"/web/record/{command}",
        data={
            "csrf": _csrf(form.text),
            "model": MODEL,
            "request_id": request_id,
            "rationale": f"The board's reasons for {command}.",
            **fields,
        },
        follow_redirects=False,
    )
    assert posted.status_code == 303, posted.text


def _deny(people: People, request_id: str, reason: str) -> None:
    _decide(
        people.board,
        "deny_access_request",
        request_id,
        reason_code="purpose_out_of_scope",
        reason=reason,
    )


def test_a_request_made_on_the_form_is_pending_on_my_page(people: People) -> None:
    form = people.alice.get("/web/my/request")
    assert form.status_code == 200
    # Without a model named, the models keeping a channel open are offered, each with them.
    assert 'data-offered-model="meridian-2"' in form.text
    assert 'data-offered-model="claude-opus-3"' in form.text
    assert 'data-offered-model="harbor-7b"' not in form.text  # its policy keeps no channel
    assert '<select id="model" name="model" required' in form.text
    assert form.text.count('name="model"') == 1  # the choice of model is the only one

    purpose = f"Re-run the 2025 evaluations {uuid.uuid4().hex}"
    request_id = _request(people.alice, purpose)
    page = people.alice.get("/web/my")
    assert page.status_code == 200
    entry = _entry(page.text, request_id)
    assert 'data-status="pending"' in entry
    assert purpose in _text(entry)
    assert "Northfield University" in _text(entry)
    # Its request, in the log, linked by its sequence.
    link = re.search(r'href="/web/decisions/([0-9]+)">#\1 Access requested', entry)
    assert link is not None, entry
    assert people.alice.get(f"/web/decisions/{link.group(1)}").status_code == 200


def test_the_request_form_sent_twice_records_once(people: People) -> None:
    form = people.alice.get("/web/my/request", params={"model": MODEL})
    fields = {
        "csrf": _csrf(form.text),
        "once": _value(form.text, "once"),
        "model": MODEL,
        "request_id": _value(form.text, "request_id"),
        "requester": "Alice Example",
        "organisation": "Northfield University",
        "requester_group": "industry",
        "purpose": "Sent twice by a double click.",
        "scope": "API by request.",
        "rationale": "The study needs the model itself.",
    }
    before = _version(people)
    first = people.alice.post("/web/record/request_access", data=fields, follow_redirects=False)
    again = people.alice.post("/web/record/request_access", data=fields, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert _version(people) == before + 1


def test_another_researcher_never_sees_it(people: People) -> None:
    purpose = f"A study of its refusals {uuid.uuid4().hex}"
    request_id = _request(people.alice, purpose)
    page = people.bob.get("/web/my")
    assert page.status_code == 200
    assert request_id not in page.text
    assert purpose not in page.text
    assert "data-no-requests" in page.text  # Bob made none: not even a sealed row of Alice's
    assert "[sealed]" not in page.text


def test_a_denial_its_appeal_and_the_grant(people: People) -> None:
    request_id = _request(people.alice, f"Compare refusals across versions {uuid.uuid4().hex}")
    reason = "The policy keeps the API for <reproduction> studies & this is a new product."
    _deny(people, request_id, reason)

    entry = _entry(people.alice.get("/web/my").text, request_id)
    assert 'data-status="denied"' in entry
    assert "purpose_out_of_scope" in entry
    assert DENIAL_REASONS["purpose_out_of_scope"] in _text(entry)
    assert reason in _text(entry)
    assert 'href="/web/decisions/' in entry and "Access request denied" in _text(entry)
    assert "data-appeal" in entry and "data-resubmit" in entry

    # Bob forges Alice's appeal: the ledger refuses it (only the requester appeals) and
    # nothing is appended.
    before = _version(people)
    bob_csrf = _csrf(people.bob.get("/web/my").text)
    forged = people.bob.post(
        "/web/record/appeal_access_denial",
        data={
            "csrf": bob_csrf,
            "model": MODEL,
            "request_id": request_id,
            "new_facts": "Forged facts.",
            "rationale": "Forged.",
        },
        follow_redirects=False,
    )
    assert forged.status_code == 403, forged.text
    assert "only the requester appeals" in _text(forged.text)
    assert _version(people) == before

    # Alice appeals with the form her page offers.
    appeal = re.search(r"<details data-appeal>.*?</details>", entry, re.S)
    assert appeal is not None
    assert 'action="/web/record/appeal_access_denial"' in appeal.group(0)
    appealed = people.alice.post(
        "/web/record/appeal_access_denial",
        data={
            "csrf": _csrf(appeal.group(0)),
            "model": _value(appeal.group(0), "model"),
            "request_id": _value(appeal.group(0), "request_id"),
            "new_facts": "The study is a reproduction: the new product is its subject, not use.",
            "rationale": "The denial read the purpose as a product.",
        },
        follow_redirects=False,
    )
    assert appealed.status_code == 303, appealed.text
    entry = _entry(people.alice.get("/web/my").text, request_id)
    assert 'data-status="appealed"' in entry
    # What the denial said stays in view while the board decides again.
    assert "Denied first with purpose_out_of_scope" in _text(entry)
    assert f"Reason of the denial {reason}" in _text(entry)
    assert "data-appeal" not in entry  # decided again by the board, not appealed twice

    terms = "Research use only; no redistribution of credentials; no training on outputs."
    _decide(
        people.board, "approve_access_request", request_id, terms=terms, expires_on="2099-06-30"
    )
    entry = _entry(people.alice.get("/web/my").text, request_id)
    assert 'data-status="approved"' in entry
    assert terms in _text(entry)
    assert '<time datetime="2099-06-30">' in entry
    assert "after an appeal" in _text(entry)
    assert "data-next" not in entry  # nothing left to appeal or resubmit


def test_a_new_request_in_place_of_a_denied_one(people: People) -> None:
    purpose = f"Measure drift {uuid.uuid4().hex}"
    denied = _request(people.alice, purpose)
    _deny(people, denied, "Drift studies are served by the successor.")
    entry = _entry(people.alice.get("/web/my").text, denied)
    link = re.search(r'href="([^"]+)" data-resubmit', entry)
    assert link is not None
    form = people.alice.get(unescape(link.group(1)))
    assert form.status_code == 200
    # The form is filled in from the denied request (the researcher's own values), to amend.
    assert _value(form.text, "resubmission_of") == denied
    assert _value(form.text, "purpose") == purpose
    assert _value(form.text, "organisation") == "Northfield University"
    assert _value(form.text, "requester_group") == "academic"
    assert 'type="hidden" name="model" value="meridian-2"' in form.text

    again = _request(people.alice, purpose + " on the retired model itself", resubmission_of=denied)
    page = people.alice.get("/web/my").text
    assert 'data-status="pending"' in _entry(page, again)
    assert denied in _text(_entry(page, again))
    old = _entry(page, denied)
    assert f"Resubmitted as {again}" in _text(old)
    assert "data-appeal" not in old and "data-resubmit" not in old
    # Newest first.
    assert page.index(f'data-request="{again}"') < page.index(f'data-request="{denied}"')


def test_another_researchers_request_is_not_read_into_the_form(people: People) -> None:
    purpose = f"Private plans {uuid.uuid4().hex}"
    denied = _request(people.alice, purpose)
    _deny(people, denied, "Not this time.")
    form = people.bob.get("/web/my/request", params={"model": MODEL, "resubmission_of": denied})
    assert form.status_code == 200
    assert purpose not in form.text
    assert "Northfield University" not in form.text


def test_an_unknown_model_is_named(people: People) -> None:
    page = people.alice.get("/web/my/request", params={"model": "no-such-model"})
    assert page.status_code == 404
    assert "no-such-model" in page.text


def test_without_a_session_it_asks_to_sign_in(people: People) -> None:
    for path in ("/web/my", "/web/my/request"):
        answer = people.console.anonymous().get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/web/login?next=")


def test_a_board_member_is_told_it_is_for_researchers(people: People) -> None:
    for path in ("/web/my", "/web/my/request"):
        page = people.board.get(path)
        assert page.status_code == 403
        assert "data-for-researchers" in page.text
        assert "This page is for researchers" in _text(page.text)
        assert 'href="/web/queue/access"' in page.text
    # The navigation offers the page to researchers only.
    assert 'href="/web/my"' not in people.board.get("/web/").text
    assert 'href="/web/my"' in people.alice.get("/web/").text
