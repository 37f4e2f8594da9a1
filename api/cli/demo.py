"""Load the bundled demo scenario so that running it twice appends nothing new, and say what
was loaded in a summary that fits a terminal (the full tables stay behind the commands it names).
"""

from __future__ import annotations

import shlex
import textwrap
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

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


# -- what `reliquary demo` prints for people --------------------------------------------------

# The width the summary keeps to: a terminal's default, so that nothing wraps or is cut.
SUMMARY_WIDTH = 80

# Three commands a newcomer can run on the demo data, and what each shows. Each prints its full
# table, which is why the summary itself prints none (tests/e2e/test_first_run.py runs them).
THINGS_TO_TRY: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("history", "claude-opus-3", "--at-version", "19"),
        "the pilot before it retired: retirement scheduled, access policy set",
    ),
    (
        ("checklist", "ember-3"),
        "a retirement gone wrong: each step done, not yet, or an anomaly",
    ),
    (
        ("why", "licence forbids serving"),
        "the decisions whose justification holds these words",
    ),
)


def program_name(argv0: str, on_path: str | None) -> str:
    """How the person ran ``reliquary``, so that the commands suggested run as shown.

    ``make demo`` runs ``.venv/bin/reliquary``, which is seldom on the PATH: the suggestions
    then say ``.venv/bin/reliquary``. Plain ``reliquary`` when that is what the PATH finds (or
    when the CLI runs in-process, as in the tests).
    """
    if Path(argv0).name != "reliquary":
        return "reliquary"
    if on_path is not None and Path(on_path).resolve() == Path(argv0).resolve():
        return "reliquary"
    return argv0


def where_the_ledger_is(database_url: str) -> str:
    """The store named for people: the URL (its password hidden) and its backend."""
    store = store_for(database_url)
    if store.sqlite_path is not None:
        return f"{database_url} (SQLite)"
    parts = urlsplit(database_url)
    shown = database_url.replace(f":{parts.password}@", ":***@") if parts.password else database_url
    return f"{shown} (PostgreSQL)"


def summary_head(outcome: DemoOutcome, models: int, events: int, ledger: str) -> list[str]:
    """What was loaded and where it is: the lines before the models' table."""
    return fitted(
        [
            f"OK: demo loaded ({outcome.applied} command(s) applied, {outcome.skipped} "
            "already present)",
            f"ledger: {ledger}, {models} models, {events} events",
        ]
    )


def summary_tail(program: str, default_store: bool) -> list[str]:
    """Three things to try, after the models' table; each a command that runs as printed."""
    where = (
        "from this directory"
        if default_store
        else "with RELIQUARY_DATABASE_URL set to the ledger above"
    )
    lines = ["", f"Three things to try, {where}:"]
    for args, what in THINGS_TO_TRY:
        lines.append(f"  {shlex.join([program, *args])}")
        lines.append(f"      {what}")
    lines.append("Each prints its full table (--json for data); --help lists every command.")
    return fitted(lines)


def fitted(lines: list[str]) -> list[str]:
    """Lines wrapped at spaces to `SUMMARY_WIDTH` (never cut): a continuation is indented.

    A command is never wrapped (it would not paste); no suggested command comes near the width.
    """
    out: list[str] = []
    for line in lines:
        if len(line) <= SUMMARY_WIDTH or line.startswith("  "):
            out.append(line)
            continue
        out += textwrap.wrap(
            line,
            SUMMARY_WIDTH,
            subsequent_indent="    ",
            break_long_words=False,
            break_on_hyphens=False,
        )
    return out
