"""The read side the three doors share: one method per question a reader asks of the ledger.

The CLI, the HTTP API and the web console each parse their input, call one method of `Queries`
(or of `projections.translog.service.LogService` for the transparency log), and present the
answer; none of them loads state, reads a view or assembles a report itself, so the same
question gets the same answer whichever door it came through. A process that keeps the views
catches them up with the events before each answer, so a reader sees every decision recorded
before it asked; one whose role may not write them (the hardened deployment's service) reads
them as the projection runner left them. Either way `basis` names what an answer reflects:
how many events, and where that stands against the latest signed checkpoint.

Time travel is answered here once: a model's state at a version replays its events 1..N
through the library's repository; at a moment, up to the last event the ledger had recorded by
then (`Ledger.state_as_of`).
"""

from __future__ import annotations

import base64
import dataclasses
import difflib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from domain.decisions import Actor, Sealed, sealed_in
from domain.disclosure import may_open
from domain.errors import InvalidQuery, LogError, ModelNotFound, NoPreservedWeights
from domain.sealed import pseudonym
from projections import registers
from projections.model_state import model_state
from projections.records import event_record, opened_record
from projections.runner import ERASED

if TYPE_CHECKING:
    from pathlib import Path

    from domain.ledger import Ledger, ModelSummary
    from domain.lifecycle import ModelLifecycle
    from domain.manifests import Manifest, ManifestPage
    from domain.rules import PreferencePolicy
    from domain.state import PreservedWeights
    from projections.checklist import Checklist, ChecklistPolicy
    from projections.public_essays import EssayFeed, PublicModel, PublicRegister
    from projections.rows import AccessRequestRow
    from projections.runner import Basis, ViewRunner, ViewStatus
    from projections.search import Hit
    from projections.translog.recorders import StoredCheckpoint
    from projections.view_audit import ViewAudit
    from projections.views import ModelStatus, TimelineEntry

MAX_TIMELINE_PAGE = 1000
"""The most timeline entries one answer holds; page on with ``after``."""
MAX_SEARCH_RESULTS = 200
"""The most decisions one search answers with."""
MAX_QUERY_TEXT = 500
"""The longest search text, filter value or name a query takes (characters)."""
DEFAULT_CRITERIA_DISTANCE = 0.15
"""How close two policies' criteria scores must be to count as alike (docs/fairness.md)."""
SEALED = "[sealed]"
"""A private value shown to a reader who may not open it (`Queries.register`)."""
REGISTERS = ("access", "policies", "essays", "preferences", "signals")
"""The registers a reader can list."""


@dataclass(frozen=True)
class History:
    """A model's events up to a point, and its state there."""

    model: str
    version: int
    events: list[dict[str, Any]]
    state: dict[str, Any]
    lifecycle: ModelLifecycle

    def as_json(self) -> dict[str, Any]:
        """The answer as JSON (what `reliquary history --json` and the API return)."""
        return {
            "model": self.model,
            "version": self.version,
            "events": self.events,
            "state": self.state,
        }


@dataclass(frozen=True)
class ModelAt:
    """A model now and as read (now, at a version or at a moment), with its retirement
    checklist as of that moment (`Queries.model_at`)."""

    model: str
    current: ModelLifecycle
    lifecycle: ModelLifecycle
    state: dict[str, Any]
    checklist: Checklist


@dataclass(frozen=True)
class TimelinePage:
    """One page of the timeline, and where the next page starts (None on the last)."""

    entries: list[TimelineEntry]
    next_after: int | None

    def as_json(self) -> dict[str, Any]:
        """The page as JSON."""
        return {
            "entries": [entry.as_json() for entry in self.entries],
            "next_after": self.next_after,
        }


MAX_KEPT_REPORTS = 8
"""Fairness reports of "now" kept, one per set of thresholds (`Queries.fairness`)."""


@dataclass(frozen=True)
class _KeptReport:
    """A fairness report of "now", and the log's head when it was read.

    It is still the report of a later moment on the same day while the log has not grown and
    none of its events awaited a later effective time or was stored out of its clock's order:
    then the later moment would count exactly the same events, grants would expire on the same
    day and essay weeks end in the same week. Its ``moment`` stays the one it was computed at,
    which recomputes it (`projections.fairness.reproduce`).
    """

    report: Any
    head: int | None

    def still_holds(self, head: int | None, at: datetime) -> bool:
        position = self.report.position
        return (
            head == self.head
            and at.date() == position.moment.date()
            and at >= position.moment
            and not position.not_yet_in_effect
            and not position.recorded_after
        )


class Queries:
    """Every question about the ledger's records, answered from the ledger and its views."""

    def __init__(
        self,
        ledger: Ledger,
        views: ViewRunner,
        policy: PreferencePolicy,
        checklist_policy: ChecklistPolicy | None = None,
        latest_checkpoint: Callable[[], StoredCheckpoint | None] | None = None,
        log_origin: Callable[[], str] | None = None,
    ) -> None:
        from projections.checklist import ChecklistPolicy as Policy

        self.ledger = ledger
        self.views = views
        # The log's latest signed checkpoint, which every answer's `basis` names (None: this
        # read side has no log, and a basis names no checkpoint).
        self.latest_checkpoint = latest_checkpoint
        # The log's origin line, which a fairness report names with its tree's root.
        self.log_origin = log_origin
        # The latest fairness report per thresholds, while it is still the report of now.
        self._reports: dict[Any, _KeptReport] = {}
        self._reports_lock = threading.Lock()
        self.policy = policy
        self.checklist_policy = checklist_policy or Policy(
            archive_check_days=90, signal_days=45, preference=policy
        )

    # -- the retirement checklist ----------------------------------------------------------------

    def checklist(
        self, model: str | None = None, *, as_of: date | datetime | None = None
    ) -> list[Checklist]:
        """Each step of a careful retirement, per model (all by default), as of T.

        T is ``as_of``: a moment, or a day meaning the end of that day (UTC); without it, now.
        Each model's checklist is read from its events recorded by T (`projections.checklist`);
        a successor counts as registered if a model of that name was registered by T.
        """
        at = _end_of(as_of)
        names = [model] if model is not None else self.ledger.model_names()
        return [self._checklist(name, self.ledger.history(name), at) for name in names]

    def _checklist(self, name: str, events: list[Any], at: datetime) -> Checklist:
        """One model's checklist as of ``at``, from its events (every one, in order)."""
        from projections.checklist import checklist

        def registered(successor: str) -> bool:
            # Asked only of a retired model's successor: its first event alone tells, where
            # reading every model's history to find when each was registered would cost a
            # checklist the whole ledger (docs/performance.md, the web console).
            try:
                (first,) = self.ledger.history(successor, up_to_version=1)
            except ModelNotFound:
                return False
            # The name as recorded: a name the ledger finds under another spelling is not it.
            return getattr(first, "name", None) == successor and first.timestamp <= at

        return checklist(name, events, at, self.checklist_policy, registered)

    # -- views ---------------------------------------------------------------------------------

    def catch_up(self, on_progress: Callable[[int], None] | None = None) -> int:
        """Take every new event into the views (a progress callback for terminals).

        The projection runner's command: it writes the views, whoever this process is. Reads
        call `refresh_views` instead.
        """
        return self.views.catch_up(on_progress=on_progress)

    def refresh_views(self, on_progress: Callable[[int], None] | None = None) -> int:
        """Before a read: catch the views up if this process keeps them (else they are read as
        they are, and `basis` says how far behind they are)."""
        return self.views.refresh(on_progress=on_progress)

    def follow_views(
        self,
        stop: threading.Event,
        interval: float,
        on_progress: Callable[[int], None] | None = None,
    ) -> int:
        """Keep the views caught up until ``stop`` is set (the projection runner's loop)."""
        return self.views.follow(stop, interval, on_progress=on_progress)

    def basis(self, report: Any = None) -> Basis:
        """What an answer was computed from, against the latest signed checkpoint.

        Without ``report``: the views, as a read sees them now (caught up first where this
        process keeps them and they are behind; read after a page's data, and views only move
        forward, so no event of the page is past it). With a fairness report: the ledger
        position it names (its log size). Three reads when the views are current: where they
        stand, how many events were recorded after that, and the latest checkpoint.
        """
        events, position = self.views.reflected()
        pending = self.views.recorded_after(position)
        if pending and self.views.refresh():
            # Behind, and this process keeps the views (a page that read none, say): caught
            # up now, so read where they stand again. Current views cost no catch-up here.
            events, position = self.views.reflected()
            pending = self.views.recorded_after(position)
        recorded = events + pending
        if report is not None and report.position is not None:
            events = report.position.log_size
        return self._against_checkpoint(events, recorded)

    def ledger_basis(self) -> Basis:
        """What an answer read from the ledger itself stands on (the retirement checklist reads
        each model's events, not the views): every event recorded when asked, against the
        latest signed checkpoint. Read after the answer's data, so it covers all of it."""
        events, position = self.views.reflected()
        recorded = events + self.views.recorded_after(position)
        return self._against_checkpoint(recorded, recorded)

    def _against_checkpoint(self, events: int, recorded: int) -> Basis:
        from projections.runner import Basis

        latest = self.latest_checkpoint() if self.latest_checkpoint is not None else None
        return Basis(
            events=events,
            recorded=recorded,
            checkpoint_size=None if latest is None else latest.size,
            checkpoint_root=None if latest is None else base64.b64encode(latest.root_hash).decode(),
            checkpoint_signed_at=None if latest is None else latest.signed_at,
        )

    def view_status(self) -> list[ViewStatus]:
        """Each view's position against the head of the event log."""
        return self.views.status()

    def rebuild_views(
        self, names: list[str] | None = None, on_progress: Callable[[int], None] | None = None
    ) -> tuple[list[str], int]:
        """Drop views (all by default) and take every event again; the names and events taken."""
        unknown = [name for name in names or [] if name not in self.views.views]
        if unknown:
            raise InvalidQuery(
                f"no view named {unknown[0]!r}; the views: {', '.join(self.views.views)}"
            )
        chosen = names or list(self.views.views)
        return chosen, self.views.rebuild(chosen, on_progress=on_progress)

    def audit_views(self, on_progress: Callable[[int], None] | None = None) -> ViewAudit:
        """Recompute every view from the events into a scratch database; name each difference.

        The stored views are not caught up first: each is checked up to its own position, and
        one behind the head is reported as lagging (`projections.view_audit`).
        """
        from projections.view_audit import audit_views

        return audit_views(self.views, on_progress=on_progress)

    # -- models and time travel ----------------------------------------------------------------

    def models(self) -> list[ModelSummary]:
        """Every registered model with its lifecycle status, in order of registration."""
        return self.ledger.models()

    def model_statuses(self) -> list[ModelStatus]:
        """Every model's status as the status view holds it (cheap: no replay)."""
        from projections.views import model_statuses

        self.views.refresh()
        return model_statuses(self.views.recorder)

    def state_at(
        self, model: str, *, version: int | None = None, at: datetime | None = None
    ) -> ModelLifecycle:
        """A model's state now, at a version, or as the ledger had recorded it at a moment."""
        _check_text(model=model)
        if version is not None and at is not None:
            raise InvalidQuery("give a version or a moment, not both")
        try:
            if version is None and at is None:
                return self.ledger.state(model)
            return self.ledger.state_as_of(model, version=version, at=at)
        except ModelNotFound:
            raise self._unknown_model(model) from None

    def model_state(
        self, model: str, *, version: int | None = None, at: datetime | None = None
    ) -> dict[str, Any]:
        """A model's state as JSON, now or in the past."""
        state = self.state_at(model, version=version, at=at)
        return model_state(state, self.policy, as_of=_read_day(state, version, at))

    def history(
        self,
        model: str,
        *,
        version: int | None = None,
        at: datetime | None = None,
        reader: Actor | None = None,
    ) -> History:
        """A model's events up to now, a version or a moment, and its state there.

        Private values are shown sealed, except those ``reader`` may open
        (`domain.disclosure.may_open`; None is the operator): those carry their value and
        opening, or say they were erased.
        """
        state = self.state_at(model, version=version, at=at)
        events = self.ledger.history(model, up_to_version=state.version)
        records = [event_record(event, model) for event in events]
        sealed = [v for event in events for field in vars(event).values() for v in sealed_in(field)]
        if sealed:
            key = self.ledger.pseudonym_key()
            allowed = [
                s for s in sealed if may_open(reader, s.subject, lambda who: pseudonym(key, who))
            ]
            openings = self.ledger.opened(allowed)
            records = [opened_record(record, openings) for record in records]
        return History(
            model=model,
            version=state.version,
            events=records,
            state=model_state(state, self.policy, as_of=_read_day(state, version, at)),
            lifecycle=state,
        )

    def model_at(
        self, model: str, *, version: int | None = None, at: datetime | None = None
    ) -> ModelAt:
        """A model now, as read (now, at a version or at a moment), and its checklist as of
        ``at`` (the web console's model page).

        The checklist is read from the model's events; the states come from the ledger's
        aggregate cache (now) or a replay up to the version (in the past). Unlike `history`,
        no event is turned into a record: a page showing a state needs none of them.
        """
        current = self.state_at(model)
        travelling = version is not None or at is not None
        state = self.state_at(model, version=version, at=at) if travelling else current
        # The checklist's moment is checked before the model's events are read.
        moment = _end_of(at)
        checklist = self._checklist(model, self.ledger.history(model), moment)
        return ModelAt(
            model=model,
            current=current,
            lifecycle=state,
            state=model_state(state, self.policy, as_of=_read_day(state, version, at)),
            checklist=checklist,
        )

    def weights(self, model: str) -> PreservedWeights:
        """A model's latest preserved weights (`NoPreservedWeights` if it has none)."""
        _check_text(model=model)
        weights = self.ledger.state(model).weights
        if weights is None:
            raise NoPreservedWeights(f"model {model!r} has no preserved weights on record")
        return weights

    def manifest_page(self, digest: str, offset: int = 0, limit: int | None = None) -> ManifestPage:
        """Part of a recorded manifest, by its digest (public: docs/disclosure.md)."""
        from projections.archive.manifests import DEFAULT_MANIFEST_PAGE, manifest_page

        return manifest_page(self.ledger, digest, offset, limit or DEFAULT_MANIFEST_PAGE)

    def manifest(self, digest: str) -> Manifest:
        """A recorded manifest, whole, checked to hash to its digest."""
        from projections.archive.manifests import recorded_manifest

        return recorded_manifest(self.ledger, digest)

    # -- the timeline and search ---------------------------------------------------------------

    def timeline(
        self,
        *,
        model: str | None = None,
        event_type: str | None = None,
        actor: str | None = None,
        role: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> TimelinePage:
        """Decisions in ledger order, filtered; page on with ``after`` = ``next_after``."""
        from projections.views import timeline

        _check_text(model=model, type=event_type, actor=actor, role=role)
        _check_event_type(event_type)
        _check_role(role)
        if not 1 <= limit <= MAX_TIMELINE_PAGE:
            raise InvalidQuery(f"limit must be from 1 to {MAX_TIMELINE_PAGE}; got {limit}")
        if after is not None and not -1 <= after <= 2**62:
            raise InvalidQuery(f"after must be a sequence number; got {after}")
        self.views.refresh()
        self._check_model(model)
        entries = timeline(
            self.views.recorder,
            model=model,
            event_type=event_type,
            actor=actor,
            role=role,
            since=since,
            until=until,
            after=after,
            limit=limit + 1,  # one more than asked: whether a next page exists, not a guess
        )
        if len(entries) > limit:
            entries = entries[:limit]
            return TimelinePage(entries, entries[-1].sequence)
        return TimelinePage(entries, None)

    def decision(self, sequence: int) -> TimelineEntry:
        """One decision by its sequence number."""
        from projections.views import timeline_entries

        self.views.refresh()
        entry = timeline_entries(self.views.recorder, [sequence]).get(sequence)
        if entry is None:
            raise LogError(f"there is no decision with sequence number {sequence}")
        return entry

    def shown_decision(self, sequence: int, *, signed_in: Actor | None) -> dict[str, Any]:
        """One decision as its page shows it to ``signed_in`` (None: nobody is signed in).

        The public form of its leaf (`projections.records.shown_decision`), each private value
        opened (its value and opening, to check against the leaf) where the reader may open it
        (`domain.disclosure.may_open`), marked erased where its person was erased, and sealed
        otherwise. Nobody signed in opens nothing: unlike `history`, None is not the operator.
        """
        from projections.records import sealed_values, shown_decision

        entry = self.decision(sequence)
        sealed = sealed_values(entry.as_json())
        if not sealed:
            return shown_decision(entry, {})
        # Nobody signed in opens nothing, so needs no pseudonym key to tell whose values are.
        key = self.ledger.pseudonym_key() if signed_in is not None else b""

        def may(value: Sealed) -> bool:
            return signed_in is not None and may_open(
                signed_in, value.subject, lambda who: pseudonym(key, who)
            )

        openings = self.ledger.opened([value for value in sealed if may(value)])
        # Of the others, only that their person was erased: the public SubjectErased decision
        # says so already, and "[erased]" is truer than a commitment nobody can ever open.
        others = self.ledger.opened([value for value in sealed if not may(value)])
        openings.update({c: opened for c, opened in others.items() if opened.erased})
        return shown_decision(entry, openings)

    def search(
        self,
        text: str,
        *,
        model: str | None = None,
        event_type: str | None = None,
        limit: int = 20,
        after: str | None = None,
    ) -> list[Hit]:
        """Decisions holding the words of ``text``: those holding every word first, then
        newest first (`projections.search`); the page after the cursor ``after``, if given."""
        from projections.search import InvalidSearch, parse_cursor, query_terms, search

        _check_text(q=text, model=model, type=event_type, after=after)
        _check_event_type(event_type)
        if not 1 <= limit <= MAX_SEARCH_RESULTS:
            raise InvalidQuery(f"limit must be from 1 to {MAX_SEARCH_RESULTS}; got {limit}")
        try:
            query_terms(text)
            if after is not None:
                parse_cursor(after)
        except InvalidSearch as error:
            raise InvalidQuery(str(error)) from None
        self.views.refresh()
        self._check_model(model)
        return search(
            self.views.recorder, text, model=model, event_type=event_type, limit=limit, after=after
        )

    def search_page(
        self,
        text: str,
        *,
        model: str | None = None,
        event_type: str | None = None,
        limit: int = 20,
        after: str | None = None,
    ) -> SearchPage:
        """A page of `search` for people: the hits and where the next page starts, if one
        may (one hit more than shown is asked for, to know; at the largest page, a full page
        may be followed by more)."""
        asked = limit + 1 if 1 <= limit < MAX_SEARCH_RESULTS else limit
        found = self.search(text, model=model, event_type=event_type, limit=asked, after=after)
        hits = found[:limit]
        certain = len(found) > limit
        follows = certain or (bool(hits) and len(hits) == MAX_SEARCH_RESULTS)
        return SearchPage(hits, hits[-1].cursor if follows else None, certain)

    # -- the filters' names ---------------------------------------------------------------------

    def _check_model(self, model: str | None) -> None:
        """Refuse a model filter naming no registered model (`ModelNotFound`, with close names).

        A typo'd name would otherwise match nothing and answer an empty list, as if the model
        had no records. Asked of the status view, then of the ledger: views a projection runner
        keeps may not have taken the model's registration yet.
        """
        if model is None:
            return
        found = self.views.recorder.fetch(
            f"SELECT 1 FROM view_models WHERE model = {self.views.recorder.param}",  # noqa: S608
            (model,),
        )
        if not found and model not in self.ledger.model_names():
            raise self._unknown_model(model)

    def _unknown_model(self, model: str) -> ModelNotFound:
        """`ModelNotFound` for ``model``, naming up to three registered names close to it."""
        error = ModelNotFound(model)
        close = difflib.get_close_matches(model, self.ledger.model_names(), n=3)
        if close:
            error.message += f"; did you mean {_either(close)}?"
            error.facts["close_matches"] = close
        return error

    # -- registers and the fairness report -----------------------------------------------------

    def register(
        self, kind: str, model: str | None = None, *, reader: Actor | None = None
    ) -> list[Any]:
        """A register's rows: access requests, access policies, essays, preferences or signals.

        The access register's private values (requester, organisation, purpose, reason) are
        shown to ``reader`` only where it may open them (`domain.disclosure.may_open`; None is
        the operator), and ``[sealed]`` otherwise.
        """
        _check_text(model=model)
        if kind not in REGISTERS:
            raise InvalidQuery(f"no register {kind!r}: use {', '.join(REGISTERS)}")
        self.views.refresh()
        self._check_model(model)
        recorder = self.views.recorder
        if kind == "access":
            return self._readable(registers.access_requests(recorder, model), reader)
        if kind == "policies":
            return [p for p in registers.access_policies(recorder) if model in (None, p.model)]
        if kind == "essays":
            return registers.essays(recorder, model)
        if kind == "signals":
            from projections.signals import signals

            return signals(recorder, model)
        return registers.preferences(recorder, self.policy, model)

    def _readable(self, rows: list[AccessRequestRow], reader: Actor | None) -> list[Any]:
        """Access rows with the private values ``reader`` may not open shown as ``[sealed]``."""
        if reader is None:
            return list(rows)
        key = self.ledger.pseudonym_key()
        shown: list[Any] = []
        for row in rows:
            if row.subject is None or may_open(
                reader, row.subject, lambda who: pseudonym(key, who)
            ):
                shown.append(row)
                continue
            erased = row.requester == ERASED  # erasure is public: its decision is in the log
            hidden = ERASED if erased else SEALED
            shown.append(
                dataclasses.replace(
                    row,
                    requester=hidden,
                    organisation=hidden,
                    purpose=hidden,
                    reason=None if row.reason is None else hidden,
                    scope=None if row.scope is None else hidden,
                    terms=None if row.terms is None else hidden,
                )
            )
        return shown

    def fairness(
        self,
        *,
        thresholds: Mapping[str, Any] | None = None,
        as_of: date | datetime | None = None,
        size: int | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> Any:
        """The fairness report (docs/fairness.md) of the decisions recorded and in effect at T.

        T is ``as_of``: a moment, or a day meaning the end of that day (UTC); without it, now.
        The report is computed from the log's leaves (`projections.fairness.recorded`), never
        from the views: every event counted was hashed into the tree whose size and root the
        report names, so anyone holding an audit bundle of the log recomputes it
        (`fairness_from_bundle`). ``size`` reads only the log's first ``size`` events (the size
        a report names, to recompute it); ``thresholds`` are `FairnessPolicy`'s fields.
        """
        from projections.fairness.recorded import ledger_leaves, rows_of_leaves

        settings = fairness_policy(thresholds)
        if size is not None and not 0 <= size <= 2**62:
            raise InvalidQuery(f"size must be a tree size from 0; got {size}")
        at = _end_of(as_of)
        latest = as_of is None and size is None
        key = tuple(sorted(settings.__dict__.items()))
        head = self.ledger.recorder.max_notification_id() if latest else None
        if latest:
            with self._reports_lock:
                kept = self._reports.get(key)
            if kept is not None and kept.still_holds(head, at):
                return kept.report
        origin = self.log_origin() if self.log_origin is not None else None
        recorded = rows_of_leaves(
            ledger_leaves(self.ledger),
            self.policy,
            at,
            origin=origin,
            size=size,
            on_progress=on_progress,
        )
        report = report_of(recorded, settings, self.policy, at)
        if latest:
            with self._reports_lock:
                if len(self._reports) >= MAX_KEPT_REPORTS:
                    self._reports.pop(next(iter(self._reports)))
                self._reports[key] = _KeptReport(report, head)
        return report

    # -- the review queues (api.web.queues) -------------------------------------------------

    def access_queue(
        self,
        *,
        reader: Actor | None,
        stale_days: int,
        model: str | None = None,
        group: str | None = None,
        min_age_days: int | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> Any:
        """Access requests awaiting the board (pending or appealed), oldest first, with each
        requester's other requests and the model's policy in force (`projections.queues`).

        Read from the access register as ``reader`` may read it (private values sealed
        otherwise); a request older than ``stale_days`` is stale. Ages count from today (UTC).
        """
        from projections import queues

        _check_text(model=model, group=group)
        requests = self.register("access", reader=reader)
        self._check_model(model)
        return queues.access_queue(
            requests,
            self.register("policies"),
            today=datetime.now(UTC).date(),
            stale_days=stale_days,
            model=model,
            group=group,
            min_age_days=min_age_days,
            offset=offset,
            limit=limit or queues.MAX_QUEUE_PAGE,
        )

    def essay_queue(self) -> Any:
        """Essays awaiting a reviewer: drafts to approve or veto, approved ones to publish,
        oldest first (`projections.queues`)."""
        from projections import queues

        return queues.essay_queue(self.register("essays"))

    # -- a researcher's own requests (api.web.researchers) ----------------------------------

    def own_requests(self, reader: Actor) -> Any:
        """``reader``'s own access requests across models, newest first, each with its denial's
        meaning and the log sequences of its decisions (`projections.own_requests`).

        Only rows whose subject is the reader's pseudonym and which the reader may open
        (`domain.disclosure.may_open`) are returned: never another person's, not even sealed.
        """
        from projections import own_requests

        rows = self.register("access", reader=reader)
        key = self.ledger.pseudonym_key()
        return own_requests.own_requests(
            rows, reader, lambda who: pseudonym(key, who), self.views.recorder
        )

    def request_offer(
        self, reader: Actor, *, model: str | None = None, resubmission_of: str | None = None
    ) -> Any:
        """What a request form offers ``reader``: the models whose access policy keeps a
        channel open, the policy of ``model`` (a model not registered is refused), and the
        reader's own request ``resubmission_of`` being resubmitted (`projections.own_requests`).
        """
        from projections import own_requests

        _check_text(model=model, resubmission_of=resubmission_of)
        policies = self.register("policies")
        self._check_model(model)
        rows = self.register("access", model, reader=reader) if resubmission_of else []
        key = self.ledger.pseudonym_key()
        return own_requests.request_offer(
            policies,
            rows,
            reader,
            lambda who: pseudonym(key, who),
            model=model,
            resubmission_of=resubmission_of,
        )

    # -- the public face: published essays (api.web.public_pages) ---------------------------

    def public_register(self, *, sequence_of: Callable[[str, int], int | None]) -> PublicRegister:
        """The public register of every model (`projections.public_register`), the one document
        ``/public/models.json`` and ``/web/public`` present, with the basis it was read on.

        ``sequence_of(model, version)`` is the log's sequence of an event (`LogService`).
        """
        from projections.public_essays import PublicRegister
        from projections.public_register import public_register

        states = self.public_models()
        # Read after the models, so the basis covers every event they reflect.
        basis = self.ledger_basis()
        document = public_register(states, sequence_of=sequence_of, basis=basis.as_json())
        return PublicRegister(document, basis)

    def public_model(
        self, model: str, *, sequence_of: Callable[[str, int], int | None]
    ) -> PublicModel:
        """One model's public page: its register entry and its outlet's published essays, each
        with the log's sequences of its draft, approval and publication
        (`projections.public_essays`). An unknown model is `ModelNotFound`."""
        from projections.public_essays import MAX_PAGE_ESSAYS, PublicModel, published_essays
        from projections.public_register import public_register

        state = self.state_at(model)
        events = self.ledger.history(state.name, up_to_version=state.version)
        essays = published_essays(state.name, events, sequence_of=sequence_of)
        basis = self.ledger_basis()
        document = public_register([state], sequence_of=sequence_of, basis=basis.as_json())
        return PublicModel(state.name, document["models"][0], essays[:MAX_PAGE_ESSAYS], basis)

    def essay_feed(
        self, model: str | None, *, sequence_of: Callable[[str, int], int | None]
    ) -> EssayFeed:
        """The newest published essays of ``model`` (None: of every model) for an Atom feed,
        `MAX_FEED_ENTRIES` at most. Only the models whose state holds a published essay have
        their events read."""
        from domain.state import PUBLISHED
        from projections.public_essays import (
            MAX_FEED_ENTRIES,
            EssayFeed,
            newest_first,
            published_essays,
        )

        states = [self.state_at(model)] if model is not None else self.public_models()
        essays = [
            essay
            for state in states
            if any(essay.status == PUBLISHED for essay in state.essays.values())
            for essay in published_essays(
                state.name,
                self.ledger.history(state.name, up_to_version=state.version),
                sequence_of=sequence_of,
            )
        ]
        origin = self.log_origin() if self.log_origin is not None else ""
        basis = self.ledger_basis()
        name = states[0].name if model is not None else None
        return EssayFeed(name, origin, newest_first(essays, MAX_FEED_ENTRIES), basis)

    def public_models(self) -> list[ModelLifecycle]:
        """Every registered model's current state, in order of registration, for the public
        register (`projections.public_register`).

        Read from the ledger's aggregate cache, not the views: the register needs each model's
        access channels and weights, which no view keeps. The caller reads `ledger_basis`
        after, so the basis covers every event read here.
        """
        return [self.ledger.state(name) for name in self.ledger.model_names()]


def fairness_policy(thresholds: Mapping[str, Any] | None) -> Any:
    """The report's `FairnessPolicy` from the thresholds a door parsed; a bad one is refused."""
    from projections.fairness import FairnessPolicy

    given = dict(thresholds or {})
    distance = given.get("criteria_distance", DEFAULT_CRITERIA_DISTANCE)
    if not 0.0 <= distance <= 10.0:
        raise InvalidQuery(f"criteria distance must be from 0 to 10; got {distance}")
    try:
        return FairnessPolicy(**given)
    except (TypeError, ValueError) as error:
        raise InvalidQuery(f"fairness thresholds: {error}") from None


def report_of(recorded: Any, settings: Any, stability: PreferencePolicy, at: datetime) -> Any:
    """The fairness report of rows read at ``at`` (`recorded.RecordedRows`)."""
    from projections import fairness

    return fairness.fairness_report(
        recorded.requests,
        recorded.policies,
        recorded.essays,
        recorded.preferences,
        policy=settings,
        as_of=at.date(),
        position=recorded.position,
        stability=stability,
    )


def fairness_from_bundle(
    directory: Path,
    pinned_verifier: str,
    *,
    thresholds: Mapping[str, Any] | None = None,
    stability: PreferencePolicy | None = None,
    as_of: date | datetime | None = None,
    size: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Any:
    """The fairness report recomputed from an offline audit bundle alone: no database.

    The bundle must verify against ``pinned_verifier`` (the key the operator published). Given
    the T, size and settings a report names (`projections.fairness.reproduce`), the result is
    that report, and its JSON the same bytes.
    """
    from domain.rules import PreferencePolicy as Stability
    from projections.fairness.recorded import bundle_rows

    settings = fairness_policy(thresholds)
    if size is not None and not 0 <= size <= 2**62:
        raise InvalidQuery(f"size must be a tree size from 0; got {size}")
    chosen = stability if stability is not None else Stability()
    at = _end_of(as_of)
    recorded = bundle_rows(directory, pinned_verifier, chosen, at, size, on_progress)
    return report_of(recorded, settings, chosen, at)


def event_types() -> list[str]:
    """The event types a ``type`` filter may name: the ledger's catalogue, in declared order."""
    from domain.ledger import EVENT_BY_TOPIC

    return [event_class.__name__ for event_class in EVENT_BY_TOPIC.values()]


def roles() -> list[str]:
    """The roles a ``role`` filter may name (`domain.decisions.Role`)."""
    from domain.decisions import Role

    return [role.value for role in Role]


def _check_event_type(event_type: str | None) -> None:
    """Refuse a ``type`` filter that names no event type, listing the event types."""
    if event_type is not None and event_type not in (known := event_types()):
        raise InvalidQuery(
            f"type: no event type {event_type!r}{_did_you_mean(event_type, known)}; "
            f"the event types: {', '.join(known)}"
        )


def _check_role(role: str | None) -> None:
    """Refuse a ``role`` filter that names no role, listing the roles."""
    if role is not None and role not in (known := roles()):
        raise InvalidQuery(
            f"role: no role {role!r}{_did_you_mean(role, known)}; the roles: {', '.join(known)}"
        )


@dataclass(frozen=True)
class SearchPage:
    """A page of search hits, and the cursor of the next page (None: none follows)."""

    hits: list[Hit]
    next_after: str | None
    more_certain: bool  # more decisions surely match (else, with a cursor: they may)


def _did_you_mean(value: str, known: list[str]) -> str:
    close = difflib.get_close_matches(value, known, n=3)
    return f" (did you mean {_either(close)}?)" if close else ""


def _either(names: list[str]) -> str:
    quoted = [repr(name) for name in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _check_text(**values: str | None) -> None:
    """Refuse filter text no record can hold: too long, or with control characters."""
    for name, value in values.items():
        if value is None:
            continue
        if len(value) > MAX_QUERY_TEXT:
            raise InvalidQuery(f"{name} is longer than {MAX_QUERY_TEXT} characters")
        if any(ord(char) < 32 or ord(char) == 127 for char in value):
            raise InvalidQuery(f"{name} has a control character")


def _read_day(state: ModelLifecycle, version: int | None, at: datetime | None) -> date:
    """The day (UTC) a model's state is read for: the moment's, the version's, or today.

    A grant's status depends on it (an approved grant past its expiry reads ``expired``). A
    read at a moment uses that moment; a read at a version, the moment that version was
    recorded; a read now, today.
    """
    if at is not None:
        return _end_of(at).date()
    if version is not None:
        return state.modified_on.astimezone(UTC).date()
    return datetime.now(UTC).date()


def _end_of(as_of: date | datetime | None) -> datetime:
    """The moment a question is asked as of: now, a moment (with a zone), or a day's end (UTC)."""
    if as_of is None:
        return datetime.now(UTC)
    if isinstance(as_of, datetime):
        if as_of.tzinfo is None:
            raise InvalidQuery("the moment needs a time zone")
        return as_of.astimezone(UTC)
    return datetime.combine(as_of, time.max, UTC)
