"""Justification search: the decisions whose rationale, evidence and facts hold the words asked.

**What a decision is found by.** Its searchable text (`searchable_text`) becomes a set of terms
here, in Python, the same way for both databases (`search_terms`): the text in Unicode NFKC,
lower-cased, cut into runs of letters and digits, each run stemmed by the Snowball English
stemmer (PyStemmer: "decisions" and "decision" are one term), common function words
(`STOPWORDS`) left out. PostgreSQL stores the set as a ``tsvector`` of exactly those terms (no
parser, no dictionary: ``array_to_tsvector``) under a GIN index; SQLite in an FTS5 table whose
tokenizer leaves them as they are. A query's words become terms by the same function, so both
databases find exactly the same decisions for the same words.

**How hits are ranked** (the same on both databases, tested): decisions that hold every term of
the query first, then those that hold some of them; within each, the most recent first (by
sequence, descending). Relevance is that one step, not a score: with it, each page is found by
walking the newest matches until the page is full, which costs the same whether ten decisions
match or half the ledger does (docs/performance.md), and the order is total, so paging is
stable: ``after`` is the `Hit.cursor` of the last hit seen, and the next page starts strictly
after it, whatever was recorded since (new decisions are newer than any cursor: they appear on
a new search, never inside a page already walked).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from projections.runner import Context, RowColumn, View, ViewRecorder
from projections.views import TimelineEntry, timeline_entries

MAX_QUERY_TERMS = 16
"""The most distinct terms a query is searched for; a longer query is refused."""

MAX_TERM_LENGTH = 128
"""A run of letters and digits longer than this is not a term (no word is; a SHA-256 in hex,
64 characters, is one)."""

EVERY_TERM = 2
SOME_TERMS = 1
"""A hit's rank: it holds every term of the query, or only some."""

_STOPWORD_TEXT = (
    "a an and are as at be been but by for from had has have he her his i if in into is it its "
    "me my no not of on or our she so such than that the their them then there these they this "
    "those to too was we were what when which who whom why will with you your"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
"""Words too common to find anything by: not indexed, and dropped from queries."""

_RUN = re.compile(r"[^\W_]+")  # letters and digits: FTS5's unicode61 keeps such a run whole


class InvalidSearch(ValueError):
    """A query or cursor search cannot take (too many terms, a malformed cursor)."""


_stemmers = threading.local()  # a PyStemmer object is not safe to share between threads


def _stem_words(words: list[str]) -> list[str]:
    stemmer = getattr(_stemmers, "english", None)
    if stemmer is None:
        import Stemmer

        stemmer = _stemmers.english = Stemmer.Stemmer("english")
    stemmed: list[str] = stemmer.stemWords(words)
    return stemmed


def _folded(text: str) -> str:
    # NFKC leaves ASCII as it is: most text is, and the check costs far less than the form.
    return (text if text.isascii() else unicodedata.normalize("NFKC", text)).lower()


def _words(text: str) -> list[str]:
    runs = _RUN.findall(_folded(text))
    return [w for w in runs if w not in STOPWORDS and len(w) <= MAX_TERM_LENGTH]


def search_terms(text: str) -> list[str]:
    """The distinct terms a text is found by, sorted."""
    # Each distinct word stemmed once (a decision's text repeats many).
    words = set(_RUN.findall(_folded(text))) - STOPWORDS
    return sorted(set(_stem_words([w for w in words if len(w) <= MAX_TERM_LENGTH])))


def query_terms(query: str) -> list[str]:
    """The distinct terms of a query, in the order written (refused beyond `MAX_QUERY_TERMS`)."""
    terms = list(dict.fromkeys(_stem_words(_words(query))))
    if len(terms) > MAX_QUERY_TERMS:
        raise InvalidSearch(
            f"a search takes at most {MAX_QUERY_TERMS} distinct words (common words such as "
            f"'the' do not count); got {len(terms)}"
        )
    return terms


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


_SQLITE_ROW = (
    RowColumn("rowid", "bigint"),
    RowColumn("terms", "text"),
    RowColumn("model", "text"),
    RowColumn("type", "text"),
)
_POSTGRES_ROW = (
    RowColumn("sequence", "bigint"),
    # The terms as they are: no parser, no dictionary (they were made by `search_terms`).
    RowColumn("document", "text", "array_to_tsvector(string_to_array({}, ' '))"),
    RowColumn("model", "text"),
    RowColumn("type", "text"),
)


class SearchView(View):
    """The terms of every decision's justification, indexed."""

    name = "search"
    tables = ("view_search",)
    changed_in = 11  # terms made in Python, the same for both databases (issue #16)

    def create_statements(self, dialect: str) -> list[str]:
        """FTS5 on SQLite (rowid = sequence); a tsvector with a GIN index on PostgreSQL."""
        if dialect == "sqlite":
            return [
                "CREATE VIRTUAL TABLE IF NOT EXISTS view_search USING fts5("
                "terms, model UNINDEXED, type UNINDEXED, "
                "tokenize = 'unicode61 remove_diacritics 0')"
            ]
        return [
            "CREATE TABLE IF NOT EXISTS view_search (sequence BIGINT PRIMARY KEY, "
            "model TEXT NOT NULL, type TEXT NOT NULL, document tsvector NOT NULL)",
            "CREATE INDEX IF NOT EXISTS view_search_document ON view_search USING GIN (document)",
            # One model's newest matches, walked without reading the other models'.
            "CREATE INDEX IF NOT EXISTS view_search_model ON view_search (model, sequence)",
        ]

    def apply(self, cursor: Any, event: Any, context: Context) -> None:
        """Index one decision."""
        self.apply_page(cursor, [event], [context])

    def apply_page(
        self,
        cursor: Any,
        events: Sequence[Any],
        contexts: Sequence[Context],
        read: Any = None,  # noqa: ARG002 (this view reads nothing first)
    ) -> None:
        """Index a page of decisions in one statement."""
        self.index(
            cursor,
            [
                (context.position, searchable_text(event), context.model, type(event).__name__)
                for event, context in zip(events, contexts, strict=True)
            ],
        )

    def index(self, cursor: Any, decisions: Sequence[tuple[int, str, str, str]]) -> None:
        """Index decisions given as (sequence, searchable text, model, type)."""
        rows = [
            (sequence, " ".join(search_terms(text)), model, kind)
            for sequence, text, model, kind in decisions
        ]
        columns = _SQLITE_ROW if self.view.dialect == "sqlite" else _POSTGRES_ROW
        self.view.insert_rows(cursor, "view_search", columns, rows)


@dataclass(frozen=True)
class Hit:
    """One decision found: its rank (`EVERY_TERM` or `SOME_TERMS`) and its timeline entry."""

    rank: int
    entry: TimelineEntry

    @property
    def cursor(self) -> str:
        """Where the next page starts: pass it as ``after``."""
        return f"{self.rank}:{self.entry.sequence}"


def parse_cursor(after: str) -> tuple[int, int]:
    """A cursor (`Hit.cursor`) as its rank and sequence."""
    match = re.fullmatch(r"([12]):(\d{1,18})", after)
    if match is None:
        raise InvalidSearch(
            f"after must be a hit's cursor, RANK:SEQUENCE with RANK 1 or 2 (e.g. '2:1041'); "
            f"got {after!r}"
        )
    return int(match[1]), int(match[2])


def search(
    recorder: ViewRecorder,
    query: str,
    *,
    model: str | None = None,
    event_type: str | None = None,
    limit: int = 20,
    after: str | None = None,
) -> list[Hit]:
    """Decisions holding any term of ``query``: those holding every term first, then newest
    first; the page after the hit whose cursor is ``after``, if given."""
    found = ranked_matches(
        recorder, query, model=model, event_type=event_type, limit=limit, after=after
    )
    entries = timeline_entries(recorder, [sequence for _, sequence in found])
    return [Hit(rank, entries[seq]) for rank, seq in found if seq in entries]


def ranked_matches(
    recorder: ViewRecorder,
    query: str,
    *,
    model: str | None = None,
    event_type: str | None = None,
    limit: int = 20,
    after: str | None = None,
) -> list[tuple[int, int]]:
    """The (rank, sequence) of the decisions `search` answers with, in its order.

    At most two statements, each walking one rank's newest matches until the page is full:
    the rank of decisions holding every term, then (for a query of several terms) the rank of
    those holding some but not all.
    """
    terms = query_terms(query)
    start_rank, before = parse_cursor(after) if after is not None else (EVERY_TERM, None)
    if not terms:
        return []
    ranks = [EVERY_TERM] if len(terms) == 1 else [EVERY_TERM, SOME_TERMS]
    found: list[tuple[int, int]] = []
    for rank in ranks:
        wanted = limit - len(found)
        if rank > start_rank or wanted <= 0:
            continue
        bound = before if rank == start_rank else None
        sequences = _newest_matches(recorder, terms, rank, model, event_type, bound, wanted)
        found += [(rank, sequence) for sequence in sequences]
    return found


def _newest_matches(
    recorder: ViewRecorder,
    terms: list[str],
    rank: int,
    model: str | None,
    event_type: str | None,
    before: int | None,
    limit: int,
) -> list[int]:
    """The sequences of the newest decisions of one rank, newest first."""
    if recorder.dialect == "postgres":
        return _newest_postgres_matches(recorder, terms, rank, model, event_type, before, limit)
    # FTS5 walks a term's own list of decisions in rowid order: newest first, it stops when
    # the page is full, and it never reads a decision that does not hold the term.
    p = recorder.param
    filters = ""
    params: list[Any] = []
    if model is not None:
        filters += f" AND model = {p}"
        params.append(model)
    if event_type is not None:
        filters += f" AND type = {p}"
        params.append(event_type)
    if before is not None:
        filters += f" AND rowid < {p}"
        params.append(before)
    # Each term quoted: it is matched as a word, never read as FTS5 syntax.
    quoted = [f'"{term}"' for term in terms]
    every = " AND ".join(quoted)
    expression = every if rank == EVERY_TERM else f"({' OR '.join(quoted)}) NOT ({every})"
    rows = recorder.fetch(
        "SELECT rowid FROM view_search "  # noqa: S608 (filters: placeholders only)
        f"WHERE view_search MATCH {p}{filters} ORDER BY rowid DESC LIMIT {p}",
        (expression, *params, limit),
    )
    return [int(row[0]) for row in rows]


RECENT_WINDOW = 5_000
"""How many of the newest decisions (of the model asked, if one is) PostgreSQL searches by
walking them, before it turns to the index for older ones (`_newest_postgres_matches`)."""


def _newest_postgres_matches(
    recorder: ViewRecorder,
    terms: list[str],
    rank: int,
    model: str | None,
    event_type: str | None,
    before: int | None,
    limit: int,
) -> list[int]:
    """The newest matches of one rank on PostgreSQL, in time bounded whatever they number.

    Walking the decisions newest first stops as soon as a page is full: fast for a word many
    decisions hold, slow for one that few hold (a walk to the ledger's start to find none).
    The GIN index is the other way round: it finds few matches at once, and many only by
    reading each. The planner cannot tell which case a query is (its estimate for a word it
    keeps no statistics on is a guess), so the choice is made here, by looking: first the
    `RECENT_WINDOW` newest decisions are walked (bounded work); if they hold a page of
    matches, those are the newest, exactly. If not, matches are sparse, and the older ones
    come from the index, sorted. The answer is the same either way: this only decides how it
    is found.
    """
    p = recorder.param
    # Lexemes quoted in tsquery syntax are taken as they are (terms are letters and digits).
    quoted = [f"'{term}'" for term in terms]
    every = " & ".join(quoted)
    if rank == EVERY_TERM:
        match, match_params = f"document @@ {p}::tsquery", [every]
    else:
        match = f"document @@ {p}::tsquery AND NOT document @@ {p}::tsquery"
        match_params = [" | ".join(quoted), every]
    # What the window walks: one model's decisions, or all; before the cursor, if one is given.
    scope = ""
    scope_params: list[Any] = []
    if model is not None:
        scope += f" AND model = {p}"
        scope_params.append(model)
    if before is not None:
        scope += f" AND sequence < {p}"
        scope_params.append(before)
    kind, kind_params = (f" AND type = {p}", [event_type]) if event_type is not None else ("", [])
    recent = recorder.fetch(
        "SELECT sequence FROM (SELECT sequence, type, document FROM view_search "  # noqa: S608 (placeholders only)
        f"WHERE TRUE{scope} ORDER BY sequence DESC LIMIT {p}) AS recent "
        f"WHERE {match}{kind} ORDER BY sequence DESC LIMIT {p}",
        (*scope_params, RECENT_WINDOW, *match_params, *kind_params, limit),
    )
    found = [int(row[0]) for row in recent]
    if len(found) == limit:
        return found
    # The window's oldest decision: everything from it on was walked.
    edge = recorder.fetch(
        f"SELECT sequence FROM view_search WHERE TRUE{scope} "  # noqa: S608 (placeholders only)
        f"ORDER BY sequence DESC OFFSET {p} LIMIT 1",
        (*scope_params, RECENT_WINDOW - 1),
    )
    if not edge:
        return found  # the window held every decision there is
    # Matches are sparse: the older ones through the index (materialised, so that the
    # planner cannot turn this back into a walk), newest first.
    older = recorder.fetch(
        "WITH matching AS MATERIALIZED (SELECT sequence FROM view_search "  # noqa: S608 (placeholders only)
        f"WHERE {match}{scope}{kind} AND sequence < {p}) "
        f"SELECT sequence FROM matching ORDER BY sequence DESC LIMIT {p}",
        (*match_params, *scope_params, *kind_params, int(edge[0][0]), limit - len(found)),
    )
    return found + [int(row[0]) for row in older]
