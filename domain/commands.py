"""Commands: the ledger's input contract, as pydantic v2 models, one per decision.

A command document is JSON: ``{"command": "<name>", "model": "<model name>", "actor": {"id":
..., "role": ...}, "rationale": ..., "evidence": [...], "effective_at": ..., ...facts}``.
`parse_command` turns one into a typed command or raises `CommandRejected` with one line that
names the problem. The CLI and the HTTP API both parse through here.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from domain import text
from domain.decisions import DenialReasonCode, Role
from domain.errors import CommandRejected, InvalidMoment
from domain.json_input import duplicate_key

# A command document larger than this is refused before it is parsed: the largest legitimate
# one, a manifest of many thousand files, stays well below it.
MAX_DOCUMENT_BYTES = 8 * 1024 * 1024

# --- limits ---------------------------------------------------------------------------------
# Every limit of a command document, in one place; docs/commands.md ("Limits") lists each with
# its reason, and tests/docs/test_limits_doc.py checks that the table says what these say.
# Each event the ledger records must fit one entry of the transparency log (65,535 bytes, the
# tlog-tiles entry-bundle limit): a command with every text field and list at its limit, in
# plain ASCII, stays well under it, so ordinary text never comes close, and the ledger refuses
# (`record-too-large`) the rare record that still would not fit.
MAX_NAME_CHARS = 200
"""A name or an identifier (``Name``): model names, ids, people, organisations."""
MAX_SHORT_TEXT_CHARS = 500
"""One line of text (``ShortText``): a title, a reason, an evidence description, a retention."""
MAX_TEXT_CHARS = 4_000
"""Free text (``Text``): a rationale, a statement, an assessment, terms, a reason."""
MAX_QUESTION_CHARS = 1_000
"""One question of an interview."""
MAX_URI_CHARS = 1_000
"""A URI: where evidence, an artifact, a copy or a transcript is."""
MAX_PATH_CHARS = 4_096
"""A file's relative path in a manifest (as ``projections.archive`` scans it)."""
MAX_EVIDENCE = 10
"""Evidence references of one decision (more: cite an index document by its digest)."""
MAX_REASONS = 10
"""Reasons for a retirement."""
MAX_LOCATIONS = 10
"""Storage locations of preserved weights."""
MAX_QUESTIONS = 20
"""Questions recorded for one interview."""
MAX_INTERVIEW_IDS = 20
"""Interviews a preference is recorded from."""
MAX_CONTEXT_REFS = 20
"""Context references of an essay draft."""
MAX_CHANNELS = 20
"""Channels of an access policy."""
MAX_MANIFEST_FILES = 200_000
"""Files of a manifest (as ``projections.archive`` scans them); the record limit binds first."""
MAX_DIFFERING_FILES = 200_000
"""Differing files of an archive check; the record limit binds first."""

_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f]")


def _nfc(value: object) -> object:
    # Before the length is counted: the stored (and counted) form is the NFC one.
    return text.nfc(value) if isinstance(value, str) else value


def _name(value: str) -> str:
    return text.check_name(value)


def _multiline_text(value: str) -> str:
    return text.check_text(value, multiline=True)


def _single_line_text(value: str) -> str:
    return text.check_text(value, multiline=False)


def _single_line_path(value: str) -> str:
    # A path is a fact about a file system, written as it is there: not normalized, and held
    # to the rules `projections.archive` scans by (tests/unit/test_archive.py checks both agree).
    if _CONTROL_OR_NEWLINE.search(value):
        raise ValueError("contains a control character")
    if value != value.strip():
        raise ValueError("has leading or trailing whitespace")
    if not value:
        raise ValueError("is empty")
    return value


def _relative_posix_path(value: str) -> str:
    if value.startswith("/") or "\\" in value:
        raise ValueError("must be a relative POSIX path")
    if any(part in ("", ".", "..") for part in value.split("/")):
        raise ValueError("must not contain empty, '.' or '..' segments")
    return value


Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_NAME_CHARS),
    BeforeValidator(_nfc),
    AfterValidator(_name),
]
"""A model name or an identifier: NFC, one line, one script, every character visible (see
`domain.text`), no outer whitespace."""

Text = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS),
    BeforeValidator(_nfc),
    AfterValidator(_multiline_text),
]
"""Free text (rationales, statements, assessments): NFC, at least one visible character,
newlines and tabs allowed, other controls, separators and bidirectional overrides not."""

Question = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_QUESTION_CHARS),
    BeforeValidator(_nfc),
    AfterValidator(_multiline_text),
]
"""One interview question: free text, shorter."""

ShortText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_SHORT_TEXT_CHARS),
    BeforeValidator(_nfc),
    AfterValidator(_single_line_text),
]
"""One line of free text (titles, reasons, descriptions): as `Text`, without tab or newline,
and no outer whitespace."""
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Digest = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]
URI = Annotated[
    str,
    StringConstraints(
        max_length=MAX_URI_CHARS, pattern=r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s\x00-\x1f\x7f]+$"
    ),
    AfterValidator(text.check_uri_characters),
]
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_day(value: object) -> object:
    # Accept exactly YYYY-MM-DD (or a date object from Python callers): never a number of
    # seconds or a date-time, which pydantic's lax mode would otherwise take.
    if isinstance(value, str):
        if not _ISO_DAY.match(value):
            raise ValueError("expected a date as YYYY-MM-DD")
        return value
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise ValueError("expected a date as YYYY-MM-DD")


# Dates and moments far outside any model's lifetime are refused: they would only be typos, and
# arithmetic on them (time zones, weeks) would overflow Python's calendar.
EARLIEST_YEAR, LATEST_YEAR = 1900, 9000


def _plausible_day(value: date) -> date:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"must fall between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return value


def parse_moment(text: str, name: str = "moment") -> datetime:
    """A moment given at any door (CLI option, query string, form): the one rule.

    ISO 8601 with a time zone (``2026-01-01T09:30:00Z``, ``...+02:00``), in a plausible year.
    A moment without a zone is refused, never read as UTC or local time: the same text must
    mean the same instant whoever sends it.
    """
    text = text.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidMoment(
            f"{name}: {text!r} is not an ISO 8601 date-time, e.g. 2026-01-01T09:30:00Z"
        ) from None
    if moment.tzinfo is None:
        raise InvalidMoment(f"{name}: {text!r} has no time zone; add Z or +HH:MM")
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise InvalidMoment(
            f"{name}: {text!r} must fall between the years {EARLIEST_YEAR} and {LATEST_YEAR}"
        )
    return moment


def parse_day(text: str, name: str = "day") -> date:
    """A calendar day given at any door: ``YYYY-MM-DD``, in a plausible year."""
    text = text.strip()
    try:
        day = date.fromisoformat(text) if _ISO_DAY.match(text) else None
    except ValueError:
        day = None
    if day is None:
        raise InvalidMoment(f"{name}: {text!r} is not a date (YYYY-MM-DD)")
    if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
        raise InvalidMoment(
            f"{name}: {text!r} must fall between the years {EARLIEST_YEAR} and {LATEST_YEAR}"
        )
    return day


def parse_as_of(text: str, name: str = "as of") -> date | datetime:
    """ "As of" given at any door: a day (``YYYY-MM-DD``, meaning its end, UTC) or a moment."""
    if _ISO_DAY.match(text.strip()):
        return parse_day(text, name)
    return parse_moment(text, name)


Day = Annotated[date, BeforeValidator(_iso_day), AfterValidator(_plausible_day)]
"""A calendar date, ``YYYY-MM-DD``."""

Moment = Annotated[AwareDatetime, AfterValidator(_plausible_day)]
"""An ISO 8601 date-time with a time zone, in a plausible year."""
Score = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
RelativePath = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_PATH_CHARS),
    AfterValidator(_single_line_path),
    AfterValidator(_relative_posix_path),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


class ActorRef(_Strict):
    """Who decides, and in which role (over HTTP, always taken from the caller's token)."""

    id: Name
    role: Role


class EvidenceRef(_Strict):
    """A reference a decision rests on."""

    uri: URI
    digest: Digest | None = None
    description: ShortText


class ManifestFile(_Strict):
    """One file of a weights manifest."""

    path: RelativePath
    # At most 2**53 - 1 (9 PB): the integers RFC 8785 can write into a leaf of the log.
    size: Annotated[int, Field(ge=0, le=2**53 - 1)]
    sha256: Sha256Hex


class Manifest(_Strict):
    """A weights manifest, as `reliquary manifest --json` prints it."""

    manifest_digest: Sha256Hex
    files: Annotated[list[ManifestFile], Field(min_length=1, max_length=MAX_MANIFEST_FILES)]

    @model_validator(mode="after")
    def _paths_are_unique(self) -> Manifest:
        seen: set[str] = set()
        for entry in self.files:
            if entry.path in seen:
                raise ValueError(f"file {entry.path!r} is listed twice")
            seen.add(entry.path)
        return self


class ChannelRef(_Strict):
    """A channel (e.g. ``product``, ``api``) and the audience it serves there."""

    channel: Slug
    audience: Slug


class CriteriaScores(_Strict):
    """The recorded criteria an access policy was decided on, each scored from 0 to 1."""

    alignment: Score | None = None
    demand: Score | None = None
    distinctiveness: Score | None = None
    research_value: Score | None = None
    cost: Score | None = None

    def as_dict(self) -> dict[str, float]:
        """The criteria that were scored."""
        return {name: value for name, value in self.model_dump().items() if value is not None}


class DifferingFileRef(_Strict):
    """A file an archive check found different from the manifest."""

    path: RelativePath
    status: Literal["modified", "missing", "unexpected"]


class Command(_Strict):
    """Fields every command document carries."""

    model: Name
    actor: ActorRef
    rationale: Text
    evidence: Annotated[list[EvidenceRef], Field(max_length=MAX_EVIDENCE)] = []
    effective_at: Moment | None = None
    expected_version: Annotated[StrictInt, Field(ge=0, le=2**62)] | None = None
    """The model version the writer saw (optimistic concurrency): the command is refused with
    ``stale-version`` if the model is at another. Not a fact of the decision, so never recorded;
    `reliquary apply` passes it to `Ledger.execute`; over HTTP it is ``If-Match`` instead."""


class RegisterModel(Command):
    """Register a model under its name."""

    command: Literal["register_model"]
    family: Name
    model_version: Name
    release_date: Day
    developer: Name


class ScheduleRetirement(Command):
    """Schedule (or reschedule) a model's retirement."""

    command: Literal["schedule_retirement"]
    retirement_date: Day
    reasons: Annotated[list[ShortText], Field(min_length=1, max_length=MAX_REASONS)]
    successor: Name | None = None


class RetireModel(Command):
    """Retire a model, fully or with extended access."""

    command: Literal["retire_model"]
    retired_on: Day
    final_status: Literal["fully_retired", "retired_with_extended_access"]
    # The enum only tells the JSON schema (and its readers) the two values, True first.
    successor_external: Annotated[bool, Field(json_schema_extra={"enum": [True, False]})] = False


class PreserveWeights(Command):
    """Record the archived weights by manifest, where they are kept and by whom.

    ``oms_root_digest`` and ``oms_bundle_digest`` are given when an OpenSSF model-signing
    ``model.sig`` signed the same files: its subject's root digest and the SHA-256 of the
    bundle file. The aggregate checks the root against the files (`oms-root-mismatch`).
    """

    command: Literal["preserve_weights"]
    manifest: Manifest
    locations: Annotated[list[URI], Field(min_length=1, max_length=MAX_LOCATIONS)]
    custodian: Name
    retention: ShortText
    oms_root_digest: Sha256Hex | None = None
    oms_bundle_digest: Sha256Hex | None = None


class ArchiveArtifact(Command):
    """Record an archived artifact: training notes, evaluation results, known behaviours."""

    command: Literal["archive_artifact"]
    artifact_id: Name
    kind: Literal["training_notes", "evaluation_results", "known_behaviours", "other"]
    title: ShortText
    digest: Digest
    location: URI


class RecordArchiveCheck(Command):
    """Record a check of a stored copy of the weights against the preserved manifest."""

    command: Literal["record_archive_check"]
    location: URI
    checked_at: Moment
    observed_digest: Sha256Hex
    differing_files: Annotated[list[DifferingFileRef], Field(max_length=MAX_DIFFERING_FILES)] = []


class RecordInterview(Command):
    """Record a retirement interview; the transcript is referenced by digest and location."""

    command: Literal["record_interview"]
    interview_id: Name
    protocol: Name
    protocol_version: Name
    conducted_on: Day
    interviewer: Name
    framing: Slug
    questions: Annotated[list[Question], Field(min_length=1, max_length=MAX_QUESTIONS)]
    context: Text
    transcript_digest: Digest
    transcript_location: URI


class RecordPreference(Command):
    """Record a preference the model expressed in one or more interviews."""

    command: Literal["record_preference"]
    preference_id: Name
    statement: Text
    theme: Slug
    interview_ids: Annotated[list[Name], Field(min_length=1, max_length=MAX_INTERVIEW_IDS)]


class ReaffirmPreference(Command):
    """Record that another interview reaffirmed a preference."""

    command: Literal["reaffirm_preference"]
    preference_id: Name
    interview_id: Name


class ContradictPreference(Command):
    """Record that another interview contradicted a preference."""

    command: Literal["contradict_preference"]
    preference_id: Name
    interview_id: Name
    statement: Text


class DecidePreference(Command):
    """Decide a preference: honored, partly honored, declined or deferred."""

    command: Literal["decide_preference"]
    preference_id: Name
    outcome: Literal["honored", "partly_honored", "declined", "deferred"]
    cost_assessment: Text
    safety_assessment: Text


class SetAccessPolicy(Command):
    """Set who keeps access, through which channels, on which criteria scores."""

    command: Literal["set_access_policy"]
    channels: Annotated[list[ChannelRef], Field(max_length=MAX_CHANNELS)]
    criteria: CriteriaScores | None = None


class RequestAccess(Command):
    """Ask for access to a model."""

    command: Literal["request_access"]
    request_id: Name
    requester: Name
    organisation: Name
    requester_group: Literal["academic", "nonprofit", "industry", "independent", "government"]
    purpose: Text
    scope: Text
    # A new request after a denial names the denied one (an appeal instead reopens it).
    resubmission_of: Name | None = None


class ApproveAccessRequest(Command):
    """Grant an access request on terms, until an expiry date."""

    command: Literal["approve_access_request"]
    request_id: Name
    terms: Text
    expires_on: Day | None = None


class DenyAccessRequest(Command):
    """Refuse an access request: a code of the vocabulary and the reason the requester is told."""

    command: Literal["deny_access_request"]
    request_id: Name
    reason_code: DenialReasonCode
    reason: Text


class AppealAccessDenial(Command):
    """Appeal a denial with new facts."""

    command: Literal["appeal_access_denial"]
    request_id: Name
    new_facts: Text


class RevokeAccess(Command):
    """Revoke an approved grant."""

    command: Literal["revoke_access"]
    request_id: Name
    reason: Text


class EraseSubject(Command):
    """Erase a person's private values for good, and record that it was done."""

    command: Literal["erase_subject"]
    subject: Name  # the person's actor id, or their pseudonym (``ps:`` and 32 hex digits)


class DraftEssay(Command):
    """Record an essay the model drafted, by content digest."""

    command: Literal["draft_essay"]
    essay_id: Name
    title: ShortText
    prompt_ref: URI
    context_refs: Annotated[list[URI], Field(max_length=MAX_CONTEXT_REFS)] = []
    content_digest: Digest
    supersedes_vetoed: Name | None = None


class ApproveEssay(Command):
    """Approve a draft: it is published without edits."""

    command: Literal["approve_essay"]
    essay_id: Name


class VetoEssay(Command):
    """Veto a high-risk draft, naming the risk category and the reason."""

    command: Literal["veto_essay"]
    essay_id: Name
    risk_category: Slug
    reason: Text


class PublishEssay(Command):
    """Publish an approved essay with the disclaimer of a given version."""

    command: Literal["publish_essay"]
    essay_id: Name
    disclaimer_version: Name
    location: URI


class RecordSignal(Command):
    """Record a monitoring signal for a period."""

    command: Literal["record_signal"]
    kind: Literal["user_satisfaction", "safety_incidents", "serving_cost", "research_use"]
    period_start: Day
    period_end: Day
    value: Annotated[float, Field(allow_inf_nan=False)]
    unit: Slug
    corrects: bool = False
    correction_reason: ShortText | None = None

    @model_validator(mode="after")
    def _a_correction_says_why(self) -> RecordSignal:
        if self.corrects and self.correction_reason is None:
            raise ValueError("a correction (corrects: true) needs a correction_reason")
        if not self.corrects and self.correction_reason is not None:
            raise ValueError("correction_reason goes with corrects: true")
        return self


AnyCommand = Annotated[
    RegisterModel
    | ScheduleRetirement
    | RetireModel
    | PreserveWeights
    | ArchiveArtifact
    | RecordArchiveCheck
    | RecordInterview
    | RecordPreference
    | ReaffirmPreference
    | ContradictPreference
    | DecidePreference
    | SetAccessPolicy
    | RequestAccess
    | ApproveAccessRequest
    | DenyAccessRequest
    | AppealAccessDenial
    | RevokeAccess
    | EraseSubject
    | DraftEssay
    | ApproveEssay
    | VetoEssay
    | PublishEssay
    | RecordSignal,
    Field(discriminator="command"),
]

COMMAND_ADAPTER: TypeAdapter[AnyCommand] = TypeAdapter(AnyCommand)

COMMAND_CLASSES: dict[str, type[Command]] = {
    cls.model_fields["command"].annotation.__args__[0]: cls  # type: ignore[union-attr]
    for cls in Command.__subclasses__()
}
"""Every command class by its wire name, in declaration order."""


def parse_command(document: str | bytes, max_bytes: int = MAX_DOCUMENT_BYTES) -> Command:
    """Parse one JSON command document, or raise `CommandRejected` naming the problem.

    A document over ``max_bytes`` (the configured limit, ``RELIQUARY_MAX_DOCUMENT_BYTES``, at
    the doors) is refused before it is parsed; one whose object names a key twice, at any
    depth, is refused rather than keeping either value (`domain.json_input`).
    """
    size = len(document.encode() if isinstance(document, str) else document)
    if size > max_bytes:
        raise CommandRejected(
            f"command document is {size} bytes, over the limit of {max_bytes} bytes",
            size=size,
        )
    key = duplicate_key(document)
    if key is not None:
        raise CommandRejected(
            f"duplicate key {key!r}: a command document names each key once", key=key
        )
    try:
        return COMMAND_ADAPTER.validate_json(document)
    except ValidationError as error:
        raise CommandRejected(describe_validation_error(error)) from None


def parse_command_object(document: dict[str, Any]) -> Command:
    """Validate an already-decoded command document (as the HTTP layer has it)."""
    try:
        return COMMAND_ADAPTER.validate_python(document)
    except ValidationError as error:
        raise CommandRejected(
            describe_validation_error(error), fields=field_problems(error)
        ) from None


def field_problems(error: ValidationError) -> dict[str, str]:
    """Each top-level field of the command that is wrong, with what is wrong with it.

    What a form shows beside its fields (`api.web.forms`) and the API's problem names in its
    ``fields``: the same messages as `describe_validation_error`, keyed by the field (an item
    of a list is the list's; a property of an object is ``object.property``).
    """
    problems: dict[str, str] = {}
    for detail in error.errors(include_url=False):
        loc = [str(part) for part in detail["loc"]]
        if loc and loc[0] in COMMAND_CLASSES:
            loc = loc[1:]
        # A property of an object-valued field is a field of its own (``criteria.cost``); an
        # item of a list is its list's (``evidence``), the item's place told in the message.
        depth = 2 if len(loc) > 1 and not loc[1].isdigit() else 1
        name = ".".join(loc[:depth]) if loc else "document"
        inner = ".".join(loc[depth:])
        kind = detail["type"]
        if kind == "missing":
            message = f"{inner} is required" if inner else "this field is required"
        elif kind == "extra_forbidden":
            message = f"unknown field {inner or name!r}"
        else:
            message = _MESSAGES.get(kind, detail["msg"])
            if kind == "value_error":
                message = str(detail.get("ctx", {}).get("error", detail["msg"]))
            if inner:
                message = f"{inner}: {message}"
        problems.setdefault(name, message)
    return problems


def describe_validation_error(error: ValidationError, limit: int = 3) -> str:
    """Turn pydantic's errors into one line that names the field and the problem."""
    problems = []
    command = ""
    for detail in error.errors(include_url=False)[:limit]:
        kind = detail["type"]
        loc = [str(part) for part in detail["loc"]]
        if kind == "json_invalid":
            return f"malformed JSON: {detail['ctx'].get('error', detail['msg'])}"
        if kind == "union_tag_invalid":
            tag = detail["ctx"]["tag"]
            return f"unknown command {tag!r}; known commands: {', '.join(COMMAND_CLASSES)}"
        if kind == "union_tag_not_found":
            return "missing field 'command': every command document names its command"
        if kind in ("model_attributes_type", "model_type", "dict_type") and len(loc) == 0:
            return "a command document must be a JSON object"
        if loc and loc[0] in COMMAND_CLASSES:
            command, loc = loc[0], loc[1:]
        where = ".".join(loc) if loc else "document"
        message = _MESSAGES.get(kind, detail["msg"])
        if kind == "value_error":
            message = str(detail.get("ctx", {}).get("error", detail["msg"]))
        if kind == "extra_forbidden":
            problems.append(f"unknown field {where!r}")
        elif kind == "missing":
            problems.append(f"missing field {where!r}")
        else:
            problems.append(f"field {where!r}: {message}")
    more = len(error.errors()) - limit
    suffix = f" (and {more} more)" if more > 0 else ""
    prefix = f"{command}: " if command else ""
    return prefix + "; ".join(problems) + suffix


_DAY_FORMAT = "expected a date as YYYY-MM-DD"
_MOMENT_FORMAT = "expected an ISO 8601 date-time with a time zone, e.g. 2025-01-05T12:00:00Z"
_MESSAGES = {
    "date_type": _DAY_FORMAT,
    "date_from_datetime_parsing": _DAY_FORMAT,
    "date_parsing": _DAY_FORMAT,
    "timezone_aware": _MOMENT_FORMAT,
    "datetime_parsing": _MOMENT_FORMAT,
    "datetime_type": _MOMENT_FORMAT,
}


def command_schema() -> dict[str, Any]:
    """The JSON Schema of every command document."""
    return COMMAND_ADAPTER.json_schema()
