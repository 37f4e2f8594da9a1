"""The full `reliquary` CLI: the typer application with every command.

Imported only when a command line needs it (see `api.cli.main`): `manifest` and
`verify-archive` run without it (`api.cli.fast`), everything else, help included, goes here.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="reliquary",
    help="Reliquary: the governance ledger for the retirement of AI models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _options(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="RELIQUARY_DATABASE_URL",
            help="sqlite:///FILE (default sqlite:///reliquary.db) or postgresql://user@host/db",
            show_envvar=True,
        ),
    ] = None,
) -> None:
    """Options shared by every command."""
    ctx.obj = {"database_url": database_url}


def _register_commands() -> None:
    from api.cli import (
        archive_cmds,
        audit_cmds,
        checklist_cmds,
        ledger_cmds,
        log_cmds,
        monitor_cmds,
        service_cmds,
        witness_cmds,
    )

    ledger_cmds.register(app)
    audit_cmds.register(app)
    log_cmds.register(app)
    archive_cmds.register(app)
    service_cmds.register(app)
    checklist_cmds.register(app)
    witness_cmds.register(app)
    monitor_cmds.register(app)


_register_commands()


def run_typer(argv: list[str] | None) -> int:
    """Run the command line through typer; its usage errors, ``Exit`` and ``Abort`` become exit
    codes here, every other error goes up to `api.cli.main`."""
    try:
        result = app(args=argv, prog_name="reliquary", standalone_mode=False)
    except typer.Exit as done:
        return done.exit_code
    except typer.Abort:
        print("aborted", file=sys.stderr)  # noqa: T201
        return 1
    except _click_exception() as error:
        usage: Any = error  # click's exceptions are untyped here (typer vendors click)
        usage.show()
        return int(usage.exit_code)
    # In non-standalone mode click returns a command's exit code instead of exiting.
    return result if isinstance(result, int) else 0


def _click_exception() -> type[Exception]:
    # typer 0.29 vendors click (typer._click); earlier releases use click itself. Either way
    # ClickException is an ancestor of typer.BadParameter.
    ancestors = typer.BadParameter.__mro__
    return next(cls for cls in ancestors if cls.__name__ == "ClickException")
