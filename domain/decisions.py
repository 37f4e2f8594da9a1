"""Value objects carried by lifecycle events: who decided, on what evidence, over which files.

They are frozen dataclasses so that events stay library dataclasses (the `eventsourcing`
mapper stores them through the transcodings in `domain.codec`), and pydantic stays at the
boundary in `domain.commands`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal


class Role(StrEnum):
    """The roles in which a person acts on the ledger (`domain.authority` gives each its powers)."""

    CURATOR = "curator"
    INTERVIEWER = "interviewer"
    BOARD = "board"
    REVIEWER = "reviewer"
    RESEARCHER = "researcher"
    AUDITOR = "auditor"


DenialReasonCode = Literal[
    "incomplete_application",
    "purpose_out_of_scope",
    "channel_not_offered",
    "insufficient_safeguards",
    "safety_risk",
    "capacity",
    "conflict_of_interest",
    "other",
]
"""The codes a denial of access carries beside its free-text reason (docs/events.md)."""

DENIAL_REASONS: dict[str, str] = {
    "incomplete_application": "the request lacks what the access policy asks of every request",
    "purpose_out_of_scope": "the purpose is not among the uses the access policy admits",
    "channel_not_offered": "the scope asks for a channel or audience the policy does not keep",
    "insufficient_safeguards": "the requester's handling of the model falls short of the terms",
    "safety_risk": "the access would raise a risk the safety assessment does not accept",
    "capacity": "there is no capacity to serve the model to another requester",
    "conflict_of_interest": "the requester or the use conflicts with an interest of the lab",
    "other": "none of these; the free-text reason says why",
}
"""Each denial reason code and what it means, in the order the fairness report lists them."""

NOT_CODED = "not_coded"
"""The code read on denials recorded before denials carried one (never given by a command)."""


@dataclass(frozen=True)
class Actor:
    """Who took a decision, in which role, and how the ledger knew it was them.

    ``authenticated_by`` is a `domain.authority.Authentication` value (``token``, ``operator``,
    ``import``); it is None only on events recorded before the ledger kept it.
    """

    id: str
    role: str
    authenticated_by: str | None = None


@dataclass(frozen=True)
class Evidence:
    """A reference to something a decision rests on: where it is, its digest, what it is."""

    uri: str
    digest: str | None
    description: str


@dataclass(frozen=True)
class ManifestEntry:
    """One archived file: its relative POSIX path, size in bytes and SHA-256 (lower-case hex)."""

    path: str
    size: int
    sha256: str


def manifest_digest(entries: Iterable[ManifestEntry]) -> str:
    """Return the manifest digest of a set of files (defined in docs/archive.md).

    It is the SHA-256 of the lines ``<sha256>  <path>\\n`` with the entries sorted by the
    UTF-8 bytes of their paths: exactly what ``sha256sum`` prints for the files in that order,
    so a reviewer recomputes it with ``find . -type f -printf '%P\\0' | LC_ALL=C sort -z |
    xargs -0 sha256sum -- | sha256sum`` and needs no Reliquary code.
    """
    ordered = sorted(entries, key=lambda entry: entry.path.encode("utf-8"))
    hasher = hashlib.sha256()
    for entry in ordered:
        hasher.update(f"{entry.sha256}  {entry.path}\n".encode())
    return hasher.hexdigest()


@dataclass(frozen=True)
class Channel:
    """One way a retired model stays reachable: a channel (product, api) for an audience."""

    channel: str
    audience: str


@dataclass(frozen=True)
class DifferingFile:
    """A file of an archive check that did not match the recorded manifest."""

    path: str
    status: str


@dataclass(frozen=True)
class Sealed:
    """A private field of an event: public only as a commitment and its subject's pseudonym.

    The event stores ``commitment`` (SHA-256 over a tag, the field, a 32-byte random opening
    and the value's canonical bytes; `domain.sealed.commit`) and ``subject`` (the pseudonym of
    the natural person the value is about). The value and its opening are stored apart,
    encrypted under the subject's key (`domain.sealed`), and are carried here only while a
    command is saved, or once a reader allowed to see them has opened them: they take no part
    in equality, so a replayed event (sealed) equals the live one (carrying its value).
    """

    commitment: str
    subject: str
    value: str | None = field(default=None, compare=False)
    opening: bytes | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return self.value if self.value is not None else f"[sealed {self.commitment[:19]}]"


@dataclass(frozen=True)
class Justification:
    """The fields every decision carries: who, why, on what evidence, and when it took effect.

    ``effective_at`` is None when the decision took effect when the ledger recorded it (the
    event's own timestamp is the recorded time). ``recorded_at`` is None for a live command,
    recorded now by the ledger's clock; a restored bundle replays each event at the moment it
    was first recorded, so the rules meet the same clock they met then.
    """

    actor: Actor
    rationale: str | Sealed  # sealed for decisions on a person's request (`domain.disclosure`)
    evidence: tuple[Evidence, ...]
    effective_at: datetime | None
    recorded_at: datetime | None = None
