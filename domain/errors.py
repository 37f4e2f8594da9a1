"""Errors the ledger raises: one base, and one class per lifecycle rule with a stable slug.

The HTTP layer maps a rule's ``rule`` slug onto an RFC 9457 problem ``type``; the CLI prints
the message. Every message names the rule and the facts that broke it.
"""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Base of every error the ledger reports to its callers."""

    rule = "ledger-error"

    def __init__(self, message: str, **facts: Any) -> None:
        super().__init__(message)
        self.message = message
        self.facts = facts

    def __str__(self) -> str:
        return self.message


class CommandRejected(LedgerError):
    """A command document that is malformed or invalid before any rule is looked at."""

    rule = "invalid-command"


class ModelNotFound(LedgerError):
    """A command or query names a model that was never registered."""

    rule = "model-not-found"

    def __init__(self, model: str) -> None:
        super().__init__(f"model not found: no model named {model!r} is registered", model=model)
        self.model = model


class ConcurrencyConflict(LedgerError):
    """Other writers kept changing the model; the command was retried and then given up."""

    rule = "concurrency-conflict"

    def __init__(self, model: str, attempts: int) -> None:
        super().__init__(
            f"concurrency conflict: model {model!r} changed under this command "
            f"{attempts} times in a row; nothing was recorded, try again",
            model=model,
            attempts=attempts,
        )


class StaleVersion(LedgerError):
    """The caller said which version it saw, and the model has moved on since."""

    rule = "stale-version"

    def __init__(self, model: str, expected: int, actual: int) -> None:
        super().__init__(
            f"stale version: the command expected model {model!r} at version {expected}, "
            f"but it is at version {actual}",
            model=model,
            expected=expected,
            actual=actual,
        )


class LifecycleRuleViolation(LedgerError):
    """A command that breaks a rule of the model's lifecycle; nothing was recorded."""

    rule = "lifecycle-rule"

    def __init__(self, detail: str, **facts: Any) -> None:
        super().__init__(f"{self.rule}: {detail}", **facts)


class ModelAlreadyRegistered(LifecycleRuleViolation):
    """A model name is registered once."""

    rule = "model-already-registered"


class ModelAlreadyRetired(LifecycleRuleViolation):
    """Nothing about a model's retirement can be scheduled or decided after it retired."""

    rule = "model-already-retired"


class RetiredWithoutSchedule(LifecycleRuleViolation):
    """A model is retired only after its retirement was scheduled."""

    rule = "retired-without-schedule"


class RetiredBeforePreservation(LifecycleRuleViolation):
    """A model cannot be retired before its weights are preserved."""

    rule = "retired-before-preservation"


class IncoherentDates(LifecycleRuleViolation):
    """Dates must follow each other: nothing before release, no period ending before it starts."""

    rule = "incoherent-dates"


class ExtendedAccessWithoutPolicy(LifecycleRuleViolation):
    """A model retires with extended access only under a recorded policy with a channel."""

    rule = "extended-access-without-policy"


class ManifestDigestMismatch(LifecycleRuleViolation):
    """The manifest digest given does not match the files listed."""

    rule = "manifest-digest-mismatch"


class ArchiveCheckWithoutPreservation(LifecycleRuleViolation):
    """An archive can be checked only against weights that were preserved."""

    rule = "archive-check-without-preservation"


class DuplicateIdentifier(LifecycleRuleViolation):
    """An interview, preference, artifact, request or essay id is used once per model."""

    rule = "duplicate-identifier"


class InterviewNotRecorded(LifecycleRuleViolation):
    """A preference is traced to interviews that are on the record."""

    rule = "interview-not-recorded"


class PreferenceNotRecorded(LifecycleRuleViolation):
    """A preference is reaffirmed, contradicted or decided only if it was recorded."""

    rule = "preference-not-recorded"


class ReaffirmedInSameInterview(LifecycleRuleViolation):
    """A reaffirmation comes from an interview that the preference was not already taken from."""

    rule = "reaffirmed-in-same-interview"


class PreferenceAlreadyDecided(LifecycleRuleViolation):
    """A preference is decided once; only a deferred decision may be taken again."""

    rule = "preference-already-decided"


class AccessRequestNotFound(LifecycleRuleViolation):
    """An access decision names a request that was never made."""

    rule = "access-request-not-found"


class RequestAlreadyDecided(LifecycleRuleViolation):
    """A request is decided once, and once more only after an appeal of its denial."""

    rule = "request-already-decided"


class AppealWithoutDenial(LifecycleRuleViolation):
    """Only a denied request can be appealed, and only once."""

    rule = "appeal-without-denial"


class RevokeWithoutGrant(LifecycleRuleViolation):
    """Only an approved, unrevoked grant can be revoked."""

    rule = "revoke-without-grant"


class EssayNotDrafted(LifecycleRuleViolation):
    """An essay is reviewed or published only after it was drafted."""

    rule = "essay-not-drafted"


class EssayAlreadyReviewed(LifecycleRuleViolation):
    """A draft is approved or vetoed once."""

    rule = "essay-already-reviewed"


class EssayPublishedWithoutApproval(LifecycleRuleViolation):
    """An essay is published only after its approval."""

    rule = "essay-published-without-approval"


class EssayPublishedAfterVeto(LifecycleRuleViolation):
    """A vetoed essay is never published."""

    rule = "essay-published-after-veto"


class EssayAlreadyPublished(LifecycleRuleViolation):
    """An essay is published once."""

    rule = "essay-already-published"


def rule_classes() -> list[type[LifecycleRuleViolation]]:
    """Every named lifecycle rule, for documentation and the HTTP problem types."""
    return sorted(LifecycleRuleViolation.__subclasses__(), key=lambda cls: cls.rule)
