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
SCHEMA_DIGEST = (11, "ec8e293d211203528fa9d242fa949d9af76c23d9d47b611f5a8846e654f73487")


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


def test_an_upgrade_rebuilds_the_views_whose_columns_changed(database_url: str) -> None:
    """A store of schema version 3 (access requests without reason codes or resubmissions)
    started by this code has the access and search views dropped, recreated and taken again
    from the events; views that did not change keep their rows and their position."""
    from api.bootstrap import build_views
    from domain.ledger import Ledger
    from projections import registers
    from tests.support import doc, parse, register, unique

    settings = Settings(database_url=database_url)
    model = unique()
    ledger = build_ledger(settings)
    request = doc("request_access", model, role="researcher", request_id="r1", requester="A",
                  organisation="U", requester_group="academic", purpose="p", scope="s")  # fmt: skip
    deny = doc("deny_access_request", model, role="board", request_id="r1",
               reason_code="capacity", reason="No capacity.")  # fmt: skip
    for document in (register(model), request, deny):
        ledger.execute(parse(document))
    views = build_views(ledger, settings, tables_exist=True)
    views.catch_up()
    recorder = views.recorder
    # Make the store what version 3 left: the old access table, holding rows, and version 3.
    with recorder.transaction() as cursor:
        recorder.execute(cursor, "DROP TABLE view_access_requests")
        recorder.execute(
            cursor,
            "CREATE TABLE view_access_requests (model TEXT NOT NULL, request_id TEXT NOT NULL, "
            "requester TEXT NOT NULL, organisation TEXT NOT NULL, requester_group TEXT NOT NULL, "
            "purpose TEXT NOT NULL, scope TEXT NOT NULL, requested_on TEXT NOT NULL, "
            "status TEXT NOT NULL, first_decision TEXT, decided_on TEXT, appealed INTEGER NOT "
            "NULL, expires_on TEXT, terms TEXT, reason TEXT, PRIMARY KEY (model, request_id))",
        )
        recorder.execute(cursor, "UPDATE reliquary_schema SET version = 3")
    status_before = {s.name: s.position for s in views.status()}
    ledger.close()

    upgraded: Ledger = build_ledger(settings)
    try:
        views = build_views(upgraded, settings, tables_exist=True)
        after = {s.name: s.position for s in views.status()}
        # Changed since version 3 (access in 6, search in 11): dropped with their positions, to
        # be taken again.
        changed = {"access", "search"}
        assert {k: after[k] for k in changed} == {"access": 0, "search": 0}
        assert {k: v for k, v in after.items() if k not in changed} == {
            k: v for k, v in status_before.items() if k not in changed
        }
        views.catch_up()
        [row] = registers.access_requests(views.recorder, model)
        assert (row.status, row.reason_code) == ("denied", "capacity")
        # The next start finds the store current and drops nothing.
        build_ledger(settings).close()
        assert {s.name: s.position for s in build_views(upgraded, settings).status()}["access"]
    finally:
        upgraded.close()
