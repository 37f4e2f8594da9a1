"""CLI commands of Reliquary as a witness of other logs (c2sp.org/tlog-witness)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

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


# How long one witness may take to answer; a witness that takes longer is "unreachable".
DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_TIMEOUT_SECONDS = 300.0


def _http_post(timeout: float) -> Any:
    """The production ``post`` of `submit_checkpoint`: one httpx POST per submission."""
    import httpx

    from projections.translog.witness_policy import (
        MAX_ANSWER_BYTES,
        PolicyWitness,
        PostAnswer,
        WitnessUnreachable,
    )

    def post(witness: PolicyWitness, body: bytes) -> PostAnswer:
        try:
            with (
                httpx.Client(timeout=timeout) as client,
                client.stream(
                    "POST",
                    witness.add_checkpoint_url,
                    content=body,
                    headers={"Content-Type": "text/plain; charset=utf-8"},
                ) as response,
            ):
                received = b""
                for chunk in response.iter_bytes():
                    received += chunk
                    if len(received) > MAX_ANSWER_BYTES:  # enough to refuse it; read no more
                        break
                return PostAnswer(response.status_code, received.decode("utf-8", "replace"))
        except httpx.HTTPError as error:
            raise WitnessUnreachable(f"{type(error).__name__}: {error}") from None

    return post


@witness_app.command()
def submit(
    ctx: typer.Context,
    policy_file: Annotated[Path, typer.Argument(help="The witness policy (JSON)")],
    sign: Annotated[
        bool,
        typer.Option("--sign/--latest", help="Sign a checkpoint of every new event first"),
    ] = True,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", min=0.1, max=MAX_TIMEOUT_SECONDS, help="Seconds each witness may take"
        ),
    ] = DEFAULT_TIMEOUT_SECONDS,
    as_json: JsonFlag = False,
) -> None:
    """Submit the log's checkpoint to the policy's witnesses and store their cosignatures.

    Exit 0 when the quorum is met, 1 when it is not, 3 when a witness raised an alarm (422).
    """
    from api.cli.ledger_cmds import _services
    from projections.translog.cosignature_store import CosignatureStore, submit_latest
    from projections.translog.witness_policy import load_witness_policy

    policy = load_witness_policy(policy_file)
    services = _services(ctx)
    try:
        checkpoint, report = submit_latest(
            services.log,
            CosignatureStore(services.views.recorder),
            policy,
            _http_post(timeout),
            sign=sign,
        )
    finally:
        services.close()
    if as_json:
        print_json(
            {
                "size": checkpoint.size,
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
        )
    else:
        for o in report.outcomes:
            print(f"{o.witness}: {o.outcome} ({o.detail})")  # noqa: T201
        met = "met" if report.quorum_met else "NOT met"
        print(  # noqa: T201
            f"size {checkpoint.size}: {len(report.cosignatures)} cosignature(s), "
            f"quorum {report.quorum} {met}"
        )
    if report.alarms:
        raise typer.Exit(3)
    if not report.quorum_met:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add these commands to the CLI."""
    app.add_typer(witness_app, name="witness")
