"""The `reliquary` command line: a thin layer that parses, calls the ledger, and presents.

Each command imports what it uses inside its body, so ``reliquary schema`` or ``reliquary
--help`` never pays for what other commands need. The two commands that hash weights,
``manifest`` and ``verify-archive``, do not even pay for the CLI framework: `main` runs them
through `api.cli.fast`, and every other command line through the typer application
(`api.cli.typer_app`, also ``api.cli.app``), imported only then. Errors the ledger reports
become one line on stderr and the exit code of their kind (`exit_code`); usage errors exit 2;
no traceback reaches the user.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return its exit code (0 done, 1 refused, 2 usage or invalid input, 3 damaged
    data, 4 something unavailable, such as the signing key)."""
    from api.cli import fast
    from domain.errors import LedgerError

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        try:
            return fast.run(args)
        except fast.HandOver:
            from api.cli.typer_app import run_typer

            return run_typer(args)
    except LedgerError as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        return exit_code(error)
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


def _store_error() -> type[Exception]:
    from eventsourcing.persistence import PersistenceError

    return PersistenceError


def __getattr__(name: str) -> Any:
    # ``api.cli.app``, the typer application, built on first use (tests and tools read it).
    if name == "app":
        from api.cli.typer_app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
