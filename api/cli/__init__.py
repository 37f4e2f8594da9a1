"""The `reliquary` command line: a thin layer that parses, calls the ledger, and presents.

Each command imports what it uses inside its body, so ``reliquary schema`` or ``reliquary
--help`` never pays for what other commands need. Errors the ledger reports become one line
on stderr and the exit code of their kind (`exit_code`); usage errors exit 2; no traceback
reaches the user.
"""

from __future__ import annotations

import os
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


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return its exit code (0 done, 1 refused, 2 usage or invalid input, 3 damaged
    data, 4 something unavailable, such as the signing key)."""
    from domain.errors import LedgerError

    try:
        result = app(args=argv, prog_name="reliquary", standalone_mode=False)
    except LedgerError as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        return exit_code(error)
    except typer.Exit as done:
        return done.exit_code
    except typer.Abort:
        print("aborted", file=sys.stderr)  # noqa: T201
        return 1
    except _click_exception() as error:
        usage: Any = error  # click's exceptions are untyped here (typer vendors click)
        usage.show()
        return int(usage.exit_code)
    except _store_error() as error:
        print(f"error: the ledger's store is unavailable: {error}", file=sys.stderr)  # noqa: T201
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)  # noqa: T201
        return 130
    except Exception as error:  # a bug or an unreachable store: one line, no traceback
        if os.environ.get("RELIQUARY_DEBUG"):
            raise
        print(  # noqa: T201
            f"error: {type(error).__name__}: {error} (set RELIQUARY_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return 1
    # In non-standalone mode click returns a command's exit code instead of exiting.
    return result if isinstance(result, int) else 0


def exit_code(error: Any) -> int:
    """The exit code of a ledger error: the one its kind says (see docs/commands.md)."""
    from domain.errors import Kind

    codes = {
        Kind.INVALID: 2,
        Kind.NOT_FOUND: 1,
        Kind.CONFLICT: 1,
        Kind.REFUSED: 1,
        Kind.DAMAGED: 3,
        Kind.UNAVAILABLE: 4,
    }
    return codes[error.kind]


def _click_exception() -> type[Exception]:
    # typer 0.29 vendors click (typer._click); earlier releases use click itself. Either way
    # ClickException is an ancestor of typer.BadParameter.
    ancestors = typer.BadParameter.__mro__
    return next(cls for cls in ancestors if cls.__name__ == "ClickException")


def _store_error() -> type[Exception]:
    from eventsourcing.persistence import PersistenceError

    return PersistenceError


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
