"""Forms that record decisions: each the API's command, through the same ledger method.

A form is made from the command's own schema (`domain.commands`): one field per field of the
command the person fills in, with its kind (a line, a text, a choice, a day, a moment, a
number, a list) and its limit, so a form cannot drift from the command it sends. What the page
already knows (the model, the request or essay it is about) is fixed in hidden fields; the
actor is the signed-in session's, never a field. Posting a form builds the command document
(`document_of`), as the HTTP API builds it from a JSON body, and runs it with `Ledger.execute`
(`record`), which checks the actor's authority, separation of duties and the lifecycle rules
for every door alike. A refused command appends nothing; its problems are shown beside the
fields they concern (`domain.commands.field_problems`) or above the form for a rule.

Every form carries the session's CSRF value (`api.web.sessions`), checked before anything is
read into a command. After a decision is recorded the browser is sent (303) to the page of what
was recorded (`/web/recorded/{model}/{version}`), which names the event and its sequence in the
log, so reloading it never records twice.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from api.bootstrap import Services
from api.http.idempotency import request_digest
from api.http.problems import status_of
from api.web import sessions as web_sessions
from api.web.context import (
    PageError,
    SignInRequired,
    Viewer,
    page,
    router,
    services_of,
    viewer,
)
from api.web.params import excerpt
from api.web.render import path_part
from domain import commands as cmd
from domain.authority import Authentication, commands_for, roles_for
from domain.decisions import DENIAL_REASONS, Actor
from domain.errors import CommandRejected, Kind, LedgerError, RequestKeyTaken
from domain.identity import model_id
from domain.ledger import Recorded, event_type_name
from domain.requests import RequestKey, RequestRecords, StoredRequest

MAX_FORM_BYTES = 256 * 1024
"""A posted form (the largest, an interview with twenty questions at their limit, is ~40 KB)."""
MAX_FORM_FIELDS = 200
"""Fields of a posted form (a bulk decision names one field per chosen request)."""

# Fields a form never shows: the command's name and the actor (the session's), the version a
# writer saw (the form has its own check), and the moment it took effect (now, as recorded).
_NOT_FILLED = frozenset({"command", "actor", "expected_version", "effective_at"})
# Commands whose documents a person does not type: a manifest comes from scanning the files
# (`reliquary preserve`), not from a form.
NOT_ON_FORMS = frozenset({"preserve_weights"})

# What each list field's lines hold, for the lists of objects.
_LINE_FORMATS: dict[str, tuple[str, ...]] = {
    "evidence": ("uri", "description"),
    "channels": ("channel", "audience"),
    "differing_files": ("status", "path"),
}

HINTS: dict[str, str] = {
    "rationale": "Why: what the decision rests on, as the record will say it for good.",
    "evidence": "One reference a line: its URI, a space, then what it is.",
    "channels": "One channel a line: the channel, a space, then the audience it serves.",
    "differing_files": "One file a line: modified, missing or unexpected, a space, its path.",
    "questions": "One question a line.",
    "reasons": "One reason a line.",
    "locations": "One URI a line.",
    "context_refs": "One URI a line.",
    "interview_ids": "One interview id a line.",
    "checked_at": "A date and time with its time zone, e.g. 2026-12-04T10:00:00Z.",
    "observed_digest": "The SHA-256 (64 hex digits) of the copy's manifest, as recomputed.",
    "transcript_digest": "sha256: and 64 hex digits.",
    "content_digest": "sha256: and 64 hex digits.",
    "expires_on": "Leave empty for a grant without an expiry.",
    "reason": "What the requester (or the public record) is told.",
    "reason_code": "The code the fairness report counts; the reason below explains it.",
    "risk_category": "A short code in lower case, e.g. self_harm or privacy.",
    "purpose": "What the access is for; the board reads it against the access policy.",
    "scope": "Which channels, for how long, for how many people.",
    "new_facts": "What the board did not know when it denied the request.",
    "resubmission_of": "The id of your denied request this one replaces, if any.",
    "unit": "A short code in lower case, e.g. ratio or usd.",
    "criteria": "Each criterion weighed, scored from 0 to 1; leave empty those not scored.",
}


@dataclass(frozen=True)
class FormField:
    """One field of a command's form, as its schema describes it."""

    name: str
    label: str
    kind: str  # line | text | choice | day | moment | number | lines | checkbox
    required: bool
    hint: str = ""
    choices: tuple[str, ...] = ()
    max_chars: int | None = None
    parts: tuple[str, ...] = ()  # what a line of a list of objects holds


@dataclass(frozen=True)
class CommandForm:
    """A command's form as a page shows it: its fields, what it is about, values and errors."""

    command: str
    title: str
    fields: tuple[FormField, ...]
    fixed: Mapping[str, str]
    values: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    refusal: str = ""
    roles: tuple[str, ...] = ()

    @property
    def action(self) -> str:
        """Where the form is posted."""
        return f"/web/record/{self.command}"

    def error_of(self, name: str) -> str:
        """The problem of one field, or ''."""
        return self.errors.get(name, "")

    def value_of(self, name: str) -> str:
        """What the field holds: what was posted, or nothing."""
        return self.values.get(name, "")


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _kind(schema: Mapping[str, Any]) -> tuple[str, tuple[str, ...], int | None]:
    """A field's kind, its choices and its length limit, from its JSON schema."""
    options = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
    shape = options[0] if options else schema
    kind = shape.get("type")
    if "enum" in shape:
        return "choice", tuple(shape["enum"]), None
    if kind == "boolean":
        return "checkbox", (), None
    if kind in ("number", "integer"):
        return "number", (), None
    if kind == "array":
        return "lines", (), None
    if shape.get("format") == "date":
        return "day", (), None
    if shape.get("format") == "date-time":
        return "moment", (), None
    limit = shape.get("maxLength")
    if kind == "string":
        return ("text" if (limit or 0) > cmd.MAX_SHORT_TEXT_CHARS else "line"), (), limit
    return "unsupported", (), None


def _object_fields(
    name: str, spec: Mapping[str, Any], definitions: Mapping[str, Any]
) -> list[FormField]:
    """The fields of an object-valued field: one a property, each optional."""
    references = [s.get("$ref", "") for s in spec.get("anyOf", [spec])]
    found = [definitions.get(ref.rsplit("/", 1)[-1]) for ref in references if ref]
    inner = next((d for d in found if d), None)
    if inner is None:
        return []
    fields: list[FormField] = []
    for part, part_spec in inner.get("properties", {}).items():
        kind, choices, limit = _kind(part_spec)
        if kind == "unsupported":
            continue
        fields.append(
            FormField(
                name=f"{name}.{part}",
                label=f"{_label(name)}: {part.replace('_', ' ')}",
                kind=kind,
                required=False,
                hint=HINTS.get(name, "") if not fields else "",
                choices=choices,
                max_chars=limit,
            )
        )
    return fields


@functools.cache
def form_fields(command: str) -> tuple[FormField, ...]:
    """The fields a person fills in for ``command``, in the command's own order, with the
    rationale and evidence last (what every decision carries)."""
    schema = cmd.COMMAND_CLASSES[command].model_json_schema()
    required = set(schema.get("required", ()))
    fields: list[FormField] = []
    for name, spec in schema["properties"].items():
        if name in _NOT_FILLED:
            continue
        kind, choices, limit = _kind(spec)
        if kind == "unsupported":
            # An object of scores (an access policy's criteria): one optional number a score,
            # named ``criteria.alignment`` and so on, gathered into the object when posted.
            fields.extend(_object_fields(name, spec, schema.get("$defs", {})))
            continue
        fields.append(
            FormField(
                name=name,
                label=_label(name),
                kind=kind,
                required=name in required,
                hint=HINTS.get(name, ""),
                choices=choices,
                max_chars=limit,
                parts=_LINE_FORMATS.get(name, ()),
            )
        )
    common = [f for f in fields if f.name in ("rationale", "evidence")]
    return tuple(f for f in fields if f not in common) + tuple(common)


def command_form(
    command: str,
    fixed: Mapping[str, str],
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    refusal: str = "",
) -> CommandForm:
    """The form of ``command`` about ``fixed`` (the model, the request...), to show."""
    if command not in cmd.COMMAND_CLASSES or command in NOT_ON_FORMS:
        raise PageError(404, f"there is no form for {excerpt(command)}")
    return CommandForm(
        command=command,
        title=cmd.COMMAND_CLASSES[command].__doc__.splitlines()[0].rstrip(".")  # type: ignore[union-attr]
        if cmd.COMMAND_CLASSES[command].__doc__
        else _label(command),
        fields=tuple(f for f in form_fields(command) if f.name not in fixed),
        fixed=dict(fixed),
        values=dict(values or {}),
        errors=dict(errors or {}),
        refusal=refusal,
        roles=tuple(sorted(roles_for(command))),
    )


# --- reading a posted form ----------------------------------------------------------------------


async def read_form(request: Request) -> dict[str, list[str]]:
    """A posted form's fields (each with every value given), within the limits above."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PageError(
            413, f"the form is {len(body)} bytes, over {MAX_FORM_BYTES}", title="Too large"
        )
    try:
        return parse_qs(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        raise PageError(400, "the form could not be read") from None


def first(form: Mapping[str, Sequence[str]], name: str) -> str:
    """A field's first value, or ''."""
    values = form.get(name) or [""]
    return values[0]


def writer(request: Request, form: Mapping[str, Sequence[str]]) -> Viewer:
    """The signed-in actor posting ``form``, its CSRF value checked.

    Any role may post: which decisions it may take is the ledger's to say (the authority
    table), as for every door. Without a session, or with a stale form, nothing is read.
    """
    seen = viewer(request)
    if seen.actor is None:
        raise PageError(
            401, "Your session has ended: sign in again, then send the form.", title="Sign in"
        )
    if not web_sessions.same_secret(first(form, "csrf"), seen.csrf):
        raise PageError(
            400,
            "This form had expired (its security value does not match your session); "
            "go back, reload the page and send it again.",
            title="Form expired",
        )
    return seen


def _line_object(parts: tuple[str, ...], line: str) -> dict[str, str]:
    """A line of a list of objects: its first word the first part, the rest the second."""
    head, _, rest = line.strip().partition(" ")
    item = {parts[0]: head}
    if rest.strip():
        item[parts[1]] = rest.strip()
    return item


def document_of(command: str, values: Mapping[str, str], actor: Actor) -> dict[str, Any]:
    """The command document a form's values stand for, the actor the session's.

    An empty optional field is left out (the command's default); an empty required one is
    left out too, so the command names it missing. Types are the command's to check: the
    document is validated by `domain.commands`, exactly as a JSON body is.
    """
    document: dict[str, Any] = {
        "command": command,
        "actor": {"id": str(actor.id), "role": str(actor.role)},
    }
    for spec in form_fields(command):
        raw = values.get(spec.name, "")
        whole, dot, part = spec.name.partition(".")
        if dot:  # one property of an object-valued field, given only if filled in
            if raw.strip():
                document.setdefault(whole, {})[part] = raw.strip()
            continue
        if spec.kind == "checkbox":
            document[spec.name] = raw in ("on", "true", "1")
        elif spec.kind == "lines":
            lines = [line.strip() for line in raw.splitlines() if line.strip()]
            if lines or spec.required:
                document[spec.name] = (
                    [_line_object(spec.parts, line) for line in lines] if spec.parts else lines
                )
        elif spec.kind == "text":
            if raw.strip():
                document[spec.name] = raw.replace("\r\n", "\n").strip()
        elif raw.strip():
            document[spec.name] = raw.strip()
    if values.get("model"):
        document["model"] = values["model"].strip()
    return document


@dataclass(frozen=True)
class Outcome:
    """What posting one form did: the decision recorded, or why nothing was."""

    recorded: Recorded | None = None
    errors: Mapping[str, str] = field(default_factory=dict)
    refusal: str = ""
    rule: str = ""
    status: int = 201

    @property
    def summary(self) -> str:
        """The refusal, or each field's problem, in one line (for a list of outcomes)."""
        return self.refusal or "; ".join(f"{k}: {v}" for k, v in self.errors.items())


def record(
    services: Services,
    command: str,
    values: Mapping[str, str],
    seen: Viewer,
    once: str | None = None,
) -> Outcome:
    """Run the form's command through `Ledger.execute`, as the API runs a posted body.

    Invalid fields come back by field; a refusal (authority, separation of duties, a lifecycle
    rule, a stale version) with its message and rule. Nothing is appended unless it is recorded.

    ``once`` is the form's own random value (`ONCE_FIELD`): the command is recorded under it as
    under an API ``Idempotency-Key`` (`domain.requests`), its outcome in the transaction that
    saves its event, so a form sent twice (a double click, a resend after a dropped
    connection) records once and the second answer is the first's. A refusal frees it: it
    appended nothing, and the corrected form is sent again.
    """
    if command not in cmd.COMMAND_CLASSES or command in NOT_ON_FORMS:
        raise PageError(404, f"there is no form for {excerpt(command)}")
    if seen.actor is None:
        raise SignInRequired
    document = document_of(command, values, seen.actor)
    if not once:
        return _execute(services, command, values, document, None)
    keys: RequestRecords = services.ledger.recorder  # type: ignore[assignment]
    actor_id = str(seen.actor.id)
    key = f"web-form:{once}"
    digest = request_digest("POST", f"/web/record/{command}", document)
    reserved = keys.reserve(
        actor_id,
        key,
        digest,
        lease_seconds=services.settings.idempotency_lease_seconds,
        ttl_seconds=services.settings.idempotency_key_hours * 3600,
    )
    if isinstance(reserved, StoredRequest):
        return _sent_before(reserved, digest, document)
    try:
        outcome = _execute(services, command, values, document, reserved)
    except RequestKeyTaken:
        stored = keys.stored_request(actor_id, key)
        if stored is None:
            return Outcome(refusal=_RESEND, rule="form-in-progress", status=409)
        return _sent_before(stored, digest, document)
    except BaseException:
        keys.release(reserved)
        raise
    if outcome.recorded is None:
        keys.release(reserved)
    return outcome


ONCE_FIELD = "once"
"""The hidden field holding a form's own random value, which records its command once."""
_RESEND = "This form is being recorded right now; reload the page in a moment to see it."


def _sent_before(stored: StoredRequest, digest: str, document: Mapping[str, Any]) -> Outcome:
    """The answer to a form sent again: what its first sending recorded."""
    if stored.request_sha256 != digest:
        return Outcome(
            refusal="This form was already sent with other values; reload it to send a new one.",
            rule="form-reused",
            status=409,
        )
    if stored.running or stored.status != 201 or stored.version is None:
        return Outcome(refusal=_RESEND, rule="form-in-progress", status=409)
    return Outcome(
        recorded=Recorded(
            model=str(document.get("model", "")),
            model_id=model_id(str(document.get("model", ""))),
            event_type=event_type_name(stored.topic or ""),
            version=stored.version,
            sequence=stored.notification_id,
        )
    )


def _execute(
    services: Services,
    command: str,
    values: Mapping[str, str],
    document: dict[str, Any],
    request: RequestKey | None,
) -> Outcome:
    try:
        parsed = cmd.parse_command_object(document)
        recorded = services.ledger.execute(
            parsed, authentication=Authentication.SESSION, request=request
        )
    except RequestKeyTaken:
        raise
    except CommandRejected as error:
        fields = error.facts.get("fields") or {}
        shown = set(values) | {f.name for f in form_fields(command)}
        by_field = {name: text for name, text in fields.items() if name in shown}
        rest = [text for name, text in fields.items() if name not in shown]
        refusal = "; ".join(rest) if rest or not by_field else ""
        if not fields:
            refusal = str(error)
        return Outcome(errors=by_field, refusal=refusal, rule=error.rule, status=400)
    except LedgerError as error:
        status = 400 if error.kind is Kind.INVALID else status_of(error)
        return Outcome(refusal=str(error), rule=error.rule, status=status)
    if services.follower is not None:
        services.follower.wake()
    return Outcome(recorded=recorded)


def recorded_path(recorded: Recorded) -> str:
    """The page of a recorded decision (what the browser is sent to after the form)."""
    return f"/web/recorded/{path_part(recorded.model)}/{recorded.version}"


# --- the pages ----------------------------------------------------------------------------------


FIXED_FIELD = "fixed"
"""The hidden field naming, comma-separated, the fields a form fixed (what it is about)."""


def _values(form: Mapping[str, Sequence[str]]) -> dict[str, str]:
    ignored = ("csrf", ONCE_FIELD, FIXED_FIELD)
    return {name: values[0] for name, values in form.items() if name not in ignored}


@router.get("/record")
def record_hub(request: Request) -> Response:
    """Every decision the reader's role may record, each form a model away.

    What is offered is what the authority table gives the role (`commands_for`); the queues
    (access requests, essays) and a researcher's own page offer the same forms in context.
    """
    seen = viewer(request)
    if seen.actor is None:
        raise SignInRequired
    offered = commands_for(seen.actor.role)
    commands = [
        (name, command_form(name, {}).title, name != "register_model")
        for name in cmd.COMMAND_CLASSES
        if name in offered and name not in NOT_ON_FORMS
    ]
    return page(
        request,
        "record_hub.html",
        seen,
        {
            "title": "Record a decision",
            "section": "record",
            "commands": commands,
            "not_on_forms": sorted(NOT_ON_FORMS & offered),
            "model_names": [m.model for m in services_of(request).queries.model_statuses()]
            if any(about_model for _, _, about_model in commands)
            else [],
        },
    )


@router.get("/record/{command}")
def record_form(request: Request, command: str) -> Response:
    """A command's form on a page of its own, about what the query names (model, request...)."""
    seen = viewer(request)
    if seen.actor is None:
        raise SignInRequired
    fixed = {
        name: value
        for name, value in request.query_params.items()
        if name in cmd.COMMAND_CLASSES.get(command, cmd.Command).model_fields
        and name not in _NOT_FILLED
        and len(value) <= cmd.MAX_NAME_CHARS
    }
    form = command_form(command, fixed)
    return _form_page(request, seen, form)


def _form_page(request: Request, seen: Viewer, form: CommandForm, status: int = 200) -> Response:
    return page(
        request,
        "record.html",
        seen,
        {
            "title": form.title,
            "section": "record",
            "form": form,
            "denial_reasons": DENIAL_REASONS,
        },
        status=status,
    )


@router.post("/record/{command}")
async def record_posted(request: Request, command: str) -> Response:
    """Record the posted form's decision, or show the form again with what is wrong."""
    posted = await read_form(request)
    seen = writer(request, posted)
    values = _values(posted)
    outcome = record(services_of(request), command, values, seen, first(posted, ONCE_FIELD))
    if outcome.recorded is not None:
        return RedirectResponse(recorded_path(outcome.recorded), status_code=303)
    # What the form was about (the model, the request or essay) stays fixed when it is shown
    # again: the form named those fields (`FIXED_FIELD`), and only the command's own count.
    named = set(first(posted, FIXED_FIELD).split(","))
    fixed = {
        name: values[name]
        for name in values
        if name in cmd.COMMAND_CLASSES[command].model_fields
        and name in named
        and name not in _NOT_FILLED
    }
    if "model" in values:
        fixed["model"] = values["model"]
    form = command_form(command, fixed, values, outcome.errors, outcome.refusal)
    return _form_page(request, seen, form, status=outcome.status)


@router.get("/recorded/{model}/{version}")
def recorded_page(request: Request, model: str, version: str) -> Response:
    """A decision just recorded: its event, the model version, and its sequence in the log."""
    seen = viewer(request)
    if seen.actor is None:
        raise SignInRequired
    if not (version.isascii() and version.isdigit() and len(version) <= 18):
        raise PageError(404, f"there is no version {excerpt(version)}")
    services = services_of(request)
    number = int(version)
    # The model's events up to that version, private values opened only where this reader may.
    history = services.queries.history(model, version=number, reader=seen.actor)
    if history.version != number or not history.events:
        raise PageError(404, f"model {excerpt(model)} has no version {number}")
    event = history.events[-1]
    sequence = services.log.sequence_of(model, number)
    return page(
        request,
        "recorded.html",
        seen,
        {
            "title": "Recorded",
            "section": "record",
            "model": model,
            "version": number,
            "event": event,
            "sequence": sequence,
        },
    )


__all__ = [
    "CommandForm",
    "FormField",
    "Outcome",
    "command_form",
    "document_of",
    "first",
    "form_fields",
    "read_form",
    "record",
    "recorded_path",
    "writer",
]
