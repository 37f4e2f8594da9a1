"""The rows of the registers, as plain values: what the views store and the reports read.

The views (``projections/views.py``) keep these in tables; the fairness report
(``projections/fairness/``) is a pure function of lists of them, so it can be tested on
hand-written rows and computed the same way from either backend.

Dates are the day a decision took effect (its ``effective_at`` if given, else the day the
ledger recorded it), in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class AccessRequestRow:
    """One access request and where its decision stands."""

    model: str
    request_id: str
    requester: str
    organisation: str
    requester_group: str  # academic | nonprofit | industry | independent | government
    purpose: str
    requested_on: date
    status: str  # pending | approved | denied | appealed | revoked | expired (as of the read)
    first_decision: str | None  # approved | denied: the decision before any appeal
    decided_on: date | None  # the day of the latest decision (approval or denial)
    appealed: bool
    expires_on: date | None
    reason: str | None  # the reason the requester was told, for a denial or revocation
    # The denial's code (`domain.decisions.DENIAL_REASONS`; ``not_coded`` before codes were
    # kept), while the request stands denied or was denied before an appeal.
    reason_code: str | None = None
    resubmission_of: str | None = None  # the denied request this one resubmits
    # The requester's pseudonym (`domain.sealed`): whose the private values of the row are, so
    # that a reader sees them only if it may open them (`Queries.register`).
    subject: str | None = None
    scope: str | None = None  # what the requester asked to use (private, as the purpose)
    terms: str | None = None  # the terms of an approval (private: the grant is the requester's)


@dataclass(frozen=True)
class AccessPolicyRow:
    """The access policy in force for a model (the latest one set)."""

    model: str
    decided_on: date
    channels: tuple[tuple[str, str], ...]  # (channel, audience)
    criteria: dict[str, float] | None  # alignment, demand, distinctiveness, research_value, cost
    final_status: str | None  # fully_retired | retired_with_extended_access, once retired
    rationale: str


@dataclass(frozen=True)
class EssayRow:
    """One essay from draft to review to publication."""

    model: str
    essay_id: str
    title: str
    drafted_on: date
    status: str  # drafted | approved | vetoed | published
    reviewer: str | None  # who approved or vetoed it
    reviewed_on: date | None
    risk_category: str | None  # for a veto
    veto_reason: str | None
    published_on: date | None
    disclaimer_version: str | None


@dataclass(frozen=True)
class PreferenceRow:
    """One preference the model expressed, and what was decided about it."""

    model: str
    preference_id: str
    statement: str
    theme: str
    recorded_on: date
    interviews: int  # distinct supporting interviews
    contradictions: int
    stable: bool  # under the configured policy, now
    outcome: str | None  # honored | partly_honored | declined | deferred
    decided_on: date | None
    stable_when_decided: bool | None  # None while undecided
    decision_rationale: str | None
