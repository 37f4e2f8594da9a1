"""Transparency-log costs on a large ledger: append, proofs, and verify against a hash loop.

Run from the repository root::

    .venv/bin/python bench/transparency.py [--events 1000000] [--backend postgres|sqlite]
        [--samples 200] [--verify-runs 3] [--tiles-export] [--witness-round ROUNDS] [--json]

It builds a ledger of N events (realistic decisions, saved by the library in batches of
5,000), lets the log take them all (the one-off build, reported as events per second), then
measures, each as a median and 95th percentile over ``--samples`` runs:

* one append: a new event recorded, then ``catch_up`` taking it into the tree;
* an inclusion proof for a random event in the full tree;
* a consistency proof from a random earlier size to the full tree;

and ``verify`` throughput (recompute every leaf from the stored events, rebuild the tree,
compare) beside a plain loop that only SHA-256-hashes the same canonical leaf bytes, held in
memory before it starts (the feed's leaves, as the tree and bundles have them). The two run
``--verify-runs`` times, interleaved, and the best of each is kept (the machine is shared); the
load average and verify's CPU time per event are reported beside them. Goals from issue #14:
each single operation under 5 ms on PostgreSQL, and verify at least 0.3 of the hash loop.
With ``--tiles-export``, it then times `reliquary tiles export` of the whole log into a fresh
folder (`static_tiles.export_tiles`), reports the folder's size and file count, times a second
run that only checks what is there, and, as the same-process baseline, a plain copy of the
folder (``shutil.copytree``: the same bytes written as files, with nothing computed).
With ``--witness-round ROUNDS``, it times checkpoint to cosigned checkpoint with two Reliquary
witnesses served over loopback HTTP (`measure_witness_round`), against a plain loopback POST.
Figures go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from api.bootstrap import build_ledger, build_log  # noqa: E402
from api.settings import Settings  # noqa: E402
from domain.decisions import Actor, Evidence, Justification  # noqa: E402
from domain.identity import model_id  # noqa: E402
from domain.ledger import Ledger  # noqa: E402
from domain.lifecycle import ModelLifecycle  # noqa: E402
from projections.translog.checkpoint import generate_signing_key, verifier_key  # noqa: E402
from projections.translog.feed import leaf_pages  # noqa: E402
from projections.translog.tree import TransparencyLog  # noqa: E402
from projections.translog.verify import verify_log  # noqa: E402

PG_DSN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
GOAL_MS = 5.0
GOAL_VERIFY_RATIO = 0.3  # issue #14: verify's rate at least 0.3 of the hash loop's


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _decided(rng: random.Random, n: int) -> Justification:
    return Justification(
        actor=Actor(id=f"analyst-{n % 7}", role="auditor"),
        rationale=(
            "Monthly research-use signal recorded from the access gateway's logs, as the "
            f"monitoring policy requires; batch {n}, reviewed by the on-call analyst."
        ),
        evidence=(
            Evidence(
                uri=f"https://metrics.example/research-use/{n}",
                digest="sha256:" + rng.randbytes(32).hex(),
                description="gateway export",
            ),
        ),
        effective_at=None,
    )


def build(ledger: Ledger, events: int, models: int, seed: int = 7) -> None:
    """Save ``events`` realistic events across ``models`` models, 5,000 per transaction."""
    rng = random.Random(seed)
    start = date(2024, 1, 1)
    lifecycles: dict[str, ModelLifecycle] = {}
    made = 0
    batch: list[ModelLifecycle] = []
    began = time.perf_counter()
    while made < events:
        name = f"bench-model-{made % models}"
        model = lifecycles.get(name)
        if model is None:
            model = ModelLifecycle.register(
                model_id(name),
                _decided(rng, made),
                name=name,
                family="bench",
                model_version="1",
                release_date=start,
                developer="Bench Lab",
            )
            lifecycles[name] = model
        else:
            # One value per model, kind and period (`signal-period-taken`): the model's k-th
            # signal starts on one of 600 days and lasts a day more each time the starts come
            # round, so no two of a model's periods are the same; all last 30 days or more,
            # unlike the short ones `signal_period` gives the appends measured below.
            k = made // models
            day = start + timedelta(days=k % 600)
            model.record_signal(
                _decided(rng, made),
                kind="research_use",
                period_start=day,
                period_end=day + timedelta(days=29 + k // 600),
                value=float(rng.randint(0, 500)),
                unit="count",
            )
        if model not in batch:
            batch.append(model)
        made += 1
        if made % 5000 == 0 or made == events:
            ledger.save(*batch)
            batch = []
            if made % 100_000 == 0:
                rate = made / (time.perf_counter() - began)
                _say(f"  built {made:,} events ({rate:,.0f}/s)")


def _timed(action: Any, samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        began = time.perf_counter()
        action()
        times.append((time.perf_counter() - began) * 1000)
    return times


def _summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
    }


def measure(log: TransparencyLog, samples: int, verify_runs: int = 3) -> dict[str, Any]:
    """Every figure of the module docstring, on a log that has taken every event."""
    rng = random.Random(11)
    results: dict[str, Any] = {}
    ledger = log.ledger

    began = time.perf_counter()
    taken = log.catch_up()
    build_seconds = time.perf_counter() - began
    results["tree_build"] = {"events": taken, "events_per_s": round(taken / build_seconds)}
    size = log.size()
    results["size"] = size
    _say(f"  tree built: {taken:,} leaves in {build_seconds:.1f} s")

    model = ledger.state("bench-model-0")
    counter = iter(range(10**9))

    def append_one() -> None:
        _record_short_signal(model, rng, next(counter))
        ledger.save(model)

    append_times = []
    for _ in range(samples):
        append_one()
        began = time.perf_counter()
        assert log.catch_up() == 1
        append_times.append((time.perf_counter() - began) * 1000)
    results["append"] = _summary(append_times)
    size = log.size()

    results["inclusion_proof"] = _summary(
        _timed(lambda: log.inclusion_proof(rng.randrange(size), size), samples)
    )
    results["consistency_proof"] = _summary(
        _timed(lambda: log.consistency_proof(rng.randrange(1, size), size), samples)
    )
    results["root"] = _summary(_timed(lambda: log.root(size), samples))

    signing_key = generate_signing_key("bench.example/log")
    log.checkpoint(signing_key)
    _say("  reading the canonical leaf bytes for the hash loop...")
    lines = [leaf for page in leaf_pages(ledger, page=8192) for leaf in page.leaves]

    def hash_loop() -> float:
        began = time.perf_counter()
        for line in lines:
            hashlib.sha256(b"\x00" + line).digest()
        return len(lines) / (time.perf_counter() - began)

    runs = []
    for run in range(verify_runs):
        hash_rate = hash_loop()
        load = os.getloadavg()[0]
        began, cpu = time.perf_counter(), time.process_time()
        report = verify_log(log, verifier_key(signing_key))
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
        assert report.ok, report.problems[:3]
        assert report.events == len(lines)
        runs.append(
            {
                "hash_loop_events_per_s": round(hash_rate),
                "verify_events_per_s": round(report.events / seconds),
                "verify_cpu_us_per_event": round(cpu / report.events * 1e6, 2),
                "load_average": round(load, 1),
            }
        )
        _say(f"  verify run {run + 1}: {runs[-1]}")
    best_verify = max(r["verify_events_per_s"] for r in runs)
    best_hash = max(r["hash_loop_events_per_s"] for r in runs)
    results["verify"] = {
        "events": len(lines),
        "verify_events_per_s": best_verify,
        "hash_loop_events_per_s": best_hash,
        "ratio": round(best_verify / best_hash, 4),
        "runs": runs,
    }
    return results


def measure_tiles_export(log: TransparencyLog, workdir: Path) -> dict[str, Any]:
    """`tiles export` of the latest checkpoint: a fresh folder, a rerun, and a plain copy."""
    from projections.translog.service import LogService
    from projections.translog.static_tiles import export_tiles

    service = LogService(log, workdir / "no-signing-key")  # exporting only reads
    folder = workdir / "tiles"
    began = time.perf_counter()
    done = export_tiles(service, folder)
    seconds = time.perf_counter() - began
    files = [path for path in folder.rglob("*") if path.is_file()]
    size_bytes = sum(path.stat().st_size for path in files)
    began = time.perf_counter()
    again = export_tiles(service, folder)
    rerun = time.perf_counter() - began
    assert again.written == []
    assert len(again.kept) == len(done.written)
    began = time.perf_counter()
    shutil.copytree(folder, workdir / "tiles-copy")
    copy = time.perf_counter() - began
    return {
        "events": done.size,
        "files": len(files),
        "bytes": size_bytes,
        "seconds": round(seconds, 2),
        "events_per_s": round(done.size / seconds),
        "rerun_seconds": round(rerun, 2),
        "copy_seconds": round(copy, 2),
        "copy_ratio": round(copy / seconds, 4),
    }


def _serve_witness(workdir: Path, name: str, origin: str, log_key: str) -> tuple[str, Any]:
    """A Reliquary witness of the log (its own SQLite store and key) on a loopback port."""
    import socket
    import threading

    import uvicorn

    from api.http.app import create_app
    from projections.translog.witness import create_witness_key

    config = workdir / f"{name}.json"
    config.write_text(json.dumps({"logs": [{"origin": origin, "verifier_key": log_key}]}))
    key = workdir / f"{name}.key"
    create_witness_key(key, f"bench.example/{name}")
    settings = Settings(
        database_url=f"sqlite:///{workdir / (name + '.db')}",
        witness_config=config,
        witness_key=key,
        signing_key=workdir / f"{name}-ledger.key",
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return f"http://127.0.0.1:{port}/witness", server


def measure_witness_round(
    log: TransparencyLog, settings: Settings, workdir: Path, rounds: int
) -> dict[str, Any]:
    """Checkpoint to cosigned checkpoint with two Reliquary witnesses over loopback HTTP.

    Each round records 10 events, signs a checkpoint and submits it (`submit_latest`: both
    witnesses asked at once, each verifying the log's signature and the consistency proof from
    the size it cosigned last, answers verified, cosignatures stored). The baseline, in the same
    process and against the same servers: one plain loopback HTTP POST that a witness refuses
    at once (a body it cannot parse), the floor of any round trip.
    """
    import httpx

    from projections.translog.cosignature import cosigner_verifier_key
    from projections.translog.cosignature_store import CosignatureStore, submit_latest
    from projections.translog.keys import create_signing_key, load_signing_key
    from projections.translog.service import LogService
    from projections.translog.witness_policy import PolicyWitness, WitnessPolicy
    from projections.translog.witness_transport import http_post

    key_path = workdir / "witnessed.key"
    create_signing_key(key_path, log.origin)
    key = load_signing_key(key_path)
    witnesses, servers = [], []
    for name in ("w1", "w2"):
        url, server = _serve_witness(workdir, name, log.origin, verifier_key(key))
        witness_key = load_signing_key(workdir / f"{name}.key")
        vkey = cosigner_verifier_key(witness_key)
        witnesses.append(PolicyWitness(vkey.split("+")[0], url, vkey))
        servers.append(server)
    policy = WitnessPolicy(tuple(witnesses), 2)
    from api.bootstrap import build_views

    recorder = build_views(log.ledger, settings).recorder
    store = CosignatureStore(recorder)
    store.create_table()
    service = LogService(log, key_path)
    post = http_post(10.0)
    rng = random.Random(11)
    rounds_ms, posts_ms, signing_ms = [], [], []
    try:
        with httpx.Client(timeout=10.0) as client:
            for n in range(rounds):
                model = log.ledger.state("bench-model-1")
                for i in range(10):
                    # Periods from 100,000 on: the appends measured before never took them.
                    _record_short_signal(model, rng, 100_000 + n * 10 + i)
                log.ledger.save(model)
                began = time.perf_counter()
                service.sign_checkpoint()
                signed = time.perf_counter()
                checkpoint, report = submit_latest(service, store, policy, post, sign=False)
                done = time.perf_counter()
                rounds_ms.append((done - began) * 1000)
                signing_ms.append((signed - began) * 1000)
                assert report.quorum_met, report.outcomes
                began = time.perf_counter()
                client.post(witnesses[0].add_checkpoint_url, content=b"x")
                posts_ms.append((time.perf_counter() - began) * 1000)
    finally:
        for server in servers:
            server.should_exit = True
    round_summary, post_summary = _summary(rounds_ms), _summary(posts_ms)
    return {
        "rounds": rounds,
        "witnesses": 2,
        "round": round_summary,
        "signing": _summary(signing_ms),
        "plain_post": post_summary,
        "ratio_to_plain_post": round(round_summary["median_ms"] / post_summary["median_ms"], 2),
        "rounds_per_s": round(1000 / round_summary["median_ms"], 1),
    }


def _ledger_for(backend: str, workdir: Path) -> tuple[Ledger, TransparencyLog, Any, Settings]:
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
        cleanup = None
    else:
        schema = f"bench_tl_{uuid.uuid4().hex[:8]}"
        url = f"{PG_DSN}?schema={schema}"

        def cleanup() -> None:
            import psycopg

            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    settings = Settings(database_url=url, log_origin="bench.example/log")
    ledger = build_ledger(settings)
    return ledger, build_log(settings, ledger), cleanup, settings


def _record_short_signal(model: ModelLifecycle, rng: random.Random, n: int) -> None:
    """Record the model's n-th signal of a short period (`signal_period`), not yet saved."""
    start, end = signal_period(n)
    model.record_signal(
        _decided(rng, n),
        kind="research_use",
        period_start=start,
        period_end=end,
        value=1.0,
        unit="count",
    )


def signal_period(n: int) -> tuple[date, date]:
    """The n-th period no other signal of a model uses (the ledger keeps one value a period).

    Periods start on one of 500 days from 2024-04-01 and last 1 + n // 500 days, so they stay
    distinct, and in the past, for n below 235,000.
    """
    start = date(2024, 4, 1) + timedelta(days=n % 500)
    return start, start + timedelta(days=n // 500)


def main() -> None:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--verify-runs", type=int, default=3)
    parser.add_argument(
        "--tiles-export", action="store_true", help="Also time `tiles export` of the log"
    )
    parser.add_argument(
        "--witness-round",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="Also time ROUNDS checkpoints cosigned by two witnesses over loopback HTTP",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ledger, log, cleanup, settings = _ledger_for(args.backend, workdir)
        try:
            _say(f"building a ledger of {args.events:,} events on {args.backend}...")
            began = time.perf_counter()
            build(ledger, args.events, args.models)
            _say(f"  built in {time.perf_counter() - began:.1f} s")
            results = measure(log, args.samples, args.verify_runs)
            if args.tiles_export:
                _say("  exporting the log as static tiles...")
                results["tiles_export"] = measure_tiles_export(log, workdir)
            if args.witness_round:
                _say(f"  {args.witness_round} witness rounds on loopback...")
                results["witness_round"] = measure_witness_round(
                    log, settings, workdir, args.witness_round
                )
        finally:
            ledger.close()
            if cleanup:
                cleanup()
    results["backend"] = args.backend
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"transparency log on {args.backend}, {results['size']:,} events")
    print(f"  tree build (one-off catch-up): {results['tree_build']['events_per_s']:,} events/s")
    for what in ("append", "inclusion_proof", "consistency_proof", "root"):
        figures = results[what]
        met = "met" if figures["median_ms"] < GOAL_MS else "NOT met"
        print(
            f"  {what:18} median {figures['median_ms']:8.3f} ms   p95 {figures['p95_ms']:8.3f} ms"
            f"   (goal < {GOAL_MS} ms: {met})"
        )
    verify = results["verify"]
    met = "met" if verify["ratio"] >= GOAL_VERIFY_RATIO else "NOT met"
    print(
        f"  verify {verify['verify_events_per_s']:,} events/s vs hash loop "
        f"{verify['hash_loop_events_per_s']:,} events/s: ratio {verify['ratio']} "
        f"(best of {len(verify['runs'])}; goal >= {GOAL_VERIFY_RATIO}: {met})"
    )
    if "tiles_export" in results:
        tiles = results["tiles_export"]
        print(
            f"  tiles export of {tiles['events']:,} events: {tiles['seconds']} s "
            f"({tiles['events_per_s']:,} events/s), {tiles['files']:,} files, "
            f"{tiles['bytes'] / 1e6:,.1f} MB; rerun (checks only) {tiles['rerun_seconds']} s; "
            f"plain copy of the folder {tiles['copy_seconds']} s (ratio {tiles['copy_ratio']})"
        )
    if "witness_round" in results:
        w = results["witness_round"]
        print(
            f"  witness round (sign, 2 witnesses over loopback HTTP, store) x{w['rounds']}: "
            f"median {w['round']['median_ms']} ms, p95 {w['round']['p95_ms']} ms "
            f"({w['rounds_per_s']} rounds/s; signing alone median {w['signing']['median_ms']} ms); "
            "a plain loopback POST median "
            f"{w['plain_post']['median_ms']} ms (ratio {w['ratio_to_plain_post']})"
        )


if __name__ == "__main__":
    main()
