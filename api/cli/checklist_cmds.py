"""The retirement checklist at the CLI: each step of a careful retirement, per model."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.ledger_cmds import JsonFlag, _services
from api.cli.output import print_json, print_table, say


def checklist(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Argument(help="One model (every model by default)")] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="As the ledger stood then: a day (its end, UTC) or an ISO 8601 moment with a "
            "time zone",
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 3 when any step is an anomaly")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Was each retirement done properly? Each step done, not yet, not applicable, or an anomaly."""
    from domain.commands import parse_as_of
    from projections.checklist import ANOMALY, checklist_json

    at = parse_as_of(as_of, "--as-of") if as_of is not None else None
    services = _services(ctx)
    try:
        lists = services.queries.checklist(model, as_of=at)
        basis = services.queries.ledger_basis()
    finally:
        services.close()
    anomalies = sum(len(item.anomalies) for item in lists)
    if as_json:
        # The checklists and what they were read from: the log's events when asked, against
        # the latest signed checkpoint (its size and root).
        print_json(
            {"checklists": [checklist_json(item) for item in lists], "basis": basis.as_json()}
        )
    else:
        for item in lists:
            print_table(
                f"{item.model} (version {item.version}, as of {item.as_of.isoformat()})",
                ["step", "status", "why", "event"],
                [
                    (
                        step.name,
                        step.status.upper() if step.status == ANOMALY else step.status,
                        step.detail,
                        f"v{step.settled_by.version} {step.settled_by.event}"
                        if step.settled_by
                        else "",
                    )
                    for step in item.steps
                ],
            )
        say(f"{len(lists)} model(s), {anomalies} anomaly(ies)")
        say(f"basis: {basis.text()}")
    if strict and anomalies:
        raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    """Add this command to the CLI."""
    app.command()(checklist)
