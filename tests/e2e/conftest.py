"""Fixtures for the end-to-end tests of the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.cli import main


@pytest.fixture
def demo_cli(database_url: str, tmp_path: Path, capsys, monkeypatch):  # type: ignore[no-untyped-def]
    """`reliquary ARGS` on an initialised store of each backend holding the demo ledger.

    Returns a function giving (exit code, stdout, stderr); the signing key is in tmp_path.
    """
    monkeypatch.setenv("RELIQUARY_SIGNING_KEY", str(tmp_path / "signing.key"))
    monkeypatch.setenv("RELIQUARY_DATABASE_URL", database_url)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    assert run("init")[0] == 0
    assert run("demo")[0] == 0
    return run
