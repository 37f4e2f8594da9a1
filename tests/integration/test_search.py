"""Justification search: the same decisions, in the same order, on SQLite and PostgreSQL.

The rule (`projections.search`): decisions holding every term of the query first, then those
holding some; newest first within each; a page starts strictly after the cursor it is given.
Checked for all inputs against a model written here in a few lines, on both databases at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.bootstrap import build_ledger, build_views
from api.settings import Settings
from projections import search
from projections.runner import ViewRunner
from projections.search import (
    EVERY_TERM,
    MAX_QUERY_TERMS,
    SOME_TERMS,
    InvalidSearch,
    SearchView,
    parse_cursor,
    query_terms,
    ranked_matches,
    search_terms,
)
from tests.conftest import POSTGRES_URL, _admin, require_postgres

# Inflections share a stem; stopwords find nothing; case, accents and compatibility forms
# (the ligature "ﬁ" is "fi" in NFKC) are folded the same way for both databases.
WORDS = [
    "decision", "decisions", "decided", "licence", "Licence", "serving", "serve", "café",
    "CAFÉ", "ﬁnal", "final", "the", "of", "2024", "x9", "naïve", "reason_code", "sha256",
]  # fmt: skip
MODELS = ["m-one", "m-two"]


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ViewRunner]]:
    """The search view on SQLite and on PostgreSQL, side by side."""
    require_postgres()
    schema = "t_search_both"
    _admin(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    urls = [
        f"sqlite:///{Path(tmp_path_factory.mktemp('search')) / 'ledger.db'}",
        f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={schema}",
    ]
    ledgers = [build_ledger(Settings(database_url=url)) for url in urls]
    runners = [
        build_views(ledger, Settings(database_url=url))
        for ledger, url in zip(ledgers, urls, strict=True)
    ]
    for runner in runners:
        runner.create_tables()
    yield runners
    for ledger in ledgers:
        ledger.close()
    _admin(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _index(runner: ViewRunner, decisions: list[tuple[int, str, str, str]]) -> None:
    view = runner.views["search"]
    assert isinstance(view, SearchView)
    with runner.recorder.transaction() as cursor:
        runner.recorder.execute(cursor, "DELETE FROM view_search")
        view.index(cursor, decisions)


def _expected(
    decisions: list[tuple[int, str, str, str]], query: str, model: str | None
) -> list[tuple[int, int]]:
    """The rule, written plainly: every term, then some; newest first within each."""
    terms = set(query_terms(query))
    if not terms:
        return []
    every, some = [], []
    for sequence, text, owner, _ in decisions:
        if model is not None and owner != model:
            continue
        held = terms & set(search_terms(text))
        if held == terms:
            every.append(sequence)
        elif held:
            some.append(sequence)
    return [(EVERY_TERM, s) for s in sorted(every, reverse=True)] + [
        (SOME_TERMS, s) for s in sorted(some, reverse=True)
    ]


def _all_pages(runner: ViewRunner, query: str, model: str | None, limit: int) -> list[Any]:
    found: list[tuple[int, int]] = []
    after: str | None = None
    while True:
        page = ranked_matches(runner.recorder, query, model=model, limit=limit, after=after)
        assert len(page) <= limit
        if not page:
            return found
        found += page
        rank, sequence = page[-1]
        after = f"{rank}:{sequence}"


documents = st.lists(
    st.tuples(st.lists(st.sampled_from(WORDS), max_size=6), st.sampled_from(MODELS)),
    max_size=25,
)
queries = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join)


@given(
    docs=documents,
    query=queries,
    model=st.none() | st.sampled_from(MODELS),
    limit=st.integers(1, 6),
)
def test_both_databases_find_the_same_decisions_in_the_rule_s_order(
    both: list[ViewRunner], docs: list[tuple[list[str], str]], query: str, model: str | None,
    limit: int,
) -> None:  # fmt: skip
    decisions = [
        (n, " ".join(words), owner, "SignalRecorded") for n, (words, owner) in enumerate(docs)
    ]
    expected = _expected(decisions, query, model)
    for runner in both:
        _index(runner, decisions)
        # PostgreSQL walks the newest decisions, then turns to the index for older ones: a
        # window of three makes both ways meet here; the answer may not depend on it.
        for window in (3, search.RECENT_WINDOW):
            with mock.patch.object(search, "RECENT_WINDOW", window):
                whole = ranked_matches(runner.recorder, query, model=model, limit=200)
                assert whole == expected, (runner.recorder.dialect, window)
                # Paging is stable: pages of any size, each after the last cursor, give the same.
                assert _all_pages(runner, query, model, limit) == expected


def test_terms_are_stems_without_stopwords_folded_alike() -> None:
    assert search_terms("The Decisions were DECIDED; a decision.") == ["decid", "decis"]
    assert search_terms("ﬁnal café CAFÉ") == search_terms("final café café")
    # An underscore separates, as it does for SQLite's tokenizer: both store the same terms.
    assert search_terms("reason_code") == ["code", "reason"]
    assert query_terms("the of a") == []


def test_a_query_of_too_many_words_and_a_malformed_cursor_are_refused() -> None:
    words = " ".join(f"word{n}" for n in range(MAX_QUERY_TERMS + 1))
    with pytest.raises(InvalidSearch, match=f"at most {MAX_QUERY_TERMS} distinct words"):
        query_terms(words)
    assert len(query_terms(words.rsplit(" ", 1)[0])) == MAX_QUERY_TERMS
    for cursor in ("", "3:1", "2:", "2:-1", "two:1", "2:1:1", "1:" + "9" * 19):
        with pytest.raises(InvalidSearch, match="after must be a hit's cursor"):
            parse_cursor(cursor)
    assert parse_cursor("1:42") == (1, 42)
