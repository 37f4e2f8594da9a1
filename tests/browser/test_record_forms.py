"""A curator records a monitoring signal in the browser, with the keyboard only, and the form
reads at a phone's width.

The form is the command's own; a mistake is shown beside its field, with the field marked
invalid and described by its error (so a screen reader says it), and nothing is recorded until
it is put right; then the page names the event and its sequence in the log.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.served import Served

MODEL = "claude-opus-3"


def _tab_to(page: Any, selector: str, limit: int = 80) -> None:
    """Press Tab until the element matching ``selector`` has the focus."""
    target = page.locator(selector)
    for _ in range(limit):
        if target.evaluate("element => element === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def test_a_curator_records_a_signal_with_the_keyboard_only(
    console: Served, console_page: Callable[..., Any]
) -> None:
    page = console_page()
    sign_in(page, console, f"curator-{uuid.uuid4().hex[:8]}", "curator", "/web/record")
    # From the Record page: the signal form's model, then open it (keyboard only).
    _tab_to(page, "#model-record_signal")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url("**/web/record/record_signal?model=*")
    _tab_to(page, "#kind")
    page.keyboard.press("ArrowDown")  # the first kind of signal
    assert page.locator("#kind").input_value() != ""
    for field, typed in (
        ("#period_start", "01012026"),  # a date field takes its digits in the locale's order
        ("#period_end", "02022026"),  # (day and month alike: read the same in any order)
        ("#value", "4.25"),
        ("#unit", "Score"),  # not a unit's code: the ledger says so beside the field
        ("#rationale", "The monthly survey, as received."),
    ):
        _tab_to(page, field)
        page.keyboard.type(typed)
    assert page.locator("#period_start").input_value() == "2026-01-01"
    assert page.locator("#period_end").input_value() == "2026-02-02"
    _tab_to(page, "form.record button[type=submit]")
    page.keyboard.press("Enter")
    error = page.locator('[data-error-for="unit"]')
    expect(error).to_be_visible()
    expect(page.locator("#unit")).to_have_attribute("aria-invalid", "true")
    assert "unit-error" in (page.locator("#unit").get_attribute("aria-describedby") or "")
    expect(page.locator("#value")).to_have_value("4.25")  # what was typed is kept
    _tab_to(page, "#unit")
    page.keyboard.press("Control+A")
    page.keyboard.type("score_out_of_5")
    assert page.locator("#unit").input_value() == "score_out_of_5"
    _tab_to(page, "form.record button[type=submit]")
    page.keyboard.press("Enter")
    refusals = page.locator("[data-refusal], [data-error-for]")
    assert refusals.count() == 0, refusals.all_inner_texts()
    recorded = page.locator("[data-recorded-event]")
    expect(recorded).to_have_attribute("data-recorded-event", "SignalRecorded")
    expect(recorded).to_have_attribute("data-sequence", re.compile(r"^[0-9]+$"))


def test_the_form_fits_a_phone(console: Served, console_page: Callable[..., Any]) -> None:
    page = console_page(375, 740)
    sign_in(page, console, f"curator-{uuid.uuid4().hex[:8]}", "curator", "/web/record")
    page.goto(console.base + f"/web/record/record_archive_check?model={MODEL}")
    width = page.evaluate("() => document.scrollingElement.scrollWidth")
    assert width <= 375, width
    box = page.locator("#rationale").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 375
