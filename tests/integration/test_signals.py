"""Signals per period (issue #13, point 3): units and signs per kind, one value per period
unless corrected with a reason, and the signals register, on each backend."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from api.bootstrap import build_ledger, build_log, build_services
from api.cli import main
from api.settings import Settings
from domain import errors
from domain.lifecycle import SIGNAL_UNITS, V1_SIGNAL_UNITS
from projections.translog.bundle import export_bundle, import_bundle
from projections.translog.checkpoint import generate_signing_key, verifier_key
from tests.support import doc, parse, register, unique

ORIGIN = "reliquary.test/ledger"
SIGNING_KEY = generate_signing_key(ORIGIN)
VERIFIER = verifier_key(SIGNING_KEY)
JANUARY = {"period_start": "2025-01-01", "period_end": "2025-01-31"}


@pytest.fixture
def services(database_url: str) -> Any:
    opened = build_services(Settings(database_url=database_url))
    yield opened
    opened.close()


def _signal(model: str, kind: str, value: float, unit: str, **fields: Any) -> dict[str, Any]:
    return doc("record_signal", model, kind=kind, value=value, unit=unit, **{**JANUARY, **fields})


def _refused(services: Any, model: str, document: dict[str, Any], error: type) -> Any:
    version = services.ledger.version_of(model)
    with pytest.raises(error) as refused:
        services.ledger.execute(parse(document))
    assert services.ledger.version_of(model) == version  # nothing appended
    return refused.value


def test_every_kind_has_units_and_the_old_units_are_among_them() -> None:
    for kind, unit in V1_SIGNAL_UNITS.items():
        assert unit in SIGNAL_UNITS[kind][0]


@pytest.mark.parametrize(
    ("kind", "value", "unit", "error", "rule"),
    [
        ("safety_incidents", -5, "count", errors.SignalNegative, "signal-negative"),
        ("safety_incidents", 5, "usd", errors.SignalUnitMismatch, "signal-unit-mismatch"),
        ("serving_cost", -1, "usd", errors.SignalNegative, "signal-negative"),
        ("serving_cost", 10, "eur", errors.SignalUnitMismatch, "signal-unit-mismatch"),
        ("user_satisfaction", 4, "count", errors.SignalUnitMismatch, "signal-unit-mismatch"),
        ("research_use", -2, "api_calls", errors.SignalNegative, "signal-negative"),
    ],
)
def test_a_unit_or_sign_the_kind_does_not_take_is_refused(
    services: Any, kind: str, value: float, unit: str, error: type, rule: str
) -> None:
    model = unique()
    services.ledger.execute(parse(register(model)))
    refused = _refused(services, model, _signal(model, kind, value, unit), error)
    assert refused.rule == rule
    assert services.queries.register("signals", model) == []


def test_a_period_has_one_value_unless_corrected_with_a_reason(services: Any) -> None:
    model = unique()
    ledger = services.ledger
    ledger.execute(parse(register(model)))
    ledger.execute(parse(_signal(model, "safety_incidents", 3, "count")))

    taken = _refused(
        services,
        model,
        _signal(model, "safety_incidents", 5, "count"),
        errors.SignalPeriodTaken,
    )
    assert taken.rule == "signal-period-taken"
    assert taken.facts["value"] == 3

    # Another period, or another kind, for the same model is a first value.
    ledger.execute(parse(_signal(model, "safety_incidents", 1, "count", period_end="2025-01-30")))
    ledger.execute(parse(_signal(model, "research_use", 10, "api_calls")))

    # A correction of a period with no value is refused, and so is one without a reason.
    nothing = _signal(model, "serving_cost", 4, "usd", corrects=True, correction_reason="recount")
    _refused(services, model, nothing, errors.SignalNothingToCorrect)
    with pytest.raises(errors.CommandRejected):
        parse(_signal(model, "safety_incidents", 5, "count", corrects=True))

    corrected = _signal(
        model,
        "safety_incidents",
        5,
        "count",
        corrects=True,
        correction_reason="two incidents were filed on the research channel late",
    )
    ledger.execute(parse(corrected))
    state = ledger.state(model)
    latest = state.signal_values[("safety_incidents", date(2025, 1, 1), date(2025, 1, 31))]
    assert (latest.value, latest.corrected) == (5, True)
    assert state.signals == 4

    rows = {
        (r.kind, r.period_end.isoformat()): r for r in services.queries.register("signals", model)
    }
    assert len(rows) == 3
    row = rows[("safety_incidents", "2025-01-31")]
    assert (row.value, row.unit, row.corrections) == (5, "count", 1)
    assert row.replaced_value == 3
    assert row.correction_reason == "two incidents were filed on the research channel late"
    assert row.corrected_on is not None
    untouched = rows[("safety_incidents", "2025-01-30")]
    assert (untouched.value, untouched.corrections, untouched.replaced_value) == (1, 0, None)


def test_the_rebuilt_view_equals_the_incremental_one(services: Any) -> None:
    model = unique()
    ledger = services.ledger
    ledger.execute(parse(register(model)))
    ledger.execute(parse(_signal(model, "serving_cost", 100.5, "usd")))
    ledger.execute(parse(_signal(model, "user_satisfaction", 4.25, "score_out_of_5")))
    for n, value in enumerate((120.25, 119.75)):
        ledger.execute(
            parse(
                _signal(
                    model,
                    "serving_cost",
                    value,
                    "usd",
                    corrects=True,
                    correction_reason=f"cost report revision {n + 1}",
                )
            )
        )
    incremental = services.queries.register("signals")
    assert [r.corrections for r in incremental if r.model == model] == [2, 0]
    services.queries.rebuild_views(["signals"])
    assert services.queries.register("signals") == incremental
    (cost, _) = services.queries.register("signals", model)
    assert (cost.value, cost.replaced_value) == (119.75, 120.25)


def test_the_cli_lists_the_signals_register(
    services: Any, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    model = unique()
    services.ledger.execute(parse(register(model)))
    services.ledger.execute(parse(_signal(model, "research_use", 12480, "api_calls")))
    base = ["--database-url", database_url, "register", "signals"]
    assert main([*base, "--model", model, "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert row["kind"] == "research_use"
    assert (row["value"], row["unit"], row["period_start"]) == (12480, "api_calls", "2025-01-01")
    assert row["replaced_value"] is None


def test_a_bundle_with_a_correction_is_restored(
    services: Any, database_url: str, tmp_path: Path
) -> None:
    model = unique()
    ledger = services.ledger
    ledger.execute(parse(register(model)))
    ledger.execute(parse(_signal(model, "serving_cost", 3870, "usd")))
    reason = "the shared pool's cost was split late"
    ledger.execute(
        parse(_signal(model, "serving_cost", 3990, "usd", corrects=True, correction_reason=reason))
    )
    log = build_log(Settings(database_url=database_url, log_origin=ORIGIN), ledger)
    export_bundle(log, tmp_path / "bundle", SIGNING_KEY, VERIFIER)

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'restored.db'}", log_origin=ORIGIN)
    restored = build_ledger(settings)
    try:
        import_bundle(build_log(settings, restored), tmp_path / "bundle", VERIFIER)
        latest = restored.state(model).signal_values[
            ("serving_cost", date(2025, 1, 1), date(2025, 1, 31))
        ]
        assert (latest.value, latest.corrected, latest.correction_reason) == (3990, True, reason)
    finally:
        restored.close()
