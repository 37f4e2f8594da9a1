"""The log follows the ledger in the background, so that no command waits for it.

A command is recorded when its event is stored; taking the event into the transparency log is
a projection that may run later (a leaf proves an event, it does not decide it). The HTTP
service runs one `LogFollower`: a daemon thread that catches the log up whenever a writer wakes
it, and at least every ``interval`` seconds (events written by other processes are taken too).
A failure of the log is logged and retried with a growing pause; it never reaches the writer,
whose command is already stored and acknowledged.

The follower is also the service's signer. Given the signing key, after catching up it signs a
checkpoint of the whole log when the log has grown past the latest one, at most once every
``checkpoint_interval`` seconds: new entries become provable within about that interval, and
however many events are written, the service signs at most one checkpoint per interval.
Readers never sign (`projections.translog.service`).

Under a witness policy (``witness``), each checkpoint signed is then submitted to the witnesses,
and submitted again at most once per ``checkpoint_interval`` until a quorum has cosigned it
(a witness that was down is asked again; one that already cosigned answers at once).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from projections.translog.tree import TransparencyLog

LOGGER = logging.getLogger("reliquary.log")


class LogFollower:
    """A background thread that keeps a transparency log caught up with its ledger, and signed."""

    def __init__(
        self,
        log: TransparencyLog,
        interval: float = 1.0,
        max_pause: float = 30.0,
        *,
        signing_key: str | None = None,
        checkpoint_interval: float = 10.0,
        witness: Callable[[], bool] | None = None,
    ):
        self.log = log
        self.interval = interval
        self.max_pause = max_pause
        self.signing_key = signing_key
        self.checkpoint_interval = checkpoint_interval
        # Submits the latest checkpoint to the witnesses; True once a quorum cosigned it.
        self.witness = witness
        self._witnessed = False  # at start, the latest checkpoint may still lack its quorum
        self._next_witnessing = 0.0
        self.failures = 0
        self.signed = 0
        """How many checkpoints this follower has signed."""
        self._next_signing = 0.0  # time.monotonic() before which no checkpoint is signed
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start following (once): the first catch-up (and signing) happens at once."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="log-follower", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """Tell the follower that an event was stored: take it soon."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop following, after the batch in progress."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        pause = 0.0
        while not self._stop.is_set():
            self._wake.wait(pause)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.log.catch_up()
                self._sign_if_due()
            except Exception:
                # The events are stored; only the log is behind. Say so, and try again later.
                self.failures += 1
                pause = min(self.max_pause, self.interval * 2 ** min(self.failures, 8))
                LOGGER.exception("the transparency log could not take new events; will retry")
            else:
                self.failures = 0
                pause = self.interval

    def _sign_if_due(self) -> None:
        """Sign a checkpoint if the log grew, unless one was signed less than an interval ago."""
        if self.signing_key is None:
            return
        now = time.monotonic()
        if now < self._next_signing:
            return
        if self.log.sign_if_grown(self.signing_key) is not None:
            self.signed += 1
            self._next_signing = now + self.checkpoint_interval
            self._witnessed = False
        self._witness_if_due(now)

    def _witness_if_due(self, now: float) -> None:
        """Ask the witnesses to cosign the latest checkpoint until a quorum has.

        A checkpoint just signed is submitted at once; one the witnesses did not all answer
        for is submitted again, at most once per checkpoint interval.
        """
        if self.witness is None or self._witnessed or now < self._next_witnessing:
            return
        self._next_witnessing = now + self.checkpoint_interval
        self._witnessed = self.witness()
