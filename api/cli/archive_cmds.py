"""CLI commands for preserved weights: manifest, preserve, verify-archive, archive manifest."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.cli.ledger_cmds import JsonFlag, _services
from api.cli.output import fail, print_json, print_table, progress, say

if TYPE_CHECKING:
    from projections.archive import FileCheck, TreeManifest
    from projections.translog.proven import RecordedWeights

archive_app = typer.Typer(
    help="Recorded weights manifests, read by digest from the store.", no_args_is_help=True
)

Workers = Annotated[
    int | None, typer.Option("--workers", min=1, help="Files hashed at once (default: CPU count)")
]


def _hash(directory: Path, workers: int | None) -> TreeManifest:
    """Hash a directory with a bytes-per-second bar on a terminal."""
    from projections.archive import hash_tree, scan_tree

    total = sum(size for _, _, size in scan_tree(directory))
    with progress("hashing", total, "B") as bar:
        return hash_tree(directory, workers=workers, on_bytes=bar.advance)


def manifest(
    directory: Annotated[Path, typer.Argument(help="The archive's directory")],
    workers: Workers = None,
    as_json: JsonFlag = False,
) -> None:
    """Hash every regular file under DIR (SHA-256) and print the manifest and its digest."""
    tree = _hash(directory, workers)
    if as_json:
        print_json(tree.to_json())
        return
    print_table(
        f"{len(tree.files)} files, manifest digest {tree.digest}",
        ["path", "size", "sha256"],
        [(entry.path, entry.size, entry.sha256) for entry in tree.files],
    )


def preserve(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The model's name")],
    directory: Annotated[Path, typer.Argument(help="The archived weights' directory")],
    locations: Annotated[
        list[str], typer.Option("--location", help="Where a copy is stored (URI; repeatable)")
    ],
    custodian: Annotated[str, typer.Option("--custodian", help="Who keeps the copies")],
    rationale: Annotated[str, typer.Option("--rationale", help="Why it is preserved so")],
    actor_id: Annotated[str, typer.Option("--actor-id", help="Who records it")],
    actor_role: Annotated[str, typer.Option("--actor-role", help="In which role")] = "curator",
    retention: Annotated[
        str, typer.Option("--retention", help="How long it is kept")
    ] = "indefinitely",
    effective_at: Annotated[
        str | None, typer.Option("--effective-at", help="When it took effect (ISO 8601, zone)")
    ] = None,
    workers: Workers = None,
    as_json: JsonFlag = False,
) -> None:
    """Hash DIR and record it as the model's preserved weights, in one step."""
    from domain.authority import Authentication
    from domain.commands import parse_command_object

    tree = _hash(directory, workers)
    document: dict[str, Any] = {
        "command": "preserve_weights",
        "model": model,
        "actor": {"id": actor_id, "role": actor_role},
        "rationale": rationale,
        "manifest": tree.to_json(),
        "locations": locations,
        "custodian": custodian,
        "retention": retention,
    }
    if effective_at is not None:
        document["effective_at"] = effective_at
    command = parse_command_object(document)
    services = _services(ctx)
    try:
        recorded = services.ledger.execute(command, authentication=Authentication.OPERATOR)
    finally:
        services.close()
    result = {
        "model": model,
        "version": recorded.version,
        "event": recorded.event_type,
        "manifest_digest": tree.digest,
        "files": len(tree.files),
        "bytes": sum(entry.size for entry in tree.files),
    }
    if as_json:
        print_json(result)
    else:
        say(
            f"OK: recorded {tree.digest} ({result['files']} files, {result['bytes']} bytes) "
            f"as version {recorded.version} of {model}"
        )


def verify_archive(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The model's name")],
    directory: Annotated[Path, typer.Argument(help="A copy of the archive to check")],
    bundle: Annotated[
        Path | None,
        typer.Option("--bundle", help="Check against an exported audit bundle (no database)"),
    ] = None,
    key_text: Annotated[
        str | None,
        typer.Option("--key", help="The verifier key you pinned, text or file"),
    ] = None,
    record: Annotated[
        bool, typer.Option("--record", help="Append the result as an ArchiveVerified event")
    ] = False,
    location: Annotated[
        str | None, typer.Option("--location", help="With --record: where this copy is (URI)")
    ] = None,
    actor_id: Annotated[str | None, typer.Option("--actor-id", help="With --record")] = None,
    actor_role: Annotated[str | None, typer.Option("--actor-role", help="With --record")] = None,
    workers: Workers = None,
    as_json: JsonFlag = False,
) -> None:
    """Compare a copy of an archive with the model's latest preserved manifest, file by file.

    Exit 0 when every file and the manifest digest match, 1 on any difference, 2 on a usage
    error.
    """
    from projections.archive import compare

    if record and (bundle is not None or not (location and actor_id and actor_role)):
        raise typer.BadParameter(
            "--record needs the ledger (not --bundle) and --location, --actor-id, --actor-role"
        )
    source = _recorded(ctx, model, bundle, key_text)
    tree = _hash_or_usage_error(directory, workers)
    checks = compare(source.files, tree.files)
    differing = [check for check in checks if check.status != "ok"]
    digest_matches = tree.digest == source.manifest_digest
    intact = not differing and digest_matches
    result = {
        "model": model,
        "intact": intact,
        "recorded_manifest_digest": source.manifest_digest,
        "observed_manifest_digest": tree.digest,
        "recorded_in": source.recorded_in,
        "files": [_check_json(check) for check in checks],
    }
    if record:
        result["recorded_check"] = _record_check(
            ctx, model, location or "", actor_id or "", actor_role or "", tree, differing
        )
    if as_json:
        print_json(result)
    else:
        _present(result, differing, len(checks))
    if not intact:
        raise typer.Exit(1)


def _hash_or_usage_error(directory: Path, workers: int | None) -> TreeManifest:
    """Hash the copy; a directory that cannot be hashed is a usage error (exit 2)."""
    from domain.errors import ArchiveError

    try:
        return _hash(directory, workers)
    except ArchiveError as error:
        fail(f"error: {error}")
        raise typer.Exit(2) from None


def _recorded(
    ctx: typer.Context, model: str, bundle: Path | None, key_text: str | None
) -> RecordedWeights:
    """The model's recorded weights, proven in the signed log or in a verified bundle."""
    from api.cli.log_cmds import _key_text
    from projections.translog.proven import recorded_weights_in_bundle

    pinned = _key_text(key_text) if key_text else None
    if bundle is not None:
        return recorded_weights_in_bundle(bundle, model, pinned)
    services = _services(ctx)
    try:
        return services.log.recorded_weights(model, pinned)
    finally:
        services.close()


def _record_check(
    ctx: typer.Context,
    model: str,
    location: str,
    actor_id: str,
    actor_role: str,
    tree: TreeManifest,
    differing: list[FileCheck],
) -> dict[str, Any]:
    from domain.authority import Authentication
    from domain.commands import parse_command_object

    command = parse_command_object(
        {
            "command": "record_archive_check",
            "model": model,
            "actor": {"id": actor_id, "role": actor_role},
            "rationale": (
                f"Copy at {location} checked file by file against the preserved manifest: "
                + ("every file matches." if not differing else f"{len(differing)} file(s) differ.")
            ),
            "location": location,
            "checked_at": datetime.now(UTC).isoformat(),
            "observed_digest": tree.digest,
            "differing_files": [{"path": c.path, "status": c.status} for c in differing],
        }
    )
    services = _services(ctx)
    try:
        recorded = services.ledger.execute(command, authentication=Authentication.OPERATOR)
    finally:
        services.close()
    return {"version": recorded.version, "event": recorded.event_type}


def _check_json(check: FileCheck) -> dict[str, Any]:
    return {
        "path": check.path,
        "status": check.status.upper(),
        "recorded_sha256": check.recorded_sha256,
        "observed_sha256": check.observed_sha256,
        "recorded_size": check.recorded_size,
        "observed_size": check.observed_size,
    }


def _present(result: dict[str, Any], differing: list[FileCheck], total: int) -> None:
    where = result["recorded_in"]
    if differing:
        print_table(
            f"{len(differing)} of {total} files differ",
            ["status", "path", "recorded sha256", "observed sha256"],
            [
                (c.status.upper(), c.path, c.recorded_sha256 or "", c.observed_sha256 or "")
                for c in differing
            ],
        )
    if result["intact"]:
        say(f"OK: {total} files match; manifest digest {result['observed_manifest_digest']}")
    else:
        fail(
            f"FAIL: the copy differs from the record: manifest digest "
            f"{result['observed_manifest_digest']}, recorded {result['recorded_manifest_digest']}"
        )
    say(
        f"OK: recorded in version {where['version']} (sequence {where['sequence']}), proven in "
        f"the signed checkpoint of {where['checkpoint_size']} events"
    )
    if "recorded_check" in result:
        say(f"OK: this check is recorded as version {result['recorded_check']['version']}")


@archive_app.command("manifest")
def recorded_manifest(
    ctx: typer.Context,
    digest: Annotated[str, typer.Argument(help="The manifest digest a WeightsPreserved names")],
    as_json: JsonFlag = False,
) -> None:
    """Print a recorded manifest's files by its digest, checked to hash to it.

    The log's WeightsPreserved event names the manifest by digest, file count and total size;
    the files are stored beside the log. With --json: manifest_digest, file_count,
    total_bytes and files, the document a bundle's manifest file holds.
    """
    services = _services(ctx)
    try:
        found = services.queries.manifest(digest)
    finally:
        services.close()
    if as_json:
        print_json(found.to_json())
        return
    print_table(
        f"{found.file_count} files, {found.total_bytes} bytes, manifest digest {found.digest}",
        ["path", "size", "sha256"],
        [(entry.path, entry.size, entry.sha256) for entry in found.files],
    )


def register(app: typer.Typer) -> None:
    """Add these commands to the CLI."""
    app.command()(manifest)
    app.command()(preserve)
    app.command("verify-archive")(verify_archive)
    app.add_typer(archive_app, name="archive")
