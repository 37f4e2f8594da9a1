"""The projection runner: `reliquary projections follow` keeps the views current, as a process.

Run as a real subprocess on each backend, with its output piped: it takes events recorded
while it runs, prints nothing while it works (progress is for terminals), and stops cleanly on
SIGTERM and on SIGINT, saying so, after the page it is taking (each page whole, nothing
lost). A service set to ``RELIQUARY_VIEWS=follow`` meanwhile reads
the views as they are and writes nothing. (The roles themselves, on PostgreSQL, are tested in
tests/e2e/test_hardened_deployment.py.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from api.bootstrap import build_services
from api.cli import main
from api.settings import Settings
from tests.support import doc, parse, register, unique

ROOT = Path(__file__).resolve().parents[2]
WAIT = 60.0  # the most seconds to wait for the runner to take an event (a bound, not a measure)


def _runner(database_url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "RELIQUARY_DATABASE_URL": database_url, "RELIQUARY_VIEWS": "follow"}
    return subprocess.Popen(  # noqa: S603 (our own CLI, arguments fixed here)
        [sys.executable, "-c", "from api.cli import run; run()", "projections", "follow"]
        + ["--interval", "0.05"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _until(condition: object, process: subprocess.Popen[str]) -> None:
    """Wait until ``condition()`` holds, or fail saying what the runner printed."""
    deadline = time.monotonic() + WAIT
    while not condition():  # type: ignore[operator]
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _, err = process.communicate()
            pytest.fail(f"the runner did not take the events (exit {process.returncode}): {err}")
        time.sleep(0.05)


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT])
def test_follow_keeps_the_views_current_and_stops_cleanly(
    database_url: str, stop_with: signal.Signals
) -> None:
    settings = Settings(database_url=database_url, views="follow")
    services = build_services(settings)
    try:
        # A service that does not write the views: its reads take nothing.
        assert services.views.catches_up_on_read is False
        model = unique("followed")
        services.ledger.execute(parse(register(model)))
        assert services.queries.basis().behind_ledger == 1
        assert services.queries.register("signals") == []

        process = _runner(database_url)
        try:
            _until(lambda: services.queries.basis().behind_ledger == 0, process)
            # An event recorded while it runs is taken too.
            services.ledger.execute(
                parse(
                    doc(
                        "record_signal",
                        model,
                        kind="research_use",
                        period_start="2026-01-01",
                        period_end="2026-01-31",
                        value=1.0,
                        unit="count",
                    )
                )
            )
            _until(lambda: len(services.queries.register("signals", model)) == 1, process)
        finally:
            process.send_signal(stop_with)
            out, err = process.communicate(timeout=WAIT)
        assert process.returncode == 0, err
        assert out == ""  # piped: quiet
        taken = 2 * len(services.views.views)  # each event counted once per view
        assert err.strip() == f"OK: stopped following; {taken} events taken"
        basis = services.queries.basis()
        assert (basis.events, basis.recorded, basis.behind_ledger) == (2, 2, 0)
    finally:
        services.close()


def test_the_projection_role_command_is_for_postgres(tmp_path: Path) -> None:
    code = main(["--database-url", f"sqlite:///{tmp_path / 'r.db'}", "grant-projection-role", "x"])
    assert code == 2


def test_a_stop_is_heeded_between_pages_and_loses_nothing(database_url: str) -> None:
    services = build_services(Settings(database_url=database_url, views="follow"))
    try:
        model = unique("paged")
        services.ledger.execute(parse(register(model)))
        for month in (1, 2):
            services.ledger.execute(
                parse(
                    doc(
                        "record_signal",
                        model,
                        kind="research_use",
                        period_start=f"2026-{month:02d}-01",
                        period_end=f"2026-{month:02d}-28",
                        value=1.0,
                        unit="count",
                    )
                )
            )
        runner = services.views
        runner.page = 1  # one event a page
        stop = threading.Event()
        # Stopped while the first page is taken: that page is finished, and nothing more.
        taken = runner.catch_up(on_progress=lambda _: stop.set(), stop=stop)
        assert taken == len(runner.views)  # one event, into every view
        assert runner.reflected()[0] == 1
        assert services.queries.basis().behind_ledger == 2
        # The next run takes the rest, from where it stopped.
        assert runner.catch_up() == 2 * len(runner.views)
        assert services.queries.basis().behind_ledger == 0
        assert len(services.queries.register("signals", model)) == 2
    finally:
        services.close()
