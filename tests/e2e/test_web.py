"""The web console: pages through the app in process, then in a real browser.

The first half drives the FastAPI app with Starlette's test client on the demo ledger: every
page shows the demo's facts to a signed-in reader, free text is escaped, the public parts need
no sign-in and the private ones ask for it.

The second half runs `reliquary serve` as a subprocess on a free loopback port and drives
Debian's Chromium (``/usr/bin/chromium``, never a downloaded browser) with Playwright: the
pages, time travel, and the proofs the browser checks itself, including the step it names when
a proof is tampered with on the way. Screenshots of each page go to ``RELIQUARY_TEST_ARTIFACTS``
(default: a pytest temporary directory); with ``RELIQUARY_DOCS_SCREENSHOTS=1`` the ones the
guides show are also copied to ``docs/images/``. Without Chromium or Playwright the browser
tests skip, saying why; under ``RELIQUARY_REQUIRE_BROWSER=1`` (as in CI) they fail instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.bootstrap import build_ledger
from api.cli.demo import load_demo
from api.http.app import create_app
from api.settings import Settings
from domain.commands import parse_command
from projections.translog.checkpoint import verify_checkpoint
from projections.translog.keys import create_signing_key
from projections.views import timeline
from tests.conftest import POSTGRES_URL, require_postgres
from tests.served import ORIGIN, Served, chromium, require_browser
from tests.support import DEMO_EVENTS, register

ROOT = Path(__file__).resolve().parents[2]
XSS = "<script>alert('xss')</script> \"><img src=x onerror=alert(2)> & done"
XSS_MODEL = "escape-test-model"
PRIVATE_PAGES = [
    "/web/models/claude-opus-3",
    "/web/models/claude-opus-3?version=19",
    "/web/timeline",
    "/web/search?q=licence",
    "/web/fairness",
]


def _xss_register() -> dict[str, Any]:
    document = register(XSS_MODEL)
    document["rationale"] = XSS
    return document


# --- in process -------------------------------------------------------------------------------


class Console:
    """The app on a demo ledger, with tokens for a reader and a researcher."""

    def __init__(self, app: Any, client: TestClient) -> None:
        self.app = app
        self.client = client
        services = app.state.services
        self.services = services
        self.reader_token = services.actors.add("web-auditor", "auditor").token
        self.researcher_token = services.actors.add("web-researcher", "researcher").token

    def fresh(self) -> TestClient:
        """A client sharing the app but not the cookies."""
        return TestClient(self.app)

    def sign_in(self, client: TestClient, token: str, target: str = "/web/") -> httpx.Response:
        form = client.get("/web/login", params={"next": target})
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        return client.post(
            "/web/login",
            data={"token": token, "csrf": csrf.group(1), "next": target},
            follow_redirects=False,
        )

    def sequence_of(self, model: str, event_type: str) -> int:
        self.services.views.catch_up()
        entries = timeline(self.services.views.recorder, model=model, event_type=event_type)
        return entries[0].sequence


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def web_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty store of each backend for this module (conftest's logic, module-scoped)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('web') / 'ledger.db'}"
        return
    require_postgres()
    import psycopg

    schema = f"t_web_{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}schema={schema}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(scope="module")
def console(web_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The app on the demo ledger (and one model with a script in its rationale), signed in."""
    key = tmp_path_factory.mktemp("web-key") / "signing.key"
    create_signing_key(key, ORIGIN)
    settings = Settings(database_url=web_database, signing_key=key, log_origin=ORIGIN)
    ledger = build_ledger(settings)
    load_demo(ledger)
    ledger.execute(parse_command(json.dumps(_xss_register())))
    ledger.close()
    app = create_app(settings)
    with TestClient(app) as client:
        console = Console(app, client)
        response = console.sign_in(client, console.reader_token)
        assert response.status_code == 303
        console.services.log.sign_checkpoint()  # a writer signs; pages only read it
        yield console


def test_public_pages_need_no_sign_in(console: Console) -> None:
    client = console.fresh()
    size = console.services.log.sign_checkpoint().size  # a writer signs; the pages read it

    overview = client.get("/web/")
    assert overview.status_code == 200
    assert f"<span data-checkpoint-size>{size}</span> events" in overview.text
    assert "reliquary.local/ledger" in overview.text
    assert "Sign in with your token" in overview.text
    assert "claude-opus-3" not in overview.text  # the list of models is for readers

    verify = client.get("/web/verify")
    assert verify.status_code == 200
    assert "Your kept checkpoint" in verify.text
    assert "reliquary.local/ledger\n" in verify.text

    manifest = client.get("/web/models/claude-opus-3/manifest")
    assert manifest.status_code == 200
    digest = console.services.ledger.state("claude-opus-3").weights.manifest_digest
    assert digest in manifest.text

    # A decision's page shows its leaf's public form, as /log/leaves does (private values
    # sealed: tests/e2e/test_web_disclosure.py).
    decision = client.get("/web/decisions/0")
    assert decision.status_code == 200
    assert "Verify in my browser" in decision.text

    root = client.get("/", follow_redirects=False)
    assert root.status_code == 307
    assert root.headers["location"] == "/web/"


@pytest.mark.parametrize("path", PRIVATE_PAGES)
def test_private_pages_ask_for_sign_in(console: Console, path: str) -> None:
    client = console.fresh()
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/web/login?next=")
    assert httpx.URL(location).params["next"] == path
    assert "text/html" in client.get(location).headers["content-type"]


def test_a_link_from_another_site_is_loaded_again_from_this_one(console: Console) -> None:
    # A SameSite=Strict cookie is not sent on a cross-site navigation: the page reloads itself.
    response = console.fresh().get(
        "/web/timeline?type=AccessPolicySet",
        headers={"Sec-Fetch-Site": "cross-site"},
        follow_redirects=False,
    )
    assert response.status_code == 200
    assert 'http-equiv="refresh" content="0; url=/web/timeline?type=AccessPolicySet"' in (
        response.text
    )


def test_sign_in_checks_the_token_and_the_role(console: Console) -> None:
    client = console.fresh()
    assert console.sign_in(client, "rlq_not-a-token").status_code == 401
    # A researcher signs in (to read their own requests opened), but not the records.
    assert console.sign_in(client, console.researcher_token).status_code == 303
    refused = client.get("/web/timeline")
    assert refused.status_code == 403
    assert "The researcher role may not read" in refused.text
    client = console.fresh()

    stale = client.post(
        "/web/login", data={"token": console.reader_token, "csrf": "forged", "next": "/web/"}
    )
    assert stale.status_code == 400
    assert "reliquary_session" not in client.cookies

    away = console.sign_in(client, console.reader_token, target="https://evil.example/")
    assert away.status_code == 303
    assert away.headers["location"] == "/web/"
    cookie = away.headers["set-cookie"]
    for attribute in ("reliquary_session=", "HttpOnly", "SameSite=strict", "Path=/web"):
        assert attribute in cookie
    assert client.get("/web/timeline").status_code == 200


def test_sign_out_and_revocation_end_the_session(console: Console) -> None:
    client = console.fresh()
    assert console.sign_in(client, console.reader_token).status_code == 303
    page = client.get("/web/timeline")
    csrf = re.search(r'action="/web/logout".*?name="csrf" value="([^"]+)"', page.text, re.S)
    assert csrf is not None
    out = client.post("/web/logout", data={"csrf": csrf.group(1)}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/web/timeline", follow_redirects=False).status_code == 303

    issued = console.services.actors.add("short-lived", "board")
    assert console.sign_in(client, issued.token).status_code == 303
    assert client.get("/web/timeline").status_code == 200
    console.services.actors.revoke("short-lived")
    assert client.get("/web/timeline", follow_redirects=False).status_code == 303


def test_overview_lists_every_model_and_the_checkpoint(console: Console) -> None:
    page = console.client.get("/web/")
    assert page.status_code == 200
    for model in ("claude-opus-3", "harbor-7b", "meridian-2", "cinder-1", "lumen-4", "ember-3"):
        assert f'href="/web/models/{model}"' in page.text
    assert "retired with extended access" in page.text
    assert "fully retired" in page.text
    root = console.services.log.checkpoint_for_proof().root_hash.hex()
    assert root in page.text
    assert "Cache-Control" in page.headers and page.headers["cache-control"] == "no-store"


def test_model_page_shows_state_manifest_registers_and_timeline(console: Console) -> None:
    page = console.client.get("/web/models/claude-opus-3")
    assert page.status_code == 200
    text = page.text
    state = console.services.ledger.state("claude-opus-3")
    assert "retired with extended access" in text
    assert f"{state.version}</dd>" in text
    assert state.weights.manifest_digest in text
    for entry in console.services.queries.manifest(state.weights.manifest_digest).files:
        assert entry.sha256 in text
    assert "Dr. Amara Okafor" in text  # access register
    assert "On Being Kept" in text  # essays
    assert "opus3-pref-reflection-outlet" in text  # preferences
    assert "claude-opus-4-1" in text  # successor
    assert "Claude Opus 3 enters the ledger" in text  # timeline, first decision


def test_model_page_travels_in_time(console: Console) -> None:
    then = console.client.get("/web/models/claude-opus-3?version=19")
    assert then.status_code == 200
    assert 'class="status status-retirement_scheduled"' in then.text
    assert "You are looking at <strong>version 19</strong>" in then.text
    assert "it is now retired with extended access" in then.text
    assert '<span class="tag">later</span>' in then.text

    moment = console.services.ledger.history("claude-opus-3")[18].timestamp.isoformat()
    same = console.client.get("/web/models/claude-opus-3", params={"as_of": moment})
    assert same.status_code == 200
    assert "You are looking at <strong>version 19</strong>" in same.text

    before = console.client.get("/web/models/claude-opus-3", params={"as_of": "2020-01-01T00:00Z"})
    assert before.status_code == 404
    assert "was not yet registered" in before.text


def test_timeline_filters_and_pages(console: Console) -> None:
    policies = console.client.get("/web/timeline", params={"type": "AccessPolicySet"})
    assert policies.status_code == 200
    assert "licence forbids serving" in policies.text
    assert "Model registered</a>" not in policies.text
    assert '<option value="AccessPolicySet" selected>' in policies.text

    board = console.client.get(
        "/web/timeline", params={"role": "board", "since": "2025-12-01T00:00Z"}
    ).text
    assert "k.brandt" in board
    assert "p.lindqvist" not in board

    first = console.client.get("/web/timeline", params={"limit": 25}).text
    assert 'href="/web/timeline?limit=25&amp;after=24" rel="next"' in first
    second = console.client.get("/web/timeline", params={"limit": 25, "after": 24}).text
    assert 'href="/web/decisions/25"' in second
    assert 'href="/web/decisions/24"' not in second


def test_decision_page_shows_everything_and_the_leaf(console: Console) -> None:
    sequence = console.sequence_of("cinder-1", "AccessPolicySet")
    page = console.client.get(f"/web/decisions/{sequence}")
    assert page.status_code == 200
    text = page.text
    assert "m.ferreira" in text
    assert "<dd>board</dd>" in text
    assert "licence forbids serving" in text
    assert '<th scope="row">demand</th><td>0.33</td>' in text
    assert "Board minutes, 1 December 2025" in text
    assert "sha256:6686686295d9f087ea9bfa1d7c3ce018a8e91a43f2726e7613e44c0af7eb271c" in text
    proof, _ = console.services.log.inclusion_proof(sequence)
    assert proof.leaf_hash.hex() in text
    assert f'data-sequence="{sequence}"' in text
    assert "Verify in my browser" in text
    assert '<time class="moment" datetime="2025-12-01T16:00:00Z"' in text


def test_search_ranks_as_why_does(console: Console) -> None:
    page = console.client.get("/web/search", params={"q": "licence forbids serving"})
    assert page.status_code == 200
    first = re.search(r'<h3><a href="/web/decisions/(\d+)">', page.text)
    assert first is not None
    assert int(first.group(1)) == console.sequence_of("cinder-1", "AccessPolicySet")
    empty = console.client.get("/web/search")
    assert empty.status_code == 200
    assert '<ol class="hits">' not in empty.text


def test_fairness_page_explains_each_figure_and_prints(console: Console) -> None:
    # The demo was recorded today: as of today's end, every decision counts.
    today = datetime.now(UTC).date().isoformat()
    page = console.client.get("/web/fairness", params={"as_of": today})
    assert page.status_code == 200
    text = page.text
    assert "below four fifths" in text
    assert "cinder-1 and meridian-2 are 0.065 apart" in text
    assert text.count('src="data:image/svg+xml;base64,') == 2
    assert "Figure 1." in text and "Figure 2." in text
    assert f'As of <time datetime="{today}">' in text
    assert f"Computed at T = {today}T23:59:59.999999+00:00" in text
    # Before the demo was recorded, there was nothing to count.
    before = console.client.get("/web/fairness", params={"as_of": "2024-01-01"}).text
    assert "below four fifths" not in before
    assert "no event recorded by then" in before
    css = console.client.get("/web/static/style.css").text
    assert "@media print" in css


def test_fairness_page_offers_the_bundle_that_reproduces_it(
    console: Console, tmp_path: Path
) -> None:
    """The page prints the command and links the bundle; the bundle, with the published key,
    recomputes the page's report to the same JSON as the API's."""
    import io
    import tarfile

    from projections.fairness import report_json
    from projections.queries import fairness_from_bundle

    console.services.log.sign_checkpoint()  # the service's signer covers every event
    text = console.client.get("/web/fairness").text
    assert 'href="/web/fairness/bundle"' in text
    command = r"<code>(reliquary report fairness --bundle BUNDLE --key KEY [^<]*)</code>"
    found = re.search(command, text)
    assert found is not None
    options = found.group(1).split()[7:]
    named = dict(zip(options[::2], options[1::2], strict=False))
    assert console.client.get("/web/fairness/bundle").status_code == 200
    archive = console.client.get("/web/fairness/bundle").content
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as opened:
        opened.extractall(tmp_path, filter="data")
    key = console.client.get("/log/key").text.strip()
    from domain.commands import parse_as_of

    at = parse_as_of(named["--as-of"], "--as-of")
    again = fairness_from_bundle(tmp_path / "bundle", key, as_of=at, size=int(named["--size"]))
    served = console.client.get(
        "/reports/fairness",
        params={"as_of": named["--as-of"], "size": named["--size"]},
        headers={"Authorization": f"Bearer {console.reader_token}"},
    ).json()
    assert report_json(again) == served
    # Signed out, neither the page nor its bundle is given.
    signed_out = console.fresh().get("/web/fairness/bundle", follow_redirects=False)
    assert signed_out.status_code in (303, 401)


def test_stored_script_is_shown_as_text(console: Console) -> None:
    sequence = console.sequence_of(XSS_MODEL, "ModelRegistered")
    escaped = "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;"
    for path in (
        f"/web/decisions/{sequence}",
        f"/web/models/{XSS_MODEL}",
        "/web/timeline?type=ModelRegistered",
        "/web/search?q=alert",
    ):
        page = console.client.get(path)
        assert page.status_code == 200, path
        assert "<script>alert" not in page.text, path
        assert "<img src=x" not in page.text, path
        assert escaped in page.text, path


def test_bad_parameters_are_pages_not_errors(console: Console) -> None:
    for path, status in (
        ("/web/models/claude-opus-3?version=abc", 400),
        ("/web/models/claude-opus-3?version=19&as_of=2026-01-01", 400),
        ("/web/models/claude-opus-3?version=999", 404),
        ("/web/models/no-such-model", 404),
        ("/web/timeline?since=yesterday", 400),
        ("/web/decisions/99999", 404),
        ("/web/decisions/abc", 404),
        ("/web/fairness?criteria_distance=lots", 400),
    ):
        page = console.client.get(path)
        assert page.status_code == status, path
        assert page.headers["content-type"].startswith("text/html"), path
        assert 'role="alert"' in page.text, path


def test_every_asset_is_served_here_and_pages_stay_out_of_the_api_schema(
    console: Console,
) -> None:
    page = console.client.get("/web/models/claude-opus-3")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    for url in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert url.startswith(("/", "#", "data:image/svg+xml")), url
        if url.startswith("/web/static/"):
            assert console.client.get(url).status_code == 200, url
    assert not [path for path in console.app.openapi()["paths"] if path.startswith("/web")]


def test_sessions_end_when_idle_or_old_and_are_bounded() -> None:
    from api.web import sessions

    now = [0.0]
    store = sessions.SessionStore(clock=lambda: now[0])
    first = store.open("token-1")
    assert store.get(first) is not None and store.get(first).token == "token-1"  # type: ignore[union-attr]
    assert store.get("forged") is None and store.get(None) is None
    now[0] += sessions.IDLE_SECONDS - 1
    assert store.get(first) is not None  # used: the idle clock starts again
    now[0] += sessions.IDLE_SECONDS + 1
    assert store.get(first) is None
    second = store.open("token-2")
    for _ in range(int(sessions.ABSOLUTE_SECONDS // (sessions.IDLE_SECONDS / 2)) + 1):
        now[0] += sessions.IDLE_SECONDS / 2
        store.get(second)
    assert store.get(second) is None  # used all along, but older than a day
    store.close(store.open("token-3"))
    assert len(store) == 0


# --- in a real browser --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    require_browser()
    server = Served(tmp_path_factory.mktemp("served"))
    server.run("init")
    server.run("demo")
    issued = server.run("actors", "add", "web-auditor", "--role", "auditor", "--json")
    server.token = json.loads(issued)["token"]
    server.key = server.run("key").strip()
    # A checkpoint kept before the last event: the verify page proves the log extends it.
    server.kept = json.loads(server.run("checkpoint", "--json"))["note"]
    commands = server.directory / "escape.jsonl"
    commands.write_text(json.dumps(_xss_register()) + "\n")
    server.run("apply", str(commands))
    server.run("checkpoint")  # pages never sign: the operator (or the service, soon) does
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("RELIQUARY_TEST_ARTIFACTS")
    directory = Path(chosen) if chosen else tmp_path_factory.mktemp("web-screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


DOCS_SCREENSHOTS = {
    "overview",
    "model-time-travel",
    "timeline",
    "decision-verified",
    "search",
    "fairness",
    "verify",
    "model-phone",
    "decision-tampered",
}


def _shoot(page: Any, artifacts: Path, name: str, *, full_page: bool = False) -> None:
    path = artifacts / f"web-{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    if os.environ.get("RELIQUARY_DOCS_SCREENSHOTS") == "1" and name in DOCS_SCREENSHOTS:
        images = ROOT / "docs" / "images"
        images.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, images / path.name)


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def signed_in(browser: Any, served: Served) -> Iterator[Any]:
    """A browser context signed in as an auditor, in Tokyo's time zone, with the key pinned."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id="Asia/Tokyo", locale="en-GB"
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(served.base + "/web/models/claude-opus-3")
    assert "/web/login" in page.url
    page.fill("#token", served.token)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url(served.base + "/web/models/claude-opus-3")
    page.goto(served.base + "/web/verify")
    page.fill("[data-pin-input]", served.key)
    page.click("[data-pin-save]")
    page.wait_for_selector("[data-pin-status][data-pinned]")
    page.close()
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(signed_in: Any) -> Iterator[Any]:
    opened = signed_in.new_page()
    dialogs: list[str] = []
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    opened.dialogs = dialogs
    try:
        yield opened
    finally:
        opened.close()


def _result(page: Any) -> str:
    page.wait_for_selector("[data-verify-result].verified, [data-verify-result].failed")
    return str(page.text_content("[data-verify-result]"))


def test_browser_pages_show_the_demo(page: Any, served: Served, artifacts: Path) -> None:
    base = served.base
    page.goto(base + "/web/")
    assert page.locator("table a", has_text="claude-opus-3").count() == 1
    assert "retired with extended access" in page.inner_text("main")
    assert page.inner_text("[data-checkpoint-size]") == str(DEMO_EVENTS + 1)
    moment = page.locator("time.moment").first
    assert "UTC" in str(moment.get_attribute("title"))
    assert "GMT+9" in moment.inner_text()  # shown in the reader's time zone
    _shoot(page, artifacts, "overview")

    page.goto(base + "/web/timeline?type=AccessPolicySet")
    assert "licence forbids serving" in page.inner_text("main")
    assert page.locator("table.timeline tbody tr").count() == 4
    page.goto(base + "/web/timeline?role=board&since=2025-12-01T00:00Z")
    assert page.input_value("input[name=since]") == "2025-12-01T00:00Z"
    assert "k.brandt" in page.inner_text("table.timeline")
    assert "p.lindqvist" not in page.inner_text("table.timeline")
    _shoot(page, artifacts, "timeline")

    page.goto(base + "/web/search")
    page.fill("input[name=q]", "licence forbids serving")
    page.locator("form[role=search] button").click()
    page.wait_for_url("**/web/search?q=licence+forbids+serving*")
    first = page.locator("ol.hits h3").first.inner_text()
    assert "cinder-1" in first and "Access policy set" in first
    _shoot(page, artifacts, "search")

    page.goto(base + "/web/fairness")
    assert "cinder-1 and meridian-2 are 0.065 apart" in page.inner_text("main")
    assert page.locator("figure img").count() == 2
    assert page.is_visible("[data-print]")
    page.emulate_media(media="print")
    assert not page.is_visible("header.site")
    page.emulate_media(media="screen")
    _shoot(page, artifacts, "fairness", full_page=True)

    page.goto(base + "/web/models/claude-opus-3/manifest")
    assert "Model Preservation team" in page.inner_text("main")

    page.goto(base + "/web/models/claude-opus-3")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    _shoot(page, artifacts, "model-phone")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_browser_time_travel(page: Any, served: Served, artifacts: Path) -> None:
    page.goto(served.base + "/web/models/claude-opus-3")
    assert page.inner_text("h1 .status") == "retired with extended access"
    page.fill("input[name=version]", "19")
    page.locator("form:has(input[name=version]) button").click()
    page.wait_for_url("**/web/models/claude-opus-3?version=19")
    assert page.inner_text("h1 .status") == "retirement scheduled"
    assert "the status then was retirement scheduled" in page.inner_text("[data-travel]")
    assert page.locator("tr.later").count() > 0
    page.locator("#time-travel").scroll_into_view_if_needed()
    _shoot(page, artifacts, "model-time-travel")
    page.click("text=Back to now")
    assert page.inner_text("h1 .status") == "retired with extended access"


def _decision(served: Served, model: str, event_type: str) -> int:
    answer = httpx.get(
        served.base + "/timeline",
        params={"model": model, "type": event_type},
        headers={"Authorization": f"Bearer {served.token}"},
    ).json()
    sequence: int = answer["entries"][0]["sequence"]
    return sequence


def test_browser_verifies_a_decision(page: Any, served: Served, artifacts: Path) -> None:
    sequence = _decision(served, "cinder-1", "AccessPolicySet")
    page.goto(f"{served.base}/web/decisions/{sequence}")
    page.click("[data-verify-run]")
    result = _result(page)
    assert result.startswith("Verified by your browser"), result
    assert f"decision #{sequence} (cinder-1 version 4, AccessPolicySet)" in result
    assert f"in the tree of {DEMO_EVENTS + 1} events" in result
    # Nine fields of every decision, its two pieces of evidence and its two facts.
    assert result.endswith("The record says exactly what this page shows: 13 fields checked."), (
        result
    )
    assert "not checked" not in result
    assert page.locator("[data-step][data-state=ok]").count() == 4
    leaf_step = str(page.text_content("[data-step=leaf] .step-status"))
    assert "13 fields checked (sequence, model, version, type, recorded_at, effective_at, " in (
        leaf_step
    )
    assert "rationale, evidence 1, evidence 2, channels, criteria)" in leaf_step
    _shoot(page, artifacts, "decision-verified", full_page=True)


def _flip_audit_path(body: str) -> str:
    """One hex digit of the first audit path hash, changed."""
    first = json.loads(body)["audit_path"][0]
    digit = "0123456789abcdef"[("0123456789abcdef".index(first[0]) + 1) % 16]
    return body.replace(first, digit + first[1:], 1)


def _flip_leaf(body: str) -> str:
    """The record's version, changed by one digit."""
    return body.replace('"version":4', '"version":5', 1)


def _flip_checkpoint(body: str) -> str:
    """The signed checkpoint's tree size, changed by one digit."""
    return body.replace(f"\\n{DEMO_EVENTS + 1}\\n", f"\\n{DEMO_EVENTS + 2}\\n", 1)


@pytest.mark.parametrize(
    ("route", "tamper", "step"),
    [
        ("**/log/proof/inclusion*", _flip_audit_path, "Audit path to the signed root"),
        ("**/log/leaves/*", _flip_leaf, "Leaf hash"),
        ("**/log/proof/inclusion*", _flip_checkpoint, "Checkpoint signature"),
    ],
    ids=["audit-path", "leaf", "checkpoint"],
)
def test_browser_names_the_step_a_tampered_proof_fails(
    page: Any, served: Served, artifacts: Path, route: str, tamper: Any, step: str
) -> None:
    sequence = _decision(served, "cinder-1", "AccessPolicySet")
    flipped: list[str] = []

    def handle(intercepted: Any) -> None:
        body = intercepted.fetch().text()
        changed = tamper(body)
        assert changed != body and len(changed) == len(body)  # one byte differs
        assert sum(a != b for a, b in zip(changed, body, strict=True)) == 1
        flipped.append(intercepted.request.url)
        intercepted.fulfill(status=200, body=changed, content_type="application/json")

    page.route(route, handle)
    page.goto(f"{served.base}/web/decisions/{sequence}")
    page.click("[data-verify-run]")
    result = _result(page)
    assert flipped
    assert result.startswith(f"Not verified: the step \u201c{step}\u201d failed"), result
    assert page.locator("[data-step][data-state=failed]").count() == 1
    if step == "Audit path to the signed root":
        _shoot(page, artifacts, "decision-tampered", full_page=True)


def test_browser_catches_a_page_that_misstates_the_record(page: Any, served: Served) -> None:
    # As if the view behind the page had been edited: the record and its proof are intact.
    sequence = _decision(served, "cinder-1", "AccessPolicySet")

    def edit(intercepted: Any) -> None:
        body = intercepted.fetch().text()
        assert "licence forbids serving" in body
        intercepted.fulfill(
            status=200,
            body=body.replace("licence forbids serving", "licence allows serving"),
            content_type="text/html; charset=utf-8",
        )

    page.route(f"**/web/decisions/{sequence}", edit)
    page.goto(f"{served.base}/web/decisions/{sequence}")
    page.click("[data-verify-run]")
    result = _result(page)
    assert result.startswith("Not verified: the step \u201cLeaf hash\u201d failed: the record "), (
        result
    )
    assert "says rationale" in result


@contextmanager
def _view_row_altered(
    served: Served, sequence: int, column: str, change: Callable[[Any], None]
) -> Iterator[None]:
    """The served app's own view row of a decision, its JSON ``column`` changed in the database.

    As if someone had edited the view behind the pages: the event store, the log and its proofs
    are untouched. The row is put back afterwards.
    """
    select, update = _VIEW_COLUMNS[column]
    with closing(sqlite3.connect(served.directory / "ledger.db", timeout=30)) as db:
        (kept,) = db.execute(select, (sequence,)).fetchone()
        value = json.loads(kept)
        change(value)
        with db:
            db.execute(update, (json.dumps(value), sequence))
        try:
            yield
        finally:
            with db:
                db.execute(update, (kept, sequence))


_VIEW_COLUMNS = {
    column: (
        f"SELECT {column} FROM view_timeline WHERE sequence = ?",  # noqa: S608 (fixed names)
        f"UPDATE view_timeline SET {column} = ? WHERE sequence = ?",  # noqa: S608
    )
    for column in ("facts", "evidence")
}


def _raise_demand(facts: dict[str, Any]) -> None:
    facts["criteria"]["demand"] = 0.93


def _open_a_channel(facts: dict[str, Any]) -> None:
    facts["channels"].append({"channel": "api", "audience": "public"})


def _swap_a_digest(evidence: list[dict[str, Any]]) -> None:
    evidence[1]["digest"] = "sha256:" + "0" * 64


@pytest.mark.parametrize(
    ("column", "change", "section", "shown", "field"),
    [
        ("facts", _raise_demand, "criteria-heading", "0.93", "criteria"),
        ("facts", _open_a_channel, "facts-heading", "public", "channels"),
        ("evidence", _swap_a_digest, "evidence-heading", "0" * 64, "evidence 2"),
    ],
    ids=["criteria", "channels", "evidence"],
)
def test_browser_catches_a_view_edited_in_the_database(
    page: Any,
    served: Served,
    column: str,
    change: Callable[[Any], None],
    section: str,
    shown: str,
    field: str,
) -> None:
    # The page is rendered from the timeline view; the record and its proofs from the log.
    sequence = _decision(served, "cinder-1", "AccessPolicySet")
    with _view_row_altered(served, sequence, column, change):
        page.goto(f"{served.base}/web/decisions/{sequence}")
        assert shown in page.inner_text(f"section[aria-labelledby={section}]")
        page.click("[data-verify-run]")
        result = _result(page)
    assert result.startswith(
        f"Not verified: the step \u201cLeaf hash\u201d failed: the record says {field} "
    ), result
    assert "this page shows {" in result or "this page shows [" in result
    assert shown in result.split("this page shows", 1)[1]  # the altered value, named
    assert page.locator("[data-step][data-state=failed]").count() == 1
    assert page.locator("[data-step=path][data-state=skipped]").count() == 1

    page.goto(f"{served.base}/web/decisions/{sequence}")  # the row put back: verified again
    page.click("[data-verify-run]")
    assert _result(page).startswith("Verified by your browser"), _result(page)


def _add_a_label(facts: dict[str, Any]) -> None:
    facts["summary"] = "a label the view derived"


def test_browser_names_what_the_record_does_not_carry(page: Any, served: Served) -> None:
    # A field the page shows that the record has no field for is named, never counted.
    sequence = _decision(served, "cinder-1", "AccessPolicySet")
    with _view_row_altered(served, sequence, "facts", _add_a_label):
        page.goto(f"{served.base}/web/decisions/{sequence}")
        assert "a label the view derived" in page.inner_text(
            "section[aria-labelledby=facts-heading]"
        )
        page.click("[data-verify-run]")
        result = _result(page)
    assert result.startswith("Verified by your browser"), result
    assert result.endswith(
        "The record says what this page shows in the fields checked: 13 fields checked; not "
        "checked, as the record does not carry them: summary."
    ), result


def test_browser_says_when_the_pinned_key_is_another(served: Served, signed_in: Any) -> None:
    from projections.translog.checkpoint import generate_signing_key, verifier_key

    other = verifier_key(generate_signing_key("reliquary.local/ledger"))
    page = signed_in.new_page()
    try:
        sequence = _decision(served, "cinder-1", "AccessPolicySet")
        page.goto(f"{served.base}/web/decisions/{sequence}")
        page.click("[data-pin-form] summary")
        page.fill("[data-pin-input]", other)
        page.click("[data-pin-save]")
        page.click("[data-verify-run]")
        result = _result(page)
        assert result.startswith(
            "Not verified: the step \u201cPinned key\u201d failed: key mismatch"
        )
    finally:
        page.fill("[data-pin-input]", served.key)
        page.click("[data-pin-save]")
        page.close()


def test_browser_proves_the_log_extends_a_kept_checkpoint(
    page: Any, served: Served, artifacts: Path
) -> None:
    kept = served.kept
    assert verify_checkpoint(kept, served.key).size == DEMO_EVENTS
    page.goto(served.base + "/web/verify")
    page.fill("[data-kept-input]", kept)
    page.locator("[data-kept-form] button[type=submit]").click()
    page.wait_for_url("**/web/verify?checkpoint=*")
    result = _result(page)
    assert result.startswith(
        f"Verified by your browser: the log reliquary.local/ledger now has {DEMO_EVENTS + 1}"
    )
    assert f"extends the {DEMO_EVENTS} events of your kept checkpoint" in result
    _shoot(page, artifacts, "verify", full_page=True)

    forged = kept.replace(f"\n{DEMO_EVENTS}\n", f"\n{DEMO_EVENTS - 1}\n")
    page.fill("[data-kept-input]", forged)
    page.locator("[data-kept-form] button[type=submit]").click()
    page.wait_for_url(f"**/web/verify?checkpoint=*{DEMO_EVENTS - 1}*")
    assert _result(page).startswith(
        "Not verified: the step \u201cKept checkpoint signature\u201d failed"
    )


def test_browser_shows_a_stored_script_as_text(page: Any, served: Served) -> None:
    sequence = _decision(served, XSS_MODEL, "ModelRegistered")
    page.goto(f"{served.base}/web/decisions/{sequence}")
    assert page.inner_text("[data-field=rationale]") == XSS
    page.click("[data-verify-run]")
    assert _result(page).startswith("Verified by your browser")  # the page says what was signed
    page.goto(f"{served.base}/web/timeline?model={XSS_MODEL}")
    assert XSS in page.inner_text("main")
    assert page.dialogs == []
    assert page.locator("main script, main img[src=x]").count() == 0


def test_browser_follows_a_link_from_another_site(page: Any, served: Served) -> None:
    # localhost and 127.0.0.1 are different sites: the SameSite=Strict cookie is not sent on
    # the link's navigation, and the page reloads itself from this site to get it.
    page.goto(f"http://localhost:{served.port}/web/verify")
    page.evaluate(f"location.href = '{served.base}/web/timeline?type=ModelRetired'")
    page.wait_for_url(f"{served.base}/web/timeline?type=ModelRetired")
    page.wait_for_selector("table.timeline")
    assert "Retired fully on the date the dataset licence ends" in page.inner_text("main")
