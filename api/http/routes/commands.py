"""One POST endpoint per command, its body validated by the same pydantic model as the CLI's.

Each endpoint parses (the body, the path, the caller's actor from its token), calls
`Ledger.execute` (which checks the actor's authority, then the rules), and presents what was
appended. An ``If-Match``
header with the model version the caller saw makes a stale write a 409; an
``Idempotency-Key`` makes a repeat append nothing and return the first response again.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, create_model

from api.bootstrap import Services
from api.http.deps import ActorDep, ServicesDep
from api.http.idempotency import apply_once, request_digest
from api.http.problems import Problem, ledger_problem
from domain import commands as cmd
from domain.authority import Authentication, roles_for
from domain.decisions import Actor
from domain.errors import LedgerError, RequestKeyTaken
from domain.ledger import event_type_name
from domain.requests import RequestKey, StoredRequest

router = APIRouter(tags=["decisions"])


@dataclass(frozen=True)
class Route:
    """Where a command is posted, and which path parts fill which fields.

    Who may post it is not the route's business: the ledger checks the authority table
    (`domain.authority`) for every command, and the route's documentation quotes it.
    """

    command: str
    path: str
    path_fields: tuple[str, ...]
    summary: str

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles the authority table lets issue this command (for documentation)."""
        return tuple(sorted(roles_for(self.command)))


ROUTES = (
    Route("register_model", "/models/{model}", (), "Register a model"),
    Route(
        "schedule_retirement",
        "/models/{model}/retirement/schedule",
        (),
        "Schedule a model's retirement",
    ),
    Route("retire_model", "/models/{model}/retirement", (), "Retire a model"),
    Route("preserve_weights", "/models/{model}/weights", (), "Record preserved weights"),
    Route("archive_artifact", "/models/{model}/artifacts", (), "Record an artifact"),
    Route(
        "record_archive_check",
        "/models/{model}/archive-checks",
        (),
        "Record a check of an archived copy",
    ),
    Route(
        "record_interview",
        "/models/{model}/interviews",
        (),
        "Record an interview",
    ),
    Route(
        "record_preference",
        "/models/{model}/preferences",
        (),
        "Record a preference",
    ),
    Route(
        "reaffirm_preference",
        "/models/{model}/preferences/{preference_id}/reaffirm",
        ("preference_id",),
        "Record a reaffirmation",
    ),
    Route(
        "contradict_preference",
        "/models/{model}/preferences/{preference_id}/contradict",
        ("preference_id",),
        "Record a contradiction",
    ),
    Route(
        "decide_preference",
        "/models/{model}/preferences/{preference_id}/decide",
        ("preference_id",),
        "Decide a preference",
    ),
    Route(
        "set_access_policy",
        "/models/{model}/access-policy",
        (),
        "Set the access policy",
    ),
    Route("request_access", "/models/{model}/access-requests", (), "Request access"),
    Route(
        "approve_access_request",
        "/models/{model}/access-requests/{request_id}/approve",
        ("request_id",),
        "Approve an access request",
    ),
    Route(
        "deny_access_request",
        "/models/{model}/access-requests/{request_id}/deny",
        ("request_id",),
        "Deny an access request",
    ),
    Route(
        "appeal_access_denial",
        "/models/{model}/access-requests/{request_id}/appeal",
        ("request_id",),
        "Appeal a denial",
    ),
    Route(
        "revoke_access",
        "/models/{model}/access-requests/{request_id}/revoke",
        ("request_id",),
        "Revoke a grant",
    ),
    Route(
        "erase_subject",
        "/models/{model}/subjects/{subject}/erase",
        ("subject",),
        "Erase a person's private values",
    ),
    Route("draft_essay", "/models/{model}/essays", (), "Record a draft essay"),
    Route(
        "approve_essay",
        "/models/{model}/essays/{essay_id}/approve",
        ("essay_id",),
        "Approve an essay",
    ),
    Route(
        "veto_essay",
        "/models/{model}/essays/{essay_id}/veto",
        ("essay_id",),
        "Veto an essay",
    ),
    Route(
        "publish_essay",
        "/models/{model}/essays/{essay_id}/publish",
        ("essay_id",),
        "Publish an approved essay",
    ),
    Route("record_signal", "/models/{model}/signals", (), "Record a monitoring signal"),
)


class RecordedPublic(BaseModel):
    """What a command appended."""

    model: str
    event: str
    version: int
    sequence: int | None
    notification_id: int | None


def body_model(command_class: type[cmd.Command], excluded: tuple[str, ...]) -> type[BaseModel]:
    """The request body of a command: its fields, less those the path and the token give."""
    fields: dict[str, Any] = {
        name: (field.annotation, field)
        for name, field in command_class.model_fields.items()
        if name not in {"command", "model", "actor", "expected_version", *excluded}
    }
    model: type[BaseModel] = create_model(
        f"{command_class.__name__}Body",
        __config__=ConfigDict(extra="forbid", protected_namespaces=()),
        __doc__=command_class.__doc__,
        **fields,
    )
    return model


def _expected_version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise Problem(
            400,
            "invalid-if-match",
            "Invalid If-Match",
            f'If-Match must carry the model version you saw, e.g. "3"; got {if_match!r}',
        )
    return int(text)


def _execute(
    services: Services,
    document: dict[str, Any],
    expected: int | None,
    request: RequestKey | None = None,
) -> JSONResponse:
    """Parse, run, present; a refusal is a problem response, nothing appended.

    The command is recorded when this returns 201: the transparency log takes the event
    afterwards (`LogFollower`), so its ``sequence`` is given only if the log already has it.
    Under an Idempotency-Key (``request``) the key's outcome is recorded with the event; a
    lease taken over by another request (`RequestKeyTaken`) is the caller's to answer.
    """
    try:
        command = cmd.parse_command_object(document)
        recorded = services.ledger.execute(
            command,
            authentication=Authentication.TOKEN,
            expected_version=expected,
            request=request,
        )
    except RequestKeyTaken:
        raise
    except LedgerError as error:
        return ledger_problem(error)
    if services.follower is not None:
        services.follower.wake()
    return _created(
        services, recorded.model, recorded.event_type, recorded.version, recorded.sequence
    )


def _created(
    services: Services, model: str, event: str, version: int, notification_id: int | None
) -> JSONResponse:
    public = RecordedPublic(
        model=model,
        event=event,
        version=version,
        sequence=services.log.sequence_of(model, version),
        notification_id=notification_id,
    )
    return JSONResponse(public.model_dump(), status_code=201, headers={"ETag": f'"{version}"'})


def _make_endpoint(route: Route, body_class: type[BaseModel]) -> Any:
    def endpoint(request: Request, services: ServicesDep, **kwargs: Any) -> Response:
        actor: Actor = kwargs.pop("actor")
        body: BaseModel = kwargs.pop("body")
        if_match = kwargs.pop("if_match")
        idempotency_key = kwargs.pop("idempotency_key")
        document = {
            "command": route.command,
            "actor": {"id": actor.id, "role": actor.role},
            **body.model_dump(mode="json", exclude_unset=True),
            **kwargs,  # model and the path's ids
        }
        expected = _expected_version(if_match)
        if idempotency_key is None:
            return _execute(services, document, expected)

        def replay(stored: StoredRequest) -> Response:
            return _created(
                services,
                document["model"],
                event_type_name(stored.topic or ""),
                stored.version or 0,
                stored.notification_id,
            )

        return apply_once(
            services,
            str(actor.id),
            idempotency_key,
            request_digest(request.method, request.url.path, document),
            lambda key: _execute(services, document, expected, key),
            replay,
        )

    parameters = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
        inspect.Parameter("services", inspect.Parameter.KEYWORD_ONLY, annotation=ServicesDep),
        inspect.Parameter(
            "actor",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=ActorDep,
        ),
        inspect.Parameter(
            "body", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[body_class, Body()]
        ),
        inspect.Parameter(
            "model",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[str, Path(min_length=1, max_length=200)],
        ),
        *(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[str, Path(min_length=1, max_length=200)],
            )
            for name in route.path_fields
        ),
        inspect.Parameter(
            "if_match",
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[
                str | None, Header(description="The model version you saw (409 if stale)")
            ],
        ),
        inspect.Parameter(
            "idempotency_key",
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[
                str | None,
                Header(
                    max_length=200, description="Apply once; a repeat returns the first response"
                ),
            ],
        ),
    ]
    endpoint.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    endpoint.__name__ = route.command
    return endpoint


for _route in ROUTES:
    _class = cmd.COMMAND_CLASSES[_route.command]
    router.add_api_route(
        _route.path,
        _make_endpoint(_route, body_model(_class, _route.path_fields)),
        methods=["POST"],
        status_code=201,
        response_model=RecordedPublic,
        summary=_route.summary,
        description=(_class.__doc__ or "") + f"\n\nRoles: {', '.join(_route.roles)}.",
        operation_id=f"decisions-{_route.command}",
        responses={
            401: {"description": "No valid token"},
            403: {"description": "The token's role may not do this"},
            404: {"description": "The model (or the request, essay, preference) does not exist"},
            409: {"description": "A lifecycle rule refuses it, or If-Match is stale"},
            422: {"description": "The body is invalid"},
        },
    )
