"""Starting once, safely: the store's schema is created by one start, under a lock, and pinned.

Every start checks the schema's version with one query; only a store that is not current is
created, on PostgreSQL under an advisory lock, so processes started together never race on
``CREATE OR REPLACE`` (which failed with "tuple concurrently updated" before).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from api.bootstrap import SCHEMA_VERSION, build_ledger
from api.settings import Settings

# The digest of a fresh SQLite store's schema (every table, index and trigger). When it
# changes, bump api.bootstrap.SCHEMA_VERSION so that existing stores are brought up to date,
# then record the new digest here.
SCHEMA_DIGEST = (3, "3b7d07087c78fbfdd3328ce9cfe34c445ff11e5f5969101a6f0bf0e34b3019e9")


def _sqlite_schema(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
            "ORDER BY type, name"
        ).fetchall()
    return "\n".join(f"{kind} {name}: {sql}" for kind, name, sql in rows)


def test_the_schema_is_pinned_to_its_version(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    build_ledger(Settings(database_url=f"sqlite:///{path}")).close()
    digest = hashlib.sha256(_sqlite_schema(path).encode()).hexdigest()
    assert (SCHEMA_VERSION, digest) == SCHEMA_DIGEST, (
        "the store's schema changed: bump api.bootstrap.SCHEMA_VERSION and set SCHEMA_DIGEST "
        f"in this test to ({SCHEMA_VERSION + 1}, {digest!r})"
    )


def test_a_start_on_a_current_store_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    build_ledger(Settings(database_url=f"sqlite:///{path}")).close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE api_actors")  # if a start created tables, it would be back
    build_ledger(Settings(database_url=f"sqlite:///{path}")).close()
    assert "api_actors" not in _sqlite_schema(path)


def test_the_sqlite_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    build_ledger(Settings(database_url=f"sqlite:///{path}")).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_processes_started_together_on_a_new_store_all_start(database_url: str) -> None:
    environment = {**os.environ, "RELIQUARY_DATABASE_URL": database_url}
    starts = [
        subprocess.Popen(  # noqa: S603 (our own CLI)
            [str(Path(sys.executable).parent / "reliquary"), "models", "--json"],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(8)
    ]
    outcomes = [(start.wait(), start.stderr.read().decode()) for start in starts]  # type: ignore[union-attr]
    for start in starts:
        start.stdout.close()  # type: ignore[union-attr]
        start.stderr.close()  # type: ignore[union-attr]
    failures = [error for code, error in outcomes if code != 0]
    assert failures == []
