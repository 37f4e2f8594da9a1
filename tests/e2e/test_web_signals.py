"""Monitoring signals per period on the model page of the web console, on each backend.

The signals are recorded through real commands (`record_signal`, a correction with
``corrects`` and ``correction_reason``) on a fresh ledger; the page, fetched through the app
in process by a signed-in auditor, shows one row per kind and period, sorted by kind then
period, with its value, unit and the day it was recorded, and for a corrected value the day of
the correction, the value it replaced and the reason. A model with no signal says so, and the
state's count of signals links to the table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.e2e.conftest import WebConsole
from tests.support import doc, parse, register, unique

SIGNALLED = unique("signalled")
QUIET = unique("quiet")
JANUARY = {"period_start": "2025-01-01", "period_end": "2025-01-31"}
FEBRUARY = {"period_start": "2025-02-01", "period_end": "2025-02-28"}
COST_REASON = "the January cost report was revised <after> the invoice & its credit note"
SATISFACTION_REASON = "the survey's late responses were counted"


def _signal(
    kind: str, value: float, unit: str, period: dict[str, str], effective: str, **fields: Any
) -> dict[str, Any]:
    return doc(
        "record_signal",
        SIGNALLED,
        kind=kind,
        value=value,
        unit=unit,
        effective_at=effective,
        **{**period, **fields},
    )


def _correction(
    kind: str, value: float, unit: str, period: dict[str, str], effective: str, reason: str
) -> dict[str, Any]:
    return _signal(kind, value, unit, period, effective, corrects=True, correction_reason=reason)


# Recorded out of order, so that the page's order (kind, then period) is its own.
SIGNALS = [
    _signal("serving_cost", 90, "usd", FEBRUARY, "2025-03-02T09:00:00Z"),
    _signal("user_satisfaction", 4.25, "score_out_of_5", JANUARY, "2025-02-03T09:00:00Z"),
    _signal("serving_cost", 100.5, "usd", JANUARY, "2025-02-03T10:00:00Z"),
    _signal("safety_incidents", 3, "count", JANUARY, "2025-02-04T10:00:00Z"),
    _correction("serving_cost", 120.25, "usd", JANUARY, "2025-02-10T12:00:00Z", COST_REASON),
    _correction(
        "user_satisfaction", 4.5, "score_out_of_5", JANUARY, "2025-02-11T12:00:00Z", "recount"
    ),
    _correction(
        "user_satisfaction",
        4.125,
        "score_out_of_5",
        JANUARY,
        "2025-02-12T12:00:00Z",
        SATISFACTION_REASON,
    ),
]


def _record_signals(ledger: Any) -> None:
    for model in (SIGNALLED, QUIET):
        ledger.execute(parse(register(model)))
    for document in SIGNALS:
        ledger.execute(parse(document))


@pytest.fixture(scope="module")
def client(web_console: Callable[[Callable[[Any], object]], WebConsole]) -> TestClient:
    """The console on a ledger of each backend holding the signals, signed in as an auditor."""
    return web_console(_record_signals).signed_in("web-auditor", "auditor")


def _section(html: str) -> str:
    """The signals section of a model page."""
    found = re.search(r'<section id="signals".*?</section>', html, re.S)
    assert found is not None
    return found.group(0)


def _text(html: str) -> str:
    """What a reader sees of some HTML: its text, unescaped, with spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", "", html)).split())


def _rows(html: str) -> list[tuple[str, str, str]]:
    """Each signal row of the page, in page order: (key, its HTML, its text)."""
    return [
        (match.group(1), match.group(0), _text(match.group(0)))
        for match in re.finditer(r'<tr data-signal="([^"]+)"[^>]*>.*?</tr>', html, re.S)
    ]


def _cell(row: str, label: str) -> str:
    found = re.search(rf'<td data-label="{label}"[^>]*>(.*?)</td>', row, re.S)
    assert found is not None, label
    return _text(found.group(1))


def test_each_period_shows_its_value_sorted_by_kind_then_period(client: TestClient) -> None:
    page = client.get(f"/web/models/{SIGNALLED}")
    assert page.status_code == 200
    rows = _rows(_section(page.text))
    assert [key for key, _, _ in rows] == [
        "safety_incidents 2025-01-01 2025-01-31",
        "serving_cost 2025-01-01 2025-01-31",
        "serving_cost 2025-02-01 2025-02-28",
        "user_satisfaction 2025-01-01 2025-01-31",
    ]
    by_key = {key: html for key, html, _ in rows}

    incidents = by_key["safety_incidents 2025-01-01 2025-01-31"]
    assert _cell(incidents, "Signal") == "safety incidents"
    assert _cell(incidents, "Period") == "2025-01-01–2025-01-31"
    assert _cell(incidents, "Value") == "3 count"
    assert _cell(incidents, "Recorded") == "2025-02-04"
    assert _cell(incidents, "Correction") == "none"
    assert '<time datetime="2025-01-01">2025-01-01</time>' in incidents

    february = by_key["serving_cost 2025-02-01 2025-02-28"]
    assert _cell(february, "Period") == "2025-02-01–2025-02-28"
    assert _cell(february, "Value") == "90 usd"
    assert _cell(february, "Recorded") == "2025-03-02"
    assert _cell(february, "Correction") == "none"


def test_a_corrected_value_shows_the_value_it_replaced_and_why(client: TestClient) -> None:
    rows = {
        key: html for key, html, _ in _rows(_section(client.get(f"/web/models/{SIGNALLED}").text))
    }

    cost = rows["serving_cost 2025-01-01 2025-01-31"]
    assert 'class="signal-corrected"' in cost
    assert _cell(cost, "Value") == "120.25 usd"
    assert _cell(cost, "Recorded") == "2025-02-03"  # the day the period's first value took effect
    assert _cell(cost, "Correction") == f"corrected on 2025-02-10: was 100.50 usd — {COST_REASON}"
    # The reason is free text: escaped, never markup.
    assert "&lt;after&gt; the invoice &amp; its credit note" in cost

    satisfaction = rows["user_satisfaction 2025-01-01 2025-01-31"]
    assert _cell(satisfaction, "Value") == "4.125 score out of 5"
    assert _cell(satisfaction, "Correction") == (
        "corrected on 2025-02-12 (the latest of 2 corrections): "
        f"was 4.50 score out of 5 — {SATISFACTION_REASON}"
    )


def test_the_state_count_links_to_the_signals(client: TestClient) -> None:
    page = client.get(f"/web/models/{SIGNALLED}").text
    assert '<dt>Monitoring signals</dt><dd><a href="#register-signals">7</a></dd>' in page
    assert '<h2 id="register-signals">Monitoring signals (now)</h2>' in page
    assert '<a href="#signals">Monitoring signals</a>' in page  # in the on-page contents


def test_a_model_with_no_signal_says_so(client: TestClient) -> None:
    page = client.get(f"/web/models/{QUIET}")
    assert page.status_code == 200
    section = _section(page.text)
    assert '<p class="none">No signal recorded.</p>' in section
    assert "<table" not in section
    assert '<dt>Monitoring signals</dt><dd><a href="#register-signals">0</a></dd>' in page.text


def test_the_signals_need_a_signed_in_reader(client: TestClient) -> None:
    anonymous = TestClient(client.app)
    page = anonymous.get(f"/web/models/{SIGNALLED}", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/web/login?next=")
    assert "120.25" not in page.text
