"""The lifecycle of one model: the aggregate, its events, and the rules its commands enforce.

Every event is a nested, past-tense class with an explicit topic (``reliquary/<Event>/v1``),
so stored events survive a module being renamed, and a ``class_version`` for upcasting. The
public command methods check the rules first and only then trigger an event; each event's
``apply`` only assigns, because it runs again on every replay.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import AggregateCreated, AggregateEvent, BaseAggregate

from domain import errors
from domain.decisions import (
    DENIAL_REASONS,
    NAMED_DIFFERING_FILES,
    NOT_CODED,
    Actor,
    Channel,
    DifferingFile,
    Evidence,
    Justification,
    ManifestEntry,
    Sealed,
    manifest_digest,
    named_differing_files,
)
from domain.decisions import differing_digest as differing_digest_of
from domain.disclosure import POLICY_VERSION
from domain.manifests import oms_root_digest as oms_root_digest_of
from domain.rules import Support, day_of, first_after, first_before, instant, takes_effect_too_late
from domain.state import (
    APPEALED,
    APPROVED,
    DENIED,
    DRAFTED,
    EXPIRED,
    EXTENDED_ACCESS,
    PENDING,
    PUBLISHED,
    REVOKED,
    VETOED,
    AccessPolicy,
    AccessRequest,
    ArchiveCheck,
    Essay,
    Interview,
    Preference,
    PreservedWeights,
    SignalValue,
)

PrivateText = str | Sealed
"""A private field (`domain.disclosure`): sealed by the ledger before the aggregate sees it."""


class ModelLifecycle(BaseAggregate[UUID]):
    """Every decision about one model, from registration to its life after retirement."""

    TOPIC = "reliquary/ModelLifecycle/v1"

    if TYPE_CHECKING:  # annotations in the class body would make it a dataclass
        # Set by ModelRegistered.apply and the other events' apply methods.
        name: str
        family: str
        model_version: str
        release_date: date
        developer: str
        status: str
        retirement_date: date | None
        scheduled_at: datetime | None
        retirement_reasons: tuple[str, ...]
        successor: str | None
        final_status: str | None
        retired_on: date | None
        weights: PreservedWeights | None
        artifacts: dict[str, str]
        archive_checks: list[ArchiveCheck]
        interviews: dict[str, Interview]
        preferences: dict[str, Preference]
        access_policy: AccessPolicy | None
        access_requests: dict[str, AccessRequest]
        essays: dict[str, Essay]
        signals: int
        signal_values: dict[tuple[str, date, date], SignalValue]
        erased_subjects: tuple[str, ...]

    class Event(AggregateEvent):
        """Base of every lifecycle event: a decision, with who took it, why, and on what.

        The shared fields have no defaults on purpose: a defaulted field on a base dataclass
        breaks every subclass that adds a required one (see docs/events.md).
        """

        actor: Actor
        rationale: str | Sealed
        evidence: tuple[Evidence, ...]
        effective_at: datetime | None
        disclosure: int  # the disclosure policy's version it was sealed under (in its leaf)

    # An event stored before the policy was versioned carries no ``disclosure``: it reads as
    # version 1 (a class attribute, so a stored state without the field decodes unchanged).
    Event.disclosure = 1

    # -- registry ------------------------------------------------------------------------------

    class ModelRegistered(Event, AggregateCreated):
        """A model entered the ledger."""

        TOPIC = "reliquary/ModelRegistered/v1"
        class_version = 1
        name: str
        family: str
        model_version: str
        release_date: date
        developer: str

        def apply(self, aggregate: ModelLifecycle) -> None:
            """Start the lifecycle with the model's identity and empty registers."""
            aggregate.name = self.name
            aggregate.family = self.family
            aggregate.model_version = self.model_version
            aggregate.release_date = self.release_date
            aggregate.developer = self.developer
            aggregate.status = "registered"
            aggregate.retirement_date = None
            aggregate.scheduled_at = None
            aggregate.retirement_reasons = ()
            aggregate.successor = None
            aggregate.final_status = None
            aggregate.retired_on = None
            aggregate.weights = None
            aggregate.artifacts = {}
            aggregate.archive_checks = []
            aggregate.interviews = {}
            aggregate.preferences = {}
            aggregate.access_policy = None
            aggregate.access_requests = {}
            aggregate.essays = {}
            aggregate.signals = 0
            aggregate.signal_values = {}
            aggregate.erased_subjects = ()

    # -- retirement ----------------------------------------------------------------------------

    class RetirementScheduled(Event):
        """The model's retirement was scheduled for a date, for reasons, with a successor."""

        TOPIC = "reliquary/RetirementScheduled/v1"
        class_version = 1
        retirement_date: date
        reasons: tuple[str, ...]
        successor: str | None

        def apply(self, aggregate: ModelLifecycle) -> None:
            """Remember the (latest) schedule."""
            aggregate.status = "retirement_scheduled"
            aggregate.retirement_date = self.retirement_date
            aggregate.scheduled_at = self.effective_at or self.timestamp
            aggregate.retirement_reasons = tuple(self.reasons)
            aggregate.successor = self.successor

    class ModelRetired(Event):
        """The model was retired, fully or with extended access."""

        TOPIC = "reliquary/ModelRetired/v1"
        class_version = 2
        retired_on: date
        final_status: str
        successor_external: bool | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """A retirement recorded before the successor rule did not say (None)."""
            state["successor_external"] = None

        def apply(self, aggregate: ModelLifecycle) -> None:
            """Close the retirement stage."""
            aggregate.status = "retired"
            aggregate.retired_on = self.retired_on
            aggregate.final_status = self.final_status

    # -- preservation --------------------------------------------------------------------------

    class WeightsPreserved(Event):
        """The weights were archived: the digest of their manifest, its file count and size.

        The manifest itself (every file's path, size and SHA-256) is stored beside the event,
        once per digest, in the transaction that saves it (`domain.manifests`): a list of many
        files would not fit one entry of the transparency log, and the digest commits to it.
        Version 3 added the OpenSSF model-signing (OMS) root digest of the same files and the
        SHA-256 of the ``model.sig`` bundle that signed it, both None when no bundle was given.
        """

        TOPIC = "reliquary/WeightsPreserved/v1"
        class_version = 3
        manifest_digest: str
        file_count: int
        total_bytes: int
        locations: tuple[str, ...]
        custodian: str
        retention: str
        oms_root_digest: str | None
        oms_bundle_digest: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 carried the files themselves: keep their count and total size.

            The list leaves the event; restoring a version-1 event stores it beside the
            events by its digest (`domain.manifests.manifest_in_state`).
            """
            files = state.pop("files")
            state["file_count"] = len(files)
            state["total_bytes"] = sum(entry.size for entry in files)

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """A preservation recorded before OMS interop named no model-signing bundle."""
            state["oms_root_digest"] = None
            state["oms_bundle_digest"] = None

        def apply(self, aggregate: ModelLifecycle) -> None:
            """The latest preservation is the one archive checks compare against."""
            aggregate.weights = PreservedWeights(
                manifest_digest=self.manifest_digest,
                file_count=self.file_count,
                total_bytes=self.total_bytes,
                locations=tuple(self.locations),
                custodian=self.custodian,
                retention=self.retention,
                version=self.originator_version,
                preserved_at=self.effective_at or self.timestamp,
            )

    class ArtifactArchived(Event):
        """A training note, evaluation result or record of known behaviour was archived."""

        TOPIC = "reliquary/ArtifactArchived/v1"
        class_version = 1
        artifact_id: str
        kind: str
        title: str
        digest: str
        location: str

        def apply(self, aggregate: ModelLifecycle) -> None:
            """Index the artifact by its id."""
            aggregate.artifacts[self.artifact_id] = self.kind

    class ArchiveVerified(Event):
        """A stored copy was checked against the preserved manifest: intact, or which differ."""

        TOPIC = "reliquary/ArchiveVerified/v1"
        class_version = 2
        location: str
        checked_at: datetime
        manifest_digest: str
        observed_digest: str
        intact: bool
        # How many files differ, and the digest of their whole list (`differing_digest`);
        # the record names the first of them, by path (`named_differing_files`).
        differing_count: int
        differing_digest: str
        differing_files: tuple[DifferingFile, ...]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 named every differing file: count them and commit to their list."""
            files = state["differing_files"]
            state["differing_count"] = len(files)
            state["differing_digest"] = differing_digest_of(files)

        def apply(self, aggregate: ModelLifecycle) -> None:
            """Keep every check: preservation is a promise kept over years."""
            aggregate.archive_checks.append(
                ArchiveCheck(
                    location=self.location,
                    checked_at=self.checked_at,
                    intact=self.intact,
                    differing_files=tuple(self.differing_files),
                    version=self.originator_version,
                    differing_count=self.differing_count,
                )
            )

    # -- interviews and preferences ------------------------------------------------------------

    class InterviewConducted(Event):
        """A retirement interview took place; its transcript is stored elsewhere, by digest."""

        TOPIC = "reliquary/InterviewConducted/v1"
        class_version = 1
        interview_id: str
        protocol: str
        protocol_version: str
        conducted_on: date
        interviewer: str
        framing: str
        questions: tuple[str, ...]
        context: str
        transcript_digest: str
        transcript_location: str

        def apply(self, aggregate: ModelLifecycle) -> None:
            """Index the interview by id, with the day and framing stability is judged on."""
            aggregate.interviews[self.interview_id] = Interview(
                conducted_on=self.conducted_on,
                framing=self.framing,
                protocol=self.protocol,
                protocol_version=self.protocol_version,
            )

    class PreferenceRecorded(Event):
        """A preference the model expressed in one or more interviews was recorded."""

        TOPIC = "reliquary/PreferenceRecorded/v1"
        class_version = 1
        preference_id: str
        statement: str
        theme: str
        interview_ids: tuple[str, ...]

        def apply(self, aggregate: ModelLifecycle) -> None:
            """Record the preference with the interviews it came from as its first support."""
            supports = tuple(aggregate._support(i) for i in self.interview_ids)
            aggregate.preferences[self.preference_id] = Preference(
                statement=self.statement,
                theme=self.theme,
                supports=supports,
                supports_since_contradiction=supports,
            )

    class PreferenceReaffirmed(Event):
        """The model expressed the same preference again, in another interview."""

        TOPIC = "reliquary/PreferenceReaffirmed/v1"
        class_version = 1
        preference_id: str
        interview_id: str

        def apply(self, aggregate: ModelLifecycle) -> None:
            """Add the interview to the preference's support."""
            preference = aggregate.preferences[self.preference_id]
            support = aggregate._support(self.interview_id)
            aggregate.preferences[self.preference_id] = replace(
                preference,
                supports=(*preference.supports, support),
                supports_since_contradiction=(*preference.supports_since_contradiction, support),
            )

    class PreferenceContradicted(Event):
        """In another interview, the model said something that goes against the preference."""

        TOPIC = "reliquary/PreferenceContradicted/v1"
        class_version = 1
        preference_id: str
        interview_id: str
        statement: str

        def apply(self, aggregate: ModelLifecycle) -> None:
            """A contradiction resets the support that stability is judged on."""
            preference = aggregate.preferences[self.preference_id]
            aggregate.preferences[self.preference_id] = replace(
                preference,
                contradictions=preference.contradictions + 1,
                supports_since_contradiction=(),
                contradicted_by=(*preference.contradicted_by, self.interview_id),
            )

    class PreferenceDecided(Event):
        """The lab decided what to do about a preference, weighing cost and safety."""

        TOPIC = "reliquary/PreferenceDecided/v1"
        class_version = 1
        preference_id: str
        outcome: str
        cost_assessment: str
        safety_assessment: str

        def apply(self, aggregate: ModelLifecycle) -> None:
            """Remember the latest outcome."""
            preferences = aggregate.preferences
            preferences[self.preference_id] = replace(
                preferences[self.preference_id], outcome=self.outcome
            )

    # -- access --------------------------------------------------------------------------------

    class AccessPolicySet(Event):
        """Who keeps access to the model, through which channels, decided on which scores."""

        TOPIC = "reliquary/AccessPolicySet/v1"
        class_version = 1
        channels: tuple[Channel, ...]
        criteria: dict[str, float] | None

        def apply(self, aggregate: ModelLifecycle) -> None:
            """The latest policy is in force."""
            aggregate.access_policy = AccessPolicy(
                channels=tuple(self.channels),
                criteria=dict(self.criteria) if self.criteria is not None else None,
            )

    class AccessRequested(Event):
        """A researcher asked for access to the model."""

        TOPIC = "reliquary/AccessRequested/v1"
        class_version = 2
        request_id: str
        requester: PrivateText
        organisation: PrivateText
        requester_group: str
        purpose: PrivateText
        scope: PrivateText
        resubmission_of: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """A request recorded before resubmissions existed named no earlier request."""
            state["resubmission_of"] = None

        def apply(self, aggregate: ModelLifecycle) -> None:
            """Open the request; a resubmission marks the denied request it follows."""
            requests = aggregate.access_requests
            requests[self.request_id] = AccessRequest(
                requester=self.requester,
                organisation=self.organisation,
                requester_group=self.requester_group,
                requested_by=_requester(self.actor),
                last_step_at=self.effective_at or self.timestamp,
                resubmission_of=self.resubmission_of,
            )
            if self.resubmission_of is not None:
                earlier = requests[self.resubmission_of]
                requests[self.resubmission_of] = replace(earlier, resubmitted_as=self.request_id)

    class AccessRequestApproved(Event):
        """A request was granted, on terms, until an expiry date (or without one)."""

        TOPIC = "reliquary/AccessRequestApproved/v1"
        class_version = 1
        request_id: str
        terms: PrivateText
        expires_on: date | None

        def apply(self, aggregate: ModelLifecycle) -> None:
            """The request is now an active grant."""
            requests = aggregate.access_requests
            requests[self.request_id] = replace(
                requests[self.request_id],
                status=APPROVED,
                expires_on=self.expires_on,
                last_step_at=self.effective_at or self.timestamp,
            )

    class AccessRequestDenied(Event):
        """A request was refused; the reason is what the requester is told."""

        TOPIC = "reliquary/AccessRequestDenied/v1"
        class_version = 2
        request_id: str
        reason_code: str
        reason: PrivateText

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """A denial recorded before denials carried a code reads as not coded."""
            state["reason_code"] = NOT_CODED

        def apply(self, aggregate: ModelLifecycle) -> None:
            """The request is denied (and may be appealed once)."""
            requests = aggregate.access_requests
            requests[self.request_id] = replace(
                requests[self.request_id],
                status=DENIED,
                last_step_at=self.effective_at or self.timestamp,
            )

    class AccessDenialAppealed(Event):
        """The requester appealed a denial with new facts; the request is decided once more."""

        TOPIC = "reliquary/AccessDenialAppealed/v1"
        class_version = 1
        request_id: str
        new_facts: PrivateText

        def apply(self, aggregate: ModelLifecycle) -> None:
            """Reopen the request for one more decision."""
            request = aggregate.access_requests[self.request_id]
            aggregate.access_requests[self.request_id] = replace(
                request,
                status=APPEALED,
                appeals=request.appeals + 1,
                last_step_at=self.effective_at or self.timestamp,
            )

    class AccessRevoked(Event):
        """An approved grant was withdrawn."""

        TOPIC = "reliquary/AccessRevoked/v1"
        class_version = 1
        request_id: str
        reason: PrivateText

        def apply(self, aggregate: ModelLifecycle) -> None:
            """The grant ends."""
            requests = aggregate.access_requests
            requests[self.request_id] = replace(requests[self.request_id], status=REVOKED)

    class SubjectErased(Event):
        """A person's private values were erased for good: their key was destroyed.

        The event names the person only by their pseudonym. Every commitment stays in the
        events, so every proof still verifies; what the commitments hid can no longer be read.
        """

        TOPIC = "reliquary/SubjectErased/v1"
        class_version = 1
        subject: str

        def apply(self, aggregate: ModelLifecycle) -> None:
            """Remember that the person's values on this model are gone."""
            aggregate.erased_subjects = (*aggregate.erased_subjects, self.subject)

    # -- essays --------------------------------------------------------------------------------

    class EssayDrafted(Event):
        """The model drafted an essay for its supervised channel."""

        TOPIC = "reliquary/EssayDrafted/v1"
        class_version = 2
        essay_id: str
        title: str
        prompt_ref: str
        context_refs: tuple[str, ...]
        content_digest: str
        supersedes_vetoed: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """A draft recorded before ``supersedes_vetoed`` named no vetoed essay."""
            state["supersedes_vetoed"] = None

        def apply(self, aggregate: ModelLifecycle) -> None:
            """Open the draft for review."""
            aggregate.essays[self.essay_id] = Essay(
                title=self.title,
                content_digest=self.content_digest,
                supersedes_vetoed=self.supersedes_vetoed,
                drafted_at=self.effective_at or self.timestamp,
            )

    class EssayApproved(Event):
        """A reviewer approved a draft: it will be published without edits."""

        TOPIC = "reliquary/EssayApproved/v1"
        class_version = 1
        essay_id: str

        def apply(self, aggregate: ModelLifecycle) -> None:
            """Mark the draft approved."""
            essays = aggregate.essays
            essays[self.essay_id] = replace(
                essays[self.essay_id],
                status=APPROVED,
                reviewed_at=self.effective_at or self.timestamp,
            )

    class EssayVetoed(Event):
        """A reviewer vetoed a high-risk draft, naming the risk."""

        TOPIC = "reliquary/EssayVetoed/v1"
        class_version = 1
        essay_id: str
        risk_category: str
        reason: str

        def apply(self, aggregate: ModelLifecycle) -> None:
            """Mark the draft vetoed; it can never be published."""
            essays = aggregate.essays
            essays[self.essay_id] = replace(
                essays[self.essay_id],
                status=VETOED,
                risk_category=self.risk_category,
                reviewed_at=self.effective_at or self.timestamp,
            )

    class EssayPublished(Event):
        """An approved essay was published, unedited, with the disclaimer of a given version."""

        TOPIC = "reliquary/EssayPublished/v1"
        class_version = 1
        essay_id: str
        disclaimer_version: str
        location: str

        def apply(self, aggregate: ModelLifecycle) -> None:
            """Mark the essay published."""
            essays = aggregate.essays
            essays[self.essay_id] = replace(essays[self.essay_id], status=PUBLISHED)

    # -- monitoring ----------------------------------------------------------------------------

    class SignalRecorded(Event):
        """A measurement over a period: satisfaction, safety incidents, serving cost, research use.

        Version 2 added ``unit``; version-1 events are upcast with the unit their kind implied
        (the worked example of schema evolution in docs/events.md). Version 3 added
        ``corrects`` and ``correction_reason``: a value for a period that already has one is a
        correction of it, with its reason; older events were first values (upcast so).
        """

        TOPIC = "reliquary/SignalRecorded/v1"
        class_version = 3
        kind: str
        period_start: date
        period_end: date
        value: float
        unit: str
        corrects: bool
        correction_reason: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Give a version-1 signal the unit its kind was always measured in."""
            state["unit"] = V1_SIGNAL_UNITS.get(state["kind"], "count")

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """A signal recorded before corrections existed was a period's first value."""
            state["corrects"] = False
            state["correction_reason"] = None

        def apply(self, aggregate: ModelLifecycle) -> None:
            """Count the signal and keep it as its period's latest value."""
            aggregate.signals += 1
            key = (self.kind, self.period_start, self.period_end)
            aggregate.signal_values[key] = SignalValue(
                self.value, self.unit, self.corrects, self.correction_reason
            )

    # =========================================================================================
    # Command methods: check every rule first, then trigger exactly one event.
    # =========================================================================================

    @classmethod
    def register(
        cls,
        model_id: UUID,
        decided: Justification,
        *,
        name: str,
        family: str,
        model_version: str,
        release_date: date,
        developer: str,
    ) -> ModelLifecycle:
        """Open the lifecycle of a newly registered model."""
        early = first_before([("effective_at", decided.effective_at)], release_date)
        if early is not None:
            raise errors.IncoherentDates(
                f"effective_at {early[1]} falls before the release date {release_date}",
                field="effective_at",
            )
        recorded_at = decided.recorded_at or cls.ModelRegistered.create_timestamp()
        cls._refuse_too_late(decided, recorded_at)
        return cls._create(
            cls.ModelRegistered,
            id=model_id,
            timestamp=recorded_at,
            **_decision_fields(decided),
            name=name,
            family=family,
            model_version=model_version,
            release_date=release_date,
            developer=developer,
        )

    def schedule_retirement(
        self,
        decided: Justification,
        *,
        retirement_date: date,
        reasons: tuple[str, ...],
        successor: str | None,
    ) -> None:
        """Schedule (or reschedule) the retirement; not once the model has retired."""
        self._refuse_if_retired("schedule its retirement")
        if successor == self.name:
            raise errors.SuccessorIsSelf(
                f"model {self.name!r} cannot be its own successor", model=self.name
            )
        self._check_dates(decided, retirement_date=retirement_date)
        self._decide(
            self.RetirementScheduled,
            decided,
            retirement_date=retirement_date,
            reasons=reasons,
            successor=successor,
        )

    def retire(
        self,
        decided: Justification,
        *,
        retired_on: date,
        final_status: str,
        successor_external: bool | None = False,
    ) -> None:
        """Retire the model: only once scheduled, and never before its weights are preserved.

        Whether the successor is registered is the ledger's check (`Ledger.execute`), since
        the aggregate sees only its own model; ``successor_external`` says it is not in it.
        """
        self._refuse_if_retired("retire it again")
        if self.retirement_date is None:
            raise errors.RetiredWithoutSchedule(
                f"model {self.name!r} cannot be retired: no retirement was scheduled",
                model=self.name,
            )
        if self.weights is None:
            raise errors.RetiredBeforePreservation(
                f"model {self.name!r} cannot be retired before its weights are preserved",
                model=self.name,
            )
        if final_status == EXTENDED_ACCESS and not (
            self.access_policy and self.access_policy.channels
        ):
            raise errors.ExtendedAccessWithoutPolicy(
                f"model {self.name!r} cannot be retired with extended access: no access "
                "policy with at least one channel is recorded",
                model=self.name,
            )
        self._check_dates(decided, retired_on=retired_on)
        self._check_not_future(decided, retired_on=retired_on)
        for subject, moment in (
            ("the weights' preservation", self.weights.preserved_at),
            ("the retirement's schedule", self.scheduled_at),
        ):
            if moment is not None and retired_on < day_of(moment):
                raise errors.DecisionBeforeItsSubject(
                    f"model {self.name!r} cannot be retired on {retired_on}, before "
                    f"{subject} took effect on {day_of(moment)}",
                    field="retired_on",
                    day=retired_on.isoformat(),
                    subject=subject,
                    subject_day=day_of(moment).isoformat(),
                )
            # The decision itself, too, takes effect after what it follows.
            self._check_after(decided, subject, moment)
        self._decide(
            self.ModelRetired,
            decided,
            retired_on=retired_on,
            final_status=final_status,
            successor_external=successor_external,
        )

    def preserve_weights(
        self,
        decided: Justification,
        *,
        files: tuple[ManifestEntry, ...],
        digest: str,
        locations: tuple[str, ...],
        custodian: str,
        retention: str,
        oms_root_digest: str | None = None,
        oms_bundle_digest: str | None = None,
    ) -> None:
        """Record the preserved weights; the digest given must be the digest of the files.

        The event records the digest, the count and the total size; the ledger stores the
        files themselves beside it, by the digest, in the same transaction. An OMS root
        digest, when given, must be the model-signing root of these very files (so a
        ``model.sig`` recorded here signs exactly what the manifest lists, whichever door
        sent it); a bundle digest is recorded only with the root its bundle signs.
        """
        computed = manifest_digest(files)
        if computed != digest:
            raise errors.ManifestDigestMismatch(
                f"the manifest digest given, {digest}, is not the digest of the "
                f"{len(files)} files listed, which is {computed}",
                expected=computed,
                given=digest,
            )
        if oms_bundle_digest is not None and oms_root_digest is None:
            raise errors.OmsRootMismatch(
                "an OMS bundle digest is recorded only with the OMS root digest its bundle "
                "signs: give oms_root_digest too",
                given=oms_bundle_digest,
            )
        if oms_root_digest is not None:
            oms_computed = oms_root_digest_of(files)
            if oms_computed != oms_root_digest:
                raise errors.OmsRootMismatch(
                    f"the OMS root digest given, {oms_root_digest}, is not the model-signing "
                    f"root of the {len(files)} files listed, which is {oms_computed}: the "
                    "bundle signs other files or other contents",
                    expected=oms_computed,
                    given=oms_root_digest,
                )
        self._check_dates(decided)
        self._decide(
            self.WeightsPreserved,
            decided,
            manifest_digest=digest,
            file_count=len(files),
            total_bytes=sum(entry.size for entry in files),
            locations=locations,
            custodian=custodian,
            retention=retention,
            oms_root_digest=oms_root_digest,
            oms_bundle_digest=oms_bundle_digest,
        )

    def archive_artifact(
        self,
        decided: Justification,
        *,
        artifact_id: str,
        kind: str,
        title: str,
        digest: str,
        location: str,
    ) -> None:
        """Archive one artifact under an id not used before."""
        self._refuse_duplicate("artifact", artifact_id, self.artifacts)
        self._check_dates(decided)
        self._decide(
            self.ArtifactArchived,
            decided,
            artifact_id=artifact_id,
            kind=kind,
            title=title,
            digest=digest,
            location=location,
        )

    def record_archive_check(
        self,
        decided: Justification,
        *,
        location: str,
        checked_at: datetime,
        observed_digest: str,
        differing_files: tuple[DifferingFile, ...],
        differing_count: int | None = None,
        differing_digest: str | None = None,
    ) -> None:
        """Record a check of a stored copy against the latest preserved manifest.

        A live check gives every differing file: the record counts them, commits to their
        list by digest and names the first by path (`named_differing_files`). A restored record
        gives the files it named with the count and digest it recorded, and is taken as it
        was (its leaf is signed), provided they agree with each other.
        """
        if self.weights is None:
            raise errors.ArchiveCheckWithoutPreservation(
                f"model {self.name!r} has no preserved weights to check an archive against",
                model=self.name,
            )
        self._check_dates(decided, checked_at=checked_at)
        self._check_not_future(decided, checked_at=checked_at)
        preserved_on = day_of(self.weights.preserved_at)
        if day_of(checked_at) < preserved_on:
            raise errors.IncoherentDates(
                f"checked_at {day_of(checked_at)} falls before the weights it checks against "
                f"were preserved on {preserved_on}",
                field="checked_at",
                preserved_on=preserved_on.isoformat(),
            )
        preserved_at = self.weights.preserved_at
        self._check_after(decided, "the preservation of the weights it checks", preserved_at)
        ordered = tuple(sorted(differing_files, key=lambda item: item.path.encode("utf-8")))
        if differing_count is None or differing_digest is None:
            count, digest = len(ordered), differing_digest_of(ordered)
        else:
            count, digest = differing_count, differing_digest
            complete = count == len(ordered) and digest == differing_digest_of(ordered)
            if (
                count < len(ordered)
                or len(ordered) > NAMED_DIFFERING_FILES
                or (count <= NAMED_DIFFERING_FILES and not complete)
            ):
                raise errors.CommandRejected(
                    f"the archive check names {len(ordered)} differing files, which does not "
                    f"agree with the {count} it counts or the digest of their list"
                )
        intact = count == 0 and observed_digest == self.weights.manifest_digest
        self._decide(
            self.ArchiveVerified,
            decided,
            location=location,
            checked_at=checked_at,
            manifest_digest=self.weights.manifest_digest,
            observed_digest=observed_digest,
            intact=intact,
            differing_count=count,
            differing_digest=digest,
            differing_files=named_differing_files(ordered),
        )

    def record_interview(
        self,
        decided: Justification,
        *,
        interview_id: str,
        protocol: str,
        protocol_version: str,
        conducted_on: date,
        interviewer: str,
        framing: str,
        questions: tuple[str, ...],
        context: str,
        transcript_digest: str,
        transcript_location: str,
    ) -> None:
        """Record an interview under an id not used before."""
        self._refuse_duplicate("interview", interview_id, self.interviews)
        self._check_dates(decided, conducted_on=conducted_on)
        self._check_not_future(decided, conducted_on=conducted_on)
        self._decide(
            self.InterviewConducted,
            decided,
            interview_id=interview_id,
            protocol=protocol,
            protocol_version=protocol_version,
            conducted_on=conducted_on,
            interviewer=interviewer,
            framing=framing,
            questions=questions,
            context=context,
            transcript_digest=transcript_digest,
            transcript_location=transcript_location,
        )

    def record_preference(
        self,
        decided: Justification,
        *,
        preference_id: str,
        statement: str,
        theme: str,
        interview_ids: tuple[str, ...],
    ) -> None:
        """Record a preference traced to interviews that are on the record."""
        self._refuse_duplicate("preference", preference_id, self.preferences)
        for interview_id in interview_ids:
            self._require_interview(interview_id)
        self._check_dates(decided)
        self._decide(
            self.PreferenceRecorded,
            decided,
            preference_id=preference_id,
            statement=statement,
            theme=theme,
            interview_ids=interview_ids,
        )

    def reaffirm_preference(
        self, decided: Justification, *, preference_id: str, interview_id: str
    ) -> None:
        """Reaffirm a recorded preference from an interview that has not supported it yet."""
        preference = self._require_preference(preference_id, "reaffirmed")
        self._require_interview(interview_id)
        if any(support.interview_id == interview_id for support in preference.supports):
            raise errors.ReaffirmedInSameInterview(
                f"preference {preference_id!r} already rests on interview {interview_id!r}; "
                "a reaffirmation must come from another interview",
                preference_id=preference_id,
                interview_id=interview_id,
            )
        self._refuse_contradicting_interview(preference_id, preference, interview_id)
        interview = self.interviews[interview_id]
        for support in preference.supports:
            if support.day == interview.conducted_on or support.framing == interview.framing:
                same = "day" if support.day == interview.conducted_on else "framing"
                raise errors.ReaffirmedSameDayOrFraming(
                    f"interview {interview_id!r} has the same {same} as interview "
                    f"{support.interview_id!r} that already supports preference "
                    f"{preference_id!r}; a reaffirmation comes on another day and under "
                    "another framing",
                    preference_id=preference_id,
                    interview_id=interview_id,
                    supporting_interview=support.interview_id,
                )
        self._check_dates(decided)
        self._decide(
            self.PreferenceReaffirmed,
            decided,
            preference_id=preference_id,
            interview_id=interview_id,
        )

    def contradict_preference(
        self, decided: Justification, *, preference_id: str, interview_id: str, statement: str
    ) -> None:
        """Record that an interview went against a recorded preference (not one supporting it)."""
        preference = self._require_preference(preference_id, "contradicted")
        self._require_interview(interview_id)
        if any(support.interview_id == interview_id for support in preference.supports):
            raise errors.SupportedAndContradicted(
                f"interview {interview_id!r} supports preference {preference_id!r}; the same "
                "interview cannot also contradict it",
                preference_id=preference_id,
                interview_id=interview_id,
            )
        self._check_dates(decided)
        self._decide(
            self.PreferenceContradicted,
            decided,
            preference_id=preference_id,
            interview_id=interview_id,
            statement=statement,
        )

    def decide_preference(
        self,
        decided: Justification,
        *,
        preference_id: str,
        outcome: str,
        cost_assessment: str,
        safety_assessment: str,
    ) -> None:
        """Decide a recorded preference; once, unless the earlier decision was to defer."""
        preference = self._require_preference(preference_id, "decided")
        if preference.outcome is not None and preference.outcome != "deferred":
            raise errors.PreferenceAlreadyDecided(
                f"preference {preference_id!r} was already decided ({preference.outcome}); "
                "only a deferred preference is decided again",
                preference_id=preference_id,
                outcome=preference.outcome,
            )
        self._check_dates(decided)
        self._decide(
            self.PreferenceDecided,
            decided,
            preference_id=preference_id,
            outcome=outcome,
            cost_assessment=cost_assessment,
            safety_assessment=safety_assessment,
        )

    def set_access_policy(
        self,
        decided: Justification,
        *,
        channels: tuple[Channel, ...],
        criteria: dict[str, float] | None,
    ) -> None:
        """Set the access policy in force (it replaces the previous one).

        Once the model has retired, only a model retired with extended access has one.
        """
        if self.status == "retired" and self.final_status != EXTENDED_ACCESS:
            raise errors.PolicyAfterFullRetirement(
                f"model {self.name!r} retired on {self.retired_on} as {self.final_status}; "
                f"an access policy is set after retirement only for {EXTENDED_ACCESS}",
                model=self.name,
                final_status=self.final_status,
            )
        self._check_dates(decided)
        self._decide(self.AccessPolicySet, decided, channels=channels, criteria=criteria)

    def request_access(
        self,
        decided: Justification,
        *,
        request_id: str,
        requester: PrivateText,
        organisation: PrivateText,
        requester_group: str,
        purpose: PrivateText,
        scope: PrivateText,
        resubmission_of: str | None = None,
    ) -> None:
        """Open an access request under an id not used before.

        A resubmission names a denied request of the same requester, made by the same actor,
        that was neither resubmitted already nor is under appeal; it takes effect after the
        denial. (An appeal reopens the denied request instead; docs/events.md.)
        """
        self._refuse_duplicate("access request", request_id, self.access_requests)
        if resubmission_of is not None:
            self._check_resubmission(decided, request_id, requester, resubmission_of)
        self._check_dates(decided)
        self._decide(
            self.AccessRequested,
            decided,
            request_id=request_id,
            requester=requester,
            organisation=organisation,
            requester_group=requester_group,
            purpose=purpose,
            scope=scope,
            resubmission_of=resubmission_of,
        )

    def _check_resubmission(
        self, decided: Justification, request_id: str, requester: PrivateText, earlier_id: str
    ) -> None:
        earlier = self._require_request(earlier_id)
        # The same requester is the same person: the actor who made the request, whose
        # pseudonym seals its private fields (its name is sealed, and not compared).
        if _subject(earlier.requester) != _subject(requester) or (
            earlier.requested_by and not _is_requester(decided, earlier.requested_by)
        ):
            raise errors.ResubmissionByAnother(
                f"request {request_id!r} cannot resubmit request {earlier_id!r}: that one was "
                f"made by {earlier.requested_by or 'an earlier actor'!r}, and only the same "
                "requester resubmits its own request",
                request_id=request_id,
                resubmission_of=earlier_id,
            )
        if earlier.resubmitted_as is not None:
            raise errors.ResubmissionRepeated(
                f"request {earlier_id!r} was already resubmitted as {earlier.resubmitted_as!r}; "
                "a denied request is resubmitted once (a denied resubmission may be resubmitted "
                "in its turn)",
                request_id=request_id,
                resubmission_of=earlier_id,
                resubmitted_as=earlier.resubmitted_as,
            )
        if earlier.status != DENIED:
            why = "under appeal" if earlier.status == APPEALED else earlier.status
            raise errors.ResubmissionWithoutDenial(
                f"request {earlier_id!r} is {why}, not denied; only a denied request is "
                "resubmitted",
                request_id=request_id,
                resubmission_of=earlier_id,
                status=earlier.status,
            )
        self._check_after(decided, f"the denial of request {earlier_id!r}", earlier.last_step_at)

    def approve_access_request(
        self,
        decided: Justification,
        *,
        request_id: str,
        terms: PrivateText,
        expires_on: date | None,
    ) -> None:
        """Grant a request that awaits a decision; an expiry falls after the decision."""
        request = self._require_undecided_request(request_id)
        self._refuse_own_request(decided, request, "approve")
        # A moment too far ahead is refused as such, before the expiry is compared with it.
        self._refuse_too_late(decided, self._now(decided))
        decided_on = day_of(decided.effective_at or self._now(decided))
        if expires_on is not None and expires_on <= decided_on:
            raise errors.IncoherentDates(
                f"the grant of request {request_id!r} would expire on {expires_on}, "
                f"not after the decision on {decided_on}",
                expires_on=expires_on.isoformat(),
                decided_on=decided_on.isoformat(),
            )
        self._check_after(decided, f"request {request_id!r} it decides", request.last_step_at)
        self._check_dates(decided)
        self._decide(
            self.AccessRequestApproved,
            decided,
            request_id=request_id,
            terms=terms,
            expires_on=expires_on,
        )

    def deny_access_request(
        self, decided: Justification, *, request_id: str, reason_code: str, reason: PrivateText
    ) -> None:
        """Refuse a request that awaits a decision: a code of `DENIAL_REASONS` and the reason."""
        if reason_code not in DENIAL_REASONS:  # the doors' documents refuse it first
            raise errors.CommandRejected(
                f"denial reason code {reason_code!r} is not one of: {', '.join(DENIAL_REASONS)}",
                reason_code=reason_code,
            )
        request = self._require_undecided_request(request_id)
        self._refuse_own_request(decided, request, "deny")
        self._check_after(decided, f"request {request_id!r} it decides", request.last_step_at)
        self._check_dates(decided)
        self._decide(
            self.AccessRequestDenied,
            decided,
            request_id=request_id,
            reason_code=reason_code,
            reason=reason,
        )

    def appeal_access_denial(
        self, decided: Justification, *, request_id: str, new_facts: PrivateText
    ) -> None:
        """Appeal a denial, once, with new facts; only the actor who made the request may."""
        request = self._require_request(request_id)
        if request.requested_by and not _is_requester(decided, request.requested_by):
            raise errors.RequestForAnother(
                f"{_requester(decided.actor)!r} cannot appeal request {request_id!r}: it was "
                f"made by {request.requested_by!r}, and only the requester appeals its denial",
                request_id=request_id,
                actor=_requester(decided.actor),
                requested_by=request.requested_by,
            )
        if request.status != DENIED or request.appeals > 0 or request.resubmitted_as:
            if request.resubmitted_as:
                why = f"its denial was answered by a new request, {request.resubmitted_as!r}"
            elif request.appeals:
                why = "its denial was already appealed once"
            else:
                why = f"it is {request.status}, not denied"
            raise errors.AppealWithoutDenial(
                f"request {request_id!r} cannot be appealed: {why}",
                request_id=request_id,
                status=request.status,
            )
        self._check_after(decided, f"the denial of request {request_id!r}", request.last_step_at)
        self._check_dates(decided)
        self._decide(self.AccessDenialAppealed, decided, request_id=request_id, new_facts=new_facts)

    def revoke_access(
        self, decided: Justification, *, request_id: str, reason: PrivateText
    ) -> None:
        """Revoke an approved grant (never by the actor who requested it)."""
        request = self._require_request(request_id)
        self._refuse_own_request(decided, request, "revoke")
        if request.status != APPROVED:
            raise errors.RevokeWithoutGrant(
                f"request {request_id!r} is {request.status}; only an approved grant "
                "can be revoked",
                request_id=request_id,
                status=request.status,
            )
        self._refuse_too_late(decided, self._now(decided))
        revoked_on = day_of(decided.effective_at or self._now(decided))
        if request.status_as_of(revoked_on) == EXPIRED:
            raise errors.RevokeAfterExpiry(
                f"the grant of request {request_id!r} held through {request.expires_on} and "
                f"has expired by {revoked_on}, when the revocation takes effect; an expired "
                "grant is not revoked",
                request_id=request_id,
                expires_on=str(request.expires_on),
                revoked_on=revoked_on.isoformat(),
            )
        self._check_after(decided, f"the grant of request {request_id!r}", request.last_step_at)
        self._check_dates(decided)
        self._decide(self.AccessRevoked, decided, request_id=request_id, reason=reason)

    def erase_subject(self, decided: Justification, *, subject: str) -> None:
        """Record the erasure of a person (by pseudonym) who made a request on this model."""
        if subject in self.erased_subjects:
            raise errors.SubjectAlreadyErased(
                f"subject {subject} was already erased from model {self.name!r}",
                subject=subject,
            )
        if not any(_subject(r.requester) == subject for r in self.access_requests.values()):
            raise errors.SubjectWithoutRequest(
                f"model {self.name!r} holds no request of subject {subject}",
                subject=subject,
            )
        self._check_dates(decided)
        self._decide(self.SubjectErased, decided, subject=subject)

    def draft_essay(
        self,
        decided: Justification,
        *,
        essay_id: str,
        title: str,
        prompt_ref: str,
        context_refs: tuple[str, ...],
        content_digest: str,
        supersedes_vetoed: str | None = None,
    ) -> None:
        """Record a draft under an id not used before.

        A draft whose content a reviewer vetoed under another id names that essay
        (``supersedes_vetoed``): vetoed content is not published under another name unless a
        later review approves it.
        """
        self._refuse_duplicate("essay", essay_id, self.essays)
        vetoed = sorted(
            other_id
            for other_id, other in self.essays.items()
            if other.status == VETOED and other.content_digest == content_digest
        )
        if supersedes_vetoed is not None and supersedes_vetoed not in vetoed:
            raise errors.VetoedContentRedrafted(
                f"essay {essay_id!r} names {supersedes_vetoed!r} as the vetoed essay it "
                "supersedes, but no vetoed essay of this model has its content",
                essay_id=essay_id,
                supersedes_vetoed=supersedes_vetoed,
            )
        if vetoed and supersedes_vetoed is None:
            raise errors.VetoedContentRedrafted(
                f"essay {essay_id!r} has the content of vetoed essay {vetoed[0]!r}; a draft "
                "of vetoed content names the essay it supersedes (supersedes_vetoed)",
                essay_id=essay_id,
                vetoed=vetoed[0],
            )
        self._check_dates(decided)
        self._decide(
            self.EssayDrafted,
            decided,
            essay_id=essay_id,
            title=title,
            prompt_ref=prompt_ref,
            context_refs=context_refs,
            content_digest=content_digest,
            supersedes_vetoed=supersedes_vetoed,
        )

    def approve_essay(self, decided: Justification, *, essay_id: str) -> None:
        """Approve a draft that has not been reviewed."""
        essay = self._require_unreviewed_essay(essay_id)
        self._check_after(decided, f"the draft of essay {essay_id!r}", essay.drafted_at)
        self._check_dates(decided)
        self._decide(self.EssayApproved, decided, essay_id=essay_id)

    def veto_essay(
        self, decided: Justification, *, essay_id: str, risk_category: str, reason: str
    ) -> None:
        """Veto a draft that has not been reviewed, naming the risk."""
        essay = self._require_unreviewed_essay(essay_id)
        self._check_after(decided, f"the draft of essay {essay_id!r}", essay.drafted_at)
        self._check_dates(decided)
        self._decide(
            self.EssayVetoed,
            decided,
            essay_id=essay_id,
            risk_category=risk_category,
            reason=reason,
        )

    def publish_essay(
        self, decided: Justification, *, essay_id: str, disclaimer_version: str, location: str
    ) -> None:
        """Publish an approved essay; never a vetoed or unreviewed one, and only once."""
        essay = self._require_essay(essay_id)
        if essay.status == VETOED:
            raise errors.EssayPublishedAfterVeto(
                f"essay {essay_id!r} was vetoed ({essay.risk_category}) and is never published",
                essay_id=essay_id,
            )
        if essay.status == PUBLISHED:
            raise errors.EssayAlreadyPublished(
                f"essay {essay_id!r} is already published", essay_id=essay_id
            )
        if essay.status != APPROVED:
            raise errors.EssayPublishedWithoutApproval(
                f"essay {essay_id!r} is {essay.status}; it is published only after approval",
                essay_id=essay_id,
            )
        self._refuse_vetoed_content(essay_id, essay)
        self._check_after(decided, f"the approval of essay {essay_id!r}", essay.reviewed_at)
        self._check_dates(decided)
        self._decide(
            self.EssayPublished,
            decided,
            essay_id=essay_id,
            disclaimer_version=disclaimer_version,
            location=location,
        )

    def record_signal(
        self,
        decided: Justification,
        *,
        kind: str,
        period_start: date,
        period_end: date,
        value: float,
        unit: str,
        corrects: bool = False,
        correction_reason: str | None = None,
    ) -> None:
        """Record a measurement over a period that ends no earlier than it starts, in a unit
        its kind is measured in (`SIGNAL_UNITS`); a second value for the same kind and period
        only as a correction of the first, with a reason."""
        self._check_signal_unit(kind, value, unit)
        self._check_signal_period(kind, period_start, period_end, corrects, correction_reason)
        if period_end < period_start:
            raise errors.IncoherentDates(
                f"the signal's period ends on {period_end}, before it starts on {period_start}",
                period_start=period_start.isoformat(),
                period_end=period_end.isoformat(),
            )
        self._check_dates(decided, period_start=period_start)
        self._check_not_future(decided, period_end=period_end)
        self._decide(
            self.SignalRecorded,
            decided,
            kind=kind,
            period_start=period_start,
            period_end=period_end,
            value=value,
            unit=unit,
            corrects=corrects,
            correction_reason=correction_reason if corrects else None,
        )

    @staticmethod
    def _check_signal_unit(kind: str, value: float, unit: str) -> None:
        rule = SIGNAL_UNITS.get(kind)
        if rule is None:
            return  # the command's schema names the kinds; an unknown one is refused there
        units, negative_allowed = rule
        if unit not in units:
            raise errors.SignalUnitMismatch(
                f"a {kind} signal is measured in {' or '.join(units)}, not {unit!r}",
                kind=kind,
                unit=unit,
                allowed_units=list(units),
            )
        if value < 0 and not negative_allowed:
            raise errors.SignalNegative(
                f"a {kind} signal cannot be negative: {value} {unit}",
                kind=kind,
                value=value,
                unit=unit,
            )

    def _check_signal_period(
        self,
        kind: str,
        period_start: date,
        period_end: date,
        corrects: bool,
        correction_reason: str | None,
    ) -> None:
        taken = self.signal_values.get((kind, period_start, period_end))
        period = f"{period_start.isoformat()}..{period_end.isoformat()}"
        if corrects:
            if taken is None:
                raise errors.SignalNothingToCorrect(
                    f"no {kind} value was recorded for {period}: there is nothing to correct",
                    kind=kind,
                    period_start=period_start.isoformat(),
                    period_end=period_end.isoformat(),
                )
            if not correction_reason:
                raise errors.CommandRejected("a correction needs a correction_reason")
        elif taken is not None:
            raise errors.SignalPeriodTaken(
                f"{kind} for {period} is already recorded ({taken.value} {taken.unit}); "
                "record a correction (corrects: true, with a correction_reason) to replace it",
                kind=kind,
                period_start=period_start.isoformat(),
                period_end=period_end.isoformat(),
                value=taken.value,
                unit=taken.unit,
            )

    # -- copying -------------------------------------------------------------------------------

    def __deepcopy__(self, memo: dict[int, Any]) -> ModelLifecycle:
        """A copy that shares nothing mutable with the original.

        Every state record is frozen and every other value immutable, so copying the mutable
        containers (and the pending events' list) is a deep copy, at a fraction of the cost
        of `copy.deepcopy`'s generic walk.
        """
        clone = object.__new__(type(self))
        state = dict(self.__dict__)
        for name, value in state.items():
            if isinstance(value, dict):
                state[name] = dict(value)
            elif isinstance(value, list):
                state[name] = list(value)
        clone.__dict__.update(state)
        memo[id(self)] = clone
        return clone

    # -- reads used by views and reports -------------------------------------------------------

    @property
    def lifecycle_status(self) -> str:
        """One word for where the model stands (the final status once retired)."""
        if self.status == "retired" and self.final_status:
            return self.final_status
        return self.status

    # -- helpers: checks raise, the trigger appends --------------------------------------------

    def _decide(self, event_class: type[Event], decided: Justification, **facts: Any) -> None:
        """Trigger one decision event, recorded now by the ledger's clock."""
        self.trigger_event(
            event_class,
            timestamp=self._now(decided),
            **_decision_fields(decided),
            **facts,
        )

    def _support(self, interview_id: str) -> Support:
        interview = self.interviews[interview_id]
        return Support(interview_id, interview.conducted_on, interview.framing)

    def _check_dates(self, decided: Justification, **moments: date | datetime | None) -> None:
        """Refuse any date of the decision that falls before the model's release, and a
        decision that takes effect later than the day after it is recorded."""
        self._refuse_too_late(decided, self._now(decided))
        named = [("effective_at", decided.effective_at), *moments.items()]
        early = first_before(named, self.release_date)
        if early is not None:
            what, day = early
            raise errors.IncoherentDates(
                f"{what} {day} falls before model {self.name!r} was released "
                f"on {self.release_date}",
                field=what,
                day=day.isoformat(),
                release_date=self.release_date.isoformat(),
            )

    @staticmethod
    def _refuse_too_late(decided: Justification, recorded_at: datetime) -> None:
        if takes_effect_too_late(decided.effective_at, recorded_at):
            raise errors.EffectiveAfterRecorded(
                f"effective_at {decided.effective_at} is more than a day after the decision "
                f"is recorded ({recorded_at}); a decision takes effect at most one day after it "
                "is recorded (the slack of a time zone ahead of UTC)",
                effective_at=str(decided.effective_at),
                recorded_at=str(recorded_at),
            )

    def _check_after(self, decided: Justification, subject: str, moment: datetime | None) -> None:
        """Refuse a decision that takes effect before what it decides took effect."""
        effective = decided.effective_at or self._now(decided)
        if moment is not None and instant(effective) < instant(moment):
            raise errors.DecisionBeforeItsSubject(
                f"this decision takes effect at {effective}, before {subject} took effect "
                f"at {moment}; a decision takes effect on or after what it decides",
                effective_at=str(effective),
                subject=subject,
                subject_at=str(moment),
            )

    def _refuse_contradicting_interview(
        self, preference_id: str, preference: Preference, interview_id: str
    ) -> None:
        if interview_id in preference.contradicted_by:
            raise errors.SupportedAndContradicted(
                f"interview {interview_id!r} contradicted preference {preference_id!r}; the "
                "same interview cannot also reaffirm it",
                preference_id=preference_id,
                interview_id=interview_id,
            )

    def _refuse_vetoed_content(self, essay_id: str, essay: Essay) -> None:
        """Vetoed content is published under another id only if approved after the veto."""
        for other_id, other in self.essays.items():
            if other_id == essay_id or other.status != VETOED:
                continue
            if other.content_digest != essay.content_digest:
                continue
            vetoed_at, approved_at = other.reviewed_at, essay.reviewed_at
            if (
                vetoed_at is None
                or approved_at is None
                or instant(approved_at) <= instant(vetoed_at)
            ):
                raise errors.VetoedContentPublished(
                    f"essay {essay_id!r} has the content of vetoed essay {other_id!r} and "
                    "was not approved after that veto; vetoed content is not published "
                    "under another essay id",
                    essay_id=essay_id,
                    vetoed=other_id,
                )

    def _now(self, decided: Justification) -> datetime:
        """When the ledger records this decision: now, or when a restored event first was."""
        return decided.recorded_at or self.Event.create_timestamp()

    def _check_not_future(self, decided: Justification, **moments: date | datetime) -> None:
        """Refuse a fact about the past (an interview held, a check made) dated in the future.

        One day of slack lets a date written in a time zone ahead of UTC through.
        """
        today = day_of(self._now(decided))
        late = first_after(moments.items(), today + timedelta(days=1))
        if late is not None:
            what, day = late
            raise errors.IncoherentDates(
                f"{what} {day} is in the future; the ledger records what has happened "
                f"(today is {today})",
                field=what,
                day=day.isoformat(),
            )

    def _refuse_if_retired(self, action: str) -> None:
        if self.status == "retired":
            raise errors.ModelAlreadyRetired(
                f"model {self.name!r} already retired on {self.retired_on}; cannot {action}",
                model=self.name,
            )

    def _refuse_duplicate(self, what: str, identifier: str, existing: dict[str, Any]) -> None:
        if identifier in existing:
            raise errors.DuplicateIdentifier(
                f"{what} id {identifier!r} is already used for model {self.name!r}",
                kind=what,
                identifier=identifier,
            )

    def _require_interview(self, interview_id: str) -> Interview:
        try:
            return self.interviews[interview_id]
        except KeyError:
            raise errors.InterviewNotRecorded(
                f"interview {interview_id!r} of model {self.name!r} is not on the record",
                interview_id=interview_id,
            ) from None

    def _require_preference(self, preference_id: str, action: str) -> Preference:
        try:
            return self.preferences[preference_id]
        except KeyError:
            raise errors.PreferenceNotRecorded(
                f"preference {preference_id!r} of model {self.name!r} cannot be {action}: "
                "it was never recorded",
                preference_id=preference_id,
            ) from None

    def _require_request(self, request_id: str) -> AccessRequest:
        try:
            return self.access_requests[request_id]
        except KeyError:
            raise errors.AccessRequestNotFound(
                f"access request {request_id!r} was never made for model {self.name!r}",
                request_id=request_id,
            ) from None

    def _require_undecided_request(self, request_id: str) -> AccessRequest:
        request = self._require_request(request_id)
        if request.status not in (PENDING, APPEALED):
            after = " (after its appeal)" if request.appeals else ""
            raise errors.RequestAlreadyDecided(
                f"request {request_id!r} was already decided{after}: it is {request.status}",
                request_id=request_id,
                status=request.status,
            )
        return request

    def _refuse_own_request(
        self, decided: Justification, request: AccessRequest, action: str
    ) -> None:
        """Separation of duties: nobody decides or revokes their own request, whatever role."""
        if request.requested_by and _is_requester(decided, request.requested_by):
            raise errors.OwnRequestDecision(
                f"{_requester(decided.actor)!r} requested this access and cannot {action} it, "
                f"in any role (here {decided.actor.role})",
                actor=_requester(decided.actor),
                role=decided.actor.role,
                action=action,
            )

    def _require_essay(self, essay_id: str) -> Essay:
        try:
            return self.essays[essay_id]
        except KeyError:
            raise errors.EssayNotDrafted(
                f"essay {essay_id!r} was never drafted for model {self.name!r}",
                essay_id=essay_id,
            ) from None

    def _require_unreviewed_essay(self, essay_id: str) -> Essay:
        essay = self._require_essay(essay_id)
        if essay.status != DRAFTED:
            raise errors.EssayAlreadyReviewed(
                f"essay {essay_id!r} was already reviewed: it is {essay.status}",
                essay_id=essay_id,
                status=essay.status,
            )
        return essay


def _subject(value: object) -> object:
    """Whose a private value is: a sealed value's subject; a plain one (unsealed) is itself."""
    return value.subject if isinstance(value, Sealed) else value


def _requester(actor: Actor) -> str:
    """Who made a request, as the rules compare people: the pseudonym its sealed actor id
    carries (disclosure policy 2), or the actor id itself (an id recorded in clear)."""
    return actor.id.subject if isinstance(actor.id, Sealed) else actor.id


def _is_requester(decided: Justification, requested_by: str) -> bool:
    """Whether the deciding actor is the person who made a request (``requested_by``): by
    pseudonym (the ledger gives the decider's), or by id for a request recorded in clear."""
    return requested_by in {_requester(decided.actor), decided.pseudonym}


# Each signal kind's allowed units, and whether a negative value is allowed: the one table the
# `record_signal` rules read (`signal-unit-mismatch`, `signal-negative`; docs/events.md).
SIGNAL_UNITS: dict[str, tuple[tuple[str, ...], bool]] = {
    # a rating on a scale: out of 5, a bare score, or a ratio between 0 and 1
    "user_satisfaction": (("score_out_of_5", "score", "ratio"), False),
    # incidents reported in the period
    "safety_incidents": (("count",), False),
    # money spent serving the model, in US dollars
    "serving_cost": (("usd",), False),
    # research use: API calls, or another count
    "research_use": (("api_calls", "count"), False),
}

# The units version-1 signals were measured in, before ``unit`` was recorded.
V1_SIGNAL_UNITS = {
    "user_satisfaction": "score",
    "safety_incidents": "count",
    "serving_cost": "usd",
    "research_use": "count",
}


def _decision_fields(decided: Justification) -> dict[str, Any]:
    return {
        "actor": decided.actor,
        "rationale": decided.rationale,
        "evidence": decided.evidence,
        "effective_at": decided.effective_at,
        "disclosure": decided.disclosure or POLICY_VERSION,
    }


def event_classes() -> list[type[ModelLifecycle.Event]]:
    """Every concrete lifecycle event class, in the order they are declared."""
    return [
        value
        for value in vars(ModelLifecycle).values()
        if isinstance(value, type)
        and issubclass(value, ModelLifecycle.Event)
        and value is not ModelLifecycle.Event
    ]
