"""`reliquary serve` as a subprocess, and Debian's Chromium driven by Playwright: the harness
the browser tests share (tests/browser/, tests/e2e/test_web.py).

The server runs on a free loopback port, on an SQLite store of its own that the tests may also
open. Chromium is ``/usr/bin/chromium``, never a downloaded browser. Without Chromium or
Playwright the tests skip, saying why; under ``RELIQUARY_REQUIRE_BROWSER=1`` (as in CI) they
fail instead.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
ORIGIN = "reliquary.local/ledger"
REQUIRE_BROWSER = os.environ.get("RELIQUARY_REQUIRE_BROWSER") == "1"


def browser_missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    return None


def require_browser() -> None:
    """Skip without a browser, or fail under ``RELIQUARY_REQUIRE_BROWSER=1``."""
    reason = browser_missing()
    if reason is None:
        return
    if REQUIRE_BROWSER:
        pytest.fail(f"RELIQUARY_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def reliquary_command() -> list[str]:
    script = Path(sys.executable).with_name("reliquary")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from api.cli import run; run()"]


class Served:
    """`reliquary serve` on the demo ledger, and what the tests need to know of it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.database = directory / "ledger.db"
        self.env = {
            **os.environ,
            "RELIQUARY_DATABASE_URL": f"sqlite:///{self.database}",
            "RELIQUARY_SIGNING_KEY": str(directory / "signing.key"),
            "RELIQUARY_LOG_ORIGIN": ORIGIN,
        }
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.key = ""  # the verifier key
        self.tokens: dict[str, str] = {}  # by actor id
        self.token = ""  # an auditor's, where a test keeps one
        self.kept = ""  # a checkpoint a test kept, where one does

    def run(self, *args: str) -> str:
        done = subprocess.run(  # noqa: S603 (our own CLI, fixed arguments)
            [*reliquary_command(), *args],
            env=self.env,
            cwd=self.directory,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def add_actor(self, actor_id: str, role: str) -> str:
        issued = self.run("actors", "add", actor_id, "--role", role, "--json")
        token: str = json.loads(issued)["token"]
        self.tokens[actor_id] = token
        return token

    def start(self) -> None:
        log = (self.directory / "serve.log").open("wb")
        self.process = subprocess.Popen(  # noqa: S603 (our own CLI, fixed arguments)
            [*reliquary_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            cwd=self.directory,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError((self.directory / "serve.log").read_text())
            try:
                if httpx.get(self.base + "/log/key", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("reliquary serve did not answer within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def request_sequence(self, model: str, request_id: str) -> int:
        """The sequence number of the ``AccessRequested`` decision of a request."""
        answer = httpx.get(
            self.base + "/timeline",
            params={"model": model, "type": "AccessRequested", "limit": 1000},
            headers={"Authorization": f"Bearer {self.tokens['web-auditor']}"},
        ).json()
        for entry in answer["entries"]:
            if entry["facts"].get("request_id") == request_id:
                sequence: int = entry["sequence"]
                return sequence
        raise AssertionError(f"no AccessRequested for {request_id} on {model}")


CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, launched by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield launched
        finally:
            launched.close()
