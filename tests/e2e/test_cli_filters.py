"""An honest CLI: a filter that names nothing is refused, a listing at its limit says so, and a
line of `reliquary apply` may pin the model version it was written against.

On each backend: the CLI in process (exit code, stdout, stderr), and the HTTP API for the same
refusals (`projections.queries.Queries` decides them once for every door).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.cli import main
from api.http.app import create_app
from api.settings import Settings
from domain.decisions import Role
from domain.ledger import EVENT_BY_TOPIC
from projections.translog.keys import create_signing_key
from tests.support import doc, register, unique

SIGNALS = 7
EVENT_TYPES = [event_class.__name__ for event_class in EVENT_BY_TOPIC.values()]
ROLES = [role.value for role in Role]


def _signal(model: str, day: int, **fields: Any) -> dict[str, Any]:
    return doc(
        "record_signal",
        model,
        kind="research_use",
        period_start=f"2025-01-{day:02d}",
        period_end=f"2025-01-{day:02d}",
        value=float(day),
        unit="count",
        rationale=f"Weekly research use, licence review day {day}.",
        **fields,
    )


def _jsonl(path: Path, *documents: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(document) + "\n" for document in documents))
    return path


@pytest.fixture
def setup(database_url: str, tmp_path: Path, capsys, monkeypatch):  # type: ignore[no-untyped-def]
    """A store with one model (registered, then SIGNALS signals); `reliquary ARGS` against it."""
    monkeypatch.setenv("RELIQUARY_SIGNING_KEY", str(tmp_path / "signing.key"))
    monkeypatch.setenv("RELIQUARY_DATABASE_URL", database_url)
    model = unique("filters")

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    documents = [register(model), *(_signal(model, day) for day in range(1, SIGNALS + 1))]
    code, _, err = run("apply", str(_jsonl(tmp_path / "setup.jsonl", *documents)))
    assert code == 0, err
    return run, model, tmp_path


# -- filters that name nothing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "listed", "close"),
    [
        (("timeline", "--type", "SignalRecordd"), EVENT_TYPES, "'SignalRecorded'"),
        (("timeline", "--type", "signal_recorded"), EVENT_TYPES, None),
        (("timeline", "--role", "bord"), ROLES, "'board'"),
        (("why", "licence", "--type", "AccessRequestDenid"), EVENT_TYPES, "'AccessRequestDenied'"),
    ],
    ids=["timeline-type", "timeline-type-snake", "timeline-role", "why-type"],
)
def test_a_typo_in_a_type_or_role_filter_exits_2_listing_what_is_valid(
    setup: Any, args: tuple[str, ...], listed: list[str], close: str | None
) -> None:
    run, _, _ = setup
    code, out, err = run(*args)
    assert code == 2, err
    assert out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert all(name in err for name in listed), err
    if close is not None:
        assert f"did you mean {close}" in err
    # The JSON output is refused alike.
    assert run(*args, "--json")[0] == 2


@pytest.mark.parametrize(
    "args",
    [
        ("timeline", "--model", "{model}x"),
        ("why", "licence", "--model", "{model}x"),
        ("register", "access", "--model", "{model}x"),
        ("register", "essays", "--model", "{model}x"),
        ("history", "{model}x"),
    ],
    ids=["timeline", "why", "register-access", "register-essays", "history"],
)
def test_an_unknown_model_is_not_found_naming_the_close_ones(
    setup: Any, args: tuple[str, ...]
) -> None:
    run, model, _ = setup
    code, out, err = run(*(arg.format(model=model) for arg in args))
    assert code == 1, err
    assert out == ""
    assert f"model not found: no model named '{model}x' is registered" in err
    assert f"did you mean '{model}'?" in err


def test_filters_that_name_something_still_answer(setup: Any) -> None:
    run, model, _ = setup
    code, out, err = run("timeline", "--model", model, "--type", "SignalRecorded", "--json")
    assert code == 0, err
    assert len(json.loads(out)["entries"]) == SIGNALS
    code, out, err = run("timeline", "--model", model, "--role", "auditor", "--json")
    assert (code, json.loads(out)["entries"]) == (0, [])  # a real role with no decisions
    code, out, err = run("register", "access", "--model", model, "--json")
    assert (code, json.loads(out)["rows"]) == (0, [])


# -- a listing at its limit says how to see more -----------------------------------------------


def test_a_timeline_at_its_limit_says_how_to_see_the_next_page(setup: Any) -> None:
    run, model, _ = setup
    code, out, err = run("timeline", "--model", model, "--limit", "3")
    assert code == 0, err
    rows = [line for line in out.splitlines() if line and not line.startswith(("#", "seq"))]
    assert len(rows) == 3
    last = int(rows[-1].split("\t")[0])
    hint = f"reliquary timeline --model {model} --after {last} --limit 3"
    assert f"showing 3 entries; more follow: {hint}" in err
    assert hint not in out  # stdout keeps the table only

    # Following the hint reaches the last page, which says nothing more.
    code, out, err = run("timeline", "--model", model, "--after", str(last), "--limit", "100")
    assert code == 0
    assert len([line for line in out.splitlines() if line.startswith(tuple("0123456789"))]) == 5
    assert "more follow" not in err

    # A page that ends exactly at the last entry has no next page.
    code, out, err = run("timeline", "--model", model, "--limit", str(SIGNALS + 1), "--json")
    assert (code, json.loads(out)["next_after"]) == (0, None)
    code, _, err = run("timeline", "--model", model, "--limit", str(SIGNALS + 1))
    assert "more follow" not in err


def test_the_json_timeline_is_unchanged_and_carries_its_cursor(setup: Any) -> None:
    run, model, _ = setup
    code, out, err = run("timeline", "--model", model, "--limit", "3", "--json")
    page = json.loads(out)
    assert code == 0
    # The entries and the cursor, and what the page was computed from (`Queries.basis`).
    assert set(page) == {"entries", "next_after", "basis"}
    assert page["next_after"] == page["entries"][-1]["sequence"]
    assert "more follow" not in err


def test_why_at_its_limit_says_more_decisions_match_and_pages_on(setup: Any) -> None:
    run, model, _ = setup
    code, out, err = run("why", "licence review", "--model", model, "--limit", "2")
    assert code == 0, err
    assert "showing 2; more decisions match: the next page is --after " in err
    code, out, err = run("why", "licence review", "--model", model, "--limit", "20", "--json")
    assert code == 0 and "more decisions match" not in err
    every = json.loads(out)
    assert len(every) > 2
    # Pages of two, each after the last cursor, give the same hits in the same order.
    paged: list[dict[str, Any]] = []
    after: list[str] = []
    while True:
        code, out, err = run("why", "licence review", "--model", model, "--limit", "2",
                             "--json", *after)  # fmt: skip
        assert code == 0, err
        page = json.loads(out)
        assert "more decisions match" not in err
        if not page:
            break
        paged += page
        after = ["--after", page[-1]["cursor"]]
    assert [hit["sequence"] for hit in paged] == [hit["sequence"] for hit in every]
    assert run("why", "licence", "--limit", "0")[0] == 2  # still refused by the service
    code, _, err = run("why", "licence", "--after", "3:1")
    assert code == 2 and "after must be a hit's cursor" in err


# -- expected_version in a command file ---------------------------------------------------------


def test_apply_takes_a_current_expected_version_and_refuses_a_stale_one(setup: Any) -> None:
    run, model, tmp_path = setup
    version = SIGNALS + 1  # registered, then the signals
    current = _jsonl(tmp_path / "current.jsonl", _signal(model, 20, expected_version=version))
    code, _, err = run("apply", str(current))
    assert code == 0, err
    assert "OK: applied 1 command(s)" in err
    code, out, _ = run("history", model, "--json")
    history = json.loads(out)
    assert history["version"] == version + 1
    assert all("expected_version" not in event["facts"] for event in history["events"])

    # The same line again: the model has moved on.
    code, out, err = run("apply", str(current), "--json")
    assert code == 1
    assert (
        f"line 1: stale-version: the line expects model {model!r} at version {version} "
        f"(expected_version), but it is at version {version + 1}"
    ) in err
    assert "nothing of line 1 was recorded" in err
    assert json.loads(out) == {
        "applied": 0,
        "refused_line": 1,
        "reason": err.splitlines()[0].removeprefix("line 1: "),
    }
    code, out, _ = run("history", model, "--json")
    assert json.loads(out)["version"] == version + 1  # nothing recorded

    # In a longer file the refusal names its line; the lines before it stay applied.
    mixed = _jsonl(
        tmp_path / "mixed.jsonl",
        _signal(model, 21, expected_version=version + 1),
        _signal(model, 22, expected_version=version + 1),
    )
    code, _, err = run("apply", str(mixed))
    assert code == 1
    assert "line 2: stale-version:" in err
    assert "1 command(s) before line 2 stay applied" in err


def test_expected_version_zero_registers_and_a_malformed_one_is_invalid(setup: Any) -> None:
    run, _, tmp_path = setup
    fresh = unique("pinned")
    code, _, err = run(
        "apply", str(_jsonl(tmp_path / "r.jsonl", {**register(fresh), "expected_version": 0}))
    )
    assert code == 0, err
    for bad in ("1", -1, 1.5, True):
        path = _jsonl(tmp_path / "bad.jsonl", _signal(fresh, 3, expected_version=bad))
        code, _, err = run("apply", str(path))
        assert code == 1
        assert "line 1: record_signal: field 'expected_version'" in err, (bad, err)


# -- the same refusals over HTTP ----------------------------------------------------------------


@pytest.fixture
def http(setup: Any, database_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, str, dict]]:
    """The API on the same store, with an auditor's token and a curator's."""
    _, model, _ = setup
    key = tmp_path / "signing.key"
    if not key.exists():
        create_signing_key(key, "reliquary.local/ledger")
    app = create_app(Settings(database_url=database_url))
    with TestClient(app, raise_server_exceptions=False) as client:
        actors = app.state.services.actors
        tokens = {
            role: {"Authorization": f"Bearer {actors.add(f'{role}-filters', role).token}"}
            for role in ("auditor", "curator")
        }
        yield client, model, tokens


@pytest.mark.parametrize(
    ("path", "listed"),
    [
        ("/timeline?type=SignalRecordd", EVENT_TYPES),
        ("/timeline?role=bord", ROLES),
        ("/search?q=licence&type=nothing", EVENT_TYPES),
    ],
    ids=["timeline-type", "timeline-role", "search-type"],
)
def test_a_typo_in_a_filter_is_422_over_http(http: Any, path: str, listed: list[str]) -> None:
    client, _, tokens = http
    response = client.get(path, headers=tokens["auditor"])
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith(":invalid-query")
    assert all(name in problem["detail"] for name in listed)


@pytest.mark.parametrize(
    "path",
    [
        "/timeline?model={model}x",
        "/search?q=licence&model={model}x",
        "/registers/access?model={model}x",
    ],
)
def test_an_unknown_model_filter_is_404_over_http(http: Any, path: str) -> None:
    client, model, tokens = http
    response = client.get(path.format(model=model), headers=tokens["auditor"])
    assert response.status_code == 404, response.text
    problem = response.json()
    assert problem["type"].endswith(":model-not-found")
    assert f"did you mean '{model}'?" in problem["detail"]


def test_http_keeps_if_match_as_the_one_way_to_pin_a_version(http: Any) -> None:
    client, model, tokens = http
    body = {
        "kind": "research_use",
        "period_start": "2025-02-01",
        "period_end": "2025-02-01",
        "value": 1.0,
        "unit": "count",
        "rationale": "Pinned in the body.",
        "expected_version": SIGNALS + 1,
    }
    response = client.post(f"/models/{model}/signals", json=body, headers=tokens["curator"])
    assert response.status_code == 422, response.text
    assert "expected_version" in response.text


def test_the_web_console_answers_a_typo_with_a_page_naming_it(http: Any) -> None:
    client, model, tokens = http
    form = client.get("/web/login", params={"next": "/web/"})
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    token = tokens["auditor"]["Authorization"].removeprefix("Bearer ")
    signed = client.post(
        "/web/login",
        data={"token": token, "csrf": csrf.group(1), "next": "/web/"},
        follow_redirects=False,
    )
    assert signed.status_code in (302, 303), signed.text
    for path, status, named in (
        ("/web/timeline?role=bord", 400, "did you mean &#39;board&#39;"),
        ("/web/timeline?type=SignalRecordd", 400, "SignalRecorded"),
        ("/web/search?q=licence&type=nothing", 400, "AccessRequestDenied"),
        (f"/web/timeline?model={model}x", 404, "did you mean"),
    ):
        page = client.get(path)
        assert page.status_code == status, (path, page.text)
        assert page.headers["content-type"].startswith("text/html"), path
        assert 'role="alert"' in page.text, path
        assert named in page.text, (path, page.text)
