"""Timeline, justification search, registers, the fairness report and projections, via the CLI."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from api.cli import main
from tests.support import DEMO_EVENTS


@pytest.fixture
def cli(database_url: str, capsys, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RELIQUARY_DATABASE_URL", database_url)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    assert run("demo")[0] == 0
    return run


def test_timeline_filters_and_pages(cli) -> None:
    code, out, _ = cli("timeline", "--model", "meridian-2", "--limit", "10", "--json")
    first = json.loads(out)
    assert code == 0
    assert len(first["entries"]) == 10
    assert {e["model"] for e in first["entries"]} == {"meridian-2"}
    code, out, _ = cli(
        "timeline", "--model", "meridian-2", "--after", str(first["next_after"]), "--json"
    )
    rest = json.loads(out)["entries"]
    assert len(rest) == 15  # meridian-2 has 25 decisions
    assert rest[0]["sequence"] > first["entries"][-1]["sequence"]

    code, out, _ = cli(
        "timeline",
        "--role",
        "board",
        "--since",
        "2026-01-01T00:00:00Z",
        "--type",
        "AccessRequestDenied",
        "--json",
    )
    entries = json.loads(out)["entries"]
    assert entries
    assert all(
        e["actor"]["role"] == "board" and e["type"] == "AccessRequestDenied" for e in entries
    )
    assert all((e["effective_at"] or e["recorded_at"]) >= "2026-01-01" for e in entries)

    code, _, err = cli("timeline", "--since", "yesterday")
    assert code == 2  # invalid input
    assert "ISO 8601" in err


def test_why_finds_the_decision_and_shows_its_justification(cli) -> None:
    code, out, _ = cli("why", "licence forbids serving", "--json")
    hits = json.loads(out)
    assert code == 0
    top = hits[0]
    assert (top["model"], top["type"]) == ("cinder-1", "AccessPolicySet")
    assert top["actor"]["role"] == "board"
    assert top["facts"]["criteria"]["alignment"] == 0.8
    assert top["evidence"]
    code, out, _ = cli("why", "licence", "--model", "claude-opus-3", "--json")
    assert all(hit["model"] == "claude-opus-3" for hit in json.loads(out))
    code, out, _ = cli("why", "licence forbids serving")
    assert "cinder-1" in out


def test_registers(cli) -> None:
    code, out, _ = cli("register", "access", "--json")
    requests = json.loads(out)["rows"]
    assert len(requests) == 14
    resubmitted = {r["request_id"]: r for r in requests}["opus3-req-008"]
    assert (resubmitted["resubmission_of"], resubmitted["status"]) == ("opus3-req-007", "approved")
    denied = [r for r in requests if r["status"] == "denied"]
    assert denied and all(r["reason_code"] for r in denied)
    assert {r["requester_group"] for r in requests} == {
        "academic",
        "independent",
        "industry",
        "nonprofit",
    }
    code, out, _ = cli("register", "essays", "--model", "claude-opus-3", "--json")
    assert any(e["status"] == "vetoed" for e in json.loads(out)["rows"])
    code, out, _ = cli("register", "preferences", "--json")
    assert {p["outcome"] for p in json.loads(out)["rows"]} >= {"honored", "declined", "deferred"}
    code, _, err = cli("register", "nonsense")
    assert code == 2
    assert "no register" in err


def test_fairness_report_in_every_form(cli, tmp_path: Path) -> None:
    code, out, _ = cli("report", "fairness", "--json")
    report = json.loads(out)
    groups = {g["group"]: g for g in report["access_by_group"]["groups"]}
    assert groups["nonprofit"]["resubmissions"] == 1
    assert dict(report["access_by_group"]["overall"]["denial_reasons"]) == {
        "incomplete_application": 1,
        "purpose_out_of_scope": 2,
        "channel_not_offered": 3,
    }
    assert groups["academic"]["approval_rate"] == 0.75
    assert groups["independent"]["below_four_fifths"] is True
    pairs = report["criteria_consistency"]["flagged"]
    assert {frozenset((p["model_a"], p["model_b"])) for p in pairs} == {
        frozenset({"cinder-1", "meridian-2"})
    }

    code, out, _ = cli("report", "fairness", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows
    assert {"section", "figure", "value"} <= set(rows[0])

    code, _, err = cli("report", "fairness", "--markdown", "--output", str(tmp_path / "r"))
    assert code == 0
    text = (tmp_path / "r" / "REPORT.md").read_text()
    assert "approval-by-group.svg" in text
    assert "veto-rates.svg" in text
    for chart in ("approval-by-group.svg", "veto-rates.svg"):
        ET.parse(tmp_path / "r" / chart)  # well-formed SVG

    code, _, _ = cli("report", "fairness", "--criteria-distance", "0.01", "--json")
    assert code == 0


def test_fairness_markdown_on_stdout_references_no_file(cli, tmp_path: Path, monkeypatch) -> None:
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    code, out, _ = cli("report", "fairness", "--markdown")
    assert code == 0
    targets = re.findall(r"!\[[^\]]*\]\(([^)]*)\)", out)
    assert len(targets) == 2  # both charts, inside the page
    for target in targets:
        assert target.startswith("data:image/svg+xml;base64,")
        ET.fromstring(base64.b64decode(target.split(",", 1)[1]))
    assert ".svg" not in re.sub(r"data:image/svg\+xml;base64,[A-Za-z0-9+/=]*", "", out)
    assert not list(here.iterdir())  # and nothing was written


def test_fairness_as_of_counts_what_was_recorded_by_then(cli) -> None:
    # The demo is recorded when it is loaded (today): a day before that has no decision yet.
    code, out, _ = cli("report", "fairness", "--as-of", "2024-01-01", "--json")
    assert code == 0
    before = json.loads(out)
    assert before["access_by_group"]["overall"]["requests"] == 0
    assert before["essay_review"]["cadence"] == []
    assert before["position"]["log_size"] == 0
    today = datetime.now(UTC).date().isoformat()
    code, out, _ = cli("report", "fairness", "--as-of", today, "--json")
    report = json.loads(out)
    assert report["position"]["log_size"] == report["position"]["events_counted"] > 0
    assert report["position"]["moment"] == f"{today}T23:59:59.999999+00:00"
    assert report["access_by_group"]["overall"]["requests"] > 0
    size = report["position"]["checkpoint_size"]
    code, out, _ = cli("report", "fairness", "--as-of", today, "--markdown")
    assert (
        "reliquary report fairness --bundle BUNDLE --key KEY "
        f"--as-of {today}T23:59:59.999999Z --size {size}"
    ) in out
    code, _, err = cli("report", "fairness", "--as-of", "2024-01-01T00:00:00")
    assert code != 0
    assert "time zone" in err


def test_the_printed_command_recomputes_the_report_from_a_bundle(demo_cli, tmp_path) -> None:
    """The reviewer's path, at the CLI: export a bundle, run the command the report prints
    (its BUNDLE replaced, the key pinned), get the operator's JSON byte for byte."""
    cli = demo_cli
    code, operator, err = cli("report", "fairness", "--json")
    assert code == 0, err
    code, markdown, _ = cli("report", "fairness", "--markdown")
    bundle = tmp_path / "bundle"
    code, _, err = cli("export", str(bundle))
    assert code == 0, err
    position = json.loads(operator)["position"]
    options = ["--as-of", position["moment"], "--size", str(position["checkpoint_size"])]
    key = str(bundle / "verifier-key")
    code, again, err = cli(
        "report", "fairness", "--bundle", str(bundle), "--key", key, *options, "--json"
    )
    assert code == 0, err
    assert again == operator
    # Without a pinned key, or with another key, no report.
    code, _, err = cli("report", "fairness", "--bundle", str(bundle), "--json")
    assert code == 2
    assert "--key" in err
    other = "example.org/other+01020304+AWJ0dXQgbm90IHRoZSBrZXkgd2Ugc2lnbmVkIHdpdGggeHh4eHg="
    code, out, err = cli("report", "fairness", "--bundle", str(bundle), "--key", other, "--json")
    assert (code, out) == (3, "")  # a damaged input: the bundle does not verify, no report
    assert "does not verify" in err


def test_the_printable_report_is_one_html_page(cli, tmp_path) -> None:
    code, out, err = cli("report", "fairness", "--html")
    assert code == 0, err
    assert out.lstrip().lower().startswith("<!doctype html>")
    assert "Summary" in out
    assert "data:image/svg+xml;base64," in out  # the charts travel inside the page
    code, _, err = cli("report", "fairness", "--html", "--output", str(tmp_path / "out"))
    assert code == 0, err
    written = (tmp_path / "out" / "REPORT.html").read_text()
    assert written.lower().startswith("<!doctype html>")
    assert "Summary" in written


def test_projections_status_and_rebuild(cli) -> None:
    code, out, _ = cli("projections", "status", "--json")
    before = {s["view"]: s for s in json.loads(out)}
    assert set(before) == {
        "timeline",
        "status",
        "access",
        "essays",
        "preferences",
        "search",
        "signals",
    }
    code, out, _ = cli("timeline", "--json", "--limit", "1000")
    timeline = json.loads(out)
    code, out, _ = cli("projections", "rebuild", "--json")
    assert json.loads(out)["events_taken"] == 7 * DEMO_EVENTS
    code, out, _ = cli("timeline", "--json", "--limit", "1000")
    assert json.loads(out) == timeline
    code, out, _ = cli("projections", "status", "--json")
    assert all(s["behind"] == 0 for s in json.loads(out))
    code, _, err = cli("projections", "rebuild", "nonsense")
    assert code == 2
    assert "no view named" in err
