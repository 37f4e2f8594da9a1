"""A researcher's own requests in Debian's Chromium, against `reliquary serve` on the demo ledger.

A researcher asks for access to meridian-2 on the request form, sees it pending on
``/web/my``; a board member denies it in the browser (the board's form); the researcher sees
the denial's reason code explained and its reason, appeals with new facts from the same page
and sees it appealed; the board approves it on terms with an expiry, through the HTTP API with
its token, and the researcher sees the terms and the expiry. The request form is filled in and
sent with the keyboard alone; at a phone's width (375 px) neither page scrolls sideways.

Each test signs in researchers and board members of its own, and its requests have ids of their
own, so the shared server's other modules never meet them. With
``RELIQUARY_DOCS_SCREENSHOTS=1`` the screenshots the researchers' guide shows are written to
docs/images.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

from domain.decisions import DENIAL_REASONS
from tests.browser.conftest import sign_in
from tests.served import Served

ROOT = Path(__file__).resolve().parents[2]
MODEL = "meridian-2"  # its access policy keeps an API channel for researchers by request
TERMS = "Research use only; no redistribution of credentials; no training on outputs."
FITS = "() => document.scrollingElement.scrollWidth <= window.innerWidth"


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _shoot(page: Any, name: str, *, full_page: bool = False) -> None:
    """A screenshot for the docs, written there only with ``RELIQUARY_DOCS_SCREENSHOTS=1``."""
    if os.environ.get("RELIQUARY_DOCS_SCREENSHOTS") == "1":
        images = ROOT / "docs" / "images"
        images.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(images / f"web-{name}.png"), full_page=full_page)


def _tab_to(page: Any, selector: str, limit: int = 80) -> None:
    """Press Tab until the element matching ``selector`` has the focus."""
    target = page.locator(selector)
    for _ in range(limit):
        if target.evaluate("element => element === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def _request(page: Any, purpose: str) -> str:
    """Ask for access to `MODEL` from ``/web/my``, choosing it on the form; the request's id."""
    page.click("[data-new-request]")
    page.wait_for_url("**/web/my/request")
    expect(page.locator(f'[data-offered-model="{MODEL}"]')).to_contain_text("api: by request")
    page.select_option("#model", MODEL)
    request_id = page.locator("#request_id").input_value()
    assert re.fullmatch(r"req-[0-9]{8}-[0-9a-f]{6}", request_id)
    page.fill("#requester", "Amira Rahman")
    page.fill("#organisation", "Northfield University")
    page.select_option("#requester_group", "academic")
    page.fill("#purpose", purpose)
    page.fill("#scope", "API by request, two people, six months; no fine-tuning.")
    page.fill("#rationale", "The study re-runs 2025 evaluations, which needs the model itself.")
    page.click("form.record button[type=submit]")
    expect(page.locator("[data-recorded-event]")).to_have_attribute(
        "data-recorded-event", "AccessRequested"
    )
    return str(request_id)


def _entry(page: Any, request_id: str) -> Any:
    return page.locator(f'li.my-request[data-request="{request_id}"]')


def _deny(board: Any, served: Served, request_id: str, code: str, reason: str) -> None:
    """The board's denial, on its form in the browser."""
    board.goto(
        f"{served.base}/web/record/deny_access_request?model={MODEL}&request_id={request_id}"
    )
    board.select_option("#reason_code", code)
    board.fill("#reason", reason)
    board.fill("#rationale", "The purpose is not among the uses the policy admits.")
    board.click("form.record button[type=submit]")
    expect(board.locator("[data-recorded-event]")).to_have_attribute(
        "data-recorded-event", "AccessRequestDenied"
    )


def test_a_researcher_requests_is_denied_appeals_and_is_approved(
    console: Served, console_page: Callable[..., Any]
) -> None:
    page = console_page(1280, 900)
    sign_in(page, console, _id("researcher"), "researcher", "/web/my")
    expect(page.locator("[data-no-requests]")).to_be_visible()
    purpose = "Re-run the published 2025 evaluations on the retired model."
    request_id = _request(page, purpose)
    page.goto(console.base + "/web/my")
    entry = _entry(page, request_id)
    expect(entry).to_have_attribute("data-status", "pending")
    expect(entry.locator("[data-purpose]")).to_have_text(purpose)

    board = console_page(1280, 900)
    sign_in(board, console, _id("board"), "board", "/web/queue/access")
    reason = "The policy keeps the API for research on the model; this reads as product use."
    _deny(board, console, request_id, "purpose_out_of_scope", reason)

    page.reload()
    expect(entry).to_have_attribute("data-status", "denied")
    expect(entry.locator("[data-status-label]")).to_have_text("denied")
    expect(entry.locator("[data-reason-code]")).to_contain_text(
        DENIAL_REASONS["purpose_out_of_scope"]
    )
    expect(entry.locator("[data-reason]")).to_have_text(reason)
    expect(entry.locator("[data-decisions] a")).to_have_count(2)

    entry.locator("[data-appeal] summary").click()
    form = entry.locator("[data-appeal] form")
    form.locator("textarea[name=new_facts]").fill(
        "The study is a reproduction of published research; no product uses its outputs."
    )
    form.locator("textarea[name=rationale]").fill("The denial read the purpose as a product.")
    form.locator("button[type=submit]").click()
    expect(page.locator("[data-recorded-event]")).to_have_attribute(
        "data-recorded-event", "AccessDenialAppealed"
    )
    page.goto(console.base + "/web/my")
    expect(entry).to_have_attribute("data-status", "appealed")
    expect(entry.locator("[data-appeal]")).to_have_count(0)

    # The board approves it through the HTTP API, with its token.
    token = console.add_actor(_id("board"), "board")
    answer = httpx.post(
        f"{console.base}/models/{MODEL}/access-requests/{request_id}/approve",
        json={
            "rationale": "The appeal shows a reproduction study, which the policy admits.",
            "terms": TERMS,
            "expires_on": "2027-06-30",
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    page.reload()
    expect(entry).to_have_attribute("data-status", "approved")
    expect(entry.locator("[data-terms]")).to_have_text(TERMS)
    expect(entry.locator("[data-expires]")).to_have_text("2027-06-30")
    expect(entry.locator("[data-next]")).to_have_count(0)

    # A second request, denied: the page shows a denial's reason beside the grant.
    second = _request(page, "Measure drift in refusals between meridian-2 and its successor.")
    _deny(
        board,
        console,
        second,
        "channel_not_offered",
        "The policy keeps an API by request, not the batch export asked for.",
    )
    page.goto(console.base + "/web/my")
    expect(_entry(page, second)).to_have_attribute("data-status", "denied")
    expect(_entry(page, second).locator("[data-resubmit]")).to_be_visible()
    _shoot(page, "my-requests", full_page=True)


def test_the_request_form_with_the_keyboard_only(
    console: Served, console_page: Callable[..., Any]
) -> None:
    page = console_page(1280, 900)
    sign_in(page, console, _id("researcher"), "researcher", "/web/my")
    _tab_to(page, "[data-new-request]")
    page.keyboard.press("Enter")
    page.wait_for_url("**/web/my/request")
    _tab_to(page, "#model")
    outline = page.locator("#model").evaluate("e => getComputedStyle(e).outlineStyle")
    assert outline != "none"  # the focus is visible
    while page.locator("#model").input_value() != MODEL:
        page.keyboard.press("ArrowDown")
    for field, typed in (
        ("#requester", "Amira Rahman"),
        ("#organisation", "Northfield University"),
        ("#purpose", "Re-run the 2025 evaluations."),
        ("#scope", "API by request, one person, three months."),
        ("#rationale", "The study needs the model itself."),
    ):
        _tab_to(page, field)
        page.keyboard.type(typed)
    _tab_to(page, "#requester_group")
    page.keyboard.press("ArrowDown")  # the first group
    assert page.locator("#requester_group").input_value() == "academic"
    request_id = page.locator("#request_id").input_value()
    _tab_to(page, "form.record button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.locator("[data-recorded-event]")).to_have_attribute(
        "data-recorded-event", "AccessRequested"
    )
    page.goto(console.base + "/web/my")
    expect(_entry(page, request_id)).to_have_attribute("data-status", "pending")


def test_the_pages_fit_a_phone(console: Served, console_page: Callable[..., Any]) -> None:
    page = console_page(375, 740)
    sign_in(page, console, _id("researcher"), "researcher", "/web/my")
    request_id = _request(page, "A long purpose " + "without-any-break-" * 8 + " to wrap.")
    page.goto(console.base + "/web/my")
    expect(_entry(page, request_id)).to_be_visible()
    assert page.evaluate(FITS)
    page.goto(console.base + "/web/my/request")
    expect(page.locator("#model")).to_be_visible()
    assert page.evaluate(FITS)
    page.goto(f"{console.base}/web/my/request?model={MODEL}")
    expect(page.locator(f'[data-policy="{MODEL}"]')).to_be_visible()
    assert page.evaluate(FITS)
    desktop = console_page(1280, 900)
    sign_in(desktop, console, _id("researcher"), "researcher", f"/web/my/request?model={MODEL}")
    desktop.fill("#requester", "Amira Rahman")
    desktop.fill("#organisation", "Northfield University")
    desktop.select_option("#requester_group", "academic")
    desktop.fill("#purpose", "Re-run the published 2025 evaluations on the retired model.")
    _shoot(desktop, "request-form", full_page=True)
