"""The model page reads its own model's events, not the whole ledger's.

The page's retirement checklist once read every model's history, on every model page, to learn
when each was registered, and the page read its own model's history twice more (once as records
it never showed): 0.9 s a page on a ledger of 20,000 events (docs/performance.md, the web
console). Here the events the store hands out during one page are counted, by model: the
database is real, its reader only watched. A page may read its model's events once, and the
first event of the successor its checklist asks about; nothing of any other model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from api.cli.demo import load_demo
from domain.identity import model_id
from tests.e2e.conftest import WebConsole
from tests.support import doc, parse, preserve, register

TODAY = datetime.now(UTC).date().isoformat()
SUCCESSOR = "reads-successor"
RETIRED = "reads-retired"


def _load(ledger: Any) -> None:
    """The demo, and a model retired with a registered successor (its checklist asks)."""
    load_demo(ledger)
    for document in (
        register(SUCCESSOR),
        register(RETIRED),
        preserve(RETIRED),
        doc(
            "schedule_retirement",
            RETIRED,
            retirement_date=TODAY,
            reasons=["cost"],
            successor=SUCCESSOR,
        ),
        doc(
            "retire_model",
            RETIRED,
            retired_on=TODAY,
            final_status="fully_retired",
            successor_external=False,
        ),
    ):
        ledger.execute(parse(document))


@pytest.fixture(scope="module")
def console(web_console: Callable[[Callable[[Any], object]], WebConsole]) -> WebConsole:
    """The console on the demo ledger (and the retired pair) of each backend."""
    return web_console(_load)


@pytest.fixture
def events_read(console: WebConsole, monkeypatch: pytest.MonkeyPatch) -> Counter[UUID]:
    """How many stored events the ledger's recorder returns, by aggregate, until the test ends."""
    recorder = console.services.ledger.recorder
    select_events = recorder.select_events
    counts: Counter[UUID] = Counter()

    def counted(originator_id: UUID, *args: Any, **kwargs: Any) -> Any:
        found = select_events(originator_id, *args, **kwargs)
        counts[UUID(str(originator_id))] += len(found)
        return found

    monkeypatch.setattr(recorder, "select_events", counted)
    return counts


def _page(client: TestClient, model: str, **params: str) -> str:
    response = client.get(f"/web/models/{model}", params=params)
    assert response.status_code == 200, response.text[:300]
    text: str = response.text
    return text


@pytest.mark.parametrize("model", ["claude-opus-3", "ember-3"])
def test_a_model_page_reads_its_own_events_once_and_no_other_models(
    console: WebConsole, events_read: Counter[UUID], model: str
) -> None:
    client = console.signed_in("reads-auditor", "auditor")
    _page(client, model)  # the model's state now in the ledger's aggregate cache
    events_read.clear()

    page = _page(client, model)

    version = console.services.ledger.version_of(model)
    assert 'data-step="registered"' in page  # the checklist is on the page
    assert {key: n for key, n in events_read.items() if key != model_id(model)} == {}
    assert events_read[model_id(model)] <= version


def test_a_retired_models_page_reads_only_its_successors_registration(
    console: WebConsole, events_read: Counter[UUID]
) -> None:
    client = console.signed_in("reads-auditor-2", "auditor")
    _page(client, RETIRED)
    events_read.clear()

    page = _page(client, RETIRED)

    assert 'data-step="retired" data-status="done"' in page  # its successor is registered
    assert events_read[model_id(SUCCESSOR)] == 1  # its registration, and nothing after it
    others = set(events_read) - {model_id(RETIRED), model_id(SUCCESSOR)}
    assert others == set()
    assert events_read[model_id(RETIRED)] <= console.services.ledger.version_of(RETIRED)
