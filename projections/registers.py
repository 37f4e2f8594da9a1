"""The access, essay and preference registers, and the rows the fairness report reads.

Each register is a `View` kept by `projections.runner.ViewRunner`. The read functions return
the row types of `projections.rows`, with preference stability judged at read time under the
configured `PreferencePolicy` (so changing the policy needs no rebuild).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import orjson

from domain.rules import PreferencePolicy, Support, is_stable
from domain.state import grant_status
from projections.page_rows import KeyedRows
from projections.rows import AccessPolicyRow, AccessRequestRow, EssayRow, PreferenceRow
from projections.runner import (
    ERASED,
    Context,
    RowColumn,
    View,
    ViewRecorder,
    day_of_decision,
    plain,
    subject_of,
)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


class AccessView(View):
    """Access policies, requests, their decisions, appeals, grants and expiry."""

    name = "access"
    tables = ("view_access_requests", "view_access_policies")
    changed_in = 6  # reason_code and resubmission_of (4), subject (6)
    opens_sealed = True  # requesters, purposes and reasons, for the readers of the register
    opened_types = frozenset(
        {
            "AccessRequested",
            "AccessRequestApproved",
            "AccessRequestDenied",
            "AccessDenialAppealed",
            "AccessRevoked",
            "AccessPolicySet",
        }
    )

    def create_statements(self, dialect: str) -> list[str]:  # noqa: ARG002 (one DDL for both)
        """Requests and the policy in force, per model."""
        return [
            "CREATE TABLE IF NOT EXISTS view_access_requests (model TEXT NOT NULL, "
            "request_id TEXT NOT NULL, requester TEXT NOT NULL, organisation TEXT NOT NULL, "
            "requester_group TEXT NOT NULL, purpose TEXT NOT NULL, scope TEXT NOT NULL, "
            "requested_on TEXT NOT NULL, status TEXT NOT NULL, first_decision TEXT, "
            "decided_on TEXT, appealed INTEGER NOT NULL, expires_on TEXT, terms TEXT, "
            "reason TEXT, reason_code TEXT, resubmission_of TEXT, subject TEXT, "
            "PRIMARY KEY (model, request_id))",
            # An erasure blanks a person's rows by pseudonym, in its own transaction.
            "CREATE INDEX IF NOT EXISTS view_access_requests_subject "
            "ON view_access_requests (subject)",
            "CREATE TABLE IF NOT EXISTS view_access_policies (model TEXT PRIMARY KEY, "
            "decided_on TEXT NOT NULL, channels TEXT NOT NULL, criteria TEXT, "
            "rationale TEXT NOT NULL)",
        ]

    def apply(self, cursor: Any, event: Any, context: Context) -> None:
        """Open, decide, appeal, revoke; set the policy."""
        self.apply_page(cursor, [event], [context])

    def read_page(self, cursor: Any, events: Sequence[Any], contexts: Sequence[Context]) -> Any:
        """Ask for the requests and policies the page changes (unless it holds an erasure:
        then each part of the page around it asks for its own, as it is taken)."""
        if any(type(event).__name__ == "SubjectErased" for event in events):
            return None
        return self._ask(cursor, list(zip(events, contexts, strict=True)))

    def apply_page(
        self, cursor: Any, events: Sequence[Any], contexts: Sequence[Context], read: Any = None
    ) -> None:
        """The page folded per request and per model (`KeyedRows`). An erasure blanks the rows
        of its subject as it comes: what the page changed before it is written first."""
        if read is not None:
            self._take_segment(cursor, list(zip(events, contexts, strict=True)), read)
            return
        segment: list[tuple[Any, Context]] = []
        for event, context in zip(events, contexts, strict=True):
            if type(event).__name__ == "SubjectErased":
                self._take_segment(cursor, segment)
                segment = []
                self._erase(cursor, event.subject)
            else:
                segment.append((event, context))
        self._take_segment(cursor, segment)

    def _ask(self, cursor: Any, segment: list[tuple[Any, Context]]) -> tuple[KeyedRows, KeyedRows]:
        requests = KeyedRows(self.view, cursor, "view_access_requests", _REQUEST_KEY, _REQUEST)
        policies = KeyedRows(self.view, cursor, "view_access_policies", _POLICY_KEY, _POLICY)
        for event, context in segment:
            kind = type(event).__name__
            if kind == "AccessPolicySet":
                policies.need((context.model,))
            elif kind in _REQUEST_CHANGES:
                requests.need((context.model, event.request_id))
        requests.load()
        policies.load()
        return requests, policies

    def _take_segment(
        self,
        cursor: Any,
        segment: list[tuple[Any, Context]],
        read: tuple[KeyedRows, KeyedRows] | None = None,
    ) -> None:
        if not segment:
            return
        requests, policies = read if read is not None else self._ask(cursor, segment)
        for event, context in segment:
            _fold_access(event, context, requests, policies)
        requests.write()
        policies.write()

    def _erase(self, cursor: Any, subject: str) -> None:
        # The person's key is gone: so is every value of theirs this register showed.
        p = self.view.param
        self.view.execute(
            cursor,
            f"UPDATE view_access_requests SET requester = {p}, organisation = {p}, "
            f"purpose = {p}, scope = {p}, reason = CASE WHEN reason IS NULL THEN NULL "
            f"ELSE {p} END, terms = CASE WHEN terms IS NULL THEN NULL ELSE {p} END "
            f"WHERE subject = {p}",
            (ERASED, ERASED, ERASED, ERASED, ERASED, ERASED, subject),
        )


_REQUEST_KEY = (RowColumn("model", "text"), RowColumn("request_id", "text"))
_REQUEST = (
    *(
        RowColumn(name, "text")
        for name in (
            "requester",
            "organisation",
            "requester_group",
            "purpose",
            "scope",
            "requested_on",
            "status",
            "first_decision",
            "decided_on",
        )
    ),
    RowColumn("appealed", "integer"),
    *(
        RowColumn(name, "text")
        for name in (
            "expires_on",
            "terms",
            "reason",
            "reason_code",
            "resubmission_of",
            "subject",
        )
    ),
)
_POLICY_KEY = (RowColumn("model", "text"),)
_POLICY = tuple(
    RowColumn(name, "text") for name in ("decided_on", "channels", "criteria", "rationale")
)
_REQUEST_CHANGES = frozenset(
    {"AccessRequestApproved", "AccessRequestDenied", "AccessDenialAppealed", "AccessRevoked"}
)


def _fold_access(event: Any, context: Context, requests: KeyedRows, policies: KeyedRows) -> None:
    """One event's change to the rows held for the page."""
    kind = type(event).__name__
    day = day_of_decision(event).isoformat()
    if kind == "AccessRequested":
        requests.add(
            (context.model, event.request_id),
            {
                "requester": plain(event.requester),
                "organisation": plain(event.organisation),
                "requester_group": event.requester_group,
                "purpose": plain(event.purpose),
                "scope": plain(event.scope),
                "requested_on": day,
                "status": "pending",
                "first_decision": None,
                "decided_on": None,
                "appealed": 0,
                "expires_on": None,
                "terms": None,
                "reason": None,
                "reason_code": None,
                "resubmission_of": event.resubmission_of,
                "subject": subject_of(event.requester),
            },
        )
    elif kind == "AccessPolicySet":
        channels = [[c.channel, c.audience] for c in event.channels]
        criteria = orjson.dumps(event.criteria).decode() if event.criteria is not None else None
        policies.add(
            (context.model,),
            {
                "decided_on": day,
                "channels": orjson.dumps(channels).decode(),
                "criteria": criteria,
                "rationale": event.rationale,
            },
        )
    elif kind in _REQUEST_CHANGES:
        row = requests.get((context.model, event.request_id))
        if row is None:
            raise LookupError(f"the view has no access request {event.request_id!r}")
        if kind == "AccessRequestApproved":
            row["status"] = "approved"
            row["first_decision"] = row["first_decision"] or "approved"
            row["decided_on"] = day
            row["expires_on"] = event.expires_on.isoformat() if event.expires_on else None
            row["terms"] = plain(event.terms)
        elif kind == "AccessRequestDenied":
            row["status"] = "denied"
            row["first_decision"] = row["first_decision"] or "denied"
            row["decided_on"] = day
            row["reason"] = plain(event.reason)
            row["reason_code"] = event.reason_code
        elif kind == "AccessDenialAppealed":
            row["status"] = "appealed"
            row["appealed"] = 1
        else:  # AccessRevoked
            row["status"] = "revoked"
            row["reason"] = plain(event.reason)


def access_requests(
    recorder: ViewRecorder, model: str | None = None, *, as_of: date | None = None
) -> list[AccessRequestRow]:
    """Every access request (of one model, if named), by model and request id.

    Each status is read as of the day ``as_of`` (today, UTC, without it): the view stores an
    approved grant as ``approved``, and it reads ``expired`` on any day after its expiry
    (`domain.state.grant_status`).
    """
    day = as_of or datetime.now(UTC).date()
    p = recorder.param
    where, params = (f"WHERE model = {p} ", (model,)) if model else ("", ())
    statement = (
        "SELECT model, request_id, requester, organisation, requester_group, purpose, "
        "requested_on, status, first_decision, decided_on, appealed, expires_on, reason, "
        "reason_code, resubmission_of, subject, scope, terms "
        f"FROM view_access_requests {where}ORDER BY model, request_id"  # noqa: S608 (no input)
    )
    rows = recorder.fetch(statement, params)
    return [
        AccessRequestRow(
            model=r[0],
            request_id=r[1],
            requester=r[2],
            organisation=r[3],
            requester_group=r[4],
            purpose=r[5],
            requested_on=date.fromisoformat(r[6]),
            status=grant_status(r[7], _day(r[11]), day),
            first_decision=r[8],
            decided_on=_day(r[9]),
            appealed=bool(r[10]),
            expires_on=_day(r[11]),
            reason=r[12],
            reason_code=r[13],
            resubmission_of=r[14],
            subject=r[15],
            scope=r[16],
            terms=r[17],
        )
        for r in rows
    ]


def access_policies(recorder: ViewRecorder) -> list[AccessPolicyRow]:
    """The policy in force for every model that has one, with its final status if retired."""
    rows = recorder.fetch(
        "SELECT p.model, p.decided_on, p.channels, p.criteria, m.final_status, p.rationale "
        "FROM view_access_policies p LEFT JOIN view_models m ON m.model = p.model "
        "ORDER BY p.model"
    )
    return [
        AccessPolicyRow(
            model=r[0],
            decided_on=date.fromisoformat(r[1]),
            channels=tuple((c, a) for c, a in orjson.loads(r[2])),
            criteria=orjson.loads(r[3]) if r[3] else None,
            final_status=r[4],
            rationale=r[5],
        )
        for r in rows
    ]


class EssayView(View):
    """Drafts, review outcomes and reviewers, risk categories, publication."""

    name = "essays"
    tables = ("view_essays",)

    def create_statements(self, dialect: str) -> list[str]:  # noqa: ARG002 (one DDL for both)
        """One row per essay."""
        return [
            "CREATE TABLE IF NOT EXISTS view_essays (model TEXT NOT NULL, essay_id TEXT NOT NULL, "
            "title TEXT NOT NULL, drafted_on TEXT NOT NULL, status TEXT NOT NULL, reviewer TEXT, "
            "reviewed_on TEXT, risk_category TEXT, veto_reason TEXT, published_on TEXT, "
            "disclaimer_version TEXT, PRIMARY KEY (model, essay_id))"
        ]

    def apply(self, cursor: Any, event: Any, context: Context) -> None:
        """Follow an essay from draft to publication."""
        self.apply_page(cursor, [event], [context])

    def read_page(self, cursor: Any, events: Sequence[Any], contexts: Sequence[Context]) -> Any:
        """Ask for the essays the page's reviews and publications change."""
        essays = KeyedRows(self.view, cursor, "view_essays", _ESSAY_KEY, _ESSAY)
        for event, context in zip(events, contexts, strict=True):
            kind = type(event).__name__
            if kind in _ESSAY_EVENTS and kind != "EssayDrafted":
                essays.need((context.model, event.essay_id))
        essays.load()
        return essays

    def apply_page(
        self, cursor: Any, events: Sequence[Any], contexts: Sequence[Context], read: Any = None
    ) -> None:
        """The page folded per essay (`KeyedRows`)."""
        essays = read if read is not None else self.read_page(cursor, events, contexts)
        taken = [
            (event, context)
            for event, context in zip(events, contexts, strict=True)
            if type(event).__name__ in _ESSAY_EVENTS
        ]
        for event, context in taken:
            kind = type(event).__name__
            key = (context.model, event.essay_id)
            day = day_of_decision(event).isoformat()
            if kind == "EssayDrafted":
                row = dict.fromkeys(_ESSAY_NAMES)
                row.update(title=event.title, drafted_on=day, status="drafted")
                essays.add(key, row)
                continue
            found = essays.get(key)
            if found is None:
                raise LookupError(f"the view has no essay {event.essay_id!r} of {context.model!r}")
            if kind == "EssayApproved":
                found.update(status="approved", reviewer=event.actor.id, reviewed_on=day)
            elif kind == "EssayVetoed":
                found.update(
                    status="vetoed",
                    reviewer=event.actor.id,
                    reviewed_on=day,
                    risk_category=event.risk_category,
                    veto_reason=event.reason,
                )
            else:  # EssayPublished
                found.update(
                    status="published",
                    published_on=day,
                    disclaimer_version=event.disclaimer_version,
                )
        essays.write()


_ESSAY_KEY = (RowColumn("model", "text"), RowColumn("essay_id", "text"))
_ESSAY_NAMES = (
    "title",
    "drafted_on",
    "status",
    "reviewer",
    "reviewed_on",
    "risk_category",
    "veto_reason",
    "published_on",
    "disclaimer_version",
)
_ESSAY = tuple(RowColumn(name, "text") for name in _ESSAY_NAMES)
_ESSAY_EVENTS = frozenset({"EssayDrafted", "EssayApproved", "EssayVetoed", "EssayPublished"})


def essays(recorder: ViewRecorder, model: str | None = None) -> list[EssayRow]:
    """Every essay (of one model, if named), by model and draft day."""
    p = recorder.param
    where, params = (f"WHERE model = {p} ", (model,)) if model else ("", ())
    statement = (
        "SELECT model, essay_id, title, drafted_on, status, reviewer, reviewed_on, "
        "risk_category, veto_reason, published_on, disclaimer_version "
        f"FROM view_essays {where}ORDER BY model, drafted_on, essay_id"  # noqa: S608 (no input)
    )
    rows = recorder.fetch(statement, params)
    return [
        EssayRow(
            model=r[0],
            essay_id=r[1],
            title=r[2],
            drafted_on=date.fromisoformat(r[3]),
            status=r[4],
            reviewer=r[5],
            reviewed_on=_day(r[6]),
            risk_category=r[7],
            veto_reason=r[8],
            published_on=_day(r[9]),
            disclaimer_version=r[10],
        )
        for r in rows
    ]


class PreferenceView(View):
    """Preferences: recorded, reaffirmed, contradicted, decided; and the interviews behind them."""

    name = "preferences"
    tables = ("view_interviews", "view_preferences")

    def create_statements(self, dialect: str) -> list[str]:  # noqa: ARG002 (one DDL for both)
        """Interviews (for the day and framing of each support) and preferences."""
        return [
            "CREATE TABLE IF NOT EXISTS view_interviews (model TEXT NOT NULL, "
            "interview_id TEXT NOT NULL, conducted_on TEXT NOT NULL, framing TEXT NOT NULL, "
            "PRIMARY KEY (model, interview_id))",
            "CREATE TABLE IF NOT EXISTS view_preferences (model TEXT NOT NULL, "
            "preference_id TEXT NOT NULL, statement TEXT NOT NULL, theme TEXT NOT NULL, "
            "recorded_on TEXT NOT NULL, supports TEXT NOT NULL, since_contradiction TEXT NOT NULL, "
            "contradictions INTEGER NOT NULL, outcome TEXT, decided_on TEXT, "
            "supports_at_decision TEXT, decision_rationale TEXT, "
            "PRIMARY KEY (model, preference_id))",
        ]

    def apply(self, cursor: Any, event: Any, context: Context) -> None:
        """Keep each preference's supporting interviews and its decision."""
        self.apply_page(cursor, [event], [context])

    def read_page(self, cursor: Any, events: Sequence[Any], contexts: Sequence[Context]) -> Any:
        """Ask for the interviews and preferences the page's preference events name."""
        interviews = KeyedRows(self.view, cursor, "view_interviews", _INTERVIEW_KEY, _INTERVIEW)
        preferences = KeyedRows(self.view, cursor, "view_preferences", _PREFERENCE_KEY, _PREFERENCE)
        for event, context in zip(events, contexts, strict=True):
            kind = type(event).__name__
            if kind == "PreferenceRecorded":
                for interview_id in event.interview_ids:
                    interviews.need((context.model, interview_id))
            elif kind in _PREFERENCE_EVENTS:
                preferences.need((context.model, event.preference_id))
                if kind == "PreferenceReaffirmed":
                    interviews.need((context.model, event.interview_id))
        interviews.load()
        preferences.load()
        return interviews, preferences

    def apply_page(
        self, cursor: Any, events: Sequence[Any], contexts: Sequence[Context], read: Any = None
    ) -> None:
        """The page folded per interview and per preference (`KeyedRows`): each read at most
        once, written once."""
        interviews, preferences = (
            read if read is not None else self.read_page(cursor, events, contexts)
        )
        taken = [
            (type(event).__name__, event, context)
            for event, context in zip(events, contexts, strict=True)
            if type(event).__name__ in _PREFERENCE_EVENTS
            or type(event).__name__ == "InterviewConducted"
        ]
        for kind, event, context in taken:
            _fold_preference(kind, event, context.model, interviews, preferences)
        interviews.write()
        preferences.write()


_INTERVIEW_KEY = (RowColumn("model", "text"), RowColumn("interview_id", "text"))
_INTERVIEW = (RowColumn("conducted_on", "text"), RowColumn("framing", "text"))
_PREFERENCE_KEY = (RowColumn("model", "text"), RowColumn("preference_id", "text"))
_PREFERENCE = (
    *(
        RowColumn(name, "text")
        for name in ("statement", "theme", "recorded_on", "supports", "since_contradiction")
    ),
    RowColumn("contradictions", "integer"),
    *(
        RowColumn(name, "text")
        for name in ("outcome", "decided_on", "supports_at_decision", "decision_rationale")
    ),
)


def _support(interviews: KeyedRows, model: str, interview_id: str) -> list[str]:
    row = interviews.get((model, interview_id))
    if row is None:
        raise LookupError(f"the view has no interview {interview_id!r} of {model!r}")
    return [interview_id, row["conducted_on"], row["framing"]]


def _fold_preference(
    kind: str, event: Any, model: str, interviews: KeyedRows, preferences: KeyedRows
) -> None:
    """One event's change to the interviews and preferences held for the page."""
    if kind == "InterviewConducted":
        interviews.add(
            (model, event.interview_id),
            {"conducted_on": event.conducted_on.isoformat(), "framing": event.framing},
        )
        return
    key = (model, event.preference_id)
    if kind == "PreferenceRecorded":
        supports = orjson.dumps([_support(interviews, model, i) for i in event.interview_ids])
        preferences.add(
            key,
            {
                "statement": event.statement,
                "theme": event.theme,
                "recorded_on": day_of_decision(event).isoformat(),
                "supports": supports.decode(),
                "since_contradiction": supports.decode(),
                "contradictions": 0,
                "outcome": None,
                "decided_on": None,
                "supports_at_decision": None,
                "decision_rationale": None,
            },
        )
        return
    row = preferences.get(key)
    if row is None:
        raise LookupError(f"the view has no preference {event.preference_id!r} of {model!r}")
    if kind == "PreferenceReaffirmed":
        support = _support(interviews, model, event.interview_id)
        row["supports"] = orjson.dumps([*orjson.loads(row["supports"]), support]).decode()
        since = orjson.loads(row["since_contradiction"])
        row["since_contradiction"] = orjson.dumps([*since, support]).decode()
    elif kind == "PreferenceContradicted":
        row["since_contradiction"] = "[]"
        row["contradictions"] = int(row["contradictions"]) + 1
    elif kind == "PreferenceDecided":
        row["outcome"] = event.outcome
        row["decided_on"] = day_of_decision(event).isoformat()
        row["supports_at_decision"] = row["since_contradiction"]
        row["decision_rationale"] = event.rationale


_PREFERENCE_EVENTS = frozenset(
    {"PreferenceRecorded", "PreferenceReaffirmed", "PreferenceContradicted", "PreferenceDecided"}
)


def _supports(text: str | None) -> list[Support]:
    if not text:
        return []
    return [Support(i, date.fromisoformat(day), framing) for i, day, framing in orjson.loads(text)]


def preferences(
    recorder: ViewRecorder, policy: PreferencePolicy, model: str | None = None
) -> list[PreferenceRow]:
    """Every preference (of one model, if named), stability judged under ``policy``."""
    p = recorder.param
    where, params = (f"WHERE model = {p} ", (model,)) if model else ("", ())
    statement = (
        "SELECT model, preference_id, statement, theme, recorded_on, supports, "
        "since_contradiction, contradictions, outcome, decided_on, supports_at_decision, "
        f"decision_rationale FROM view_preferences {where}"  # noqa: S608 (no input)
        "ORDER BY model, preference_id"
    )
    rows = recorder.fetch(statement, params)
    result = []
    for r in rows:
        supports = _supports(r[5])
        at_decision = _supports(r[10]) if r[9] else None
        result.append(
            PreferenceRow(
                model=r[0],
                preference_id=r[1],
                statement=r[2],
                theme=r[3],
                recorded_on=date.fromisoformat(r[4]),
                interviews=len({s.interview_id for s in supports}),
                contradictions=int(r[7]),
                stable=is_stable(_supports(r[6]), policy),
                outcome=r[8],
                decided_on=_day(r[9]),
                stable_when_decided=None if at_decision is None else is_stable(at_decision, policy),
                decision_rationale=r[11],
            )
        )
    return result
