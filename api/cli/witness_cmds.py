"""CLI commands of Reliquary as a witness of other logs (c2sp.org/tlog-witness)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.ledger_cmds import JsonFlag, _settings
from api.cli.output import print_json

witness_app = typer.Typer(
    help="Reliquary as a C2SP witness: cosign other logs' checkpoints.", no_args_is_help=True
)


@witness_app.command()
def key(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Create the key with this name if the file has none"),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="The key file (default: RELIQUARY_WITNESS_KEY)"),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Print the witness's cosigner verifier key (type 0x04), creating the key with --name."""
    from domain.errors import SigningKeyError
    from projections.translog.witness import create_witness_key, witness_verifier_key

    path = file or _settings(ctx).witness_key
    if path is None:
        raise SigningKeyError("expected --file or RELIQUARY_WITNESS_KEY: the witness key's file")
    try:
        created = create_witness_key(path, name) if name else False
    except ValueError as error:  # a key name with a space or '+'
        raise typer.BadParameter(str(error), param_hint="--name") from None
    verifier = witness_verifier_key(path)
    if as_json:
        print_json({"verifier_key": verifier, "witness_key_file": str(path), "created": created})
    else:
        print(verifier)  # noqa: T201


def register(app: typer.Typer) -> None:
    """Add these commands to the CLI."""
    app.add_typer(witness_app, name="witness")
