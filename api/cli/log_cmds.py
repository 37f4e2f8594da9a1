"""CLI commands of the transparency log: key, checkpoint, proof, verify, export, bundles."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.ledger_cmds import JsonFlag, WitnessPolicyFlag, _services, _settings, load_policy
from api.cli.output import fail, print_json, print_table, progress, say

if TYPE_CHECKING:
    from projections.translog.postgres_recorder import ServiceGrants
    from projections.translog.service import LogService

proof_app = typer.Typer(help="Inclusion and consistency proofs.", no_args_is_help=True)
tiles_app = typer.Typer(help="The log as C2SP tlog-tiles static files.", no_args_is_help=True)


def _log(ctx: typer.Context) -> LogService:
    return _services(ctx).log


def _hex(data: bytes) -> str:
    return data.hex()


def key(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Print the ledger's public verifier key (what reviewers pin)."""
    from api.settings import signing_key_path
    from projections.translog.keys import load_verifier_key

    path = signing_key_path(_settings(ctx))
    verifier = load_verifier_key(path)  # no database needed
    if as_json:
        print_json({"verifier_key": verifier, "signing_key_file": str(path)})
    else:
        print(verifier)  # noqa: T201


def checkpoint(
    ctx: typer.Context,
    list_all: Annotated[
        bool, typer.Option("--list", help="List the checkpoints kept, a page at a time")
    ] = False,
    after: Annotated[
        int,
        typer.Option("--after", min=0, help="With --list: the cursor a previous page printed"),
    ] = 0,
    limit: Annotated[
        int,
        typer.Option("--limit", min=1, max=1000, help="With --list: checkpoints per page"),
    ] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Take every new event into the log, sign a checkpoint of it, and print it.

    Under a witness policy (RELIQUARY_WITNESS_POLICY), the checkpoint is then submitted to the
    witnesses and printed with their cosignatures; exit 3 if a witness raised an alarm.
    """
    log = _log(ctx)
    if list_all:
        kept, next_after = log.checkpoint_page(after, limit)
        if as_json:
            print_json(
                [
                    {
                        "size": c.size,
                        "root": _hex(c.root_hash),
                        "signed_at": c.signed_at,
                        "note": c.note,
                    }
                    for c in kept
                ]
            )
        else:
            print_table(
                "Checkpoints",
                ["size", "root", "signed at"],
                [(c.size, _hex(c.root_hash), c.signed_at) for c in kept],
            )
        if next_after is not None:
            say(f"more: reliquary checkpoint --list --after {next_after} --limit {limit}")
        return
    with progress("logging", log.pending(), "events") as bar:
        latest = log.sign_checkpoint(on_progress=bar.advance)
    report = None
    if log.witness_policy() is not None:  # the log's own witnesses cosign what it signs
        from api.cli.witness_cmds import present_submission, submission_json

        latest, report = _services(ctx).submit_to_witnesses(sign=False)
        if not as_json:
            present_submission(latest.size, report, as_json=False, to_stderr=True)
    note = report.cosigned_note if report is not None else latest.note
    if as_json:
        print_json(
            {
                "origin": log.origin,
                "size": latest.size,
                "root": _hex(latest.root_hash),
                "signed_at": latest.signed_at,
                "note": note,
                "witnessing": submission_json(latest.size, report) if report else None,
            }
        )
    else:
        print(note, end="")  # noqa: T201
    if report is not None and report.alarms:
        raise typer.Exit(3)


@proof_app.command("inclusion")
def inclusion(
    ctx: typer.Context,
    sequence: Annotated[
        int, typer.Argument(min=0, help="The event's sequence number (leaf index)")
    ],
    size: Annotated[
        int | None, typer.Option("--size", min=1, help="Tree size (default: the latest checkpoint)")
    ] = None,
    tlog_proof: Annotated[
        bool, typer.Option("--tlog-proof", help="Print the C2SP tlog-proof form instead")
    ] = False,
    witness_policy: WitnessPolicyFlag = None,
    as_json: JsonFlag = False,
) -> None:
    """Prove an event is in the log: leaf hash, audit path, and the signed checkpoint.

    The checkpoint carries its witnesses' cosignatures; under a witness policy (--witness-policy
    or the log's own) stderr says which witnesses vouch for it; exit 3 if one does not verify.
    """
    from projections.translog.checkpoint import format_tlog_proof

    log = _log(ctx)
    if size is None:
        # A read never signs: `reliquary checkpoint` signs the events recorded since.
        say("proving against the latest checkpoint kept (`reliquary checkpoint` signs a newer one)")
    data = log.inclusion_document(sequence, size, load_policy(witness_policy))
    witnesses = data.pop("witnesses")
    if witnesses is not None:
        say(f"witnesses: {witnesses['summary']}")
    if tlog_proof:
        path = [bytes.fromhex(step) for step in data["audit_path"]]
        print(format_tlog_proof(data["leaf_index"], path, data["checkpoint"]), end="")  # noqa: T201
    elif as_json:
        print_json({**data, "witnesses": witnesses})
    else:
        print_table(
            f"Inclusion of sequence {data['sequence']} in the tree of {data['tree_size']}",
            ["field", "value"],
            [(k, v if not isinstance(v, list) else "\n".join(v)) for k, v in data.items()],
        )
    if witnesses is not None and witnesses["problems"]:
        # A cosignature by a policy witness that does not verify: the note was altered.
        for problem in witnesses["problems"]:
            fail(f"FAIL: {problem}")
        raise typer.Exit(3)


@proof_app.command("consistency")
def consistency(
    ctx: typer.Context,
    old_size: Annotated[int, typer.Argument(min=1)],
    new_size: Annotated[int, typer.Argument(min=1)],
    as_json: JsonFlag = False,
) -> None:
    """Prove the tree of OLD_SIZE events is a prefix of the tree of NEW_SIZE."""
    proof = _log(ctx).consistency_proof(old_size, new_size)
    data = {
        "old_size": proof.old_size,
        "new_size": proof.new_size,
        "old_root": _hex(proof.old_root),
        "new_root": _hex(proof.new_root),
        "path": [_hex(h) for h in proof.path],
    }
    if as_json:
        print_json(data)
    else:
        print_table(
            f"Consistency of {old_size} with {new_size}",
            ["field", "value"],
            [(k, v if not isinstance(v, list) else "\n".join(v)) for k, v in data.items()],
        )


def verify(
    ctx: typer.Context,
    since: Annotated[
        Path | None,
        typer.Option("--since", help="A checkpoint you kept: prove the ledger still extends it"),
    ] = None,
    keys: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            help="A verifier key you trust (text or a file); repeat it for keys used before "
            "a rotation. Default: the key of the ledger's signing key file",
        ),
    ] = None,
    views: Annotated[
        bool,
        typer.Option(
            "--views",
            help="Check the views the board reads instead: recompute each from the events "
            "and name every row that differs",
        ),
    ] = False,
    witness_policy: WitnessPolicyFlag = None,
    as_json: JsonFlag = False,
) -> None:
    """Recompute every leaf and node from the events; check checkpoints; exit 1 on a mismatch.

    With --views, recompute every view from the events into a scratch database instead, and
    name each stored row that differs (exit 1 on any difference).
    """
    if views:
        _verify_views(ctx, as_json=as_json)
        return
    trusted = [_key_text(key_value) for key_value in keys] if keys else None
    kept = _read_text(since) if since else None
    log = _log(ctx)
    with progress("verifying", (log.ledger.recorder.max_notification_id() or 0), "events") as bar:
        report = log.verify(
            trusted, kept, on_progress=bar.advance, policy=load_policy(witness_policy)
        )
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "events": report.events,
                "root": _hex(report.root),
                "checkpoints_checked": report.checkpoints_checked,
                "extends_kept_checkpoint": report.extends_kept_checkpoint,
                "first_bad_sequence": report.first_bad_sequence,
                "problems": report.problems,
                "cosignatures_checked": report.cosignatures_checked,
                "witnessed_size": report.witnessed_size,
                "witnesses": report.witnesses.as_json() if report.witnesses else None,
            }
        )
    if report.witnesses is not None:
        say(
            f"witnesses: {report.cosignatures_checked} cosignature(s) checked; the checkpoint "
            f"of {report.witnessed_size} events is {report.witnesses.describe()}"
        )
    if report.ok:
        say(
            f"OK: {report.events} events, {report.checkpoints_checked} checkpoint(s), "
            f"root {_hex(report.root)}"
            + (", extends the kept checkpoint" if report.extends_kept_checkpoint else "")
        )
        return
    for problem in report.problems[:20]:
        fail(f"FAIL: {problem}")
    raise typer.Exit(1)


def _verify_views(ctx: typer.Context, *, as_json: bool) -> None:
    """`verify --views`: the stored views against the views recomputed from the events."""
    with progress("recomputing views", None, "events and rows") as bar:
        audit = _services(ctx).queries.audit_views(on_progress=bar.advance)
    if as_json:
        print_json(audit.as_json())
    for lag in audit.lagging:
        say(f"note: view {lag.view} is {lag.behind} event(s) behind the head (checked up to it)")
    if audit.ok:
        say(f"OK: {len(audit.views)} views, {audit.rows} rows, all recomputed from the events")
        return
    for name in audit.moved:
        fail(f"FAIL: view {name} moved while it was checked (another process?); run again")
    for difference in audit.differences[:20]:
        fail(f"FAIL: {difference.describe()}")
    if audit.differences_total > 20:
        fail(f"FAIL: ... and {audit.differences_total - 20} more difference(s)")
    raise typer.Exit(1)


def export(
    ctx: typer.Context,
    directory: Annotated[
        Path,
        typer.Argument(help="A new or empty folder to write the bundle into (never a link)"),
    ],
    disclose: Annotated[
        str,
        typer.Option(
            "--disclose",
            help="Whom the bundle is for: board or auditor add the openings of every private "
            "value (openings.jsonl), researcher:ID those of that researcher's own requests; "
            "another role or none (the default) gives commitments only",
        ),
    ] = "none",
    as_json: JsonFlag = False,
) -> None:
    """Sign a checkpoint of the whole log, then write an offline audit bundle of it.

    The folder is made with mode 0700 (or must be an empty folder), each file with mode 0600.
    """
    from domain.disclosure import bundle_recipient
    from projections.translog.bundle import check_export_target

    bundle_recipient(disclose)  # refused (exit 2) before anything is signed
    check_export_target(directory)
    log = _log(ctx)
    with progress("logging", log.pending(), "events") as bar:
        signed = log.sign_checkpoint(on_progress=bar.advance)  # the operator signs: a writer
    with progress("exporting", signed.size, "events") as bar:
        count, _ = log.export(directory, on_progress=bar.advance, disclose_to=disclose)
    if as_json:
        print_json({"directory": str(directory), "events": count})
    else:
        say(f"OK: wrote {count} events to {directory}")


def verify_bundle(
    directory: Annotated[Path, typer.Argument(help="An exported bundle")],
    key_text: Annotated[
        str | None,
        typer.Option("--key", help="The verifier key you pinned, text or file (else the bundle's)"),
    ] = None,
    witness_policy: Annotated[
        Path | None,
        typer.Option(
            "--witness-policy",
            help="The witness policy you pinned (JSON): the checkpoint must carry a quorum of "
            "its witnesses' cosignatures",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Verify a bundle with no database: signature, every leaf, the root. Exit 1 on failure.

    Links, FIFOs and other special files in the bundle, and oversized files, are refused.
    """
    from projections.translog.bundle import read_pinned_key
    from projections.translog.bundle import verify_bundle as check

    pinned = read_pinned_key(key_text) if key_text else None
    report = check(directory, pinned, policy=load_policy(witness_policy))
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "events": report.events,
                "root": _hex(report.root),
                "checkpoint_size": report.checkpoint.size if report.checkpoint else None,
                "openings": report.openings,
                "witnesses": report.witnesses.as_json() if report.witnesses else None,
                "problems": report.problems,
            }
        )
    if report.witnesses is not None and report.ok:
        say(f"witnesses: {report.witnesses.describe()}")
    if report.ok:
        opened = (
            f"; {report.openings} opening(s) match their commitments" if report.openings else ""
        )
        say(f"OK: {report.events} events, root {_hex(report.root)}, signature valid{opened}")
        return
    for problem in report.problems:
        fail(f"FAIL: {problem}")
    raise typer.Exit(1)


def import_(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="An exported bundle")],
    key_text: Annotated[
        str,
        typer.Option(
            "--key",
            help="The verifier key the bundle must be signed by (text or file): the one the "
            "operator published, never the bundle's own",
        ),
    ],
    as_json: JsonFlag = False,
) -> None:
    """Restore a bundle into an empty ledger, every event re-checked against the rules."""
    from projections.translog.bundle import import_bundle, read_pinned_key

    pinned = read_pinned_key(key_text)
    log = _log(ctx).log
    count = import_bundle(log, directory, pinned_verifier=pinned)
    root = log.root()
    if as_json:
        print_json({"events": count, "root": _hex(root)})
    else:
        say(f"OK: imported {count} events; root {_hex(root)}")


@tiles_app.command("export")
def tiles_export(
    ctx: typer.Context,
    directory: Annotated[
        Path,
        typer.Argument(
            help="The folder to write (made if missing) or extend; never a link or a file"
        ),
    ],
    as_json: JsonFlag = False,
) -> None:
    """Write the latest signed checkpoint's tlog-tiles tree into DIRECTORY, as /tlog/ serves it.

    Run again, it extends the folder: full tiles are checked and kept, new ones written, the
    checkpoint replaced last (atomically). Files 0644: the folder is meant to be published.
    """
    from projections.translog.static_tiles import export_tiles, tile_count

    log = _log(ctx)
    with progress("exporting tiles", tile_count(log.latest_checkpoint().size), "tiles") as bar:
        done = export_tiles(log, directory, on_progress=bar.advance)
    if as_json:
        print_json(
            {
                "directory": str(directory),
                "size": done.size,
                "root": _hex(done.root),
                "written": len(done.written),
                "kept": len(done.kept),
                "removed": done.removed,
                "unbundled": done.unbundled,
            }
        )
    else:
        say(
            f"OK: tree of {done.size} events in {directory}: {len(done.written)} tile(s) "
            f"written, {len(done.kept)} kept, {len(done.removed)} stale partial(s) removed"
        )
    for path in done.unbundled:
        fail(f"warning: {path} not written: it holds an entry over 65,535 bytes")


def _key_text(value: str) -> str:
    """A verifier key given on the command line, as its text or as a file holding it.

    The one reader of pinned keys (`bundle.read_pinned_key`): a regular file only, bounded,
    never a private key echoed back.
    """
    from projections.translog.bundle import read_pinned_key

    return read_pinned_key(value)


def _read_text(path: Path) -> str:
    from domain.errors import UnreadableFile

    try:
        return path.read_text()
    except OSError as error:
        raise UnreadableFile(f"cannot read {path}: {error.strerror}") from None


def grant_service_role(
    ctx: typer.Context,
    role: Annotated[str, typer.Argument(help="The PostgreSQL role the service runs as")],
    create_role: Annotated[
        bool, typer.Option("--create-role", help="Create ROLE (LOGIN, nothing else) if missing")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """PostgreSQL, as the owner: create or upgrade the schema; grant ROLE what a service needs.

    Table by table: read and append the events and the log; read the views (the projection
    runner's role writes them: grant-projection-role); keep request keys and API actors. Never
    UPDATE, DELETE or TRUNCATE on the events or the log, nor CREATE. Run it again after an
    upgrade.
    """
    from api.bootstrap import grant_role

    granted = grant_role(_settings(ctx), role, runs="service", create_role=create_role)
    _print_grants(granted, as_json, "no UPDATE, DELETE or TRUNCATE on the events or the log")


def grant_projection_role(
    ctx: typer.Context,
    role: Annotated[str, typer.Argument(help="The PostgreSQL role the projection runner runs as")],
    create_role: Annotated[
        bool, typer.Option("--create-role", help="Create ROLE (LOGIN, nothing else) if missing")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """PostgreSQL, as the owner: create or upgrade the schema; grant ROLE what the projection
    runner needs (`reliquary projections follow`).

    Table by table: read the events and what opens sealed values; keep the views and their
    tracking. Nothing else: no event, log, key or token, no function, no CREATE. Use a role
    of its own: each grant command sets the role's whole set of privileges in the schema.
    """
    from api.bootstrap import grant_role

    granted = grant_role(_settings(ctx), role, runs="projections", create_role=create_role)
    _print_grants(granted, as_json, "it writes the views only; no event, log, key or token")


def _print_grants(granted: ServiceGrants, as_json: bool, summary: str) -> None:
    role = granted.role
    if as_json:
        print_json(
            {
                "role": granted.role,
                "schema": granted.schema,
                "role_created": granted.role_created,
                "schema_usage": True,
                "tables": {g.table: list(g.privileges) for g in granted.tables},
                "sequences_usage": list(granted.sequences),
                "functions_execute": list(granted.functions),
                "ungranted_tables": list(granted.ungranted),
            }
        )
    else:
        print_table(
            f"Granted to {role} in schema {granted.schema}",
            ["table", "privileges", "why"],
            [(g.table, ", ".join(g.privileges), g.why) for g in granted.tables],
        )
        say(
            f"OK: {role}: USAGE on schema {granted.schema} (no CREATE); USAGE on sequences "
            f"{', '.join(granted.sequences) or '(none)'}; EXECUTE on "
            f"{', '.join(granted.functions) or '(none)'}; {summary}"
        )
        if granted.role_created:
            say(f"created role {role}: set its password as the DBA (ALTER ROLE ... PASSWORD)")
    if granted.ungranted:
        unknown = ", ".join(granted.ungranted)
        fail(f"warning: tables of the schema this release does not know, not granted: {unknown}")


def register(app: typer.Typer) -> None:
    """Add these commands to the CLI."""
    app.command()(key)
    app.command()(checkpoint)
    app.add_typer(proof_app, name="proof")
    app.add_typer(tiles_app, name="tiles")
    app.command()(verify)
    app.command()(export)
    app.command("verify-bundle")(verify_bundle)
    app.command("import")(import_)
    app.command("grant-service-role")(grant_service_role)
    app.command("grant-projection-role")(grant_projection_role)
