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
from dataclasses import dataclass

from domain.decisions import Actor, Role

POLICY_VERSION = 2
"""The version of this policy; a change to which fields are sealed is a new version. Every event
records the version it was sealed under (its ``disclosure`` field, so in its leaf)."""

POLICY_VERSIONS = frozenset({1, 2})
"""The versions an event may record: 1 left the researcher's actor id and the evidence of
access decisions in clear; 2 seals them too."""

RATIONALE = "a decision on a person's request is explained in terms of that person and request"
ACTOR = "the login a researcher acts under names them as surely as their name"
EVIDENCE_URI = "a link to a person's application or correspondence often names them"
EVIDENCE_TEXT = "describes a document of the person's request"
_EVIDENCE = {"evidence.uri": EVIDENCE_URI, "evidence.description": EVIDENCE_TEXT}

PRIVATE_FIELDS: dict[str, dict[str, str]] = {
    "AccessRequested": {
        "actor.id": ACTOR,
        **_EVIDENCE,
        "rationale": RATIONALE,
        "requester": "names the person asking",
        "organisation": "with the name, identifies the person (often a small group)",
        "purpose": "describes the person's research, often identifying it",
        "scope": "describes what the person asked for",
    },
    "AccessRequestApproved": {
        **_EVIDENCE,
        "rationale": RATIONALE,
        "terms": "terms tailored to the person's request",
    },
    "AccessRequestDenied": {
        **_EVIDENCE,
        "rationale": RATIONALE,
        "reason": "tells the person why they were refused, often quoting their application",
    },
    "AccessDenialAppealed": {
        "actor.id": ACTOR,
        **_EVIDENCE,
        "rationale": RATIONALE,
        "new_facts": "the person's own account of their situation",
    },
    "AccessRevoked": {
        **_EVIDENCE,
        "rationale": RATIONALE,
        "reason": "may allege a breach of the terms by a named person",
    },
}
"""Each event type's private fields, each with why it is private. A dotted name is a part of a
value object: ``actor.id`` the actor's id (its role stays public), ``evidence.uri`` and
``evidence.description`` those of every evidence item (its digest stays public)."""

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


@dataclass(frozen=True)
class BundleRecipient:
    """Whom an exported bundle is for: a role, the researcher it names, or nobody (``none``)."""

    reader: Actor | None
    """The reader the bundle opens values for (`may_open`), or None: commitments only."""

    def opens(self, subject: str, pseudonym_of: Callable[[str], str]) -> bool:
        """Whether the bundle carries the openings of ``subject``'s private values."""
        return self.reader is not None and may_open(self.reader, subject, pseudonym_of)


def bundle_recipient(recipient: str) -> BundleRecipient:
    """The recipient of ``export --disclose``: ``board`` or ``auditor`` (every private value
    opened), ``researcher:ID`` (the values of that researcher's own requests), any other role or
    ``none`` (commitments only). Anything else, or a researcher not named, is an invalid query.
    """
    from domain.errors import InvalidQuery

    role, _, actor_id = recipient.partition(":")
    choices = sorted({r.value for r in Role if r != Role.RESEARCHER} | {"none", "researcher:ID"})
    if role == Role.RESEARCHER.value:
        if not actor_id.strip():
            raise InvalidQuery("--disclose researcher:ID names the researcher the bundle is for")
        return BundleRecipient(Actor(id=actor_id, role=Role.RESEARCHER))
    if actor_id or role not in {r.value for r in Role} | {"none"}:
        raise InvalidQuery(f"--disclose: one of {', '.join(choices)}; got {recipient!r}")
    if role not in OPENING_ROLES:  # none, or a role that reads no private value
        return BundleRecipient(None)
    return BundleRecipient(Actor(id=f"bundle-recipient:{role}", role=role))


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
    return (
        reader.role == Role.RESEARCHER and pseudonym_of(subject_identity(str(reader.id))) == subject
    )
