"""CLI commands over the views: timeline, why, registers, the fairness report, projections.

Each answer read from the views names what it was computed from (`Queries.basis`): in its
``basis`` field where the JSON is an object (``timeline``, ``report fairness``), else as a
``basis:`` line on stderr. ``projections follow`` and ``catch-up`` are the projection runner's
commands: they write the views, under the role `grant-projection-role` prepared.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.cli.ledger_cmds import JsonFlag, _services
from api.cli.output import print_json, print_table, progress, say, shown

if TYPE_CHECKING:
    from api.bootstrap import Services

projections_app = typer.Typer(help="The views derived from the events.", no_args_is_help=True)
report_app = typer.Typer(help="Reports over the views.", no_args_is_help=True)

ModelOption = Annotated[str | None, typer.Option("--model", help="Only this model")]
TypeOption = Annotated[str | None, typer.Option("--type", help="Only this event type")]


def _caught_up(ctx: typer.Context) -> Services:
    """The services, their views caught up with the ledger first if this process keeps them
    (a progress bar on a terminal); else the views as the projection runner left them."""
    services = _services(ctx)
    if not services.views.catches_up_on_read:
        return services
    behind = services.ledger.recorder.max_notification_id() or 0
    with progress("updating views", behind * len(services.views.views), "events") as bar:
        services.queries.refresh_views(on_progress=bar.advance)
    return services


def _say_basis(services: Services, report: object = None) -> None:
    """Name, on stderr, what the answer just printed was computed from."""
    say(f"basis: {services.queries.basis(report).text()}")


def _when(text: str | None, name: str) -> datetime | None:
    from domain.commands import parse_moment

    return parse_moment(text, name) if text is not None else None


ViewsOption = Annotated[
    str | None,
    typer.Option(
        "--views",
        help="Only these views, comma-separated (e.g. timeline,search): several processes "
        "may each take a subset. Default: every view",
    ),
]


def _taking(ctx: typer.Context, views: str | None) -> Services:
    """The services, taking only the views named (comma-separated), if any are."""
    services = _services(ctx)
    if views is not None:
        services.take_views(views.split(","))
    return services


@projections_app.command("status")
def projections_status(
    ctx: typer.Context, views: ViewsOption = None, as_json: JsonFlag = False
) -> None:
    """Each view's position (the last event id it took) against the head of the event log,
    and its lag: in events, and in seconds (how long the oldest event it has not taken has
    been waiting; 0 when caught up)."""
    statuses = _taking(ctx, views).queries.view_status()
    if as_json:
        print_json([s.as_json() for s in statuses])
        return
    print_table(
        "Views",
        ["view", "position", "head", "behind", "lag (s)"],
        [(s.name, s.position, s.head, s.behind, f"{s.lag_seconds:.1f}") for s in statuses],
    )


@projections_app.command("catch-up")
def projections_catch_up(
    ctx: typer.Context, views: ViewsOption = None, as_json: JsonFlag = False
) -> None:
    """Take every new event into the views once, with a progress bar (the runner's role)."""
    services = _taking(ctx, views)
    behind = max((s.behind for s in services.queries.view_status()), default=0)
    with progress("catching up", behind * len(services.views.views), "events") as bar:
        taken = services.queries.catch_up(on_progress=bar.advance)
    basis = services.queries.basis()
    if as_json:
        print_json({"events_taken": taken, "basis": basis.as_json()})
    else:
        say(f"OK: {taken} events taken (counted once per view); {basis.text()}")


@projections_app.command("follow")
def projections_follow(
    ctx: typer.Context,
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval",
            min=0.01,
            max=3600,
            help="Seconds between looks for new events (RELIQUARY_FOLLOW_INTERVAL_SECONDS)",
        ),
    ] = None,
    views: ViewsOption = None,
) -> None:
    """Keep the views current until stopped (SIGTERM or SIGINT): the projection runner.

    Run it as the role `grant-projection-role` prepared. Progress shows on a terminal; piped,
    it prints only the line that says it stopped.
    """
    import signal
    import threading

    services = _taking(ctx, views)
    stop = threading.Event()

    def stopping(signum: int, frame: object) -> None:  # noqa: ARG001 (the handler's signature)
        stop.set()

    previous = {sig: signal.signal(sig, stopping) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with progress("following the ledger", None, "events") as bar:
            taken = services.queries.follow_views(
                stop,
                interval if interval is not None else services.settings.follow_interval_seconds,
                on_progress=bar.advance,
            )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    say(f"OK: stopped following; {taken} events taken")


@projections_app.command("rebuild")
def projections_rebuild(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None, typer.Argument(help="Views to rebuild (default: all)")
    ] = None,
    views: ViewsOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Drop views and take every event again, with a progress bar (NAMES or --views)."""
    services = _taking(ctx, views)
    if views is not None and not names:
        names = list(services.views.views)
    head = services.ledger.recorder.max_notification_id() or 0
    total = head * len(names or services.views.views)
    with progress("rebuilding", total, "events") as bar:
        chosen, taken = services.queries.rebuild_views(names, on_progress=bar.advance)
    if as_json:
        print_json({"rebuilt": chosen, "events_taken": taken})
    else:
        say(f"OK: rebuilt {', '.join(chosen)} ({taken} events taken)")


def timeline(
    ctx: typer.Context,
    model: ModelOption = None,
    event_type: TypeOption = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Only this actor's decisions")
    ] = None,
    role: Annotated[
        str | None, typer.Option("--role", help="Only decisions taken in this role")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From this moment (ISO 8601)")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Up to this moment (ISO 8601)")
    ] = None,
    after: Annotated[
        int | None, typer.Option("--after", help="After this sequence (paging)")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Entries per page (1 to 1000)")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Every decision in ledger order, filtered; page with --after the last sequence shown."""
    services = _caught_up(ctx)
    page = services.queries.timeline(
        model=model,
        event_type=event_type,
        actor=actor,
        role=role,
        since=_when(since, "--since"),
        until=_when(until, "--until"),
        after=after,
        limit=limit,
    )
    entries = page.entries
    if as_json:
        print_json({**page.as_json(), "basis": services.queries.basis().as_json()})
        return
    print_table(
        "Timeline",
        ["seq", "model", "v", "type", "effective", "actor", "rationale"],
        [
            (
                e.sequence,
                e.model,
                e.version,
                e.type,
                e.effective_at or e.recorded_at,
                f"{shown(e.actor_id)} ({e.actor_role})",
                shown(e.rationale),
            )
            for e in entries
        ],
    )
    if page.next_after is not None:
        from projections.queries import MAX_TIMELINE_PAGE

        given = {
            "--model": model,
            "--type": event_type,
            "--actor": actor,
            "--role": role,
            "--since": since,
            "--until": until,
        }
        again = [f"{name} {shlex.quote(value)}" for name, value in given.items() if value]
        command = " ".join(
            ["reliquary timeline", *again, f"--after {page.next_after}", f"--limit {limit}"]
        )
        say(
            f"showing {len(entries)} entries; more follow: {command} "
            f"(--limit takes up to {MAX_TIMELINE_PAGE} a page)"
        )


def why(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="Words to look for in the justifications")],
    model: ModelOption = None,
    event_type: TypeOption = None,
    limit: Annotated[int, typer.Option("--limit", help="Decisions shown (1 to 200)")] = 10,
    after: Annotated[
        str | None,
        typer.Option("--after", help="The cursor of the last hit seen: show the page after it"),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Decisions holding the words of QUERY: those holding every word first, newest first."""
    from projections.queries import MAX_SEARCH_RESULTS

    services = _caught_up(ctx)
    queries = services.queries
    if as_json:
        hits = queries.search(query, model=model, event_type=event_type, limit=limit, after=after)
        print_json(
            [{"rank": hit.rank, "cursor": hit.cursor, **hit.entry.as_json()} for hit in hits]
        )
        _say_basis(services)
        return
    page = queries.search_page(query, model=model, event_type=event_type, limit=limit, after=after)
    hits = page.hits
    rows = []
    for hit in hits:
        entry = hit.entry
        criteria = entry.facts.get("criteria")
        evidence = "; ".join(
            f"{shown(e['description'])} <{shown(e['uri'])}>" for e in entry.evidence
        )
        rows.append(
            (
                "every word" if hit.rank == 2 else "some words",
                f"{entry.model} v{entry.version} (seq {entry.sequence})",
                entry.type,
                f"{shown(entry.actor_id)} ({entry.actor_role})",
                entry.effective_at or entry.recorded_at,
                shown(entry.rationale),
                (f"criteria {criteria}; " if criteria else "") + evidence,
            )
        )
    print_table(
        f"Why: {query}",
        ["matches", "decision", "type", "who", "when", "rationale", "criteria and evidence"],
        rows,
    )
    if page.next_after is not None and page.more_certain:
        say(f"showing {limit}; more decisions match: the next page is --after {page.next_after}")
    elif page.next_after is not None:
        say(
            f"showing {MAX_SEARCH_RESULTS}, the most a page shows; more may match: "
            f"--after {page.next_after}"
        )
    _say_basis(services)


def register_cmd(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="access, policies, essays, preferences or signals")],
    model: ModelOption = None,
    as_json: JsonFlag = False,
) -> None:
    """A register: access requests, access policies, essays, preferences, or signals."""
    from dataclasses import asdict

    from projections.records import jsonable

    services = _caught_up(ctx)
    rows = services.queries.register(kind, model)
    data = [jsonable(asdict(row)) for row in rows]
    basis = services.queries.basis()
    if as_json:
        # The rows and what they were read from (the views' events against the latest signed
        # checkpoint: its size and root), as the timeline's JSON names it.
        print_json({"register": kind, "rows": data, "basis": basis.as_json()})
        return
    columns = list(data[0]) if data else ["(empty)"]
    print_table(f"{kind.capitalize()} register", columns, [list(d.values()) for d in data])
    say(f"basis: {basis.text()}")


@report_app.command("fairness")
def fairness(
    ctx: typer.Context,
    as_json: JsonFlag = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="A Markdown report")] = False,
    csv_out: Annotated[bool, typer.Option("--csv", help="CSV, one row per figure")] = False,
    html: Annotated[
        bool, typer.Option("--html", help="One printable HTML page (A4), charts inside it")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            help="With --markdown: write REPORT.md and its charts here; with --html: REPORT.html",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Only decisions recorded and in effect by then: a day (its end, UTC) "
            "or an ISO 8601 moment with a time zone",
        ),
    ] = None,
    size: Annotated[
        int | None,
        typer.Option("--size", help="Read only the log's first SIZE events (a report's size)"),
    ] = None,
    bundle: Annotated[
        Path | None,
        typer.Option("--bundle", help="Recompute from an offline audit bundle alone (no database)"),
    ] = None,
    key_text: Annotated[
        str | None,
        typer.Option("--key", help="With --bundle: the verifier key you pinned, text or file"),
    ] = None,
    criteria_distance: Annotated[
        float | None,
        typer.Option("--criteria-distance", help="How close criteria count as alike (0 to 10)"),
    ] = None,
    min_decided: Annotated[
        int | None,
        typer.Option("--min-decided", help="Fewer decided requests is a small sample (30)"),
    ] = None,
    four_fifths: Annotated[
        float | None,
        typer.Option("--four-fifths", help="The ratio below which a group is flagged (0.8)"),
    ] = None,
    significance: Annotated[
        float | None,
        typer.Option("--significance", help="Fisher's p below this: not plausibly chance (0.05)"),
    ] = None,
    min_group_share: Annotated[
        float | None,
        typer.Option(
            "--min-group-share", help="Groups with a smaller share fold into other (0.02)"
        ),
    ] = None,
    impact_range: Annotated[
        bool,
        typer.Option("--impact-range", help="Also check impact ratios in 0.8-1.25 (Aequitas)"),
    ] = False,
    stable_interviews: Annotated[
        int | None,
        typer.Option("--stable-interviews", help="With --bundle: the operator's stability rule"),
    ] = None,
    stable_days: Annotated[
        int | None, typer.Option("--stable-days", help="With --bundle: as the operator's")
    ] = None,
    stable_framings: Annotated[
        int | None, typer.Option("--stable-framings", help="With --bundle: as the operator's")
    ] = None,
) -> None:
    """Were requesters, models and essays treated alike? Computed from the log's events.

    The report names the tree (size and root) it read and the moment T; the command it prints
    recomputes it from an audit bundle with --bundle and --key, offline, to the same JSON.
    """
    from domain.commands import parse_as_of
    from projections import fairness as reports

    at = parse_as_of(as_of, "--as-of") if as_of is not None else None
    given = {
        "criteria_distance": criteria_distance,
        "min_decided": min_decided,
        "four_fifths": four_fifths,
        "significance": significance,
        "min_group_share": min_group_share,
        "impact_range": impact_range or None,
    }
    thresholds = {name: value for name, value in given.items() if value is not None}
    stability = {
        "min_interviews": stable_interviews,
        "min_days": stable_days,
        "min_framings": stable_framings,
    }
    basis = None
    if bundle is not None:
        report = _bundle_report(bundle, key_text, thresholds, stability, at, size)
    else:
        if key_text is not None or any(v is not None for v in stability.values()):
            raise typer.BadParameter(
                "--key and --stable-* are for --bundle; the operator's stability rule is its "
                "configuration (RELIQUARY_PREFERENCE_*)"
            )
        services = _services(ctx)
        total = services.ledger.recorder.max_notification_id() or 0
        with progress("reading the log", total, "events") as bar:
            report = services.queries.fairness(
                thresholds=thresholds, as_of=at, size=size, on_progress=bar.advance
            )
        basis = services.queries.basis(report)
    if html:
        page = reports.report_html(report)
        if output is None:
            print(page, end="")  # noqa: T201
        else:
            output.mkdir(parents=True, exist_ok=True)
            (output / "REPORT.html").write_text(page)
            say(f"OK: wrote {output / 'REPORT.html'}")
        return
    if markdown:
        if output is None:
            # No files beside a page on stdout: the charts travel inside it, as data URIs.
            charts_inline = reports.chart_data_uris(report)
            print(reports.report_markdown(report, charts_inline, basis))  # noqa: T201
            return
        charts = reports.report_charts(report)
        text = reports.report_markdown(report, None, basis)
        output.mkdir(parents=True, exist_ok=True)
        (output / "REPORT.md").write_text(text)
        for name, chart in charts.items():
            (output / name).write_bytes(chart)
        say(f"OK: wrote {output / 'REPORT.md'} and {len(charts)} chart(s)")
        return
    if csv_out:
        print(reports.report_csv(report), end="")  # noqa: T201
    elif as_json:
        # The report alone, so that the bundle's recomputation is the same bytes; what it
        # stands on against the latest checkpoint goes to stderr.
        print_json(reports.report_json(report))
    else:
        # For a terminal: the Markdown report, without chart links (no files beside it).
        print(reports.report_markdown(report, {}, basis))  # noqa: T201
        return
    if basis is not None:
        say(f"basis: {basis.text()}")


def _bundle_report(
    bundle: Path,
    key_text: str | None,
    thresholds: Mapping[str, object],
    stability: Mapping[str, int | None],
    at: date | datetime | None,
    size: int | None,
) -> Any:
    """The report recomputed from a bundle, its key pinned (no database is opened)."""
    from domain.rules import PreferencePolicy
    from projections.queries import fairness_from_bundle
    from projections.translog.bundle import read_pinned_key

    if key_text is None:
        raise typer.BadParameter(
            "--bundle needs --key: the verifier key the operator published (a bundle's own key "
            "proves nothing about who signed it)"
        )
    chosen = PreferencePolicy(
        **{name: value for name, value in stability.items() if value is not None}
    )
    return fairness_from_bundle(
        bundle,
        read_pinned_key(key_text),
        thresholds=thresholds,
        stability=chosen,
        as_of=at,
        size=size,
    )


def register(app: typer.Typer) -> None:
    """Add these commands to the CLI."""
    app.add_typer(projections_app, name="projections")
    app.command()(timeline)
    app.command()(why)
    app.command("register")(register_cmd)
    app.add_typer(report_app, name="report")
