"""Every error the ledger, its log and its services report: one module, each with a kind.

An error's ``kind`` says what went wrong in a way every door can act on: the HTTP status and the
CLI exit code follow the kind (`Kind`), never the wording and never the slug. Its ``rule`` is a
stable slug for people and documentation (and the RFC 9457 problem ``type``). Every message
names the rule and the facts that broke it.
"""

from __future__ import annotations

import os
import re
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """What kind of failure an error is; the doors map each kind onto a status or exit code."""

    INVALID = "invalid"
    """The input is malformed: a command document, a query, a moment, a file."""
    NOT_FOUND = "not-found"
    """What the input names does not exist: a model, a request, a version, a checkpoint."""
    CONFLICT = "conflict"
    """A lifecycle rule refuses the command in the model's current state, or it went stale."""
    REFUSED = "refused"
    """The actor may not take this decision: its role, or its own request."""
    DAMAGED = "damaged"
    """Stored data no longer matches what was signed or recorded: the log, a bundle."""
    UNAVAILABLE = "unavailable"
    """Something the answer needs is not here: the signing key, the store."""


class LedgerError(Exception):
    """Base of every error the ledger reports to its callers."""

    rule = "ledger-error"
    kind = Kind.INVALID

    def __init__(self, message: str, **facts: Any) -> None:
        super().__init__(message)
        self.message = message
        self.facts = facts

    def __str__(self) -> str:
        return self.message


class CommandRejected(LedgerError):
    """A command document that is malformed or invalid before any rule is looked at."""

    rule = "invalid-command"
    kind = Kind.INVALID


class ModelNotFound(LedgerError):
    """A command or query names a model that was never registered."""

    rule = "model-not-found"
    kind = Kind.NOT_FOUND

    def __init__(self, model: str) -> None:
        super().__init__(f"model not found: no model named {model!r} is registered", model=model)
        self.model = model


class ConcurrencyConflict(LedgerError):
    """Other writers kept changing the model; the command was retried and then given up."""

    rule = "concurrency-conflict"
    kind = Kind.CONFLICT

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
    kind = Kind.CONFLICT

    def __init__(self, model: str, expected: int, actual: int) -> None:
        super().__init__(
            f"stale version: the command expected model {model!r} at version {expected}, "
            f"but it is at version {actual}",
            model=model,
            expected=expected,
            actual=actual,
        )


class RecordTooLarge(LedgerError):
    """The event a command would record does not fit one entry of the transparency log."""

    rule = "record-too-large"
    kind = Kind.INVALID


class SubjectErased(LedgerError):
    """A person whose data was erased is named again: nothing more is sealed for them."""

    rule = "subject-erased"
    kind = Kind.CONFLICT


class RequestKeyTaken(LedgerError):
    """An Idempotency-Key's lease passed to another request before this one was recorded.

    Raised inside the event transaction, which it rolls back: the key's other request is the
    one that counts, and this one appended nothing.
    """

    rule = "idempotency-key-taken"
    kind = Kind.CONFLICT


class LifecycleRuleViolation(LedgerError):
    """A command that breaks a rule of the model's lifecycle; nothing was recorded."""

    rule = "lifecycle-rule"
    kind = Kind.CONFLICT

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


class SignalUnitMismatch(LifecycleRuleViolation):
    """A signal is recorded in a unit its kind is measured in (`domain.lifecycle.SIGNAL_UNITS`)."""

    rule = "signal-unit-mismatch"
    kind = Kind.INVALID


class SignalNegative(LifecycleRuleViolation):
    """A signal whose kind cannot be negative (counts, costs, scores) is zero or more."""

    rule = "signal-negative"
    kind = Kind.INVALID


class SignalPeriodTaken(LifecycleRuleViolation):
    """A model has one value per signal kind and period; another one must be a correction."""

    rule = "signal-period-taken"


class SignalNothingToCorrect(LifecycleRuleViolation):
    """A correction replaces a value recorded for the same kind and period."""

    rule = "signal-nothing-to-correct"


class ExtendedAccessWithoutPolicy(LifecycleRuleViolation):
    """A model retires with extended access only under a recorded policy with a channel."""

    rule = "extended-access-without-policy"


class ManifestDigestMismatch(LifecycleRuleViolation):
    """The manifest digest given does not match the files listed."""

    rule = "manifest-digest-mismatch"
    kind = Kind.INVALID


class OmsRootMismatch(LifecycleRuleViolation):
    """The OMS root digest given is not the model-signing root of the files listed.

    OpenSSF model signing (OMS v1.0) signs a folder as the SHA-256 of its files' raw SHA-256
    digests in path order (`domain.manifests.oms_root_digest`); a preservation that names such
    a root must list exactly the files it covers, and a bundle digest only with its root.
    """

    rule = "oms-root-mismatch"
    kind = Kind.INVALID


class ArchiveCheckWithoutPreservation(LifecycleRuleViolation):
    """An archive can be checked only against weights that were preserved."""

    rule = "archive-check-without-preservation"


class DuplicateIdentifier(LifecycleRuleViolation):
    """An interview, preference, artifact, request or essay id is used once per model."""

    rule = "duplicate-identifier"


class InterviewNotRecorded(LifecycleRuleViolation):
    """A preference is traced to interviews that are on the record."""

    rule = "interview-not-recorded"
    kind = Kind.NOT_FOUND


class PreferenceNotRecorded(LifecycleRuleViolation):
    """A preference is reaffirmed, contradicted or decided only if it was recorded."""

    rule = "preference-not-recorded"
    kind = Kind.NOT_FOUND


class ReaffirmedInSameInterview(LifecycleRuleViolation):
    """A reaffirmation comes from an interview that the preference was not already taken from."""

    rule = "reaffirmed-in-same-interview"


class PreferenceAlreadyDecided(LifecycleRuleViolation):
    """A preference is decided once; only a deferred decision may be taken again."""

    rule = "preference-already-decided"


class AccessRequestNotFound(LifecycleRuleViolation):
    """An access decision names a request that was never made."""

    rule = "access-request-not-found"
    kind = Kind.NOT_FOUND


class RequestAlreadyDecided(LifecycleRuleViolation):
    """A request is decided once, and once more only after an appeal of its denial."""

    rule = "request-already-decided"


class AppealWithoutDenial(LifecycleRuleViolation):
    """Only a denied request can be appealed, and only once."""

    rule = "appeal-without-denial"


class ResubmissionWithoutDenial(LifecycleRuleViolation):
    """A new request resubmits only a denied request (not one pending, approved or appealed)."""

    rule = "resubmission-without-denial"


class ResubmissionByAnother(LifecycleRuleViolation):
    """A denied request is resubmitted by the actor who made it, for the same requester."""

    rule = "resubmission-by-another"


class ResubmissionRepeated(LifecycleRuleViolation):
    """A denied request is resubmitted once; a later denial starts from the new request."""

    rule = "resubmission-repeated"


class SubjectWithoutRequest(LifecycleRuleViolation):
    """A person is erased from a model that holds a request of theirs."""

    rule = "subject-without-request"
    kind = Kind.NOT_FOUND


class SubjectAlreadyErased(LifecycleRuleViolation):
    """A person's erasure is recorded once per model."""

    rule = "subject-already-erased"


class RevokeWithoutGrant(LifecycleRuleViolation):
    """Only an approved, unrevoked grant can be revoked."""

    rule = "revoke-without-grant"


class RevokeAfterExpiry(LifecycleRuleViolation):
    """A grant past its expiry on the revocation's effective day has ended; it is not revoked."""

    rule = "revoke-after-expiry"


class EssayNotDrafted(LifecycleRuleViolation):
    """An essay is reviewed or published only after it was drafted."""

    rule = "essay-not-drafted"
    kind = Kind.NOT_FOUND


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


class DecisionBeforeItsSubject(LifecycleRuleViolation):
    """A decision takes effect on or after what it decides (a request, a denial, a draft...)."""

    rule = "decision-before-its-subject"


class EffectiveAfterRecorded(LifecycleRuleViolation):
    """No decision takes effect later than the day after it is recorded."""

    rule = "effective-after-recorded"


class VetoedContentRedrafted(LifecycleRuleViolation):
    """A draft with a vetoed essay's content names that essay (``supersedes_vetoed``)."""

    rule = "vetoed-content-redrafted"


class VetoedContentPublished(LifecycleRuleViolation):
    """Vetoed content is published under another essay id only if approved after the veto."""

    rule = "vetoed-content-published"


class SupportedAndContradicted(LifecycleRuleViolation):
    """One interview supports a preference or contradicts it, never both."""

    rule = "interview-supports-and-contradicts"


class ReaffirmedSameDayOrFraming(LifecycleRuleViolation):
    """A reaffirmation comes on another day and under another framing than its supports."""

    rule = "reaffirmed-same-day-or-framing"


class PolicyAfterFullRetirement(LifecycleRuleViolation):
    """A retired model's access policy is set only if it retired with extended access."""

    rule = "access-policy-after-full-retirement"


class SuccessorIsSelf(LifecycleRuleViolation):
    """A model is never its own successor."""

    rule = "successor-is-self"


class SuccessorNotRegistered(LifecycleRuleViolation):
    """A successor named at retirement is registered, or explicitly marked external."""

    rule = "successor-not-registered"


def rule_classes() -> list[type[LifecycleRuleViolation]]:
    """Every named lifecycle rule, for documentation and the HTTP problem types."""
    return sorted(LifecycleRuleViolation.__subclasses__(), key=lambda cls: cls.rule)


# --- authority ------------------------------------------------------------------------------


class AuthorityViolation(LedgerError):
    """A decision the actor may not take: nothing was recorded."""

    rule = "authority"
    kind = Kind.REFUSED

    def __init__(self, detail: str, **facts: Any) -> None:
        super().__init__(f"{self.rule}: {detail}", **facts)


class RoleNotAllowed(AuthorityViolation):
    """Each command may be issued only in the roles the authority table names for it."""

    rule = "role-not-allowed"


class OwnRequestDecision(AuthorityViolation):
    """Nobody decides, revokes or appeals on behalf of another for their own access request."""

    rule = "own-request-decision"


class RequestForAnother(AuthorityViolation):
    """A researcher requests access, and appeals a denial, only for itself."""

    rule = "request-for-another"


def authority_classes() -> list[type[AuthorityViolation]]:
    """Every named authority rule, for documentation and the HTTP problem types."""
    return sorted(AuthorityViolation.__subclasses__(), key=lambda cls: cls.rule)


# --- reads and time travel --------------------------------------------------------------------


class VersionNotFound(LedgerError):
    """A time-travel read asked for a version or a moment the model does not have."""

    rule = "version-not-found"
    kind = Kind.NOT_FOUND


class InvalidMoment(LedgerError):
    """A moment that is not ISO 8601 with a time zone, or falls outside plausible years."""

    rule = "invalid-moment"
    kind = Kind.INVALID


class InvalidQuery(LedgerError):
    """A question the services cannot ask of the views: a bad filter, page or register."""

    rule = "invalid-query"
    kind = Kind.INVALID


class NoPreservedWeights(LedgerError):
    """A model (or a bundle) records no preserved weights to show or check an archive against."""

    rule = "no-preserved-weights"
    kind = Kind.NOT_FOUND


class DigestNotPreserved(LedgerError):
    """A digest a reader expects is neither the manifest digest nor the OMS root digest of the
    model's latest preserved weights (``verify-archive --digest``)."""

    rule = "digest-not-preserved"
    kind = Kind.NOT_FOUND


class OmsKeyRefused(LedgerError):
    """A key that cannot sign an OMS bundle: not a PEM private key, encrypted, or not P-256.

    The message names the key's file and its type, never a byte of the key.
    """

    rule = "oms-key-refused"
    kind = Kind.INVALID


class ManifestNotFound(LedgerError):
    """No weights manifest of that digest is stored (`domain.manifests`)."""

    rule = "manifest-not-found"
    kind = Kind.NOT_FOUND


class ManifestDamaged(LedgerError):
    """A stored or bundled manifest no longer hashes to its digest, or not to its event's totals."""

    rule = "manifest-damaged"
    kind = Kind.DAMAGED


class UnreadableFile(LedgerError):
    """A file the command was given cannot be read."""

    rule = "unreadable-file"
    kind = Kind.INVALID


class ImportConflict(LedgerError):
    """A bulk import met events written meanwhile; nothing of the batch was written."""

    rule = "import-conflict"
    kind = Kind.CONFLICT


# --- the store --------------------------------------------------------------------------------


class InvalidDatabaseURL(LedgerError):
    """The database URL names no store we know how to open."""

    rule = "invalid-database-url"
    kind = Kind.INVALID


# --- the transparency log ---------------------------------------------------------------------


class LogError(LedgerError):
    """A request the transparency log cannot answer (a size it does not have, say)."""

    rule = "transparency-log"
    kind = Kind.NOT_FOUND


class CheckpointNotFound(LogError):
    """No signed checkpoint of the size asked for (or none at all) is kept."""

    rule = "no-checkpoint"
    kind = Kind.NOT_FOUND


class LogDamaged(LogError):
    """The log and the events no longer agree: an event without its model, a leaf taken twice."""

    rule = "log-damaged"
    kind = Kind.DAMAGED


class EntryTooLarge(LogError):
    """An entry longer than a bundle's uint16 length prefix can say (65,535 bytes)."""

    rule = "entry-too-large"
    kind = Kind.UNAVAILABLE


class TileNotFound(LogError):
    """A path that names no tile or bundle of the tree (malformed, or beyond its size)."""

    rule = "no-such-tile"
    kind = Kind.NOT_FOUND


class SigningKeyError(LedgerError):
    """The signing key file is missing, unreadable, or too widely readable."""

    rule = "signing-key"
    kind = Kind.UNAVAILABLE


class BundleError(LedgerError):
    """A bundle that cannot be read, or a ledger it cannot be imported into."""

    rule = "bundle"
    kind = Kind.INVALID


class BundleDoesNotVerify(BundleError):
    """A bundle whose signature, leaves or root do not check out."""

    rule = "bundle-does-not-verify"
    kind = Kind.DAMAGED


class BundleRefused(BundleError):
    """A bundle whose events break a rule or the authority table when replayed: none is kept."""

    rule = "bundle-refused"
    kind = Kind.REFUSED


class VerificationError(ValueError):
    """A note, checkpoint or proof that cannot be trusted: unsigned, badly signed, or malformed.

    A `ValueError` (not a `LedgerError`): verification functions are pure and raise it to the
    caller, which reports what it checked (``OK:``/``FAIL:``), as sigstore's do.
    """

    rule = "verification"
    kind = Kind.DAMAGED


class MalformedError(VerificationError):
    """Text that does not follow its format; the message is ``malformed <what>: <reason>``."""

    rule = "malformed"
    kind = Kind.INVALID


class WitnessPolicyError(LedgerError):
    """A witness policy cannot be used; says which file, which witness and why."""

    rule = "witness-policy"
    kind = Kind.INVALID


class NoWitnessPolicy(LedgerError):
    """The log publishes under no witness policy (RELIQUARY_WITNESS_POLICY is not set)."""

    rule = "no-witness-policy"
    kind = Kind.NOT_FOUND


class MonitorStateError(LedgerError):
    """The monitor's state folder or pinned key cannot be used: says which and why."""

    rule = "monitor-state"
    kind = Kind.INVALID


class MonitorBusy(LedgerError):
    """Another monitor run holds the state folder's lock."""

    rule = "monitor-busy"
    kind = Kind.UNAVAILABLE


class SourceUnreachable(LedgerError):
    """A log's source cannot be read: a dead server, a timeout, a missing or unreadable file."""

    rule = "source-unreachable"
    kind = Kind.UNAVAILABLE


class TileMissing(SourceUnreachable):
    """The source has no resource at this path (HTTP 404, or no such file in the folder)."""

    rule = "tile-missing"


class CosignatureError(VerificationError):
    """A witness's cosignature (c2sp.org/tlog-cosignature) is absent or does not verify."""

    rule = "cosignature"
    kind = Kind.DAMAGED


class ProofError(ValueError):
    """A Merkle inclusion or consistency proof does not verify."""

    rule = "proof"
    kind = Kind.DAMAGED


# --- archives and actors ----------------------------------------------------------------------


class ArchiveError(LedgerError):
    """A directory, file or document that cannot be turned into a manifest; names it and why."""

    rule = "archive-input"
    kind = Kind.INVALID

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{_display(path)}: {reason}", path=path, reason=reason)
        self.path = path
        self.reason = reason


def _display(path: str) -> str:
    """A path as it can be printed: undecodable bytes and control characters escaped."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ActorError(LedgerError):
    """An actor that cannot be added or revoked as asked."""

    rule = "actor"
    kind = Kind.CONFLICT
