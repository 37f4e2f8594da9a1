"""The README's CLI tour runs, command by command, on the demo data."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from api.cli import main

ROOT = Path(__file__).resolve().parents[2]


def tour_commands() -> list[str]:
    """The ``$ reliquary ...`` lines of the README's console blocks."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```console\n(.*?)```", readme, flags=re.S)
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def test_the_tour_has_commands() -> None:
    assert len(tour_commands()) >= 5


def test_every_tour_command_runs_on_the_demo_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tour runs in a scratch directory holding the repository files it refers to.
    import shutil

    shutil.copytree(ROOT / "docs" / "examples", tmp_path / "docs" / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RELIQUARY_DATABASE_URL", f"sqlite:///{tmp_path / 'tour.db'}")
    assert os.environ["RELIQUARY_DATABASE_URL"].startswith("sqlite")
    for command in tour_commands():
        argv = shlex.split(command)
        assert argv[0] == "reliquary"
        code = main(argv[1:])
        captured = capsys.readouterr()
        assert code == 0, f"{command!r} exited {code}: {captured.err}"
        assert captured.out or captured.err


def test_the_tour_shows_what_it_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    monkeypatch.setenv("RELIQUARY_DATABASE_URL", f"sqlite:///{tmp_path / 'tour.db'}")
    assert main(["demo"]) == 0
    capsys.readouterr()
    assert main(["history", "claude-opus-3", "--at-version", "19", "--json"]) == 0
    state = json.loads(capsys.readouterr().out)["state"]
    assert state["status"] == "retirement_scheduled"
    assert state["access_policy"] is not None
    assert main(["history", "meridian-2", "--at-version", "24", "--json"]) == 0
    checks = json.loads(capsys.readouterr().out)["state"]["archive_checks"]
    assert checks[-1]["intact"] is False
