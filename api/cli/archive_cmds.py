"""CLI commands for preserved weights: manifest, preserve, verify-archive, archive manifest,
and ``oms export`` (an OpenSSF model-signing bundle of the preserved manifest).

``manifest`` and ``verify-archive`` do their work in `api.cli.fast`, which also runs them
without typer (their start-up counts against the hashing); here they are declared for help,
usage errors and completeness.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli import fast
from api.cli.ledger_cmds import JsonFlag, _services
from api.cli.output import fail, print_json, print_table, say

archive_app = typer.Typer(
    help="Recorded weights manifests, read by digest from the store.", no_args_is_help=True
)
oms_app = typer.Typer(
    help="OpenSSF model signing (OMS v1.0): model.sig bundles of preserved weights.",
    no_args_is_help=True,
)

Workers = Annotated[
    int | None, typer.Option("--workers", min=1, help="Files hashed at once (default: CPU count)")
]


def manifest(
    directory: Annotated[Path, typer.Argument(help="The archive's directory")],
    workers: Workers = None,
    as_json: JsonFlag = False,
) -> None:
    """Hash every regular file under DIR (SHA-256) and print the manifest and its digest."""
    fast.manifest(directory, workers, as_json)


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
    oms_bundle: Annotated[
        Path | None,
        typer.Option(
            "--oms-bundle",
            help="An OMS model.sig of DIR: record its root digest and its SHA-256 (its "
            "signature is not verified here: run model_signing verify)",
        ),
    ] = None,
    workers: Workers = None,
    as_json: JsonFlag = False,
) -> None:
    """Hash DIR and record it as the model's preserved weights, in one step.

    With --oms-bundle, the model.sig must sign exactly DIR's files (same paths, same SHA-256);
    the ledger checks that its root digest is the OMS root of the manifest's files.
    """
    from domain.authority import Authentication
    from domain.commands import parse_command_object

    tree = fast.hash_directory(directory, workers)
    evidence = None
    if oms_bundle is not None:
        from projections.archive.oms import oms_evidence

        evidence = oms_evidence(oms_bundle, tree.files)
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
    if evidence is not None:
        document["oms_root_digest"] = evidence.root_digest
        document["oms_bundle_digest"] = evidence.bundle_digest
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
        "oms_root_digest": evidence.root_digest if evidence else None,
        "oms_bundle_digest": evidence.bundle_digest if evidence else None,
    }
    if as_json:
        print_json(result)
        return
    say(
        f"OK: recorded {tree.digest} ({result['files']} files, {result['bytes']} bytes) "
        f"as version {recorded.version} of {model}"
    )
    if evidence is not None:
        say(
            f"OK: with OMS root digest {evidence.root_digest} and model.sig SHA-256 "
            f"{evidence.bundle_digest} (its signature is not verified: run model_signing verify)"
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
    digest: Annotated[
        str | None,
        typer.Option(
            "--digest",
            help="The digest you expect: the manifest digest or the OMS root digest of the "
            "latest preserved weights",
        ),
    ] = None,
    workers: Workers = None,
    as_json: JsonFlag = False,
) -> None:
    """Compare a copy of an archive with the model's latest preserved manifest, file by file.

    The copy's OMS root digest is shown beside its manifest digest and compared with the one
    recorded from a model.sig, if any. Exit 0 when every file and both digests match, 1 on
    any difference (or a --digest that is neither digest of the record), 2 on a usage error.
    """
    try:
        code = fast.verify_archive(
            _database_url(ctx),
            model,
            directory,
            bundle=bundle,
            key_text=key_text,
            record=record,
            location=location,
            actor_id=actor_id,
            actor_role=actor_role,
            workers=workers,
            as_json=as_json,
            digest=digest,
        )
    except fast.UsageProblem as problem:
        raise typer.BadParameter(str(problem)) from None
    if code:
        raise typer.Exit(code)


def _database_url(ctx: typer.Context) -> str | None:
    return ctx.obj.get("database_url") if ctx.obj else None


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


@oms_app.command("export")
def oms_export(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The model whose latest preserved weights to sign")],
    key: Annotated[Path, typer.Option("--key", help="An unencrypted ECDSA P-256 private key, PEM")],
    output: Annotated[Path, typer.Option("--output", help="Where to write the model.sig")],
    as_json: JsonFlag = False,
) -> None:
    """Write an OMS v1.0 model.sig of the model's latest preserved manifest, signed with KEY.

    The bundle is what `model_signing sign key` writes (a Sigstore bundle v0.3 with a DSSE
    envelope of the in-toto statement); `model_signing verify key --signature model.sig
    --public_key PUB DIR` checks a copy with it. With --json: path, model, manifest_digest,
    oms_root_digest, bundle_digest, files, key_hint. The key is never printed.
    """
    from projections.archive.oms import MAX_KEY_BYTES, read_limited

    pem = read_limited(key, MAX_KEY_BYTES, "key file")
    services = _services(ctx)
    try:
        bundle = services.oms_bundle(model, pem, key_name=str(key))
    finally:
        services.close()
    try:
        output.write_bytes(bundle.content)
    except OSError as error:  # the path given cannot take it: a usage error
        fail(f"error: cannot write {output}: {error.strerror}")
        raise typer.Exit(2) from None
    result = {
        "path": str(output),
        "model": model,
        "manifest_digest": bundle.manifest_digest,
        "oms_root_digest": bundle.root_digest,
        "bundle_digest": bundle.bundle_digest,
        "files": bundle.file_count,
        "key_hint": bundle.key_hint,
    }
    if as_json:
        print_json(result)
        return
    say(
        f"OK: wrote {output}, an OMS model.sig of {bundle.file_count} files: OMS root digest "
        f"{bundle.root_digest}, manifest digest {bundle.manifest_digest}, bundle SHA-256 "
        f"{bundle.bundle_digest}"
    )


def register(app: typer.Typer) -> None:
    """Add these commands to the CLI."""
    app.command()(manifest)
    app.command()(preserve)
    app.command("verify-archive")(verify_archive)
    app.add_typer(archive_app, name="archive")
    app.add_typer(oms_app, name="oms")
