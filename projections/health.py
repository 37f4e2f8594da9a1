"""Whether the service can answer, and how current its answers are: ready, lagging or broken.

`health` is the one rule (``GET /health`` only presents it). It looks at three parts, each
with a status and the figures behind it, and the whole is the worst of them:

- **service**: the events' database answers (its last notification id is read). Broken if
  it does not.
- **views**: the views' database answers, every view's table is there, and each view is
  within the thresholds: at most ``max_lag_events`` events behind the log, and the oldest
  event it has not taken at most ``max_lag_seconds`` old (`projections.runner.ViewStatus`).
  Lagging beyond either threshold (the answers are still right, only older: each says how far
  behind in its basis); broken if the database does not answer or a table is missing.
- **log**: the transparency log's tree against the ledger: ready when it holds every event,
  lagging while at most ``max_log_lag_events`` are not in it yet (its follower catching up),
  broken beyond that (the follower has stopped, or cannot write) or if it cannot be read.

What it costs: a few reads, none over the whole log. Each count of events not yet taken stops
at its threshold plus one (`ViewRunner.recorded_after` with a limit), so a view or a log far
behind costs no more than one at the threshold.

What it discloses: counts and positions in the log (public: every checkpoint says how many
events there are), the views' names, and when the oldest event a view has not taken was
recorded. A database that does not answer is named, never its address or the driver's
message (those are logged), so the answer needs no authentication.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from domain.ledger import Ledger
    from projections.runner import ViewRunner
    from projections.translog.tree import TransparencyLog

LOGGER = logging.getLogger("reliquary.health")

READY = "ready"
LAGGING = "lagging"
BROKEN = "broken"
_ORDER = (READY, LAGGING, BROKEN)


@dataclass(frozen=True)
class HealthPolicy:
    """The thresholds (``RELIQUARY_HEALTH_*``, docs/configuration.md)."""

    max_lag_events: int = 1000
    max_lag_seconds: float = 60.0
    max_log_lag_events: int = 10_000

    def __post_init__(self) -> None:
        if self.max_lag_events < 0 or self.max_lag_seconds < 0 or self.max_log_lag_events < 0:
            raise ValueError("health thresholds are 0 or more")


@dataclass(frozen=True)
class Part:
    """One part's status, the figures behind it, and why it is not ready (if it is not)."""

    status: str
    figures: dict[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The part as JSON: its status, its problems and its figures."""
        return {"status": self.status, "problems": list(self.problems), **self.figures}


@dataclass(frozen=True)
class Health:
    """The three parts; the whole is the worst of them."""

    service: Part
    views: Part
    log: Part
    checked_at: datetime

    @property
    def status(self) -> str:
        """``ready``, ``lagging`` or ``broken``: the worst part's."""
        return max((self.service.status, self.views.status, self.log.status), key=_ORDER.index)

    @property
    def serving(self) -> bool:
        """Whether the service answers (ready or lagging), as HTTP 200 says; broken is 503."""
        return self.status != BROKEN

    def as_json(self) -> dict[str, Any]:
        """The answer of ``GET /health``."""
        return {
            "status": self.status,
            "checked_at": self.checked_at.isoformat(),
            "service": self.service.as_json(),
            "views": self.views.as_json(),
            "log": self.log.as_json(),
        }


def health(
    ledger: Ledger,
    views: ViewRunner | None,
    log: TransparencyLog | None,
    policy: HealthPolicy,
    *,
    now: datetime | None = None,
) -> Health:
    """Ready, lagging or broken, for the service, the views and the log (see the module).

    ``views`` and ``log`` are None where they could not be opened (that part is broken).
    """
    moment = now or datetime.now(UTC)
    service, head = _service(ledger)
    return Health(
        service=service,
        views=_views(views, policy, moment, head),
        log=_log(ledger, views, log, policy, head),
        checked_at=moment,
    )


def _service(ledger: Ledger) -> tuple[Part, int | None]:
    try:
        head = ledger.recorder.max_notification_id() or 0
    except Exception as error:
        LOGGER.warning("health: the events' database does not answer: %s", error)
        return Part(BROKEN, {"head": None}, ("the events' database does not answer",)), None
    return Part(READY, {"head": head}), head


def _views(views: ViewRunner | None, policy: HealthPolicy, now: datetime, head: int | None) -> Part:
    thresholds = {
        "max_lag_events": policy.max_lag_events,
        "max_lag_seconds": policy.max_lag_seconds,
    }
    if views is None:
        return Part(BROKEN, thresholds, ("the views could not be opened",))
    try:
        views.recorder.fetch("SELECT 1")
        missing = views.missing_tables()
    except Exception as error:
        LOGGER.warning("health: the views' database does not answer: %s", error)
        return Part(BROKEN, thresholds, ("the views' database does not answer",))
    if missing:
        return Part(
            BROKEN,
            {**thresholds, "missing_tables": missing},
            (f"the views' tables are missing: {', '.join(missing)}",),
        )
    if head is None:
        return Part(BROKEN, thresholds, ("the events cannot be read to compare",))
    try:
        statuses = views.status(limit=policy.max_lag_events + 1, now=now)
    except Exception as error:
        LOGGER.warning("health: the views' status could not be read: %s", error)
        return Part(BROKEN, thresholds, ("the views' status could not be read",))
    shown = {}
    problems = []
    for status in statuses:
        late = status.behind > policy.max_lag_events or status.lag_seconds > policy.max_lag_seconds
        figures = status.as_json()
        del figures["view"]
        shown[status.name] = {"status": LAGGING if late else READY, **figures}
        if late:
            problems.append(
                f"view {status.name} is {_behind(status.behind, policy.max_lag_events)} "
                f"event(s) and {status.lag_seconds:.0f} s behind the log"
            )
    return Part(LAGGING if problems else READY, {**thresholds, "views": shown}, tuple(problems))


def _log(
    ledger: Ledger,
    views: ViewRunner | None,
    log: TransparencyLog | None,
    policy: HealthPolicy,
    head: int | None,
) -> Part:
    thresholds = {"max_lag_events": policy.max_log_lag_events}
    if log is None:
        return Part(BROKEN, thresholds, ("the log is not open",))
    try:
        position = log.recorder.max_tracking_id(ledger.name) or 0
        size = log.size()
        latest = log.recorder.latest_checkpoint()
    except Exception as error:
        LOGGER.warning("health: the transparency log cannot be read: %s", error)
        return Part(BROKEN, thresholds, ("the transparency log cannot be read",))
    figures: dict[str, Any] = {
        **thresholds,
        "size": size,
        "position": position,
        "signed_size": None if latest is None else latest.size,
    }
    if head is None or views is None:
        return Part(BROKEN, figures, ("the events cannot be read to compare",))
    try:
        behind = (
            views.recorded_after(position, limit=policy.max_log_lag_events + 1)
            if head > position
            else 0
        )
    except Exception as error:
        LOGGER.warning("health: the events after the log's position cannot be counted: %s", error)
        return Part(BROKEN, figures, ("the events cannot be counted",))
    figures["behind"] = behind
    if behind > policy.max_log_lag_events:
        shown = _behind(behind, policy.max_log_lag_events)
        return Part(BROKEN, figures, (f"the log's tree is {shown} event(s) behind the ledger",))
    if behind:
        return Part(LAGGING, figures, (f"the log's tree is {behind} event(s) behind the ledger",))
    return Part(READY, figures)


def _behind(counted: int, threshold: int) -> str:
    """A count that stopped at the threshold plus one, as said: "more than N"."""
    return f"more than {threshold}" if counted > threshold else str(counted)
