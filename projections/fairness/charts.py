"""The fairness report's charts, as hand-written SVG (no plotting dependency).

`report_charts` returns the chart of approval rates by requester group (`APPROVAL_CHART`) and
the chart of essay veto rates (`VETO_CHART`) as SVG documents by file name, and writes nothing.
Every piece of data in them is escaped.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from projections.fairness.figures import FairnessReport, Interval, VetoRate
from projections.fairness.text import _p_is, _pct, _svg_text

APPROVAL_CHART = "approval-by-group.svg"
"""File name of the chart of approval rates by requester group."""
VETO_CHART = "veto-rates.svg"
"""File name of the chart of essay veto rates."""


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
            if g.flagged:
                note += f", below 4/5 and {_p_is(g.fisher_p)}: flagged"
            elif g.below_four_fifths:
                note += f", below 4/5 ({_p_is(g.fisher_p)})"
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
        "Orange bars are below four fifths of the best rate; flagged ones are also unlikely by "
        "chance (Fisher's exact test): a signal, not a verdict.",
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


def chart_data_uris(report: FairnessReport) -> dict[str, str]:
    """The report's charts as ``data:image/svg+xml;base64,...`` URIs, by file name.

    For a Markdown page printed alone (no files beside it): the charts travel inside it.
    """
    return {
        name: "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")
        for name, svg in report_charts(report).items()
    }
