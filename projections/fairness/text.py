"""How the report's data is written into its text and SVG outputs: escaped, rates as percents.

Group, model and reviewer names, themes and rationales are data, never markup: `_md` escapes
them for Markdown, `_svg_text` for XML text and attributes, and both replace the characters
XML 1.0 forbids. `_pct` writes a rate, and `_p_value` a p-value, the way the Markdown tables,
the charts and the HTML pages all show it.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

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


def _svg_text(text: str) -> str:
    """Escape data for XML text and attributes (characters XML 1.0 forbids become U+FFFD)."""
    return html.escape(_CONTROL.sub("\ufffd", str(text)), quote=True)


def _p_value(value: float | None) -> str:
    """A p-value as the report prints it: three decimals, "< 0.001" below that, "n/a" for none."""
    if value is None:
        return "n/a"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _p_is(value: float | None) -> str:
    """A p-value in a sentence: "p = 0.154", "p < 0.001", or "no p-value"."""
    if value is None:
        return "no p-value"
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


def moment_text(moment: datetime) -> str:
    """A report's moment T as ISO 8601 in UTC, ``Z``-suffixed, exact to the microsecond."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
