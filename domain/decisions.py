"""Value objects carried by lifecycle events: who decided, on what evidence, over which files.

They are frozen dataclasses so that events stay library dataclasses (the `eventsourcing`
mapper stores them through the transcodings in `domain.codec`), and pydantic stays at the
boundary in `domain.commands`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, is_dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID


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
    ``import``); it is None only on events recorded before the ledger kept it. ``id`` is
    `Sealed` on the events a researcher records about their own request (disclosure policy 2):
    a natural person is named in public only by their pseudonym.
    """

    id: str | Sealed
    role: str
    authenticated_by: str | None = None


@dataclass(frozen=True)
class Evidence:
    """A reference to something a decision rests on: where it is, its digest, what it is.

    ``uri`` and ``description`` are `Sealed` on decisions about a person's request (disclosure
    policy 2): a link to an application names its applicant as surely as the request does.
    """

    uri: str | Sealed
    digest: str | None
    description: str | Sealed


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


NAMED_DIFFERING_FILES = 100
NAMED_DIFFERING_BYTES = 16_384
"""An archive check names in its record the first differing files, by path, up to 100 of them
and 16 KiB of paths (at least one): the rest are counted and committed by digest, so a copy
damaged throughout, with long paths, still fits one log entry (docs/events.md)."""


def named_differing_files(ordered: Sequence[DifferingFile]) -> tuple[DifferingFile, ...]:
    """The differing files a record names: the first, within `NAMED_DIFFERING_FILES` and
    `NAMED_DIFFERING_BYTES` of paths."""
    named: list[DifferingFile] = []
    size = 0
    for item in ordered[:NAMED_DIFFERING_FILES]:
        size += len(item.path.encode("utf-8"))
        if named and size > NAMED_DIFFERING_BYTES:
            break
        named.append(item)
    return tuple(named)


def differing_digest(files: Iterable[DifferingFile]) -> str:
    """The digest of an archive check's whole list of differing files: the SHA-256 of the lines
    ``<status>  <path>\n`` sorted by the UTF-8 bytes of their paths (docs/events.md), so whoever
    compares the copy again can check their list against the record."""
    hasher = hashlib.sha256()
    for item in sorted(files, key=lambda item: item.path.encode("utf-8")):
        hasher.update(f"{item.status}  {item.path}\n".encode())
    return hasher.hexdigest()


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
    disclosure: int | None = None
    """The disclosure policy's version a restored event was sealed under; None for a live
    command, sealed under the current policy (`domain.disclosure.POLICY_VERSION`)."""
    pseudonym: str | None = None
    """The deciding actor's pseudonym, computed by the ledger (never stored): the rules compare
    it with a request's requester, who is named only by pseudonym (`domain.disclosure`)."""


HOLDS_NOTHING = frozenset({str, int, float, bool, type(None), date, datetime, UUID})
"""Types of values that hold nothing inside (no sealed value): most of an event's fields. Tested
first, by exact type, so that looking for sealed values costs little (the ledger on every save,
the views on every page)."""


def sealed_in(value: Any) -> Iterator[Sealed]:
    """Every sealed value an event's field holds: itself, or inside its value objects
    (an actor's id, an evidence item's text) and tuples of them."""
    found: list[Sealed] = []
    _collect_sealed(value, found)
    return iter(found)


def _collect_sealed(value: Any, found: list[Sealed]) -> None:
    if type(value) in HOLDS_NOTHING:
        return
    if isinstance(value, Sealed):
        found.append(value)
    elif isinstance(value, tuple | list):
        for item in value:
            _collect_sealed(item, found)
    elif is_dataclass(value) and not isinstance(value, type):
        for item in vars(value).values():
            _collect_sealed(item, found)


def with_sealed(value: Any, replace: Callable[[Sealed], Any]) -> Any:
    """The value with each sealed value in it replaced (the value itself if it holds none)."""
    if type(value) in HOLDS_NOTHING:
        return value
    if isinstance(value, Sealed):
        return replace(value)
    if isinstance(value, tuple):
        items = tuple(with_sealed(item, replace) for item in value)
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if is_dataclass(value) and not isinstance(value, type):
        changes = {
            name: changed
            for name, item in vars(value).items()
            if (changed := with_sealed(item, replace)) is not item
        }
        return dataclasses.replace(value, **changes) if changes else value
    return value
