"""Debian's Chromium, driven by Playwright, against `reliquary serve` on the demo ledger
(`tests.served`), whose SQLite store the tests may also open (to alter a stored value, as
someone holding the store could).

Each reader gets a browser context of its own (its own cookies and pinned key): `reader` signs
one in with a token of the given role and actor id, or none for an anonymous reader, and pins
the ledger's verifier key on the public verify page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.served import Served, chromium, require_browser


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The demo ledger served, with an auditor's token (``web-auditor``) to look things up."""
    require_browser()
    server = Served(tmp_path_factory.mktemp("served"))
    server.run("init")
    server.run("demo")
    server.add_actor("web-auditor", "auditor")
    server.key = server.run("key").strip()
    server.run("checkpoint")  # pages never sign: the operator (or the service) does
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One demo ledger served for the console's working pages (queues, a researcher's own
    requests, the public face), shared by their modules on a test worker: each test adds its
    own actors, requests and essays, with ids of its own, so none depends on another's."""
    require_browser()
    server = Served(tmp_path_factory.mktemp("console"))
    server.run("init")
    server.run("demo")
    server.key = server.run("key").strip()
    server.run("checkpoint")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def console_browser(console: Served) -> Iterator[Any]:
    # Per module: Playwright's sync API runs one instance at a time, and other modules start
    # their own.
    with chromium() as launched:
        yield launched


def sign_in(page: Any, served: Served, actor_id: str, role: str, target: str = "/web/") -> None:
    """Sign ``page`` in as ``actor_id`` (a token issued the first time), landing on ``target``."""
    token = served.tokens.get(actor_id) or served.add_actor(actor_id, role)
    page.goto(served.base + "/web/login?next=" + target)
    page.fill("#token", token)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url(served.base + target)


@pytest.fixture
def console_page(console_browser: Any) -> Iterator[Callable[..., Any]]:
    """``console_page(width=1280, height=900)``: a page in a browser context of its own (its
    own cookies), closed after the test."""
    contexts: list[Any] = []

    def open_page(width: int = 1280, height: int = 900) -> Any:
        context = console_browser.new_context(
            viewport={"width": width, "height": height}, locale="en-GB"
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    try:
        yield open_page
    finally:
        for context in contexts:
            context.close()


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


Reader = Callable[[str | None, str], Any]


@pytest.fixture(scope="module")
def reader(browser: Any, served: Served) -> Iterator[Reader]:
    """``reader(actor_id, role)``: a page in a context of its own, signed in as that actor (a
    token is issued the first time), or anonymous for ``None``; the ledger's key pinned."""
    contexts: list[Any] = []

    def open_page(actor_id: str | None, role: str) -> Any:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        if actor_id is not None:
            token = served.tokens.get(actor_id) or served.add_actor(actor_id, role)
            page.goto(served.base + "/web/login?next=/web/verify")
            page.fill("#token", token)
            page.locator("form.stack button[type=submit]").click()
            page.wait_for_url(served.base + "/web/verify")
        else:
            page.goto(served.base + "/web/verify")
        page.fill("[data-pin-input]", served.key)
        page.click("[data-pin-save]")
        page.wait_for_selector("[data-pin-status][data-pinned]")
        return page

    try:
        yield open_page
    finally:
        for context in contexts:
            context.close()


def verify_result(page: Any) -> str:
    """Run "Verify in my browser" on a decision page and return its summary."""
    page.click("[data-verify-run]")
    page.wait_for_selector(
        "[data-verify-result].verified, [data-verify-result].failed, [data-verify-result].warned"
    )
    return str(page.text_content("[data-verify-result]"))
