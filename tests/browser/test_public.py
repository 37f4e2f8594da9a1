"""A member of the public, signed in nowhere, finds out what became of a retired model and
verifies it, in Chromium against the served demo.

From the register (``/web/public``) to claude-opus-3's page; the visitor pins the ledger's key
and their browser proves an essay's draft, approval and publication (and the preserved weights)
included in the signed log and equal to what the page shows; a tampered record fails, naming
the decision; the same with the keyboard alone; both pages fit a phone's width.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.served import Served

ROOT = Path(__file__).resolve().parents[2]
MODEL = "claude-opus-3"
ESSAY = "corner-2026-w02"  # "On Being Kept", published with disclaimer v1
ARTICLE = f"#essay-{ESSAY}"
VERIFIED = "[data-verify-result].verified, [data-verify-result].failed"


def _shoot(page: Any, name: str, *, full_page: bool = False) -> None:
    """A screenshot for the docs, written there only with ``RELIQUARY_DOCS_SCREENSHOTS=1``."""
    if os.environ.get("RELIQUARY_DOCS_SCREENSHOTS") != "1":
        return
    images = ROOT / "docs" / "images"
    images.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(images / f"web-{name}.png"), full_page=full_page)


def _tab_to(page: Any, selector: str, *, back: bool = False, limit: int = 300) -> None:
    """Press Tab (or Shift+Tab) until the element matching ``selector`` has the focus."""
    target = page.locator(selector)
    for _ in range(limit):
        if target.evaluate("element => element === document.activeElement"):
            return
        page.keyboard.press("Shift+Tab" if back else "Tab")
    raise AssertionError(f"Tab never reached {selector}")


def _pin(page: Any, console: Served) -> None:
    """Pin the ledger's key with the page's own widget (kept in this browser context)."""
    widget = page.locator("[data-pin-form]")
    if not widget.evaluate("details => details.open"):
        page.locator("[data-pin-form] summary").click()
    page.fill("[data-pin-input]", console.key)
    page.click("[data-pin-save]")
    expect(page.locator("[data-pin-status][data-pinned]")).to_have_count(1)


def _result(section: Any) -> str:
    result = section.locator("[data-verify-result]")
    expect(result).to_have_class(re.compile(r"\b(verified|failed)\b"))
    return str(result.text_content())


def test_a_visitor_reads_a_retired_models_essay_and_its_proof_verifies(
    console: Served, console_page: Callable[..., Any]
) -> None:
    page = console_page()
    page.goto(console.base + "/web/public")
    expect(page.locator("h1")).to_have_text("Retired models: the public register")
    row = page.locator(f'tr[data-model="{MODEL}"]')
    expect(row.locator('[data-field="retirement"]')).to_have_text("retired on 2026-01-05")
    expect(row.locator('[data-field="successor"]')).to_have_text("replaced by claude-opus-4-1")
    _shoot(page, "public-register", full_page=True)
    row.get_by_role("link", name=MODEL, exact=True).click()
    page.wait_for_url(f"**/web/public/models/{MODEL}")
    expect(page.locator(f"{ARTICLE} h3")).to_have_text("On Being Kept")
    _pin(page, console)

    essay = page.locator(f"{ARTICLE} [data-verify-leaves]")
    essay.locator("[data-verify-run]").click()
    result = _result(essay)
    assert result.startswith("Verified by your browser: #"), result
    assert "(EssayDrafted)" in result and "(EssayApproved)" in result
    assert "(EssayPublished)" in result
    expect(essay.locator("[data-step][data-state=ok]")).to_have_count(5)  # witnesses: neutral
    published = essay.locator('[data-step="leaf-2"] .step-status')
    expect(published).to_contain_text("disclaimer_version")
    expect(published).to_contain_text("location")
    drafted = essay.locator('[data-step="leaf-0"] .step-status')
    expect(drafted).to_contain_text("title")
    expect(drafted).to_contain_text("content_digest")

    weights = page.locator("#verify-weights")
    weights.locator("[data-verify-run]").click()
    assert _result(weights).startswith("Verified by your browser"), _result(weights)
    expect(weights.locator('[data-step="leaf-0"] .step-status')).to_contain_text("manifest_digest")
    page.locator(ARTICLE).scroll_into_view_if_needed()
    _shoot(page, "public-model")


def test_a_tampered_publication_record_fails_naming_the_decision(
    console: Served, console_page: Callable[..., Any]
) -> None:
    page = console_page()
    page.goto(console.base + f"/web/public/models/{MODEL}")
    _pin(page, console)
    section = page.locator(f"{ARTICLE} [data-verify-leaves]")
    publication = section.locator('[data-step="leaf-2"]')
    claims = section.locator("[data-claims]").text_content() or ""
    sequence = json.loads(claims)[2]["sequence"]
    altered: list[str] = []

    def tamper(route: Any) -> None:
        body = route.fetch().body()
        changed = body.replace(b'"disclaimer_version":"v1"', b'"disclaimer_version":"v9"', 1)
        assert changed != body
        altered.append(route.request.url)
        route.fulfill(status=200, body=changed, content_type="application/octet-stream")

    page.route(f"**/log/leaves/{sequence}", tamper)
    section.locator("[data-verify-run]").click()
    result = _result(section)
    assert altered
    assert result.startswith("Not verified: the step \u201cThe publication\u201d failed"), result
    expect(publication).to_have_attribute("data-state", "failed")
    expect(section.locator("[data-step][data-state=failed]")).to_have_count(1)


def test_the_keyboard_alone_reaches_a_model_and_runs_the_check(
    console: Served, console_page: Callable[..., Any]
) -> None:
    page = console_page()
    page.goto(console.base + "/web/public")
    _tab_to(page, f'tr[data-model="{MODEL}"] th a')
    outline = page.locator(f'tr[data-model="{MODEL}"] th a').evaluate(
        "element => getComputedStyle(element).outlineStyle"
    )
    assert outline != "none"  # the focus is visible
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/web/public/models/{MODEL}")
    # Pin the key: the widget opens itself when none is pinned.
    _tab_to(page, "[data-pin-input]")
    page.keyboard.type(console.key)
    _tab_to(page, "[data-pin-save]")
    page.keyboard.press("Enter")
    expect(page.locator("[data-pin-status][data-pinned]")).to_have_count(1)
    button = f"{ARTICLE} [data-verify-run]"
    _tab_to(page, button, back=True)
    page.keyboard.press("Enter")
    result = _result(page.locator(f"{ARTICLE} [data-verify-leaves]"))
    assert result.startswith("Verified by your browser"), result


def test_the_public_pages_fit_a_phone(console: Served, console_page: Callable[..., Any]) -> None:
    page = console_page(375, 740)
    for path in ("/web/public", f"/web/public/models/{MODEL}"):
        page.goto(console.base + path)
        width = page.evaluate("() => document.scrollingElement.scrollWidth")
        assert width <= 375, (path, width)
