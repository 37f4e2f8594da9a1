"""bench/run.py's table: a figure against its goal, and each benchmark's JSON read as rows.

No benchmark runs here: each reader gets a document in the shape its script prints.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


run = _load()


@pytest.mark.parametrize(
    ("goal", "measured", "met"),
    [
        (("ratio", ">=", 0.9), 0.93, True),
        (("ratio", ">=", 0.9), 0.9, True),
        (("ratio", ">=", 0.9), 0.89, False),
        (("value", "<", 50.0), 49.9, True),
        (("value", "<", 50.0), 50.0, False),
        (("ratio", "<=", 1.5), 1.5, True),
        (("ratio", "<=", 1.5), 1.51, False),
    ],
)
def test_a_goal_is_met_or_not(goal: tuple[str, str, float], measured: float, met: bool) -> None:
    assert run.Goal(*goal).holds(measured) is met


@given(
    value=st.floats(min_value=0, max_value=1e7),
    floor=st.floats(min_value=1e-3, max_value=1e7),
    target=st.floats(min_value=0, max_value=1e7),
)
def test_judged_reads_the_value_or_the_ratio_as_the_goal_says(
    value: float, floor: float, target: float
) -> None:
    ratio = value / floor
    on_ratio = run.judged(run.Figure("b", "f", value, ratio=ratio), run.Goal("ratio", ">=", target))
    on_value = run.judged(run.Figure("b", "f", value, ratio=ratio), run.Goal("value", ">=", target))
    assert on_ratio.met is (ratio >= target)
    assert on_value.met is (value >= target)
    assert on_ratio.goal == run.Goal("ratio", ">=", target).text()


def test_no_goal_is_neither_met_nor_unmet() -> None:
    row = run.judged(run.Figure("b", "f", 3.0), None)
    assert (row.goal, row.met) == (None, None)
    assert run.verdict(None) == "no goal"
    # A goal on the ratio of a figure that has none cannot be judged.
    assert run.judged(run.Figure("b", "f", 3.0), run.Goal("ratio", ">=", 1)).met is None


def _by_name(rows: list[Any]) -> dict[str, Any]:
    return {row.figure: row for row in rows}


def test_append_rows_use_the_issues_goal_on_postgres_only() -> None:
    def result(backend: str, mode: str, ratio: float) -> dict[str, Any]:
        return {
            "backend": backend,
            "mode": mode,
            "transaction_size": 1 if mode == "single" else 1000,
            "ledger_per_s": 1000.0 * ratio,
            "plain_per_s": 1000.0,
            "ratio": ratio,
            "goal": 0.4,
            "met": True,
            "paired_ratios": [ratio, ratio - 0.01],
        }

    data = {
        "events": 10000,
        "results": [
            result("sqlite", "single", 0.2),
            result("postgres", "single", 0.45),
            result("postgres", "batch", 0.55),
        ],
    }
    rows = run.from_append(data)
    assert [(row.met, row.goal) for row in rows] == [
        (None, None),
        (False, "ratio >= 0.5"),  # 0.45: met under the bench's 0.4, not under the issue's 0.5
        (True, "ratio >= 0.5"),
    ]
    assert rows[1].floor_label == "plain INSERT" and rows[2].floor_label == "plain executemany"


def test_projections_rows_judge_the_rate_and_the_p95() -> None:
    data = {
        "backend": "postgres",
        "events": 100000,
        "baseline": {"events_per_s": 60000},
        "rebuild": {"events_per_s": 21000, "ratio_to_baseline": 0.35},
        "search": {"median_ms": 10.0, "p95_ms": 64.0},
    }
    rows = run.from_projections(data)
    assert [(row.value, row.met) for row in rows] == [(21000, True), (64.0, False)]
    assert rows[0].floor == 60000 and "100,000 events" in rows[0].figure


def test_transparency_rows() -> None:
    summary = {"median_ms": 1.2, "p95_ms": 6.0}
    data = {
        "backend": "postgres",
        "size": 100000,
        "tree_build": {"events_per_s": 9000},
        "append": summary,
        "inclusion_proof": {"median_ms": 5.0, "p95_ms": 9.0},
        "consistency_proof": summary,
        "root": summary,
        "verify": {"verify_events_per_s": 30000, "hash_loop_events_per_s": 100000, "ratio": 0.3},
    }
    rows = run.from_transparency(data)
    assert [row.met for row in rows] == [None, True, False, True, True, True]
    assert rows[-1].ratio == 0.3 and rows[-1].floor == 100000


def test_archive_rows_judge_every_run_where_the_goal_says_so() -> None:
    def row(figure: str, ratio: float, runs: list[float], goal: float | None, every: bool) -> dict:  # type: ignore[type-arg]
        return {
            "figure": figure,
            "case": "one 1024 MiB file",
            "baseline": "openssl dgst -sha256 FILE",
            "baseline_gbps": 1.45,
            "reliquary": figure,
            "reliquary_gbps": 1.45 * ratio,
            "ratio": ratio,
            "runs": runs,
            "bytes": 10**9,
            "baseline_runs_s": [1.0] * len(runs),
            "reliquary_runs_s": [1.0 / x for x in runs],
            "worst_ratio": min(runs),
            "goal": goal,
            "goal_in_every_run": every,
        }

    data = {
        "rows": [
            row("one.cli", 0.95, [0.95, 0.88, 0.93], 0.9, True),  # best met, one run not
            row("one.inprocess", 1.2, [1.2], None, False),  # analysis: not in the table
            row("many.cli", 1.72, [1.72, 1.6], 1.7, False),  # judged on the best runs
        ],
        "peak_rss_mb": {"one.cli": 38.0, "many.cli": 40.0},
        "goal_rss_mb": 150.0,
        "startup_s": {"tiny.cli": 0.07, "tiny.wrapper": 0.06},
        "peer_skipped": "model-signing is not importable",
    }
    rows = run.from_archive(data)
    assert [(r.ratio, r.met) for r in rows[:2]] == [(0.88, False), (1.72, True)]
    assert "worst of 3 runs" in rows[0].figure
    # The worst run's own figures: its value over its floor is the ratio shown.
    assert rows[0].value / rows[0].floor == pytest.approx(0.88, abs=0.01)
    assert (rows[2].value, rows[2].met) == (40.0, True)
    assert rows[3].value == 0.07 and rows[3].met is None
    assert rows[4].value == "skipped"


def test_web_rows_want_the_page_within_its_ratio_of_the_api() -> None:
    pair = {"page": {"p50_ms": 3.0}, "api": {"p50_ms": 2.0}, "ratio_p50": 1.5, "ratio_p95": 1.7}
    data = {
        "backend": "sqlite",
        "events": 50000,
        "timeline": pair,
        "model": {**pair, "ratio_p50": 1.6},
    }
    rows = run.from_web(data)
    assert [row.met for row in rows] == [True, False]


def test_faults_rows_keep_the_scripts_own_verdicts() -> None:
    data = {
        "summary": [
            {"backend": "sqlite", "check": "1 server peak RSS above idle",
             "figure": "40.0 MB (idle 90 MB)", "goal": "< 100 MB", "met": True},
            {"backend": "sqlite", "check": "8 erasure vs ordinary command", "figure": "12.0x",
             "goal": "measured", "met": None},
            {"backend": "sqlite", "check": "2 server deaths", "figure": 1, "goal": "0",
             "met": False},
        ]
    }  # fmt: skip
    rows = run.from_faults(data)
    assert [(row.goal, row.met) for row in rows] == [("< 100 MB", True), (None, None), ("0", False)]


def test_api_writes_rows_set_http_beside_the_ledger_in_process() -> None:
    side = {"p50_ms": 4.0, "p99_ms": 20.0, "achieved_per_s": 50.0}
    local = {"p50_ms": 2.0, "p99_ms": 5.0, "achieved_per_s": 50.0}
    data = {"results": [{"rate": 50.0, "http": side, "in_process": local, "ratio_p50": 2.0,
                         "ratio_p99": 4.0}]}  # fmt: skip
    rows = run.from_api_writes(data)
    assert [(row.value, row.floor, row.ratio, row.met) for row in rows] == [
        (4.0, 2.0, 2.0, None),
        (20.0, 5.0, 4.0, None),
    ]


def test_a_bench_in_the_tables_own_shape_and_one_that_is_not() -> None:
    parse = run.from_figures("api_writes")
    rows = parse({"figures": [{"figure": "p99 at 50/s", "value": 9.0, "unit": "ms",
                               "goal": "value < 10 ms", "met": True}]})  # fmt: skip
    assert (rows[0].bench, rows[0].met) == ("api_writes", True)
    assert parse({"latency": {}})[0].figure == "no figures this table reads"


def test_a_failed_run_is_a_row_and_the_table_counts_verdicts() -> None:
    ok = run.Ran("web", ["python", "bench/web.py"], 1.0, 0, figures=[
        run.judged(run.Figure("web", "page", 3.0, "ms", ratio=1.2), run.Goal("ratio", "<=", 1.5))
    ])  # fmt: skip
    failed = run.Ran("faults", ["python", "bench/faults.py"], 1.0, 2, problem="exit 2: boom")
    rows = run.rows_of([ok, failed])
    assert [(row.bench, row.met) for row in rows] == [("web", True), ("faults", False)]
    text = run.table(rows)
    assert "1 met, 1 not met, 0 no goal" in text
    assert "exit 2: boom" in text
