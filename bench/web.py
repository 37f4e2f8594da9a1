"""The web console's cost on a large ledger: pages against the JSON API calls with the same data.

Run from the repository root::

    .venv/bin/python bench/web.py [--events 100000] [--models 100] [--backend sqlite|postgres]
        [--samples 200] [--json]

It builds a ledger of N events across the models (registrations, an access policy each,
monitoring signals, access requests approved or denied, essays drafted and approved or vetoed,
built with the aggregate's own command methods and saved in transactions of 5,000 events),
starts the service in process (`api.http.app.create_app`, driven by Starlette's test client,
no network) and lets the views take every event. Then it times, interleaved, ``--samples``
requests of each pair, measuring **server time**: from the moment the request enters the ASGI
app to the last byte of its response, by a timing wrapper around the app (the client's own
overhead is left out):

1. the **timeline page** ``/web/timeline`` (the first 100 decisions, signed in) against
   ``GET /timeline?limit=100`` (the same 100 decisions as JSON, with a bearer token);
2. the same pair a page deep into the ledger (``after`` = half the events) and filtered by a
   decision type;
3. the **model page** ``/web/models/M`` (the model's state, its first 50 decisions, its
   access policy, access requests, essays, preferences, retirement checklist and signals)
   against the JSON calls that return the same data: ``/models/M``,
   ``/timeline?model=M&limit=50``, ``/registers/access?model=M``, ``/registers/essays?model=M``,
   ``/registers/preferences?model=M``, ``/registers/policies``, ``/models/M/checklist`` and
   ``/registers/signals?model=M``, their server times added up per sample.

For each: median and 95th percentile in ms, and the page's ratio to the API (goal from issue
8: the page within 1.5x of the API). Figures and analysis: docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from api.bootstrap import build_ledger  # noqa: E402
from api.settings import Settings  # noqa: E402
from domain.decisions import Actor, Channel, Evidence, Justification  # noqa: E402
from domain.identity import model_id  # noqa: E402
from domain.ledger import Ledger  # noqa: E402
from domain.lifecycle import ModelLifecycle  # noqa: E402

PG_DSN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
GOAL_RATIO = 1.5
GROUPS = ("academic", "nonprofit", "industry", "independent", "government")
WORDS = [
    "serving",
    "cost",
    "capacity",
    "demand",
    "research",
    "value",
    "alignment",
    "distinctiveness",
    "licence",
    "audit",
    "continuity",
    "successor",
    "evaluation",
    "archive",
    "interview",
    "preference",
    "reviewer",
    "policy",
]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _decided(rng: random.Random, n: int, role: str, day: date) -> Justification:
    words = " ".join(rng.choice(WORDS) for _ in range(12))
    return Justification(
        actor=Actor(id=f"{role}-{n % 5}", role=role),
        rationale=f"Decision {n}: {words}; recorded as the policy requires.",
        evidence=(
            Evidence(
                uri=f"https://records.example/bench/{n}",
                digest="sha256:" + rng.randbytes(32).hex(),
                description="supporting record",
            ),
        ),
        effective_at=None if n % 3 else _moment(day),
    )


def _moment(day: date) -> Any:
    from datetime import UTC, datetime

    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def _after(decided: Justification, moment: Any) -> Justification:
    """The decision, taking effect no earlier than ``moment``, when what it decides did.

    A decision takes effect on or after what it decides (`decision-before-its-subject`): a
    dated decision whose day falls before it takes effect at that moment instead (an
    undated one takes effect when it is recorded, which is later).
    """
    from dataclasses import replace

    effective = decided.effective_at
    if effective is None or moment is None:
        return decided
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=effective.tzinfo)
    return replace(decided, effective_at=max(effective, moment))


def _signal_period(step: int) -> tuple[date, date]:
    """The period of a model's signal at a step, used by no other of its signals.

    A model has one value per kind and period (`signal-period-taken`): periods start on one of
    600 days from 2024-02-01 and last 30 days more for each time the starts come round, so
    they stay distinct (and in the past for fewer than 9,000 steps a model).
    """
    start = date(2024, 2, 1) + timedelta(days=step % 600)
    return start, start + timedelta(days=29 + step // 600)


def _next_event(model: ModelLifecycle, rng: random.Random, n: int, step: int) -> None:
    """Append the model's next event: a mix that fills the timeline and every register."""
    day = date(2024, 2, 1) + timedelta(days=step % 600)
    open_requests = [k for k, r in model.access_requests.items() if r.status == "pending"]
    open_essays = [k for k, e in model.essays.items() if e.status == "drafted"]
    roll = rng.random()
    if step == 1:
        model.set_access_policy(
            _decided(rng, n, "board", day),
            channels=(Channel("api", "by_request"),),
            criteria={name: round(rng.random(), 2) for name in ("alignment", "demand", "cost")},
        )
    elif open_requests and roll < 0.12:
        request_id = open_requests[0]
        subject = model.access_requests[request_id].last_step_at
        if rng.random() < 0.6:
            model.approve_access_request(
                _after(_decided(rng, n, "board", day), subject),
                request_id=request_id,
                terms="research use only",
                expires_on=None,
            )
        else:
            model.deny_access_request(
                _after(_decided(rng, n, "board", day), subject),
                request_id=request_id,
                reason_code="purpose_out_of_scope",
                reason="out of scope",
            )
    elif roll < 0.24:
        model.request_access(
            _decided(rng, n, "curator", day),
            request_id=f"req-{n}",
            requester=f"Researcher {n % 97}",
            organisation=f"Institute {n % 13}",
            requester_group=GROUPS[n % len(GROUPS)],
            purpose="interpretability research on retired behaviour",
            scope="api",
        )
    elif open_essays and roll < 0.34:
        decided = _after(_decided(rng, n, "reviewer", day), model.essays[open_essays[0]].drafted_at)
        if rng.random() < 0.8:
            model.approve_essay(decided, essay_id=open_essays[0])
        else:
            model.veto_essay(
                decided, essay_id=open_essays[0], risk_category="misleading_claims", reason="x"
            )
    elif roll < 0.44:
        model.draft_essay(
            _decided(rng, n, "curator", day),
            essay_id=f"essay-{n}",
            title=f"Essay {n}",
            prompt_ref="prompts/weekly-v1",
            context_refs=("context/a",),
            content_digest="sha256:" + rng.randbytes(32).hex(),
        )
    else:
        start, end = _signal_period(step)
        model.record_signal(
            _decided(rng, n, "auditor", day),
            kind="research_use",
            period_start=start,
            period_end=end,
            value=float(rng.randint(0, 500)),
            unit="count",
        )


def build(ledger: Ledger, events: int, models: int, seed: int = 8) -> None:
    """Save ``events`` events across ``models`` models, 5,000 per transaction."""
    rng = random.Random(seed)
    lifecycles: dict[str, ModelLifecycle] = {}
    steps: dict[str, int] = {}
    batch: list[ModelLifecycle] = []
    began = time.perf_counter()
    for n in range(events):
        name = f"bench-model-{n % models}"
        model = lifecycles.get(name)
        if model is None:
            model = ModelLifecycle.register(
                model_id(name),
                _decided(rng, n, "curator", date(2024, 1, 2)),
                name=name,
                family="bench",
                model_version="1",
                release_date=date(2024, 1, 1),
                developer="Bench Lab",
            )
            lifecycles[name] = model
            steps[name] = 0
        else:
            steps[name] += 1
            _next_event(model, rng, n, steps[name])
        if model not in batch:
            batch.append(model)
        if (n + 1) % 5000 == 0 or n + 1 == events:
            ledger.save(*batch)
            batch = []
            if (n + 1) % 50_000 == 0:
                _say(f"  built {n + 1:,} events ({(n + 1) / (time.perf_counter() - began):,.0f}/s)")


class ServerClock:
    """An ASGI wrapper that times each HTTP request inside the server."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last_ms = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        await self.app(scope, receive, send)
        self.last_ms = (time.perf_counter() - began) * 1000


def _catch_up(views: Any) -> None:
    """Let the views take every event.

    On PostgreSQL a first catch-up of a large ledger can stop once with psycopg's "the last
    operation didn't produce records" (in the runner's pipelined transaction, around 38,000
    events into this ledger); its page is rolled back, and a second call goes on from there.
    """
    from eventsourcing.persistence import ProgrammingError

    for attempt in range(5):
        try:
            views.catch_up()
            return
        except ProgrammingError as error:
            _say(f"  views stopped ({error}); catching up again ({attempt + 1})")
    views.catch_up()


def _summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
    }


def measure(url: str, samples: int, model: str) -> dict[str, Any]:
    """Every pair of the module docstring, interleaved."""
    from fastapi.testclient import TestClient

    from api.http.app import create_app

    app = create_app(Settings(database_url=url, log_origin="bench.example/log"))
    clock = ServerClock(app)
    results: dict[str, Any] = {}
    with TestClient(clock) as client:
        services = app.state.services
        began = time.perf_counter()
        _catch_up(services.views)
        results["views_catch_up_s"] = round(time.perf_counter() - began, 1)
        _say(f"  views took every event in {results['views_catch_up_s']} s")
        token = services.actors.add("bench-auditor", "auditor").token
        bearer = {"Authorization": f"Bearer {token}"}
        form = client.get("/web/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        signed = client.post(
            "/web/login",
            data={"token": token, "csrf": csrf.group(1), "next": "/web/"},
            follow_redirects=False,
        )
        assert signed.status_code == 303

        def timed(path: str, headers: dict[str, str] | None = None) -> float:
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.status_code, response.text[:300])
            return clock.last_ms

        size = services.ledger.recorder.max_notification_id() or 0
        pairs: dict[str, tuple[Callable[[], float], Callable[[], float]]] = {
            "timeline": (
                lambda: timed("/web/timeline?limit=100"),
                lambda: timed("/timeline?limit=100", bearer),
            ),
            "timeline_deep_filtered": (
                lambda: timed(f"/web/timeline?limit=100&type=SignalRecorded&after={size // 2}"),
                lambda: timed(f"/timeline?limit=100&type=SignalRecorded&after={size // 2}", bearer),
            ),
            "model": (
                lambda: timed(f"/web/models/{model}"),
                lambda: sum(
                    timed(path, bearer)
                    for path in (
                        f"/models/{model}",
                        f"/timeline?model={model}&limit=50",
                        f"/registers/access?model={model}",
                        f"/registers/essays?model={model}",
                        f"/registers/preferences?model={model}",
                        "/registers/policies",
                        # What the page has shown since: the retirement checklist, the signals.
                        f"/models/{model}/checklist",
                        f"/registers/signals?model={model}",
                    )
                ),
            ),
        }
        for name, (page, api) in pairs.items():
            for _ in range(5):  # warm-up: caches, compiled templates, prepared statements
                page()
                api()
            page_times: list[float] = []
            api_times: list[float] = []
            for _ in range(samples):
                page_times.append(page())
                api_times.append(api())
            page_summary, api_summary = _summary(page_times), _summary(api_times)
            results[name] = {
                "page": page_summary,
                "api": api_summary,
                "ratio_p50": round(page_summary["p50_ms"] / api_summary["p50_ms"], 2),
                "ratio_p95": round(page_summary["p95_ms"] / api_summary["p95_ms"], 2),
            }
            _say(
                f"  {name}: page p50 {page_summary['p50_ms']} ms, api p50 "
                f"{api_summary['p50_ms']} ms"
            )
        results["events"] = size
        results["model_events"] = services.ledger.version_of(model)
        results["page_bytes"] = {
            "timeline": len(client.get("/web/timeline?limit=100").content),
            "model": len(client.get(f"/web/models/{model}").content),
        }
    return results


def _url_for(backend: str, workdir: Path) -> tuple[str, Callable[[], None] | None]:
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}", None
    schema = f"bench_web_{uuid.uuid4().hex[:8]}"

    def cleanup() -> None:
        import psycopg

        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    return f"{PG_DSN}?schema={schema}", cleanup


def main() -> None:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--backend", choices=["postgres", "sqlite"], default="sqlite")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url, cleanup = _url_for(args.backend, Path(tmp))
        try:
            ledger = build_ledger(Settings(database_url=url))
            _say(f"building a ledger of {args.events:,} events on {args.backend}...")
            began = time.perf_counter()
            build(ledger, args.events, args.models)
            ledger.close()
            _say(f"  built in {time.perf_counter() - began:.1f} s")
            results = measure(url, args.samples, "bench-model-7")
        finally:
            if cleanup:
                cleanup()
    results["backend"] = args.backend
    results["samples"] = args.samples
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"web console on {args.backend}, {results['events']:,} events "
        f"(the model page's model: {results['model_events']:,}), {args.samples} samples"
    )
    print(f"  {'':24} {'page p50':>9} {'p95':>9} {'API p50':>9} {'p95':>9} {'ratio':>11}")
    for name in ("timeline", "timeline_deep_filtered", "model"):
        r = results[name]
        met = "met" if r["ratio_p50"] <= GOAL_RATIO else "NOT met"
        print(
            f"  {name:24} {r['page']['p50_ms']:9.2f} {r['page']['p95_ms']:9.2f} "
            f"{r['api']['p50_ms']:9.2f} {r['api']['p95_ms']:9.2f} "
            f"{r['ratio_p50']:5.2f}/{r['ratio_p95']:<5.2f} (goal <= {GOAL_RATIO}: {met})"
        )


if __name__ == "__main__":
    main()
