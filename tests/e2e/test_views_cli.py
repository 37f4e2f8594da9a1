"""``reliquary projections ... --views``: a process takes only the views it names; the status
shows each view's lag in events and seconds."""

from __future__ import annotations

import json

from api.bootstrap import build_services
from api.settings import Settings
from tests.support import DEMO_EVENTS, parse, register, unique


def test_a_process_takes_only_the_views_it_names(demo_cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = demo_cli("projections", "rebuild", "--views", "timeline,search", "--json")
    assert code == 0, err
    assert json.loads(out) == {"rebuilt": ["timeline", "search"], "events_taken": 2 * DEMO_EVENTS}
    code, out, err = demo_cli("projections", "status", "--views", "search,timeline", "--json")
    assert code == 0, err
    statuses = json.loads(out)
    assert [s["view"] for s in statuses] == ["search", "timeline"]
    for status in statuses:
        assert set(status) == {
            "view",
            "position",
            "head",
            "behind",
            "lag_seconds",
            "waiting_since",
        }
        assert status["position"] == status["head"]
        assert (status["behind"], status["lag_seconds"], status["waiting_since"]) == (0, 0, None)
    code, out, _ = demo_cli("projections", "status")
    assert code == 0 and "lag (s)" in out


def test_catch_up_of_some_views_leaves_the_others_behind(demo_cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = demo_cli("projections", "rebuild", "--json")
    assert code == 0, err
    services = build_services(Settings())  # another process appends, through the ledger
    try:
        services.ledger.execute(parse(register(unique("cli-views"))))
    finally:
        services.close()
    code, out, err = demo_cli("projections", "catch-up", "--views", "status", "--json")
    assert code == 0, err
    assert json.loads(out)["events_taken"] == 1
    code, out, _ = demo_cli("projections", "status", "--json")
    behind = {s["view"]: s for s in json.loads(out)}
    assert behind["status"]["behind"] == 0
    assert behind["timeline"]["behind"] == 1
    assert behind["timeline"]["lag_seconds"] >= 0
    assert behind["timeline"]["waiting_since"] is not None


def test_an_unknown_view_is_a_usage_error_naming_it(demo_cli) -> None:  # type: ignore[no-untyped-def]
    for command in ("status", "catch-up", "rebuild", "follow"):
        code, _, err = demo_cli("projections", command, "--views", "timeline,nope")
        assert code == 2, (command, err)
        assert "no view named 'nope'" in err
