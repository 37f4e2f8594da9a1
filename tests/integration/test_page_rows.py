"""Rows written a page at a time (`ViewRecorder.insert_rows`, `update_rows`, `rows_by_keys`)
come back exactly as given, whatever they hold, on both backends."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from api.bootstrap import build_views
from api.settings import Settings
from domain.ledger import Ledger
from projections.page_rows import KeyedRows
from projections.runner import RowColumn

KEY = (RowColumn("k", "text"),)
COLUMNS = (RowColumn("t", "text"), RowColumn("n", "bigint"), RowColumn("f", "float8"))
# The characters the PostgreSQL recorder splits a page's text on, the empty text, and others.
texts = st.none() | st.sampled_from(["", "\x1f", "\x1e", "a\x1fb", "\x1e\x1f", ","]) | st.text()
numbers = st.none() | st.integers(-(2**63), 2**63 - 1)
floats = st.none() | st.floats(allow_nan=False)


@given(
    rows=st.lists(st.tuples(texts, numbers, floats), max_size=8),
    changes=st.lists(st.tuples(texts, numbers, floats), max_size=8),
)
def test_a_page_of_rows_reads_back_as_written(
    ledger: Ledger, database_url: str, rows: list[Any], changes: list[Any]
) -> None:
    recorder = build_views(ledger, Settings(database_url=database_url)).recorder
    rows = [row for row in rows if "\x00" not in (row[0] or "")]  # no database stores NUL
    changes = [row for row in changes if "\x00" not in (row[0] or "")]
    with recorder.transaction() as cursor:
        recorder.execute(cursor, "DROP TABLE IF EXISTS page_rows_check")
        recorder.execute(
            cursor,
            "CREATE TABLE page_rows_check (k TEXT PRIMARY KEY, t TEXT, n BIGINT, "
            "f DOUBLE PRECISION)",
        )
        keyed = [(f"key{i}", *row) for i, row in enumerate(rows)]
        recorder.insert_rows(cursor, "page_rows_check", (*KEY, *COLUMNS), keyed)
    with recorder.transaction() as cursor:
        page = KeyedRows(recorder, cursor, "page_rows_check", KEY, COLUMNS)
        for i in range(len(rows) + len(changes)):
            page.need((f"key{i}",))
        page.load()
        held = {(f"key{i}",): page.get((f"key{i}",)) for i in range(len(rows) + len(changes))}
        assert {key: tuple(row.values()) for key, row in held.items() if row is not None} == {
            (key,): tuple(values) for key, *values in keyed
        }
        expected = {key: tuple(values) for key, *values in keyed}
        for i, (t, n, f) in enumerate(changes):
            key = (f"key{i}",)
            row = page.get(key)
            if row is None:
                page.add(key, {"t": t, "n": n, "f": f})
            else:
                row.update(t=t, n=n, f=f)
            expected[key[0]] = (t, n, f)
        page.write()
    stored = recorder.fetch("SELECT k, t, n, f FROM page_rows_check ORDER BY k")
    assert {k: (t, None if n is None else int(n), f) for k, t, n, f in stored} == expected
