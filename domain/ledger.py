"""The application service: one method per command, and the reads auditors rely on.

`Ledger` is an `eventsourcing` `Application`. Each command method loads the model's aggregate,
calls one command method on it, and saves; a version conflict with another writer is retried a
bounded number of times with the model reloaded, so no update is lost and none is applied twice.
Reads go through the library's repository (``version=N``) so time travel replays the same
events through the same code as live state.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import dataclasses
import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    IntegrityError,
    Notification,
    PersistenceError,
    Recording,
    StoredEvent,
    Transcoder,
    UUIDAsHex,
)

from domain import commands as cmd
from domain.authority import COMMAND_OF_EVENT, EVENT_OF_COMMAND, Authentication, require_role
from domain.codec import VALUE_TRANSCODINGS, OrjsonTranscoder
from domain.decisions import (
    HOLDS_NOTHING,
    Actor,
    Evidence,
    Justification,
    Sealed,
    sealed_in,
)
from domain.decisions_table import command_facts, decide
from domain.disclosure import POLICY_VERSIONS, private_fields, subject_identity
from domain.errors import (
    BundleError,
    BundleRefused,
    CommandRejected,
    ConcurrencyConflict,
    ImportConflict,
    LedgerError,
    ModelAlreadyRegistered,
    ModelNotFound,
    RecordTooLarge,
    StaleVersion,
    SuccessorNotRegistered,
    VersionNotFound,
)
from domain.identity import model_id
from domain.lifecycle import ModelLifecycle, event_classes
from domain.manifests import Manifest, RestoredManifests, given_manifests, manifests_named
from domain.requests import RequestKey
from domain.sealed import PSEUDONYM, Opened, Scrub, pseudonym, seal

LOGGER = logging.getLogger("reliquary.ledger")

LOG_ENTRY_BYTES = 65_535
"""The largest entry of the transparency log (tlog-tiles entry bundles: a 2-byte length)."""

MAX_EVENT_BYTES = LOG_ENTRY_BYTES - 2_048
"""The largest stored event: its log entry adds at most its envelope (the model's name and
id, its position, type and topic, well under 2 KiB) to the stored state, so every event the
ledger records fits one log entry."""

CONTENDED_SECONDS = 2.0
"""For this long after a conflict on a model, its writers in this process take turns with
the other processes' from their first try (`Ledger._writers_turn`)."""

MAX_CONTENDED_MODELS = 1024
"""How many recently contended models a process remembers."""

MODEL_LOCK_STRIPES = 64
"""Writers in one process take turns per model through this many locks (a model's lock is
chosen by its name), so no command, refused or not, grows a table of locks."""


@dataclass(frozen=True)
class Recorded:
    """What a successful command appended."""

    model: str
    model_id: UUID
    event_type: str
    version: int
    sequence: int | None


@dataclass(frozen=True)
class ModelSummary:
    """A model's name and where its lifecycle stands."""

    name: str
    status: str
    version: int


def justification(
    command: cmd.Command, authentication: Authentication = Authentication.OPERATOR
) -> Justification:
    """The decision fields of a command, as the aggregate takes them."""
    return Justification(
        actor=Actor(
            id=command.actor.id, role=command.actor.role.value, authenticated_by=authentication
        ),
        rationale=command.rationale,
        evidence=tuple(
            Evidence(uri=item.uri, digest=item.digest, description=item.description)
            for item in command.evidence
        ),
        effective_at=command.effective_at,
    )


def event_transcoder() -> OrjsonTranscoder:
    """The ledger's transcoder: orjson, the library's transcodings (UUIDs, decimals, date-times)
    and our value objects'. One definition, for the ledger and for whoever decodes its stored
    events without a store (a fairness report recomputed from an audit bundle)."""
    transcoder = OrjsonTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), *VALUE_TRANSCODINGS):
        transcoder.register(transcoding)
    return transcoder


class Ledger(Application[UUID]):
    """The Reliquary ledger: every lifecycle decision of every model, as events."""

    name = "Ledger"
    # Keep recently used models in memory, fast-forwarded from the store on each load, so a
    # command does not replay its model's whole history.
    env: ClassVar[dict[str, str]] = {
        "AGGREGATE_CACHE_MAXSIZE": "1000",
        "AGGREGATE_CACHE_FASTFORWARD": "y",
    }
    max_attempts = 12

    def __init__(self, env: Any = None) -> None:
        """Open the store (the library's application), with per-model locks for writers."""
        super().__init__(env)
        self._model_locks = tuple(threading.Lock() for _ in range(MODEL_LOCK_STRIPES))
        # Models another process wrote under this one's feet lately (bounded, oldest dropped).
        self._contended: collections.OrderedDict[UUID, float] = collections.OrderedDict()
        self._contended_guard = threading.Lock()

    def construct_transcoder(self) -> Transcoder:
        """Use the orjson transcoder with our value-object transcodings (`event_transcoder`)."""
        return event_transcoder()

    # -- commands ------------------------------------------------------------------------------

    def execute(
        self,
        command: cmd.Command,
        *,
        authentication: Authentication = Authentication.OPERATOR,
        expected_version: int | None = None,
        request: RequestKey | None = None,
    ) -> Recorded:
        """Run one parsed command: authority first, then load, decide and save.

        ``authentication`` says how the door knew the actor (a token over HTTP, a local
        operator at the CLI); it is recorded with the decision. The actor's role is checked
        against the authority table before anything is loaded, so a refused command costs
        nothing and appends nothing. ``request`` is a reserved ``Idempotency-Key``
        (`domain.requests`): its outcome is written in the transaction that saves the events.
        """
        name: str = command.command  # type: ignore[attr-defined]
        if expected_version is None:  # the document's own, as `apply` gives it
            expected_version = getattr(command, "expected_version", None)
        decided = justification(command, authentication)
        require_role(name, decided.actor)
        facts = command_facts(command)
        if isinstance(command, cmd.RegisterModel):
            return self._register(command, decided, facts, expected_version, request)

        def act(model: ModelLifecycle) -> None:
            check_successor(model, name, facts, lambda other: self._current_version(other) > 0)
            sealed_decided, sealed_facts = self._sealed(model, name, decided, facts)
            decide(model, name, sealed_decided, sealed_facts)

        recorded = self._change(command, expected_version, act, request)
        if name == "erase_subject":
            self.scrub_erased(force=True)
        return recorded

    def scrub_erased(self, *, force: bool = False) -> Scrub:
        """Rid the store's files of erased people's old bytes (`domain.sealed.scrub_erased`).

        An erasure runs it right after its commit (it cannot run in the erasure's
        transaction: VACUUM FULL never does). The erasure is recorded either way: a scrub
        that fails or cannot finish leaves the person marked, and it is done again by the
        next erasure or by ``reliquary scrub``. Its outcome is logged with pseudonyms only.
        """
        recorder: Any = self.recorder
        try:
            scrub = cast(Scrub, recorder.scrub_erased(force=force))
        except PersistenceError as error:
            LOGGER.warning("scrub of erased subjects failed, left pending: %s", error)
            return Scrub(subjects=(), complete=False, detail=f"failed: {error}")
        if not scrub.complete:
            LOGGER.warning(
                "scrub of erased subjects %s left pending: %s",
                ", ".join(scrub.subjects),
                scrub.detail,
            )
        return scrub

    def _register(
        self,
        command: cmd.RegisterModel,
        decided: Justification,
        facts: dict[str, Any],
        expected_version: int | None,
        request: RequestKey | None = None,
    ) -> Recorded:
        """Register a model; its name is registered once."""
        if expected_version not in (None, 0):
            raise StaleVersion(
                command.model, expected_version, self._current_version(command.model)
            )
        model = ModelLifecycle.register(
            model_id(command.model), decided, name=command.model, **facts
        )
        try:
            recordings = self._save(model, request)
        except IntegrityError:
            raise ModelAlreadyRegistered(
                f"a model named {command.model!r} is already registered",
                model=command.model,
            ) from None
        return self._recorded(command.model, model, recordings)

    # -- bulk import ---------------------------------------------------------------------------

    def import_commands(
        self,
        commands: Iterable[cmd.Command],
        *,
        batch_size: int = 1000,
        on_batch: Callable[[int], None] | None = None,
    ) -> int:
        """Apply many commands in large transactions (as restoring a bundle does).

        Each batch is all-or-nothing: the commands of a batch are applied to models held in
        memory, and their events saved in one transaction. A refused command raises before
        its batch is saved, so nothing of that batch is written; earlier batches stay.
        """
        applied = 0
        # Models the import has saved, kept between batches so that no batch reloads them.
        held: dict[str, ModelLifecycle] = {}
        batch: list[cmd.Command] = []
        for command in commands:
            batch.append(command)
            if len(batch) >= batch_size:
                applied += self._import_batch(batch, held)
                batch = []
                if on_batch:
                    on_batch(applied)
        if batch:
            applied += self._import_batch(batch, held)
            if on_batch:
                on_batch(applied)
        return applied

    def _import_batch(self, batch: Sequence[cmd.Command], held: dict[str, ModelLifecycle]) -> int:
        for attempt in (1, 2):
            models: dict[str, ModelLifecycle] = {}
            scratch = _BatchLedger(self, models, held)
            for command in batch:
                scratch.execute(command, authentication=Authentication.IMPORT)
            pending = [event for model in models.values() for event in model.collect_events()]
            stored = self._fitting_log_entries(pending)
            given = [manifest for command in batch for manifest in given_manifests(command)]
            try:
                self._insert(pending, stored, **_kept_apart(pending, given))
            except IntegrityError:
                # Another writer changed a held model between batches: forget what the import
                # held and run the batch once more on the models as stored.
                held.clear()
                if attempt == 1:
                    continue
                raise ImportConflict(
                    "import batch conflicts with stored events (a model already registered, "
                    "or written by another writer meanwhile); nothing of this batch was written"
                ) from None
            held.update(models)
            break
        return len(batch)

    # -- restoring exported events ---------------------------------------------------------------

    def restore(
        self,
        read: Callable[[], Iterator[StoredEvent]],
        *,
        batch_size: int = 1000,
        manifests: Mapping[str, Manifest] | None = None,
    ) -> int:
        """Restore another ledger's events into this empty one, each checked as a command is.

        ``read`` opens the events, in ledger order; it is called twice. The first pass replays
        every event through the same authority table and the same aggregate command methods
        as a live command (`restored_event`), at the moment it was first recorded, and
        requires the replay to record exactly the stored event; the second pass stores the
        events as they are (their bytes are what the bundle's checkpoint signed), all in one
        transaction. A bundle with one event the rules or the table refuse is refused whole
        (`BundleRefused`, naming its line and the rule), and nothing is stored; a restore
        interrupted while storing stores nothing either.

        ``manifests`` are the bundle's file lists by digest: each ``WeightsPreserved`` is
        replayed with the list its digest names, and the lists are stored in the same
        transaction as the events (`domain.manifests`).
        """
        if self.recorder.max_notification_id():
            raise BundleError("a bundle is imported only into an empty ledger; this one has events")
        models: dict[UUID, ModelLifecycle] = {}
        lists = RestoredManifests(manifests or {})
        for line, stored in enumerate(read(), start=1):
            if len(stored.state) > MAX_EVENT_BYTES:
                raise BundleRefused(
                    f"line {line}: the event is {len(stored.state)} bytes, over the "
                    f"{MAX_EVENT_BYTES} bytes a record may have",
                    line=line,
                    rule=RecordTooLarge.rule,
                )
            try:
                restored_event(self.mapper, stored, models, lists)
            except LedgerError as error:
                raise BundleRefused(f"line {line}: {error}", line=line, rule=error.rule) from None
        # One transaction for the whole bundle: a restore interrupted anywhere (a killed
        # process, a dropped connection) leaves the ledger empty, and the next one starts over.
        recorder: Any = self.recorder
        return int(
            recorder.insert_event_batches(_batches(read(), batch_size), manifests=lists.named)
        )

    # -- reads ---------------------------------------------------------------------------------

    def state(self, name: str) -> ModelLifecycle:
        """The current state of a model."""
        return self._load(name)

    def state_as_of(
        self, name: str, *, version: int | None = None, at: datetime | None = None
    ) -> ModelLifecycle:
        """The state of a model at a past version, or as the ledger knew it at a past moment.

        ``at`` is compared with the time the ledger recorded each event (not the time a
        decision took effect): it answers "what did the ledger say at that moment".
        """
        if (version is None) == (at is None):
            raise CommandRejected("give exactly one of a version or a moment")
        if at is not None:
            version = self.version_at(name, at)
        if version is None:  # unreachable: one of the two was given
            raise CommandRejected("give exactly one of a version or a moment")
        current = self._load(name).version  # raises ModelNotFound for an unknown model
        if not 1 <= version <= current:
            raise VersionNotFound(
                f"model {name!r} has versions 1 to {current}; there is no version {version}",
                model=name,
                version=version,
            )
        model: ModelLifecycle = self.repository.get(model_id(name), version=version)
        return model

    def version_at(self, name: str, at: datetime) -> int:
        """The model's version as the ledger recorded it at a moment."""
        if at.tzinfo is None:
            raise CommandRejected(f"the moment {at.isoformat()} has no time zone")
        version = 0
        for event in self.events.get(model_id(name)):
            if event.timestamp > at:  # type: ignore[attr-defined]
                break
            version = event.originator_version
        if version == 0:
            self._load(name)  # raises ModelNotFound if it never was registered
            raise VersionNotFound(
                f"model {name!r} was not yet registered at {at.isoformat()}",
                model=name,
                at=at.isoformat(),
            )
        return version

    def history(self, name: str, *, up_to_version: int | None = None) -> list[ModelLifecycle.Event]:
        """A model's events in order, up to a version (all of them by default)."""
        events = list(self.events.get(model_id(name), lte=up_to_version))
        if not events:
            raise ModelNotFound(name)
        return events  # type: ignore[return-value]

    def models(self) -> list[ModelSummary]:
        """Every registered model with its lifecycle status, in order of registration."""
        summaries = []
        for name in self.model_names():
            model = self._load(name)
            summaries.append(ModelSummary(model.name, model.lifecycle_status, model.version))
        return summaries

    def version_of(self, name: str) -> int:
        """The model's current version, or 0 if no model of that name is registered."""
        return self._current_version(name)

    def model_names(self) -> list[str]:
        """The names of every registered model, in order of registration."""
        topic = ModelLifecycle.ModelRegistered.TOPIC
        names: list[str] = []
        for notification in self.notifications_after(0, topics=(topic,)):
            event = self.mapper.to_domain_event(notification)
            names.append(event.name)  # type: ignore[attr-defined]
        return names

    def notifications_after(
        self, position: int, topics: Sequence[str] = (), page: int = 1000
    ) -> Iterator[Any]:
        """Every stored event after notification id ``position``, in ledger order.

        It pages with "greater than the last id seen", never by counting, because on
        PostgreSQL notification ids have gaps.
        """
        while True:
            notifications = self.recorder.select_notifications(
                start=position, limit=page, topics=topics, inclusive_of_start=False
            )
            yield from notifications
            if len(notifications) < page:
                return
            position = notifications[-1].id

    # -- the load, call, save cycle -----------------------------------------------------------

    def _change(
        self,
        command: cmd.Command,
        expected_version: int | None,
        act: Callable[[ModelLifecycle], None],
        request: RequestKey | None = None,
    ) -> Recorded:
        """Load the model, apply one command method, save; retry on a version conflict.

        Writers in this process take turns per model (a lock), so they never conflict with
        each other; writers in other processes are met by optimistic concurrency: the save
        fails on the version they took, and the command is re-run on the reloaded model.
        """
        with self._model_lock(command.model):
            return self._change_with_retries(command, expected_version, act, request)

    def _change_with_retries(
        self,
        command: cmd.Command,
        expected_version: int | None,
        act: Callable[[ModelLifecycle], None],
        request: RequestKey | None,
    ) -> Recorded:
        with contextlib.ExitStack() as turns:
            in_turn = False
            identifier = _model_id(command.model)
            if self._contended_recently(identifier):
                # Writers of a busy model take turns from their first try: a writer that has
                # just saved (its cached copy current) would otherwise win every race.
                turns.enter_context(self._writers_turn(identifier))
                in_turn = True
            for attempt in range(1, self.max_attempts + 1):
                model = self._load_for_write(command.model)
                if expected_version is not None and model.version != expected_version:
                    self._forget(model.id)
                    model = self._load(command.model)
                    if model.version != expected_version:
                        raise StaleVersion(command.model, expected_version, model.version)
                act(model)
                try:
                    recordings = self._save(model, request, given_manifests(command))
                except IntegrityError:
                    self._forget(model.id)
                    if expected_version is not None:
                        # The caller pinned a version; someone else wrote it first.
                        raise StaleVersion(
                            command.model, expected_version, self._current_version(command.model)
                        ) from None
                    self._mark_contended(model.id)
                    if not in_turn:
                        # Another process wrote this model first: from now on take turns with
                        # its other writers (a lock of the store's), so none is starved.
                        turns.enter_context(self._writers_turn(model.id))
                        in_turn = True
                        continue
                    # Back off (jittered, growing) and re-run the command on the new state,
                    # so its rules meet what is stored.
                    delay = min(0.002 * 2**attempt, 0.2)
                    time.sleep(random.uniform(0, delay))  # noqa: S311 (jitter, not crypto)
                    continue
                if self.repository.cache is not None:
                    self.repository.cache.put(model.id, model)
                return self._recorded(command.model, model, recordings)
        raise ConcurrencyConflict(command.model, self.max_attempts)

    def _contended_recently(self, aggregate_id: UUID) -> bool:
        with self._contended_guard:
            seen = self._contended.get(aggregate_id)
        return seen is not None and time.monotonic() - seen < CONTENDED_SECONDS

    def _mark_contended(self, aggregate_id: UUID) -> None:
        with self._contended_guard:
            self._contended[aggregate_id] = time.monotonic()
            self._contended.move_to_end(aggregate_id)
            while len(self._contended) > MAX_CONTENDED_MODELS:
                self._contended.popitem(last=False)

    def _writers_turn(self, aggregate_id: UUID) -> contextlib.AbstractContextManager[Any]:
        """A turn among this model's writers in every process (`writers_turn` of the store).

        PostgreSQL's recorder holds an advisory lock of the model's; SQLite's a lock of the
        database's (it has one writer at a time anyway).
        """
        turn = getattr(self.recorder, "writers_turn", None)
        return turn(aggregate_id) if turn is not None else contextlib.nullcontext()

    def _load_for_write(self, name: str) -> ModelLifecycle:
        """A copy of the model as this process last saw it, without asking the store.

        A command checks its rules against this copy. If another process has written the
        model since, the save fails on the version it took (IntegrityError), the cached model
        is forgotten, and the command runs again on the model reloaded from the store: a
        stale cache costs a retry, never a wrong decision. Reads (`state`) still bring the
        cached model up to date from the store first.
        """
        cache = self.repository.cache
        if cache is not None:
            try:
                cached = cache.get(_model_id(name))
            except KeyError:
                pass
            else:
                return copy.deepcopy(cast(ModelLifecycle, cached))
        return self._load(name)

    def _forget(self, aggregate_id: UUID) -> None:
        """Drop a model from the cache, so the next load reads the store."""
        cache = self.repository.cache
        if cache is not None:
            with contextlib.suppress(KeyError):
                cache.get(aggregate_id, evict=True)

    def _model_lock(self, name: str) -> threading.Lock:
        return self._model_locks[hash(name) % MODEL_LOCK_STRIPES]

    def _sealed(
        self, model: ModelLifecycle, command: str, decided: Justification, facts: dict[str, Any]
    ) -> tuple[Justification, dict[str, Any]]:
        """The decision and its facts with their private fields sealed (`domain.disclosure`).

        Each private value (a fact, or the decision's rationale) becomes a `Sealed` commitment
        under a fresh opening, for the pseudonym of the person it is about: the researcher who
        makes a request (its actor), or the researcher whose request a later decision
        concerns. A decision on a request the model does not hold seals nothing: the
        aggregate refuses it first.
        """
        if command == "erase_subject":  # named by actor id or pseudonym: stored as pseudonym
            subject = str(facts["subject"])
            if not PSEUDONYM.fullmatch(subject):
                subject = pseudonym(self._pseudonym_key(), subject_identity(subject))
            return decided, {**facts, "subject": subject}
        event_type = EVENT_OF_COMMAND.get(command)
        private = private_fields(event_type) if event_type else {}
        if not private or event_type is None:
            return decided, facts
        actor_id = str(decided.actor.id)
        # The rules compare the decider with the requester, who is named only by pseudonym.
        decided = dataclasses.replace(
            decided, pseudonym=pseudonym(self._pseudonym_key(), subject_identity(actor_id))
        )
        if "actor.id" in private:  # the researcher records about their own request
            person = actor_id
        else:
            request = model.access_requests.get(facts.get("request_id", ""))
            if request is None or not request.requested_by:
                return decided, facts
            person = request.requested_by
        subject = (
            person
            if PSEUDONYM.fullmatch(person)
            else pseudonym(self._pseudonym_key(), subject_identity(person))
        )

        def sealed(field: str, value: Any) -> Any:
            return seal(event_type, field, value, subject) if isinstance(value, str) else value

        facts = {
            name: sealed(name, value) if name in private else value for name, value in facts.items()
        }
        decided = dataclasses.replace(
            decided,
            actor=dataclasses.replace(decided.actor, id=sealed("actor.id", decided.actor.id))
            if "actor.id" in private
            else decided.actor,
            rationale=sealed("rationale", decided.rationale)
            if "rationale" in private
            else decided.rationale,
            evidence=tuple(
                dataclasses.replace(
                    item,
                    uri=sealed("evidence.uri", item.uri),
                    description=sealed("evidence.description", item.description),
                )
                for item in decided.evidence
            )
            if "evidence.uri" in private
            else decided.evidence,
        )
        return decided, facts

    def pseudonym_key(self) -> bytes:
        """The key people's pseudonyms are made with (`domain.sealed.pseudonym`)."""
        return self._pseudonym_key()

    def _pseudonym_key(self) -> bytes:
        recorder: Any = self.recorder
        return cast(bytes, recorder.pseudonym_key())

    def opened(self, sealed: Iterable[Sealed]) -> dict[str, Opened]:
        """The openings the store holds for these sealed values, by commitment."""
        recorder: Any = self.recorder
        return cast(dict[str, Opened], recorder.read_openings(sealed))

    def _save(
        self,
        model: ModelLifecycle,
        request: RequestKey | None,
        manifests: Sequence[Manifest] = (),
    ) -> list[Any]:
        """Save a model's new events, each checked to fit one log entry.

        ``manifests`` are the file lists the command gave: the store keeps each one that an
        event of this save names beside it, in the same transaction (`domain.manifests`).

        If the store reports that the versions are taken (`IntegrityError`) and what is stored
        there is exactly these events, they are this save's own: the connection failed after
        the server committed and the store's retry met them. That is a success, not a
        conflict to re-run the command on (which would record the decision twice).
        """
        pending = model.collect_events()
        stored = self._fitting_log_entries(pending)
        kwargs: dict[str, Any] = {"request": request} if request is not None else {}
        kwargs.update(_kept_apart(pending, manifests))
        try:
            return self._insert(pending, stored, **kwargs)
        except IntegrityError:
            if stored and self._already_stored(stored):
                return [_FoundStored(pending[-1])]
            raise

    def _insert(
        self, events: Sequence[Any], stored: Sequence[StoredEvent], **kwargs: Any
    ) -> list[Any]:
        """Store events already mapped (to check their size): the library's `EventStore.put`,
        without mapping them a second time. The ledger takes no snapshots and no subscriber
        waits on `Application._notify`, so this is all `Application.save` would do."""
        ids = self.recorder.insert_events(stored, **kwargs) or []
        return [
            Recording(
                event,
                Notification(
                    originator_id=record.originator_id,
                    originator_version=record.originator_version,
                    topic=record.topic,
                    state=record.state,
                    id=notification_id,
                ),
            )
            for event, record, notification_id in zip(events, stored, ids, strict=False)
        ]

    def _fitting_log_entries(self, events: Sequence[Any]) -> list[StoredEvent]:
        """The events as they will be stored; `RecordTooLarge` if one would not fit the log."""
        stored = [self.mapper.to_stored_event(event) for event in events]
        for event in stored:
            if len(event.state) > MAX_EVENT_BYTES:
                raise RecordTooLarge(
                    f"the {event_type_name(event.topic)} this command would record is "
                    f"{len(event.state)} bytes; a record must fit one entry of the "
                    f"transparency log, at most {MAX_EVENT_BYTES} bytes: shorten its texts "
                    "or lists (see docs/commands.md, Limits)",
                    size=len(event.state),
                    limit=MAX_EVENT_BYTES,
                )
        return stored

    def _already_stored(self, stored: Sequence[StoredEvent]) -> bool:
        first, last = stored[0], stored[-1]
        found = self.recorder.select_events(
            first.originator_id,
            gt=first.originator_version - 1,
            lte=last.originator_version,
        )
        return [(e.originator_version, e.topic, e.state) for e in found] == [
            (e.originator_version, e.topic, e.state) for e in stored
        ]

    def _load(self, name: str) -> ModelLifecycle:
        try:
            model: ModelLifecycle = self.repository.get(_model_id(name))
        except AggregateNotFoundError:
            raise ModelNotFound(name) from None
        return model

    def _current_version(self, name: str) -> int:
        try:
            return self._load(name).version
        except ModelNotFound:
            return 0

    @staticmethod
    def _recorded(name: str, model: ModelLifecycle, recordings: Sequence[Any]) -> Recorded:
        last = recordings[-1] if recordings else None
        return Recorded(
            model=name,
            model_id=model.id,
            event_type=type(last.domain_event).__name__ if last else "",
            version=model.version,
            sequence=last.notification.id if last else None,
        )


_model_id = functools.lru_cache(maxsize=4096)(model_id)
"""`model_id`, remembered: a UUID 5 (a SHA-1 and a normalisation) costs a command about 10 µs,
twice (docs/performance.md)."""


@dataclass(frozen=True)
class _NoNotification:
    id: int | None = None


@dataclass(frozen=True)
class _FoundStored:
    """A save's events found already stored (`Ledger._save`): its notification id is unknown."""

    domain_event: Any
    notification: _NoNotification = _NoNotification()


def event_type_name(topic: str) -> str:
    """The event class a stored topic names (the topic itself if it is not in the catalogue)."""
    event_class = EVENT_BY_TOPIC.get(topic)
    return event_class.__name__ if event_class is not None else topic


EVENT_BY_TOPIC = {
    event_class.TOPIC: event_class  # type: ignore[attr-defined]
    for event_class in event_classes()
}
"""The ledger's own event catalogue: the only event types a restored event may have."""

# Event fields the aggregate works out itself (they are checked by comparing the replay).
_DERIVED = {"originator_topic", "intact", "manifest_digest", "file_count", "total_bytes"}
# Where a command method names a fact differently from its event.
_ARGUMENT = {("WeightsPreserved", "manifest_digest"): "digest"}
_ENVELOPE = {"originator_id", "originator_version", "timestamp", *Justification.__annotations__}


def check_successor(
    model: ModelLifecycle, command: str, facts: dict[str, Any], registered: Callable[[str], bool]
) -> None:
    """A retirement's successor is a model registered in this ledger, or marked external.

    The aggregate sees only its own model, so this rule is the ledger's: a live command asks
    the store, a restore the models restored so far. ``successor_external`` is None only on a
    retirement recorded before the rule (upcast), which is not checked.
    """
    if command != "retire_model" or facts.get("successor_external") is not False:
        return
    successor = model.successor
    if successor is not None and not registered(successor):
        raise SuccessorNotRegistered(
            f"model {model.name!r} names {successor!r} as its successor, which is not "
            "registered in this ledger; register it first, or mark it successor_external",
            model=model.name,
            successor=successor,
        )


def _kept_apart(events: Sequence[Any], manifests: Sequence[Manifest] = ()) -> dict[str, Any]:
    """What the store writes beside a save's events, in its transaction: the openings of their
    sealed values, the subjects whose keys an erasure destroys (with its event, or not), and
    the manifests their ``WeightsPreserved`` events name (`domain.manifests`)."""
    kept: dict[str, Any] = {}
    if named := manifests_named(events, manifests):
        kept["manifests"] = named
    if sealed := _sealed_values(events):
        kept["sealed"] = sealed
    if erased := [e.subject for e in events if isinstance(e, ModelLifecycle.SubjectErased)]:
        kept["erase"] = erased
    return kept


def _sealed_values(events: Iterable[Any]) -> list[Sealed]:
    """The sealed values of new events that carry their opening: to store with the events."""
    # Most fields are plain values: test their type here before walking them (an import
    # batch looks at every field of thousands of events).
    atomic = HOLDS_NOTHING
    return [
        value
        for event in events
        for field in vars(event).values()
        if type(field) not in atomic
        for value in sealed_in(field)
        if value.opening is not None
    ]


def restored_event(
    mapper: Any,
    stored: StoredEvent,
    models: dict[UUID, ModelLifecycle],
    manifests: RestoredManifests | None = None,
) -> ModelLifecycle.Event:
    """Replay one exported event through the authority table and the aggregate's rules.

    The event type comes from the ledger's own catalogue (a topic naming anything else is
    refused before it is decoded, so a bundle never makes the ledger import a module). The
    actor's role is checked against the authority table for the command that records this
    event; the command method runs on the model as replayed so far, at the event's recorded
    moment; and what it records must equal the stored event, field for field.
    """
    event_class = EVENT_BY_TOPIC.get(stored.topic)
    if event_class is None:
        raise CommandRejected(f"unknown event type {stored.topic!r}: not in the catalogue")
    event: ModelLifecycle.Event = mapper.to_domain_event(stored)
    command = COMMAND_OF_EVENT[event_class.__name__]
    require_role(command, event.actor)
    if event.disclosure not in POLICY_VERSIONS:
        raise CommandRejected(
            f"the stored {event_class.__name__} (version {event.originator_version}) names "
            f"disclosure policy {event.disclosure!r}, which this ledger does not know"
        )
    decided = Justification(
        actor=event.actor,
        rationale=event.rationale,
        evidence=event.evidence,
        effective_at=event.effective_at,
        recorded_at=event.timestamp,
        disclosure=event.disclosure,
    )
    facts = {
        _ARGUMENT.get((event_class.__name__, name), name): value
        for name, value in vars(event).items()
        if name not in _ENVELOPE
        and (name not in _DERIVED or (event_class.__name__, name) in _ARGUMENT)
    }
    if isinstance(event, ModelLifecycle.WeightsPreserved):
        # The command method takes the files; the event names them by digest.
        facts["files"] = (manifests or RestoredManifests({})).files_for(stored, event)
    identifier = event.originator_id
    if isinstance(event, ModelLifecycle.ModelRegistered):
        if identifier in models:
            raise ModelAlreadyRegistered(
                f"a model named {event.name!r} is registered twice", model=event.name
            )
        if identifier != model_id(event.name):
            raise CommandRejected(f"the model id of {event.name!r} is not the id of its name")
        model = ModelLifecycle.register(identifier, decided, **facts)
        models[identifier] = model
    else:
        if identifier not in models:
            raise ModelNotFound(str(identifier))
        model = models[identifier]
        check_successor(model, command, facts, lambda other: model_id(other) in models)
        decide(model, command, decided, facts)
    replayed = model.collect_events()[-1]
    # A stored list decodes as a list, a recorded one is a tuple: the same value.
    differing = [
        name
        for name, value in vars(event).items()
        if _as_lists(vars(replayed).get(name)) != _as_lists(value)
    ]
    if type(replayed) is not type(event) or differing:
        raise CommandRejected(
            f"the stored {event_class.__name__} (version {event.originator_version}) is not "
            f"what its command records: {', '.join(differing) or 'its type'} differ"
        )
    return event


def _as_lists(value: Any) -> Any:
    """A field's value with its tuples as lists, as its stored JSON decodes."""
    if isinstance(value, tuple | list):
        return [_as_lists(item) for item in value]
    return value


def _batches(events: Iterable[StoredEvent], size: int) -> Iterator[list[StoredEvent]]:
    batch: list[StoredEvent] = []
    for event in events:
        batch.append(event)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class _BatchLedger(Ledger):
    """Runs the ledger's command methods on models held in memory, for one import batch.

    It reuses every command method of `Ledger` (so an import checks exactly the same rules)
    but loads from, and saves to, the batch's dict; the real ledger then saves the batch in
    one transaction.
    """

    def __init__(
        self,
        ledger: Ledger,
        models: dict[str, ModelLifecycle],
        held: dict[str, ModelLifecycle],
    ) -> None:
        # Deliberately not calling Application.__init__: this object opens no store.
        self._ledger = ledger
        self._models = models
        self._held = held

    def save(self, *objs: Any, **kwargs: Any) -> list[Any]:  # noqa: ARG002 (library signature)
        """Keep new and changed models in the batch instead of writing them."""
        for model in objs:
            if isinstance(model, ModelLifecycle):
                if model.version == 1 and model.name in self._models:
                    raise ModelAlreadyRegistered(
                        f"a model named {model.name!r} is registered twice in this import",
                        model=model.name,
                    )
                self._models[model.name] = model
        return []

    def _save(
        self,
        model: ModelLifecycle,
        request: RequestKey | None,  # noqa: ARG002
        manifests: Sequence[Manifest] = (),  # noqa: ARG002 (the batch saves them: _import_batch)
    ) -> list[Any]:
        # Keep the model with its pending events: the batch checks and saves them together.
        return self.save(model)

    def _pseudonym_key(self) -> bytes:
        return self._ledger._pseudonym_key()  # noqa: SLF001 (the batch's own ledger)

    def _load(self, name: str) -> ModelLifecycle:
        if name not in self._models:
            held = self._held.get(name)
            # A held model is this import's own, already saved. If the batch fails, the
            # import stops (a refused command) or forgets every held model (a conflict), so
            # the batch may work on it directly.
            self._models[name] = held if held is not None else self._ledger._load(name)
        return self._models[name]

    def _change(
        self,
        command: cmd.Command,
        expected_version: int | None,  # noqa: ARG002 (an import applies in order, unpinned)
        act: Callable[[ModelLifecycle], None],
        request: RequestKey | None = None,  # noqa: ARG002 (an import has no request keys)
    ) -> Recorded:
        model = self._load(command.model)
        act(model)
        return self._recorded(command.model, model, [])
