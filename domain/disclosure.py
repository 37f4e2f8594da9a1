"""The disclosure policy: which fields of which events are public, and which are sealed.

Every event field is **public** (in its leaf in clear, published for good) unless this policy
names it **private**: then the event stores it, and its leaf shows it, only as a `Sealed`
commitment and the pseudonym of the person it is about (`domain.sealed`). The policy is
versioned; docs/disclosure.md is its reference, kept in step by a test.

Private by default are the fields that name or describe a natural person who is not acting for
the lab: the researcher asking for access, and what the board and the requester said about
their request. Everything a public figure needs stays public: the event type, the model, the
version, recorded and effective moments, actors and their roles (the lab's deciders act in
an office, and their accountability is the point of the ledger), outcomes, requester groups,
reason codes, digests and scores.
"""

from __future__ import annotations

from collections.abc import Callable

from domain.decisions import Actor, Role

POLICY_VERSION = 1
"""The version of this policy; a change to which fields are sealed is a new version."""

RATIONALE = "a decision on a person's request is explained in terms of that person and request"

PRIVATE_FIELDS: dict[str, dict[str, str]] = {
    "AccessRequested": {
        "rationale": RATIONALE,
        "requester": "names the person asking",
        "organisation": "with the name, identifies the person (often a small group)",
        "purpose": "describes the person's research, often identifying it",
        "scope": "describes what the person asked for",
    },
    "AccessRequestApproved": {
        "rationale": RATIONALE,
        "terms": "terms tailored to the person's request",
    },
    "AccessRequestDenied": {
        "rationale": RATIONALE,
        "reason": "tells the person why they were refused, often quoting their application",
    },
    "AccessDenialAppealed": {
        "rationale": RATIONALE,
        "new_facts": "the person's own account of their situation",
    },
    "AccessRevoked": {
        "rationale": RATIONALE,
        "reason": "may allege a breach of the terms by a named person",
    },
}
"""Each event type's private fields, each with why it is private."""

SUBJECT_OF: dict[str, str] = {
    "AccessRequested": "the researcher making the request (the actor recording it)",
    "AccessRequestApproved": "the request's researcher",
    "AccessRequestDenied": "the request's researcher",
    "AccessDenialAppealed": "the request's researcher",
    "AccessRevoked": "the request's researcher",
}
"""Whose data each event's private fields are (their pseudonym is stored beside each)."""


def private_fields(event_type: str) -> dict[str, str]:
    """The private fields of an event type (none for most), each with why."""
    return PRIVATE_FIELDS.get(event_type, {})


def subject_identity(actor_id: str) -> str:
    """The identity a person is pseudonymised by: the actor id they act under."""
    return f"actor:{actor_id}"


OPENING_ROLES = frozenset({Role.BOARD, Role.AUDITOR})
"""The roles that read every private value in clear (with its opening, to check it)."""


def bundle_discloses(recipient: str) -> bool:
    """Whether a bundle for ``recipient`` (a role, or ``none``) carries the openings of private
    values: only for the roles that read every one. Anything else is an invalid query."""
    from domain.errors import InvalidQuery

    choices = sorted({role.value for role in Role} | {"none"})
    if recipient not in choices:
        raise InvalidQuery(f"--disclose: one of {', '.join(choices)}; got {recipient!r}")
    return recipient in OPENING_ROLES


def may_open(reader: Actor | None, subject: str, pseudonym_of: Callable[[str], str]) -> bool:
    """Whether ``reader`` may read a private value of ``subject`` in clear.

    The board and auditors may read every one; a researcher, the values of their own requests
    (their pseudonym is the subject); nobody else. ``None`` is the operator at the CLI, who
    holds the store itself.
    """
    if reader is None:
        return True
    if reader.role in OPENING_ROLES:
        return True
    return reader.role == Role.RESEARCHER and pseudonym_of(subject_identity(reader.id)) == subject
