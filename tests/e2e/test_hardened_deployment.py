"""The hardened deployment on PostgreSQL, as docs/transparency.md describes it, end to end.

The DBA creates two login roles; the store's owner runs the owner commands, ``reliquary
grant-service-role ROLE`` on a fresh schema (it creates the schema and grants the role, table
by table) and ``reliquary grant-projection-role RUNNER``; then the service runs as the first
with ``RELIQUARY_CREATE_TABLES=false``, and the projection runner as the second. Here: the
grants are exactly what the code lists, for every table of the schema; the HTTP API and the
CLI do everything they do, as the role, without DDL; the role cannot rewrite history, nor undo
the protections that stop it (no trigger dropped or disabled, no replica mode, no TRUNCATE,
UPDATE or DELETE on the events or the log, no table created), nor write a view: the runner
writes them, and the service's pages say how far behind they are until it has.
"""

from __future__ import annotations

import contextlib
import io
import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.bootstrap import SCHEMA_VERSION, build_ledger, build_views
from api.cli import main
from api.cli.demo import load_demo
from api.http.app import create_app
from api.settings import Settings
from projections.translog.checkpoint import verify_checkpoint
from projections.translog.keys import create_signing_key
from projections.translog.merkle import leaf_hash, verify_inclusion
from projections.translog.recorders import APPEND_ONLY_TABLES
from tests.conftest import POSTGRES_URL, require_postgres
from tests.support import doc, register, unique

ORIGIN = "reliquary.test/hardened"
DEMO = "claude-opus-3"  # the demo's richest model, with a vetoed essay
VETOED_ESSAY = "corner-2026-w04"
EVENTS = "ledger_events"
HISTORY = (EVENTS, *APPEND_ONLY_TABLES)  # what no one but the owner may ever change

READ = ["SELECT"]
APPEND = ["SELECT", "INSERT"]
UPSERT = ["SELECT", "INSERT", "UPDATE"]
KEEP = ["SELECT", "INSERT", "UPDATE", "DELETE"]
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
# A column of each table of history, to write an UPDATE that would change nothing.
COLUMN = {
    EVENTS: "topic",
    "translog_leaves": "idx",
    "translog_nodes": "hash",
    "translog_models": "name",
    "translog_checkpoints": "note",
}


def _admin(statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """A statement as the DBA (the test server's superuser), its rows if any."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def _with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def _as_role(role: str, password: str) -> str:
    """The test server's URL, logging in as ``role`` (no schema)."""
    parts = urlsplit(POSTGRES_URL)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{role}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def cli(url: str, *args: str) -> tuple[int, str, str]:
    """`reliquary --database-url URL ARGS` in process: (exit code, stdout, stderr)."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    err = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--database-url", url, *args])
    return code, out.buffer.getvalue().decode(), err.getvalue()  # type: ignore[attr-defined]


@dataclass
class Deployment:
    """A schema the owner prepared, and the role the service runs as."""

    schema: str
    role: str
    owner_url: str
    service_url: str
    role_conninfo: str  # the role's URL without a schema, for psycopg
    granted: dict[str, Any]  # what `grant-service-role --json` printed
    runner: str  # the projection runner's role
    runner_url: str
    runner_conninfo: str
    runner_granted: dict[str, Any]  # what `grant-projection-role --json` printed

    def as_role(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.role_conninfo, autocommit=True)

    def as_runner(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.runner_conninfo, autocommit=True)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The steps of the docs: role, owner command, then the service as the role, with the demo."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    role = f"svc_{uuid.uuid4().hex[:10]}"
    runner = f"prj_{uuid.uuid4().hex[:10]}"
    password = secrets.token_hex(12)
    key = tmp_path_factory.mktemp("hardened") / "signing.key"
    _admin(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")  # 1. the DBA
    _admin(f"CREATE ROLE {runner} LOGIN PASSWORD '{password}'")
    try:
        with pytest.MonkeyPatch.context() as env:
            for name in ("RELIQUARY_LOG_ORIGIN", "RELIQUARY_CACHE_SIZE", "RELIQUARY_DATABASE_URL"):
                env.delenv(name, raising=False)
            env.setenv("RELIQUARY_SIGNING_KEY", str(key))
            env.setenv("RELIQUARY_LOG_ORIGIN", ORIGIN)
            # 2. the owner's one command, on a fresh schema: whatever the environment says, it
            # creates the schema.
            env.setenv("RELIQUARY_CREATE_TABLES", "false")
            owner_url = _with_schema(POSTGRES_URL, schema)
            code, out, err = cli(owner_url, "grant-service-role", role, "--json")
            assert code == 0, err
            code, runner_out, err = cli(owner_url, "grant-projection-role", runner, "--json")
            assert code == 0, err
            # 3. the service, as the role, creating nothing; its signing key is its own file.
            create_signing_key(key, ORIGIN)
            service_url = _with_schema(_as_role(role, password), schema)
            ledger = build_ledger(Settings(database_url=service_url))
            try:
                load_demo(ledger)
            finally:
                ledger.close()
            yield Deployment(
                schema=schema,
                role=role,
                owner_url=owner_url,
                service_url=service_url,
                role_conninfo=_as_role(role, password),
                granted=json.loads(out),
                runner=runner,
                runner_url=_with_schema(_as_role(runner, password), schema),
                runner_conninfo=_as_role(runner, password),
                runner_granted=json.loads(runner_out),
            )
    finally:
        _admin(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        for who in (role, runner):
            _admin(f"DROP OWNED BY {who}")
            _admin(f"DROP ROLE {who}")


def _schema_tables(schema: str) -> set[str]:
    rows = _admin(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p')",
        (schema,),
    )
    return {name for (name,) in rows}


def _effective(role: str, schema: str, table: str) -> list[str]:
    """What the role may do with a table, from any grant (what PostgreSQL checks)."""
    return [
        privilege
        for privilege in PRIVILEGES
        if _admin(
            "SELECT has_table_privilege(%s, %s, %s)", (role, f'"{schema}"."{table}"', privilege)
        )[0][0]
    ]


# -- the owner's command -----------------------------------------------------------------------


def test_every_table_of_the_schema_gets_exactly_the_grant_the_code_lists(
    deployment: Deployment,
) -> None:
    granted = deployment.granted
    tables: dict[str, list[str]] = granted["tables"]
    # Every table of the schema had a decision: none is left out, none is named that is not there.
    assert set(tables) == _schema_tables(deployment.schema)
    assert granted["ungranted_tables"] == []
    # The decisions, from the code's own lists of tables.
    ledger = build_ledger(Settings(database_url=deployment.service_url))
    try:
        views = build_views(
            ledger, Settings(database_url=deployment.service_url), tables_exist=True
        )
        view_tables = [table for view in views.views.values() for table in view.tables]
    finally:
        ledger.close()
    expected = {
        EVENTS: READ,
        **dict.fromkeys(APPEND_ONLY_TABLES, APPEND),
        "translog_tracking": UPSERT,
        "ledger_requests": KEEP,
        "ledger_subjects": UPSERT,
        "ledger_openings": KEEP,
        "ledger_pseudonym_key": APPEND,
        "ledger_manifests": APPEND,
        "ledger_manifest_files": APPEND,
        "witness_state": UPSERT,  # as a witness: a compare-and-swap per log
        "checkpoint_cosignatures": APPEND,  # witnesses' cosignatures: kept forever
        "view_tracking": READ,
        "view_counts": READ,
        **dict.fromkeys(view_tables, READ),  # the projection runner writes them
        "api_actors": UPSERT,
        "reliquary_schema": READ,
    }
    assert tables == expected
    # What PostgreSQL will check is exactly that, whoever granted it.
    for table, privileges in tables.items():
        assert _effective(deployment.role, deployment.schema, table) == privileges, table
    (row,) = _admin(
        "SELECT has_schema_privilege(%s, %s, 'USAGE'), has_schema_privilege(%s, %s, 'CREATE'), "
        "(SELECT COUNT(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles "
        "WHERE rolname = %s)), has_function_privilege(%s, %s, 'EXECUTE')",
        (
            deployment.role,
            deployment.schema,
            deployment.role,
            deployment.schema,
            deployment.role,
            deployment.role,
            f'"{deployment.schema}".ledger_events_insert("{deployment.schema}".stored_event_uuid[])',
        ),
    )
    assert row == (True, False, 0, True)  # USAGE, no CREATE, owns nothing, appends
    assert granted["functions_execute"] == ["ledger_events_insert"]
    assert granted["sequences_usage"] == [
        "ledger_events_notification_id_seq",
        "translog_checkpoints_id_seq",
    ]


def test_the_owner_command_again_upgrades_and_narrows_a_wider_grant(
    deployment: Deployment,
) -> None:
    schema, role = deployment.schema, deployment.role
    # An older, wider grant (or a mistaken one), and a schema not at this version.
    _admin(f"GRANT UPDATE, DELETE, TRUNCATE ON {schema}.{EVENTS} TO {role}")
    _admin(f"GRANT INSERT, UPDATE ON {schema}.reliquary_schema TO {role}")
    _admin(f"GRANT CREATE ON SCHEMA {schema} TO {role}")
    _admin(f"DELETE FROM {schema}.reliquary_schema")

    code, out, err = cli(deployment.owner_url, "grant-service-role", role, "--json")

    assert code == 0, err
    assert json.loads(out) == deployment.granted
    assert _effective(role, schema, EVENTS) == READ
    assert _effective(role, schema, "reliquary_schema") == READ
    assert _admin("SELECT has_schema_privilege(%s, %s, 'CREATE')", (role, schema)) == [(False,)]
    assert _admin(f"SELECT version FROM {schema}.reliquary_schema") == [(SCHEMA_VERSION,)]


def test_a_table_no_list_names_gets_nothing_and_is_named(deployment: Deployment) -> None:
    schema, role = deployment.schema, deployment.role
    _admin(f"CREATE TABLE {schema}.operator_notes (note text)")
    try:
        _admin(f"GRANT SELECT, UPDATE ON {schema}.operator_notes TO {role}")
        code, out, err = cli(deployment.owner_url, "grant-service-role", role, "--json")
        assert code == 0, err
        assert json.loads(out)["ungranted_tables"] == ["operator_notes"]
        assert "not granted: operator_notes" in err
        assert _effective(role, schema, "operator_notes") == []
    finally:
        _admin(f"DROP TABLE {schema}.operator_notes")


def test_the_owner_command_prints_what_it_granted(deployment: Deployment) -> None:
    code, out, err = cli(deployment.owner_url, "grant-service-role", deployment.role)
    assert code == 0, err
    assert f"{EVENTS}\tSELECT\t" in out
    assert "translog_tracking\tSELECT, INSERT, UPDATE\t" in out
    assert "no UPDATE, DELETE or TRUNCATE on the events or the log" in err


def test_a_role_that_could_undo_the_protections_or_does_not_exist_is_refused(
    deployment: Deployment,
) -> None:
    ((owner, superuser),) = _admin(
        "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
    )
    code, _, err = cli(deployment.owner_url, "grant-service-role", owner)
    assert code == 1
    assert ("is a superuser" if superuser else "owns") in err
    assert "could drop the append-only triggers" in err
    # Refused before anything was granted or revoked: the owner keeps every privilege.
    assert _effective(owner, deployment.schema, EVENTS) == list(PRIVILEGES)

    missing = f"nobody_{uuid.uuid4().hex[:10]}"
    code, _, err = cli(deployment.owner_url, "grant-service-role", missing)
    assert code == 2
    assert f"role {missing!r} does not exist" in err
    assert "--create-role" in err


def test_create_role_makes_a_login_role_with_no_other_attribute(deployment: Deployment) -> None:
    role = f"svc_{uuid.uuid4().hex[:10]}"
    try:
        code, out, err = cli(
            deployment.owner_url, "grant-service-role", role, "--create-role", "--json"
        )
        assert code == 0, err
        assert json.loads(out)["role_created"] is True
        assert _admin(
            "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, "
            "rolbypassrls FROM pg_roles WHERE rolname = %s",
            (role,),
        ) == [(True, False, False, False, False, False)]
        assert _effective(role, deployment.schema, EVENTS) == READ
    finally:
        _admin(f"DROP OWNED BY {role}")
        _admin(f"DROP ROLE IF EXISTS {role}")


# -- the service, as the role ------------------------------------------------------------------


def _problem(response: Any, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["type"].endswith(slug), response.text


def test_the_http_service_starts_and_serves_as_the_role(deployment: Deployment) -> None:
    settings = Settings(database_url=deployment.service_url)
    assert settings.create_tables is False
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:  # the lifespan ran: no DDL
        services = app.state.services
        tokens = {
            role: services.actors.add(f"{role}-hardened", role).token
            for role in ("curator", "reviewer", "auditor")
        }

        def auth(role: str = "auditor", **headers: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {tokens[role]}", **headers}

        # Commands: without a key, with a key (and its replay), and refused (kept under a key).
        model = unique("hardened")
        body = {k: v for k, v in register(model).items() if k not in ("command", "model", "actor")}
        created = client.post(f"/models/{model}", json=body, headers=auth("curator"))
        assert created.status_code == 201, created.text
        signal = {
            "rationale": "Counted from the gateway's logs.",
            "kind": "research_use",
            "period_start": "2024-04-01",
            "period_end": "2024-04-30",
            "value": 12,
            "unit": "api_calls",
        }
        keyed = auth("curator", **{"Idempotency-Key": uuid.uuid4().hex})
        first = client.post(f"/models/{model}/signals", json=signal, headers=keyed)
        again = client.post(f"/models/{model}/signals", json=signal, headers=keyed)
        assert (first.status_code, again.status_code) == (201, 201), first.text
        assert again.headers["idempotent-replayed"] == "true"
        publish = f"/models/{DEMO}/essays/{VETOED_ESSAY}/publish"
        refusal = {
            "rationale": "Try it.",
            "disclaimer_version": "v1",
            "location": "https://essays.example.org/vetoed",
        }
        _problem(client.post(publish, json=refusal, headers=auth("reviewer")), 409, "veto")
        keyed = auth("reviewer", **{"Idempotency-Key": uuid.uuid4().hex})
        _problem(client.post(publish, json=refusal, headers=keyed), 409, "veto")
        replayed = client.post(publish, json=refusal, headers=keyed)
        _problem(replayed, 409, "veto")
        assert replayed.headers["idempotent-replayed"] == "true"

        # Reads: the records, the views (kept by the projection runner, not this service), the
        # report.
        code, _, err = cli(deployment.runner_url, "projections", "catch-up")
        assert code == 0, err
        for path, params in (
            ("/models", {}),
            (f"/models/{DEMO}", {}),
            (f"/models/{model}/history", {}),
            ("/timeline", {"limit": 5}),
            ("/search", {"q": "licence"}),
            ("/registers/access", {}),
            ("/registers/policies", {}),
            ("/registers/essays", {"model": DEMO}),
            ("/registers/preferences", {}),
            ("/reports/fairness", {"as_of": "2026-03-31"}),
        ):
            response = client.get(path, params=params, headers=auth())
            assert response.status_code == 200, (path, response.text)
        assert (
            client.get(f"/models/{model}/history", headers=auth()).json()["events"][-1]["type"]
            == "SignalRecorded"
        )
        assert client.get("/search", params={"q": "licence"}, headers=auth()).json()

        # The log: the service signs (the follower does it too, within its interval).
        services.log.sign_checkpoint()
        key = client.get("/log/key").text.strip()
        size = verify_checkpoint(client.get("/log/checkpoint").text, key, origin=ORIGIN).size
        assert size == services.ledger.recorder.max_notification_id()
        proof = client.get("/log/proof/inclusion", params={"sequence": 3}).json()
        leaf = client.get("/log/leaves/3")
        assert leaf.status_code == 200
        verify_inclusion(
            leaf_hash(leaf.content),
            proof["leaf_index"],
            proof["tree_size"],
            [bytes.fromhex(step) for step in proof["audit_path"]],
            bytes.fromhex(proof["root"]),
        )
        assert client.get("/log/proof/consistency", params={"old": 1}).status_code == 200
        assert client.get("/log/checkpoints").status_code == 200
        assert client.get("/tlog/checkpoint").status_code == 200
        name = "0/000" if size >= 256 else f"0/000.p/{size}"
        tile = client.get(f"/tlog/tile/{name}")
        assert tile.status_code == 200, tile.text
        assert tile.content[:32] == leaf_hash(client.get("/log/leaves/0").content)
        assert client.get("/log/export", headers=auth()).status_code == 200


def test_the_cli_reads_and_writes_as_the_role(deployment: Deployment, tmp_path: Path) -> None:
    commands = tmp_path / "commands.jsonl"
    model = unique("hardened-cli")
    commands.write_text(
        json.dumps(register(model))
        + "\n"
        + json.dumps(
            doc("schedule_retirement", model, retirement_date="2030-06-30", reasons=["cost"])
        )
        + "\n"
    )
    url = deployment.service_url
    steps: list[tuple[str, ...]] = [
        ("init",),  # creates nothing in the store: the signing key exists already
        ("apply", str(commands)),
        ("models", "--json"),
        ("history", model, "--json"),
        ("timeline", "--limit", "5", "--json"),
        ("why", "licence", "--json"),
        *(("register", kind, "--json") for kind in ("access", "policies", "essays", "preferences")),
        ("report", "fairness", "--json"),
        ("report", "fairness", "--csv"),
        ("actors", "add", "hardened-curator", "--role", "curator", "--json"),
        ("actors", "list", "--json"),
        ("actors", "revoke", "hardened-curator", "--json"),
        ("checkpoint", "--json"),
        ("verify", "--json"),
        ("projections", "status", "--json"),
        ("verify", "--views", "--json"),
        ("export", str(tmp_path / "bundle"), "--json"),
    ]
    for step in steps:
        code, out, err = cli(url, *step)
        assert code == 0, (step, err)
        assert "permission denied" not in err, step
        if "--json" in step:
            json.loads(out)
    code, out, _ = cli(url, "history", model, "--json")
    assert [e["type"] for e in json.loads(out)["events"]] == [
        "ModelRegistered",
        "RetirementScheduled",
    ]
    # The service wrote no view: they wait for the projection runner, which takes the new
    # events (and may rebuild them), after which the service's views are current.
    code, out, _ = cli(url, "projections", "status", "--json")
    assert all(view["behind"] >= 2 for view in json.loads(out))
    code, _, err = cli(url, "projections", "rebuild", "--json")
    assert code == 1
    assert "permission denied" in err
    for step in (("projections", "catch-up", "--json"), ("projections", "rebuild", "--json")):
        code, out, err = cli(deployment.runner_url, *step)
        assert code == 0, (step, err)
    code, out, _ = cli(url, "projections", "status", "--json")
    assert all(view["behind"] == 0 for view in json.loads(out))
    code, out, err = cli(url, "verify", "--views", "--json")
    assert code == 0, err
    assert (tmp_path / "bundle" / "events.jsonl").is_file()


# -- what the role cannot do -------------------------------------------------------------------


def _forbidden(schema: str) -> list[str]:
    statements = [
        "SET session_replication_role = replica",
        f"CREATE TABLE {schema}.intruder (id int)",
        f"CREATE FUNCTION {schema}.intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        f"DROP FUNCTION {schema}.reliquary_append_only() CASCADE",
    ]
    for table in HISTORY:
        qualified = f"{schema}.{table}"
        column = COLUMN[table]
        statements += [
            f"DROP TRIGGER {table}_append_only ON {qualified}",
            f"DROP TRIGGER {table}_no_truncate ON {qualified}",
            f"ALTER TABLE {qualified} DISABLE TRIGGER {table}_append_only",
            f"ALTER TABLE {qualified} DISABLE TRIGGER ALL",
            f"TRUNCATE {qualified}",
            f"UPDATE {qualified} SET {column} = {column}",
            f"DELETE FROM {qualified}",
            f"DROP TABLE {qualified}",
        ]
    statements += [
        f"DELETE FROM {schema}.translog_tracking",
        f"TRUNCATE {schema}.translog_tracking",
        f"UPDATE {schema}.reliquary_schema SET version = 0",
        f"DELETE FROM {schema}.api_actors",
        # Appending past the insert function would pass the lock that keeps ids in order.
        f"INSERT INTO {schema}.{EVENTS} (originator_id, originator_version, topic, state) "
        "VALUES (gen_random_uuid(), 1, 'x', '\\x00')",
    ]
    return statements


def test_the_role_cannot_rewrite_history_nor_undo_its_protections(
    deployment: Deployment,
) -> None:
    with deployment.as_role() as conn:
        for statement in _forbidden(deployment.schema):
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
                conn.execute(statement)
            # Refused by the role's privileges, before any trigger could be reached.
            assert "append-only" not in str(refused.value), statement
        # It still reads and appends.
        count = conn.execute(f"SELECT COUNT(*) FROM {deployment.schema}.{EVENTS}").fetchone()
        assert count is not None and count[0] > 0


# -- the projection runner's role --------------------------------------------------------------


def _view_tables(deployment: Deployment) -> list[str]:
    ledger = build_ledger(Settings(database_url=deployment.service_url))
    try:
        views = build_views(
            ledger, Settings(database_url=deployment.service_url), tables_exist=True
        )
        return [table for view in views.views.values() for table in view.tables]
    finally:
        ledger.close()


def test_the_projection_role_gets_the_views_and_what_they_read_and_nothing_else(
    deployment: Deployment,
) -> None:
    granted = deployment.runner_granted
    expected = {
        EVENTS: READ,
        "ledger_openings": READ,  # sealed values opened for the views that show them
        "ledger_subjects": READ,
        "translog_checkpoints": READ,  # public: what the runner names the views against
        "view_tracking": KEEP,
        "view_counts": KEEP,
        **dict.fromkeys(_view_tables(deployment), KEEP),
        "reliquary_schema": READ,
    }
    assert granted["tables"] == expected
    # The service's tables are withheld on purpose, not unknown: no warning names them.
    assert granted["ungranted_tables"] == []
    assert granted["functions_execute"] == []
    assert granted["sequences_usage"] == []
    # What PostgreSQL checks, whoever granted it: exactly that, and nothing on any other table.
    for table in _schema_tables(deployment.schema):
        assert _effective(deployment.runner, deployment.schema, table) == expected.get(table, []), (
            table
        )
    (row,) = _admin(
        "SELECT has_schema_privilege(%s, %s, 'CREATE'), has_function_privilege(%s, %s, 'EXECUTE')",
        (
            deployment.runner,
            deployment.schema,
            deployment.runner,
            f'"{deployment.schema}".ledger_events_insert("{deployment.schema}".stored_event_uuid[])',
        ),
    )
    assert row == (False, False)


def test_the_projection_role_is_refused_to_an_owner(deployment: Deployment) -> None:
    ((owner,),) = _admin("SELECT current_user")
    code, _, err = cli(deployment.owner_url, "grant-projection-role", owner)
    assert code == 1
    assert "could drop the append-only triggers" in err
    assert _effective(owner, deployment.schema, "view_tracking") == list(PRIVILEGES)


def test_the_service_role_cannot_write_a_view_nor_its_tracking(deployment: Deployment) -> None:
    schema = deployment.schema
    view = _view_tables(deployment)[0]
    ((column,),) = _admin(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
        "AND table_name = %s ORDER BY ordinal_position LIMIT 1",
        (schema, view),
    )
    statements = [
        f"INSERT INTO {schema}.{view} DEFAULT VALUES",
        f"UPDATE {schema}.{view} SET {column} = {column}",
        f"DELETE FROM {schema}.{view}",
        f"TRUNCATE {schema}.{view}",
        f"INSERT INTO {schema}.view_tracking VALUES ('timeline', 1)",
        f"UPDATE {schema}.view_tracking SET notification_id = notification_id",
        f"DELETE FROM {schema}.view_tracking",
        f"INSERT INTO {schema}.view_counts VALUES ('timeline', 1)",
        f"UPDATE {schema}.view_counts SET taken = taken + 1",
        f"DELETE FROM {schema}.view_counts",
    ]
    with deployment.as_role() as conn:
        for statement in statements:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        # It reads them.
        assert conn.execute(f"SELECT COUNT(*) FROM {schema}.{view}").fetchone() is not None


def test_the_projection_role_cannot_write_history_nor_read_tokens(deployment: Deployment) -> None:
    schema = deployment.schema
    statements = [
        f"INSERT INTO {schema}.{EVENTS} (originator_id, originator_version, topic, state) "
        "VALUES (gen_random_uuid(), 1, 'x', '\\x00')",
        f"SELECT {schema}.ledger_events_insert(ARRAY[]::{schema}.stored_event_uuid[])",
        f"UPDATE {schema}.translog_checkpoints SET note = note",
        f"INSERT INTO {schema}.translog_tracking VALUES ('ledger', 1)",
        f"SELECT * FROM {schema}.api_actors",
        f"SELECT * FROM {schema}.ledger_pseudonym_key",
        f"SELECT * FROM {schema}.ledger_requests",
        f"UPDATE {schema}.ledger_subjects SET key = NULL",
        f"DELETE FROM {schema}.ledger_openings",
        f"CREATE TABLE {schema}.intruder (id int)",
    ]
    with deployment.as_runner() as conn:
        for statement in statements:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def _footer_basis(html: str) -> dict[str, str]:
    import re

    found = re.search(r'<p id="basis" class="basis" ([^>]*)>', html)
    assert found is not None, "the page names no basis"
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', found.group(1)))


def test_the_service_serves_the_views_as_they_are_and_says_how_far_behind(
    deployment: Deployment,
) -> None:
    # The views current to begin with: the runner's one catch-up.
    code, _, err = cli(deployment.runner_url, "projections", "catch-up")
    assert code == 0, err
    assert "OK:" in err
    settings = Settings(database_url=deployment.service_url)
    app = create_app(settings)
    with TestClient(app) as client:
        services = app.state.services
        # Decided once: this role may not write the views, so reads do not try.
        assert services.views.catches_up_on_read is False
        curator = services.actors.add(unique("curator"), "curator").token
        auditor = services.actors.add(unique("auditor"), "auditor").token
        before = _footer_basis(client.get("/web/verify").text)
        assert before["events"] == before["recorded"]

        model = unique("behind")
        body = {k: v for k, v in register(model).items() if k not in ("command", "model", "actor")}
        created = client.post(
            f"/models/{model}", json=body, headers={"Authorization": f"Bearer {curator}"}
        )
        assert created.status_code == 201, created.text

        # The page says the views are one event behind the ledger; the timeline lacks it.
        after = _footer_basis(client.get("/web/verify").text)
        assert (int(after["recorded"]) - int(after["events"])) == 1
        assert after["events"] == before["events"]
        page = client.get("/web/verify").text
        assert "1 recorded after them are not shown" in page
        answer = client.get(
            "/timeline", params={"model": model}, headers={"Authorization": f"Bearer {auditor}"}
        )
        assert answer.json()["entries"] == []
        assert answer.json()["basis"]["behind_ledger"] == 1
        assert "behind-ledger=1" in answer.headers["reliquary-basis"]

        # The runner takes it: the same reads show it, and nothing is behind.
        code, out, err = cli(deployment.runner_url, "projections", "catch-up", "--json")
        assert code == 0, err
        assert json.loads(out)["basis"]["behind_ledger"] == 0
        answer = client.get(
            "/timeline", params={"model": model}, headers={"Authorization": f"Bearer {auditor}"}
        )
        assert [e["type"] for e in answer.json()["entries"]] == ["ModelRegistered"]
        assert answer.json()["basis"]["behind_ledger"] == 0
        assert _footer_basis(client.get("/web/verify").text)["recorded"] == str(
            int(before["recorded"]) + 1
        )
    # And every view still recomputes from the events, as the service role reads them.
    code, _, err = cli(deployment.service_url, "verify", "--views")
    assert code == 0, err
