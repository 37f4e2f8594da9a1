"""What a model's lifecycle remembers between decisions: the aggregate's state records.

They are frozen: an event's ``apply`` replaces a record rather than changing it, so copying the
aggregate (the library copies it out of its cache for every command) needs to copy only the
containers, never the records. The statuses a request, an essay or a retirement can reach are
named here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from domain.decisions import Channel, DifferingFile, Sealed
from domain.rules import Support


@dataclass(frozen=True)
class PreservedWeights:
    """The latest preserved copy of the weights."""

    manifest_digest: str
    file_count: int
    total_bytes: int
    """The files themselves are stored by the digest (`domain.manifests`)."""
    locations: tuple[str, ...]
    custodian: str
    retention: str
    version: int
    preserved_at: datetime


@dataclass(frozen=True)
class ArchiveCheck:
    """One recorded check of a stored copy against the preserved manifest."""

    location: str
    checked_at: datetime
    intact: bool
    differing_files: tuple[DifferingFile, ...]  # the first the record names, by path
    version: int
    differing_count: int = 0  # every differing file, named or not


@dataclass(frozen=True)
class Interview:
    """An interview on the record (its transcript lives elsewhere; we keep its digest)."""

    conducted_on: date
    framing: str
    protocol: str
    protocol_version: str


@dataclass(frozen=True)
class Preference:
    """A preference the model expressed, with the interviews that support it."""

    statement: str
    theme: str
    supports: tuple[Support, ...] = ()
    contradictions: int = 0
    supports_since_contradiction: tuple[Support, ...] = ()
    outcome: str | None = None
    # The interviews that went against it (an interview supports or contradicts, never both).
    contradicted_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class AccessRequest:
    """A request for access and where its decision stands."""

    requester: str | Sealed  # sealed (`domain.disclosure`) in every request the ledger records
    organisation: str | Sealed
    requester_group: str
    status: str = "pending"
    appeals: int = 0
    expires_on: date | None = None
    # The actor id that made the request: it may appeal it, and never decide or revoke it.
    requested_by: str = ""
    # When its latest step (request, decision, appeal) took effect: its effective_at, else
    # its recorded moment. The next decision takes effect on or after it.
    last_step_at: datetime | None = None
    # The denied request this one resubmits, and the request that resubmitted this one.
    resubmission_of: str | None = None
    resubmitted_as: str | None = None

    def status_as_of(self, day: date) -> str:
        """Its status as read on ``day``: an approved grant past its expiry is ``expired``."""
        return grant_status(self.status, self.expires_on, day)


@dataclass(frozen=True)
class Essay:
    """An essay from draft to review to publication."""

    title: str
    status: str = "drafted"
    risk_category: str | None = None
    content_digest: str = ""
    # The vetoed essay with the same content this draft names (``supersedes_vetoed``).
    supersedes_vetoed: str | None = None
    # When the draft and its review took effect (effective_at, else the recorded moment).
    drafted_at: datetime | None = None
    reviewed_at: datetime | None = None


@dataclass(frozen=True)
class AccessPolicy:
    """The channels and audiences a model is kept available to, and the scores behind it."""

    channels: tuple[Channel, ...]
    criteria: dict[str, float] | None


# Request and essay statuses, named once.
PENDING, APPROVED, DENIED, APPEALED, REVOKED = (
    "pending",
    "approved",
    "denied",
    "appealed",
    "revoked",
)
EXPIRED = "expired"
"""Never stored: an approved grant read on a day after its ``expires_on`` (`grant_status`)."""
DRAFTED, VETOED, PUBLISHED = "drafted", "vetoed", "published"
FULLY_RETIRED, EXTENDED_ACCESS = "fully_retired", "retired_with_extended_access"


@dataclass(frozen=True)
class SignalValue:
    """A signal's latest value for one (kind, period), and whether it corrected an earlier one."""

    value: float
    unit: str
    corrected: bool
    correction_reason: str | None


def grant_status(status: str, expires_on: date | None, day: date) -> str:
    """A request's status as read on ``day`` (UTC), decided once for every read.

    A grant holds through its ``expires_on`` day; read on any later day, an approved grant is
    ``expired``. The events never change: expiry is computed from ``expires_on`` and the day
    the state is read for (today for a read now, the moment's day for a time-travel read).
    Any other status is returned as stored.
    """
    if status == APPROVED and expires_on is not None and expires_on < day:
        return EXPIRED
    return status
