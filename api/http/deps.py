"""FastAPI dependencies: the services, and the caller's actor from its bearer token.

The HTTP layer only says who the caller is (`current_actor`, authenticated by its token);
which decisions that actor may take is the ledger's rule (`domain.authority`), checked for
every command whatever door it came through.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.bootstrap import Services
from api.http.problems import Problem
from domain.authority import READER_ROLES, may_read
from domain.decisions import Actor


def get_services(request: Request) -> Services:
    """The services of the running app."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def current_actor(request: Request, services: ServicesDep) -> Actor:
    """The actor named by the request's bearer token (401 without a valid one)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(
            401, "unauthenticated", "Unauthenticated", "send Authorization: Bearer <token>"
        )
    actor = services.actors.actor_for(token.strip())
    if actor is None:
        raise Problem(401, "unauthenticated", "Unauthenticated", "the token is unknown or revoked")
    return actor


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
