"""The review queues in Debian's Chromium, against `reliquary serve` on the demo ledger.

A board member decides three pending requests in one go and sees three recorded events, each
with its sequence in the log; a reviewer vetoes a draft, is told beside the fields that the
risk category and reason are required, then vetoes with them; the bulk form is reached and sent
with the keyboard alone; and at a phone's width (375 px) neither queue scrolls sideways.

Each test works on a model of its own (registered here through the HTTP API with a curator's
token), with requests and drafts of its own made through the API with researchers' and
reviewers' tokens, so the shared server's other modules never meet them. With
``RELIQUARY_DOCS_SCREENSHOTS=1`` the screenshots the guides show are written to docs/images.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.served import Served

ROOT = Path(__file__).resolve().parents[2]
SHA = "sha256:" + "cd" * 32


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _shoot(page: Any, name: str, *, full_page: bool = False) -> None:
    if os.environ.get("RELIQUARY_DOCS_SCREENSHOTS") == "1":
        images = ROOT / "docs" / "images"
        images.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(images / f"web-{name}.png"), full_page=full_page)


def _post(served: Served, token: str, path: str, body: dict[str, Any]) -> None:
    answer = httpx.post(
        served.base + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert answer.status_code == 201, answer.text


def _token(served: Served, role: str) -> str:
    return served.add_actor(_id(role), role)


def _model(served: Served) -> str:
    """A model of the test's own, with an access policy."""
    model = _id("queue-model")
    _post(
        served,
        _token(served, "curator"),
        f"/models/{model}",
        {
            "rationale": "Registered for the queue's browser test.",
            "family": "test-family",
            "model_version": "1.0",
            "release_date": "2024-03-04",
            "developer": "Test Lab",
        },
    )
    _post(
        served,
        _token(served, "board"),
        f"/models/{model}/access-policy",
        {
            "rationale": "Researchers keep access by request.",
            "channels": [{"channel": "api_by_request", "audience": "researchers"}],
        },
    )
    return model


def _requests(served: Served, model: str, ages: list[int]) -> list[str]:
    """One request per age (days ago), each by a researcher of its own, through the API."""
    ids = []
    groups = ("academic", "nonprofit", "industry", "independent")
    for n, age in enumerate(ages):
        request_id = _id("req")
        moment = (datetime.now(UTC) - timedelta(days=age)).strftime("%Y-%m-%dT09:00:00Z")
        _post(
            served,
            _token(served, "researcher"),
            f"/models/{model}/access-requests",
            {
                "rationale": "The study needs the retired model itself.",
                "effective_at": moment,
                "request_id": request_id,
                "requester": f"Researcher {n + 1}",
                "organisation": "Institute of Model Memory",
                "requester_group": groups[n % len(groups)],
                "purpose": "Compare the model's answers over time with its successors'.",
                "scope": "API by request, two people, six months.",
            },
        )
        ids.append(request_id)
    return ids


def _choice(model: str, request_id: str) -> str:
    return f"{model}/{request_id}"  # the test's names need no percent-encoding


def _sequence_of(page: Any, href: str, tries: int = 40) -> int:
    """The sequence a recorded decision's page names, once the log has taken it."""
    page.goto(href)
    for _ in range(tries):
        recorded = page.locator("main [data-recorded-event]")
        value = recorded.get_attribute("data-sequence")
        if value is not None:
            return int(value)
        time.sleep(0.25)
        page.reload()
    raise AssertionError(f"{href} names no sequence")


def test_a_board_member_decides_three_requests_in_one_go(
    console: Served, console_page: Callable[..., Any]
) -> None:
    model = _model(console)
    ids = _requests(console, model, [45, 12, 2])
    page = console_page(1280, 900)
    queue = f"/web/queue/access?model={model}"
    sign_in(page, console, _id("board"), "board", queue)
    items = page.locator("article.queue-item")
    expect(items).to_have_count(3)
    # Oldest first; the one waiting 45 days is stale (over the default 30).
    assert [items.nth(i).get_attribute("data-request") for i in range(3)] == ids
    expect(items.nth(0)).to_have_class(re.compile(r"\bstale\b"))
    expect(items.nth(1)).not_to_have_class(re.compile(r"\bstale\b"))
    for request_id in ids:
        page.check(f"input[name=chosen][value='{_choice(model, request_id)}']")
    page.check("#bulk-approve")
    page.fill("#bulk-terms", "Research use only; no redistribution of outputs.")
    page.fill("#bulk-expires_on", "2027-06-30")
    page.fill("#bulk-rationale", "Each request fits the policy's research channel.")
    _shoot(page, "queue-access", full_page=True)
    page.click("[data-bulk-submit]")
    expect(page.locator("h1")).to_have_text("Requests decided")
    rows = page.locator("table[data-decided] tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("tr[data-outcome=recorded]")).to_have_count(3)
    versions = [int(rows.nth(i).get_attribute("data-version") or 0) for i in range(3)]
    assert len(set(versions)) == 3  # each its own event, its own version
    _shoot(page, "queue-decided")
    links = [
        str(rows.nth(i).locator("td[data-label=Record] a").get_attribute("href")) for i in range(3)
    ]
    sequences = set()
    for href in links:
        if href.startswith("/web/decisions/"):
            sequences.add(int(href.rsplit("/", 1)[1]))
        else:
            sequences.add(_sequence_of(page, console.base + href))
    assert len(sequences) == 3
    page.goto(console.base + queue)
    expect(page.locator("article.queue-item")).to_have_count(0)


def test_a_reviewer_vetoes_a_draft_only_with_a_risk_category_and_reason(
    console: Served, console_page: Callable[..., Any]
) -> None:
    model = _model(console)
    essay = _id("essay")
    reviewer = _id("reviewer")
    token = console.add_actor(reviewer, "reviewer")
    _post(
        console,
        token,
        f"/models/{model}/essays",
        {
            "rationale": "The weekly draft, as received.",
            "essay_id": essay,
            "title": "What I would keep",
            "prompt_ref": "https://example.org/prompts/weekly",
            "content_digest": SHA,
        },
    )
    page = console_page(1280, 900)
    sign_in(page, console, reviewer, "reviewer", "/web/queue/essays")
    draft = page.locator(f"article[data-essay='{essay}']")
    expect(draft.locator("[data-high-bar]")).to_contain_text("A veto is for high risk only")
    veto = draft.locator("form[data-command=veto_essay]")
    veto.locator("textarea[name=rationale]").fill("It names a private person.")
    veto.locator("button[type=submit]").click()
    expect(page.locator("[data-error-for=reason]")).to_have_text("this field is required")
    expect(page.locator("[data-error-for=risk_category]")).to_be_visible()
    expect(page.locator("[data-high-bar]")).to_be_visible()
    _shoot(page, "queue-essays", full_page=True)
    page.fill("input[name=risk_category]", "privacy")
    page.fill("textarea[name=reason]", "The draft names a private person and their health.")
    page.locator("form[data-command=veto_essay] button[type=submit]").click()
    expect(page.locator("main [data-recorded-event]")).to_have_attribute(
        "data-recorded-event", "EssayVetoed"
    )


def test_the_bulk_form_is_reached_and_sent_with_the_keyboard_alone(
    console: Served, console_page: Callable[..., Any]
) -> None:
    model = _model(console)
    ids = _requests(console, model, [5, 4])
    page = console_page(1280, 900)
    sign_in(page, console, _id("board"), "board", f"/web/queue/access?model={model}")
    focused = page.locator(":focus")

    def tab_to(selector: str, limit: int = 200) -> None:
        target = page.locator(selector)
        for _ in range(limit):
            page.keyboard.press("Tab")
            if target.evaluate("element => element === document.activeElement"):
                return
        raise AssertionError(f"Tab never reached {selector}")

    for request_id in ids:
        tab_to(f"input[name=chosen][value='{_choice(model, request_id)}']")
        page.keyboard.press("Space")
        expect(focused).to_be_checked()
    # Tab enters the radio group on its first choice (another is an arrow key away).
    tab_to("#bulk-approve")
    page.keyboard.press("Space")
    expect(page.locator("#bulk-approve")).to_be_checked()
    tab_to("#bulk-terms")
    page.keyboard.type("Research use only.")
    tab_to("#bulk-rationale")
    page.keyboard.type("Capacity is full until the next review.")
    tab_to("[data-bulk-submit]")
    expect(focused).to_have_text("Decide the chosen requests")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Requests decided")
    expect(page.locator("tr[data-outcome=recorded]")).to_have_count(2)
    expect(page.locator("tr[data-outcome=recorded] [data-event]").first).to_have_text(
        "AccessRequestApproved"
    )


def test_the_queues_fit_a_phone(console: Served, console_page: Callable[..., Any]) -> None:
    model = _model(console)
    _requests(console, model, [40, 3])
    page = console_page(375, 740)
    sign_in(page, console, _id("board"), "board", f"/web/queue/access?model={model}")
    expect(page.locator("article.queue-item")).to_have_count(2)
    fits = "() => document.scrollingElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(fits)
    page.locator("details.queue-decide summary").first.click()  # its forms opened too
    expect(page.locator("details.queue-decide form").first).to_be_visible()
    assert page.evaluate(fits)
    reviewer = console_page(375, 740)
    sign_in(reviewer, console, _id("reviewer"), "reviewer", "/web/queue/essays")
    expect(reviewer.locator("h1")).to_have_text("Essays to review")
    assert reviewer.evaluate(fits)
