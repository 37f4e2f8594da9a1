"""The review queues in process, on each backend: the board's access requests and the essays.

The queue lists the requests awaiting a decision oldest first, filtered by model, group and
age (a bad filter is a 400 page naming it), each with the requester's other requests and the
model's policy, a stale one marked. Deciding several at once sends one command per request:
each recorded as its own event and version, or refused by the ledger (a board member deciding
a request it made itself) with nothing written; a problem of the shared fields records nothing
for any request and is shown beside its field; a post without the session's CSRF value, or
from a role that may not decide, records nothing. The reviewers' queue vetoes (risk category
and reason required, shown beside the fields), approves and publishes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.web.queues import MAX_DECIDED_AT_ONCE, choice_of
from tests.e2e.conftest import WebConsole
from tests.support import SHA, doc, parse, register, unique

MODEL = unique("queue")
OTHER = unique("queue-other")
OLD, MIDDLE, NEW = unique("req-old"), unique("req-mid"), unique("req-new")
ON_OTHER = unique("req-other")
REQUESTER = unique("researcher")  # the actor who makes the requests of this module
DRAFT = unique("essay")


def _ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT10:00:00Z")


def request(
    model: str,
    request_id: str,
    *,
    actor: str = REQUESTER,
    days_ago: int = 1,
    group: str = "academic",
) -> dict[str, Any]:
    """A researcher's access request, made ``days_ago`` days ago."""
    return {
        **doc("request_access", model, role="researcher"),
        "actor": {"id": actor, "role": "researcher"},
        "effective_at": _ago(days_ago),
        "request_id": request_id,
        "requester": "Ada Queue",
        "organisation": "Queue Institute",
        "requester_group": group,
        "purpose": "A study that needs the retired model itself.",
        "scope": "API access for two people for six months.",
    }


def _load(ledger: Any) -> None:
    for name in (MODEL, OTHER):
        ledger.execute(parse(register(name)))
    ledger.execute(
        parse(
            doc(
                "set_access_policy",
                MODEL,
                role="board",
                channels=[{"channel": "api_by_request", "audience": "researchers"}],
            )
        )
    )
    ledger.execute(parse(request(MODEL, OLD, days_ago=100)))
    ledger.execute(parse(request(MODEL, MIDDLE, days_ago=40, group="industry")))
    ledger.execute(parse(request(MODEL, NEW, days_ago=3)))
    ledger.execute(parse(request(OTHER, ON_OTHER, days_ago=60, group="nonprofit")))
    ledger.execute(
        parse(
            doc(
                "draft_essay",
                MODEL,
                role="reviewer",
                essay_id=DRAFT,
                title="On being kept",
                prompt_ref="https://example.org/prompts/1",
                content_digest=SHA,
            )
        )
    )


@pytest.fixture(scope="module")
def console(web_console: Callable[[Callable[[Any], object]], WebConsole]) -> WebConsole:
    return web_console(_load)


def _count(console: WebConsole) -> int:
    return int(console.services.ledger.recorder.max_notification_id() or 0)


def _csrf(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def _errors(html: str) -> dict[str, str]:
    return {
        name: unescape(text)
        for name, text in re.findall(r'data-error-for="([a-z_]+)">([^<]*)<', html)
    }


def _listed(html: str) -> list[str]:
    return re.findall(r'<article class="queue-item[^"]*"[^>]*data-request="([^"]+)"', html)


def _more_requests(console: WebConsole, n: int, *, actor: str = REQUESTER) -> list[str]:
    """``n`` new requests of ``actor`` for MODEL, made through the ledger as the API would."""
    from domain.authority import Authentication

    ids = [unique("req-bulk") for _ in range(n)]
    for request_id in ids:
        console.services.ledger.execute(
            parse(request(MODEL, request_id, actor=actor, days_ago=2)),
            authentication=Authentication.TOKEN,
        )
    return ids


def _bulk(csrf: str, chosen: list[tuple[str, str]], **fields: str) -> dict[str, Any]:
    return {
        "csrf": csrf,
        "chosen": [choice_of(m, r) for m, r in chosen],
        "rationale": "Within the policy's research channel; terms as usual.",
        **fields,
    }


def test_the_queue_lists_pending_requests_oldest_first_with_their_context(
    console: WebConsole,
) -> None:
    board = console.signed_in(unique("board"), "board")
    shown = board.get("/web/queue/access")
    assert shown.status_code == 200, shown.text
    listed = _listed(shown.text)
    assert listed.index(OLD) < listed.index(ON_OTHER) < listed.index(MIDDLE) < listed.index(NEW)
    html = shown.text
    # The stale ones (over the default 30 days) are marked, the new one is not.
    assert re.search(rf'data-request="{OLD}"[^>]*data-stale', html)
    assert not re.search(rf'data-request="{NEW}"[^>]*data-stale', html)
    # The board reads the private values opened, the requester's other requests and the policy.
    assert "Ada Queue" in html and "Queue Institute" in html
    old = html[html.index(f'data-request="{OLD}"') :]
    old = old[: old.index("</article>")]
    assert ON_OTHER in old and MIDDLE in old  # the same requester's other requests
    assert "api by request, for researchers" in old
    # Each request has its own approve and deny forms, with unique ids.
    assert 'action="/web/record/approve_access_request"' in old
    assert 'action="/web/record/deny_access_request"' in old
    ids = re.findall(r' id="([^"]+)"', html)
    assert len(ids) == len(set(ids))


def test_the_filters_narrow_the_queue(console: WebConsole) -> None:
    board = console.signed_in(unique("board"), "board")
    by_model = _listed(board.get("/web/queue/access", params={"model": OTHER}).text)
    assert by_model == [ON_OTHER]
    by_group = _listed(board.get("/web/queue/access", params={"group": "industry"}).text)
    assert by_group == [MIDDLE]
    old_only = _listed(board.get("/web/queue/access", params={"min_age": "50"}).text)
    assert old_only == [OLD, ON_OTHER]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"min_age": "ten"}, "min_age"),
        ({"min_age": "-1"}, "min_age"),
        ({"group": "pirates"}, "requester group"),
        ({"offset": "1e3"}, "offset"),
        ({"limit": "1000"}, "limit"),
    ],
)
def test_a_bad_filter_is_a_400_page_naming_it(
    console: WebConsole, params: dict[str, str], named: str
) -> None:
    board = console.signed_in(unique("board"), "board")
    shown = board.get("/web/queue/access", params=params)
    assert shown.status_code == 400
    assert named in unescape(shown.text)


def test_an_auditor_reads_the_queue_without_forms_and_a_researcher_not_at_all(
    console: WebConsole,
) -> None:
    auditor = console.signed_in(unique("auditor"), "auditor").get("/web/queue/access")
    assert auditor.status_code == 200
    assert OLD in auditor.text
    assert "/web/record/approve_access_request" not in auditor.text
    assert 'name="chosen"' not in auditor.text and "data-bulk" not in auditor.text
    researcher = console.signed_in(unique("researcher"), "researcher")
    assert researcher.get("/web/queue/access").status_code == 403
    assert console.anonymous().get("/web/queue/access", follow_redirects=False).status_code == 303


def test_a_forged_bulk_post_from_another_role_is_refused_by_the_ledger(
    console: WebConsole,
) -> None:
    auditor = console.signed_in(unique("auditor"), "auditor")
    csrf = _csrf(auditor, "/web/queue/access")
    before = _count(console)
    posted = auditor.post(
        "/web/queue/access/decide",
        data=_bulk(csrf, [(MODEL, NEW)], decision="approve", terms="Research use only."),
    )
    assert posted.status_code == 403, posted.text
    assert "role-not-allowed" in posted.text
    assert _count(console) == before


def test_three_requests_decided_at_once_are_three_events(console: WebConsole) -> None:
    ids = _more_requests(console, 3)
    board = console.signed_in(unique("board"), "board")
    csrf = _csrf(board, "/web/queue/access")
    before = _count(console)
    version = console.services.queries.history(MODEL).version
    posted = board.post(
        "/web/queue/access/decide",
        data=_bulk(
            csrf,
            [(MODEL, r) for r in ids],
            decision="approve",
            terms="Research use only; no redistribution.",
            expires_on="2027-06-30",
        ),
    )
    assert posted.status_code == 200, posted.text
    assert _count(console) == before + 3
    rows = re.findall(
        r'<tr data-request="([^"]+)" data-outcome="([a-z]+)" data-version="([0-9]+)"', posted.text
    )
    assert [(r, o) for r, o, _ in rows] == [(r, "recorded") for r in ids]
    assert [int(v) for _, _, v in rows] == [version + 1, version + 2, version + 3]
    events = console.services.queries.history(MODEL).events[-3:]
    assert [e["type"] for e in events] == ["AccessRequestApproved"] * 3
    assert {e["facts"]["request_id"] for e in events} == set(ids)
    assert all(e["actor"]["authenticated_by"] == "session" for e in events)
    # Each names its record: its sequence in the log, or the page that will show it.
    assert posted.text.count("/web/decisions/") + posted.text.count("/web/recorded/") >= 3
    # Decided, they leave the queue.
    listed = _listed(board.get("/web/queue/access").text)
    assert not set(ids) & set(listed)


def test_a_missing_shared_reason_records_nothing_and_is_shown_beside_it(
    console: WebConsole,
) -> None:
    ids = _more_requests(console, 2)
    board = console.signed_in(unique("board"), "board")
    csrf = _csrf(board, "/web/queue/access")
    before = _count(console)
    posted = board.post(
        "/web/queue/access/decide",
        data=_bulk(csrf, [(MODEL, r) for r in ids], decision="deny", reason_code="capacity"),
    )
    assert posted.status_code == 400
    assert _errors(posted.text) == {"reason": "this field is required"}
    assert "Nothing was recorded for any request" in posted.text
    assert _count(console) == before
    # The chosen requests stay chosen, the decision kept.
    for r in ids:
        assert re.search(rf'value="{re.escape(choice_of(MODEL, r))}"[^>]*checked', posted.text)
    no_decision = board.post(
        "/web/queue/access/decide", data=_bulk(csrf, [(MODEL, ids[0])], reason="x")
    )
    assert no_decision.status_code == 400
    assert "decision" in _errors(no_decision.text)
    assert _count(console) == before


def test_a_board_member_who_made_a_request_is_refused_for_it_alone(console: WebConsole) -> None:
    dual = unique("dual")
    own = _more_requests(console, 1, actor=dual)[0]
    others = _more_requests(console, 1)
    board = console.signed_in(dual, "board")  # the same actor id, holding a board token
    csrf = _csrf(board, "/web/queue/access")
    before = _count(console)
    posted = board.post(
        "/web/queue/access/decide",
        data=_bulk(
            csrf,
            [(MODEL, own), (MODEL, others[0])],
            decision="deny",
            reason_code="capacity",
            reason="No capacity this quarter.",
        ),
    )
    assert posted.status_code == 200, posted.text
    assert _count(console) == before + 1
    assert re.search(rf'data-request="{own}" data-outcome="refused"', posted.text)
    assert re.search(rf'data-request="{others[0]}" data-outcome="recorded"', posted.text)
    assert "own-request-decision" in posted.text


def test_without_the_csrf_value_nothing_is_decided(console: WebConsole) -> None:
    board = console.signed_in(unique("board"), "board")
    before = _count(console)
    data = _bulk("not-the-value", [(MODEL, NEW)], decision="approve", terms="T.")
    assert board.post("/web/queue/access/decide", data=data).status_code == 400
    del data["csrf"]
    assert board.post("/web/queue/access/decide", data=data).status_code == 400
    assert _count(console) == before


def test_chosen_values_are_read_strictly_and_bounded(console: WebConsole) -> None:
    board = console.signed_in(unique("board"), "board")
    csrf = _csrf(board, "/web/queue/access")
    before = _count(console)
    for chosen in (["just-one-part"], ["a/b/c"], ["%ff/x"], [choice_of(MODEL, NEW)] * 2):
        posted = board.post(
            "/web/queue/access/decide",
            data={
                "csrf": csrf,
                "chosen": chosen,
                "decision": "approve",
                "terms": "T.",
                "rationale": "R.",
            },
        )
        assert posted.status_code == 400, chosen
    too_many = [choice_of(MODEL, f"r{i}") for i in range(MAX_DECIDED_AT_ONCE + 1)]
    posted = board.post(
        "/web/queue/access/decide",
        data={
            "csrf": csrf,
            "chosen": too_many,
            "decision": "approve",
            "terms": "T.",
            "rationale": "R.",
        },
    )
    assert posted.status_code == 400
    assert f"at most {MAX_DECIDED_AT_ONCE}" in posted.text
    assert _count(console) == before


def test_a_reviewer_vetoes_only_with_a_reason_then_approves_and_publishes(
    console: WebConsole,
) -> None:
    reviewer = console.signed_in(unique("reviewer"), "reviewer")
    queue = reviewer.get("/web/queue/essays")
    assert queue.status_code == 200
    assert DRAFT in queue.text
    assert "a veto is for high risk only" in queue.text.lower()
    assert 'action="/web/record/veto_essay"' in queue.text
    csrf = _csrf(reviewer, "/web/queue/essays")
    before = _count(console)
    veto = reviewer.post(
        "/web/record/veto_essay",
        data={"csrf": csrf, "model": MODEL, "essay_id": DRAFT, "rationale": "Too risky."},
    )
    assert veto.status_code == 400
    assert set(_errors(veto.text)) == {"risk_category", "reason"}
    assert "data-high-bar" in veto.text
    assert _count(console) == before

    approved = reviewer.post(
        "/web/record/approve_essay",
        data={"csrf": csrf, "model": MODEL, "essay_id": DRAFT, "rationale": "Nothing high-risk."},
        follow_redirects=False,
    )
    assert approved.status_code == 303, approved.text
    queue = reviewer.get("/web/queue/essays").text
    assert 'action="/web/record/publish_essay"' in queue and DRAFT in queue
    published = reviewer.post(
        "/web/record/publish_essay",
        data={
            "csrf": csrf,
            "model": MODEL,
            "essay_id": DRAFT,
            "disclaimer_version": "v3",
            "location": "https://example.org/essays/on-being-kept",
            "rationale": "Published on the weekly schedule.",
        },
        follow_redirects=False,
    )
    assert published.status_code == 303, published.text
    assert _count(console) == before + 2
    assert console.services.queries.history(MODEL).events[-1]["type"] == "EssayPublished"
    assert DRAFT not in reviewer.get("/web/queue/essays").text


def test_the_essay_queue_offers_no_forms_to_other_roles(console: WebConsole) -> None:
    board = console.signed_in(unique("board"), "board").get("/web/queue/essays")
    assert board.status_code == 200
    assert "/web/record/veto_essay" not in board.text
