"""The web console under a hostile client: every reader input is checked, nothing answers 5xx.

Every console page that reads its query string (or a value in its path) is asked for a table of
malformed and out-of-range values: moments in years 1 and 9999 with a zone, moments without a
zone, huge page cursors and versions, page sizes of 10**30, non-ASCII digits (``١٢``), control
characters, over-long text. Each must answer 400 (404 for a value in the path) with an HTML
error page naming the parameter, never a 5xx and never JSON; values at the edges of each range
are still read. A Hypothesis test then sends arbitrary text in every parameter of every page,
signed in and not, and asserts only that nothing answers 5xx. Both backends, as every test.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from api.bootstrap import build_ledger
from api.cli.demo import load_demo
from api.http.app import create_app
from api.settings import Settings
from api.web.params import MAX_SEQUENCE, MAX_VERSION
from domain.commands import parse_command
from projections.translog.keys import create_signing_key
from tests.conftest import POSTGRES_URL, require_postgres
from tests.e2e.test_web import ORIGIN, Console
from tests.support import register

MODEL = "claude-opus-3"
MODEL_PAGE = f"/web/models/{MODEL}"
LONG = "x" * 600
ALERT = re.compile(r'<p class="error" role="alert">(.*?)</p>', re.DOTALL)

# Values a moment parameter refuses: out of the years 1900 to 9000, without a zone, not ISO.
BAD_MOMENTS = [
    "0001-01-01T00:00Z",
    "9999-12-31T23:59Z",
    "0001-01-01T00:00+05:00",
    "9999-12-31T23:59-14:00",
    "1899-12-31T23:59Z",
    "9001-01-01T00:00Z",
    "2026-01-01",
    "2026-01-01T09:30:00",
    "yesterday",
    "٢٠٢٦-01-01T00:00Z",
    "2026-13-01T00:00Z",
    "2026-01-01T25:00Z",
    "2026-01-01T00:00+24:00",
    "\x00",
    "2026-01-01T00:00:00.000000000000000000000000Z",
]
# Values a whole-number parameter refuses wherever it is read.
BAD_NUMBERS = ["99999999999999999999", str(10**30), "١٢", "１２", "1_0", "+5", "1.0", "1e3"]
BAD_NUMBERS += ["0x10", "abc", "\x1b", "9" * 41]
BAD_DAYS = ["0001-01-01", "9999-12-31", "2026-02-30", "2026-1-1", "١١١١-01-01", "26-01-01"]
BAD_DAYS += ["2026-01-01T00:00Z", "\x00"]
BAD_DECIMALS = ["nan", "inf", "-1", "1e400", "١", "11", "0x1", "1,5", "10.000001", "+1", "1e-3"]
BAD_TEXT = [LONG, "a\x00b", "\x1b[31m", "x\x7f"]


def _cases() -> list[tuple[str, str, str]]:
    """(path, parameter, value) for every refused value of every page's parameters."""
    cases: list[tuple[str, str, str]] = []
    for path in (MODEL_PAGE, "/web/timeline"):
        for name in ("since", "until"):
            cases += [(path, name, value) for value in BAD_MOMENTS]
        cases += [(path, "after", value) for value in [*BAD_NUMBERS, "-2", str(MAX_SEQUENCE + 1)]]
        cases += [(path, "limit", value) for value in [*BAD_NUMBERS, "0", "-1", "201"]]
        for name in ("type", "actor", "role"):
            cases += [(path, name, value) for value in BAD_TEXT]
    cases += [(MODEL_PAGE, "as_of", value) for value in BAD_MOMENTS]
    cases += [(MODEL_PAGE, "version", value) for value in [*BAD_NUMBERS, "-1", "0"]]
    cases += [(MODEL_PAGE, "version", str(MAX_VERSION + 1))]
    cases += [("/web/timeline", "model", value) for value in BAD_TEXT]
    cases += [("/web/search", "q", value) for value in BAD_TEXT]
    cases += [("/web/search", "limit", value) for value in [*BAD_NUMBERS, "0", "-1", "201"]]
    cases += [("/web/search", name, value) for name in ("model", "type") for value in BAD_TEXT]
    # "As of" takes a day or a moment with its time zone, nothing else.
    bad_as_of = [value for value in BAD_DAYS if "T" not in value] + ["2026-01-01T00:00"]
    cases += [("/web/fairness", "as_of", value) for value in bad_as_of]
    cases += [("/web/fairness", "criteria_distance", value) for value in BAD_DECIMALS]
    cases += [("/web/fairness", "criteria_distance", value) for value in BAD_TEXT]
    cases += [("/web/verify", "checkpoint", value) for value in ["y" * 8193, "a\x00", "\x1b[2J"]]
    return cases


CASES = _cases()
# Values in the path: not a page there, so a 404 page, never a 5xx.
BAD_PATHS = [
    "/web/decisions/-1",
    "/web/decisions/99999999999999999999",
    "/web/decisions/%D9%A3",
    "/web/decisions/1e3",
    f"/web/decisions/{LONG}",
    "/web/models/no-such-model",
    "/web/models/%ff",
    "/web/models/..%2f..",
    "/web/models/no-such-model/manifest",
]
# Values at the edges of each range: still read (200), or a record the ledger lacks (404).
EDGES = [
    (MODEL_PAGE, {"as_of": "9000-12-31T23:59-14:00"}, 200),
    (MODEL_PAGE, {"as_of": "1900-01-01T00:00+14:00"}, 404),
    (MODEL_PAGE, {"version": "1"}, 200),
    (MODEL_PAGE, {"version": str(MAX_VERSION)}, 404),
    (MODEL_PAGE, {"after": str(MAX_SEQUENCE), "limit": "200"}, 200),
    ("/web/timeline", {"since": "1900-01-01T00:00+14:00", "until": "9000-12-31T23:59-14:00"}, 200),
    ("/web/timeline", {"after": "-1", "limit": "1"}, 200),
    ("/web/timeline", {"after": str(MAX_SEQUENCE)}, 200),
    ("/web/timeline", {"actor": "é" * 200}, 200),
    ("/web/timeline", {"model": "%ff"}, 404),  # read, and no model of that name (issue #13)
    ("/web/search", {"q": "licence", "limit": "200"}, 200),
    ("/web/fairness", {"criteria_distance": "0", "as_of": "1900-01-01"}, 200),
    ("/web/fairness", {"criteria_distance": "10", "as_of": "9000-12-31"}, 200),
    ("/web/fairness", {"criteria_distance": "0.15"}, 200),
    ("/web/verify", {"checkpoint": "origin\n12\nroot\n\n— sig\r\n"}, 200),
    ("/web/decisions/0", {}, 200),
    ("/web/decisions/999999999999999999", {}, 404),
]
PARAMETERS = {
    MODEL_PAGE: ("version", "as_of", "since", "until", "after", "limit", "type", "role"),
    "/web/timeline": ("model", "type", "actor", "role", "since", "until", "after", "limit"),
    "/web/search": ("q", "model", "type", "limit"),
    "/web/fairness": ("criteria_distance", "as_of"),
    "/web/verify": ("checkpoint",),
    f"{MODEL_PAGE}/manifest": ("version",),
    "/web/login": ("next",),
    "/web/": ("x",),
}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def hostile_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty store of each backend for this module."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'ledger.db'}"
        return
    require_postgres()
    import psycopg

    schema = f"t_hostile_{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}schema={schema}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(scope="module")
def console(hostile_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The console on the demo ledger, a reader signed in; a 5xx is answered, never raised."""
    key = tmp_path_factory.mktemp("hostile-key") / "signing.key"
    create_signing_key(key, ORIGIN)
    settings = Settings(database_url=hostile_database, signing_key=key, log_origin=ORIGIN)
    ledger = build_ledger(settings)
    load_demo(ledger)
    ledger.execute(parse_command(json.dumps(register("hostile-model"))))
    ledger.close()
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        console = Console(app, client)
        assert console.sign_in(client, console.reader_token).status_code == 303
        yield console


def _alert(response: Any) -> str:
    """The message of an error page (which must be HTML with its alert)."""
    assert response.headers["content-type"].startswith("text/html")
    found = ALERT.search(response.text)
    assert found is not None, response.text[:300]
    return found.group(1)


def test_the_table_is_long_enough() -> None:
    assert len(CASES) + len(BAD_PATHS) >= 100
    assert {path for path, _, _ in CASES} >= set(PARAMETERS) - {
        f"{MODEL_PAGE}/manifest",
        "/web/login",
        "/web/",
    }


@pytest.mark.parametrize(
    ("path", "name", "value"),
    CASES,
    ids=[f"{path}?{name}={value[:24]!r}" for path, name, value in CASES],
)
def test_a_refused_value_is_a_400_page_naming_its_parameter(
    console: Console, path: str, name: str, value: str
) -> None:
    response = console.client.get(path, params={name: value})
    assert response.status_code == 400, (path, name, value, response.text[:300])
    message = _alert(response)
    assert message.startswith(f"{name}:") or f"{name} " in message, message
    # What was sent is quoted back at most as a short excerpt.
    assert len(message) < 400, message
    assert "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" not in message


@pytest.mark.parametrize("path", BAD_PATHS)
def test_a_value_in_the_path_that_names_nothing_is_a_page(console: Console, path: str) -> None:
    response = console.client.get(path)
    assert response.status_code in (400, 404), (path, response.text[:300])
    assert len(_alert(response)) < 700


@pytest.mark.parametrize(("path", "params", "status"), EDGES, ids=[f"{p}?{q}" for p, q, _ in EDGES])
def test_values_at_the_edges_of_each_range_are_read(
    console: Console, path: str, params: dict[str, str], status: int
) -> None:
    response = console.client.get(path, params=params)
    assert response.status_code == status, (path, params, response.text[:400])
    assert response.headers["content-type"].startswith("text/html")


def test_the_issue_s_urls_are_each_a_400(console: Console) -> None:
    for url in (
        "/web/timeline?since=0001-01-01T00:00Z",
        "/web/timeline?until=9999-12-31T23:59Z",
        f"{MODEL_PAGE}?as_of=0001-01-01T00:00Z",
        f"{MODEL_PAGE}?as_of=9999-12-31T23:59Z",
        "/web/timeline?after=99999999999999999999",
        f"{MODEL_PAGE}?after=99999999999999999999",
        f"{MODEL_PAGE}?version=-1",
        f"{MODEL_PAGE}?version=99999999999999999999",
        f"/web/timeline?limit={10**30}",
        "/web/timeline?limit=%D9%A1%D9%A2",
        "/web/search?q=x&limit=%D9%A1%D9%A2",
        "/web/fairness?as_of=9999-12-31",
    ):
        response = console.client.get(url)
        assert response.status_code == 400, url
        _alert(response)


@given(
    path=st.sampled_from(sorted(PARAMETERS)),
    values=st.lists(st.text(max_size=50), min_size=1, max_size=3),
    signed_in=st.booleans(),
)
def test_arbitrary_values_never_answer_5xx(
    console: Console, path: str, values: list[str], signed_in: bool
) -> None:
    names = PARAMETERS[path]
    params = {names[i % len(names)]: value for i, value in enumerate(values)}
    client = console.client if signed_in else console.fresh()
    response = client.get(path, params=params, follow_redirects=False)
    assert response.status_code < 500, (path, params, response.text[:400])
    if response.status_code >= 400:
        _alert(response)


@given(
    segment=st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/?#"),
        min_size=1,
        max_size=40,
    ),
    page=st.sampled_from(["/web/decisions/{}", "/web/models/{}", "/web/models/{}/manifest"]),
)
def test_arbitrary_path_values_never_answer_5xx(console: Console, segment: str, page: str) -> None:
    from urllib.parse import quote

    response = console.client.get(page.format(quote(segment, safe="")))
    assert response.status_code < 500, (page, segment, response.text[:400])
