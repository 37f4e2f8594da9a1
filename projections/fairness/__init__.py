"""The fairness report: were requesters, models and essays treated alike?

The report is one pure function of the registers' rows (`projections.rows`), rendered as
text and charts without writing anything; docs/fairness.md defines every figure and its limits.

- `figures`: the report's dataclasses and the computations (Wilson intervals, the four-fifths
  rule, Fisher's exact test, folding small groups, criteria consistency, essay review,
  preferences), `fairness_report`, `FairnessPolicy`;
- `summary`: the summary the report opens with, in the form audits publish (`board_summary`);
- `formats`: the report as JSON values, a long-format CSV, a Markdown page and a printable
  HTML page (`report_html`, from ``templates/report.html``);
- `charts`: the report's SVG charts, by file name;
- `text`: escaping data for Markdown and SVG, and writing rates and p-values.

The names other code uses are re-exported here, so importing the package imports these modules
(standard library only); SciPy (Fisher's test) and Jinja2 (the printable page) are imported only
when a report needs them, and the CLI imports the package inside its commands, not at start-up.
"""

from projections.fairness.charts import (
    APPROVAL_CHART,
    VETO_CHART,
    chart_data_uris,
    report_charts,
)
from projections.fairness.figures import (
    ALL_GROUPS,
    ALL_MODELS,
    CRITERIA_ORDER,
    DEFAULT_POLICY,
    IMPACT_RANGE,
    OTHER_GROUP,
    FairnessPolicy,
    FairnessReport,
    Interval,
    LedgerPosition,
    fairness_report,
    fisher_exact_p,
    iso_week,
    wilson_interval,
)
from projections.fairness.formats import (
    CSV_COLUMNS,
    report_csv,
    report_html,
    report_json,
    report_markdown,
)
from projections.fairness.summary import BoardSummary, board_summary

__all__ = [
    "ALL_GROUPS",
    "ALL_MODELS",
    "APPROVAL_CHART",
    "CRITERIA_ORDER",
    "CSV_COLUMNS",
    "DEFAULT_POLICY",
    "IMPACT_RANGE",
    "OTHER_GROUP",
    "VETO_CHART",
    "BoardSummary",
    "FairnessPolicy",
    "FairnessReport",
    "Interval",
    "LedgerPosition",
    "board_summary",
    "chart_data_uris",
    "fairness_report",
    "fisher_exact_p",
    "iso_week",
    "report_charts",
    "report_csv",
    "report_html",
    "report_json",
    "report_markdown",
    "wilson_interval",
]
