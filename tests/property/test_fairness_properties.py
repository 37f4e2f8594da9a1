"""Properties of the access section of the fairness report, for any requests and settings.

For any set of access requests (a handful of groups, any mix of final states) and any
significance level, minimum group share and range setting: a flagged group is below four fifths
and has a p-value below the significance level; folding small groups into "other" loses and
adds no request; every rate, ratio bound and p-value lies where its definition puts it.
"""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from projections.fairness import OTHER_GROUP, FairnessPolicy
from projections.fairness.figures import access_by_group
from projections.rows import AccessRequestRow

DAY0 = date(2026, 1, 1)
GROUPS = ("academic", "industry", "nonprofit", "independent", "government", OTHER_GROUP)
# A final state, and the first decision it implies (an appeal only follows a denial).
STATES = {
    "approved": ("approved", False),
    "denied": ("denied", False),
    "pending": (None, False),
    "appealed": ("denied", True),
    "revoked": ("approved", False),
    "overturned": ("denied", True),  # first denied, approved on appeal
    "upheld": ("denied", True),  # first denied, denied again on appeal
}


def _row(n: int, group: str, state: str) -> AccessRequestRow:
    first, appealed = STATES[state]
    status = {"overturned": "approved", "upheld": "denied"}.get(state, state)
    requested = DAY0 + timedelta(days=n % 40)
    return AccessRequestRow(
        model="lumen",
        request_id=f"r{n}",
        requester="R",
        organisation="O",
        requester_group=group,
        purpose="research",
        requested_on=requested,
        status=status,
        first_decision=first,
        decided_on=requested + timedelta(days=n % 7) if status != "pending" and first else None,
        appealed=appealed,
        expires_on=None,
        reason=None,
    )


REQUESTS = st.lists(
    st.tuples(st.sampled_from(GROUPS), st.sampled_from(sorted(STATES))), max_size=80
).map(lambda pairs: [_row(n, group, state) for n, (group, state) in enumerate(pairs)])
POLICIES = st.builds(
    FairnessPolicy,
    significance=st.sampled_from([0.001, 0.01, 0.05, 0.1, 0.2, 0.5]),
    min_group_share=st.sampled_from([0.0, 0.02, 0.05, 0.1, 0.25, 0.5]),
    impact_range=st.booleans(),
)


@given(REQUESTS, POLICIES)
def test_a_flag_needs_both_signals(
    requests: list[AccessRequestRow], policy: FairnessPolicy
) -> None:
    for g in access_by_group(requests, policy).groups:
        if g.flagged:
            assert g.below_four_fifths
            assert g.fisher_p is not None and g.fisher_p < policy.significance
            assert g.chance_plausible is False
        if g.fisher_p is not None:
            assert g.chance_plausible is (g.fisher_p >= policy.significance)


@given(REQUESTS, POLICIES)
def test_folding_conserves_every_request(
    requests: list[AccessRequestRow], policy: FairnessPolicy
) -> None:
    access = access_by_group(requests, policy)
    assert sum(g.requests for g in access.groups) == access.overall.requests == len(requests)
    assert sum(g.decided for g in access.groups) == access.overall.decided
    assert access.folded_requests == sum(n for _, n in access.folded)
    names = {g.group for g in access.groups}
    assert not names & {name for name, _ in access.folded}
    if access.folded:
        other = next(g for g in access.groups if g.group == OTHER_GROUP)
        assert other.requests >= access.folded_requests
        for _, n in access.folded:
            assert n < policy.min_group_share * len(requests) + 1e-9
    if policy.min_group_share == 0:
        assert access.folded == ()


@given(REQUESTS, POLICIES)
def test_rates_lie_in_0_1(requests: list[AccessRequestRow], policy: FairnessPolicy) -> None:
    access = access_by_group(requests, policy)
    for g in (*access.groups, access.overall):
        for rate in (
            g.approval_rate,
            g.appeal_rate,
            g.overturn_rate,
            g.revocation_rate,
            g.disparity_ratio,
            g.fisher_p,
        ):
            assert rate is None or 0.0 <= rate <= 1.0, (g.group, rate)
        assert 0 <= g.appealed <= g.first_denied
        assert 0 <= g.overturned_on_appeal <= g.appeals_decided <= g.appealed
        assert 0 <= g.revoked <= g.approved
        if g.in_impact_range is not None:
            assert g.impact_ratio is not None
            assert g.in_impact_range is (0.8 <= g.impact_ratio <= 1.25)
