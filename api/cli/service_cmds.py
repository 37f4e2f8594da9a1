"""CLI commands for the HTTP service: serve it, and manage the actors that may call it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import typer

from api.cli.ledger_cmds import JsonFlag, _settings
from api.cli.output import print_json, print_table, say

actors_app = typer.Typer(
    help="Bearer tokens, one per actor, stored only as hashes.", no_args_is_help=True
)


def _actors(ctx: typer.Context):  # type: ignore[no-untyped-def]
    from api.cli.ledger_cmds import _services

    services = _services(ctx)
    return services, services.actors


@actors_app.command("add")
def actors_add(
    ctx: typer.Context,
    actor_id: Annotated[str, typer.Argument(metavar="ID", help="Who the token is for")],
    role: Annotated[
        str,
        typer.Option("--role", help="curator, interviewer, board, reviewer, researcher or auditor"),
    ],
    as_json: JsonFlag = False,
) -> None:
    """Issue a token for an actor in a role; it is shown once."""
    services, store = _actors(ctx)
    issued = store.add(actor_id, role)
    services.close()
    if as_json:
        print_json({"actor_id": issued.actor.id, "role": issued.actor.role, "token": issued.token})
    else:
        say(f"OK: token for {issued.actor.id} ({issued.actor.role}); it is not shown again:")
        print(issued.token)  # noqa: T201


@actors_app.command("revoke")
def actors_revoke(
    ctx: typer.Context,
    actor_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: JsonFlag = False,
) -> None:
    """Revoke every live token of an actor."""
    services, store = _actors(ctx)
    count = store.revoke(actor_id)
    services.close()
    if as_json:
        print_json({"actor_id": actor_id, "revoked": count})
    else:
        say(f"OK: revoked {count} token(s) of {actor_id}")


@actors_app.command("list")
def actors_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every actor and role with a token (never the tokens)."""
    services, store = _actors(ctx)
    rows = store.list()
    services.close()
    if as_json:
        print_json(rows)
        return
    print_table(
        "Actors",
        ["actor", "role", "created", "revoked"],
        [(r["actor_id"], r["role"], r["created_at"], r["revoked_at"]) for r in rows],
    )


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    auditor_token: Annotated[
        bool, typer.Option("--auditor-token", help="Issue and print an auditor token first")
    ] = False,
    demo_tokens: Annotated[
        bool,
        typer.Option(
            "--demo-tokens",
            help="Issue and print a token for each role to try: auditor, board, reviewer, "
            "researcher (demo-auditor, demo-board, ...)",
        ),
    ] = False,
) -> None:
    """Serve the web console (/web/) and the HTTP API (OpenAPI at /openapi.json, docs at /docs)."""
    import uvicorn

    from api.http.app import create_app

    settings = _settings(ctx)
    tokens: dict[str, str] = {}
    if auditor_token or demo_tokens:
        services, store = _actors(ctx)
        for role, actor_id in DEMO_ACTORS if demo_tokens else DEMO_ACTORS[:1]:
            tokens[role] = store.add(actor_id, role).token
        services.close()
    for line in banner(host, port, tokens):
        say(line)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


DEMO_ACTORS = (
    ("auditor", "demo-auditor"),
    ("board", "demo-board"),
    ("reviewer", "demo-reviewer"),
    ("researcher", "demo-researcher"),
)
"""The actors `serve --demo-tokens` issues a token to: one of each role a person tries in the
console (reads and checks; decides access requests; reviews essays; asks for access)."""


def banner(host: str, port: int, tokens: Mapping[str, str] | None) -> list[str]:
    """What `serve` says before it serves: the web console first (the page for people, which
    works on a closed network), the tokens to sign in with if some were issued (by role), then
    the API docs.

    Each line fits an 80-column terminal for any IPv4 or IPv6 address and port.
    """
    base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    lines = [f"web console: {base}/web/"]
    if tokens:
        lines.append("sign in there with a token of the role to try (shown once):")
        lines += [f"  {role:<11} {token}" for role, token in tokens.items()]
    lines += [f"API docs: {base}/docs", "serving until Ctrl-C"]
    return lines


def register(app: typer.Typer) -> None:
    """Add these commands to the CLI."""
    app.add_typer(actors_app, name="actors")
    app.command()(serve)
