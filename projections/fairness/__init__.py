"""The fairness report: were requesters, models and essays treated alike?

The report is one pure function of the registers' rows (`projections.rows`), rendered as
text and charts without writing anything; docs/fairness.md defines every figure and its limits.

- `figures`: the report's dataclasses and the computations (Wilson intervals, the four-fifths
  rule, criteria consistency, essay review, preferences), `fairness_report`, `FairnessPolicy`;
- `formats`: the report as JSON values, a long-format CSV and a Markdown page;
- `charts`: the report's SVG charts, by file name;
- `text`: escaping data for Markdown and SVG, and writing rates as percentages.

The names other code uses are re-exported here, so importing the package imports all four
modules (standard library only); the CLI imports it inside its commands, not at start-up.
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
    FairnessPolicy,
    FairnessReport,
    Interval,
    LedgerPosition,
    fairness_report,
    iso_week,
    wilson_interval,
)
from projections.fairness.formats import CSV_COLUMNS, report_csv, report_json, report_markdown

__all__ = [
    "ALL_GROUPS",
    "ALL_MODELS",
    "APPROVAL_CHART",
    "CRITERIA_ORDER",
    "CSV_COLUMNS",
    "DEFAULT_POLICY",
    "VETO_CHART",
    "FairnessPolicy",
    "FairnessReport",
    "Interval",
    "LedgerPosition",
    "chart_data_uris",
    "fairness_report",
    "iso_week",
    "report_charts",
    "report_csv",
    "report_json",
    "report_markdown",
    "wilson_interval",
]
