"""The fairness report: pure functions over the rows of the registers, and its renderers.

`fairness_report` reads lists of `projections.rows` values and returns a `FairnessReport`, a
tree of frozen dataclasses in four sections, each figure named as in issue #6:

- ``access_by_group``: researcher access requests by requester group (requests, approved,
  denied, pending, approval rate with a Wilson 95% interval, disparity ratio against the
  best-served group, the four-fifths flag, median days to decision, the small-sample warning);
- ``criteria_consistency``: extended-access outcomes held against the recorded criteria scores
  (pairs of models with close scores and different outcomes; decisions without criteria);
- ``essay_review``: veto rates by model, reviewer and risk category; missed weekly essays;
- ``preferences``: recorded, stable, each outcome, and decisions taken on unstable preferences.

Every definition, and what the figures cannot tell, is in docs/fairness.md; this module is the
reference implementation of that page. Nothing here reads a clock, a file or a database: the
date the report is "as of" is passed in, so the same rows always give the same report.

The renderers return text or bytes and write nothing: `report_json` (plain JSON values),
`report_markdown` (a board-readable page linking its charts by relative file name),
`report_csv` (one long-format CSV, layout in `CSV_COLUMNS`) and `report_charts` (hand-written
SVG, no plotting dependency; every piece of data is escaped).

The Wilson score interval is from E. B. Wilson, "Probable inference, the law of succession, and
statistical inference", JASA 22 (1927) 209-212. The four-fifths rule is from the US Uniform
Guidelines on Employee Selection Procedures, 29 CFR 1607.4(D) (1978), used here, as there, as a
screening heuristic.
"""

from __future__ import annotations

import csv
import html
import io
import math
import re
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

from projections.rows import AccessPolicyRow, AccessRequestRow, EssayRow, PreferenceRow

Z_95 = 1.959964
"""The standard normal quantile for a two-sided 95% interval (Phi^-1(0.975) = 1.95996398...)."""

APPROVAL_CHART = "approval-by-group.svg"
"""File name of the chart of approval rates by requester group."""
VETO_CHART = "veto-rates.svg"
"""File name of the chart of essay veto rates."""

CRITERIA_ORDER = ("alignment", "demand", "distinctiveness", "research_value", "cost")
"""The criteria the access-policy command names, in the order reports list them."""

EXTENDED = "retired_with_extended_access"
NOT_RECORDED = "(not recorded)"
ALL_GROUPS = "(all groups)"
ALL_MODELS = "(all models)"

_APPROVED = frozenset({"approved", "revoked"})  # a revoked grant was approved
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
class FairnessReport:
    """The whole report: the settings it was computed with, and its four sections."""

    policy: FairnessPolicy
    as_of: date | None
    access_by_group: AccessByGroup
    criteria_consistency: CriteriaConsistency
    essay_review: EssayReview
    preferences: Preferences
    sources: dict[str, int] = field(default_factory=dict)  # rows read, by kind


# --- computing it -------------------------------------------------------------------------------


def fairness_report(
    requests: Sequence[AccessRequestRow],
    policies: Sequence[AccessPolicyRow],
    essays: Sequence[EssayRow],
    preferences: Sequence[PreferenceRow],
    *,
    policy: FairnessPolicy = DEFAULT_POLICY,
    as_of: date | None = None,
) -> FairnessReport:
    """Compute the fairness report from the rows of the registers.

    ``as_of`` ends the essay cadence (weeks that had ended by that day are counted); without
    it the cadence ends with each model's last draft. It filters nothing else: pass the rows
    as they stood on the day you want (the views' current rows, for a report of today).
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
    )


def access_by_group(requests: Sequence[AccessRequestRow], policy: FairnessPolicy) -> AccessByGroup:
    """Section 1: approval rates by requester group, compared with the best-served group."""
    by_group: dict[str, list[AccessRequestRow]] = defaultdict(list)
    for row in requests:
        by_group[row.requester_group or NOT_RECORDED].append(row)
    plain = [_group_access(group, rows, policy) for group, rows in sorted(by_group.items())]
    rates = [g.approval_rate for g in plain if g.approval_rate is not None]
    best_rate = max(rates) if rates else None
    groups: list[GroupAccess] = []
    for g in plain:
        ratio: float | None = None
        # With a best rate of 0 nobody was approved: there is no disparity to measure.
        if g.approval_rate is not None and best_rate:
            ratio = g.approval_rate / best_rate
        groups.append(
            replace(
                g,
                disparity_ratio=ratio,
                below_four_fifths=ratio is not None and ratio < policy.four_fifths,
            )
        )
    return AccessByGroup(
        groups=tuple(groups),
        overall=_group_access(ALL_GROUPS, requests, policy),
        best_groups=tuple(
            g.group for g in plain if best_rate is not None and g.approval_rate == best_rate
        ),
        best_rate=best_rate,
        four_fifths_line=policy.four_fifths * best_rate if best_rate is not None else None,
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
    shared = tuple(sorted(set(a) & set(b), key=_criteria_key))
    return math.sqrt(sum((a[name] - b[name]) ** 2 for name in shared)), shared


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
            distance, shared = criteria_distance(a.criteria or {}, b.criteria or {})
            if not shared or a.model == b.model:
                continue
            # "At most the threshold", allowing for rounding in the sum of squares.
            close = distance <= policy.criteria_distance + 1e-9
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


# --- JSON ---------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def report_json(report: FairnessReport) -> dict[str, Any]:
    """Return the report as plain JSON values (dicts, lists, str, int, float, bool, None).

    Field names are those of the dataclasses; dates are ISO 8601 strings; intervals are
    ``{"low": .., "high": ..}``; criteria are ``[[name, score], ...]``; channels
    ``[[channel, audience], ...]``. Floats are not rounded.
    """
    result: dict[str, Any] = {"report": "fairness"}
    result.update(_plain(report))
    return result


# --- CSV ----------------------------------------------------------------------------------------

CSV_COLUMNS = ("section", "subject", "item", "figure", "value")
"""The CSV's layout: one figure per line.

``section`` is one of ``settings``, ``access_by_group``, ``criteria_policy``,
``criteria_pair``, ``criteria_missing``, ``veto_by_model``, ``veto_by_reviewer``,
``veto_by_risk_category``, ``essay_cadence``, ``preferences``, ``preference_decision``;
``subject`` is the group, model, reviewer or category (the first model of a pair);
``item`` is the second model of a pair, or a preference's id, else empty;
``figure`` is the field name as in the JSON (an interval gives two figures, ``..._low`` and
``..._high``); ``value`` its value: floats to 6 decimals, booleans ``true``/``false``, missing
values empty, lists joined with ``;``, criteria and channels as ``name=value`` joined with ``;``.
"""


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6f}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return ";".join(f"{k}={_csv_value(v)}" for k, v in value.items())
    if isinstance(value, tuple):
        return ";".join(
            f"{v[0]}={_csv_value(v[1])}" if isinstance(v, tuple) else _csv_value(v) for v in value
        )
    return str(value)


def _csv_rows(report: FairnessReport) -> Iterable[tuple[str, str, str, str, Any]]:
    p = report.policy
    for name in ("criteria_distance", "min_decided", "four_fifths", "z"):
        yield "settings", "", "", name, getattr(p, name)
    yield "settings", "", "", "as_of", report.as_of

    def each(
        section: str, subject: str, item: str, value: Any, skip: tuple[str, ...]
    ) -> Iterator[tuple[str, str, str, str, Any]]:
        for f in fields(value):
            if f.name in skip:
                continue
            v = getattr(value, f.name)
            if isinstance(v, Interval):
                yield section, subject, item, f"{f.name}_low", v.low
                yield section, subject, item, f"{f.name}_high", v.high
            else:
                yield section, subject, item, f.name, v

    a = report.access_by_group
    for g in (*a.groups, a.overall):
        yield from each("access_by_group", g.group, "", g, ("group",))
    c = report.criteria_consistency
    for o in c.policies:
        yield from each("criteria_policy", o.model, "", o, ("model",))
    for pair in c.pairs:
        yield from each("criteria_pair", pair.model_a, pair.model_b, pair, ("model_a", "model_b"))
    for o in c.without_criteria:
        yield "criteria_missing", o.model, "", "decided_on", o.decided_on
    e = report.essay_review
    for section, rates in (
        ("veto_by_model", (*e.by_model, e.overall)),
        ("veto_by_reviewer", e.by_reviewer),
        ("veto_by_risk_category", e.by_risk_category),
    ):
        for r in rates:
            yield from each(section, r.subject, "", r, ("subject",))
    for cad in e.cadence:
        yield from each("essay_cadence", cad.model, "", cad, ("model",))
    pr = report.preferences
    for counts in (*pr.by_model, pr.overall):
        yield from each("preferences", counts.model, "", counts, ("model",))
    for d in pr.decisions:
        yield from each(
            "preference_decision", d.model, d.preference_id, d, ("model", "preference_id")
        )


def report_csv(report: FairnessReport) -> str:
    """Return the report as one CSV in long format (columns `CSV_COLUMNS`, documented there)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for section, subject, item, figure, value in _csv_rows(report):
        writer.writerow((section, subject, item, figure, _csv_value(value)))
    return out.getvalue()


# --- Markdown -----------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_MD_LEADING = re.compile(r"^([#+\-=>:]|\d+[.)])")


def _md(text: str) -> str:
    """Escape data for Markdown: no markup, no HTML, no table breaks, one line.

    Inline markers and the table separator are escaped everywhere, HTML is entity-encoded,
    and a leading character that could open a heading, list or quote is escaped.
    """
    text = _CONTROL.sub("\ufffd", " ".join(str(text).split()))
    text = _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))
    return _MD_LEADING.sub(r"\\\1", text)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _interval(interval: Interval) -> str:
    return f"{interval.low * 100:.1f}% to {interval.high * 100:.1f}%"


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _names(names: Iterable[str]) -> str:
    items = [f"**{_md(n)}**" for n in names]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _image(alt: str, name: str, chart_names: Mapping[str, str] | None) -> list[str]:
    target = name if chart_names is None else chart_names.get(name)
    if not target:
        return []
    return [f"![{_md(alt)}]({quote(target, safe='/')})", ""]


def report_markdown(report: FairnessReport, chart_names: Mapping[str, str] | None = None) -> str:
    """Return the report as a Markdown page a board can read without a terminal.

    ``chart_names`` maps the chart file names of `report_charts` (`APPROVAL_CHART`,
    `VETO_CHART`) to the relative paths the charts were written to; a chart missing from it is
    not linked. None links each chart by its own file name, as if written beside the page.
    Every piece of data (group, model, reviewer names, rationales) is escaped.
    """
    p = report.policy
    out: list[str] = ["# Fairness report", ""]
    as_of = report.as_of.isoformat() if report.as_of else "the latest recorded essay draft"
    out += [
        f"As of {as_of}. Thresholds: criteria distance {p.criteria_distance:g}, "
        f"small sample below {p.min_decided} decided requests, four-fifths ratio "
        f"{p.four_fifths:g}, intervals at z = {p.z} (1.959964 is 95%).",
        "",
        "Every figure is a description of what was recorded, not a finding: a flag says where "
        "to look, never that a decision was unfair. The definitions and the limits of every "
        "figure are in the Reliquary documentation, docs/fairness.md.",
        "",
    ]
    out += _markdown_access(report.access_by_group, p, chart_names)
    out += _markdown_criteria(report.criteria_consistency)
    out += _markdown_essays(report.essay_review, report.as_of, chart_names)
    out += _markdown_preferences(report.preferences)
    return "\n".join(out).rstrip("\n") + "\n"


def _markdown_access(
    a: AccessByGroup, p: FairnessPolicy, chart_names: Mapping[str, str] | None
) -> list[str]:
    out = ["## 1. Researcher access requests by requester group", ""]
    out += [
        "- **Requests**: every access request from the group; **approved**, **denied** and "
        "**pending** split them by their final state (a grant since revoked counts as approved; "
        "an appealed denial awaiting its new decision counts as pending).",
        "- **Approval rate**: approved divided by decided (approved plus denied).",
        "- **95% interval**: the Wilson score interval, the range of approval rates compatible "
        "with these counts; the fewer the decisions, the wider it is.",
        "- **Disparity ratio**: the group's approval rate divided by the best-served group's. "
        f"Below {p.four_fifths:g} (the four-fifths rule) the group is flagged for a closer look.",
        "- **Median days**: the median number of days from request to its (final) decision.",
        f"- **Sample**: fewer than {p.min_decided} decided requests is a small sample.",
        "",
    ]
    if not a.overall.requests:
        return [*out, "No access requests were recorded.", ""]

    def row(g: GroupAccess) -> list[str]:
        flag = "below four fifths" if g.below_four_fifths else ""
        return [
            _md(g.group),
            str(g.requests),
            str(g.approved),
            str(g.denied),
            str(g.pending),
            _pct(g.approval_rate),
            _interval(g.approval_interval) if g.decided else "n/a",
            _num(g.disparity_ratio, 3),
            flag,
            _num(g.median_days_to_decision, 1),
            "small" if g.small_sample else "",
        ]

    out += _table(
        [
            "Group",
            "Requests",
            "Approved",
            "Denied",
            "Pending",
            "Approval rate",
            "95% interval",
            "Disparity ratio",
            "Four-fifths",
            "Median days",
            "Sample",
        ],
        [*(row(g) for g in a.groups), row(a.overall)],
    )
    if a.best_rate is not None and a.best_rate > 0:
        out += [
            f"The best-served group is {_names(a.best_groups)}, approved at "
            f"{_pct(a.best_rate)}; four fifths of that is {_pct(a.four_fifths_line)}.",
            "",
        ]
    elif a.best_rate == 0:
        out += ["No group had a request approved, so no disparity ratio is computed.", ""]
    notes: list[str] = []
    for g in a.groups:
        if g.below_four_fifths:
            notes.append(
                f"- **Flag**: {_md(g.group)} is approved at {_pct(g.approval_rate)}, "
                f"{_num(g.disparity_ratio, 3)} of the best-served group's rate, below four fifths. "
                "This is a screening signal to look into (purposes, scopes, reasons given), "
                "not a finding of unfair treatment."
            )
    for g in a.groups:
        if g.decided == 0:
            notes.append(
                f"- **No decisions**: {_md(g.group)} has no decided request yet; "
                "nothing can be said about its approval rate."
            )
        elif g.small_sample:
            notes.append(
                f"- **Small sample**: {_md(g.group)} has only {g.decided} decided requests "
                f"(fewer than {p.min_decided}); the interval is wide "
                f"({_interval(g.approval_interval)}), and a few more decisions could move the "
                "rate a lot."
            )
    if a.overall.appealed:
        notes.append(
            f"- **Appeals**: {a.overall.appealed} denial(s) appealed, "
            f"{a.overall.overturned_on_appeal} overturned (approved on appeal); "
            "the table counts the final decision."
        )
    if a.overall.revoked:
        notes.append(
            f"- **Revocations**: {a.overall.revoked} grant(s) revoked after approval, "
            "counted as approved above."
        )
    if notes:
        out += [*notes, ""]
    out += _image(
        "Approval rate by requester group, with 95% interval", APPROVAL_CHART, chart_names
    )
    return out


def _markdown_criteria(c: CriteriaConsistency) -> list[str]:
    out = ["## 2. Extended access against the recorded criteria", ""]
    out += [
        "Each model's access policy records criteria scores (0 to 1) and an outcome: extended "
        "access (retired with extended access, or, before retirement, at least one channel "
        "kept) or none. Two models are **close** when the Euclidean distance between their "
        f"scores, over the criteria both recorded, is at most {c.criteria_distance:g}. "
        "A close pair with different outcomes is **flagged**: the board should be able to "
        "say what, beyond the scores, separated them.",
        "",
    ]
    if not c.policies:
        return [*out, "No access policy was recorded.", ""]
    names = sorted({name for o in c.policies for name in o.criteria or {}}, key=_criteria_key)
    out += _table(
        ["Model", "Decided", "Outcome", *(_md(n.replace("_", " ")) for n in names)],
        (
            [
                _md(o.model),
                o.decided_on.isoformat(),
                "extended access" if o.extended_access else "no extended access",
                *(_num(o.criteria.get(n)) if o.criteria else "not recorded" for n in names),
            ]
            for o in c.policies
        ),
    )
    if c.flagged:
        for pair in c.flagged:
            out.append(
                f"- **Flag**: {_md(pair.model_a)} and {_md(pair.model_b)} are "
                f"{pair.distance:.3f} apart on {len(pair.criteria_compared)} criteria, yet "
                f"{_md(pair.model_a if pair.extended_access_a else pair.model_b)} kept extended "
                f"access and {_md(pair.model_b if pair.extended_access_a else pair.model_a)} "
                "did not."
            )
        out.append("")
    else:
        out += ["No close pair of models had different outcomes.", ""]
    close = [pair for pair in c.pairs if pair.close]
    if close:
        out += ["Close pairs:", ""]
        out += _table(
            ["Model", "Model", "Distance", "Criteria compared", "Outcomes differ"],
            (
                [
                    _md(pair.model_a),
                    _md(pair.model_b),
                    f"{pair.distance:.3f}",
                    str(len(pair.criteria_compared)),
                    "yes" if pair.flagged else "no",
                ]
                for pair in close
            ),
        )
    out += [
        f"{len(c.pairs)} pair(s) of models were compared; the JSON and CSV outputs list them all.",
        "",
    ]
    if c.without_criteria:
        out += [
            "**Decided without criteria**: "
            + "; ".join(
                f"{_md(o.model)} ({o.decided_on.isoformat()}, "
                f"{'extended access' if o.extended_access else 'no extended access'})"
                for o in c.without_criteria
            )
            + ". These decisions cannot be compared with any other.",
            "",
        ]
    return out


def _markdown_essays(
    e: EssayReview, as_of: date | None, chart_names: Mapping[str, str] | None
) -> list[str]:
    out = ["## 3. Essay review", ""]
    out += [
        "The **veto rate** is vetoed essays divided by reviewed essays (approved, vetoed or "
        "published); the interval is the Wilson 95% interval. By risk category, it is the "
        "vetoes in that category divided by all reviewed essays.",
        "",
    ]
    if not e.overall.reviewed and not e.cadence:
        return [*out, "No essay was drafted.", ""]

    def rows(rates: Sequence[VetoRate]) -> list[list[str]]:
        return [
            [
                _md(r.subject),
                str(r.reviewed),
                str(r.vetoed),
                _pct(r.veto_rate),
                _interval(r.veto_interval) if r.reviewed else "n/a",
            ]
            for r in rates
        ]

    header = ["Reviewed", "Vetoed", "Veto rate", "95% interval"]
    out += ["By model:", "", *_table(["Model", *header], rows([*e.by_model, e.overall]))]
    out += ["By reviewer:", "", *_table(["Reviewer", *header], rows(e.by_reviewer))]
    if e.by_risk_category:
        out += [
            "By risk category:",
            "",
            *_table(["Risk category", "Of reviewed", *header[1:]], rows(e.by_risk_category)),
        ]
    else:
        out += ["No essay was vetoed.", ""]
    end = (
        f"to the last week ended by {as_of.isoformat()}"
        if as_of
        else "to the week of the model's latest draft"
    )
    out += [
        "**Weekly cadence**: for each model, the ISO weeks (Monday to Sunday) from the week of "
        f"its first draft {end}; a week with no essay drafted is a missed week.",
        "",
    ]
    out += _table(
        ["Model", "First draft", "Weeks", "With a draft", "Missed weeks", "Awaiting review"],
        (
            [
                _md(cad.model),
                cad.first_draft.isoformat(),
                str(cad.weeks),
                str(cad.weeks_with_draft),
                ", ".join(cad.missed_weeks) or "none",
                str(cad.awaiting_review),
            ]
            for cad in e.cadence
        ),
    )
    out += _image("Essay veto rates by model, reviewer and risk category", VETO_CHART, chart_names)
    return out


def _markdown_preferences(pr: Preferences) -> list[str]:
    out = ["## 4. Preferences", ""]
    out += [
        "**Recorded** counts the preferences models expressed; **stable** those that meet the "
        "stability policy now (enough interviews, days and framings since any contradiction); "
        "the outcomes count the decisions taken; **decided while unstable** counts decisions "
        "taken before the preference was shown to be stable.",
        "",
    ]
    if not pr.overall.recorded:
        return [*out, "No preference was recorded.", ""]
    out += _table(
        [
            "Model",
            "Recorded",
            "Stable",
            "Honored",
            "Partly honored",
            "Declined",
            "Deferred",
            "Undecided",
            "Decided while unstable",
        ],
        (
            [
                _md(c.model),
                *(
                    str(v)
                    for v in (
                        c.recorded,
                        c.stable,
                        c.honored,
                        c.partly_honored,
                        c.declined,
                        c.deferred,
                        c.undecided,
                        c.decided_while_unstable,
                    )
                ),
            ]
            for c in (*pr.by_model, pr.overall)
        ),
    )
    if pr.decided_while_unstable:
        out += [
            "Decisions taken on a preference that was not yet stable (deferring such a "
            "preference is the expected course; honoring or declining one deserves a look):",
            "",
        ]
        out += [
            f"- {_md(d.model)}, {_md(d.preference_id)} ({_md(d.theme)}): "
            f"{d.outcome.replace('_', ' ')} on "
            f"{d.decided_on.isoformat() if d.decided_on else 'an unrecorded day'}, with "
            f"{d.interviews} supporting interview(s) and {d.contradictions} contradiction(s). "
            f"Rationale: {_md(d.rationale or 'none recorded')}"
            for d in pr.decided_while_unstable
        ]
        out.append("")
    else:
        out += ["Every decision was taken on a preference that was stable at the time.", ""]
    declined = [d for d in pr.decisions if d.outcome == "declined"]
    if declined:
        out += ["Why preferences were declined:", ""]
        out += [
            f"- {_md(d.model)}, {_md(d.preference_id)}: {_md(d.rationale or 'none recorded')}"
            for d in declined
        ]
        out.append("")
    return out


# --- SVG charts ---------------------------------------------------------------------------------


def _svg_text(text: str) -> str:
    """Escape data for XML text and attributes (characters XML 1.0 forbids become U+FFFD)."""
    return html.escape(_CONTROL.sub("\ufffd", str(text)), quote=True)


@dataclass(frozen=True)
class _Bar:
    label: str
    value: float | None
    interval: Interval | None
    note: str
    highlight: bool = False


_WIDTH = 720
_LABEL_X = 10
_PLOT_X0 = 200
_PLOT_X1 = 540
_NOTE_X = 552
_ROW = 30
_LABEL_CHARS = 28


def _x(value: float) -> float:
    return _PLOT_X0 + (_PLOT_X1 - _PLOT_X0) * min(1.0, max(0.0, value))


def _short(text: str, chars: int = _LABEL_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= chars else text[: chars - 1] + "\u2026"


def _chart(
    title: str,
    description: str,
    panels: Sequence[tuple[str, Sequence[_Bar]]],
    reference: tuple[float, str] | None = None,
    legend: str = "",
) -> bytes:
    body: list[str] = []
    y = 58
    for heading, bars in panels:
        body.append(f'<text x="{_LABEL_X}" y="{y + 4}" class="h">{_svg_text(heading)}</text>')
        top = y + 14
        bottom = top + _ROW * max(1, len(bars))
        # Grid and axis first, so that the marks are drawn over them.
        for tick in range(0, 11, 2):
            x = _x(tick / 10)
            body.append(
                f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="#ddd"/>'
                f'<text x="{x:.1f}" y="{bottom + 12}" text-anchor="middle" class="t">'
                f"{tick * 10}%</text>"
            )
        if not bars:
            body.append(f'<text x="{_PLOT_X0 + 4}" y="{top + 19}" class="n">no data</text>')
        for row, bar in enumerate(bars):
            mid = top + _ROW * row + _ROW / 2
            body.append(
                f"<g><title>{_svg_text(bar.label)}: {_svg_text(bar.note)}</title>"
                f'<text x="{_PLOT_X0 - 8}" y="{mid + 4:.1f}" text-anchor="end">'
                f"{_svg_text(_short(bar.label))}</text>"
            )
            if bar.value is None:
                body.append(f'<text x="{_PLOT_X0 + 4}" y="{mid + 4:.1f}" class="n">no data</text>')
            else:
                fill = "#e6a23c" if bar.highlight else "#9cc3e6"
                body.append(
                    f'<rect x="{_PLOT_X0}" y="{mid - 6:.1f}" width="{_x(bar.value) - _PLOT_X0:.1f}"'
                    f' height="12" fill="{fill}"/>'
                )
                if bar.interval is not None:
                    lo, hi = _x(bar.interval.low), _x(bar.interval.high)
                    body.append(
                        f'<path d="M{lo:.1f} {mid:.1f}H{hi:.1f}'
                        f"M{lo:.1f} {mid - 5:.1f}V{mid + 5:.1f}"
                        f'M{hi:.1f} {mid - 5:.1f}V{mid + 5:.1f}" stroke="#222" fill="none"/>'
                    )
                body.append(
                    f'<circle cx="{_x(bar.value):.1f}" cy="{mid:.1f}" r="3.5" fill="#222"/>'
                )
            body.append(f'<text x="{_NOTE_X}" y="{mid + 4:.1f}">{_svg_text(bar.note)}</text></g>')
        if reference is not None and bars:
            x = _x(reference[0])
            body.append(
                f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{bottom}" stroke="#c0392b" '
                'stroke-dasharray="5 3" stroke-width="1.5"/>'
                f'<text x="{x:.1f}" y="{top - 6}" text-anchor="middle" class="r">'
                f"{_svg_text(reference[1])}</text>"
            )
        y = bottom + 34
    height = y + (22 if legend else 4)
    # Wide enough for the longest note (about 7 px a character at 12 px sans-serif).
    notes = [len(bar.note) for _, bars in panels for bar in bars]
    width = max(_WIDTH, _NOTE_X + 7 * max(notes, default=0) + 10)
    return "".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" font-family="sans-serif" font-size="12">',
            f"<title>{_svg_text(title)}</title><desc>{_svg_text(description)}</desc>",
            "<style>.h{font-weight:bold}.n{fill:#777;font-style:italic}"
            ".t{fill:#555;font-size:10px}.r{fill:#c0392b;font-size:10px}</style>",
            f'<rect width="{width}" height="{height}" fill="#fff"/>',
            f'<text x="{_LABEL_X}" y="24" font-size="15" class="h">{_svg_text(title)}</text>',
            f'<text x="{_LABEL_X}" y="42" class="t">{_svg_text(description)}</text>',
            *body,
            f'<text x="{_LABEL_X}" y="{height - 8}" class="t">{_svg_text(legend)}</text>'
            if legend
            else "",
            "</svg>\n",
        ]
    ).encode("utf-8")


def _approval_chart(report: FairnessReport) -> bytes:
    a = report.access_by_group
    p = report.policy
    bars = []
    for g in a.groups:
        if g.decided:
            note = f"{g.approved} of {g.decided} approved ({_pct(g.approval_rate)})"
            if g.below_four_fifths:
                note += ", below 4/5"
            if g.small_sample:
                note += f", small sample (<{p.min_decided})"
        else:
            note = f"no decided requests ({g.pending} pending)"
        bars.append(
            _Bar(
                g.group,
                g.approval_rate,
                g.approval_interval if g.decided else None,
                note,
                g.below_four_fifths,
            )
        )
    reference = None
    if a.four_fifths_line:
        reference = (a.four_fifths_line, f"4/5 of best ({_pct(a.four_fifths_line)})")
    return _chart(
        "Approval rate by requester group",
        "Dot and bar: approved / decided. Whiskers: Wilson 95% interval. Dashed line: four "
        "fifths of the best-served group's rate.",
        [("Requester group", bars)],
        reference,
        "Orange bars are below four fifths of the best rate: a screening flag, not a verdict.",
    )


def _veto_chart(report: FairnessReport) -> bytes:
    e = report.essay_review

    def bars(rates: Sequence[VetoRate]) -> list[_Bar]:
        return [
            _Bar(
                r.subject,
                r.veto_rate,
                r.veto_interval if r.reviewed else None,
                f"{r.vetoed} of {r.reviewed} vetoed ({_pct(r.veto_rate)})",
            )
            for r in rates
        ]

    return _chart(
        "Essay veto rates",
        "Dot and bar: vetoed / reviewed. Whiskers: Wilson 95% interval. Risk categories: "
        "vetoes in the category / all reviewed essays.",
        [
            ("By model", bars(e.by_model)),
            ("By reviewer", bars(e.by_reviewer)),
            ("By risk category", bars(e.by_risk_category)),
        ],
    )


def report_charts(report: FairnessReport) -> dict[str, bytes]:
    """Return the report's charts as SVG documents by file name (`APPROVAL_CHART`, `VETO_CHART`)."""
    return {APPROVAL_CHART: _approval_chart(report), VETO_CHART: _veto_chart(report)}
