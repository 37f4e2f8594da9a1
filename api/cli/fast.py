"""`reliquary manifest` and `reliquary verify-archive`, the commands that hash, without typer.

Their work is written once, here; the typer commands in `api.cli.archive_cmds` call these same
functions. A command that hashes a gigabyte in 0.6 s cannot afford the CLI framework's start-up
(typer, click and pydantic: 0.12 s of 0.18 s), so `run` is a small argparse front that
recognises these two command lines and calls the functions directly. It parses only what it
knows is well formed; anything else (``--help``, an unknown or malformed option, another
command) it hands over (`HandOver`) to the typer application, which prints the usage, the help
and the usage errors as for every other command. Nothing here imports typer, rich (unless a
table or a progress bar goes to a terminal), pydantic (unless the ledger is opened) or the
store's drivers.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from api.cli.output import fail, print_json, print_table, progress, say

if TYPE_CHECKING:
    from collections.abc import Sequence

    from api.bootstrap import Services
    from api.settings import Settings
    from projections.archive import FileCheck, TreeManifest
    from projections.translog.proven import RecordedWeights

COMMANDS = ("manifest", "verify-archive")
"""The command lines this front runs itself."""


class HandOver(Exception):
    """The command line is not one this front runs as it is: the typer application takes it."""


class UsageProblem(Exception):
    """A usage error a command finds in its options before doing anything (exit 2)."""


def hash_directory(directory: Path, workers: int | None) -> TreeManifest:
    """Hash a directory, with a bytes-per-second bar on a terminal."""
    from projections.archive import hash_tree, scan_tree

    total = sum(size for _, _, size in scan_tree(directory))
    with progress("hashing", total, "B") as bar:
        return hash_tree(directory, workers=workers, on_bytes=bar.advance)


def manifest(directory: Path, workers: int | None, as_json: bool) -> int:
    """Hash every regular file under the directory and print the manifest and its digest."""
    tree = hash_directory(directory, workers)
    if as_json:
        print_json(tree.to_json())
        return 0
    print_table(
        f"{len(tree.files)} files, manifest digest {tree.digest}",
        ["path", "size", "sha256"],
        [(entry.path, entry.size, entry.sha256) for entry in tree.files],
    )
    return 0


def verify_archive(
    database_url: str | None,
    model: str,
    directory: Path,
    *,
    bundle: Path | None = None,
    key_text: str | None = None,
    record: bool = False,
    location: str | None = None,
    actor_id: str | None = None,
    actor_role: str | None = None,
    workers: int | None = None,
    as_json: bool = False,
    digest: str | None = None,
) -> int:
    """Compare a copy of an archive with the model's latest preserved manifest, file by file.

    The copy's OMS root digest is shown beside its manifest digest, and compared with the
    one the preservation recorded from a ``model.sig``, if it did. ``digest``, when given, is
    the digest the reader expects, in either form: it must be the manifest digest or the OMS
    root digest of the latest preserved weights (`DigestNotPreserved` before anything is
    hashed otherwise).

    Returns the exit code: 0 when every file and both digests match, 1 on any difference, 2
    when the copy cannot be hashed. Raises `UsageProblem` before anything is read when
    ``--record`` lacks what it needs or ``--digest`` is not a SHA-256 in hex.
    """
    from domain.errors import ArchiveError
    from domain.manifests import oms_root_digest
    from projections.archive import compare

    if record and (bundle is not None or not (location and actor_id and actor_role)):
        raise UsageProblem(
            "--record needs the ledger (not --bundle) and --location, --actor-id, --actor-role"
        )
    if digest is not None and not _is_sha256_hex(digest):
        raise UsageProblem(
            "--digest is a manifest digest or an OMS root digest: 64 lower-case hex digits"
        )
    source, recorded_root, recorded_bundle = _recorded(database_url, model, bundle, key_text)
    expected = _expected(model, digest, source) if digest is not None else None
    try:
        tree = hash_directory(directory, workers)
    except ArchiveError as error:  # a copy that cannot be hashed is a usage error
        fail(f"error: {error}")
        return 2
    checks = compare(source.files, tree.files)
    differing = [check for check in checks if check.status != "ok"]
    observed_root = oms_root_digest(tree.files)
    intact = (
        not differing
        and tree.digest == source.manifest_digest
        and (recorded_root is None or observed_root == recorded_root)
    )
    result: dict[str, Any] = {
        "model": model,
        "intact": intact,
        "recorded_manifest_digest": source.manifest_digest,
        "observed_manifest_digest": tree.digest,
        "recorded_oms_root_digest": recorded_root,
        "recorded_oms_bundle_digest": recorded_bundle,
        "observed_oms_root_digest": observed_root,
        "recorded_in": source.recorded_in,
        "files": [_check_json(check) for check in checks],
    }
    if expected is not None:
        result["expected_digest"] = expected
    if record:
        result["recorded_check"] = _record_check(
            database_url, model, location or "", actor_id or "", actor_role or "", tree, differing
        )
    if as_json:
        print_json(result)
    else:
        _present(result, differing, len(checks))
    return 0 if intact else 1


def settings(database_url: str | None) -> Settings:
    """The settings, with ``--database-url`` if given; an invalid one is one line (exit 2)."""
    from api.settings import Settings
    from domain.errors import LedgerError

    overrides = {"database_url": database_url} if database_url else {}
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except Exception as error:  # pydantic's ValidationError, reported as one line
        raise LedgerError(_first_line(error)) from None


def services(database_url: str | None) -> Services:
    """The services a command reads and writes through (built once per command)."""
    from api.bootstrap import build_services

    return build_services(settings(database_url))


def _first_line(error: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        detail = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in detail["loc"])
        return f"invalid setting {where}: {detail['msg']}"
    return str(error)


def _recorded(
    database_url: str | None, model: str, bundle: Path | None, key_text: str | None
) -> tuple[RecordedWeights, str | None, str | None]:
    """The model's recorded weights, proven in the signed log or in a verified bundle, with
    the OMS root and bundle digests their event records (None when it records none)."""
    from projections.archive.oms import recorded_oms
    from projections.translog.bundle import read_pinned_key
    from projections.translog.proven import recorded_weights_in_bundle

    pinned = read_pinned_key(key_text) if key_text else None
    if bundle is not None:
        weights = recorded_weights_in_bundle(bundle, model, pinned)
        return weights, *recorded_oms(_bundle_facts(bundle, weights.recorded_in["sequence"]))
    opened = services(database_url)
    try:
        weights = opened.log.recorded_weights(model, pinned)
        event = _event_at(opened, model, weights.recorded_in["version"])
    finally:
        opened.close()
    return weights, *recorded_oms(vars(event))


def _event_at(opened: Services, model: str, version: int) -> Any:
    """The model's event at this version: the proven ``WeightsPreserved``, with every field."""
    from domain.identity import model_id

    [event] = opened.ledger.events.get(model_id(model), gt=version - 1, lte=version)
    return event


def _bundle_facts(bundle: Path, sequence: int) -> dict[str, Any]:
    """The facts of the bundle's leaf at this sequence (the bundle was verified whole)."""
    import json

    from projections.translog.bundle import EVENTS
    from projections.translog.leaves import leaf_fields

    with (bundle / EVENTS).open("rb") as lines:
        for line in lines:
            record = json.loads(line)
            if record.get("sequence") == sequence:
                facts: dict[str, Any] = leaf_fields(record)["facts"]
                return facts
    return {}


def _is_sha256_hex(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def _expected(model: str, digest: str, source: RecordedWeights) -> dict[str, str]:
    """Which digest of the latest preserved weights ``digest`` is; `DigestNotPreserved` if
    neither (the OMS root is computed from the recorded files, so it works for every event)."""
    from domain.errors import DigestNotPreserved
    from domain.manifests import oms_root_digest

    if digest == source.manifest_digest:
        return {"digest": digest, "form": "manifest_digest"}
    root = oms_root_digest(source.files)
    if digest == root:
        return {"digest": digest, "form": "oms_root_digest"}
    raise DigestNotPreserved(
        f"the digest {digest} is neither the manifest digest ({source.manifest_digest}) nor "
        f"the OMS root digest ({root}) of the latest preserved weights of model {model!r} "
        f"(version {source.recorded_in['version']}); nothing was hashed",
        digest=digest,
        model=model,
    )


def _record_check(
    database_url: str | None,
    model: str,
    location: str,
    actor_id: str,
    actor_role: str,
    tree: TreeManifest,
    differing: list[FileCheck],
) -> dict[str, Any]:
    from datetime import UTC, datetime

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
    opened = services(database_url)
    try:
        recorded = opened.ledger.execute(command, authentication=Authentication.OPERATOR)
    finally:
        opened.close()
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
    _present_oms(result)
    say(
        f"OK: recorded in version {where['version']} (sequence {where['sequence']}), proven in "
        f"the signed checkpoint of {where['checkpoint_size']} events"
    )
    if "recorded_check" in result:
        say(f"OK: this check is recorded as version {result['recorded_check']['version']}")


def _present_oms(result: dict[str, Any]) -> None:
    observed, recorded = result["observed_oms_root_digest"], result["recorded_oms_root_digest"]
    if recorded is None:
        say(f"OMS root digest {observed} (the record names no OMS model.sig)")
    elif observed == recorded:
        say(
            f"OK: OMS root digest {observed}, as recorded with the model.sig of SHA-256 "
            f"{result['recorded_oms_bundle_digest']}"
        )
    else:
        fail(f"FAIL: OMS root digest {observed}, recorded {recorded}")
    if "expected_digest" in result:
        form = result["expected_digest"]["form"].replace("_", " ").replace("oms", "OMS")
        say(f"OK: the expected digest is the record's {form}")


# The front. It accepts a subset of what the typer commands accept (the same options, spelled
# out in full): a command line it does not parse cleanly is handed over, never refused here,
# so usage errors and help look the same as everywhere else.


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise HandOver(message)


def _workers(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)  # typer says why (--workers is at least 1)
    return value


def _parser(command: str) -> _Parser:
    parser = _Parser(prog=f"reliquary {command}", add_help=False, allow_abbrev=False)
    if command == "verify-archive":
        parser.add_argument("model")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--workers", type=_workers)
    parser.add_argument("--json", dest="as_json", action="store_true")
    if command == "verify-archive":
        parser.add_argument("--bundle", type=Path)
        parser.add_argument("--key", dest="key_text")
        parser.add_argument("--record", action="store_true")
        parser.add_argument("--location")
        parser.add_argument("--actor-id")
        parser.add_argument("--actor-role")
        parser.add_argument("--digest")
    return parser


def _split(argv: Sequence[str]) -> tuple[str | None, str, list[str]]:
    """The global ``--database-url``, the command and its arguments; `HandOver` otherwise."""
    database_url = None
    rest = list(argv)
    while rest and rest[0].startswith("--database-url"):
        option, equals, value = rest[0].partition("=")
        if option != "--database-url":
            raise HandOver(option)
        if equals:
            database_url, rest = value, rest[1:]
        elif len(rest) > 1:
            database_url, rest = rest[1], rest[2:]
        else:
            raise HandOver(option)
    if not rest or rest[0] not in COMMANDS or {"--help", "-h"} & set(rest[1:]):
        raise HandOver("not a command line of this front")
    return database_url, rest[0], rest[1:]


def run(argv: Sequence[str]) -> int:
    """Run ``manifest`` or ``verify-archive`` from a command line; return the exit code.

    Raises `HandOver` for any command line it does not run itself, before doing anything.
    """
    database_url, command, arguments = _split(argv)
    options = vars(_parser(command).parse_args(arguments))
    if command == "manifest":
        return manifest(options["directory"], options["workers"], options["as_json"])
    model, directory = options.pop("model"), options.pop("directory")
    try:
        return verify_archive(database_url, model, directory, **options)
    except UsageProblem as problem:  # raised before anything is read: typer shows the usage
        raise HandOver(str(problem)) from None
