"""`reliquary monitor`: follow any C2SP tlog-tiles log and raise an alarm on a split view.

The rules are in `projections.translog.monitor`; this layer reads the options, picks the source
(`tile_sources.open_source`), prints the report, and exits with the status's code: 0 ok, 1 not
accepted without alarm (behind, unwitnessed, refused), 3 alarm, 4 unreachable or busy (2 is
left to usage errors and unusable state folders or keys, which raise).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.ledger_cmds import JsonFlag
from api.cli.output import Progress, print_json, say

if TYPE_CHECKING:
    from projections.translog.monitor import MonitorReport

# Below this many new entries a run is quick; a progress bar would only flicker.
PROGRESS_MIN_ENTRIES = 1024
# Mirrors tile_sources' bounds (kept here so that --help needs no import of it).
DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_TIMEOUT_SECONDS = 300.0


class _Bar:
    """Starts a progress bar on the first call, once the run knows it has many entries."""

    def __init__(self) -> None:
        self.bar: Progress | None = None
        self.done = 0

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None and total >= PROGRESS_MIN_ENTRIES:
            self.bar = Progress("verifying", total, "entries")
            self.bar.start()
        if self.bar is not None:
            self.bar.advance(done - self.done)
        self.done = done

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def monitor(
    source: Annotated[
        str,
        typer.Argument(
            help="The log: an http(s) URL prefix (Reliquary serves its log at <base>/tlog/) "
            "or a folder written by `reliquary tiles export`"
        ),
    ],
    state: Annotated[
        Path,
        typer.Option(
            "--state",
            help="The monitor's state folder (created on the first run)",
            show_default=False,
        ),
    ],
    key_text: Annotated[
        str | None,
        typer.Option(
            "--key",
            help="The log's verifier key, text or file: pinned on the first run, then checked",
        ),
    ] = None,
    witness_policy: Annotated[
        Path | None,
        typer.Option(
            "--witness-policy", help="Accept only checkpoints a quorum of these witnesses cosigned"
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", min=0.1, max=MAX_TIMEOUT_SECONDS, help="Seconds each HTTP request may take"
        ),
    ] = DEFAULT_TIMEOUT_SECONDS,
    as_json: JsonFlag = False,
) -> None:
    """Verify the log's new checkpoint from its new entries; alarm on a split view.

    Exit 0 ok, 1 not accepted (behind, unwitnessed, refused), 3 alarm (evidence written in
    the state folder), 4 unreachable or busy.
    """
    from projections.translog.bundle import read_pinned_key
    from projections.translog.monitor import MonitorState, run_monitor
    from projections.translog.tile_sources import HttpSource, open_source
    from projections.translog.witness_policy import load_witness_policy

    key = read_pinned_key(key_text) if key_text is not None else None
    policy = load_witness_policy(witness_policy) if witness_policy is not None else None
    reader = open_source(source, timeout)
    bar = _Bar()
    try:
        report = run_monitor(reader, MonitorState(state), key, policy, on_progress=bar)
    finally:
        bar.stop()
        if isinstance(reader, HttpSource):
            reader.close()
    if as_json:
        print_json(report.as_json())
    else:
        _say(report)
    raise typer.Exit(report.exit_code)


def _say(report: MonitorReport) -> None:
    """One or two lines on stderr; nothing when all is well and nobody is watching (cron)."""
    if report.status == "ok":
        if sys.stderr.isatty():
            say(f"OK: {report.origin}: {report.detail}")
        return
    say(f"{report.status.upper()}: {report.origin or report.source}: {report.detail}")
    if report.evidence is not None:
        say(f"evidence: {report.evidence}")


def register(app: typer.Typer) -> None:
    """Add this command to the CLI."""
    app.command()(monitor)
