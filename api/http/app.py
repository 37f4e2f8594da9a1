"""The HTTP service: `create_app(settings)` builds it; nothing runs at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from api.settings import Settings

# Swagger UI's script, style and icon, served by the service itself (from the
# swagger-ui-bundle-v2 package), so that /docs works on a network that reaches no CDN.
DOCS_ASSETS = "/docs/assets"


def create_app(settings: Settings) -> FastAPI:
    """The Reliquary API over the ledger, log and views that ``settings`` name."""
    from api.http import problems
    from api.http.limits import RequestGuard
    from api.http.routes import (
        archive,
        checklist,
        commands,
        health,
        public,
        queries,
        transparency,
        witness,
    )
    from api.web.context import router as web_router

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from api.bootstrap import build_services

        services = build_services(settings)
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
        docs_url=None,  # served by `_install_docs`, from here
        redoc_url=None,  # ReDoc would load from a CDN; Swagger UI at /docs is the explorer
    )
    problems.install(app)
    app.include_router(commands.router)
    app.include_router(queries.router)
    app.include_router(checklist.router)
    app.include_router(transparency.router)
    app.include_router(transparency.tiles_router)
    app.include_router(archive.router)
    app.include_router(public.router)
    app.include_router(health.router)
    witness.install(app, settings)  # POST /witness/add-checkpoint, only if configured
    # The log's own witness policy is read now, so that a bad one stops `serve` at start.
    from api.settings import own_witness_policy

    own_witness_policy(settings)
    from api.web.pages import install_pages

    install_pages(app)
    _install_docs(app)
    # Every request passes the guard first: its id, the URL's encoding, the body's size, the
    # token of a command before its body, duplicate JSON keys, and any unforeseen failure.
    app.add_middleware(
        RequestGuard,
        max_body_bytes=settings.max_document_bytes,
        routes=app.routes,
        web_prefix=web_router.prefix,
    )
    return app


def _install_docs(app: FastAPI) -> None:
    """Swagger UI at ``/docs``, its assets served from ``DOCS_ASSETS``, nothing from elsewhere."""
    from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon-32x32.png",
            # Swagger UI would otherwise show a badge fetched from validator.swagger.io (sending
            # it this service's address) whenever the host is not localhost.
            swagger_ui_parameters={"validatorUrl": None},
        )


def _operation_id(route: APIRoute) -> str:
    tag = route.tags[0] if route.tags else "api"
    return f"{tag}-{route.name}"
