"""Writers sign checkpoints: the log follower on a schedule, at most once per interval.

The HTTP service's follower, given the signing key, signs a checkpoint once the log has grown,
never more than once per ``checkpoint_interval``, so however fast events are written (or the
log is read) the number of checkpoints is bounded by time. Without a key it only follows.
"""

from __future__ import annotations

import time

from domain.ledger import Ledger
from projections.translog.checkpoint import generate_signing_key, verifier_key, verify_checkpoint
from projections.translog.follower import LogFollower
from projections.translog.tree import TransparencyLog
from tests.support import open_log, parse, register, unique

ORIGIN = "reliquary.test/ledger"
KEY = generate_signing_key(ORIGIN)


def _wait(condition, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def _covered(log: TransparencyLog, size: int) -> bool:
    latest = log.recorder.latest_checkpoint()
    return latest is not None and latest.size >= size


def test_the_follower_signs_new_events_at_most_once_per_interval(
    ledger: Ledger, database_url: str
) -> None:
    log = open_log(database_url, ledger, ORIGIN)
    interval = 0.4
    follower = LogFollower(log, interval=0.01, signing_key=KEY, checkpoint_interval=interval)
    follower.start()
    try:
        ledger.execute(parse(register(unique())))
        follower.wake()
        assert _wait(lambda: _covered(log, 1)), "the follower never signed the first event"

        # A burst of writes: checkpoints follow, but no more than one per interval.
        started = time.monotonic()
        written = 1
        while time.monotonic() - started < 1.2:
            ledger.execute(parse(register(unique())))
            written += 1
            follower.wake()
        elapsed = time.monotonic() - started
        assert _wait(lambda: _covered(log, written)), "the last events were never signed"
        signed = log.checkpoints()
        assert 2 <= len(signed) <= 1 + int(elapsed / interval) + 2
        assert len(signed) == follower.signed
        assert signed[-1].size == written
        verify_checkpoint(signed[-1].note, verifier_key(KEY))

        # Nothing new: nothing signed, however long it runs.
        time.sleep(2 * interval)
        assert len(log.checkpoints()) == len(signed)
    finally:
        follower.stop()


def test_without_the_key_the_follower_only_follows(ledger: Ledger, database_url: str) -> None:
    log = open_log(database_url, ledger, ORIGIN)
    follower = LogFollower(log, interval=0.01, checkpoint_interval=0.1)
    follower.start()
    try:
        ledger.execute(parse(register(unique())))
        follower.wake()
        assert _wait(lambda: log.size() == 1)
        time.sleep(0.3)
    finally:
        follower.stop()
    assert log.checkpoints() == []
    assert follower.signed == 0
