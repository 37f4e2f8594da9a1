"""The web console's forms record decisions as the API does, on each backend.

Each form is the command's own (its fields come from the command's schema); posting it runs the
same command through `Ledger.execute`, so the same rules, authority and errors hold: an invalid
field is shown beside the field with the API's own message for it, a role the authority table
refuses is refused, a form without the session's CSRF value or without a session records
nothing, and what is recorded says it came from a session. The app runs in process on a fresh
ledger with one model; each test signs in a client of the role it needs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.web.forms import MAX_FORM_BYTES, NOT_ON_FORMS, form_fields
from domain import commands as cmd
from tests.e2e.conftest import WebConsole
from tests.support import parse, register, unique

MODEL = unique("forms")
SHA = "ab" * 32
XSS = '<script>alert(1)</script> & "quoted"'


def _load(ledger: Any) -> None:
    ledger.execute(parse(register(MODEL)))


@pytest.fixture(scope="module")
def console(web_console: Callable[[Callable[[Any], object]], WebConsole]) -> WebConsole:
    return web_console(_load)


def _csrf(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def _count(console: WebConsole) -> int:
    return int(console.services.ledger.recorder.max_notification_id() or 0)


def _errors(html: str) -> dict[str, str]:
    return {
        name: unescape(text)
        for name, text in re.findall(r'data-error-for="([a-z_.]+)">([^<]*)<', html)
    }


def _signal(csrf: str, **changes: str) -> dict[str, str]:
    return {
        "csrf": csrf,
        "model": MODEL,
        "kind": "serving_cost",
        "period_start": "2026-01-01",
        "period_end": "2026-01-31",
        "value": "120.5",
        "unit": "usd",
        "rationale": "The January invoice.",
        "evidence": "https://example.org/invoices/2026-01 the January invoice",
        **changes,
    }


def test_every_command_but_a_manifest_has_a_form_of_its_own_fields() -> None:
    for name, command in cmd.COMMAND_CLASSES.items():
        if name in NOT_ON_FORMS:
            continue
        # An object's properties are fields of their own: the access policy's criteria scores.
        shown = {f.name.partition(".")[0] for f in form_fields(name)}
        body = set(command.model_fields) - {"command", "actor", "expected_version", "effective_at"}
        assert shown == body, name


def test_a_curator_records_a_signal_and_sees_its_event_and_sequence(console: WebConsole) -> None:
    client = console.signed_in(unique("curator"), "curator")
    csrf = _csrf(client, f"/web/record/record_signal?model={MODEL}")
    before = _count(console)
    posted = client.post("/web/record/record_signal", data=_signal(csrf), follow_redirects=False)
    assert posted.status_code == 303, posted.text
    assert _count(console) == before + 1
    shown = client.get(posted.headers["location"])
    assert shown.status_code == 200
    assert 'data-recorded-event="SignalRecorded"' in shown.text
    recorded = console.services.queries.history(MODEL).events[-1]
    assert recorded["type"] == "SignalRecorded"
    assert recorded["actor"]["authenticated_by"] == "session"
    assert recorded["facts"]["value"] == 120.5
    assert recorded["evidence"][0]["uri"] == "https://example.org/invoices/2026-01"
    assert recorded["evidence"][0]["description"] == "the January invoice"
    # Reloading the page it was sent to records nothing more.
    client.get(posted.headers["location"])
    assert _count(console) == before + 1


def test_invalid_fields_are_shown_beside_them_with_the_apis_messages(
    console: WebConsole,
) -> None:
    client = console.signed_in(unique("curator"), "curator")
    csrf = _csrf(client, f"/web/record/record_signal?model={MODEL}")
    before = _count(console)
    wrong = {"period_start": "01/02/2026", "unit": "US Dollars", "rationale": XSS}
    posted = client.post("/web/record/record_signal", data=_signal(csrf, **wrong))
    assert posted.status_code == 400
    assert _count(console) == before
    errors = _errors(posted.text)
    assert set(errors) == {"period_start", "unit"}
    assert "YYYY-MM-DD" in errors["period_start"]
    # What was typed is kept, escaped.
    assert XSS not in posted.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in posted.text
    # The API refuses the same document naming the same fields.
    token = console.services.actors.add(unique("curator"), "curator").token
    body = {k: v for k, v in _signal(csrf, **wrong).items() if k not in ("csrf", "model")}
    body["value"] = 120.5
    body["evidence"] = [{"uri": "https://example.org/x", "description": "x"}]
    api = TestClient(console.app).post(
        f"/models/{MODEL}/signals", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert api.status_code == 422, api.text
    named = {problem["field"].removeprefix("body.") for problem in api.json()["errors"]}
    assert named == set(errors)


def test_a_missing_required_field_is_named_beside_it(console: WebConsole) -> None:
    client = console.signed_in(unique("curator"), "curator")
    csrf = _csrf(client, f"/web/record/record_signal?model={MODEL}")
    before = _count(console)
    posted = client.post("/web/record/record_signal", data=_signal(csrf, rationale="", kind=""))
    assert posted.status_code == 400
    assert _errors(posted.text) == {
        "rationale": "this field is required",
        "kind": "this field is required",
    }
    assert _count(console) == before


def test_a_role_the_authority_table_refuses_is_refused_and_nothing_is_recorded(
    console: WebConsole,
) -> None:
    client = console.signed_in(unique("reviewer"), "reviewer")
    csrf = _csrf(client, f"/web/record/record_signal?model={MODEL}")
    before = _count(console)
    posted = client.post("/web/record/record_signal", data=_signal(csrf))
    assert posted.status_code == 403
    assert "role-not-allowed" in posted.text and "for: curator" in posted.text
    assert _count(console) == before


def test_a_rule_of_the_lifecycle_refuses_with_its_message(console: WebConsole) -> None:
    client = console.signed_in(unique("curator"), "curator")
    csrf = _csrf(client, f"/web/record/retire_model?model={MODEL}")
    before = _count(console)
    posted = client.post(
        "/web/record/retire_model",
        data={
            "csrf": csrf,
            "model": MODEL,
            "retired_on": "2026-02-01",
            "final_status": "fully_retired",
            "rationale": "Retire it now.",
        },
    )
    assert posted.status_code == 409
    assert "data-refusal" in posted.text
    assert _count(console) == before


def test_without_the_sessions_csrf_value_or_a_session_nothing_is_recorded(
    console: WebConsole,
) -> None:
    client = console.signed_in(unique("curator"), "curator")
    before = _count(console)
    forged = client.post("/web/record/record_signal", data=_signal("not-the-value"))
    assert forged.status_code == 400
    missing = client.post(
        "/web/record/record_signal", data={k: v for k, v in _signal("").items() if k != "csrf"}
    )
    assert missing.status_code == 400
    anonymous = console.anonymous().post("/web/record/record_signal", data=_signal("x"))
    assert anonymous.status_code == 401
    assert _count(console) == before


def test_a_form_over_its_limit_is_refused_before_it_is_read(console: WebConsole) -> None:
    client = console.signed_in(unique("curator"), "curator")
    csrf = _csrf(client, f"/web/record/record_signal?model={MODEL}")
    before = _count(console)
    posted = client.post(
        "/web/record/record_signal", data=_signal(csrf, rationale="x" * (MAX_FORM_BYTES + 1))
    )
    assert posted.status_code == 413
    assert _count(console) == before


def test_an_interviewer_records_an_interview_with_its_questions(console: WebConsole) -> None:
    client = console.signed_in(unique("interviewer"), "interviewer")
    csrf = _csrf(client, f"/web/record/record_interview?model={MODEL}")
    interview_id = unique("interview")
    posted = client.post(
        "/web/record/record_interview",
        data={
            "csrf": csrf,
            "model": MODEL,
            "interview_id": interview_id,
            "protocol": "retirement-interview",
            "protocol_version": "2",
            "conducted_on": "2026-01-10",
            "interviewer": "A. Interviewer",
            "framing": "open",
            "questions": "What would you like kept?\r\n\r\nWhat should users know?\r\n",
            "context": "A first interview, before the retirement is scheduled.",
            "transcript_digest": f"sha256:{SHA}",
            "transcript_location": "s3://archive/interviews/1.txt",
            "rationale": "The interview the protocol asks for.",
        },
        follow_redirects=False,
    )
    assert posted.status_code == 303, posted.text
    facts = console.services.queries.history(MODEL).events[-1]["facts"]
    assert facts["questions"] == ["What would you like kept?", "What should users know?"]


def test_an_auditor_records_an_archive_check_with_its_differing_files(
    console: WebConsole,
) -> None:
    client = console.signed_in(unique("auditor"), "auditor")
    csrf = _csrf(client, f"/web/record/record_archive_check?model={MODEL}")
    posted = client.post(
        "/web/record/record_archive_check",
        data={
            "csrf": csrf,
            "model": MODEL,
            "location": "s3://archive/copy-2",
            "checked_at": "2026-01-12T10:00:00Z",
            "observed_digest": SHA,
            "differing_files": "modified weights/shard-1.bin\nmissing config.json",
            "rationale": "The quarterly check of the second copy.",
        },
        follow_redirects=False,
    )
    # The model has no preserved weights: the lifecycle refuses, naming why, nothing recorded.
    assert posted.status_code == 409, posted.text
    document_errors = _errors(posted.text)
    assert document_errors == {}
    wrong = client.post(
        "/web/record/record_archive_check",
        data={
            "csrf": csrf,
            "model": MODEL,
            "location": "s3://archive/copy-2",
            "checked_at": "2026-01-12T10:00:00Z",
            "observed_digest": SHA,
            "differing_files": "changed weights/shard-1.bin",
            "rationale": "The quarterly check of the second copy.",
        },
    )
    assert wrong.status_code == 400
    assert "status" in _errors(wrong.text)["differing_files"]


def test_each_role_is_offered_the_forms_its_role_may_send(console: WebConsole) -> None:
    curator = console.signed_in(unique("curator"), "curator").get("/web/record")
    assert 'action="/web/record/record_signal"' in curator.text
    assert "record_interview" not in curator.text
    assert "reliquary preserve" in curator.text
    researcher = console.signed_in(unique("researcher"), "researcher").get("/web/record")
    assert 'action="/web/record/request_access"' in researcher.text
    assert "record_signal" not in researcher.text
    assert console.anonymous().get("/web/record", follow_redirects=False).status_code == 303


def test_an_unknown_form_or_version_is_a_404_page(console: WebConsole) -> None:
    client = console.signed_in(unique("curator"), "curator")
    assert client.get("/web/record/preserve_weights").status_code == 404
    assert client.get("/web/record/no_such_command").status_code == 404
    assert client.get(f"/web/recorded/{MODEL}/999").status_code == 404
    assert client.get(f"/web/recorded/{MODEL}/x1").status_code == 404


def test_a_model_page_links_the_forms_its_reader_may_send(console: WebConsole) -> None:
    curator = console.signed_in(unique("curator"), "curator").get(f"/web/models/{MODEL}")
    assert f"/web/record/record_signal?model={MODEL}" in curator.text
    assert "/web/record/record_interview" not in curator.text
    auditor = console.signed_in(unique("auditor"), "auditor").get(f"/web/models/{MODEL}")
    assert f"/web/record/record_archive_check?model={MODEL}" in auditor.text
    assert "/web/record/record_signal" not in auditor.text


def test_the_board_sets_an_access_policy_with_its_criteria_scores(console: WebConsole) -> None:
    client = console.signed_in(unique("board"), "board")
    csrf = _csrf(client, f"/web/record/set_access_policy?model={MODEL}")
    policy = {
        "csrf": csrf,
        "model": MODEL,
        "channels": "research_api researchers\nproduct public",
        "criteria.alignment": "0.8",
        "criteria.cost": "1.5",
        "rationale": "Kept for research, weighed on the recorded criteria.",
    }
    before = _count(console)
    wrong = client.post("/web/record/set_access_policy", data=policy)
    assert wrong.status_code == 400
    assert set(_errors(wrong.text)) == {"criteria.cost"}
    assert _count(console) == before
    posted = client.post(
        "/web/record/set_access_policy",
        data={**policy, "criteria.cost": "0.25"},
        follow_redirects=False,
    )
    assert posted.status_code == 303, posted.text
    facts = console.services.queries.history(MODEL).events[-1]["facts"]
    assert facts["criteria"] == {"alignment": 0.8, "cost": 0.25}
    assert facts["channels"] == [
        {"channel": "research_api", "audience": "researchers"},
        {"channel": "product", "audience": "public"},
    ]


def _once(client: TestClient, path: str) -> tuple[str, str]:
    page = client.get(path)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    once = re.search(r'name="once" value="([^"]+)"', page.text)
    assert csrf is not None and once is not None
    return csrf.group(1), once.group(1)


def test_a_form_sent_twice_records_once_and_answers_the_same(console: WebConsole) -> None:
    client = console.signed_in(unique("curator"), "curator")
    csrf, once = _once(client, f"/web/record/record_signal?model={MODEL}")
    form = {**_signal(csrf, period_start="2026-03-01", period_end="2026-03-31"), "once": once}
    before = _count(console)
    first_answer = client.post("/web/record/record_signal", data=form, follow_redirects=False)
    again = client.post("/web/record/record_signal", data=form, follow_redirects=False)
    assert first_answer.status_code == again.status_code == 303
    assert first_answer.headers["location"] == again.headers["location"]
    assert _count(console) == before + 1
    # The same form sent with other values is refused: it was sent already.
    other = client.post("/web/record/record_signal", data={**form, "value": "99"})
    assert other.status_code == 409
    assert "already sent" in other.text
    assert _count(console) == before + 1


def test_a_refused_form_can_be_corrected_and_sent_again(console: WebConsole) -> None:
    client = console.signed_in(unique("curator"), "curator")
    csrf, once = _once(client, f"/web/record/record_signal?model={MODEL}")
    form = {**_signal(csrf, period_start="2026-04-01", period_end="2026-04-30"), "once": once}
    before = _count(console)
    refused = client.post("/web/record/record_signal", data={**form, "unit": "Bad Unit"})
    assert refused.status_code == 400
    corrected = client.post("/web/record/record_signal", data=form, follow_redirects=False)
    assert corrected.status_code == 303
    assert _count(console) == before + 1


def test_a_form_shown_again_keeps_what_it_was_about_fixed(console: WebConsole) -> None:
    client = console.signed_in(unique("reviewer"), "reviewer")
    csrf = _csrf(client, f"/web/record/veto_essay?model={MODEL}&essay_id=e-1")
    posted = client.post(
        "/web/record/veto_essay",
        data={"csrf": csrf, "fixed": "essay_id,model", "model": MODEL, "essay_id": "e-1"},
    )
    assert posted.status_code == 400
    assert set(_errors(posted.text)) == {"risk_category", "reason", "rationale"}
    assert '<input type="hidden" name="essay_id" value="e-1">' in posted.text
    assert 'id="essay_id"' not in posted.text
