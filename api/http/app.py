"""The HTTP service: `create_app(settings)` builds it; nothing runs at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from api.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    """The Reliquary API over the ledger, log and views that ``settings`` name."""
    from api.http import problems
    from api.http.routes import commands, queries, transparency

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from api.bootstrap import build_services

        services = build_services(settings)
        services.views.create_tables()
        services.follow_log()  # the log follows the writes; no request waits for it
        app.state.services = services
        try:
            yield
        finally:
            services.close()

    app = FastAPI(
        title="Reliquary",
        version="0.1.0",
        summary="The governance ledger for the retirement of AI models.",
        description=(
            "Every decision about a retired model as an immutable, signed event. Commands "
            "need a bearer token whose role may take them; checkpoints, proofs, the public "
            "key and archive manifests are public. Errors are RFC 9457 problem details."
        ),
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    problems.install(app)
    app.include_router(commands.router)
    app.include_router(queries.router)
    app.include_router(transparency.router)
    app.include_router(transparency.tiles_router)
    from api.web.pages import install_pages

    install_pages(app)
    return app


def _operation_id(route: APIRoute) -> str:
    tag = route.tags[0] if route.tags else "api"
    return f"{tag}-{route.name}"
