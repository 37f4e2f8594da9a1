"""Append throughput: the ledger against the floor of a plain driver, on SQLite and PostgreSQL.

Run from the repository root::

    .venv/bin/python bench/append.py [--events 10000] [--models 100]
        [--backend sqlite|postgres|both] [--batch 1000] [--repeat 3] [--json]

Two ways of appending are measured on each backend:

* ``single``: one command per transaction, through ``Ledger.execute`` (as ``reliquary apply``
  and the HTTP API do);
* ``batch``: ``Ledger.import_commands(batch_size=N)``, N commands per transaction (as restoring
  a bundle does).

Beside each, in the same process and interleaved with it, the floor: the same stored payloads
(originator id, version, topic and the encoded event state, byte for byte what the ledger
stores) inserted by the plain driver (psycopg, resp. sqlite3) into a bare table
``(id, originator_id, version, topic, state)`` with the same transaction size: one INSERT per
transaction, resp. ``executemany`` of N rows per transaction. Each measurement is repeated and
the best run of each side is kept, so that the machine's noise hits both sides alike. Command
documents are parsed before timing starts (both sides get ready-made input); the ledger side
includes loading the model, checking the rules, making and encoding the event and saving it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast
from uuid import UUID, uuid4

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from api.bootstrap import build_ledger  # noqa: E402
from api.settings import Settings  # noqa: E402
from domain.commands import Command, parse_command  # noqa: E402
from domain.ledger import Ledger  # noqa: E402

GOALS = {("postgres", "single"): 0.5, ("postgres", "batch"): 0.5}
"""The issue's goals: the ledger's rate as a fraction of the plain driver's, on PostgreSQL."""

PG_DSN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")

Row = tuple[UUID, int, str, bytes]
"""A stored event as the floor inserts it: originator id, version, topic, state."""


# -- realistic command documents ------------------------------------------------------------


def _digest(rng: random.Random) -> str:
    return "sha256:" + rng.randbytes(32).hex()


_VOCABULARY = (
    "the", "model", "was", "reviewed", "against", "retirement", "policy", "and", "board",
    "weighed", "cost", "safety", "research", "value", "user", "demand", "before", "deciding",
    "as", "recorded", "in", "minutes", "with", "evidence", "from", "evaluation", "suite",
    "interviews", "serving", "metrics", "over", "period",
)  # fmt: skip
_ACTORS = {
    "curator": "curator-ana",
    "board": "board-chair",
    "reviewer": "reviewer-kim",
}


def _words(rng: random.Random, low: int, high: int) -> str:
    count = rng.randint(low, high)
    return " ".join(rng.choice(_VOCABULARY) for _ in range(count)).capitalize()


def _decision(rng: random.Random, model: str, role: str, actor: str) -> dict[str, Any]:
    evidence = [
        {
            "uri": f"https://records.example.org/{model}/{rng.randrange(10**6)}",
            "digest": _digest(rng),
            "description": _words(rng, 3, 8),
        }
        for _ in range(rng.randint(0, 2))
    ]
    return {
        "model": model,
        "actor": {"id": actor, "role": role},
        "rationale": _words(rng, 12, 40),
        "evidence": evidence,
    }


def signal_period(n: int) -> tuple[date, date]:
    """The n-th period no other signal of a model uses (the ledger keeps one value a period).

    Periods start on one of 500 days from 2024-04-01 and last 1 + n // 500 days, so they stay
    distinct, and in the past, for n below 235,000.
    """
    start = date(2024, 4, 1) + timedelta(days=n % 500)
    return start, start + timedelta(days=n // 500)


def _script(rng: random.Random, model: str, step: int) -> dict[str, Any]:
    """The command a model receives at a step of its life (after registration)."""
    k = step // 12
    where = step % 12

    def by(role: str) -> dict[str, Any]:
        return _decision(rng, model, role, _ACTORS[role])

    if where in (0, 6):
        kind = rng.choice(["user_satisfaction", "safety_incidents", "serving_cost"])
        return {
            **by("curator"),
            "command": "record_signal",
            "kind": kind,
            "period_start": signal_period(step)[0].isoformat(),
            "period_end": signal_period(step)[1].isoformat(),
            "value": round(rng.uniform(0, 1000), 3),
            "unit": {"user_satisfaction": "score", "safety_incidents": "count"}.get(kind, "usd"),
        }
    if where in (1, 7):
        return {
            **_decision(rng, model, "researcher", f"researcher-{rng.randrange(50)}"),
            "command": "request_access",
            "request_id": f"req-{k}-{where}",
            "requester": "Dr. Researcher",
            "organisation": "Example University",
            "requester_group": rng.choice(["academic", "nonprofit", "industry"]),
            "purpose": _words(rng, 10, 30),
            "scope": _words(rng, 5, 15),
        }
    if where == 2:
        return {
            **by("board"),
            "command": "approve_access_request",
            "request_id": f"req-{k}-1",
            "terms": _words(rng, 8, 20),
            "expires_on": "2099-12-31",
        }
    if where == 8:
        return {
            **by("board"),
            "command": "deny_access_request",
            "request_id": f"req-{k}-7",
            "reason_code": "incomplete_application",
            "reason": _words(rng, 8, 20),
        }
    if where in (3, 9):
        return {
            **by("reviewer"),
            "command": "draft_essay",
            "essay_id": f"essay-{k}-{where}",
            "title": _words(rng, 3, 8),
            "prompt_ref": f"https://records.example.org/prompts/{rng.randrange(10**6)}",
            "context_refs": [f"https://records.example.org/ctx/{rng.randrange(10**6)}"],
            "content_digest": _digest(rng),
        }
    if where == 4:
        return {**by("reviewer"), "command": "approve_essay", "essay_id": f"essay-{k}-3"}
    if where == 5:
        return {
            **by("reviewer"),
            "command": "publish_essay",
            "essay_id": f"essay-{k}-3",
            "disclaimer_version": "v2",
            "location": f"https://essays.example.org/{model}/{k}",
        }
    if where == 10:
        return {
            **by("reviewer"),
            "command": "veto_essay",
            "essay_id": f"essay-{k}-9",
            "risk_category": rng.choice(["misleading", "privacy", "self_exfiltration"]),
            "reason": _words(rng, 8, 20),
        }
    # where == 11
    return {
        **by("curator"),
        "command": "archive_artifact",
        "artifact_id": f"artifact-{k}",
        "kind": rng.choice(["training_notes", "evaluation_results", "known_behaviours"]),
        "title": _words(rng, 3, 8),
        "digest": _digest(rng),
        "location": f"s3://archive/{model}/artifact-{k}",
    }


def command_documents(events: int, models: int, seed: int = 7) -> list[bytes]:
    """One JSON document per command: every model registered, then the rest round robin."""
    if events < models:
        raise SystemExit("--events must be at least --models (each model is registered first)")
    rng = random.Random(seed)  # noqa: S311 (reproducible test data, not secrets)
    names = [f"bench-model-{index:04d}" for index in range(models)]
    documents = [
        {
            **_decision(rng, name, "curator", "curator-ana"),
            "command": "register_model",
            "family": "bench",
            "model_version": f"{index}.0",
            "release_date": "2024-01-15",
            "developer": "Example Lab",
        }
        for index, name in enumerate(names)
    ]
    steps = [0] * models
    for position in range(events - models):
        index = position % models
        documents.append(_script(rng, names[index], steps[index]))
        steps[index] += 1
    return [json.dumps(document).encode() for document in documents]


# -- the two sides -----------------------------------------------------------------------------


def in_memory_ledger() -> Ledger:
    """A `Ledger` on the library's in-memory store (``eventsourcing.popo``).

    Access requests seal their private fields under the ledger's pseudonym key, which the
    SQL recorders keep in a table (`domain.sealed.SealedRecords`); the in-memory recorder has
    none, so it is given a fixed key here. It keeps no openings (it ignores ``sealed``): the
    stored event states are the same bytes, sizes and count as on the SQL stores.
    """
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    recorder: Any = ledger.recorder
    if not hasattr(recorder, "pseudonym_key"):
        key = bytes(32)
        recorder.pseudonym_key = lambda: key
    return ledger


def stored_rows(commands: Sequence[Command]) -> list[Row]:
    """The exact stored events (the encoded state bytes) the ledger writes for these commands.

    Made by the same `Ledger` class on the library's in-memory store, so the floor inserts
    the same payloads the ledger does (their timestamps differ, not their sizes).
    """
    ledger = in_memory_ledger()
    ledger.import_commands(commands, batch_size=len(commands))
    notifications = ledger.recorder.select_notifications(start=1, limit=len(commands) + 1)
    return [
        (cast(UUID, n.originator_id), n.originator_version, n.topic, n.state) for n in notifications
    ]


def timed(run: Callable[[], object], count: int) -> float:
    """Events per second of one run (the garbage collector is run before, not during)."""
    gc.collect()
    start = time.perf_counter()
    run()
    return count / (time.perf_counter() - start)


def ledger_run(ledger: Ledger, commands: Sequence[Command], size: int) -> Callable[[], object]:
    """One pass of the commands: one per transaction (size 1), else ``import_commands``."""
    if size == 1:
        return lambda: [ledger.execute(command) for command in commands]
    return lambda: ledger.import_commands(commands, batch_size=size)


class Backend:
    """One backend: fresh ledger stores and a bare floor table."""

    name = ""

    def ledger(self) -> Ledger:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    def plain_single(self, rows: Sequence[Row]) -> None:
        raise NotImplementedError

    def plain_batch(self, rows: Sequence[Row], batch: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SQLiteBackend(Backend):
    """A temporary directory; the ledger gets a new file per run, the floor a bare table."""

    name = "sqlite"

    def __init__(self) -> None:
        self.directory = tempfile.TemporaryDirectory(prefix="reliquary-bench-")
        self.runs = 0
        self.current: Ledger | None = None
        self.plain = sqlite3.connect(Path(self.directory.name) / "plain.db", isolation_level=None)
        # The same journal mode as the library sets on its file, and SQLite's default sync.
        self.plain.execute("PRAGMA journal_mode=WAL")
        self.plain.execute(
            "CREATE TABLE plain_events (id INTEGER PRIMARY KEY, originator_id TEXT, "
            "version INTEGER, topic TEXT, state BLOB)"
        )

    def ledger(self) -> Ledger:
        if self.current is not None:
            self.current.close()
        # A new ledger (cold cache) on a new file.
        self.runs += 1
        path = Path(self.directory.name) / f"ledger-{self.runs}.db"
        self.current = build_ledger(Settings(database_url=f"sqlite:///{path}"))
        return self.current

    def reset(self) -> None:
        self.plain.execute("DELETE FROM plain_events")

    _INSERT = "INSERT INTO plain_events (originator_id, version, topic, state) VALUES (?, ?, ?, ?)"

    def plain_single(self, rows: Sequence[Row]) -> None:
        conn = self.plain
        for originator_id, version, topic, state in rows:
            conn.execute("BEGIN")
            conn.execute(self._INSERT, (originator_id.hex, version, topic, state))
            conn.execute("COMMIT")

    def plain_batch(self, rows: Sequence[Row], batch: int) -> None:
        conn = self.plain
        for start in range(0, len(rows), batch):
            conn.execute("BEGIN")
            conn.executemany(
                self._INSERT, [(o.hex, v, t, s) for o, v, t, s in rows[start : start + batch]]
            )
            conn.execute("COMMIT")

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
        self.plain.close()
        self.directory.cleanup()


class PostgresBackend(Backend):
    """A schema of its own (``bench_<random>``), dropped afterwards."""

    name = "postgres"

    def __init__(self) -> None:
        import psycopg

        self.schema = f"bench_{uuid4().hex[:10]}"
        self.admin = psycopg.connect(PG_DSN, autocommit=True)
        self.admin.execute(f"CREATE SCHEMA {self.schema}")
        self.admin.execute(
            f"CREATE TABLE {self.schema}.plain_events (id bigserial, originator_id uuid, "
            "version int, topic text, state bytea)"
        )
        self.plain = psycopg.connect(PG_DSN, autocommit=True)
        self.current: Ledger | None = None

    def ledger(self) -> Ledger:
        if self.current is not None:
            self.current.close()
        # A new ledger (cold cache) on an emptied table.
        settings = Settings(database_url=f"{PG_DSN}?schema={self.schema}")
        self.current = build_ledger(settings)
        table = self.current.recorder.events_table_name  # type: ignore[attr-defined]
        # The events table is append-only (its triggers refuse TRUNCATE); the benchmark's owner
        # empties it between runs with them switched off, which only an owner can do.
        qualified = f"{self.schema}.{table}"
        self.admin.execute(f"ALTER TABLE {qualified} DISABLE TRIGGER USER")
        self.admin.execute(f"TRUNCATE {qualified} RESTART IDENTITY")
        self.admin.execute(f"ALTER TABLE {qualified} ENABLE TRIGGER USER")
        return self.current

    def reset(self) -> None:
        self.admin.execute(f"TRUNCATE {self.schema}.plain_events RESTART IDENTITY")

    def _insert(self) -> str:
        return (
            f"INSERT INTO {self.schema}.plain_events (originator_id, version, topic, state) "
            "VALUES (%s, %s, %s, %s)"
        )

    def plain_single(self, rows: Sequence[Row]) -> None:
        # Autocommit: each INSERT is its own transaction, one round trip each.
        insert = self._insert()
        with self.plain.cursor() as cursor:
            for row in rows:
                cursor.execute(insert, row)

    def plain_batch(self, rows: Sequence[Row], batch: int) -> None:
        insert = self._insert()
        with self.plain.cursor() as cursor:
            for start in range(0, len(rows), batch):
                with self.plain.transaction():
                    cursor.executemany(insert, rows[start : start + batch])

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
        self.plain.close()
        self.admin.execute(f"DROP SCHEMA {self.schema} CASCADE")
        self.admin.close()


# -- the measurement ---------------------------------------------------------------------------


@dataclass
class Result:
    """The best run of each side for one backend and mode."""

    backend: str
    mode: str
    transaction_size: int
    ledger_per_s: float
    plain_per_s: float
    ratio: float
    goal: float | None
    met: bool | None
    paired_ratios: list[float]
    runs_ledger: list[float]
    runs_plain: list[float]


def measure(
    backend: Backend,
    commands: Sequence[Command],
    rows: Sequence[Row],
    *,
    batch: int,
    repeat: int,
) -> Iterator[Result]:
    """Measure both modes on one backend, ledger and floor interleaved run by run."""
    count = len(commands)
    modes: list[tuple[str, int, Callable[[], None]]] = [
        ("single", 1, lambda: backend.plain_single(rows)),
        ("batch", batch, lambda: backend.plain_batch(rows, batch)),
    ]
    for mode, size, run_plain in modes:
        ledger_runs: list[float] = []
        plain_runs: list[float] = []
        for attempt in range(repeat):
            # Alternate which side goes first, so drift favours neither.
            order = ("ledger", "plain") if attempt % 2 == 0 else ("plain", "ledger")
            for side in order:
                if side == "ledger":
                    ledger = backend.ledger()
                    ledger_runs.append(timed(ledger_run(ledger, commands, size), count))
                    check_stored(ledger, count)
                else:
                    backend.reset()
                    plain_runs.append(timed(run_plain, count))
            print(
                f"  {backend.name} {mode} run {attempt + 1}/{repeat}: "
                f"ledger {ledger_runs[-1]:,.0f}/s, plain {plain_runs[-1]:,.0f}/s",
                file=sys.stderr,
            )
        best_ledger, best_plain = max(ledger_runs), max(plain_runs)
        goal = GOALS.get((backend.name, mode))
        ratio = best_ledger / best_plain
        yield Result(
            backend=backend.name,
            mode=mode,
            transaction_size=size,
            ledger_per_s=round(best_ledger, 1),
            plain_per_s=round(best_plain, 1),
            ratio=round(ratio, 3),
            goal=goal,
            met=None if goal is None else ratio >= goal,
            paired_ratios=[round(x / y, 3) for x, y in zip(ledger_runs, plain_runs, strict=True)],
            runs_ledger=[round(r, 1) for r in ledger_runs],
            runs_plain=[round(r, 1) for r in plain_runs],
        )


def check_stored(ledger: Ledger, count: int) -> None:
    """Refuse a run that did not store one event per command (outside the timing)."""
    stored = len(ledger.recorder.select_notifications(start=1, limit=count + 1))
    if stored != count:
        raise SystemExit(f"the ledger stored {stored} events for {count} commands")


def in_memory_rates(commands: Sequence[Command], *, batch: int, repeat: int) -> dict[str, float]:
    """Events per second of the ledger on the library's in-memory store: its Python ceiling."""
    sizes = {"single": 1, "batch": batch}
    runs: dict[str, list[float]] = {mode: [] for mode in sizes}
    for _ in range(repeat):
        for mode, size in sizes.items():
            ledger = in_memory_ledger()
            runs[mode].append(timed(ledger_run(ledger, commands, size), len(commands)))
    return {mode: round(max(rates), 1) for mode, rates in runs.items()}


def table(results: Sequence[Result]) -> str:
    """The results as a fixed-width table."""
    lines = [
        f"{'backend':<9} {'mode':<7} {'txn':>5} {'ledger ev/s':>12} {'plain ev/s':>12} "
        f"{'ratio':>6} {'(runs)':>11}  goal",
    ]
    for r in results:
        goal = "-" if r.goal is None else f">= {r.goal:.2f} {'met' if r.met else 'NOT met'}"
        spread = f"{min(r.paired_ratios):.2f}-{max(r.paired_ratios):.2f}"
        lines.append(
            f"{r.backend:<9} {r.mode:<7} {r.transaction_size:>5} {r.ledger_per_s:>12,.0f} "
            f"{r.plain_per_s:>12,.0f} {r.ratio:>6.2f} {spread:>11}  {goal}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--batch", type=int, default=1000, help="commands per transaction")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side; the best counts")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)

    documents = command_documents(args.events, args.models)
    commands = [parse_command(document) for document in documents]
    rows = stored_rows(commands)
    if len(rows) != len(commands):
        raise SystemExit(f"expected {len(commands)} stored events, made {len(rows)}")
    state_bytes = sum(len(row[3]) for row in rows)
    print(
        f"{len(commands)} commands over {args.models} models; command documents "
        f"{sum(map(len, documents)) / len(documents):.0f} B, stored state "
        f"{state_bytes / len(rows):.0f} B on average",
        file=sys.stderr,
    )

    # The bench's own inputs (10,000 parsed commands and their payload rows) stay alive all
    # run; freezing them keeps the garbage collector from rescanning them, which would charge
    # the side that allocates more (the ledger) for an artefact of the bench.
    gc.collect()
    gc.freeze()

    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results: list[Result] = []
    for name in backends:
        backend: Backend = SQLiteBackend() if name == "sqlite" else PostgresBackend()
        try:
            results.extend(measure(backend, commands, rows, batch=args.batch, repeat=args.repeat))
        finally:
            backend.close()
    in_memory = in_memory_rates(commands, batch=args.batch, repeat=args.repeat)

    if args.json:
        print(
            json.dumps(
                {
                    "events": len(commands),
                    "models": args.models,
                    "batch": args.batch,
                    "repeat": args.repeat,
                    "mean_command_bytes": round(sum(map(len, documents)) / len(documents)),
                    "mean_state_bytes": round(state_bytes / len(rows)),
                    "python": platform.python_version(),
                    "in_memory_per_s": in_memory,
                    "results": [asdict(result) for result in results],
                },
                indent=2,
            )
        )
    else:
        print(table(results))
        print(
            f"ratio: best ledger run over best plain run, of {args.repeat} each; (runs): the "
            "ratios of the runs made side by side.\nThe same ledger on the library's in-memory "
            f"store (no database): {in_memory['single']:,.0f} ev/s one command at a time, "
            f"{in_memory['batch']:,.0f} ev/s in batches of {args.batch}."
        )
    # A report, not a test: the machine's noise must not fail a build.
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
