"""Load the bundled demo scenario so that running it twice appends nothing new."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import orjson

from domain.commands import parse_command
from domain.errors import LedgerError
from domain.ledger import Ledger
from domain.storage import store_for


@dataclass(frozen=True)
class DemoOutcome:
    """How many scenario commands were applied now, and how many were already there."""

    applied: int
    skipped: int


def scenario_lines() -> list[str]:
    """The scenario's command documents (package data)."""
    text = resources.files("domain.demo").joinpath("scenario.jsonl").read_text("utf-8")
    return [line for line in text.splitlines() if line.strip()]


def load_demo(ledger: Ledger) -> DemoOutcome:
    """Apply the scenario, skipping what an earlier run already recorded.

    Every scenario command appends exactly one event to its model, so the k-th command for a
    model is already recorded when that model's version is at least k: a second run (or a
    run after an interrupted one) applies only what is missing.
    """
    seen: Counter[str] = Counter()
    versions: dict[str, int] = {}
    applied = skipped = 0
    for number, line in enumerate(scenario_lines(), start=1):
        model = orjson.loads(line)["model"]
        seen[model] += 1
        if model not in versions:
            versions[model] = ledger.version_of(model)
        if versions[model] >= seen[model]:
            skipped += 1
            continue
        try:
            ledger.execute(parse_command(line))
        except LedgerError as error:
            # The same error (its kind and rule), saying where in the scenario it was met.
            error.message = f"demo scenario line {number}: {error.message}"
            raise
        applied += 1
    return DemoOutcome(applied=applied, skipped=skipped)


def remove_sqlite_store(database_url: str) -> None:
    """Delete the SQLite file behind a URL (for ``demo --fresh``); refuse other stores."""
    store = store_for(database_url)
    if store.sqlite_path is None or store.sqlite_path == ":memory:":
        raise LedgerError(
            "demo --fresh only removes an SQLite file; the ledger is append-only, so empty "
            "a PostgreSQL database yourself if you mean to"
        )
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(store.sqlite_path + suffix).unlink(missing_ok=True)
