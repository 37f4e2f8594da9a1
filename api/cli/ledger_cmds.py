"""CLI commands on the ledger itself: init, apply, models, history, demo, schema."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.cli.output import fail, print_json, print_table, progress, say, shown

if TYPE_CHECKING:
    from api.bootstrap import Services
    from api.settings import Settings
    from domain.ledger import Ledger
    from projections.translog.witness_policy import WitnessPolicy

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
WitnessPolicyFlag = Annotated[
    Path | None,
    typer.Option(
        "--witness-policy",
        help="The witness policy you pinned (JSON): say which of its witnesses vouch for the "
        "checkpoint, and fail without its quorum. Default: the log's own "
        "(RELIQUARY_WITNESS_POLICY), if any",
    ),
]


def load_policy(path: Path | None) -> WitnessPolicy | None:
    """The witness policy file a reader pinned, if given."""
    if path is None:
        return None
    from projections.translog.witness_policy import load_witness_policy

    return load_witness_policy(path)


def _settings(ctx: typer.Context) -> Settings:
    from api.cli.fast import settings

    return settings(ctx.obj.get("database_url") if ctx.obj else None)


def _ledger(ctx: typer.Context) -> Ledger:
    from api.bootstrap import build_ledger

    return build_ledger(_settings(ctx))


def _services(ctx: typer.Context) -> Services:
    """The services every command reads through (built once per command)."""
    from api.bootstrap import build_services

    return build_services(_settings(ctx))


def init(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Create the store, the transparency log's tables and the signing key (safe to run again)."""
    from api.bootstrap import build_log
    from api.settings import signing_key_path
    from domain.storage import store_for
    from projections.translog.keys import create_signing_key, load_verifier_key

    settings = _settings(ctx)
    ledger = _ledger(ctx)
    store = store_for(settings.database_url)
    build_log(settings, ledger)
    models = len(ledger.model_names())
    ledger.close()
    key_path = signing_key_path(settings)
    created = create_signing_key(key_path, settings.log_origin)
    verifier = load_verifier_key(key_path)
    if as_json:
        print_json(
            {
                "database_url": settings.database_url,
                "backend": store.backend,
                "models": models,
                "signing_key_file": str(key_path),
                "signing_key_created": created,
                "verifier_key": verifier,
            }
        )
    else:
        say(f"OK: ledger ready at {settings.database_url} ({store.backend}, {models} models)")
        say(f"OK: signing key {'created' if created else 'kept'} at {key_path}")
        say(f"verifier key: {verifier}")


def apply(
    ctx: typer.Context,
    file: Annotated[
        str, typer.Argument(help="JSON Lines file of command documents, or - for stdin")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Apply a JSON Lines file of commands in order, each atomically; stop at the first refusal."""
    from api.cli.apply_file import LineRefused, apply_lines, read_lines

    ledger = _ledger(ctx)
    limit = _settings(ctx).max_document_bytes
    stream = sys.stdin.buffer if file == "-" else _open(file)
    total = None if file == "-" else _count_lines(file)
    try:
        with progress("applying", total, "commands") as bar:
            applied = apply_lines(
                ledger, read_lines(stream, limit), on_applied=bar.advance, max_bytes=limit
            )
    except LineRefused as refused:
        fail(f"line {refused.line}: {refused.reason}")
        fail(
            f"{refused.applied} command(s) before line {refused.line} stay applied; "
            f"nothing of line {refused.line} was recorded"
        )
        if as_json:
            print_json(
                {"applied": refused.applied, "refused_line": refused.line, "reason": refused.reason}
            )
        raise typer.Exit(1) from None
    finally:
        ledger.close()
    if as_json:
        print_json({"applied": applied})
    else:
        say(f"OK: applied {applied} command(s)")


def _open(file: str) -> Any:
    try:
        return Path(file).open("rb")  # noqa: SIM115 (closed when the process ends)
    except OSError as error:
        from domain.errors import UnreadableFile

        raise UnreadableFile(f"cannot read {file}: {error.strerror}") from None


def _count_lines(file: str) -> int:
    with Path(file).open("rb") as stream:
        return sum(1 for line in stream if line.strip())


def models(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List every model with its lifecycle status."""
    services = _services(ctx)
    summaries = services.queries.models()
    services.close()
    if as_json:
        print_json([{"model": s.name, "status": s.status, "version": s.version} for s in summaries])
        return
    print_table(
        "Models", ["model", "status", "version"], [(s.name, s.status, s.version) for s in summaries]
    )


def history(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The model's name")],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="ISO 8601 moment with a time zone: the ledger as it stood then"
        ),
    ] = None,
    at_version: Annotated[
        int | None, typer.Option("--at-version", min=1, help="Replay up to this version")
    ] = None,
    proofs: Annotated[
        bool,
        typer.Option("--proofs", help="Add the signed checkpoint and each event's inclusion proof"),
    ] = False,
    witness_policy: WitnessPolicyFlag = None,
    as_json: JsonFlag = False,
) -> None:
    """A model's events in order, and its state at that point (now, a version, or a moment)."""
    from domain.commands import parse_moment

    at = parse_moment(as_of, "--as-of") if as_of is not None else None
    services = _services(ctx)
    try:
        answer = services.queries.history(model, version=at_version, at=at)
        proven = None
        if proofs:
            pinned = load_policy(witness_policy)
            proven = services.log.proven_history(model, answer.version, pinned)
    finally:
        services.close()
    records, current = answer.events, answer.state
    if as_json:
        document = answer.as_json()
        if proven is not None:
            document["proofs"] = proven
        print_json(document)
        return
    rows = [
        (
            r["version"],
            r["type"],
            r["recorded_at"],
            r["effective_at"] or "",
            f"{shown(r['actor']['id'])} ({r['actor']['role']})",
            shown(r["rationale"]),
            _brief(r["facts"]),
        )
        for r in records
    ]
    if proven is not None:
        say(
            f"OK: {len(proven['leaves'])} event(s) proven in the signed checkpoint of "
            f"{proven['tree_size']} events (use --json for the proofs)"
        )
        if proven["witnesses"] is not None:
            say(f"witnesses: {proven['witnesses']['summary']}")
    print_table(
        f"{model} at version {answer.version}: {current['status']}",
        ["v", "event", "recorded", "effective", "actor", "rationale", "facts"],
        rows,
    )


def _brief(facts: dict[str, Any], limit: int = 160) -> str:
    parts = []
    for key, value in facts.items():
        if key == "files" and isinstance(value, list):
            parts.append(f"files=[{len(value)} files]")
        else:
            parts.append(f"{key}={shown(value)}")
    text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def demo(
    ctx: typer.Context,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Start from an empty SQLite file first")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Load the bundled scenario: the retirement pilot and five other models. Safe to run twice."""
    from api.cli.demo import load_demo, remove_sqlite_store

    settings = _settings(ctx)
    if fresh:
        remove_sqlite_store(settings.database_url)
    ledger = _ledger(ctx)
    try:
        outcome = load_demo(ledger)
        summaries = ledger.models()
    finally:
        ledger.close()
    if as_json:
        print_json(
            {
                "applied": outcome.applied,
                "already_present": outcome.skipped,
                "models": [
                    {"model": s.name, "status": s.status, "version": s.version} for s in summaries
                ],
            }
        )
        return
    # A summary for people (stderr) around the one table that is data (stdout): what was loaded,
    # where, and three commands that show the rest (see api/cli/demo.py).
    import shutil

    from api.cli.demo import program_name, summary_head, summary_tail, where_the_ledger_is

    events = sum(s.version for s in summaries)
    for line in summary_head(
        outcome, len(summaries), events, where_the_ledger_is(settings.database_url)
    ):
        say(line)
    print_table(
        "Models", ["model", "status", "version"], [(s.name, s.status, s.version) for s in summaries]
    )
    program = program_name(sys.argv[0], shutil.which("reliquary"))
    default_store = settings.database_url == type(settings).model_fields["database_url"].default
    for line in summary_tail(program, default_store):
        say(line)


def schema(as_json: JsonFlag = True) -> None:  # noqa: ARG001 (accepted for uniformity)
    """Print the JSON Schema of every command document (always JSON)."""
    from domain.commands import command_schema

    print_json(command_schema())


def erase(
    ctx: typer.Context,
    subject: Annotated[
        str, typer.Argument(help="The person: their actor id, or their pseudonym (ps:...)")
    ],
    model: Annotated[str, typer.Option("--model", help="A model holding a request of theirs")],
    rationale: Annotated[str, typer.Option("--rationale", help="Why (e.g. the erasure request)")],
    actor_id: Annotated[str, typer.Option("--actor-id", help="Who decides it")],
    actor_role: Annotated[str, typer.Option("--actor-role", help="In which role")] = "board",
    as_json: JsonFlag = False,
) -> None:
    """Erase a person's private values for good (their key is destroyed) and record it.

    Every proof, checkpoint and bundle still verifies: the events keep the commitments, and
    nobody can read what they hid any more (docs/disclosure.md).
    """
    from domain.authority import Authentication
    from domain.commands import parse_command_object

    command = parse_command_object(
        {
            "command": "erase_subject",
            "model": model,
            "actor": {"id": actor_id, "role": actor_role},
            "rationale": rationale,
            "subject": subject,
        }
    )
    services = _services(ctx)
    try:
        recorded = services.ledger.execute(command, authentication=Authentication.OPERATOR)
        erased = services.ledger.state(model).erased_subjects[-1]
    finally:
        services.close()
    if as_json:
        print_json({"model": model, "version": recorded.version, "subject": erased})
    else:
        say(f"OK: erased {erased}; recorded as version {recorded.version} of {model}")


def scrub(
    ctx: typer.Context,
    everything: Annotated[
        bool,
        typer.Option(
            "--all", help="Scrub even if no erasure is pending (e.g. once after an upgrade)"
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Rid the store's files of erased people's old bytes, where an erasure could not finish.

    An erasure does it right after its commit; this redoes it for any left pending (a process
    that died in between, a role not allowed VACUUM FULL). Exit 1 if it could not finish.
    """
    services = _services(ctx)
    try:
        done = services.ledger.scrub_erased(force=everything)
    finally:
        services.close()
    if as_json:
        print_json(
            {"subjects": list(done.subjects), "complete": done.complete, "detail": done.detail}
        )
    else:
        say(f"{'OK' if done.complete else 'NOT DONE'}: {done.detail}; subjects: "
            f"{', '.join(done.subjects) or 'none pending'}")  # fmt: skip
    if not done.complete:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add these commands to the CLI."""
    app.command()(init)
    app.command()(erase)
    app.command()(scrub)
    app.command()(apply)
    app.command()(models)
    app.command()(history)
    app.command()(demo)
    app.command()(schema)
