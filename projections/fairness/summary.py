"""The summary a fairness report opens with: one table a board can file, in the form audits use.

Audits of automated decisions published under New York City Local Law 144 (6 RCNY 5-301) give,
on one page, the date of the data, its source, the number of records in each category, each
category's selection rate and impact ratio, and what was left out and why. `board_summary`
builds that page's content once, from a computed `FairnessReport`, so that every rendering (the
JSON's ``summary``, the CSV's ``summary`` lines, the Markdown's first section, the web page and
the printable page) shows the same figures; it computes nothing the report does not hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from projections.fairness.figures import FairnessReport, GroupAccess

FLAG_TEXT = {
    "flagged": "flagged",
    "below_four_fifths": "below four fifths",
    "not_plausibly_chance": "not plausibly chance",
    "outside_impact_range": "outside 0.8 to 1.25",
    "small_sample": "small sample",
    "no_decisions": "no decisions",
}
"""Each flag code of `SummaryGroup.flags`, in words, in the order flags are listed."""

EXCLUSION_TEXT = {
    "folded": "requester group under the minimum share of requests, folded into other",
    "undecided": "requests not decided (pending, or appealed and awaiting the new decision): "
    "in no selection rate",
    "not_yet_in_effect": "events recorded by T whose decision takes effect after T",
    "recorded_after": "events stored among the log's first events but recorded after T",
}
"""Each reason of `Exclusion.reason`, in words."""


@dataclass(frozen=True)
class DataSource:
    """Where the figures come from: the signed log's checkpoint, and the events counted."""

    origin: str | None  # the log's origin line (None: no log was read)
    checkpoint_size: int | None  # the events read, the checkpoint's tree size
    checkpoint_root: str | None  # their Merkle root, base64
    log_size: int  # events up to and including the last one recorded by T
    events_counted: int  # recorded and in effect by T


@dataclass(frozen=True)
class SummaryGroup:
    """One requester group's line of the summary (or every group together)."""

    group: str
    requests: int
    decided: int  # the records the rates are computed from
    approved: int
    selection_rate: float | None  # approved / decided, the approval rate
    impact_ratio: float | None  # selection rate / the best-served group's (the disparity ratio)
    fisher_p: float | None  # Fisher's exact test against the best-served group
    flags: tuple[str, ...]  # codes of `FLAG_TEXT`, in its order

    @property
    def flag_text(self) -> tuple[str, ...]:
        """The flags in words (`FLAG_TEXT`)."""
        return tuple(FLAG_TEXT[code] for code in self.flags)


@dataclass(frozen=True)
class Exclusion:
    """Records the figures leave out, and why (a code of `EXCLUSION_TEXT`)."""

    reason: str
    subject: str  # the folded group's name; empty for events and undecided requests
    records: int

    @property
    def text(self) -> str:
        """Why these records were left out, in words (`EXCLUSION_TEXT`)."""
        return EXCLUSION_TEXT[self.reason]


@dataclass(frozen=True)
class BoardSummary:
    """The report's first section: date, source, per-group figures and what was left out."""

    moment: datetime | None  # T (None: the rows were given directly, no ledger read)
    as_of: date | None  # the day missed essay weeks run to
    source: DataSource | None
    groups: tuple[SummaryGroup, ...]  # by name, "other" among them
    overall: SummaryGroup  # every request together: no impact ratio, no test
    best_groups: tuple[str, ...]
    fisher_reference: str | None  # the best-served group the tests compare with
    significance: float
    impact_reference: str | None  # with the impact range check: its reference group
    excluded: tuple[Exclusion, ...]
    flagged: int  # groups flagged (below four fifths and not plausibly chance)
    reproduce: str | None  # the command that recomputes the report from an audit bundle


def _flags(g: GroupAccess, with_range: bool) -> tuple[str, ...]:
    raised = {
        "flagged": g.flagged,
        "below_four_fifths": g.below_four_fifths,
        "not_plausibly_chance": g.chance_plausible is False,
        "outside_impact_range": with_range and g.in_impact_range is False,
        "small_sample": g.small_sample and g.decided > 0,
        "no_decisions": g.decided == 0,
    }
    return tuple(code for code in FLAG_TEXT if raised[code])


def _line(g: GroupAccess, with_range: bool) -> SummaryGroup:
    return SummaryGroup(
        group=g.group,
        requests=g.requests,
        decided=g.decided,
        approved=g.approved,
        selection_rate=g.approval_rate,
        impact_ratio=g.disparity_ratio,
        fisher_p=g.fisher_p,
        flags=_flags(g, with_range),
    )


def board_summary(report: FairnessReport) -> BoardSummary:
    """The summary of ``report``: every figure in it is read from the report as computed."""
    from projections.fairness.reproduce import reproduce_command

    a = report.access_by_group
    p = report.policy
    position = report.position
    excluded = [Exclusion("folded", name, n) for name, n in a.folded]
    if a.overall.pending:
        excluded.append(Exclusion("undecided", "", a.overall.pending))
    if position is not None:
        if position.not_yet_in_effect:
            excluded.append(Exclusion("not_yet_in_effect", "", position.not_yet_in_effect))
        if position.recorded_after:
            excluded.append(Exclusion("recorded_after", "", position.recorded_after))
    groups = tuple(_line(g, p.impact_range) for g in a.groups)
    return BoardSummary(
        moment=None if position is None else position.moment,
        as_of=report.as_of,
        source=None
        if position is None
        else DataSource(
            origin=position.origin,
            checkpoint_size=position.checkpoint_size,
            checkpoint_root=position.checkpoint_root,
            log_size=position.log_size,
            events_counted=position.events_counted,
        ),
        groups=groups,
        overall=_line(a.overall, with_range=False),
        best_groups=a.best_groups,
        fisher_reference=a.fisher_reference,
        significance=p.significance,
        impact_reference=a.impact_reference,
        excluded=tuple(excluded),
        flagged=sum("flagged" in g.flags for g in groups),
        reproduce=None if position is None else reproduce_command(report),
    )
