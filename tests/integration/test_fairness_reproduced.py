"""A fairness report names the tree it read, and an audit bundle alone recomputes it exactly.

On each backend: the operator's report (computed from the log's leaves, not the views) names the
tree size and root it read; the root is the transparency log's own at that size; a reviewer holding
a bundle of the log (the same size or larger) and the verifier key recomputes the report, with the
command the report prints, to the same JSON bytes, with no database. A bundle altered anywhere, or
checked against another key, gives no report.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.bootstrap import Services, build_services
from api.cli.demo import load_demo
from api.settings import Settings
from domain.errors import BundleDoesNotVerify, BundleError, InvalidQuery
from projections.fairness import report_json
from projections.fairness.reproduce import reproduce_options
from projections.queries import fairness_from_bundle
from projections.translog.keys import create_signing_key
from tests.support import demo_event_count, doc, parse, register, unique

ORIGIN = "reliquary.test/fairness"


def _bytes(report: Any) -> bytes:
    """The report's JSON as the CLI prints it (`api.cli.output.print_json`)."""
    return json.dumps(report_json(report), indent=2, ensure_ascii=False).encode()


@pytest.fixture
def operator(database_url: str, tmp_path: Path) -> Iterator[Services]:
    key = tmp_path / "signing.key"
    create_signing_key(key, ORIGIN)
    services = build_services(
        Settings(database_url=database_url, signing_key=key, log_origin=ORIGIN)
    )
    load_demo(services.ledger)
    try:
        yield services
    finally:
        services.close()


def _bundle(services: Services, where: Path) -> tuple[Path, str]:
    services.log.sign_checkpoint()
    services.log.export(where)
    return where, (where / "verifier-key").read_text().strip()


def _options(report: Any) -> dict[str, Any]:
    """The as-of and size the report's reproduce command names, as `fairness_from_bundle` takes."""
    options = reproduce_options(report)
    named = dict(zip(options[::2], options[1::2], strict=False))
    from domain.commands import parse_as_of

    return {"as_of": parse_as_of(named["--as-of"], "--as-of"), "size": int(named["--size"])}


def test_a_bundle_recomputes_the_operators_report_to_the_same_bytes(
    operator: Services, tmp_path: Path
) -> None:
    report = operator.queries.fairness()
    position = report.position
    assert position.origin == ORIGIN
    assert position.checkpoint_size == position.log_size == demo_event_count()
    bundle, key = _bundle(operator, tmp_path / "bundle")
    # The root the report names is the log's own root at that size.
    signed = operator.log.latest_checkpoint()
    assert signed.size == position.checkpoint_size
    assert base64.b64decode(position.checkpoint_root) == signed.root_hash

    again = fairness_from_bundle(bundle, key, **_options(report))
    assert _bytes(again) == _bytes(report)
    assert report.access_by_group.groups  # the demo's requests are counted, not an empty report


def test_a_larger_bundle_recomputes_an_older_report_at_its_size(
    operator: Services, tmp_path: Path
) -> None:
    report = operator.queries.fairness()
    # Later decisions, recorded after the report: a request and its denial.
    model = unique("later")
    operator.ledger.execute(parse(register(model)))
    operator.ledger.execute(
        parse(
            doc(
                "request_access",
                model,
                role="researcher",
                request_id="req-late",
                requester="A. Reviewer",
                organisation="Elsewhere",
                requester_group="industry",
                purpose="Study it.",
                scope="API access.",
            )
        )
    )
    bundle, key = _bundle(operator, tmp_path / "bundle")
    assert operator.log.latest_checkpoint().size > report.position.checkpoint_size

    again = fairness_from_bundle(bundle, key, **_options(report))
    assert _bytes(again) == _bytes(report)
    # Without the size, the bundle's newer events count: a different report.
    newer = fairness_from_bundle(bundle, key, as_of=_options(report)["as_of"] + timedelta(days=1))
    assert newer.position.checkpoint_size > report.position.checkpoint_size


def test_an_altered_bundle_or_another_key_gives_no_report(
    operator: Services, tmp_path: Path
) -> None:
    report = operator.queries.fairness()
    bundle, key = _bundle(operator, tmp_path / "bundle")
    other = tmp_path / "other.key"
    create_signing_key(other, ORIGIN)
    from projections.translog.checkpoint import verifier_key

    with pytest.raises(BundleDoesNotVerify, match="not the one you pinned"):
        fairness_from_bundle(bundle, verifier_key(other.read_text().strip()), **_options(report))

    events = bundle / "events.jsonl"
    lines = events.read_bytes().splitlines()
    # One approval turned into a denial: the figures would change, so the bundle must not verify.
    target = next(i for i, line in enumerate(lines) if b"AccessRequestApproved" in line)
    altered = lines[target].replace(b"AccessRequestApproved", b"AccessRequestDenied", 1)
    assert altered != lines[target]
    lines[target] = altered
    events.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(BundleDoesNotVerify):
        fairness_from_bundle(bundle, key, **_options(report))


def test_a_size_past_the_bundle_or_the_log_is_refused(operator: Services, tmp_path: Path) -> None:
    bundle, key = _bundle(operator, tmp_path / "bundle")
    size = operator.log.latest_checkpoint().size
    with pytest.raises(BundleError, match="newer bundle"):
        fairness_from_bundle(bundle, key, size=size + 1)
    with pytest.raises(InvalidQuery, match="fewer than"):
        operator.queries.fairness(size=size + 1)
    with pytest.raises(InvalidQuery, match="criteria distance"):
        operator.queries.fairness(thresholds={"criteria_distance": 11.0})
    with pytest.raises(InvalidQuery, match="significance"):
        operator.queries.fairness(thresholds={"significance": 2.0})
    with pytest.raises(InvalidQuery, match="min_group_share"):
        fairness_from_bundle(bundle, key, thresholds={"min_group_share": -1.0})


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cut=st.floats(min_value=0.0, max_value=1.0))
def test_any_moment_recomputes_to_the_same_bytes(
    operator: Services, tmp_path: Path, cut: float
) -> None:
    """For every T from the first event to now, the bundle's report is the operator's."""
    where = tmp_path / "bundle"
    bundle, key = (
        (where, (where / "verifier-key").read_text().strip())
        if where.exists()
        else (_bundle(operator, where))
    )
    first = operator.ledger.history(operator.ledger.model_names()[0])[0].timestamp
    now = operator.queries.fairness().position.moment
    at = first + (now - first) * cut
    report = operator.queries.fairness(as_of=at)
    assert report.position.moment == at
    again = fairness_from_bundle(bundle, key, as_of=at, size=report.position.checkpoint_size)
    assert _bytes(again) == _bytes(report)


def test_a_request_not_yet_in_effect_is_left_out_with_its_decision(
    operator: Services, tmp_path: Path
) -> None:
    """A request that takes effect later is not counted, nor the approval that decides it."""
    before = operator.queries.fairness()
    model = unique("future")
    operator.ledger.execute(parse(register(model)))
    later = (datetime.now(UTC) + timedelta(hours=20)).isoformat()
    request = doc(
        "request_access",
        model,
        role="researcher",
        request_id="req-future",
        requester="A. Person",
        organisation="Somewhere",
        requester_group="nonprofit",
        purpose="Study it.",
        scope="API access.",
        effective_at=later,
    )
    operator.ledger.execute(parse(request))
    board = {"role": "board", "terms": "Research only.", "effective_at": later}
    operator.ledger.execute(
        parse(doc("approve_access_request", model, request_id="req-future", **board))
    )
    report = operator.queries.fairness()
    assert report.position.not_yet_in_effect == 2
    assert report.position.events_counted == before.position.events_counted + 1
    counted = {g.group: g.requests for g in report.access_by_group.groups}
    assert counted == {g.group: g.requests for g in before.access_by_group.groups}
    bundle, key = _bundle(operator, tmp_path / "bundle")
    assert _bytes(fairness_from_bundle(bundle, key, **_options(report))) == _bytes(report)


def test_a_page_with_a_decision_on_a_row_not_held_is_taken_one_event_at_a_time(
    operator: Services,
) -> None:
    """The views refuse a decision on a request they do not hold (`LookupError`); the page is
    rolled back and taken again event by event, that decision skipped, the rest kept."""
    from projections import registers
    from projections.fairness.recorded import _register_views, _take
    from projections.runner import Context
    from projections.scratch import ScratchRecorder

    histories = [operator.ledger.history(name) for name in operator.ledger.model_names()]
    history = next(
        events
        for events in histories
        if any(type(e).__name__ == "AccessRequestApproved" for e in events)
    )
    approval = next(e for e in history if type(e).__name__ == "AccessRequestApproved")
    request = next(
        e
        for e in history
        if type(e).__name__ == "AccessRequested" and e.request_id == approval.request_id
    )
    registration = history[0]

    def taken(events: list[Any]) -> list[Any]:
        scratch = ScratchRecorder()
        views = _register_views(scratch)
        with scratch.transaction() as cursor:
            for view in views:
                for statement in view.create_statements("sqlite"):
                    scratch.execute(cursor, statement)
            contexts = [
                Context(model="m", position=i, notification_id=0) for i in range(len(events))
            ]
            _take(scratch, cursor, views, events, contexts)
        return registers.access_requests(scratch)

    assert [row.status for row in taken([registration, request, approval])] == ["approved"]
    assert taken([registration, approval]) == []  # the approval alone decides nothing


def test_the_report_of_now_is_kept_until_the_log_grows(operator: Services) -> None:
    """Asked again with nothing new, "now" is the report already computed (its T unchanged,
    so the command it prints still recomputes it); a new event makes a new one."""
    first = operator.queries.fairness()
    assert operator.queries.fairness() is first
    other = operator.queries.fairness(thresholds={"criteria_distance": 0.3})
    assert other is not first
    assert other.policy.criteria_distance == 0.3
    model = unique("grows")
    operator.ledger.execute(parse(register(model)))
    grown = operator.queries.fairness()
    assert grown is not first
    assert grown.position.checkpoint_size == first.position.checkpoint_size + 1
    assert grown.position.moment > first.position.moment


def test_a_bundle_changed_after_it_verified_gives_no_report(
    operator: Services, tmp_path: Path
) -> None:
    """The leaves are read again after the bundle verified: if events.jsonl changed in between,
    they no longer make the signed root, and nothing is computed from them."""
    from projections.fairness.recorded import bundle_leaves, rows_of_leaves

    bundle, key = _bundle(operator, tmp_path / "bundle")
    origin, signed, leaves = bundle_leaves(bundle, key)
    events = bundle / "events.jsonl"
    lines = events.read_bytes().splitlines()
    events.write_bytes(b"\n".join(lines[:-1]) + b"\n")  # the last event removed meanwhile
    with pytest.raises(BundleDoesNotVerify, match="changed after it was verified"):
        rows_of_leaves(leaves, operator.queries.policy, datetime.now(UTC), origin=origin)
    assert signed == len(lines)
