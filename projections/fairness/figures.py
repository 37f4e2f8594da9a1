"""The fairness report's figures: pure functions over the rows of the registers.

`fairness_report` reads lists of `projections.rows` values and returns a `FairnessReport`, a
tree of frozen dataclasses in four sections, each figure named as in docs/fairness.md:

- ``access_by_group``: researcher access requests by requester group, groups under a minimum
  share folded into "other" (requests, approved, denied, pending, approval rate with a Wilson
  95% interval, disparity ratio against the best-served group, the four-fifths comparison,
  Fisher's exact test against the best-served group and the flag that needs both, appeal,
  overturn and revocation rates, median days to decision, the small-sample warning, denial
  reasons; optionally Aequitas's impact range);
- ``criteria_consistency``: extended-access outcomes held against the recorded criteria scores
  (pairs of models with close scores and different outcomes; decisions without criteria);
- ``essay_review``: veto rates by model, reviewer and risk category; missed weekly essays;
- ``preferences``: recorded, stable, each outcome, and decisions taken on unstable preferences.

Every definition, and what the figures cannot tell, is in docs/fairness.md; this module is the
reference implementation of that page. Nothing here reads a clock, a file or a database: the
date the report is "as of" is passed in, so the same rows always give the same report. Turning
the report into text or charts is `projections.fairness.formats` and `.charts`.

The Wilson score interval is from E. B. Wilson, "Probable inference, the law of succession, and
statistical inference", JASA 22 (1927) 209-212. The four-fifths rule is from the US Uniform
Guidelines on Employee Selection Procedures, 29 CFR 1607.4(D) (1978), used here, as there, as a
screening heuristic. Fisher's exact test is R. A. Fisher, "On the interpretation of chi-squared
from contingency tables, and the calculation of P", JRSS 85 (1922) 87-94, computed by SciPy. The
2% folding rule is that of the audits under New York City Local Law 144 of 2021 (6 RCNY 5-301);
the 0.8 to 1.25 range is Aequitas's (Saleiro et al., arXiv:1811.05577).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import TYPE_CHECKING

from domain.decisions import DENIAL_REASONS, NOT_CODED
from domain.rules import PreferencePolicy
from projections.rows import AccessPolicyRow, AccessRequestRow, EssayRow, PreferenceRow

if TYPE_CHECKING:
    from projections.fairness.summary import BoardSummary

Z_95 = 1.959964
"""The standard normal quantile for a two-sided 95% interval (Phi^-1(0.975) = 1.95996398...)."""

CRITERIA_ORDER = ("alignment", "demand", "distinctiveness", "research_value", "cost")
"""The criteria the access-policy command names, in the order reports list them."""

EXTENDED = "retired_with_extended_access"
NOT_RECORDED = "(not recorded)"
ALL_GROUPS = "(all groups)"
ALL_MODELS = "(all models)"
OTHER_GROUP = "other"
"""The group that requester groups under the minimum share are folded into."""
MAX_GROUP_SHARE = 0.5
"""The largest minimum group share a policy may set (above it, one group would remain)."""
P_DIGITS = 12
"""The significant digits a Fisher p-value is kept to (far below any level it is read at)."""
IMPACT_RANGE = (Fraction(4, 5), Fraction(5, 4))
"""Aequitas's range of fair impact ratios: 0.8 to 1.25, both ends included."""

# A revoked grant was approved, and so was an expired one (an approval past its expires_on).
_APPROVED = frozenset({"approved", "revoked", "expired"})
_DENIED = frozenset({"denied"})
_PENDING = frozenset({"pending", "appealed"})  # an appealed denial awaits a new decision
_REVIEWED = frozenset({"approved", "vetoed", "published"})
_ESSAY_STATUSES = _REVIEWED | {"drafted"}
OUTCOMES = ("honored", "partly_honored", "declined", "deferred")
"""The outcomes a preference decision can have."""


# --- settings -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FairnessPolicy:
    """The thresholds the report uses; every one is printed with the report.

    ``criteria_distance``: two models whose criteria scores lie at most this far apart
    (Euclidean distance over the criteria both recorded, scores on a 0-1 scale) count as close.
    ``min_decided``: fewer decided requests than this in a group earns a small-sample warning.
    ``four_fifths``: a group whose approval rate is below this fraction of the best-served
    group's is below four fifths. ``z``: the normal quantile of the intervals (1.959964 for 95%).
    ``significance``: the level below which Fisher's exact test calls a difference from the
    best-served group "not plausibly chance"; a group is flagged only when it is below four
    fifths and its p-value is below this level. ``min_group_share``: a requester group with a
    smaller share of all requests is folded into one group, `OTHER_GROUP` (NYC Local Law 144
    lets audits set aside categories under 2% of the data if they say how many records were);
    0 folds nothing. ``impact_range``: also compare each group with the group with the most
    decided requests and say whether the ratio lies in `IMPACT_RANGE` (Aequitas's 0.8 to 1.25).
    """

    criteria_distance: float = 0.15
    min_decided: int = 30
    four_fifths: float = 0.8
    z: float = Z_95
    significance: float = 0.05
    min_group_share: float = 0.02
    impact_range: bool = False

    def __post_init__(self) -> None:
        """Refuse thresholds that would make the figures meaningless."""
        if not (math.isfinite(self.criteria_distance) and self.criteria_distance >= 0):
            raise ValueError(f"criteria_distance must be >= 0, got {self.criteria_distance!r}")
        if self.min_decided < 0:
            raise ValueError(f"min_decided must be >= 0, got {self.min_decided!r}")
        if not 0 < self.four_fifths <= 1:
            raise ValueError(f"four_fifths must be in (0, 1], got {self.four_fifths!r}")
        if not (math.isfinite(self.z) and self.z > 0):
            raise ValueError(f"z must be > 0, got {self.z!r}")
        if not (isinstance(self.significance, int | float) and 0 < self.significance < 1):
            raise ValueError(f"significance must be in (0, 1), got {self.significance!r}")
        share = self.min_group_share
        if not (isinstance(share, int | float) and 0 <= share <= MAX_GROUP_SHARE):
            raise ValueError(
                f"min_group_share must be in [0, {MAX_GROUP_SHARE}], got {share!r} "
                "(above one half, every group but the largest would be folded)"
            )
        if not isinstance(self.impact_range, bool):
            raise ValueError(f"impact_range must be true or false, got {self.impact_range!r}")


DEFAULT_POLICY = FairnessPolicy()
"""The thresholds of docs/fairness.md: distance 0.15, 30 decided requests, 0.8, 95%, a 0.05
significance level, groups under 2% of requests folded, no impact range check."""


# --- the interval -------------------------------------------------------------------------------


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Return the Wilson score interval (low, high) for ``successes`` out of ``trials``.

    With p = successes / trials and n = trials, the centre is (p + z²/2n) / (1 + z²/n) and the
    half-width z / (1 + z²/n) * sqrt(p(1 - p)/n + z²/4n²). Unlike the normal ("Wald")
    interval it stays inside [0, 1] and is not empty at 0 or n successes. With no trials
    nothing is known, so the interval is the whole range (0.0, 1.0).
    """
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")
    if trials == 0:
        return 0.0, 1.0
    n = trials
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # At 0 and n successes the bound is exactly p; rounding must not move it past p.
    low = 0.0 if successes == 0 else max(0.0, min(p, centre - half))
    high = 1.0 if successes == trials else min(1.0, max(p, centre + half))
    return low, high


# --- the report tree ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A confidence interval for a proportion, both ends in [0, 1]."""

    low: float
    high: float


@dataclass(frozen=True)
class GroupAccess:
    """Access requests from one requester group (or all groups together)."""

    group: str
    requests: int
    approved: int  # final decision approved, including grants since revoked
    denied: int
    pending: int  # never decided, or appealed and awaiting the new decision
    decided: int  # approved + denied
    approval_rate: float | None  # approved / decided; None with nothing decided
    approval_interval: Interval  # Wilson interval of the approval rate
    disparity_ratio: float | None  # approval_rate / best group's rate
    below_four_fifths: bool  # disparity_ratio < policy.four_fifths
    median_days_to_decision: float | None  # over decided requests
    small_sample: bool  # decided < policy.min_decided
    revoked: int  # approved grants later revoked (counted in approved)
    appealed: int  # denials appealed
    overturned_on_appeal: int  # first denied, finally approved
    # Requests standing denied, by reason code (`domain.decisions.DENIAL_REASONS`, then
    # ``not_coded`` for denials recorded before codes), codes with no denial left out.
    denial_reasons: tuple[tuple[str, int], ...] = ()
    resubmissions: int = 0  # requests that resubmit an earlier denied request
    first_denied: int = 0  # requests whose first decision was a denial (appealed or not)
    appeal_rate: float | None = None  # appealed / first_denied
    appeals_decided: int = 0  # appealed requests decided again (not awaiting the new decision)
    overturn_rate: float | None = None  # overturned_on_appeal / appeals_decided
    revocation_rate: float | None = None  # revoked / approved
    # Fisher's exact test (two-sided) of approved/denied against the reference best-served
    # group (`AccessByGroup.fisher_reference`); None for that group itself, with nothing
    # decided, or with no best-served group.
    fisher_p: float | None = None
    chance_plausible: bool | None = None  # fisher_p >= policy.significance
    flagged: bool = False  # below_four_fifths and fisher_p < policy.significance
    # With policy.impact_range: the approval rate / the reference group's
    # (`AccessByGroup.impact_reference`), and whether it lies in `IMPACT_RANGE`.
    impact_ratio: float | None = None
    in_impact_range: bool | None = None


@dataclass(frozen=True)
class AccessByGroup:
    """Section 1: researcher access requests by requester group."""

    groups: tuple[GroupAccess, ...]  # sorted by group name
    overall: GroupAccess  # every request together; no disparity ratio
    best_groups: tuple[str, ...]  # the groups with the highest approval rate (ties kept)
    best_rate: float | None
    four_fifths_line: float | None  # policy.four_fifths * best_rate
    # The best-served group each group is tested against: of the best groups, the one with the
    # most decided requests (then the first by name). None when nothing was decided.
    fisher_reference: str | None = None
    # Groups folded into `OTHER_GROUP` (share of requests below policy.min_group_share), with
    # their requests, by name; and the requests folded in all.
    folded: tuple[tuple[str, int], ...] = ()
    folded_requests: int = 0
    # With policy.impact_range: the group the impact ratios are taken against, the one with the
    # most decided requests (then the first by name) whose approval rate is above 0.
    impact_reference: str | None = None


@dataclass(frozen=True)
class PolicyOutcome:
    """The extended-access outcome of one model's access policy, and its recorded criteria."""

    model: str
    decided_on: date
    extended_access: bool
    final_status: str | None
    channels: tuple[tuple[str, str], ...]
    criteria: dict[str, float] | None  # in CRITERIA_ORDER; None (or empty) when none recorded


@dataclass(frozen=True)
class CriteriaPair:
    """Two models' policies compared on the criteria both recorded."""

    model_a: str  # model_a < model_b
    model_b: str
    criteria_compared: tuple[str, ...]
    distance: float
    extended_access_a: bool
    extended_access_b: bool
    close: bool  # distance <= policy.criteria_distance
    flagged: bool  # close, and the outcomes differ


@dataclass(frozen=True)
class CriteriaConsistency:
    """Section 2: extended-access decisions across models, against their criteria scores."""

    criteria_distance: float
    policies: tuple[PolicyOutcome, ...]  # sorted by model
    pairs: tuple[CriteriaPair, ...]  # every pair sharing a criterion, closest first
    flagged: tuple[CriteriaPair, ...]  # close pairs with different outcomes
    without_criteria: tuple[PolicyOutcome, ...]

    @property
    def criteria_names(self) -> list[str]:
        """Every criterion some policy scored, in report order (`CRITERIA_ORDER`, then by name)."""
        return sorted({name for o in self.policies for name in o.criteria or {}}, key=_criteria_key)


@dataclass(frozen=True)
class VetoRate:
    """Essays reviewed and vetoed for one model, reviewer or risk category."""

    subject: str
    reviewed: int  # approved + vetoed + published (for a category: all reviewed essays)
    vetoed: int
    veto_rate: float | None  # vetoed / reviewed
    veto_interval: Interval


@dataclass(frozen=True)
class EssayCadence:
    """The weekly cadence of one model's essays, from its first draft to the report's end."""

    model: str
    first_draft: date
    through_week: str  # ISO week "YYYY-Www", the last week counted
    weeks: int  # weeks counted
    weeks_with_draft: int
    missed_weeks: tuple[str, ...]  # ISO weeks "YYYY-Www" with no essay drafted
    awaiting_review: int  # drafted and not yet reviewed


@dataclass(frozen=True)
class EssayReview:
    """Section 3: essay review."""

    overall: VetoRate
    by_model: tuple[VetoRate, ...]
    by_reviewer: tuple[VetoRate, ...]
    by_risk_category: tuple[VetoRate, ...]  # vetoes in the category / all reviewed essays
    cadence: tuple[EssayCadence, ...]


@dataclass(frozen=True)
class PreferenceCounts:
    """Preferences of one model (or all), by stability and outcome."""

    model: str
    recorded: int
    stable: int  # stable now, under the configured preference policy
    honored: int
    partly_honored: int
    declined: int
    deferred: int
    undecided: int
    decided_while_unstable: int


@dataclass(frozen=True)
class PreferenceDecision:
    """One decided preference: what was decided, whether it was stable then, and why."""

    model: str
    preference_id: str
    theme: str
    statement: str
    outcome: str
    decided_on: date | None
    stable_when_decided: bool | None
    interviews: int
    contradictions: int
    rationale: str | None


@dataclass(frozen=True)
class Preferences:
    """Section 4: preferences and what was decided about them."""

    overall: PreferenceCounts
    by_model: tuple[PreferenceCounts, ...]
    decisions: tuple[PreferenceDecision, ...]  # every decided preference
    decided_while_unstable: tuple[PreferenceDecision, ...]  # stable_when_decided is False


@dataclass(frozen=True)
class LedgerPosition:
    """Where in the signed log a report was computed: anyone holding the log recomputes it.

    The report reads the first ``checkpoint_size`` events of the transparency log, whose
    Merkle root is ``checkpoint_root`` (base64, as in the checkpoint's note) under the log named
    ``origin``; every one was hashed as it was read, and the root compared, so the figures
    follow from exactly those events. ``moment`` (T) is the cut-off among them: the report counts
    the events recorded at or before T (by each event's recorded timestamp) whose decision was
    in effect by T (``effective_at``, else the recorded time, at or before T). ``log_size`` is
    the number of events up to and including the last one recorded by T.
    """

    moment: datetime
    log_size: int  # events of the log up to and including the last one recorded by T
    events_counted: int  # recorded by T and in effect by T
    not_yet_in_effect: int  # recorded by T with an effective time after T: left out
    recorded_after: int  # among the first log_size, recorded after T (writers' clocks): left out
    origin: str | None = None  # the log's origin line (None: no log was read)
    checkpoint_size: int | None = None  # the events read: the tree size of the checkpoint
    checkpoint_root: str | None = None  # their Merkle root (RFC 9162), base64


@dataclass(frozen=True)
class FairnessReport:
    """The whole report: the settings it was computed with, and its four sections."""

    policy: FairnessPolicy
    as_of: date | None
    access_by_group: AccessByGroup
    criteria_consistency: CriteriaConsistency
    essay_review: EssayReview
    preferences: Preferences
    sources: dict[str, int] = field(default_factory=dict)  # rows read, by kind
    position: LedgerPosition | None = None  # where in the ledger (None: rows given directly)
    stability: PreferencePolicy | None = None  # when a preference counts as stable

    @property
    def summary(self) -> BoardSummary:
        """The summary the report opens with (`projections.fairness.summary.board_summary`)."""
        from projections.fairness.summary import board_summary

        return board_summary(self)


# --- computing it -------------------------------------------------------------------------------


def fairness_report(
    requests: Sequence[AccessRequestRow],
    policies: Sequence[AccessPolicyRow],
    essays: Sequence[EssayRow],
    preferences: Sequence[PreferenceRow],
    *,
    policy: FairnessPolicy = DEFAULT_POLICY,
    as_of: date | None = None,
    position: LedgerPosition | None = None,
    stability: PreferencePolicy | None = None,
) -> FairnessReport:
    """Compute the fairness report from the rows of the registers.

    ``as_of`` ends the essay cadence (weeks that had ended by that day are counted); without
    it the cadence ends with each model's last draft. It filters nothing else: pass the rows
    as they stood on the day you want (`projections.queries.Queries.fairness` does: it reads
    the decisions recorded and in effect at a moment, and passes their ``position``).
    Raises ValueError on a status or outcome the report does not know.
    """
    return FairnessReport(
        policy=policy,
        as_of=as_of,
        access_by_group=access_by_group(requests, policy),
        criteria_consistency=criteria_consistency(policies, policy),
        essay_review=essay_review(essays, policy, as_of),
        preferences=preference_summary(preferences),
        sources={
            "access_requests": len(requests),
            "access_policies": len(policies),
            "essays": len(essays),
            "preferences": len(preferences),
        },
        position=position,
        stability=stability,
    )


def _group_access(
    group: str, rows: Sequence[AccessRequestRow], policy: FairnessPolicy
) -> GroupAccess:
    approved = denied = pending = 0
    days: list[int] = []
    for row in rows:
        if row.status in _APPROVED:
            approved += 1
        elif row.status in _DENIED:
            denied += 1
        elif row.status in _PENDING:
            pending += 1
            continue
        else:
            raise ValueError(
                f"unknown access request status {row.status!r} "
                f"(request {row.request_id!r} for {row.model!r})"
            )
        if row.decided_on is not None:
            days.append((row.decided_on - row.requested_on).days)
    decided = approved + denied
    low, high = wilson_interval(approved, decided, policy.z)
    revoked = sum(row.status == "revoked" for row in rows)
    appealed = sum(row.appealed for row in rows)
    overturned = sum(row.first_decision == "denied" and row.status in _APPROVED for row in rows)
    first_denied = sum(row.first_decision == "denied" for row in rows)
    appeals_decided = sum(row.appealed and row.status not in _PENDING for row in rows)
    return GroupAccess(
        group=group,
        requests=len(rows),
        approved=approved,
        denied=denied,
        pending=pending,
        decided=decided,
        approval_rate=approved / decided if decided else None,
        approval_interval=Interval(low, high),
        disparity_ratio=None,
        below_four_fifths=False,
        median_days_to_decision=float(statistics.median(days)) if days else None,
        small_sample=decided < policy.min_decided,
        revoked=revoked,
        appealed=appealed,
        overturned_on_appeal=overturned,
        denial_reasons=_denial_reasons(rows),
        resubmissions=sum(row.resubmission_of is not None for row in rows),
        first_denied=first_denied,
        appeal_rate=_share(appealed, first_denied),
        appeals_decided=appeals_decided,
        overturn_rate=_share(overturned, appeals_decided),
        revocation_rate=_share(revoked, approved),
    )


def _share(part: int, whole: int) -> float | None:
    """``part / whole`` as the exact fraction rounded once; None when ``whole`` is 0."""
    return float(Fraction(part, whole)) if whole else None


def _denial_reasons(rows: Sequence[AccessRequestRow]) -> tuple[tuple[str, int], ...]:
    """How many requests stand denied under each reason code, in the vocabulary's order."""
    counts = Counter(row.reason_code or NOT_CODED for row in rows if row.status in _DENIED)
    order = [*DENIAL_REASONS, NOT_CODED]
    known = [(code, counts.pop(code)) for code in order if code in counts]
    return (*known, *sorted(counts.items()))


def exact(value: float | int | Fraction) -> Fraction:
    """A threshold or score as the exact fraction of the decimal it is written as.

    ``0.8`` is read as 4/5, not as the binary float nearest to it, so that comparisons with a
    threshold are exact: 18/25 against 27/30 is a ratio of exactly 4/5, not below it.
    """
    if isinstance(value, Fraction | int):
        return Fraction(value)
    return Fraction(repr(float(value)))


def _exact_rate(g: GroupAccess) -> Fraction | None:
    return Fraction(g.approved, g.decided) if g.decided else None


def fold_small_groups(
    requests: Sequence[AccessRequestRow], min_share: float
) -> tuple[dict[str, list[AccessRequestRow]], tuple[tuple[str, int], ...]]:
    """Split the requests by requester group, folding groups below ``min_share`` into "other".

    A group's share is its requests / all requests, compared exactly with the share as the
    decimal it is written as (`exact`). A group already named `OTHER_GROUP` takes the folded
    requests in with its own. Returns the groups (by name) and the folded ones with their
    requests (by name); every request is in exactly one group.
    """
    by_group: dict[str, list[AccessRequestRow]] = defaultdict(list)
    for row in requests:
        by_group[row.requester_group or NOT_RECORDED].append(row)
    total = len(requests)
    line = exact(min_share)
    small = sorted(
        name
        for name, rows in by_group.items()
        if name != OTHER_GROUP and Fraction(len(rows), total) < line
    )
    folded = tuple((name, len(by_group[name])) for name in small)
    for name in small:
        by_group[OTHER_GROUP].extend(by_group.pop(name))
    return dict(sorted(by_group.items())), folded


def fisher_exact_p(a_approved: int, a_denied: int, b_approved: int, b_denied: int) -> float:
    """The two-sided p-value of Fisher's exact test of two groups' approved/denied counts.

    It is the probability, with both groups' sizes and the total approved held fixed (the
    hypergeometric distribution), of a split at most as likely as the one observed, if both
    groups had the same chance of approval (`scipy.stats.fisher_exact`). SciPy is imported
    here, not at the top: it takes a while to import, and most commands never need it.
    """
    from scipy.stats import fisher_exact  # type: ignore[import-untyped]

    counts = (a_approved, a_denied, b_approved, b_denied)
    if any(n < 0 for n in counts):
        raise ValueError(f"Fisher's exact test needs counts >= 0, got {counts}")
    result = fisher_exact([[a_approved, a_denied], [b_approved, b_denied]])
    # Summing the tables' probabilities may land a hair above 1; and the last bits of the sum
    # may differ between SciPy builds, so the value is kept to `P_DIGITS` significant digits:
    # a reviewer's own install then prints the operator's figure, byte for byte.
    return min(1.0, float(f"{float(result.pvalue):.{P_DIGITS}g}"))


def _reference(
    groups: Sequence[GroupAccess], eligible: Callable[[GroupAccess], bool]
) -> GroupAccess | None:
    """Of the eligible groups, the one with the most decided requests, then the first by name."""
    candidates = [g for g in groups if eligible(g)]
    return min(candidates, key=lambda g: (-g.decided, g.group)) if candidates else None


def access_by_group(requests: Sequence[AccessRequestRow], policy: FairnessPolicy) -> AccessByGroup:
    """Section 1: approval rates by requester group, compared with the best-served group.

    Rates, ratios and the four-fifths comparison are computed on exact fractions of the counts
    (`fractions.Fraction`); the floats reported are those fractions rounded once. Groups under
    the policy's minimum share are folded into `OTHER_GROUP` first, and the folded group is
    then computed like any other. Each group with decided requests is tested against the
    reference best-served group (`fisher_exact_p`); it is flagged when it is below four fifths
    and that test's p-value is below the policy's significance level.
    """
    by_group, folded = fold_small_groups(requests, policy.min_group_share)
    plain = [_group_access(group, rows, policy) for group, rows in by_group.items()]
    rates = [r for r in (_exact_rate(g) for g in plain) if r is not None]
    best = max(rates) if rates else None
    line = exact(policy.four_fifths)
    significance = exact(policy.significance)
    best_groups = tuple(g.group for g in plain if best is not None and _exact_rate(g) == best)
    fisher = _reference(plain, lambda g: g.group in best_groups)
    impact = _reference(plain, lambda g: bool(_exact_rate(g))) if policy.impact_range else None
    groups: list[GroupAccess] = []
    for g in plain:
        rate = _exact_rate(g)
        ratio: Fraction | None = None
        # With a best rate of 0 nobody was approved: there is no disparity to measure.
        if rate is not None and best:
            ratio = rate / best
        below = ratio is not None and ratio < line
        p: float | None = None
        if fisher is not None and rate is not None and g.group != fisher.group:
            p = fisher_exact_p(g.approved, g.denied, fisher.approved, fisher.denied)
        impact_ratio: Fraction | None = None
        if impact is not None and rate is not None:
            impact_ratio = rate / (_exact_rate(impact) or 1)
        groups.append(
            replace(
                g,
                disparity_ratio=None if ratio is None else float(ratio),
                below_four_fifths=below,
                fisher_p=p,
                chance_plausible=None if p is None else exact(p) >= significance,
                flagged=below and p is not None and exact(p) < significance,
                impact_ratio=None if impact_ratio is None else float(impact_ratio),
                in_impact_range=(
                    None
                    if impact_ratio is None
                    else IMPACT_RANGE[0] <= impact_ratio <= IMPACT_RANGE[1]
                ),
            )
        )
    best_rate = None if best is None else float(best)
    return AccessByGroup(
        groups=tuple(groups),
        overall=_group_access(ALL_GROUPS, requests, policy),
        best_groups=best_groups,
        best_rate=best_rate,
        four_fifths_line=float(line * best) if best is not None else None,
        fisher_reference=None if fisher is None else fisher.group,
        folded=folded,
        folded_requests=sum(n for _, n in folded),
        impact_reference=None if impact is None else impact.group,
    )


def extended_access(row: AccessPolicyRow) -> bool:
    """Return whether a policy gives extended access.

    Once the model is retired its final status decides; before that, a policy keeping at
    least one channel open does.
    """
    if row.final_status is not None:
        return row.final_status == EXTENDED
    return len(row.channels) > 0


def _criteria_key(name: str) -> tuple[int, str]:
    return (
        (CRITERIA_ORDER.index(name), "") if name in CRITERIA_ORDER else (len(CRITERIA_ORDER), name)
    )


def criteria_distance(
    a: Mapping[str, float], b: Mapping[str, float]
) -> tuple[float, tuple[str, ...]]:
    """Return the Euclidean distance over the criteria both scored, and those criteria."""
    squared, shared = _squared_distance(a, b)
    return math.sqrt(squared), shared


def _squared_distance(
    a: Mapping[str, float], b: Mapping[str, float]
) -> tuple[Fraction, tuple[str, ...]]:
    """The exact squared distance over the shared criteria (scores read as their decimals)."""
    shared = tuple(sorted(set(a) & set(b), key=_criteria_key))
    return sum(((exact(a[name]) - exact(b[name])) ** 2 for name in shared), Fraction(0)), shared


def criteria_consistency(
    policies: Sequence[AccessPolicyRow], policy: FairnessPolicy
) -> CriteriaConsistency:
    """Section 2: pairs of models with close criteria scores and different outcomes."""
    outcomes = tuple(
        PolicyOutcome(
            model=row.model,
            decided_on=row.decided_on,
            extended_access=extended_access(row),
            final_status=row.final_status,
            channels=tuple(row.channels),
            criteria=(
                dict(sorted(row.criteria.items(), key=lambda item: _criteria_key(item[0])))
                if row.criteria is not None
                else None
            ),
        )
        for row in sorted(policies, key=lambda row: (row.model, row.decided_on))
    )
    scored = [o for o in outcomes if o.criteria]
    pairs: list[CriteriaPair] = []
    for i, a in enumerate(scored):
        for b in scored[i + 1 :]:
            squared, shared = _squared_distance(a.criteria or {}, b.criteria or {})
            if not shared or a.model == b.model:
                continue
            distance = math.sqrt(squared)
            # "At most the threshold", compared exactly: squared distance against its square.
            close = squared <= exact(policy.criteria_distance) ** 2
            first, second = (a, b) if a.model <= b.model else (b, a)
            pairs.append(
                CriteriaPair(
                    model_a=first.model,
                    model_b=second.model,
                    criteria_compared=shared,
                    distance=distance,
                    extended_access_a=first.extended_access,
                    extended_access_b=second.extended_access,
                    close=close,
                    flagged=close and first.extended_access != second.extended_access,
                )
            )
    pairs.sort(key=lambda p: (p.distance, p.model_a, p.model_b))
    return CriteriaConsistency(
        criteria_distance=policy.criteria_distance,
        policies=outcomes,
        pairs=tuple(pairs),
        flagged=tuple(p for p in pairs if p.flagged),
        without_criteria=tuple(o for o in outcomes if not o.criteria),
    )


def iso_week(day: date) -> str:
    """Return the ISO 8601 week of a day as ``YYYY-Www`` (weeks start on Monday)."""
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _veto_rate(subject: str, reviewed: int, vetoed: int, z: float) -> VetoRate:
    low, high = wilson_interval(vetoed, reviewed, z)
    return VetoRate(
        subject=subject,
        reviewed=reviewed,
        vetoed=vetoed,
        veto_rate=vetoed / reviewed if reviewed else None,
        veto_interval=Interval(low, high),
    )


def essay_review(
    essays: Sequence[EssayRow], policy: FairnessPolicy, as_of: date | None = None
) -> EssayReview:
    """Section 3: veto rates by model, reviewer and risk category; missed weekly essays."""
    for row in essays:
        if row.status not in _ESSAY_STATUSES:
            raise ValueError(f"unknown essay status {row.status!r} (essay {row.essay_id!r})")
    reviewed = [row for row in essays if row.status in _REVIEWED]

    def rates(key: Callable[[EssayRow], str]) -> tuple[VetoRate, ...]:
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for row in reviewed:
            counts[key(row)][0] += 1
            counts[key(row)][1] += row.status == "vetoed"
        return tuple(_veto_rate(k, n, v, policy.z) for k, (n, v) in sorted(counts.items()))

    by_category: dict[str, int] = defaultdict(int)
    for row in reviewed:
        if row.status == "vetoed":
            by_category[row.risk_category or NOT_RECORDED] += 1

    drafts: dict[str, list[EssayRow]] = defaultdict(list)
    for row in essays:
        drafts[row.model].append(row)
    cadence: list[EssayCadence] = []
    for model, rows in sorted(drafts.items()):
        first = _monday(min(row.drafted_on for row in rows))
        last = _monday(max(row.drafted_on for row in rows))
        if as_of is not None:
            # The week in progress on as_of may still get its essay: count weeks that ended.
            last = max(last, _monday(as_of + timedelta(days=1)) - timedelta(days=7))
        kept = {_monday(row.drafted_on) for row in rows}
        weeks = [first + timedelta(days=7 * i) for i in range((last - first).days // 7 + 1)]
        cadence.append(
            EssayCadence(
                model=model,
                first_draft=min(row.drafted_on for row in rows),
                through_week=iso_week(last),
                weeks=len(weeks),
                weeks_with_draft=sum(week in kept for week in weeks),
                missed_weeks=tuple(iso_week(week) for week in weeks if week not in kept),
                awaiting_review=sum(row.status == "drafted" for row in rows),
            )
        )
    return EssayReview(
        overall=_veto_rate(
            ALL_MODELS, len(reviewed), sum(r.status == "vetoed" for r in reviewed), policy.z
        ),
        by_model=rates(lambda row: row.model),
        by_reviewer=rates(lambda row: row.reviewer or NOT_RECORDED),
        by_risk_category=tuple(
            _veto_rate(category, len(reviewed), vetoes, policy.z)
            for category, vetoes in sorted(by_category.items())
        ),
        cadence=tuple(cadence),
    )


def _preference_counts(model: str, rows: Sequence[PreferenceRow]) -> PreferenceCounts:
    counts = dict.fromkeys(OUTCOMES, 0)
    for row in rows:
        if row.outcome is not None:
            counts[row.outcome] += 1
    return PreferenceCounts(
        model=model,
        recorded=len(rows),
        stable=sum(row.stable for row in rows),
        honored=counts["honored"],
        partly_honored=counts["partly_honored"],
        declined=counts["declined"],
        deferred=counts["deferred"],
        undecided=sum(row.outcome is None for row in rows),
        decided_while_unstable=sum(
            row.outcome is not None and row.stable_when_decided is False for row in rows
        ),
    )


def preference_summary(preferences: Sequence[PreferenceRow]) -> Preferences:
    """Section 4: preferences recorded, stable, by outcome; decisions on unstable ones."""
    for row in preferences:
        if row.outcome is not None and row.outcome not in OUTCOMES:
            raise ValueError(
                f"unknown preference outcome {row.outcome!r} (preference {row.preference_id!r})"
            )
    by_model: dict[str, list[PreferenceRow]] = defaultdict(list)
    for row in preferences:
        by_model[row.model].append(row)
    decisions = tuple(
        PreferenceDecision(
            model=row.model,
            preference_id=row.preference_id,
            theme=row.theme,
            statement=row.statement,
            outcome=row.outcome,
            decided_on=row.decided_on,
            stable_when_decided=row.stable_when_decided,
            interviews=row.interviews,
            contradictions=row.contradictions,
            rationale=row.decision_rationale,
        )
        for row in sorted(
            preferences, key=lambda r: (r.model, r.decided_on or date.max, r.preference_id)
        )
        if row.outcome is not None
    )
    return Preferences(
        overall=_preference_counts(ALL_MODELS, preferences),
        by_model=tuple(_preference_counts(m, rows) for m, rows in sorted(by_model.items())),
        decisions=decisions,
        decided_while_unstable=tuple(d for d in decisions if d.stable_when_decided is False),
    )
