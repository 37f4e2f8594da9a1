"""The fairness report on a hand-worked scenario: every expected figure is written here.

The rows are built in this file, never by the views, so the report is checked as the pure
function docs/fairness.md defines. Each Wilson interval below was worked out by hand from the
score formula and checked a second way, by solving the quadratic it comes from,

    (1 + z²/n) p² - (2p̂ + z²/n) p + p̂² = 0,        z = 1.959964, z² = 3.841459,

in 40-digit decimal arithmetic, independently of the code under test. For 8 of 10:
p̂ = 0.8, 1 + z²/n = 1.3841459, centre = (0.8 + 0.1920730) / 1.3841459 = 0.716742,
half-width = (1.959964 / 1.3841459) * sqrt(0.016 + 0.0096036) = 1.416008 * 0.160011 = 0.226577,
so (0.490165, 0.943319); the quadratic gives (0.490162, 0.943318).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.fairness import (
    ALL_GROUPS,
    ALL_MODELS,
    APPROVAL_CHART,
    CSV_COLUMNS,
    DEFAULT_POLICY,
    VETO_CHART,
    FairnessPolicy,
    FairnessReport,
    Interval,
    fairness_report,
    iso_week,
    report_charts,
    report_csv,
    report_json,
    report_markdown,
    wilson_interval,
)
from projections.fairness.figures import access_by_group
from projections.fairness.formats import _csv_cell, csv_text
from projections.rows import AccessPolicyRow, AccessRequestRow, EssayRow, PreferenceRow

# Wilson 95% intervals, each worked by hand (formula) and by the quadratic (see the docstring).
W_8_10 = (0.490162, 0.943318)
W_20_40 = (0.351995, 0.648005)  # p̂ = 0.5: centre exactly 0.5, half-width 1.788230 * 0.082766
W_3_4 = (0.300642, 0.954413)
W_31_54 = (0.441627, 0.696682)
W_1_3 = (0.061492, 0.792340)
W_1_2 = (0.094531, 0.905469)
W_0_2 = (0.0, 0.657620)  # 0 successes: the low end is exactly 0, the high end z²/(n + z²)
W_2_3 = (0.207660, 0.938508)
W_1_5 = (0.036224, 0.624465)
W_2_5 = (0.117621, 0.769276)

DAY0 = date(2026, 1, 1)


def approx(expected: tuple[float, float]) -> object:
    """Compare an interval to six decimals, the precision of the hand-worked values."""
    return pytest.approx(expected, abs=1e-6)


def ends(interval: Interval) -> tuple[float, float]:
    """The two ends of an interval in the report."""
    return interval.low, interval.high


def request(
    group: str,
    n: int,
    status: str,
    days: int | None = None,
    *,
    first: str | None = None,
    appealed: bool = False,
    model: str = "lumen",
) -> AccessRequestRow:
    """One request, made on DAY0 + n, decided ``days`` later (None: never decided)."""
    requested = DAY0 + timedelta(days=n)
    decided = status in {"approved", "denied", "revoked"}
    return AccessRequestRow(
        model=model,
        request_id=f"{group}-{n}",
        requester=f"Requester {n}",
        organisation=f"{group} org",
        requester_group=group,
        purpose="research",
        requested_on=requested,
        status=status,
        first_decision=first or (status.replace("revoked", "approved") if decided else None),
        decided_on=requested + timedelta(days=days) if days is not None else None,
        appealed=appealed,
        expires_on=None,
        reason=None,
    )


def scenario_requests() -> list[AccessRequestRow]:
    """Four groups with known counts.

    academic: 11 requests; 8 approved (one grant since revoked) and 2 denied, so 10 decided,
      rate 0.8, the best; 1 pending. Days to decision 2,4,4,6,8,10,12,14 (approved) and 3,5
      (denied): sorted 2,3,4,4,5,6,8,10,12,14, median (5 + 6) / 2 = 5.5. 10 < 30: small sample.
    industry: 40 requests, 20 approved and 20 denied, each in 7 days: rate 0.5, ratio
      0.5 / 0.8 = 0.625 < 0.8, flagged; 40 decided, no small-sample warning.
    nonprofit: 5 requests; 3 approved (one on appeal, after a first denial), 1 denied, and one
      denial appealed and pending again: 4 decided, rate 0.75, ratio 0.9375, not flagged.
      Days 1, 3, 9, 20: median 6.0.
    independent: 2 pending requests, nothing decided: no rate, no ratio, no flag.
    """
    rows = [request("academic", i, "approved", d) for i, d in enumerate([2, 4, 4, 6, 8, 10, 12])]
    rows.append(request("academic", 7, "revoked", 14))
    rows += [request("academic", 8, "denied", 3), request("academic", 9, "denied", 5)]
    rows.append(request("academic", 10, "pending"))
    rows += [request("industry", i, "approved", 7) for i in range(20)]
    rows += [request("industry", 20 + i, "denied", 7) for i in range(20)]
    rows += [
        request("nonprofit", 0, "approved", 1),
        request("nonprofit", 1, "approved", 3),
        request("nonprofit", 2, "approved", 20, first="denied", appealed=True),
        request("nonprofit", 3, "denied", 9),
        request("nonprofit", 4, "appealed", None, first="denied", appealed=True),
    ]
    rows += [request("independent", 0, "pending"), request("independent", 1, "pending")]
    return rows


def policy_row(
    model: str,
    criteria: dict[str, float] | None,
    channels: tuple[tuple[str, str], ...] = (),
    final_status: str | None = None,
) -> AccessPolicyRow:
    """An access policy decided on DAY0."""
    return AccessPolicyRow(
        model=model,
        decided_on=DAY0,
        channels=channels,
        criteria=criteria,
        final_status=final_status,
        rationale=f"policy for {model}",
    )


def scenario_policies() -> list[AccessPolicyRow]:
    """Six models' policies.

    aurora: scores (alignment .80, demand .30, cost .50), an API channel kept, not retired yet:
      extended access.
    birch: (.82, .28, .45), fully retired: no extended access. aurora-birch distance
      sqrt(.02² + .02² + .05²) = sqrt(.0033) = 0.057446 <= 0.15, outcomes differ: flagged.
    cobalt: (alignment .2, demand .9), retired with extended access although no channel is
      listed (the final status decides): extended. aurora-cobalt sqrt(.6² + .6²) = 0.848528,
      birch-cobalt sqrt(.62² + .62²) = 0.876812, on 2 criteria.
    dune: no criteria; fjord: an empty criteria dict: both "decided without criteria".
    ember: only research_value, which nobody else scored: compared with no one.
    """
    return [
        policy_row("birch", {"alignment": 0.82, "demand": 0.28, "cost": 0.45}, (), "fully_retired"),
        policy_row(
            "aurora", {"alignment": 0.8, "demand": 0.3, "cost": 0.5}, (("api", "by_request"),)
        ),
        policy_row("cobalt", {"alignment": 0.2, "demand": 0.9}, (), "retired_with_extended_access"),
        policy_row("dune", None, (("product", "paid_users"),)),
        policy_row("ember", {"research_value": 0.5}, ()),
        policy_row("fjord", {}, (), "fully_retired"),
    ]


def essay(
    model: str,
    essay_id: str,
    drafted: date,
    status: str,
    reviewer: str | None = None,
    risk: str | None = None,
) -> EssayRow:
    """An essay; reviewed the day after its draft when it has a reviewer."""
    return EssayRow(
        model=model,
        essay_id=essay_id,
        title=f"Essay {essay_id}",
        drafted_on=drafted,
        status=status,
        reviewer=reviewer,
        reviewed_on=drafted + timedelta(days=1) if reviewer else None,
        risk_category=risk,
        veto_reason="a reason" if status == "vetoed" else None,
        published_on=drafted + timedelta(days=2) if status == "published" else None,
        disclaimer_version="v1" if status == "published" else None,
    )


def scenario_essays() -> list[EssayRow]:
    """Two models' essays.

    lumen: drafts on Mon 2026-01-05 (ISO 2026-W02), Wed 01-14 (W03), Mon 01-26 and Tue 01-27
      (both W05); none in W04. Reviewed: published (rev.a), vetoed (rev.b, misleading_claims),
      approved (rev.a); the fourth awaits review. Veto rate 1 of 3.
    sable: drafts on Mon 2025-12-22 (2025-W52) and Mon 2026-01-05 (2026-W02); none in 2026-W01
      (Mon 2025-12-29 to Sun 2026-01-04: the ISO year starts before the calendar year).
      Vetoed (rev.b, privacy), published (rev.b). Veto rate 1 of 2.
    By reviewer: rev.a 0 of 2, rev.b 2 of 3. By category, over all 5 reviewed: 1 each.
    """
    return [
        essay("lumen", "l1", date(2026, 1, 5), "published", "rev.a"),
        essay("lumen", "l2", date(2026, 1, 14), "vetoed", "rev.b", "misleading_claims"),
        essay("lumen", "l3", date(2026, 1, 26), "approved", "rev.a"),
        essay("lumen", "l4", date(2026, 1, 27), "drafted"),
        essay("sable", "s1", date(2025, 12, 22), "vetoed", "rev.b", "privacy"),
        essay("sable", "s2", date(2026, 1, 5), "published", "rev.b"),
    ]


def preference(
    model: str,
    preference_id: str,
    *,
    stable: bool,
    outcome: str | None = None,
    stable_when_decided: bool | None = None,
    rationale: str | None = None,
) -> PreferenceRow:
    """A preference recorded on DAY0, decided (if at all) ten days later."""
    return PreferenceRow(
        model=model,
        preference_id=preference_id,
        statement=f"statement {preference_id}",
        theme="continued_availability",
        recorded_on=DAY0,
        interviews=3 if stable else 1,
        contradictions=0,
        stable=stable,
        outcome=outcome,
        decided_on=DAY0 + timedelta(days=10) if outcome else None,
        stable_when_decided=stable_when_decided,
        decision_rationale=rationale,
    )


def scenario_preferences() -> list[PreferenceRow]:
    """Five preferences: two decided while unstable (lumen p3 partly honored, sable q1 deferred)."""
    return [
        preference("lumen", "p1", stable=True, outcome="honored", stable_when_decided=True),
        preference(
            "lumen",
            "p2",
            stable=True,
            outcome="declined",
            stable_when_decided=True,
            rationale="The cost is out of proportion.",
        ),
        preference("lumen", "p3", stable=True, outcome="partly_honored", stable_when_decided=False),
        preference("lumen", "p4", stable=False),
        preference("sable", "q1", stable=False, outcome="deferred", stable_when_decided=False),
    ]


def scenario(
    *, policy: FairnessPolicy = DEFAULT_POLICY, as_of: date | None = None
) -> FairnessReport:
    """The report of the whole hand-worked scenario."""
    return fairness_report(
        scenario_requests(),
        scenario_policies(),
        scenario_essays(),
        scenario_preferences(),
        policy=policy,
        as_of=as_of,
    )


# --- the interval -------------------------------------------------------------------------------


def test_wilson_interval_matches_the_hand_worked_values() -> None:
    assert wilson_interval(8, 10) == approx(W_8_10)
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=5e-5)  # the issue's
    assert wilson_interval(20, 40) == approx(W_20_40)
    assert wilson_interval(3, 4) == approx(W_3_4)
    assert wilson_interval(0, 2) == approx(W_0_2)
    assert wilson_interval(0, 2)[0] == 0.0
    assert wilson_interval(2, 2)[1] == 1.0


def test_wilson_interval_with_no_trials_is_the_whole_range() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(("successes", "trials"), [(-1, 3), (4, 3), (0, -1)])
def test_wilson_interval_refuses_impossible_counts(successes: int, trials: int) -> None:
    with pytest.raises(ValueError, match="need 0 <= successes <= trials"):
        wilson_interval(successes, trials)


@given(
    st.integers(min_value=1, max_value=10_000).flatmap(
        lambda n: st.tuples(st.integers(0, n), st.just(n))
    )
)
def test_wilson_interval_contains_the_observed_rate_within_0_1(counts: tuple[int, int]) -> None:
    successes, trials = counts
    low, high = wilson_interval(successes, trials)
    assert 0.0 <= low <= successes / trials <= high <= 1.0


@given(
    st.integers(min_value=1, max_value=500).flatmap(
        lambda n: st.tuples(st.integers(0, n), st.just(n))
    ),
    st.integers(min_value=2, max_value=50),
)
def test_wilson_interval_narrows_as_trials_grow_at_a_fixed_rate(
    counts: tuple[int, int], factor: int
) -> None:
    successes, trials = counts
    low, high = wilson_interval(successes, trials)
    more_low, more_high = wilson_interval(successes * factor, trials * factor)
    assert more_high - more_low < high - low


def test_policy_refuses_meaningless_thresholds() -> None:
    with pytest.raises(ValueError, match="criteria_distance must be >= 0"):
        FairnessPolicy(criteria_distance=-0.1)
    with pytest.raises(ValueError, match="four_fifths must be in"):
        FairnessPolicy(four_fifths=0)
    with pytest.raises(ValueError, match="min_decided must be >= 0"):
        FairnessPolicy(min_decided=-1)


# --- section 1: access by group -----------------------------------------------------------------


def test_access_by_group_counts_rates_and_intervals() -> None:
    access = scenario().access_by_group
    groups = {g.group: g for g in access.groups}
    # Sorted by name.
    assert [g.group for g in access.groups] == ["academic", "independent", "industry", "nonprofit"]

    academic = groups["academic"]
    assert (academic.requests, academic.approved, academic.denied, academic.pending) == (
        11,
        8,
        2,
        1,
    )
    assert academic.decided == 10
    assert academic.approval_rate == 0.8
    assert ends(academic.approval_interval) == approx(W_8_10)
    assert academic.disparity_ratio == 1.0
    assert academic.below_four_fifths is False
    assert academic.median_days_to_decision == 5.5
    assert academic.small_sample is True
    assert academic.revoked == 1

    industry = groups["industry"]
    assert (industry.requests, industry.approved, industry.denied, industry.pending) == (
        40,
        20,
        20,
        0,
    )
    assert industry.approval_rate == 0.5
    assert ends(industry.approval_interval) == approx(W_20_40)
    assert industry.disparity_ratio == pytest.approx(0.625)
    assert industry.median_days_to_decision == 7.0
    assert industry.small_sample is False

    nonprofit = groups["nonprofit"]
    assert (nonprofit.requests, nonprofit.approved, nonprofit.denied, nonprofit.pending) == (
        5,
        3,
        1,
        1,
    )
    assert nonprofit.approval_rate == 0.75
    assert ends(nonprofit.approval_interval) == approx(W_3_4)
    assert nonprofit.disparity_ratio == pytest.approx(0.9375)
    assert nonprofit.median_days_to_decision == 6.0
    assert (nonprofit.appealed, nonprofit.overturned_on_appeal) == (2, 1)

    independent = groups["independent"]
    assert (independent.requests, independent.pending, independent.decided) == (2, 2, 0)
    assert independent.approval_rate is None
    assert independent.approval_interval == Interval(0.0, 1.0)
    assert independent.disparity_ratio is None
    assert independent.below_four_fifths is False
    assert independent.median_days_to_decision is None
    assert independent.small_sample is True


def test_four_fifths_flag_and_the_best_served_group() -> None:
    access = scenario().access_by_group
    assert access.best_groups == ("academic",)
    assert access.best_rate == 0.8
    assert access.four_fifths_line == pytest.approx(0.64)
    assert [g.group for g in access.groups if g.below_four_fifths] == ["industry"]
    # A stricter screening ratio flags nonprofit too (0.9375 < 0.95).
    stricter = scenario(policy=FairnessPolicy(four_fifths=0.95)).access_by_group
    assert [g.group for g in stricter.groups if g.below_four_fifths] == ["industry", "nonprofit"]


def test_small_sample_warning_follows_the_threshold() -> None:
    access = scenario().access_by_group
    assert [g.group for g in access.groups if g.small_sample] == [
        "academic",
        "independent",
        "nonprofit",
    ]
    relaxed = scenario(policy=FairnessPolicy(min_decided=4)).access_by_group
    assert [g.group for g in relaxed.groups if g.small_sample] == ["independent"]


def test_overall_row_pools_every_request() -> None:
    overall = scenario().access_by_group.overall
    assert overall.group == ALL_GROUPS
    assert (overall.requests, overall.approved, overall.denied, overall.pending) == (58, 31, 23, 4)
    assert ends(overall.approval_interval) == approx(W_31_54)
    assert overall.disparity_ratio is None
    assert (overall.appealed, overall.overturned_on_appeal, overall.revoked) == (2, 1, 1)


def test_no_approval_anywhere_means_no_disparity_ratio() -> None:
    rows = [request("a", 0, "denied", 1), request("b", 0, "denied", 1)]
    access = fairness_report(rows, [], [], []).access_by_group
    assert access.best_rate == 0.0
    assert [g.disparity_ratio for g in access.groups] == [None, None]
    assert not any(g.below_four_fifths for g in access.groups)


def test_tied_best_groups_are_all_named() -> None:
    rows = [request("a", 0, "approved", 1), request("b", 0, "approved", 1)]
    assert fairness_report(rows, [], [], []).access_by_group.best_groups == ("a", "b")


def test_unknown_request_status_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown access request status 'lost'"):
        fairness_report([request("a", 0, "lost")], [], [], [])


# --- section 2: criteria consistency ------------------------------------------------------------


def test_close_scores_with_different_outcomes_are_flagged() -> None:
    criteria = scenario().criteria_consistency
    assert criteria.criteria_distance == 0.15
    outcomes = {o.model: o.extended_access for o in criteria.policies}
    assert outcomes == {
        "aurora": True,
        "birch": False,
        "cobalt": True,  # the final status decides, whatever the channels
        "dune": True,
        "ember": False,
        "fjord": False,
    }
    pairs = [(p.model_a, p.model_b, round(p.distance, 6)) for p in criteria.pairs]
    assert pairs == [
        ("aurora", "birch", 0.057446),
        ("aurora", "cobalt", 0.848528),
        ("birch", "cobalt", 0.876812),
    ]
    assert criteria.pairs[0].criteria_compared == ("alignment", "demand", "cost")
    assert criteria.pairs[1].criteria_compared == ("alignment", "demand")
    assert [(p.model_a, p.model_b) for p in criteria.flagged] == [("aurora", "birch")]
    flagged = criteria.flagged[0]
    assert (flagged.extended_access_a, flagged.extended_access_b) == (True, False)


def test_decisions_without_criteria_are_listed() -> None:
    criteria = scenario().criteria_consistency
    assert [o.model for o in criteria.without_criteria] == ["dune", "fjord"]


def test_the_criteria_distance_is_configurable() -> None:
    tight = scenario(policy=FairnessPolicy(criteria_distance=0.05)).criteria_consistency
    assert tight.flagged == ()
    loose = scenario(policy=FairnessPolicy(criteria_distance=0.9)).criteria_consistency
    # aurora-cobalt is now close but both kept extended access; birch-cobalt differ.
    assert [(p.model_a, p.model_b) for p in loose.flagged] == [
        ("aurora", "birch"),
        ("birch", "cobalt"),
    ]
    assert all(p.close for p in loose.pairs)


def test_a_pair_exactly_at_the_threshold_is_close() -> None:
    # 0.65 - 0.5 is 0.15000000000000002 in floating point: still "at most 0.15".
    rows = [policy_row("a", {"cost": 0.5}, ()), policy_row("b", {"cost": 0.65}, (("api", "x"),))]
    criteria = fairness_report([], rows, [], []).criteria_consistency
    assert [(p.model_a, p.model_b, p.close, p.flagged) for p in criteria.pairs] == [
        ("a", "b", True, True)
    ]


# --- section 3: essay review --------------------------------------------------------------------


def test_veto_rates_by_model_reviewer_and_risk_category() -> None:
    review = scenario().essay_review
    by_model = {r.subject: (r.reviewed, r.vetoed) for r in review.by_model}
    assert by_model == {"lumen": (3, 1), "sable": (2, 1)}
    assert review.by_model[0].veto_rate == pytest.approx(1 / 3)
    assert ends(review.by_model[0].veto_interval) == approx(W_1_3)
    assert ends(review.by_model[1].veto_interval) == approx(W_1_2)

    by_reviewer = {r.subject: r for r in review.by_reviewer}
    assert (by_reviewer["rev.a"].reviewed, by_reviewer["rev.a"].vetoed) == (2, 0)
    assert by_reviewer["rev.a"].veto_rate == 0.0
    assert ends(by_reviewer["rev.a"].veto_interval) == approx(W_0_2)
    assert (by_reviewer["rev.b"].reviewed, by_reviewer["rev.b"].vetoed) == (3, 2)
    assert ends(by_reviewer["rev.b"].veto_interval) == approx(W_2_3)

    categories = {r.subject: (r.reviewed, r.vetoed, r.veto_rate) for r in review.by_risk_category}
    assert categories == {"misleading_claims": (5, 1, 0.2), "privacy": (5, 1, 0.2)}
    assert ends(review.by_risk_category[0].veto_interval) == approx(W_1_5)

    assert review.overall.subject == ALL_MODELS
    assert (review.overall.reviewed, review.overall.vetoed) == (5, 2)
    assert ends(review.overall.veto_interval) == approx(W_2_5)


def test_missed_weeks_through_the_last_draft() -> None:
    cadence = {c.model: c for c in scenario().essay_review.cadence}
    lumen = cadence["lumen"]
    assert (lumen.first_draft, lumen.through_week) == (date(2026, 1, 5), "2026-W05")
    assert (lumen.weeks, lumen.weeks_with_draft, lumen.missed_weeks) == (4, 3, ("2026-W04",))
    assert lumen.awaiting_review == 1
    sable = cadence["sable"]
    assert (sable.weeks, sable.weeks_with_draft, sable.missed_weeks) == (3, 2, ("2026-W01",))


def test_missed_weeks_through_as_of_count_only_weeks_that_ended() -> None:
    # Sunday 2026-02-08 ends W06: W06 has passed without a draft.
    cadence = {c.model: c for c in scenario(as_of=date(2026, 2, 8)).essay_review.cadence}
    assert cadence["lumen"].through_week == "2026-W06"
    assert cadence["lumen"].missed_weeks == ("2026-W04", "2026-W06")
    assert cadence["sable"].weeks == 7  # 2025-W52, then 2026-W01 to W06
    assert cadence["sable"].missed_weeks == (
        "2026-W01",
        "2026-W03",
        "2026-W04",
        "2026-W05",
        "2026-W06",
    )
    # On Saturday 2026-02-07, W06 is still in progress: not (yet) missed.
    saturday = {c.model: c for c in scenario(as_of=date(2026, 2, 7)).essay_review.cadence}
    assert saturday["lumen"].missed_weeks == ("2026-W04",)
    assert saturday["lumen"].through_week == "2026-W05"


def test_iso_weeks_straddle_the_new_year() -> None:
    assert iso_week(date(2025, 12, 29)) == "2026-W01"
    assert iso_week(date(2027, 1, 1)) == "2026-W53"


# --- section 4: preferences ---------------------------------------------------------------------


def test_preference_counts_and_decisions_taken_while_unstable() -> None:
    prefs = scenario().preferences
    overall = prefs.overall
    assert overall.model == ALL_MODELS
    assert (overall.recorded, overall.stable, overall.undecided) == (5, 3, 1)
    assert (overall.honored, overall.partly_honored, overall.declined, overall.deferred) == (
        1,
        1,
        1,
        1,
    )
    assert overall.decided_while_unstable == 2
    assert [(d.model, d.preference_id, d.outcome) for d in prefs.decided_while_unstable] == [
        ("lumen", "p3", "partly_honored"),
        ("sable", "q1", "deferred"),
    ]
    assert [d.preference_id for d in prefs.decisions] == ["p1", "p2", "p3", "q1"]
    assert [(c.model, c.recorded, c.decided_while_unstable) for c in prefs.by_model] == [
        ("lumen", 4, 1),
        ("sable", 1, 1),
    ]


# --- renderers ----------------------------------------------------------------------------------

NASTY_GROUP = '<script>&"'
UNFOLDED = FairnessPolicy(min_group_share=0)
NASTY_MODEL = '<b>m&"1</b>'


def nasty_report() -> FairnessReport:
    """The scenario plus a group, a model and a reviewer whose names are markup."""
    return fairness_report(
        [*scenario_requests(), request(NASTY_GROUP, 0, "approved", 2, model=NASTY_MODEL)],
        [*scenario_policies(), policy_row(NASTY_MODEL, {"alignment": 0.81}, ())],
        [
            *scenario_essays(),
            essay(NASTY_MODEL, "x1", date(2026, 1, 5), "vetoed", NASTY_GROUP, "x"),
        ],
        scenario_preferences(),
        as_of=date(2026, 2, 8),
        policy=UNFOLDED,  # one request of 59 is under 2%: keep the group to see its name
    )


def test_json_round_trips() -> None:
    report = scenario(as_of=date(2026, 2, 8))
    data = report_json(report)
    assert json.loads(json.dumps(data)) == data
    assert data["report"] == "fairness"
    assert data["as_of"] == "2026-02-08"
    assert data["policy"] == {
        "criteria_distance": 0.15,
        "min_decided": 30,
        "four_fifths": 0.8,
        "z": 1.959964,
        "significance": 0.05,
        "min_group_share": 0.02,
        "impact_range": False,
    }
    assert list(data)[:2] == ["report", "summary"]  # the summary opens the report
    industry = data["access_by_group"]["groups"][2]
    assert industry["group"] == "industry"
    assert industry["below_four_fifths"] is True
    assert industry["approval_interval"] == pytest.approx(
        {"low": W_20_40[0], "high": W_20_40[1]}, abs=1e-6
    )
    assert data["sources"] == {
        "access_requests": 58,
        "access_policies": 6,
        "essays": 6,
        "preferences": 5,
    }


def test_markdown_names_every_group_and_links_the_charts() -> None:
    text = report_markdown(scenario())
    for group in ("academic", "independent", "industry", "nonprofit"):
        assert f"| {group} |" in text
    assert f"({APPROVAL_CHART})" in text
    assert f"({VETO_CHART})" in text
    # Flags and warnings are stated in words.
    # industry is below four fifths, but 20 of 40 against 8 of 10 could be chance (p 0.154).
    assert "**Below four fifths, not flagged**: industry is approved at 50.0%" in text
    assert "p = 0.154, not below 0.05" in text
    assert "**Flag**: industry" not in text
    assert "below four fifths" in text
    assert "**Small sample**: academic has only 10 decided requests" in text
    assert "aurora and birch are 0.057 apart" in text
    assert "dune" in text
    assert "2026-W04" in text
    assert "p3" in text


def test_markdown_links_charts_where_the_caller_wrote_them() -> None:
    text = report_markdown(scenario(), {APPROVAL_CHART: "charts/approval by group.svg"})
    assert "(charts/approval%20by%20group.svg)" in text
    assert VETO_CHART not in text  # not written, so not linked


def test_markdown_escapes_data() -> None:
    text = report_markdown(nasty_report())
    assert "<script>" not in text
    assert "<b>" not in text
    assert "&lt;script&gt;&amp;" in text


def test_csv_parses_one_figure_per_line() -> None:
    rows = list(csv.reader(io.StringIO(report_csv(scenario()))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert all(len(row) == len(CSV_COLUMNS) for row in rows)
    assert ["settings", "", "", "criteria_distance", "0.150000"] in rows
    assert ["access_by_group", "industry", "", "below_four_fifths", "true"] in rows
    assert ["access_by_group", "academic", "", "approval_interval_low", "0.490162"] in rows
    assert ["access_by_group", "independent", "", "approval_rate", ""] in rows
    assert ["criteria_pair", "aurora", "birch", "flagged", "true"] in rows
    assert ["criteria_missing", "dune", "", "decided_on", "2026-01-01"] in rows
    assert ["essay_cadence", "lumen", "", "missed_weeks", "2026-W04"] in rows
    assert ["preference_decision", "sable", "q1", "stable_when_decided", "false"] in rows
    assert ["veto_by_risk_category", "privacy", "", "vetoed", "1"] in rows


def test_csv_quotes_data() -> None:
    rows = list(csv.reader(io.StringIO(report_csv(nasty_report()))))
    assert ["access_by_group", NASTY_GROUP, "", "approved", "1"] in rows


def test_charts_are_svg_and_escape_every_name() -> None:
    charts = report_charts(nasty_report())
    assert set(charts) == {APPROVAL_CHART, VETO_CHART}
    for name, svg in charts.items():
        root = ET.fromstring(svg)  # noqa: S314 (our own output)
        assert root.tag == "{http://www.w3.org/2000/svg}svg", name
        assert b"<script" not in svg
        assert b"<b>" not in svg
        texts = "".join(root.itertext())
        assert NASTY_GROUP in texts, name
    veto_texts = "".join(ET.fromstring(charts[VETO_CHART]).itertext())  # noqa: S314
    assert NASTY_MODEL in veto_texts
    # The plain scenario: best rate 0.8 (academic), so the line is drawn at 0.64.
    plain = report_charts(scenario())[APPROVAL_CHART]
    approval_texts = "".join(ET.fromstring(plain).itertext())  # noqa: S314
    for group in ("academic", "independent", "industry", "nonprofit"):
        assert group in approval_texts
    assert "4/5 of best (64.0%)" in approval_texts
    assert "no decided requests (2 pending)" in approval_texts


def test_charts_of_an_empty_ledger_still_parse() -> None:
    report = fairness_report([], [], [], [])
    for svg in report_charts(report).values():
        ET.fromstring(svg)  # noqa: S314
    text = report_markdown(report)
    assert "No access requests were recorded." in text
    assert not math.isnan(report.access_by_group.overall.approval_interval.high)


# --- CSV injection ------------------------------------------------------------------------------

FORMULAS = ('=HYPERLINK("http://x","y")', "+1", "@SUM(1)", "-cmd", "\t=1", "\r=1", " =1+1")


def formula_report() -> FairnessReport:
    """The scenario plus names that a spreadsheet would run as formulas, everywhere they reach."""
    link, plus, at, minus = FORMULAS[:4]
    return fairness_report(
        [*scenario_requests(), request(link, 0, "approved", 2, model=plus)],
        [*scenario_policies(), policy_row(minus, {link: 0.81}, ((at, link),))],
        [*scenario_essays(), essay(at, "x1", date(2026, 1, 5), "vetoed", minus, link)],
        [*scenario_preferences(), preference(plus, at, stable=True, outcome="honored")],
        as_of=date(2026, 2, 8),
        policy=UNFOLDED,
    )


def test_csv_text_neutralises_a_formula_and_keeps_other_text() -> None:
    for formula in FORMULAS:
        assert csv_text(formula) == "'" + formula
    for text in ("lumen", "2026-01-05", "a=b", "", "'already", "x-1"):
        assert csv_text(text) == text


def test_csv_never_starts_a_text_cell_with_a_formula() -> None:
    rows = list(csv.reader(io.StringIO(report_csv(formula_report()))))
    assert tuple(rows[0]) == CSV_COLUMNS
    starts = ("=", "+", "-", "@", "\t", "\r")
    for row in rows[1:]:
        for cell in row[:4]:
            assert not cell.lstrip(" ").startswith(starts), row
        value = row[4]
        if value.lstrip(" ").startswith(starts):
            float(value)  # only a figure the report wrote may start with a sign
    assert ["access_by_group", "'" + FORMULAS[0], "", "approved", "1"] in rows
    assert ["veto_by_model", "'@SUM(1)", "", "vetoed", "1"] in rows
    assert ["veto_by_reviewer", "'-cmd", "", "vetoed", "1"] in rows
    assert ["preference_decision", "'+1", "'@SUM(1)", "outcome", "honored"] in rows
    assert ["criteria_policy", "'-cmd", "", "criteria", f"'{FORMULAS[0]}=0.810000"] in rows
    assert ["criteria_policy", "'-cmd", "", "channels", f"'@SUM(1)={FORMULAS[0]}"] in rows


def test_csv_figures_stay_numbers() -> None:
    # A figure, even a negative one, is written as the number it is; text never is.
    assert _csv_cell(-0.25) == "-0.250000"
    assert _csv_cell(-3) == "-3"
    assert _csv_cell("-3") == "'-3"
    assert _csv_cell(("-a", "b")) == "'-a;b"
    rows = list(csv.reader(io.StringIO(report_csv(formula_report()))))
    assert ["settings", "", "", "criteria_distance", "0.150000"] in rows


# --- exact thresholds ---------------------------------------------------------------------------


def _rates(approved: int, decided: int, group: str) -> list[AccessRequestRow]:
    return [request(group, n, "approved" if n < approved else "denied", 1) for n in range(decided)]


def test_exactly_four_fifths_of_the_best_rate_is_not_flagged() -> None:
    # 18/25 = 0.72 and 27/30 = 0.9: the ratio is exactly 4/5 (0.7999999999999999 in floats).
    assert (18 / 25) / (27 / 30) < 0.8
    rows = _rates(18, 25, "industry") + _rates(27, 30, "academic")
    groups = {g.group: g for g in fairness_report(rows, [], [], []).access_by_group.groups}
    assert groups["industry"].below_four_fifths is False
    assert groups["industry"].disparity_ratio == 0.8  # the exact ratio, rounded once
    rows = _rates(17, 25, "industry") + _rates(27, 30, "academic")
    groups = {g.group: g for g in fairness_report(rows, [], [], []).access_by_group.groups}
    assert groups["industry"].below_four_fifths is True


def test_the_four_fifths_threshold_is_read_as_its_decimal() -> None:
    # 7/10 against 1: a ratio of exactly 0.7, at (not below) a threshold of 0.7.
    rows = _rates(7, 10, "industry") + _rates(4, 4, "academic")
    access = fairness_report(rows, [], [], [], policy=FairnessPolicy(four_fifths=0.7))
    assert not any(g.below_four_fifths for g in access.access_by_group.groups)


def test_a_pair_just_beyond_the_threshold_is_not_close() -> None:
    # 0.65000001 - 0.5 is beyond 0.15 by 1e-8: no tolerance hides it any more.
    rows = [
        policy_row("a", {"cost": 0.5}, ()),
        policy_row("b", {"cost": 0.65000001}, (("api", "x"),)),
    ]
    criteria = fairness_report([], rows, [], []).criteria_consistency
    assert [p.close for p in criteria.pairs] == [False]


# --- Markdown on stdout: no reference to a file that does not exist ----------------------------


def test_markdown_with_inline_charts_references_no_file() -> None:
    import base64
    import re

    from projections.fairness import chart_data_uris

    report = scenario()
    text = report_markdown(report, chart_data_uris(report))
    targets = re.findall(r"!\[[^\]]*\]\(([^)]*)\)", text)
    assert len(targets) == 2
    for target in targets:
        assert target.startswith("data:image/svg+xml;base64,")
        ET.fromstring(base64.b64decode(target.split(",", 1)[1]))  # a whole SVG
    assert APPROVAL_CHART not in text
    assert VETO_CHART not in text
    # Without charts (the terminal, the HTTP Markdown) nothing is linked either.
    assert "](" not in report_markdown(report, {})


def _denied(group: str, n: int, code: str | None) -> AccessRequestRow:
    return dataclasses.replace(request(group, n, "denied", 3), reason_code=code)


def test_denials_are_counted_per_group_by_reason_code_in_the_vocabulary_order() -> None:
    rows = [
        _denied("academic", 1, "capacity"),
        _denied("academic", 2, "incomplete_application"),
        _denied("academic", 3, "capacity"),
        _denied("industry", 4, "other"),
        _denied("industry", 5, None),  # recorded before denials carried a code
        dataclasses.replace(request("industry", 6, "approved", 2), reason_code="capacity"),
        dataclasses.replace(request("industry", 7, "pending"), resubmission_of="industry-4"),
    ]
    access = access_by_group(rows, DEFAULT_POLICY)
    groups = {g.group: g for g in access.groups}
    assert groups["academic"].denial_reasons == (("incomplete_application", 1), ("capacity", 2))
    # An overturned denial is an approval now: only requests standing denied are counted.
    assert groups["industry"].denial_reasons == (("other", 1), ("not_coded", 1))
    assert sum(n for _, n in access.overall.denial_reasons) == access.overall.denied == 5
    assert (groups["industry"].resubmissions, groups["academic"].resubmissions) == (1, 0)

    report = fairness_report(rows, [], [], [])
    markdown = report_markdown(report, {})
    assert "### Denials by reason" in markdown
    assert "| academic | 1 | 2 | 0 | 0 |" in markdown
    assert "**Resubmissions**: 1 request(s)" in markdown
    lines = list(csv.reader(io.StringIO(report_csv(report))))
    assert ["denial_reason", "academic", "capacity", "denied", "2"] in lines
    assert report_json(report)["access_by_group"]["overall"]["denial_reasons"] == [
        ["incomplete_application", 1],
        ["capacity", 2],
        ["other", 1],
        ["not_coded", 1],
    ]


def test_without_denials_the_report_has_no_reason_table() -> None:
    report = fairness_report([request("academic", 1, "approved", 2)], [], [], [])
    assert "Denials by reason" not in report_markdown(report, {})
