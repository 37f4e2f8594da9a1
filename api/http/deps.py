"""FastAPI dependencies: the services, and the caller's actor from its bearer token."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from api.actors import ActorStore
from api.http.idempotency import IdempotencyStore
from api.http.problems import Problem
from api.settings import Settings
from domain.decisions import Actor
from domain.ledger import Ledger
from projections.runner import ViewRunner
from projections.translog.tree import TransparencyLog


@dataclass
class Services:
    """Everything a request may use, built once when the service starts."""

    settings: Settings
    ledger: Ledger
    log: TransparencyLog
    views: ViewRunner
    actors: ActorStore
    idempotency: IdempotencyStore

    def signing_key(self) -> str | None:
        """The ledger's signing key, if this service holds one."""
        from api.settings import signing_key_path
        from domain.errors import SigningKeyError
        from projections.translog.keys import load_signing_key

        try:
            return load_signing_key(signing_key_path(self.settings))
        except SigningKeyError:
            return None


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

# Who may read the ledger's records beyond the public log: everyone but researchers, who see
# only what is public (they may read their own requests' outcomes through the log).
READERS = ("auditor", "board", "curator", "interviewer", "reviewer")


def require_role(*roles: str) -> Callable[..., Actor]:
    """A dependency that admits only actors in one of ``roles`` (403 otherwise)."""

    def check(actor: ActorDep) -> Actor:
        if actor.role not in roles:
            raise Problem(
                403,
                "forbidden",
                "Forbidden",
                f"the {actor.role} role may not do this; it needs one of: {', '.join(roles)}",
                role=actor.role,
                allowed=list(roles),
            )
        return actor

    return check


ReaderDep = Annotated[Actor, Depends(require_role(*READERS))]


def caught_up_views(services: ServicesDep) -> Any:
    """The views' recorder, after the views have taken every new event."""
    services.views.catch_up()
    return services.views.recorder
