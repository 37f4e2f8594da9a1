"""A researcher's own access requests, and what they may ask for: the researcher's self-service.

Two answers, each read from the registers (`projections.registers`) as the reader may read
them (`Queries.register` with the reader), never from a table of their own:

- `own_requests`: the reader's own requests across models, newest first, each with what its
  denial's code means (`domain.decisions.DENIAL_REASONS`), whether a denial can still be
  appealed or resubmitted (as the register shows it: the ledger decides when it is sent), and
  the log sequences of the decisions on it (from the timeline view, in one statement).
  A row is the reader's own only if its subject is the reader's pseudonym *and* the disclosure
  policy lets the reader open it (`domain.disclosure.may_open`): a board member, who may open
  every row, still has no row of their own here, and no researcher ever gets another's row,
  not even sealed.
- `request_offer`: the models whose access policy keeps a channel open (the channels and
  audiences each offers), the model a request is about, and, for a resubmission, the reader's
  own denied request it replaces (its values, to fill the new form with).

Every list is bounded (`MAX_OWN_REQUESTS`); an answer says how many rows there were.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import get_args

import orjson

from domain.commands import RequestAccess
from domain.decisions import DENIAL_REASONS, NOT_CODED, Actor
from domain.disclosure import may_open, subject_identity
from projections.rows import AccessPolicyRow, AccessRequestRow
from projections.runner import ERASED, ViewRecorder

MAX_OWN_REQUESTS = 200
"""The most requests the page of one researcher's requests lists (the newest)."""
ACCESS_EVENTS = (
    "AccessRequested",
    "AccessRequestApproved",
    "AccessRequestDenied",
    "AccessDenialAppealed",
    "AccessRevoked",
)
"""The events about one access request, whose sequences a researcher's page links to."""
GROUPS: tuple[str, ...] = tuple(get_args(RequestAccess.model_fields["requester_group"].annotation))
"""The requester groups a request names (the command's own choices)."""
_NOT_CODED_MEANING = "recorded before denials carried a reason code; the reason says why"


@dataclass(frozen=True)
class Decision:
    """One event about a request, by its sequence in the transparency log."""

    sequence: int
    type: str


@dataclass(frozen=True)
class OwnRequest:
    """One of the reader's requests, with what its page offers beside it."""

    request: AccessRequestRow
    reason_meaning: str | None  # what its denial's code means (one before an appeal too)
    resubmitted_as: str | None  # the reader's request that resubmitted this one, if any
    decisions: tuple[Decision, ...]  # the events about it, in log order

    @property
    def may_appeal(self) -> bool:
        """A denial not yet appealed nor answered by a new request (the ledger has the last
        word: this is what the page offers)."""
        request = self.request
        return request.status == "denied" and not request.appealed and not self.resubmitted_as

    @property
    def may_resubmit(self) -> bool:
        """A denial not yet resubmitted: a new request may replace it."""
        return self.request.status == "denied" and not self.resubmitted_as


@dataclass(frozen=True)
class OwnRequests:
    """The reader's own requests, newest first (at most `MAX_OWN_REQUESTS`), and how many."""

    requests: tuple[OwnRequest, ...]
    total: int


@dataclass(frozen=True)
class RequestOffer:
    """What a request form offers: the models keeping a channel open, the model asked about
    (with its policy, if it has one), and the reader's denied request being resubmitted."""

    offered: tuple[AccessPolicyRow, ...]  # policies keeping at least one channel, by model
    model: str | None
    policy: AccessPolicyRow | None  # the policy in force for ``model``, if one was set
    earlier: AccessRequestRow | None  # the reader's own request this one resubmits
    groups: tuple[str, ...] = GROUPS

    def earlier_values(self) -> dict[str, str]:
        """The fields of the request being resubmitted, to fill the new form with (the
        researcher's own values; none that were erased, which no one may read again)."""
        if self.earlier is None:
            return {}
        earlier = self.earlier
        values = {
            "requester": earlier.requester,
            "organisation": earlier.organisation,
            "requester_group": earlier.requester_group,
            "purpose": earlier.purpose,
            "scope": earlier.scope or "",
        }
        return {name: value for name, value in values.items() if value and value != ERASED}


def is_own(row: AccessRequestRow, reader: Actor, pseudonym_of: Callable[[str], str]) -> bool:
    """Whether ``row`` is one of ``reader``'s own requests: its subject is the reader's
    pseudonym, and the reader may open it (`domain.disclosure.may_open`)."""
    if row.subject is None:
        return False
    own = pseudonym_of(subject_identity(str(reader.id)))
    return row.subject == own and may_open(reader, row.subject, pseudonym_of)


def meaning_of(code: str | None) -> str | None:
    """What a denial reason code means, or None without one."""
    if code is None:
        return None
    if code == NOT_CODED:
        return _NOT_CODED_MEANING
    return DENIAL_REASONS.get(code, "a code this version of the ledger does not know")


def own_requests(
    rows: Sequence[AccessRequestRow],
    reader: Actor,
    pseudonym_of: Callable[[str], str],
    recorder: ViewRecorder,
) -> OwnRequests:
    """``reader``'s own requests among ``rows`` (the access register as the reader reads it),
    newest first, each with the sequences of the decisions about it."""
    mine = [row for row in rows if is_own(row, reader, pseudonym_of)]
    resubmitted = {
        (row.model, row.resubmission_of): row.request_id for row in mine if row.resubmission_of
    }
    # Newest first: by the day requested, then by the log's order within a day (the request's
    # first event), then by id; only the newest are shown, so sequences are read for them.
    # Newest first: by the day requested, then by the log's order within a day (the request's
    # first event); sequences are read only for the requests shown.
    mine.sort(key=lambda row: (row.requested_on, row.request_id), reverse=True)
    shown = mine[:MAX_OWN_REQUESTS]
    sequences = decision_sequences(recorder, [(row.model, row.request_id) for row in shown])

    def first_sequence(row: AccessRequestRow) -> int:
        found = sequences.get((row.model, row.request_id))
        return found[0].sequence if found else -1

    shown.sort(key=lambda row: (row.requested_on, first_sequence(row)), reverse=True)
    return OwnRequests(
        requests=tuple(
            OwnRequest(
                request=row,
                reason_meaning=meaning_of(row.reason_code),
                resubmitted_as=resubmitted.get((row.model, row.request_id)),
                decisions=tuple(sequences.get((row.model, row.request_id), ())),
            )
            for row in shown
        ),
        total=len(mine),
    )


def _like_escaped(text: str) -> str:
    """``text`` with LIKE's wildcards (and the escape character) escaped by a backslash."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def decision_sequences(
    recorder: ViewRecorder, requests: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], list[Decision]]:
    """The events about each (model, request id), in log order, from the timeline view.

    One statement: the access events of the requests' models whose facts name one of the
    request ids (``"request_id":"..."`` as the view stores the facts, compact JSON), each
    checked again once read, as a LIKE pattern only narrows the rows.
    """
    if not requests:
        return {}
    p = recorder.param
    wanted = set(requests)
    clauses: list[str] = []
    params: list[str] = []
    for model, request_id in sorted(wanted):
        needle = orjson.dumps({"request_id": request_id}).decode()[1:-1]
        clauses.append(f"(model = {p} AND facts LIKE {p} ESCAPE '\\')")
        params.extend((model, f"%{_like_escaped(needle)}%"))
    types = ", ".join(p for _ in ACCESS_EVENTS)
    statement = (
        "SELECT sequence, model, type, facts FROM view_timeline "  # noqa: S608 (no input text)
        f"WHERE type IN ({types}) AND ({' OR '.join(clauses)}) ORDER BY sequence"
    )
    found: dict[tuple[str, str], list[Decision]] = {}
    for sequence, model, event_type, facts in recorder.fetch(statement, (*ACCESS_EVENTS, *params)):
        key = (model, orjson.loads(facts).get("request_id"))
        if key in wanted:
            found.setdefault(key, []).append(Decision(int(sequence), event_type))
    return found


def request_offer(
    policies: Sequence[AccessPolicyRow],
    rows: Sequence[AccessRequestRow],
    reader: Actor,
    pseudonym_of: Callable[[str], str],
    *,
    model: str | None,
    resubmission_of: str | None,
) -> RequestOffer:
    """What the request form offers ``reader``: the policies keeping a channel open, the
    policy of ``model`` (if named), and the reader's own request ``resubmission_of`` of that
    model (None if it is not theirs: another's is never read into the form)."""
    earlier = None
    if model is not None and resubmission_of is not None:
        earlier = next(
            (
                row
                for row in rows
                if row.model == model
                and row.request_id == resubmission_of
                and is_own(row, reader, pseudonym_of)
            ),
            None,
        )
    return RequestOffer(
        offered=tuple(policy for policy in policies if policy.channels),
        model=model,
        policy=next((policy for policy in policies if policy.model == model), None),
        earlier=earlier,
    )


__all__ = [
    "ACCESS_EVENTS",
    "GROUPS",
    "MAX_OWN_REQUESTS",
    "Decision",
    "OwnRequest",
    "OwnRequests",
    "RequestOffer",
    "decision_sequences",
    "is_own",
    "meaning_of",
    "own_requests",
    "request_offer",
]
