"""The retirement checklist in the web console and at the CLI, on the demo ledger.

The demo's ember-3 shows every anomaly the checklist can record from live commands: an overdue
retirement, a failed latest archive check, a preference decided while unstable, and missed
essay weeks. (A successor neither registered nor declared external cannot be recorded any
more: ``successor-not-registered`` refuses the retirement; and a grant past its expiry is no
longer an anomaly, it ends by itself.)
Its page shows each as an "anomaly", the overview counts them, a malformed ``as_of`` is a 400
page, and ``reliquary checklist ember-3 --strict`` exits 3 naming each anomalous step.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.cli.demo import load_demo
from tests.e2e.conftest import WebConsole

MODEL = "ember-3"
ANOMALIES = ("scheduled", "archive checked", "preferences decided", "essays on cadence")


@pytest.fixture(scope="module")
def client(web_console: Callable[[Callable[[Any], object]], WebConsole]) -> TestClient:
    """The console on the demo ledger of each backend, signed in as an auditor."""
    return web_console(load_demo).signed_in("web-auditor", "auditor")


def _rows(html: str) -> dict[str, str]:
    """Each checklist row of a model page, by step name."""
    return {
        match.group(1): match.group(0)
        for match in re.finditer(
            r'<tr class="checklist-[^"]+" data-step="([^"]+)".*?</tr>', html, re.S
        )
    }


def test_the_model_page_shows_each_anomaly(client: TestClient) -> None:
    page = client.get(f"/web/models/{MODEL}")
    assert page.status_code == 200
    rows = _rows(page.text)
    assert len(rows) == 11
    for step in ANOMALIES:
        assert 'data-status="anomaly"' in rows[step], step
        assert '<strong class="anomaly">anomaly</strong>' in rows[step], step
    assert "anomaly" not in rows["registered"].replace("checklist-done", "")
    summary = re.search(r"<p class=\"checklist-summary\"[^>]*>(.*?)</p>", page.text, re.S)
    assert summary is not None
    text = re.sub(r"<[^>]+>", "", summary.group(1))
    assert text.startswith(f"{len(ANOMALIES)} anomalies:")
    for step in ANOMALIES:
        assert step in text
    # The settling event links to that version of the model's page.
    assert f'href="/web/models/{MODEL}?version=2">version 2</a> RetirementScheduled' in page.text


def test_as_of_passes_through_to_the_checklist(client: TestClient) -> None:
    page = client.get(f"/web/models/{MODEL}", params={"as_of": "2000-01-01T00:00Z"})
    # Before the model was registered: the page itself says so (404), as time travel does.
    assert page.status_code == 404
    later = client.get(f"/web/models/{MODEL}", params={"as_of": "2999-01-01T00:00Z"})
    assert later.status_code == 200
    assert "Retirement checklist as of 2999-01-01T00:00Z" in later.text
    assert 'data-step="scheduled" data-status="anomaly"' in later.text


@pytest.mark.parametrize("as_of", ["yesterday", "2026-01-01", "2026-13-01T00:00Z", "x" * 80])
def test_a_bad_as_of_is_a_400_page(client: TestClient, as_of: str) -> None:
    page = client.get(f"/web/models/{MODEL}", params={"as_of": as_of})
    assert page.status_code == 400
    assert "text/html" in page.headers["content-type"]
    assert "as_of" in page.text


def test_the_overview_counts_anomalies_and_steps_not_yet_done(client: TestClient) -> None:
    page = client.get("/web/")
    assert page.status_code == 200
    cell = re.search(rf'<td data-label="Checklist" data-checklist="{MODEL}">(.*?)</td>', page.text)
    assert cell is not None
    text = re.sub(r"<[^>]+>", "", cell.group(1))
    assert text == f"{len(ANOMALIES)} anomalies, 4 not yet"
    assert f'href="/web/models/{MODEL}#checklist"' in cell.group(1)


def test_strict_checklist_of_the_demo_model_exits_3(demo_cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = demo_cli("checklist", MODEL, "--strict")
    assert code == 3, err
    anomalous = {line.split("\t")[0] for line in out.splitlines() if "\tANOMALY\t" in line}
    assert anomalous == set(ANOMALIES)
    code, out, _ = demo_cli("checklist", MODEL, "--strict", "--json")
    assert code == 3
    [item] = json.loads(out)["checklists"]
    assert item["anomalies"] == len(ANOMALIES)
    assert {s["step"] for s in item["steps"] if s["status"] == "anomaly"} == set(ANOMALIES)
