"""`reliquary manifest` and `verify-archive` start without the CLI framework, and answer the same.

The two commands that hash weights run through a small argparse front (`api.cli.fast`) so that
their start-up does not count against the hashing (issue #16). What that must not change: their
output, their exit codes and their help, all the same as through the typer application.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from api.cli import app, fast, main

FRAMEWORK = {"typer", "click", "rich"}
"""What neither command needs: the CLI framework and the terminal renderer."""

LEDGER_ONLY = {"pydantic", "pydantic_core", "pydantic_settings", "psycopg", "eventsourcing"}
"""What only opening the ledger needs."""


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    root = tmp_path / "weights"
    (root / "shards").mkdir(parents=True)
    (root / "config.json").write_text('{"layers": 2}')
    (root / "shards" / "model-00001.safetensors").write_bytes(bytes(range(256)) * 400)
    (root / "tokenizer é.json").write_text("{}")
    return root


@pytest.fixture
def preserved(demo_cli: Any, archive: Path, tmp_path: Path) -> dict[str, Any]:
    """The demo ledger with the archive preserved as lumen-4's weights, and its bundle."""
    code, _, err = demo_cli(
        "preserve",
        "lumen-4",
        str(archive),
        "--location",
        "s3://archive/lumen-4",
        "--custodian",
        "Archive team",
        "--rationale",
        "Weights archived before retirement.",
        "--actor-id",
        "curator-1",
    )
    assert code == 0, err
    assert demo_cli("checkpoint")[0] == 0
    assert demo_cli("export", str(tmp_path / "bundle"))[0] == 0
    return {"bundle": tmp_path / "bundle", "key": demo_cli("key")[1].strip()}


def _imported(args: list[str], tmp_path: Path) -> tuple[int, set[str]]:
    """Run ``reliquary ARGS`` in a fresh interpreter; its exit code and top-level imports."""
    listing = tmp_path / "modules.json"
    code = (
        "import json, sys\n"
        "from api.cli import main\n"
        "code = main(sys.argv[2:])\n"
        "names = sorted({name.split('.')[0] for name in sys.modules})\n"
        "open(sys.argv[1], 'w').write(json.dumps([code, names]))\n"
    )
    subprocess.run(  # noqa: S603 (this interpreter, the test's own arguments)
        [sys.executable, "-c", code, str(listing), *args], capture_output=True, check=True
    )
    exit_code, names = json.loads(listing.read_text())
    return exit_code, set(names)


def test_manifest_imports_neither_the_framework_nor_the_ledger(
    archive: Path, tmp_path: Path
) -> None:
    code, modules = _imported(["manifest", str(archive), "--json"], tmp_path)
    assert code == 0
    assert modules & (FRAMEWORK | LEDGER_ONLY) == set()


def test_verify_archive_imports_no_framework_and_no_more_of_the_ledger_than_it_reads(
    preserved: dict[str, Any], archive: Path, tmp_path: Path, database_url: str
) -> None:
    from_bundle = [
        "verify-archive",
        "--bundle",
        str(preserved["bundle"]),
        "--key",
        preserved["key"],
        "lumen-4",
        str(archive),
        "--json",
    ]
    code, modules = _imported(from_bundle, tmp_path)
    assert code == 0
    # A bundle is checked without settings or a database driver.
    assert modules & (FRAMEWORK | {"pydantic", "pydantic_settings", "psycopg"}) == set()

    code, modules = _imported(["verify-archive", "lumen-4", str(archive), "--json"], tmp_path)
    assert code == 0
    assert modules & FRAMEWORK == set()
    if database_url.startswith("sqlite"):
        assert "psycopg" not in modules


def _both_doors(args: list[str], capsys: Any, monkeypatch: Any) -> list[tuple[int, str, str]]:
    """The answer of ``reliquary ARGS`` through the fast front, then through typer alone."""
    answers = []
    for forced in (False, True):
        with monkeypatch.context() as patch:
            if forced:
                patch.setattr(fast, "run", _hand_over)
            code = main(args)
        captured = capsys.readouterr()
        answers.append((code, captured.out, captured.err))
    return answers


def _hand_over(argv: Any) -> int:
    raise fast.HandOver("forced")


def test_both_doors_answer_alike(
    preserved: dict[str, Any], archive: Path, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "config.json").write_text('{"layers": 3}')
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "link").symlink_to(archive / "config.json")
    bundle = ["--bundle", str(preserved["bundle"]), "--key", preserved["key"]]
    cases = {
        # command line: the exit code expected
        ("manifest", str(archive), "--json"): 0,
        ("manifest", str(archive), "--workers", "1"): 0,
        ("manifest", "--workers=2", str(archive)): 0,
        ("manifest", str(linked)): 2,  # a link: the archive's rule, one line
        ("manifest", str(tmp_path / "absent"), "--json"): 2,
        ("verify-archive", "lumen-4", str(archive), "--json"): 0,
        ("verify-archive", "lumen-4", str(archive)): 0,
        ("verify-archive", "lumen-4", str(copy), "--json"): 1,
        ("verify-archive", "lumen-4", str(copy)): 1,
        ("verify-archive", *bundle, "lumen-4", str(archive), "--json"): 0,
        ("verify-archive", "lumen-4", str(tmp_path / "absent")): 2,
        ("verify-archive", "no-such-model", str(archive)): 1,
        ("verify-archive", "lumen-4", str(archive), "--record"): 2,  # handed over: usage
        ("--database-url", "sqlite:///" + str(tmp_path / "n.db"), "manifest", str(archive)): 0,
    }
    for args, expected in cases.items():
        fast_answer, typer_answer = _both_doors(list(args), capsys, monkeypatch)
        assert fast_answer == typer_answer, args
        assert fast_answer[0] == expected, (args, fast_answer)


@pytest.mark.parametrize(
    "args",
    [
        ["manifest"],
        ["manifest", "--help"],
        ["verify-archive", "lumen-4", "-h"],
        ["manifest", "DIR", "--workers", "0"],
        ["manifest", "DIR", "--work", "2"],
        ["manifest", "DIR", "--unknown"],
        ["manifest", "DIR", "EXTRA"],
        ["--database-url"],
        ["--database-urlx=1", "manifest", "DIR"],
        ["--help"],
        ["models"],
        [],
    ],
)
def test_the_front_hands_over_what_it_does_not_run_itself(args: list[str]) -> None:
    with pytest.raises(fast.HandOver):
        fast.run(args)


def test_help_still_lists_and_describes_both(capsys: Any) -> None:
    assert main(["--help"]) == 0
    listing = capsys.readouterr().out
    assert "manifest" in listing and "verify-archive" in listing
    assert main(["manifest", "--help"]) == 0
    assert "Hash every regular file under DIR" in capsys.readouterr().out
    assert main(["verify-archive", "--help"]) == 0
    assert "--bundle" in capsys.readouterr().out
    assert app.info.name == "reliquary"
