"""The printable fairness report in a real renderer: Chromium prints it to a PDF a board can file.

`report_html` is loaded into Debian's Chromium (driven by Playwright, `tests.served`, no server
needed: the page is standalone), laid out for print on A4, and printed with ``page.pdf()``. The
PDF must be made, and the summary table must be visible in print media and fit on the first
page, as the summary the report opens with.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from projections.fairness import report_html
from tests.served import chromium, require_browser
from tests.unit.test_fairness_statistics import summary_report

# A4 less the page's margins (210 x 297 mm, 14 mm left and right, 16 + 18 mm top and bottom),
# in CSS pixels (96 per inch, 25.4 mm per inch).
PRINTABLE_WIDTH = round((210 - 28) * 96 / 25.4)
PRINTABLE_HEIGHT = round((297 - 34) * 96 / 25.4)


@pytest.fixture(scope="module")
def printed() -> Iterator[Any]:
    """A page holding the printable report, laid out for print at A4's printable width."""
    require_browser()
    with chromium() as browser:
        context = browser.new_context(
            viewport={"width": PRINTABLE_WIDTH, "height": PRINTABLE_HEIGHT},
            java_script_enabled=False,
        )
        page = context.new_page()
        page.set_content(report_html(summary_report()), wait_until="load")
        page.emulate_media(media="print")
        try:
            yield page
        finally:
            context.close()


def test_the_summary_table_is_visible_in_print_and_fits_the_first_page(printed: Any) -> None:
    table = printed.locator("table[data-summary]")
    assert table.is_visible()
    rows = table.locator("tbody tr")
    assert rows.count() == 4  # few, many, other, all groups
    assert "flagged; below four fifths; not plausibly chance" in table.inner_text()
    box = printed.locator("#summary").bounding_box()
    assert box is not None
    assert 0 < box["height"] <= PRINTABLE_HEIGHT
    # Both charts are drawn from inside the page (data URIs), with a real size.
    for image in printed.locator("figure img").all():
        assert image.evaluate("img => img.complete && img.naturalWidth > 0")


def test_chromium_prints_the_report_to_pdf(printed: Any) -> None:
    pdf: bytes = printed.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    assert pdf.startswith(b"%PDF-")
    pages = len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))
    # The summary alone on the first page, then the four sections.
    assert pages >= 2
    assert pdf.rstrip().endswith(b"%%EOF")
