"""Justification search: decisions ranked by their rationale and evidence text.

SQLite uses FTS5 (BM25 ranking, Porter stemming); PostgreSQL a ``tsvector`` column with a GIN
index (``ts_rank``, decisions matching every word first; English stemming). Each hit is a
timeline entry: the decision,
who took it, when, its facts (criteria scores included) and its evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from projections.runner import Context, View, ViewRecorder
from projections.views import TimelineEntry, timeline_entries

_WORD = re.compile(r"\w+", re.UNICODE)


def searchable_text(event: Any) -> str:
    """What a decision is found by: its rationale, its evidence, and its textual facts."""
    # A sealed value (a person's) is found by nothing: its text is not the ledger's to index.
    parts = [event.rationale] if isinstance(event.rationale, str) else []
    parts += [f"{item.description} {item.uri}" for item in event.evidence]
    for name, value in sorted(vars(event).items()):
        if name in ("rationale", "originator_topic") or name.startswith("originator"):
            continue
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, tuple | list):
            parts += [item for item in value if isinstance(item, str)]
    return "\n".join(parts)


class SearchView(View):
    """The full-text index of every decision's justification."""

    name = "search"
    tables = ("view_search",)

    def create_statements(self, dialect: str) -> list[str]:
        """FTS5 on SQLite; a tsvector with a GIN index on PostgreSQL."""
        if dialect == "sqlite":
            return [
                "CREATE VIRTUAL TABLE IF NOT EXISTS view_search USING fts5("
                "body, model UNINDEXED, type UNINDEXED, sequence UNINDEXED, "
                "tokenize = 'porter unicode61')"
            ]
        return [
            "CREATE TABLE IF NOT EXISTS view_search (sequence BIGINT PRIMARY KEY, "
            "model TEXT NOT NULL, type TEXT NOT NULL, document tsvector NOT NULL)",
            "CREATE INDEX IF NOT EXISTS view_search_document ON view_search USING GIN (document)",
        ]

    def apply(self, cursor: Any, event: Any, context: Context) -> None:
        """Index one decision."""
        p = self.view.param
        text = searchable_text(event)
        kind = type(event).__name__
        if self.view.dialect == "sqlite":
            self.view.execute(
                cursor,
                "INSERT INTO view_search (body, model, type, sequence) "
                f"VALUES ({p}, {p}, {p}, {p})",
                (text, context.model, kind, context.position),
            )
        else:
            self.view.execute(
                cursor,
                "INSERT INTO view_search (sequence, model, type, document) "
                f"VALUES ({p}, {p}, {p}, to_tsvector('english', {p}))",
                (context.position, context.model, kind, text),
            )


@dataclass(frozen=True)
class Hit:
    """One decision found, with its rank (higher is better)."""

    rank: float
    entry: TimelineEntry


def search(
    recorder: ViewRecorder,
    query: str,
    *,
    model: str | None = None,
    event_type: str | None = None,
    limit: int = 20,
) -> list[Hit]:
    """Decisions whose justification matches any word of ``query``, best first."""
    p = recorder.param
    words = _WORD.findall(query.lower())
    if not words:
        return []
    filters = ""
    params: list[Any] = []
    if model is not None:
        filters += f" AND model = {p}"
        params.append(model)
    if event_type is not None:
        filters += f" AND type = {p}"
        params.append(event_type)
    if recorder.dialect == "sqlite":
        # Each word quoted: FTS5 syntax in the query is taken as plain words.
        expression = " OR ".join('"' + word.replace('"', "") + '"' for word in words)
        rows = recorder.fetch(
            "SELECT CAST(sequence AS INTEGER), -bm25(view_search) FROM view_search "  # noqa: S608
            f"WHERE view_search MATCH {p}{filters} ORDER BY bm25(view_search) LIMIT {p}",
            (expression, *params, limit),
        )
    else:
        # Any word matches; a decision matching every word ranks above those matching some.
        rows = recorder.fetch(
            "SELECT sequence, ts_rank(document, anyword) "
            "+ CASE WHEN document @@ everyword THEN 1 ELSE 0 END AS rank "
            f"FROM view_search, to_tsquery('english', {p}) AS anyword, "
            f"to_tsquery('english', {p}) AS everyword "
            f"WHERE document @@ anyword{filters} ORDER BY rank DESC, sequence LIMIT {p}",
            (" | ".join(words), " & ".join(words), *params, limit),
        )
    entries = timeline_entries(recorder, [int(row[0]) for row in rows])
    return [Hit(float(row[1]), entries[int(row[0])]) for row in rows if int(row[0]) in entries]
