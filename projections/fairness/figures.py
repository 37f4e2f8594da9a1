"""The fairness report's figures: pure functions over the rows of the registers.

`fairness_report` reads lists of `projections.rows` values and returns a `FairnessReport`, a
tree of frozen dataclasses in four sections, each figure named as in docs/fairness.md:

- ``access_by_group``: researcher access requests by requester group (requests, approved,
  denied, pending, approval rate with a Wilson 95% interval, disparity ratio against the
  best-served group, the four-fifths flag, median days to decision, the small-sample warning);
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
screening heuristic.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from fractions import Fraction

from domain.decisions import DENIAL_REASONS, NOT_CODED
from projections.rows import AccessPolicyRow, AccessRequestRow, EssayRow, PreferenceRow

Z_95 = 1.959964
"""The standard normal quantile for a two-sided 95% interval (Phi^-1(0.975) = 1.95996398...)."""

CRITERIA_ORDER = ("alignment", "demand", "distinctiveness", "research_value", "cost")
"""The criteria the access-policy command names, in the order reports list them."""

EXTENDED = "retired_with_extended_access"
NOT_RECORDED = "(not recorded)"
ALL_GROUPS = "(all groups)"
ALL_MODELS = "(all models)"

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
    group's is flagged. ``z``: the normal quantile of the intervals (1.959964 for 95%).
    """

    criteria_distance: float = 0.15
    min_decided: int = 30
    four_fifths: float = 0.8
    z: float = Z_95

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


DEFAULT_POLICY = FairnessPolicy()
"""The thresholds of docs/fairness.md: distance 0.15, 30 decided requests, 0.8, 95%."""


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


@dataclass(frozen=True)
class AccessByGroup:
    """Section 1: researcher access requests by requester group."""

    groups: tuple[GroupAccess, ...]  # sorted by group name
    overall: GroupAccess  # every request together; no disparity ratio
    best_groups: tuple[str, ...]  # the groups with the highest approval rate (ties kept)
    best_rate: float | None
    four_fifths_line: float | None  # policy.four_fifths * best_rate


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
    """Where in the ledger a report was computed: anyone can recompute it from this.

    ``moment`` (T) is the cut-off: the report counts the events recorded at or before T (by
    each event's recorded timestamp) whose decision was in effect by T (``effective_at``, else
    the recorded time, at or before T). Every such event is among the log's first ``log_size``
    events (ledger order, up to notification id ``last_notification_id``): a transparency-log
    checkpoint of that tree size or larger covers all of them.
    """

    moment: datetime
    log_size: int  # events in the log up to and including the last one recorded by T
    last_notification_id: int | None  # None: nothing was recorded by T
    events_counted: int  # recorded by T and in effect by T
    not_yet_in_effect: int  # recorded by T with an effective time after T: left out
    recorded_after: int  # among the first log_size, recorded after T (writers' clocks): left out


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
        revoked=sum(row.status == "revoked" for row in rows),
        appealed=sum(row.appealed for row in rows),
        overturned_on_appeal=sum(
            row.first_decision == "denied" and row.status in _APPROVED for row in rows
        ),
        denial_reasons=_denial_reasons(rows),
        resubmissions=sum(row.resubmission_of is not None for row in rows),
    )


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


def access_by_group(requests: Sequence[AccessRequestRow], policy: FairnessPolicy) -> AccessByGroup:
    """Section 1: approval rates by requester group, compared with the best-served group.

    Rates, ratios and the four-fifths comparison are computed on exact fractions of the counts
    (`fractions.Fraction`); the floats reported are those fractions rounded once.
    """
    by_group: dict[str, list[AccessRequestRow]] = defaultdict(list)
    for row in requests:
        by_group[row.requester_group or NOT_RECORDED].append(row)
    plain = [_group_access(group, rows, policy) for group, rows in sorted(by_group.items())]
    rates = [r for r in (_exact_rate(g) for g in plain) if r is not None]
    best = max(rates) if rates else None
    line = exact(policy.four_fifths)
    groups: list[GroupAccess] = []
    for g in plain:
        rate = _exact_rate(g)
        ratio: Fraction | None = None
        # With a best rate of 0 nobody was approved: there is no disparity to measure.
        if rate is not None and best:
            ratio = rate / best
        groups.append(
            replace(
                g,
                disparity_ratio=None if ratio is None else float(ratio),
                below_four_fifths=ratio is not None and ratio < line,
            )
        )
    best_rate = None if best is None else float(best)
    return AccessByGroup(
        groups=tuple(groups),
        overall=_group_access(ALL_GROUPS, requests, policy),
        best_groups=tuple(g.group for g in plain if best is not None and _exact_rate(g) == best),
        best_rate=best_rate,
        four_fifths_line=float(line * best) if best is not None else None,
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
