"""The fairness report as text: JSON values, a long-format CSV, a Markdown page, a printable page.

Each renderer reads a `FairnessReport` (`projections.fairness.figures`) and returns text or
plain values, writing nothing: `report_json` (plain JSON values), `report_csv` (one
long-format CSV, layout in `CSV_COLUMNS`), `report_markdown` (a board-readable page that
links the charts of `projections.fairness.charts` by relative file name) and `report_html` (a
standalone HTML page for A4, rendered by Jinja2, imported only when it is asked for). Each opens
with the board's summary (`projections.fairness.summary`); every piece of data is escaped.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import fields, is_dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from projections.fairness.charts import APPROVAL_CHART, VETO_CHART, chart_data_uris
from projections.fairness.figures import (
    ALL_GROUPS,
    OTHER_GROUP,
    AccessByGroup,
    CriteriaConsistency,
    EssayReview,
    FairnessPolicy,
    FairnessReport,
    GroupAccess,
    Interval,
    Preferences,
    VetoRate,
)
from projections.fairness.summary import EXCLUSION_TEXT, FLAG_TEXT, SummaryGroup
from projections.fairness.text import _md, _p_is, _p_value, _pct, moment_text

if TYPE_CHECKING:
    import jinja2

    from projections.runner import Basis

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


def report_json(report: FairnessReport, basis: Basis | None = None) -> dict[str, Any]:
    """Return the report as plain JSON values (dicts, lists, str, int, float, bool, None).

    Field names are those of the dataclasses; dates are ISO 8601 strings; intervals are
    ``{"low": .., "high": ..}``; criteria are ``[[name, score], ...]``; channels
    ``[[channel, audience], ...]``. Floats are not rounded. ``summary``, right after
    ``report``, is the board's summary (`projections.fairness.summary.BoardSummary`), the same
    figures as the sections, gathered. With a ``basis`` (`projections.queries.Queries.basis`),
    its ``basis`` names the checkpoint it stands on.
    """
    result: dict[str, Any] = {"report": "fairness", "summary": _plain(report.summary)}
    result.update(_plain(report))
    if basis is not None:
        result["basis"] = basis.as_json()
    return result


# --- CSV ----------------------------------------------------------------------------------------

CSV_COLUMNS = ("section", "subject", "item", "figure", "value")
"""The CSV's layout: one figure per line.

``section`` is one of ``summary`` (the board's summary: the date, the data source, then for
each group, subject the group, ``requests``, ``decided``, ``approved``, ``selection_rate``,
``impact_ratio``, ``fisher_p`` and ``flags``), ``excluded`` (what the figures leave out: item
the reason, subject a folded group, figure ``records``), ``settings``, ``basis`` (what the
report stands on: ``events``,
``recorded``, ``behind_ledger``, ``relation``, ``unsigned``, ``checkpoint_size``,
``checkpoint_root_hash``, ``checkpoint_signed_at``), ``access_by_group``, ``denial_reason``,
``criteria_policy``, ``criteria_pair``, ``criteria_missing``, ``veto_by_model``,
``veto_by_reviewer``, ``veto_by_risk_category``, ``essay_cadence``, ``preferences``,
``preference_decision``;
``subject`` is the group, model, reviewer or category (the first model of a pair);
``item`` is the second model of a pair, a preference's id, or a denial reason code, else empty;
``figure`` is the field name as in the JSON (an interval gives two figures, ``..._low`` and
``..._high``); ``value`` its value: floats to 6 decimals, booleans ``true``/``false``, missing
values empty, lists joined with ``;``, criteria and channels as ``name=value`` joined with ``;``.

Every text cell (a name, a date, a list) that a spreadsheet would read as a formula, one starting
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (or their full-width forms, or any
of these after leading spaces), is written with a ``'`` in front (`csv_text`, after OWASP's
advice on CSV injection): ``=HYPERLINK(...)`` as a model's name arrives as the text
``'=HYPERLINK(...)``. The report's own figures (whole numbers and decimals, such as
``-0.250000``) are written as they are and stay numbers.
"""

# What makes a spreadsheet (Excel, LibreOffice, Google Sheets) read a cell as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_text(text: str) -> str:
    """A text cell as a spreadsheet will show it, never run it: ``'`` before a formula's start.

    ``=1+1``, ``+1``, ``-cmd``, ``@SUM(1)``, and the same after spaces, get a leading ``'``
    (which spreadsheets take as "this is text"); anything else is returned unchanged.
    """
    return "'" + text if text.lstrip(" ").startswith(_FORMULA_START) else text


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


def _csv_rows(
    report: FairnessReport, basis: Basis | None = None
) -> Iterable[tuple[str, str, str, str, Any]]:
    yield from _csv_summary(report)
    p = report.policy
    for f in fields(p):
        yield "settings", "", "", f.name, getattr(p, f.name)
    yield "settings", "", "", "as_of", report.as_of
    if report.position is not None:
        for f in fields(report.position):
            value = getattr(report.position, f.name)
            yield "settings", "", "", f.name, moment_text(value) if f.name == "moment" else value
    if basis is not None:
        shown = basis.as_json()
        checkpoint = shown.pop("checkpoint") or {}
        for name, value in shown.items():
            yield "basis", "", "", name, value
        for name in ("size", "root_hash", "signed_at"):
            yield "basis", "", "", f"checkpoint_{name}", checkpoint.get(name)

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
        yield from each("access_by_group", g.group, "", g, ("group", "denial_reasons"))
    for g in (*a.groups, a.overall):
        for code, count in g.denial_reasons:
            yield "denial_reason", g.group, code, "denied", count
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


def _csv_summary(report: FairnessReport) -> Iterable[tuple[str, str, str, str, Any]]:
    """The summary's lines: they open the CSV, as the summary opens every other form."""
    summary = report.summary
    moment = None if summary.moment is None else moment_text(summary.moment)
    yield "summary", "", "", "moment", moment
    yield "summary", "", "", "as_of", summary.as_of
    if summary.source is not None:
        for f in fields(summary.source):
            yield "summary", "", "", f.name, getattr(summary.source, f.name)
    yield "summary", "", "", "fisher_reference", summary.fisher_reference
    yield "summary", "", "", "significance", summary.significance
    yield "summary", "", "", "impact_reference", summary.impact_reference
    yield "summary", "", "", "flagged", summary.flagged
    for line in (*summary.groups, summary.overall):
        for f in fields(line):
            if f.name != "group":
                yield "summary", line.group, "", f.name, getattr(line, f.name)
    for excluded in summary.excluded:
        yield "excluded", excluded.subject, excluded.reason, "records", excluded.records
    yield "summary", "", "", "reproduce", summary.reproduce


def _csv_cell(value: Any) -> str:
    """A value's cell: a figure (int or float) as its number, anything else as safe text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _csv_value(value)
    return csv_text(_csv_value(value))


def report_csv(report: FairnessReport, basis: Basis | None = None) -> str:
    """Return the report as one CSV in long format (columns `CSV_COLUMNS`, documented there).

    Text cells that would start a formula are neutralised (`csv_text`); figures stay numbers.
    With a ``basis``, its figures follow the settings (section ``basis``).
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for section, subject, item, figure, value in _csv_rows(report, basis):
        cells = (csv_text(section), csv_text(subject), csv_text(item), csv_text(figure))
        writer.writerow((*cells, _csv_cell(value)))
    return out.getvalue()


# --- Markdown -----------------------------------------------------------------------------------


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
    if not target.startswith("data:image/svg+xml;base64,"):
        target = quote(target, safe="/")  # a file name; a data URI (base64) is already safe
    return [f"![{_md(alt)}]({target})", ""]


def _markdown_summary(report: FairnessReport) -> list[str]:
    """The summary the page opens with: date, source, the groups' figures, exclusions, command."""
    summary = report.summary
    p = report.policy
    out = ["## Summary", ""]
    if summary.moment is not None:
        out.append(
            f"- **Date**: T = {moment_text(summary.moment)}. Every figure counts the decisions "
            "recorded at or before T that were in effect by T."
        )
    elif summary.as_of is not None:
        out.append(f"- **Date**: as of {summary.as_of.isoformat()} (rows given directly).")
    source = summary.source
    if source is not None:
        if source.checkpoint_size is not None:
            checkpoint = (
                f"the transparency log {_md(source.origin or '(origin not named)')}, its tree "
                f"of size {source.checkpoint_size} with Merkle root `{source.checkpoint_root}` "
                "(hashed from the events as they were read; whether a signed checkpoint "
                "covers it yet is the report's basis)"
            )
        else:
            checkpoint = "the ledger (no tree of the log named)"
        read = (
            f"the log's first {source.log_size} event(s) up to T"
            if source.log_size
            else "no event (nothing was recorded by T)"
        )
        out.append(
            f"- **Data source**: {checkpoint}; {read}; {source.events_counted} event(s) counted."
        )
    else:
        out.append("- **Data source**: rows given directly; no ledger position is named.")
    reference = summary.fisher_reference
    out.append(
        f"- **Tests**: Fisher's exact test (two-sided) of each group against the best-served "
        f"group{f' ({_md(reference)})' if reference else ''}; a group is **flagged** when it "
        f"is below four fifths and p < {p.significance:g}."
        + (
            f" Impact ratio range 0.8 to 1.25 checked against {_md(summary.impact_reference)}."
            if summary.impact_reference
            else ""
        )
    )
    out.append("")
    if not summary.overall.requests:
        out += ["No access requests were recorded.", ""]
    else:

        def row(line: SummaryGroup) -> list[str]:
            fisher = "reference" if line.group == reference else _p_value(line.fisher_p)
            flags = ", ".join(FLAG_TEXT[code] for code in line.flags)
            return [
                _md(line.group),
                str(line.requests),
                str(line.decided),
                _pct(line.selection_rate),
                _num(line.impact_ratio, 3),
                fisher if line.group != ALL_GROUPS else "",
                _md(flags),
            ]

        out += _table(
            [
                "Group",
                "Requests",
                "Decisions",
                "Selection rate",
                "Impact ratio",
                "Fisher p",
                "Flags",
            ],
            [*(row(g) for g in summary.groups), row(summary.overall)],
        )
        out += [
            f"{summary.flagged} group(s) flagged. The impact ratio is the selection (approval) "
            "rate divided by the best-served group's; section 1 gives every figure.",
            "",
        ]
    if summary.excluded:
        out += ["**Excluded**:", ""]
        for excluded in summary.excluded:
            subject = f"{_md(excluded.subject)}: " if excluded.subject else ""
            out.append(
                f"- {subject}{excluded.records} record(s), {EXCLUSION_TEXT[excluded.reason]}."
            )
        out.append("")
    else:
        out += ["**Excluded**: nothing.", ""]
    if summary.reproduce is not None:
        out += [
            "**To reproduce this report** from an offline audit bundle of the log (`reliquary "
            "export`; BUNDLE, its folder; KEY, the verifier key the operator published), with no "
            f"database, to the same JSON: `{summary.reproduce}`.",
            "",
        ]
    return out


def report_markdown(
    report: FairnessReport,
    chart_names: Mapping[str, str] | None = None,
    basis: Basis | None = None,
) -> str:
    """Return the report as a Markdown page a board can read without a terminal.

    ``chart_names`` maps the chart file names of `report_charts` (`APPROVAL_CHART`,
    `VETO_CHART`) to the relative paths the charts were written to, or to their
    ``data:image/svg+xml;base64,`` URIs (`chart_data_uris`, for a page with no files beside
    it); a chart missing from it is not linked. None links each chart by its own file name, as
    if written beside the page: use None only when the charts are written there. The page
    opens with the board's summary (`projections.fairness.summary`). With a ``basis``, a line
    after the thresholds names the checkpoint the report stands on.
    Every piece of data (group, model, reviewer names, rationales) is escaped.
    """
    p = report.policy
    out: list[str] = ["# Fairness report", ""]
    out += _markdown_summary(report)
    as_of = report.as_of.isoformat() if report.as_of else "the latest recorded essay draft"
    out += [
        f"As of {as_of}. Thresholds: criteria distance {p.criteria_distance:g}, "
        f"small sample below {p.min_decided} decided requests, four-fifths ratio "
        f"{p.four_fifths:g}, intervals at z = {p.z} (1.959964 is 95%), significance level "
        f"{p.significance:g}, groups under {p.min_group_share * 100:g}% of requests folded into "
        f"{OTHER_GROUP}" + (", impact range 0.8 to 1.25 checked" if p.impact_range else "") + ".",
        "",
        "Every figure is a description of what was recorded, not a finding: a flag says where "
        "to look, never that a decision was unfair. The definitions and the limits of every "
        "figure are in the Reliquary documentation, docs/fairness.md.",
        "",
    ]
    if basis is not None:
        out += [f"**Checkpoint**: {_md(basis.text())}", ""]
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
        "- **Disparity ratio**: the group's approval rate divided by the best-served group's "
        f"(the impact ratio of audits); below {p.four_fifths:g} it is **below four fifths**.",
        "- **Fisher p**: the p-value of Fisher's exact test (two-sided) of the group's approved "
        "and denied against the best-served group's: how often a split at least this uneven "
        "would arise by chance if both groups had the same approval rate.",
        f"- **Flag**: below four fifths **and** p below {p.significance:g}; both signals are "
        "shown apart, so a board sees either one.",
        "- **Median days**: the median number of days from request to its (final) decision.",
        f"- **Sample**: fewer than {p.min_decided} decided requests is a small sample.",
        "",
    ]
    if a.folded:
        out += [
            f"**Folded into {OTHER_GROUP}**: "
            + "; ".join(f"{_md(name)} ({n} request(s))" for name, n in a.folded)
            + f", {a.folded_requests} request(s) in all: each group had less than "
            f"{p.min_group_share * 100:g}% of all requests.",
            "",
        ]
    if not a.overall.requests:
        return [*out, "No access requests were recorded.", ""]

    def row(g: GroupAccess) -> list[str]:
        fisher = "reference" if g.group == a.fisher_reference else _p_value(g.fisher_p)
        return [
            _md(g.group),
            str(g.requests),
            str(g.approved),
            str(g.denied),
            str(g.pending),
            _pct(g.approval_rate),
            _interval(g.approval_interval) if g.decided else "n/a",
            _num(g.disparity_ratio, 3),
            "below four fifths" if g.below_four_fifths else "",
            fisher if g.group != ALL_GROUPS else "",
            "**flagged**" if g.flagged else "",
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
            "Fisher p",
            "Flag",
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
        if g.flagged:
            notes.append(
                f"- **Flag**: {_md(g.group)} is approved at {_pct(g.approval_rate)}, "
                f"{_num(g.disparity_ratio, 3)} of the best-served group's rate, below four fifths, "
                f"and Fisher's exact test gives {_p_is(g.fisher_p)}, below "
                f"{p.significance:g}: chance is not a plausible explanation. This is a signal to "
                "look into (purposes, scopes, reasons given), not a finding of unfair treatment."
            )
        elif g.below_four_fifths:
            notes.append(
                f"- **Below four fifths, not flagged**: {_md(g.group)} is approved at "
                f"{_pct(g.approval_rate)}, {_num(g.disparity_ratio, 3)} of the best-served "
                f"group's rate, but Fisher's exact test gives {_p_is(g.fisher_p)}, not "
                f"below {p.significance:g}: chance could explain a difference of this size between "
                "groups of these sizes."
            )
        elif g.chance_plausible is False:
            notes.append(
                f"- **Not plausibly chance, not flagged**: {_md(g.group)} differs from the "
                f"best-served group with {_p_is(g.fisher_p)}, but its ratio "
                f"({_num(g.disparity_ratio, 3)}) is not below four fifths."
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
    if a.overall.resubmissions:
        notes.append(
            f"- **Resubmissions**: {a.overall.resubmissions} request(s) resubmit an earlier "
            "denied request; each is counted as a request of its own, and the denial it "
            "follows stays counted as denied."
        )
    if a.overall.revoked:
        notes.append(
            f"- **Revocations**: {a.overall.revoked} grant(s) revoked after approval, "
            "counted as approved above."
        )
    if notes:
        out += [*notes, ""]
    out += _markdown_impact_range(a)
    out += _markdown_rates(a)
    out += _markdown_denial_reasons(a)
    out += _image(
        "Approval rate by requester group, with 95% interval", APPROVAL_CHART, chart_names
    )
    return out


def _markdown_impact_range(a: AccessByGroup) -> list[str]:
    """Aequitas's check, when asked for: each group's ratio to the reference, in range or not."""
    if a.impact_reference is None:
        return []
    out = [
        f"**Impact range** (Aequitas): each group's approval rate divided by that of "
        f"{_md(a.impact_reference)}, the group with the most decided requests; a group is in "
        "range when the ratio lies between 0.8 and 1.25.",
        "",
    ]
    rows = [
        [
            _md(g.group),
            _num(g.impact_ratio, 3),
            "n/a" if g.in_impact_range is None else "yes" if g.in_impact_range else "**no**",
        ]
        for g in a.groups
    ]
    return [*out, *_table(["Group", "Impact ratio", "In 0.8 to 1.25"], rows)]


def _markdown_rates(a: AccessByGroup) -> list[str]:
    """Appeals, overturns and revocations by group, each rate beside its counts."""
    out = [
        "**Appeals and revocations**: the appeal rate is denials appealed / requests first "
        "denied; the overturn rate, appeals approved / appeals decided again; the revocation "
        "rate, grants revoked / requests approved.",
        "",
    ]
    rows = [
        [
            _md(g.group),
            str(g.first_denied),
            str(g.appealed),
            _pct(g.appeal_rate),
            str(g.appeals_decided),
            str(g.overturned_on_appeal),
            _pct(g.overturn_rate),
            str(g.revoked),
            _pct(g.revocation_rate),
        ]
        for g in (*a.groups, a.overall)
    ]
    header = [
        "Group",
        "First denied",
        "Appealed",
        "Appeal rate",
        "Appeals decided",
        "Overturned",
        "Overturn rate",
        "Revoked",
        "Revocation rate",
    ]
    return [*out, *_table(header, rows)]


def _markdown_denial_reasons(a: AccessByGroup) -> list[str]:
    """The requests standing denied, by group and reason code (the vocabulary's order)."""
    codes = [code for code, _ in a.overall.denial_reasons]
    if not codes:
        return []
    out = [
        "### Denials by reason",
        "",
        "Requests standing denied, by the reason code the board gave (docs/events.md lists the "
        "codes; `not_coded` marks denials recorded before codes were kept).",
        "",
    ]
    rows = []
    for g in (*a.groups, a.overall):
        counts = dict(g.denial_reasons)
        if counts:
            rows.append([_md(g.group), *(str(counts.get(code, 0)) for code in codes)])
    return [*out, *_table(["Group", *(f"`{code}`" for code in codes)], rows)]


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
    names = c.criteria_names
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


# --- the printable page -------------------------------------------------------------------------

TEMPLATES = Path(__file__).parent / "templates"
"""Where the printable page's Jinja2 template is (package data: ``templates/*.html``)."""


@cache
def _html_environment() -> jinja2.Environment:
    """The environment of the printable page: autoescape on, undefined names an error."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        pct=_pct,
        num=_num,
        p_value=_p_value,
        moment=moment_text,
        share=lambda value: f"{value * 100:g}%",
    )
    return env


def report_html(report: FairnessReport) -> str:
    """Return the report as one standalone HTML page a board can print (A4) and file.

    The summary comes first, on a page of its own when printed; then every section, with both
    charts inside the page as ``data:`` URIs, so the file refers to nothing beside it. Rendered
    by Jinja2 from ``templates/report.html`` with autoescape on: every name is shown as text.
    """
    charts = chart_data_uris(report)
    return (
        _html_environment()
        .get_template("report.html")
        .render(
            report=report,
            s=report.summary,
            charts={"approval": charts[APPROVAL_CHART], "veto": charts[VETO_CHART]},
            flag_text=FLAG_TEXT,
            exclusion_text=EXCLUSION_TEXT,
        )
    )
