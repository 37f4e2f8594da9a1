"""Hostile input is refused before the service does work for it (`api.http.limits`).

Against the real app and database on each backend, through a TestClient and, where what matters
is what crosses the wire (a body never sent, a body still being sent), through a real uvicorn
server in a thread spoken to over a raw socket. The body limit is set low (8 KiB) so that a valid
command can pass it. Then the same rules at the CLI's door: `reliquary apply` holds a line to the
same setting and refuses duplicate keys.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.cli import main
from api.http.app import create_app
from api.http.routes.commands import ROUTES
from api.settings import Settings
from domain.commands import parse_command
from domain.errors import CommandRejected
from tests.support import register, signing_environment, unique

LIMIT = 8 * 1024
ORIGIN = "reliquary.local/ledger"
PROBLEM = "application/problem+json"
URN = "urn:reliquary:problem:"
FAILURE = "/test-only/failure"  # a route added to the real app that raises: a bug, injected
PAGE_FAILURE = "/web/test-only/failure"
STORE_FAILURE = "/test-only/store-failure"  # the store's driver fails: a dropped connection


def _fail() -> None:
    raise RuntimeError("injected failure")


def _store_fails() -> None:
    from eventsourcing.persistence import OperationalError

    raise OperationalError("terminating connection due to administrator command")


@dataclass
class Api:
    client: TestClient
    app: Any
    token: str  # a curator's

    def auth(self, **headers: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **headers}

    def head(self) -> int:
        """The notification id of the last event appended (what a refusal must not move)."""
        return self.app.state.services.ledger.recorder.max_notification_id() or 0

    def registered(self, model: str) -> bool:
        return self.client.get(f"/models/{model}", headers=self.auth()).status_code == 200


def _app(url: str) -> Any:
    app = create_app(Settings(database_url=url, max_document_bytes=LIMIT))
    for path in (FAILURE, PAGE_FAILURE):  # first: the console answers any other /web/ path
        app.router.routes.insert(0, APIRoute(path, _fail, methods=["GET"]))
    app.router.routes.insert(0, APIRoute(STORE_FAILURE, _store_fails, methods=["GET"]))
    return app


@pytest.fixture(scope="module")
def signing_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    key = tmp_path_factory.mktemp("key") / "signing.key"
    with signing_environment(key, ORIGIN):
        yield


@pytest.fixture(scope="module")
def api(backend_url: str, signing_env: None) -> Iterator[Api]:
    """The app on an empty ledger, its lifespan running, with a curator's token."""
    app = _app(backend_url)
    with TestClient(app, raise_server_exceptions=False) as client:
        token = app.state.services.actors.add("curator-limits", "curator").token
        yield Api(client, app, token)


@dataclass
class Served:
    """The app served by uvicorn on a loopback port."""

    port: int
    token: str
    head: Any

    def exchange(self, head: bytes, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
        """Send ``head`` and ``body`` (which may be incomplete), then read one response.

        The socket's timeout only guards against a hang: a server that waited for the rest of
        the body would never answer.
        """
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as conn:
            conn.sendall(head + body)
            data = b""
            while b"\r\n\r\n" not in data:
                received = conn.recv(65536)
                assert received, f"the server closed without answering: {data!r}"
                data += received
            header_block, _, rest = data.partition(b"\r\n\r\n")
            status_line, *lines = header_block.decode("latin-1").split("\r\n")
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in lines)
            }
            length = int(headers["content-length"])
            while len(rest) < length:
                received = conn.recv(65536)
                assert received
                rest += received
        return int(status_line.split()[1]), headers, rest


@pytest.fixture(scope="module")
def served(backend_url: str, signing_env: None, api: Api) -> Iterator[Served]:
    """Another app on the same store, served over a real socket."""
    app = _app(backend_url)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    for _ in range(3000):  # until the server has started (or its thread has ended)
        if server.started or not thread.is_alive():
            break
        thread.join(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield Served(listener.getsockname()[1], api.token, api.head)
    finally:
        server.should_exit = True
        thread.join()
        listener.close()


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem of this status and type; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["type"] == URN + slug, problem
    assert problem["status"] == status
    assert problem["title"] and problem["detail"]
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", response.headers["x-request-id"])
    return problem  # type: ignore[no-any-return]


def _register_body(rationale: str = "It enters the ledger.") -> dict[str, Any]:
    return {
        key: value
        for key, value in {**register("x"), "rationale": rationale}.items()
        if key not in {"command", "model", "actor"}
    }


JSON = {"Content-Type": "application/json"}


# -- the body's size ---------------------------------------------------------------------------


@pytest.mark.parametrize("authenticated", [False, True], ids=["no-token", "token"])
def test_a_content_length_over_the_limit_is_413_before_anything_else(
    api: Api, authenticated: bool
) -> None:
    model = unique("big")
    headers = api.auth(**JSON) if authenticated else JSON
    head = api.head()

    response = api.client.post(f"/models/{model}", content=b"{" * (LIMIT + 1), headers=headers)

    problem = assert_problem(response, 413, "body-too-large")
    assert (problem["limit"], problem["size"]) == (LIMIT, LIMIT + 1)
    assert str(LIMIT) in problem["detail"]
    assert api.head() == head


def test_an_over_limit_command_is_refused_and_appends_nothing(api: Api) -> None:
    model = unique("big")
    body = _register_body("r" * (LIMIT + 100))  # a valid command, but for its size
    head = api.head()

    response = api.client.post(f"/models/{model}", json=body, headers=api.auth())

    assert assert_problem(response, 413, "body-too-large")["limit"] == LIMIT
    assert api.head() == head
    assert not api.registered(model)
    # The same command under the limit is recorded: the size alone refused it.
    accepted = api.client.post(f"/models/{model}", json=_register_body(), headers=api.auth())
    assert accepted.status_code == 201, accepted.text


def test_a_streamed_body_over_the_limit_is_413(api: Api) -> None:
    model = unique("streamed")
    head = api.head()

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent with Transfer-Encoding: chunked
        for _ in range(4):
            yield b" " * (LIMIT // 2)

    response = api.client.post(f"/models/{model}", content=chunks(), headers=api.auth(**JSON))

    problem = assert_problem(response, 413, "body-too-large")
    assert problem["limit"] == LIMIT and problem["received"] > LIMIT
    assert api.head() == head


def test_a_declared_length_over_the_limit_is_refused_with_no_body_sent(served: Served) -> None:
    # 300 MiB declared, not a byte of it sent: the answer comes without the body being read.
    for authorization in (b"", f"Authorization: Bearer {served.token}\r\n".encode()):
        status, headers, body = served.exchange(
            b"POST /models/never-sent HTTP/1.1\r\nHost: test\r\n"
            + authorization
            + b"Content-Type: application/json\r\nContent-Length: 314572800\r\n\r\n"
        )
        assert status == 413
        assert headers["content-type"].startswith(PROBLEM)
        assert json.loads(body)["size"] == 314572800


def test_a_chunked_body_is_refused_while_it_is_still_being_sent(served: Served) -> None:
    # The body passes the limit and never ends (no last chunk): the server answers anyway,
    # so it stopped reading at the limit instead of waiting for the rest.
    head = served.head()
    chunk = b"%x\r\n%s\r\n" % (1024, b" " * 1024)
    status, headers, body = served.exchange(
        b"POST /models/never-ends HTTP/1.1\r\nHost: test\r\n"
        + f"Authorization: Bearer {served.token}\r\n".encode()
        + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        chunk * (LIMIT // 1024 + 2),
    )
    assert status == 413
    assert json.loads(body)["type"] == URN + "body-too-large"
    assert served.head() == head


def test_a_missing_token_is_answered_before_the_body_arrives(served: Served) -> None:
    # The body is declared and never sent: the 401 cannot have waited for it.
    status, headers, _ = served.exchange(
        b"POST /models/no-token HTTP/1.1\r\nHost: test\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    assert status == 401
    assert headers["www-authenticate"] == "Bearer"


# -- the token before the body -----------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.command)
def test_no_token_and_a_malformed_body_is_401_not_422(api: Api, route: Any) -> None:
    ids = {"preference_id": "p", "request_id": "r", "essay_id": "e", "subject": "s"}
    path = route.path.format(model=unique("m"), **ids)
    head = api.head()
    for headers in ({}, {"Authorization": "Bearer rlq_not-a-token"}, {"Authorization": "Basic x"}):
        for content in (b"{not json", b'{"a": 1, "a": 2}', b"\xff\xfe"):
            response = api.client.post(path, content=content, headers={**JSON, **headers})
            assert_problem(response, 401, "unauthenticated")
            assert response.headers["www-authenticate"] == "Bearer"
    assert api.head() == head


def test_with_a_token_a_malformed_body_is_still_a_422(api: Api) -> None:
    response = api.client.post(
        f"/models/{unique('m')}", content=b"{not json", headers=api.auth(**JSON)
    )
    assert_problem(response, 422, "invalid-command")


# -- duplicate keys ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "key"),
    [
        (b'{"rationale": "reviewed", "family": "f", "rationale": "recorded"}', "rationale"),
        (
            b'{"rationale": "r", "evidence": [{"uri": "https://a.example", '
            b'"description": "d", "uri": "https://b.example"}]}',
            "uri",
        ),
    ],
    ids=["top-level", "nested"],
)
def test_a_duplicate_json_key_is_refused_and_appends_nothing(
    api: Api, content: bytes, key: str
) -> None:
    model = unique("dup")
    body = json.dumps(_register_body())[:-1].encode() + b", " + content[1:]  # valid but for it
    head = api.head()

    response = api.client.post(f"/models/{model}", content=body, headers=api.auth(**JSON))

    problem = assert_problem(response, 422, "duplicate-json-key")
    assert problem["key"] == key and repr(key) in problem["detail"]
    assert api.head() == head
    assert not api.registered(model)


# -- the URL's encoding ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "part"),
    [
        ("/models/%FF", "path"),
        ("/models/%FE/history", "path"),
        ("/models/caf%E9", "path"),  # Latin-1, not UTF-8
        ("/timeline?model=%FF", "query string"),
    ],
)
def test_a_url_that_is_not_utf8_is_a_400(api: Api, path: str, part: str) -> None:
    problem = assert_problem(api.client.get(path, headers=api.auth()), 400, "invalid-url-encoding")
    assert problem["part"] == part and "UTF-8" in problem["detail"]


def test_a_post_to_a_path_that_is_not_utf8_appends_nothing(api: Api) -> None:
    head = api.head()
    response = api.client.post("/models/%FF", json=_register_body(), headers=api.auth())
    assert_problem(response, 400, "invalid-url-encoding")
    assert api.head() == head


def test_utf8_in_a_path_still_reaches_its_route(api: Api) -> None:
    response = api.client.get("/models/caf%C3%A9", headers=api.auth())
    assert_problem(response, 404, "model-not-found")


def test_the_web_console_answers_a_bad_url_with_a_page(api: Api) -> None:
    response = api.client.get("/web/search?q=%FF")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-request-id"] in response.text


# -- request ids and failures ------------------------------------------------------------------


def test_an_unhandled_exception_is_a_500_problem_with_a_request_id_that_the_log_names(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="reliquary.http")

    response = api.client.get(FAILURE)

    problem = assert_problem(response, 500, "internal-error")
    request_id = response.headers["x-request-id"]
    assert problem["request_id"] == request_id and request_id in problem["detail"]
    assert "injected failure" not in response.text  # the log has the details, not the caller
    records = [r for r in caplog.records if getattr(r, "request_id", None) == request_id]
    assert len(records) == 1, caplog.records
    assert records[0].levelno == logging.ERROR and request_id in records[0].getMessage()
    assert records[0].exc_info is not None
    assert "injected failure" in caplog.text and "Traceback" in caplog.text


def test_a_store_that_dropped_the_connection_is_a_503_to_retry(api: Api) -> None:
    response = api.client.get(STORE_FAILURE)
    problem = assert_problem(response, 503, "store-unavailable")
    assert response.headers["retry-after"] == "1"
    assert problem["request_id"] == response.headers["x-request-id"]
    assert "administrator command" not in response.text


def test_a_json_body_that_is_not_utf8_is_refused_and_appends_nothing(api: Api) -> None:
    head = api.head()
    body = json.dumps(_register_body()).encode("utf-16")
    response = api.client.post("/models/utf16-model", content=body, headers=api.auth(**JSON))
    assert_problem(response, 400, "invalid-json-encoding")
    assert api.head() == head and not api.registered("utf16-model")


def test_a_failure_under_the_web_console_is_an_html_page(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="reliquary.http")
    response = api.client.get(PAGE_FAILURE)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-request-id"] in response.text
    assert "injected failure" not in response.text
    assert any(getattr(r, "request_id", None) for r in caplog.records)


def test_a_well_formed_request_id_is_kept_and_any_other_replaced(api: Api) -> None:
    kept = api.client.get("/log/key", headers={"X-Request-Id": "trace-42.a_b"})
    assert kept.headers["x-request-id"] == "trace-42.a_b"
    for bad in ("x" * 65, "has space", "semi;colon", ""):
        replaced = api.client.get(FAILURE, headers={"X-Request-Id": bad})
        assert replaced.headers["x-request-id"] != bad
        assert replaced.json()["request_id"] == replaced.headers["x-request-id"]


def test_every_answer_carries_a_request_id(api: Api) -> None:
    for response in (
        api.client.get("/log/key"),
        api.client.get("/no/such/route"),
        api.client.get("/models"),
        api.client.get("/web/login"),
    ):
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", response.headers["x-request-id"])


# -- the web console's forms are not API commands ------------------------------------------------


def test_the_web_console_still_signs_in_with_a_form(api: Api) -> None:
    auditor = api.app.state.services.actors.add(unique("auditor"), "auditor").token
    form = api.client.get("/web/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    signed = api.client.post(
        "/web/login",
        data={"token": auditor, "csrf": csrf.group(1), "next": "/web/"},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text
    api.client.cookies.clear()


# -- /docs works on a closed network ------------------------------------------------------------


def test_the_docs_load_nothing_from_elsewhere_and_their_assets_are_served(api: Api) -> None:
    page = api.client.get("/docs")
    assert page.status_code == 200
    references = re.findall(r"""(?:src|href)=["']([^"']+)["']|url:\s*'([^']+)'""", page.text)
    urls = [src or url for src, url in references]
    assert len(urls) >= 4, page.text  # the script, the style, the icon, the OpenAPI document
    assert "//" not in page.text  # no scheme, no other host, anywhere
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        assert api.client.get(url).status_code == 200, url
    script = next(url for url in urls if url.endswith(".js"))
    assert b"SwaggerUIBundle" in api.client.get(script).content
    assert api.client.get("/redoc").status_code == 404  # ReDoc would load from a CDN


# -- the same rules at the CLI's door ------------------------------------------------------------


def test_parse_command_takes_the_limit_and_refuses_duplicate_keys() -> None:
    document = json.dumps(register("m"))
    assert parse_command(document).model == "m"  # type: ignore[attr-defined]
    size = len(document.encode())
    with pytest.raises(CommandRejected) as refused:
        parse_command(document, max_bytes=size - 1)
    assert str(refused.value).endswith(
        f"command document is {size} bytes, over the limit of {size - 1} bytes"
    )
    nested = document[:-1] + ', "evidence": [{"uri": "u", "uri": "v"}]}'
    with pytest.raises(CommandRejected, match="duplicate key 'uri'"):
        parse_command(nested)


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> Any:
    monkeypatch.setenv("RELIQUARY_SIGNING_KEY", str(tmp_path / "signing.key"))
    monkeypatch.setenv("RELIQUARY_DATABASE_URL", database_url)
    monkeypatch.setenv("RELIQUARY_MAX_DOCUMENT_BYTES", "2048")

    def apply(*lines: str) -> tuple[int, str]:
        path = tmp_path / f"{unique('commands')}.jsonl"
        path.write_text("".join(line + "\n" for line in lines))
        code = main(["apply", str(path)])
        return code, capsys.readouterr().err

    assert main(["init"]) == 0
    capsys.readouterr()
    return apply


def test_apply_holds_a_line_to_the_configured_limit(cli: Any) -> None:
    first = json.dumps(register(unique("cli")))
    long = json.dumps({**register(unique("cli")), "rationale": "r" * 3000})
    size = len(long.encode())

    code, err = cli(first, long)

    assert code == 1
    assert f"line 2: command document is {size} bytes, over the limit of 2048 bytes" in err
    assert "1 command(s) before line 2 stay applied" in err


def test_apply_refuses_a_duplicate_key(cli: Any) -> None:
    document = json.dumps(register(unique("cli")))
    code, err = cli(document[:-1] + ', "rationale": "another"}')
    assert code == 1
    assert "line 1:" in err and "duplicate key 'rationale'" in err


def test_the_api_doc_names_the_guards_problem_types_and_section() -> None:
    from api.http import problems

    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    assert "## Limits and hostile input" in text
    for slug in (
        problems.BODY_TOO_LARGE,
        problems.INVALID_URL_ENCODING,
        problems.DUPLICATE_JSON_KEY,
        problems.INTERNAL_ERROR,
    ):
        assert f"| `{slug}` |" in text, slug
