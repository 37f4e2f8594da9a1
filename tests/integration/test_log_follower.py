"""The log follows the ledger in the background, and a failure of the log only delays it."""

from __future__ import annotations

import threading

import pytest

from domain.ledger import Ledger
from projections.translog.follower import LogFollower
from tests.support import open_log, parse, register, unique


def test_a_failing_catch_up_is_retried_until_the_log_has_every_event(
    ledger: Ledger, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = open_log(database_url, ledger)
    real_catch_up = log.catch_up
    failures = iter([RuntimeError("connection dropped"), RuntimeError("again")])
    caught_up = threading.Event()

    def flaky(*args: object, **kwargs: object) -> int:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        taken = real_catch_up()
        if log.size() == 2:
            caught_up.set()
        return taken

    monkeypatch.setattr(log, "catch_up", flaky)
    follower = LogFollower(log, interval=0.01, max_pause=0.05)
    follower.start()
    try:
        model = unique()
        ledger.execute(parse(register(model)))
        ledger.execute(parse(register(unique())))
        follower.wake()
        assert caught_up.wait(10), "the follower never caught the log up"
    finally:
        follower.stop()
    assert follower.failures == 0  # reset by the catch-up that succeeded
    assert log.sequence_of(str(ledger.state(model).id), 1) == 0
