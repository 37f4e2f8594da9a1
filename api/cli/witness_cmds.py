"""CLI commands of Reliquary as a witness of other logs (c2sp.org/tlog-witness)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.ledger_cmds import JsonFlag, _settings
from api.cli.output import print_json

# The bounds of --timeout (projections.translog.witness_transport, not imported at start).
MAX_TIMEOUT_SECONDS = 300.0

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


@witness_app.command()
def submit(
    ctx: typer.Context,
    policy_file: Annotated[
        Path | None,
        typer.Argument(help="The witness policy (JSON); default: RELIQUARY_WITNESS_POLICY"),
    ] = None,
    sign: Annotated[
        bool,
        typer.Option("--sign/--latest", help="Sign a checkpoint of every new event first"),
    ] = True,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=0.1,
            max=MAX_TIMEOUT_SECONDS,
            help="Seconds each witness may take (default: RELIQUARY_WITNESS_TIMEOUT_SECONDS)",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Submit the log's checkpoint to the policy's witnesses and store their cosignatures.

    Exit 0 when the quorum is met, 1 when it is not, 3 when a witness raised an alarm (422).
    """
    from api.cli.ledger_cmds import _services

    services = _services(ctx)
    try:
        checkpoint, report = services.submit_to_witnesses(
            sign=sign, policy_file=policy_file, timeout=timeout
        )
    finally:
        services.close()
    present_submission(checkpoint.size, report, as_json=as_json)
    if report.alarms:
        raise typer.Exit(3)
    if not report.quorum_met:
        raise typer.Exit(1)


def present_submission(size: int, report: Any, *, as_json: bool, to_stderr: bool = False) -> None:
    """Each witness's outcome and the quorum, as text (or JSON on stdout)."""
    from api.cli.output import say

    if as_json:
        print_json(submission_json(size, report))
        return
    show = say if to_stderr else print
    for o in report.outcomes:
        show(f"{o.witness}: {o.outcome} ({o.detail})")
    met = "met" if report.quorum_met else "NOT met"
    show(f"size {size}: {len(report.cosignatures)} cosignature(s), quorum {report.quorum} {met}")


def submission_json(size: int, report: Any) -> dict[str, Any]:
    """A witness submission as JSON (`reliquary witness submit --json`, `checkpoint --json`)."""
    return {
        "size": size,
        "note": report.cosigned_note,
        "quorum": report.quorum,
        "quorum_met": report.quorum_met,
        "cosignatures": len(report.cosignatures),
        "witnesses": [
            {
                "name": o.witness,
                "outcome": o.outcome,
                "detail": o.detail,
                "attempts": o.attempts,
                "cosignature": o.cosignature,
                "timestamp": o.timestamp,
            }
            for o in report.outcomes
        ],
    }


def register(app: typer.Typer) -> None:
    """Add these commands to the CLI."""
    app.add_typer(witness_app, name="witness")
