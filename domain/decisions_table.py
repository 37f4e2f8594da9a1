"""How each command becomes one call on the aggregate: the ledger's command table.

Each entry turns a parsed command's fields into the domain values one `ModelLifecycle` command
method takes (tuples for lists, value objects for nested documents) and calls it. The ledger
(`domain.ledger.Ledger.execute`) checks authority, loads the model, calls the entry and saves;
registration, which creates the aggregate instead of loading it, is the ledger's own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from domain import commands as cmd
from domain.decisions import Channel, DifferingFile, Justification, ManifestEntry
from domain.lifecycle import ModelLifecycle


def _schedule_retirement(
    model: ModelLifecycle, decided: Justification, command: cmd.ScheduleRetirement
) -> None:
    """Schedule or reschedule the retirement."""
    model.schedule_retirement(
        decided,
        retirement_date=command.retirement_date,
        reasons=tuple(command.reasons),
        successor=command.successor,
    )


def _retire_model(model: ModelLifecycle, decided: Justification, command: cmd.RetireModel) -> None:
    """Retire the model."""
    model.retire(
        decided,
        retired_on=command.retired_on,
        final_status=command.final_status,
    )


def _preserve_weights(
    model: ModelLifecycle, decided: Justification, command: cmd.PreserveWeights
) -> None:
    """Record preserved weights by manifest."""
    files = tuple(
        ManifestEntry(path=item.path, size=item.size, sha256=item.sha256)
        for item in command.manifest.files
    )
    model.preserve_weights(
        decided,
        files=files,
        digest=command.manifest.manifest_digest,
        locations=tuple(command.locations),
        custodian=command.custodian,
        retention=command.retention,
    )


def _archive_artifact(
    model: ModelLifecycle, decided: Justification, command: cmd.ArchiveArtifact
) -> None:
    """Record an archived artifact."""
    model.archive_artifact(
        decided,
        artifact_id=command.artifact_id,
        kind=command.kind,
        title=command.title,
        digest=command.digest,
        location=command.location,
    )


def _record_archive_check(
    model: ModelLifecycle, decided: Justification, command: cmd.RecordArchiveCheck
) -> None:
    """Record a check of a stored copy against the preserved manifest."""
    differing = tuple(
        DifferingFile(path=item.path, status=item.status) for item in command.differing_files
    )
    model.record_archive_check(
        decided,
        location=command.location,
        checked_at=command.checked_at,
        observed_digest=command.observed_digest,
        differing_files=differing,
    )


def _record_interview(
    model: ModelLifecycle, decided: Justification, command: cmd.RecordInterview
) -> None:
    """Record an interview."""
    model.record_interview(
        decided,
        interview_id=command.interview_id,
        protocol=command.protocol,
        protocol_version=command.protocol_version,
        conducted_on=command.conducted_on,
        interviewer=command.interviewer,
        framing=command.framing,
        questions=tuple(command.questions),
        context=command.context,
        transcript_digest=command.transcript_digest,
        transcript_location=command.transcript_location,
    )


def _record_preference(
    model: ModelLifecycle, decided: Justification, command: cmd.RecordPreference
) -> None:
    """Record a preference."""
    model.record_preference(
        decided,
        preference_id=command.preference_id,
        statement=command.statement,
        theme=command.theme,
        interview_ids=tuple(command.interview_ids),
    )


def _reaffirm_preference(
    model: ModelLifecycle, decided: Justification, command: cmd.ReaffirmPreference
) -> None:
    """Record a reaffirmation of a preference."""
    model.reaffirm_preference(
        decided,
        preference_id=command.preference_id,
        interview_id=command.interview_id,
    )


def _contradict_preference(
    model: ModelLifecycle, decided: Justification, command: cmd.ContradictPreference
) -> None:
    """Record a contradiction of a preference."""
    model.contradict_preference(
        decided,
        preference_id=command.preference_id,
        interview_id=command.interview_id,
        statement=command.statement,
    )


def _decide_preference(
    model: ModelLifecycle, decided: Justification, command: cmd.DecidePreference
) -> None:
    """Decide a preference."""
    model.decide_preference(
        decided,
        preference_id=command.preference_id,
        outcome=command.outcome,
        cost_assessment=command.cost_assessment,
        safety_assessment=command.safety_assessment,
    )


def _set_access_policy(
    model: ModelLifecycle, decided: Justification, command: cmd.SetAccessPolicy
) -> None:
    """Set the access policy."""
    channels = tuple(Channel(channel=c.channel, audience=c.audience) for c in command.channels)
    criteria = command.criteria.as_dict() if command.criteria is not None else None
    model.set_access_policy(decided, channels=channels, criteria=criteria)


def _request_access(
    model: ModelLifecycle, decided: Justification, command: cmd.RequestAccess
) -> None:
    """Open an access request."""
    model.request_access(
        decided,
        request_id=command.request_id,
        requester=command.requester,
        organisation=command.organisation,
        requester_group=command.requester_group,
        purpose=command.purpose,
        scope=command.scope,
    )


def _approve_access_request(
    model: ModelLifecycle, decided: Justification, command: cmd.ApproveAccessRequest
) -> None:
    """Grant an access request."""
    model.approve_access_request(
        decided,
        request_id=command.request_id,
        terms=command.terms,
        expires_on=command.expires_on,
    )


def _deny_access_request(
    model: ModelLifecycle, decided: Justification, command: cmd.DenyAccessRequest
) -> None:
    """Refuse an access request."""
    model.deny_access_request(decided, request_id=command.request_id, reason=command.reason)


def _appeal_access_denial(
    model: ModelLifecycle, decided: Justification, command: cmd.AppealAccessDenial
) -> None:
    """Appeal a denial."""
    model.appeal_access_denial(decided, request_id=command.request_id, new_facts=command.new_facts)


def _revoke_access(
    model: ModelLifecycle, decided: Justification, command: cmd.RevokeAccess
) -> None:
    """Revoke a grant."""
    model.revoke_access(decided, request_id=command.request_id, reason=command.reason)


def _draft_essay(model: ModelLifecycle, decided: Justification, command: cmd.DraftEssay) -> None:
    """Record a draft essay."""
    model.draft_essay(
        decided,
        essay_id=command.essay_id,
        title=command.title,
        prompt_ref=command.prompt_ref,
        context_refs=tuple(command.context_refs),
        content_digest=command.content_digest,
    )


def _approve_essay(
    model: ModelLifecycle, decided: Justification, command: cmd.ApproveEssay
) -> None:
    """Approve a draft."""
    model.approve_essay(decided, essay_id=command.essay_id)


def _veto_essay(model: ModelLifecycle, decided: Justification, command: cmd.VetoEssay) -> None:
    """Veto a draft."""
    model.veto_essay(
        decided,
        essay_id=command.essay_id,
        risk_category=command.risk_category,
        reason=command.reason,
    )


def _publish_essay(
    model: ModelLifecycle, decided: Justification, command: cmd.PublishEssay
) -> None:
    """Publish an approved essay."""
    model.publish_essay(
        decided,
        essay_id=command.essay_id,
        disclaimer_version=command.disclaimer_version,
        location=command.location,
    )


def _record_signal(
    model: ModelLifecycle, decided: Justification, command: cmd.RecordSignal
) -> None:
    """Record a monitoring signal."""
    model.record_signal(
        decided,
        kind=command.kind,
        period_start=command.period_start,
        period_end=command.period_end,
        value=command.value,
        unit=command.unit,
    )


DECISIONS: Mapping[str, Callable[[ModelLifecycle, Justification, Any], None]] = {
    "schedule_retirement": _schedule_retirement,
    "retire_model": _retire_model,
    "preserve_weights": _preserve_weights,
    "archive_artifact": _archive_artifact,
    "record_archive_check": _record_archive_check,
    "record_interview": _record_interview,
    "record_preference": _record_preference,
    "reaffirm_preference": _reaffirm_preference,
    "contradict_preference": _contradict_preference,
    "decide_preference": _decide_preference,
    "set_access_policy": _set_access_policy,
    "request_access": _request_access,
    "approve_access_request": _approve_access_request,
    "deny_access_request": _deny_access_request,
    "appeal_access_denial": _appeal_access_denial,
    "revoke_access": _revoke_access,
    "draft_essay": _draft_essay,
    "approve_essay": _approve_essay,
    "veto_essay": _veto_essay,
    "publish_essay": _publish_essay,
    "record_signal": _record_signal,
}
"""The aggregate call of every command but ``register_model``, by its wire name."""
