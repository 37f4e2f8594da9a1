"""The fairness report's small-sample statistics, the board's summary and the printable page.

Every p-value below is checked against `hypergeometric_p`, Fisher's two-sided test written out
here in exact fractions, independently of SciPy: with both groups' sizes and the total approved
fixed, the probability of a group approving k is C(K, k) C(N - K, n - k) / C(N, n), and the
two-sided p-value sums the probabilities of every split no more likely than the one observed.
One table worked by hand: 1 of 4 approved against 4 of 4, so N = 8, K = 5, n = 4;
P(k) = C(5, k) C(3, 4 - k) / 70 gives 5/70, 30/70, 30/70, 5/70 for k = 1..4, and the splits no
more likely than k = 1 are k = 1 and k = 4: p = 10/70 = 1/7.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from fractions import Fraction
from math import comb

import pytest

from projections.fairness import (
    DEFAULT_POLICY,
    OTHER_GROUP,
    FairnessPolicy,
    LedgerPosition,
    fairness_report,
    fisher_exact_p,
    report_csv,
    report_html,
    report_json,
    report_markdown,
)
from projections.fairness.figures import FairnessReport, GroupAccess, access_by_group
from projections.fairness.summary import EXCLUSION_TEXT, FLAG_TEXT
from projections.rows import AccessRequestRow
from tests.unit.test_fairness import (
    request,
    scenario_essays,
    scenario_policies,
    scenario_preferences,
    scenario_requests,
)


def hypergeometric_p(a_approved: int, a_denied: int, b_approved: int, b_denied: int) -> Fraction:
    """Fisher's two-sided p-value in exact arithmetic (see the module's docstring)."""
    n = a_approved + a_denied  # group a's size
    approved = a_approved + b_approved  # K
    total = n + b_approved + b_denied  # N

    def probability(k: int) -> Fraction:
        return Fraction(comb(approved, k) * comb(total - approved, n - k), comb(total, n))

    observed = probability(a_approved)
    low, high = max(0, n - (total - approved)), min(n, approved)
    return sum(
        (probability(k) for k in range(low, high + 1) if probability(k) <= observed), Fraction(0)
    )


def counts(group: str, approved: int, denied: int, start: int = 0) -> list[AccessRequestRow]:
    """``approved`` approved and ``denied`` denied requests of ``group``, each decided in 2 days."""
    statuses = ["approved"] * approved + ["denied"] * denied
    return [request(group, start + i, status, 2) for i, status in enumerate(statuses)]


def groups_of(
    rows: list[AccessRequestRow], policy: FairnessPolicy = DEFAULT_POLICY
) -> dict[str, GroupAccess]:
    """The groups of the access section, by name."""
    return {g.group: g for g in access_by_group(rows, policy).groups}


UNFOLDED = FairnessPolicy(min_group_share=0)


# --- Fisher's exact test ------------------------------------------------------------------------


def test_the_hand_worked_table_gives_one_seventh() -> None:
    assert hypergeometric_p(1, 3, 4, 0) == Fraction(1, 7)
    assert fisher_exact_p(1, 3, 4, 0) == pytest.approx(1 / 7, rel=1e-12)


@pytest.mark.parametrize(
    "table",
    [
        (20, 20, 8, 2),
        (1, 3, 4, 0),
        (2, 18, 18, 2),
        (0, 5, 5, 0),
        (3, 1, 3, 1),
        (850, 150, 900, 100),
    ],
)
def test_fisher_p_matches_the_hypergeometric_sum(table: tuple[int, int, int, int]) -> None:
    assert fisher_exact_p(*table) == pytest.approx(float(hypergeometric_p(*table)), rel=1e-9)


def test_fisher_refuses_negative_counts() -> None:
    with pytest.raises(ValueError, match="counts >= 0"):
        fisher_exact_p(-1, 2, 3, 4)


def test_below_four_fifths_with_few_decisions_is_not_flagged() -> None:
    # 1 of 4 against 4 of 4: a ratio of 0.25, far below four fifths, yet p = 1/7.
    groups = groups_of(counts("small", 1, 3) + counts("best", 4, 0))
    small = groups["small"]
    assert small.below_four_fifths is True
    assert small.fisher_p == pytest.approx(1 / 7)
    assert small.chance_plausible is True
    assert small.flagged is False
    assert groups["best"].fisher_p is None  # the reference is not tested against itself
    # At a looser level (0.15 > 1/7), the same counts are flagged.
    loose = groups_of(
        counts("small", 1, 3) + counts("best", 4, 0), FairnessPolicy(significance=0.15)
    )
    assert loose["small"].flagged is True


def test_below_four_fifths_and_not_chance_is_flagged() -> None:
    groups = groups_of(counts("few", 2, 18) + counts("many", 18, 2))
    few = groups["few"]
    assert few.disparity_ratio == pytest.approx(2 / 18)
    assert few.fisher_p == pytest.approx(float(hypergeometric_p(2, 18, 18, 2)))
    assert few.fisher_p is not None and few.fisher_p < 0.001
    assert (few.below_four_fifths, few.chance_plausible, few.flagged) == (True, False, True)


def test_not_chance_above_four_fifths_is_not_flagged() -> None:
    # 850 of 1000 against 900 of 1000: a ratio of 0.944, but a difference too large for chance.
    groups = groups_of(counts("a", 850, 150) + counts("b", 900, 100, start=1000))
    a = groups["a"]
    assert a.below_four_fifths is False
    assert a.chance_plausible is False
    assert a.flagged is False


def test_the_reference_is_the_best_served_group_with_the_most_decisions() -> None:
    rows = counts("two", 2, 0) + counts("five", 5, 0) + counts("low", 1, 4)
    access = access_by_group(rows, UNFOLDED)
    assert access.best_groups == ("five", "two")
    assert access.fisher_reference == "five"
    groups = {g.group: g for g in access.groups}
    assert groups["low"].fisher_p == pytest.approx(float(hypergeometric_p(1, 4, 5, 0)))
    assert groups["two"].fisher_p == pytest.approx(1.0)  # the same rate: nothing to explain


def test_a_group_with_nothing_decided_is_not_tested() -> None:
    rows = counts("a", 3, 1) + [request("b", 0, "pending")]
    b = groups_of(rows, UNFOLDED)["b"]
    assert (b.fisher_p, b.chance_plausible, b.flagged) == (None, None, False)


# --- appeals, overturns, revocations ------------------------------------------------------------


def test_appeal_overturn_and_revocation_rates_have_their_denominators() -> None:
    groups = groups_of(scenario_requests())
    nonprofit = groups["nonprofit"]
    # Three first denied (one overturned on appeal, one standing, one appealed and pending);
    # two appealed, one of them decided again, and approved.
    assert (nonprofit.first_denied, nonprofit.appealed, nonprofit.appeal_rate) == (3, 2, 2 / 3)
    assert (nonprofit.appeals_decided, nonprofit.overturn_rate) == (1, 1.0)
    academic = groups["academic"]
    assert academic.revocation_rate == 1 / 8  # one grant revoked of eight approved
    assert academic.overturn_rate is None  # no appeal decided: no rate
    assert groups["independent"].revocation_rate is None  # nothing approved


# --- folding small groups -----------------------------------------------------------------------


def test_groups_under_the_minimum_share_are_folded_into_other() -> None:
    # 100 requests: "tiny" has 1 (1%) and "small" 1 (1%), folded; "edge" 2 (2%) is not below.
    rows = (
        counts("big", 60, 36)
        + counts("edge", 1, 1, 100)
        + [
            request("tiny", 0, "approved", 1),
            request("small", 0, "denied", 1),
        ]
    )
    access = access_by_group(rows, FairnessPolicy())
    assert access.folded == (("small", 1), ("tiny", 1))
    assert access.folded_requests == 2
    groups = {g.group: g for g in access.groups}
    assert set(groups) == {"big", "edge", OTHER_GROUP}
    other = groups[OTHER_GROUP]
    assert (other.requests, other.approved, other.denied) == (2, 1, 1)  # computed like any other
    assert sum(g.requests for g in access.groups) == access.overall.requests == 100
    # 0 folds nothing.
    assert access_by_group(rows, UNFOLDED).folded == ()


def test_a_declared_other_group_takes_the_folded_requests() -> None:
    rows = counts("big", 90, 5) + counts(OTHER_GROUP, 3, 1, 200) + [request("tiny", 0, "denied", 1)]
    access = access_by_group(rows, FairnessPolicy(min_group_share=0.02))
    assert access.folded == (("tiny", 1),)
    assert {g.group: g.requests for g in access.groups} == {"big": 95, OTHER_GROUP: 5}


# --- Aequitas's impact range --------------------------------------------------------------------


def test_the_impact_range_is_against_the_group_with_the_most_decisions() -> None:
    # reference "many": 10 of 20 (0.5). "high": 7 of 10 (ratio 1.4, out of range above);
    # "edge": 5 of 8 (0.625 / 0.5 = 1.25 exactly, in range); "low": 2 of 5 (0.8 exactly, in).
    rows = (
        counts("many", 10, 10)
        + counts("high", 7, 3, 100)
        + counts("edge", 5, 3, 200)
        + counts("low", 2, 3, 300)
    )
    plain = access_by_group(rows, UNFOLDED)
    assert plain.impact_reference is None
    assert all(g.impact_ratio is None and g.in_impact_range is None for g in plain.groups)
    access = access_by_group(rows, FairnessPolicy(min_group_share=0, impact_range=True))
    assert access.impact_reference == "many"
    groups = {g.group: g for g in access.groups}
    assert (groups["high"].impact_ratio, groups["high"].in_impact_range) == (1.4, False)
    assert (groups["edge"].impact_ratio, groups["edge"].in_impact_range) == (1.25, True)
    assert (groups["low"].impact_ratio, groups["low"].in_impact_range) == (0.8, True)
    # Against the best-served group (high, 0.7) nothing is above 1: the upper bound would never
    # be reached, which is why the range takes the largest group as its reference.
    assert max(g.disparity_ratio or 0 for g in access.groups) == 1.0


# --- the policy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"significance": 0}, "significance must be in \\(0, 1\\)"),
        ({"significance": 1.0}, "significance must be in \\(0, 1\\)"),
        ({"significance": float("nan")}, "significance must be in \\(0, 1\\)"),
        ({"min_group_share": -0.01}, "min_group_share must be in \\[0, 0.5\\]"),
        ({"min_group_share": 0.6}, "every group but the largest"),
        ({"impact_range": "yes"}, "impact_range must be true or false"),
    ],
)
def test_the_policy_refuses_meaningless_statistics_settings(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        FairnessPolicy(**settings)  # type: ignore[arg-type]


# --- the summary --------------------------------------------------------------------------------

T = datetime(2026, 3, 31, 23, 59, 59, 999999, tzinfo=UTC)
POSITION = LedgerPosition(
    moment=T,
    log_size=120,
    events_counted=117,
    not_yet_in_effect=2,
    recorded_after=1,
    origin="reliquary.example/log",
    checkpoint_size=120,
    checkpoint_root="q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=",
)


def summary_rows() -> list[AccessRequestRow]:
    """few: 2 of 20 (flagged); many: 18 of 20 and 11 pending (best); tiny: 1 of 52, folded."""
    rows = counts("few", 2, 18) + counts("many", 18, 2, 100)
    rows += [request("many", 500 + i, "pending") for i in range(11)]
    rows.append(request("tiny", 0, "denied", 1))  # folded "other" is a group like any other
    return rows


def summary_report() -> FairnessReport:
    """The summary's scenario, at a known position in the log."""
    return fairness_report(
        summary_rows(),
        scenario_policies(),
        scenario_essays(),
        scenario_preferences(),
        position=POSITION,
        as_of=T.date(),
    )


def test_the_summary_gathers_date_source_groups_and_exclusions() -> None:
    summary = summary_report().summary
    assert summary.moment == T
    assert summary.source is not None
    assert (summary.source.origin, summary.source.checkpoint_size) == ("reliquary.example/log", 120)
    assert summary.source.events_counted == 117
    lines = {g.group: g for g in summary.groups}
    assert set(lines) == {"few", "many", OTHER_GROUP}
    few = lines["few"]
    assert (few.decided, few.selection_rate, few.impact_ratio) == (20, 0.1, pytest.approx(1 / 9))
    assert few.flags == ("flagged", "below_four_fifths", "not_plausibly_chance", "small_sample")
    assert few.flag_text[0] == FLAG_TEXT["flagged"]
    assert summary.flagged == 1
    assert summary.fisher_reference == "many"
    assert [(x.reason, x.subject, x.records) for x in summary.excluded] == [
        ("folded", "tiny", 1),
        ("undecided", "", 11),
        ("not_yet_in_effect", "", 2),
        ("recorded_after", "", 1),
    ]
    assert summary.reproduce is not None
    assert summary.reproduce.startswith(
        "reliquary report fairness --bundle BUNDLE --key KEY --as-of "
    )
    assert "--size 120" in summary.reproduce


def test_the_summary_opens_every_form() -> None:
    report = summary_report()
    data = report_json(report)
    assert list(data)[:2] == ["report", "summary"]
    assert data["summary"]["flagged"] == 1
    assert data["summary"]["excluded"][0] == {"reason": "folded", "subject": "tiny", "records": 1}

    rows = list(csv.reader(io.StringIO(report_csv(report))))
    assert rows[1][0] == "summary"
    assert ["summary", "", "", "checkpoint_size", "120"] in rows
    assert [
        "summary",
        "few",
        "",
        "flags",
        "flagged;below_four_fifths;not_plausibly_chance;small_sample",
    ] in rows
    assert ["excluded", "tiny", "folded", "records", "1"] in rows
    assert ["settings", "", "", "significance", "0.050000"] in rows

    page = report_markdown(report, {})
    assert page.index("## Summary") < page.index("## 1.")
    assert "- **Date**: T = 2026-03-31T23:59:59.999999Z." in page
    assert "tree of size 120 with Merkle root `q83vEjRWeJ" in page
    assert "| few | 20 | 20 | 10.0% | 0.111 | < 0.001 | flagged, below four fifths, not " in page
    assert "- tiny: 1 record(s), " + EXCLUSION_TEXT["folded"] in page
    assert (
        "`reliquary report fairness --bundle BUNDLE --key KEY --as-of 2026-03-31T23:59:59.999999Z"
        in page
    )
    assert "**Folded into other**: tiny (1 request(s))" in page
    assert "Computed at" not in page


# --- the printable page -------------------------------------------------------------------------

HOSTILE = '<img src=x onerror="alert(1)">&'


def test_the_printable_page_shows_every_group_and_flag_summary_first() -> None:
    html = report_html(summary_report())
    assert html.startswith("<!doctype html>")
    assert "@page { size: A4;" in html
    assert html.index('id="summary"') < html.index('id="access"')
    summary = html[html.index('id="summary"') : html.index('id="access"')]
    for group in ("few", "many", OTHER_GROUP, "(all groups)"):
        assert f'<th scope="row">{group}</th>' in summary
    for code in ("flagged", "below_four_fifths", "not_plausibly_chance", "small_sample"):
        assert FLAG_TEXT[code] in summary
    assert "<strong>tiny</strong>: 1 record, " in summary
    assert "reliquary report fairness --bundle BUNDLE" in summary
    # Both charts travel inside the page; nothing else is fetched.
    assert len(re.findall(r'src="data:image/svg\+xml;base64,', html)) == 2
    assert not re.search(r'(src|href)="(?!data:)', html)


def test_the_printable_page_escapes_hostile_names() -> None:
    rows = [*counts(HOSTILE, 1, 9), *counts("many", 9, 1, 100)]
    html = report_html(fairness_report(rows, [], [], [], policy=UNFOLDED))
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&amp;" in html


def test_the_printable_page_of_an_empty_ledger() -> None:
    html = report_html(fairness_report([], [], [], []))
    assert "No access requests were recorded." in html
    assert "No essay was drafted." in html


def test_a_folded_group_is_named_safely_in_every_form() -> None:
    # One request of 60 (1.7%) from a group whose name is markup and a formula.
    name = "=HYPERLINK(1)<b>x</b>"
    rows = [*counts("big", 40, 19), request(name, 0, "approved", 1)]
    report = fairness_report(rows, [], [], [])
    assert report.access_by_group.folded == ((name, 1),)
    page = report_markdown(report, {})
    assert "<b>" not in page
    assert "- \\=HYPERLINK(1)&lt;b&gt;x&lt;/b&gt;: 1 record(s)" in page  # escaped Markdown
    lines = list(csv.reader(io.StringIO(report_csv(report))))
    assert ["excluded", "'" + name, "folded", "records", "1"] in lines
    html = report_html(report)
    assert "<b>x</b>" not in html
    assert "<strong>=HYPERLINK(1)&lt;b&gt;x&lt;/b&gt;</strong>: 1 record" in html
