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
) -> int:
    """Compare a copy of an archive with the model's latest preserved manifest, file by file.

    Returns the exit code: 0 when every file and the manifest digest match, 1 on any
    difference, 2 when the copy cannot be hashed. Raises `UsageProblem` before anything is
    read when ``--record`` lacks what it needs.
    """
    from domain.errors import ArchiveError
    from projections.archive import compare

    if record and (bundle is not None or not (location and actor_id and actor_role)):
        raise UsageProblem(
            "--record needs the ledger (not --bundle) and --location, --actor-id, --actor-role"
        )
    source = _recorded(database_url, model, bundle, key_text)
    try:
        tree = hash_directory(directory, workers)
    except ArchiveError as error:  # a copy that cannot be hashed is a usage error
        fail(f"error: {error}")
        return 2
    checks = compare(source.files, tree.files)
    differing = [check for check in checks if check.status != "ok"]
    intact = not differing and tree.digest == source.manifest_digest
    result: dict[str, Any] = {
        "model": model,
        "intact": intact,
        "recorded_manifest_digest": source.manifest_digest,
        "observed_manifest_digest": tree.digest,
        "recorded_in": source.recorded_in,
        "files": [_check_json(check) for check in checks],
    }
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
) -> RecordedWeights:
    """The model's recorded weights, proven in the signed log or in a verified bundle."""
    from projections.translog.bundle import read_pinned_key
    from projections.translog.proven import recorded_weights_in_bundle

    pinned = read_pinned_key(key_text) if key_text else None
    if bundle is not None:
        return recorded_weights_in_bundle(bundle, model, pinned)
    opened = services(database_url)
    try:
        return opened.log.recorded_weights(model, pinned)
    finally:
        opened.close()


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
    say(
        f"OK: recorded in version {where['version']} (sequence {where['sequence']}), proven in "
        f"the signed checkpoint of {where['checkpoint_size']} events"
    )
    if "recorded_check" in result:
        say(f"OK: this check is recorded as version {result['recorded_check']['version']}")


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
