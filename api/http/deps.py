"""FastAPI dependencies: the services, and the caller's actor from its bearer token.

The HTTP layer only says who the caller is (`current_actor`, authenticated by its token);
which decisions that actor may take is the ledger's rule (`domain.authority`), checked for
every command whatever door it came through.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from api.bootstrap import Services
from api.http.problems import Problem
from domain.authority import READER_ROLES, may_read
from domain.decisions import Actor

# Where the request guard (`api.http.limits`) leaves the actor it authenticated before the body
# was read, so that `current_actor` does not look the token up twice.
AUTHENTICATED_ACTOR = "reliquary_actor"


def get_services(request: Request) -> Services:
    """The services of the running app."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def authenticate(services: Services, authorization: str | None) -> Actor:
    """The actor an ``Authorization: Bearer`` header names, or a 401 `Problem`."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(
            401, "unauthenticated", "Unauthenticated", "send Authorization: Bearer <token>"
        )
    actor = services.actors.actor_for(token.strip())
    if actor is None:
        raise Problem(401, "unauthenticated", "Unauthenticated", "the token is unknown or revoked")
    return actor


def current_actor(request: Request, services: ServicesDep) -> Actor:
    """The actor named by the request's bearer token (401 without a valid one)."""
    known = request.scope.get("state", {}).get(AUTHENTICATED_ACTOR)
    if isinstance(known, Actor):  # the guard checked the token before the body was read
        return known
    return authenticate(services, request.headers.get("authorization"))


def token_before_body(route: BaseRoute) -> bool:
    """Whether ``route`` reads a body and needs `current_actor`: its token is checked first.

    FastAPI reads and parses a route's body before it solves the route's dependencies, so a
    caller without a token would have its body read (and a malformed one answered 422). The
    request guard answers such a route's 401 before the body instead.
    """
    if not isinstance(route, APIRoute) or route.body_field is None:
        return False
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if dependency.call is current_actor:
            return True
        pending.extend(dependency.dependencies)
    return False


ActorDep = Annotated[Actor, Depends(current_actor)]


def reader(actor: ActorDep) -> Actor:
    """The caller, if its role may read the records (`domain.authority.may_read`; 403 if not)."""
    if not may_read(actor.role):
        readers = ", ".join(sorted(READER_ROLES))
        raise Problem(
            403,
            "forbidden",
            "Forbidden",
            f"the {actor.role} role may not read the records; they are for: {readers}",
            role=actor.role,
            allowed=sorted(READER_ROLES),
        )
    return actor


ReaderDep = Annotated[Actor, Depends(reader)]
