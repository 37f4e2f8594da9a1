"""Every page and report names the checkpoint it was computed at, on both backends.

A page's footer, the fairness report (JSON, CSV, Markdown, and its ``Reliquary-Basis``
header), a register's header and the CLI's ``--json`` each say how many events they reflect,
the latest signed checkpoint (size, base64 root, time) and whether they are exactly at it,
ahead of it or behind it. Here: before any checkpoint, right after one is signed, after new
events, and, with reads that do not catch the views up (``RELIQUARY_VIEWS=follow``), how far
behind the views are until the projection runner takes the new events.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Services, build_services
from api.cli import main
from api.http.app import create_app
from api.settings import Settings
from projections.translog.keys import create_signing_key
from tests.support import doc, parse, register, unique

ORIGIN = "reliquary.test/basis"
_BASIS = re.compile(r'<p id="basis" class="basis" ([^>]*)>(.*?)</p>', re.S)


def _footer(html: str) -> tuple[dict[str, str], str]:
    """The page footer's basis: its data attributes and its words (tags and spaces folded)."""
    found = _BASIS.search(html)
    assert found is not None, "the page names no basis"
    attributes = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', found.group(1)))
    words = " ".join(re.sub(r"<[^>]+>", "", found.group(2)).split())
    return attributes, words


def _header(value: str) -> dict[str, str]:
    """An RFC 8941 dictionary of plain members, as the ``Reliquary-Basis`` header writes it."""
    members = (member.split("=", 1) for member in value.split(", "))
    return {name: item.strip('":') for name, item in members}


def _signal(model: str, month: int) -> Any:
    return parse(
        doc(
            "record_signal",
            model,
            kind="research_use",
            period_start=f"2026-{month:02d}-01",
            period_end=f"2026-{month:02d}-28",
            value=float(month),
            unit="count",
        )
    )


@pytest.fixture
def stores(database_url: str, tmp_path: Path) -> Iterator[tuple[Settings, Services]]:
    """A store with one model, the service's settings (no signing key: it never signs here,
    so each checkpoint is the test's), and a writer's services holding the key."""
    key = tmp_path / "signing.key"
    create_signing_key(key, ORIGIN)
    writer = build_services(Settings(database_url=database_url, signing_key=key, log_origin=ORIGIN))
    served = Settings(
        database_url=database_url, signing_key=tmp_path / "absent.key", log_origin=ORIGIN
    )
    try:
        yield served, writer
    finally:
        writer.close()


def test_a_page_and_a_report_name_the_checkpoint_before_and_after_signing_and_new_events(
    stores: tuple[Settings, Services],
) -> None:
    served, writer = stores
    model = unique("basis")
    writer.ledger.execute(parse(register(model)))
    writer.ledger.execute(_signal(model, 1))
    app = create_app(served)
    with TestClient(app) as client:
        token = app.state.services.actors.add(unique("auditor"), "auditor").token
        auth = {"Authorization": f"Bearer {token}"}

        # 1. Nothing signed yet: the page reflects both events, and says no checkpoint covers them.
        attributes, words = _footer(client.get("/web/verify").text)
        assert attributes == {"events": "2", "recorded": "2", "relation": "unsigned"}
        assert "No checkpoint has been signed yet" in words

        # 2. A checkpoint of both: the page is exactly at it, and names its size and root as
        # the signed note does (its third line, base64).
        signed = writer.log.sign_checkpoint()
        note_root = signed.note.splitlines()[2]
        assert note_root == base64.b64encode(signed.root_hash).decode()
        attributes, words = _footer(client.get("/web/verify").text)
        assert attributes["relation"] == "at"
        assert (attributes["checkpoint-size"], attributes["checkpoint-root"]) == ("2", note_root)
        assert "this page is exactly at it" in words
        report = client.get("/reports/fairness", headers=auth)
        assert report.status_code == 200, report.text
        # The report names the tree it read (the signed one here); the latest checkpoint and
        # how the report stands against it are the header's, so the body is the report alone.
        assert "basis" not in report.json()
        position = report.json()["position"]
        assert (position["checkpoint_size"], position["checkpoint_root"]) == (2, note_root)
        header = _header(report.headers["reliquary-basis"])
        assert (header["events"], header["relation"], header["checkpoint-root"]) == (
            "2",
            "at",
            note_root,
        )

        # 3. A new event: the page and the report take it (this service keeps its views), and
        # are one event ahead of the checkpoint.
        writer.ledger.execute(_signal(model, 2))
        attributes, words = _footer(client.get("/web/verify").text)
        assert (attributes["events"], attributes["relation"]) == ("3", "ahead")
        assert "1 event(s) ahead of it" in words
        answer = client.get("/reports/fairness", headers=auth)
        basis_header = _header(answer.headers["reliquary-basis"])
        assert (basis_header["events"], basis_header["relation"]) == ("3", "ahead")
        assert answer.json()["position"]["checkpoint_size"] == 3
        register_answer = client.get("/registers/signals", params={"model": model}, headers=auth)
        assert len(register_answer.json()) == 2
        header = _header(register_answer.headers["reliquary-basis"])
        assert (header["events"], header["relation"], header["checkpoint-size"]) == (
            "3",
            "ahead",
            "2",
        )
        markdown = client.get("/reports/fairness.md", headers=auth).text
        assert "**Checkpoint**: Computed from the log's first 3 event(s); 1 of them" in markdown

        # 4. A report as of a moment before the last event stands on fewer events: behind the
        # checkpoint, which still covers all of them.
        as_of = writer.ledger.history(model)[-1].timestamp.isoformat()

        def old_report() -> tuple[dict[str, Any], dict[str, str]]:
            answer = client.get("/reports/fairness", params={"as_of": as_of}, headers=auth)
            return answer.json(), _header(answer.headers["reliquary-basis"])

        old, basis = old_report()
        assert old["position"]["log_size"] == old["position"]["checkpoint_size"] == 3
        assert basis["events"] == "3"
        writer.log.sign_checkpoint()
        old, basis = old_report()
        assert basis["relation"] == "at"
        writer.ledger.execute(_signal(model, 3))
        writer.log.sign_checkpoint()
        again, basis = old_report()
        assert (basis["events"], basis["relation"], basis["checkpoint-size"]) == (
            "3",
            "behind",
            "4",
        )
        assert again["position"] == old["position"]  # the same tree, whatever was added later


def test_reads_that_do_not_write_the_views_say_how_far_behind_they_are(
    stores: tuple[Settings, Services],
) -> None:
    served, writer = stores
    model = unique("follow")
    writer.ledger.execute(parse(register(model)))
    writer.queries.catch_up()
    app = create_app(served.model_copy(update={"views": "follow"}))
    with TestClient(app) as client:
        services = app.state.services
        assert services.views.catches_up_on_read is False
        token = services.actors.add(unique("auditor"), "auditor").token
        auth = {"Authorization": f"Bearer {token}"}

        # Two decisions recorded; nobody has taken them into the views yet.
        writer.ledger.execute(_signal(model, 1))
        writer.ledger.execute(_signal(model, 2))
        attributes, words = _footer(client.get("/web/verify").text)
        assert (attributes["events"], attributes["recorded"]) == ("1", "3")
        assert "2 recorded after them are not shown" in words
        answer = client.get("/registers/signals", params={"model": model}, headers=auth)
        assert answer.json() == []  # served as they are: the read wrote nothing
        assert _header(answer.headers["reliquary-basis"])["behind-ledger"] == "2"
        timeline = client.get("/timeline", params={"model": model}, headers=auth).json()
        assert len(timeline["entries"]) == 1
        assert timeline["basis"]["behind_ledger"] == 2

        # The projection runner takes them: the same reads now show them, behind by nothing.
        assert writer.queries.catch_up() > 0
        answer = client.get("/registers/signals", params={"model": model}, headers=auth)
        assert len(answer.json()) == 2
        assert _header(answer.headers["reliquary-basis"])["behind-ledger"] == "0"
        attributes, _ = _footer(client.get("/web/verify").text)
        assert (attributes["events"], attributes["recorded"]) == ("3", "3")


def _cli(*args: str) -> tuple[int, str, str]:
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    err = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.buffer.getvalue().decode(), err.getvalue()  # type: ignore[attr-defined]


def test_the_cli_reports_name_their_checkpoint(
    stores: tuple[Settings, Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    served, writer = stores
    model = unique("cli-basis")
    writer.ledger.execute(parse(register(model)))
    writer.log.sign_checkpoint()
    writer.ledger.execute(_signal(model, 1))
    monkeypatch.setenv("RELIQUARY_LOG_ORIGIN", ORIGIN)
    url = ("--database-url", served.database_url)

    code, out, err = _cli(*url, "report", "fairness", "--json")
    assert code == 0, err
    import json

    report = json.loads(out)
    assert "basis" not in report  # the report alone: a bundle recomputes the same bytes
    assert report["position"]["checkpoint_size"] == 2
    assert "basis: Computed from the log's first 2 event(s); 1 of them not yet in" in err

    code, out, err = _cli(*url, "report", "fairness", "--csv")
    rows = {row["figure"]: row["value"] for row in csv.DictReader(io.StringIO(out))}
    assert (rows["checkpoint_size"], rows["log_size"]) == ("2", "2")
    assert "basis: Computed from the log's first 2 event(s)" in err

    code, out, err = _cli(*url, "timeline", "--json")
    assert json.loads(out)["basis"]["checkpoint"]["size"] == 1

    # A register's JSON names its rows' basis, as the timeline's does.
    code, out, err = _cli(*url, "register", "signals", "--model", model, "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert (answer["register"], len(answer["rows"])) == ("signals", 1)
    assert (answer["basis"]["events"], answer["basis"]["relation"]) == (2, "ahead")
    assert answer["basis"]["checkpoint"]["size"] == 1
    # So does the checklist's, read from the ledger's events.
    code, out, err = _cli(*url, "checklist", model, "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert [item["model"] for item in answer["checklists"]] == [model]
    assert (answer["basis"]["events"], answer["basis"]["checkpoint"]["size"]) == (2, 1)
    # The tree the report read, once signed, has the root the report named.
    later = writer.log.sign_checkpoint()
    assert report["position"]["checkpoint_root"] == base64.b64encode(later.root_hash).decode()
