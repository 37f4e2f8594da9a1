"""The retirement checklist: each step from the model's events, as of a moment, on every door."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from api.bootstrap import build_services
from api.cli import main
from api.settings import Settings
from projections.checklist import ANOMALY, DONE, NOT_APPLICABLE, NOT_YET
from tests.support import doc, parse, preserve, register, unique


@pytest.fixture
def services(database_url: str) -> Any:
    opened = build_services(Settings(database_url=database_url))
    yield opened
    opened.close()


def _steps(services: Any, model: str, as_of: Any = None) -> dict[str, Any]:
    (item,) = services.queries.checklist(model, as_of=as_of)
    return {step.name: step for step in item.steps}


def test_a_new_model_is_registered_and_nothing_else_yet(services: Any) -> None:
    model = unique()
    services.ledger.execute(parse(register(model)))

    steps = _steps(services, model)

    assert steps["registered"].status == DONE
    assert steps["registered"].settled_by.event == "ModelRegistered"
    assert steps["preserved"].status == NOT_YET
    assert steps["archive checked"].status == NOT_APPLICABLE
    assert steps["retired"].status == NOT_YET
    assert not any(step.status == ANOMALY for step in steps.values())


def test_a_failed_archive_check_is_an_anomaly_from_the_moment_it_is_recorded(
    services: Any,
) -> None:
    model = unique()
    services.ledger.execute(parse(register(model)))
    services.ledger.execute(parse(preserve(model)))
    before_the_check = datetime.now(UTC)
    check = doc(
        "record_archive_check",
        model,
        location="s3://copy",
        checked_at=datetime.now(UTC).isoformat(),
        observed_digest="0" * 64,
    )
    recorded = services.ledger.execute(parse(check))

    now = _steps(services, model)
    then = _steps(services, model, as_of=before_the_check)

    assert now["archive checked"].status == ANOMALY
    assert "failed" in now["archive checked"].detail
    assert now["archive checked"].settled_by.version == recorded.version
    assert then["archive checked"].status == NOT_YET
    assert then["preserved"].status == DONE


def test_a_scheduled_retirement_that_has_passed_is_overdue(services: Any) -> None:
    model = unique()
    services.ledger.execute(parse(register(model)))
    when = date.today() + timedelta(days=10)
    services.ledger.execute(
        parse(doc("schedule_retirement", model, retirement_date=when.isoformat(), reasons=["x"]))
    )

    assert _steps(services, model)["scheduled"].status == DONE
    later = _steps(services, model, as_of=when + timedelta(days=5))
    assert later["scheduled"].status == ANOMALY
    assert "overdue" in later["scheduled"].detail


def test_strict_exits_nonzero_on_an_anomaly_and_json_names_the_event(
    database_url: str, capsys: pytest.CaptureFixture[str], services: Any
) -> None:
    import json

    model = unique()
    services.ledger.execute(parse(register(model)))
    when = date.today() + timedelta(days=10)
    services.ledger.execute(
        parse(doc("schedule_retirement", model, retirement_date=when.isoformat(), reasons=["x"]))
    )
    base = ["--database-url", database_url, "checklist", model]

    assert main([*base, "--strict"]) == 0
    capsys.readouterr()
    later = (when + timedelta(days=5)).isoformat()
    assert main([*base, "--as-of", later, "--strict", "--json"]) == 3
    (item,) = json.loads(capsys.readouterr().out)["checklists"]
    scheduled = next(step for step in item["steps"] if step["step"] == "scheduled")
    assert scheduled["status"] == "anomaly"
    assert scheduled["settled_by"]["event"] == "RetirementScheduled"
    assert main([*base, "--as-of", "2026-13-01"]) == 2  # not a day: the one moment rule


def test_the_http_api_serves_the_same_checklist(database_url: str) -> None:
    from fastapi.testclient import TestClient

    from api.http.app import create_app

    settings = Settings(database_url=database_url)
    with TestClient(create_app(settings)) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        token = services.actors.add("auditor-1", "auditor").token
        model = unique()
        services.ledger.execute(parse(register(model)))
        headers = {"Authorization": f"Bearer {token}"}

        one = client.get(f"/models/{model}/checklist", headers=headers)
        every = client.get("/checklist", headers=headers)
        missing = client.get(f"/models/{unique()}/checklist", headers=headers)
        bad = client.get(f"/models/{model}/checklist?as_of=yesterday", headers=headers)

    assert one.status_code == 200, one.text
    assert one.json()["steps"][0] == {
        "step": "registered",
        "status": "done",
        "detail": f"registered as {model!r}",
        "settled_by": one.json()["steps"][0]["settled_by"],
    }
    assert any(item["model"] == model for item in every.json())
    assert missing.status_code == 404
    assert bad.status_code == 422
