"""`reliquary verify --views` in process, on each backend: exit codes, FAIL lines, --json."""

from __future__ import annotations

import json

from api.bootstrap import build_ledger, build_views
from api.settings import Settings


def _tamper(database_url: str, statement: str) -> None:
    ledger = build_ledger(Settings(database_url=database_url))
    try:
        recorder = build_views(ledger, Settings(database_url=database_url)).recorder
        with recorder.transaction() as cursor:
            recorder.execute(cursor, statement)
    finally:
        ledger.close()


def test_untouched_views_pass(demo_cli) -> None:  # type: ignore[no-untyped-def]
    assert demo_cli("projections", "rebuild")[0] == 0
    code, out, err = demo_cli("verify", "--views")
    assert code == 0, err
    assert out == ""
    assert "OK: 7 views, " in err
    assert "rows, all recomputed from the events" in err
    code, out, _ = demo_cli("verify", "--views", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["ok"] is True
    assert result["differences"] == []
    assert "view_counts" in result["tables"]


def test_tampered_views_fail_and_are_named(demo_cli, database_url: str) -> None:  # type: ignore[no-untyped-def]
    assert demo_cli("projections", "rebuild")[0] == 0
    _tamper(database_url, "UPDATE view_access_requests SET status = 'approved'")
    _tamper(database_url, "DELETE FROM view_timeline WHERE sequence < 30")
    code, out, err = demo_cli("verify", "--views")
    assert code == 1
    lines = err.splitlines()
    assert "FAIL: view_timeline (sequence=0): row missing from the stored view" in lines
    assert len([line for line in lines if line.startswith("FAIL: ")]) == 21  # 20, then a count
    assert lines[-1].startswith("FAIL: ... and ") and lines[-1].endswith(" more difference(s)")
    code, out, _ = demo_cli("verify", "--views", "--json")
    assert code == 1
    result = json.loads(out)
    assert result["ok"] is False
    assert result["differences_total"] == len(result["differences"]) > 30
    missing = [d for d in result["differences"] if d["problem"] == "missing"]
    assert [d["key"] for d in missing] == [{"sequence": n} for n in range(30)]
    changed = [d for d in result["differences"] if d["table"] == "view_access_requests"]
    assert changed
    assert all(d["column"] == "status" and d["stored"] == "approved" for d in changed)
    assert all(
        d["expected"] != "approved" and set(d["key"]) == {"model", "request_id"} for d in changed
    )


def test_a_lagging_view_is_noted_not_failed(demo_cli) -> None:  # type: ignore[no-untyped-def]
    # `demo` records events without catching the views up: every view is behind.
    code, _, err = demo_cli("verify", "--views")
    assert code == 0, err
    assert "note: view timeline is " in err
    assert "behind the head" in err
