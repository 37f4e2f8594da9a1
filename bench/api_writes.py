"""The API's write latency: commands over HTTP against the same commands through the ledger.

Run from the repository root::

    .venv/bin/python bench/api_writes.py [--rates 50,200] [--duration 10] [--models 100]
        [--json]

For each rate, two runs on PostgreSQL, each on a store of its own (a fresh schema, the models
registered before timing):

* **http**: the HTTP service (`api.http.app.create_app` under uvicorn, in a subprocess,
  listening on ``127.0.0.1``, its log follower running as in production), sent commands over
  keep-alive connections (a minimal HTTP/1.1 client, so the sender's CPU stays small
  beside the service's) with a bearer token per actor, as ``POST /models/{model}/...``;
* **in process**: the same commands through ``Ledger.execute`` (authenticated by token, as
  the service does), run on a pool of threads in this process.

Both are driven **open loop**: command i is due at ``start + i / rate``, whatever happened to
the commands before it, and its latency is measured from that due time to its answer. A
sender that falls behind (a slow answer, a busy client) therefore shows as latency, instead of
quietly sending less (coordinated omission). Commands are record_signal, request_access (its
private fields sealed), draft_essay and archive_artifact, from the mix of bench/append.py:
each is valid whatever order the others land in, so answers running in parallel cannot
refuse one another. Every answer must be a 201 (else the run is refused).

Printed: p50 and p99 (ms) of each side, the ratio http / in process, and the rate achieved.
Progress goes to a terminal only; ``--json`` prints the results as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import importlib.util
import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from api.bootstrap import build_ledger, build_services  # noqa: E402
from api.settings import Settings  # noqa: E402
from domain.authority import Authentication  # noqa: E402
from domain.commands import parse_command  # noqa: E402

PG_DSN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")

# Commands whose validity does not depend on the order in which they land, and their paths.
PATHS = {
    "record_signal": "signals",
    "request_access": "access-requests",
    "draft_essay": "essays",
    "archive_artifact": "artifacts",
}

SERVER = """
import sys
sys.path.insert(0, sys.argv[2])
import uvicorn
from api.http.app import create_app
from api.settings import Settings
uvicorn.run(create_app(Settings()), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def _append_module() -> Any:
    """bench/append.py, for its command documents (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_append", ROOT / "bench" / "append.py")
    if spec is None or spec.loader is None:
        raise SystemExit("bench/append.py not found")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _say(message: str) -> None:
    # Progress on a terminal only: piped or captured runs stay quiet.
    if sys.stderr.isatty():
        print(message, file=sys.stderr, flush=True)


def workload(count: int, models: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The models' registrations, and ``count`` order-independent commands, round robin."""
    append = _append_module()
    # bench/append.py's script gives each model 4 order-independent commands in every 12.
    documents = append.command_documents(models + 3 * count + 3 * models, models)
    parsed = [json.loads(document) for document in documents]
    registrations = parsed[:models]
    chosen = [doc for doc in parsed[models:] if doc["command"] in PATHS][:count]
    if len(chosen) < count:
        raise SystemExit(f"made {len(chosen)} commands, {count} wanted")
    return registrations, chosen


class Store:
    """A fresh PostgreSQL schema holding a ledger with the models registered."""

    def __init__(self, registrations: Sequence[dict[str, Any]]) -> None:
        import psycopg

        self.schema = f"bench_api_{uuid4().hex[:10]}"
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            admin.execute(f"CREATE SCHEMA {self.schema}")
        self.url = f"{PG_DSN}?schema={self.schema}"
        ledger = build_ledger(Settings(database_url=self.url))
        try:
            ledger.import_commands([parse_command(json.dumps(d)) for d in registrations])
        finally:
            ledger.close()

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {self.schema} CASCADE")


@dataclass
class Side:
    """The latencies of one run, in milliseconds from each command's due time."""

    side: str
    rate: float
    commands: int
    achieved_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_ms: float
    """CPU time of the process that runs the commands (the service, or this one), per command."""
    client_cpu_ms: float
    """CPU time of the sending process per command (http only; in process it is counted
    in ``server_cpu_ms``)."""


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _side(
    name: str,
    rate: float,
    latencies: Sequence[float],
    elapsed: float,
    cpu: tuple[float, float],
) -> Side:
    return Side(
        side=name,
        rate=rate,
        commands=len(latencies),
        achieved_per_s=round(len(latencies) / elapsed, 1),
        p50_ms=round(_percentile(latencies, 0.5) * 1000, 2),
        p99_ms=round(_percentile(latencies, 0.99) * 1000, 2),
        max_ms=round(max(latencies) * 1000, 2),
        server_cpu_ms=round(cpu[0] / len(latencies) * 1000, 2),
        client_cpu_ms=round(cpu[1] / len(latencies) * 1000, 2),
    )


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tokens(url: str, commands: Sequence[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """A bearer token for every (actor, role) the commands name, issued on the store."""
    services = build_services(Settings(database_url=url))
    try:
        actors = {(doc["actor"]["id"], doc["actor"]["role"]) for doc in commands}
        return {actor: services.actors.add(*actor).token for actor in sorted(actors)}
    finally:
        services.close()


def run_http(url: str, commands: Sequence[dict[str, Any]], rate: float) -> Side:
    """The commands over HTTP to a service started for this run, open loop at ``rate``/s."""
    import httpx

    tokens = _tokens(url, commands)
    port = _free_port()
    environment = {**os.environ, "RELIQUARY_DATABASE_URL": url}
    environment.setdefault("RELIQUARY_LOG_ORIGIN", "bench.example/log")
    server = subprocess.Popen(  # noqa: S603 (our own service)
        [sys.executable, "-c", SERVER, str(port), str(ROOT)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/openapi.json", timeout=1.0)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    error = server.stderr.read().decode() if server.stderr else ""
                    raise SystemExit(f"the service did not start: {error[-2000:]}") from None
                time.sleep(0.2)
        requests = []
        for doc in commands:
            actor = (doc["actor"]["id"], doc["actor"]["role"])
            body = {k: v for k, v in doc.items() if k not in {"command", "model", "actor"}}
            path = f"/models/{doc['model']}/{PATHS[doc['command']]}"
            requests.append(encoded_request(port, path, tokens[actor], body))
        server_before, client_before = _cpu_seconds(server.pid), time.process_time()
        latencies, elapsed = asyncio.run(_send_all(port, requests, rate))
        cpu = (_cpu_seconds(server.pid) - server_before, time.process_time() - client_before)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return _side("http", rate, latencies, elapsed, cpu)


class _Connections:
    """Keep-alive HTTP/1.1 connections to the service, one request at a time on each.

    A hand-written client: every request is encoded before timing starts, and a request costs
    the sender a write and a read (httpx spent 3 to 7 ms of CPU per request here, as much as
    the service, on a machine of two cores they share).
    """

    # The service closes a connection idle for 5 s (uvicorn's default); the client drops its
    # own idle ones sooner, so it never sends on a connection the server is closing.
    IDLE_SECONDS = 2.0

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[tuple[float, asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, request: bytes) -> tuple[int, bytes]:
        """Send one encoded request; its status and body."""
        loop = asyncio.get_running_loop()
        while self.idle:
            used, reader, writer = self.idle.pop()
            if loop.time() - used < self.IDLE_SECONDS:
                break
            writer.close()
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await reader.readexactly(length)
        self.idle.append((loop.time(), reader, writer))
        return status, body

    def close(self) -> None:
        for _, _, writer in self.idle:
            writer.close()


def encoded_request(port: int, path: str, token: str, body: dict[str, Any]) -> bytes:
    """A command's POST, as the bytes sent."""
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def _send_all(port: int, requests: Sequence[bytes], rate: float) -> tuple[list[float], float]:
    latencies = [0.0] * len(requests)
    connections = _Connections(port)
    loop = asyncio.get_running_loop()
    # Connections are made as the first commands go out: that cost is part of what a client
    # sees.
    start = loop.time() + 0.2

    async def send(index: int, due: float) -> None:
        status, body = await connections.post(requests[index])
        if status != 201:
            raise SystemExit(f"command {index}: {status} {body[:300]!r}")
        latencies[index] = loop.time() - due

    tasks = []
    try:
        for index in range(len(requests)):
            due = start + index / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(index, due)))
            if index % max(1, int(rate)) == 0:
                _say(f"    http {index:,}/{len(requests):,} sent")
        await asyncio.gather(*tasks)
    finally:
        connections.close()
    return latencies, loop.time() - start


def run_in_process(url: str, commands: Sequence[dict[str, Any]], rate: float) -> Side:
    """The same commands through ``Ledger.execute`` on a pool of threads, open loop."""
    parsed = [parse_command(json.dumps(doc)) for doc in commands]
    ledger = build_ledger(Settings(database_url=url))
    latencies = [0.0] * len(parsed)
    failures: list[BaseException] = []

    def execute(index: int, due: float) -> None:
        try:
            ledger.execute(parsed[index], authentication=Authentication.TOKEN)
        except BaseException as error:  # reported after the run
            failures.append(error)
        latencies[index] = time.perf_counter() - due

    # As many threads as the service's pool (anyio's default for sync endpoints: 40).
    try:
        cpu_before = time.process_time()
        with concurrent.futures.ThreadPoolExecutor(max_workers=40) as pool:
            start = time.perf_counter() + 0.2
            for index in range(len(parsed)):
                due = start + index / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(execute, index, due)
                if index % max(1, int(rate)) == 0:
                    _say(f"    in process {index:,}/{len(parsed):,} submitted")
        elapsed = time.perf_counter() - start
        cpu = (time.process_time() - cpu_before, 0.0)
    finally:
        ledger.close()
    if failures:
        raise SystemExit(f"{len(failures)} commands failed in process: {failures[0]!r}")
    return _side("in_process", rate, latencies, elapsed, cpu)


def table(results: Sequence[tuple[Side, Side]]) -> str:
    """The results as a fixed-width table."""
    lines = [
        f"{'rate/s':>7} {'side':<11} {'sent':>6} {'achieved/s':>11} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'max ms':>8} {'cpu ms/cmd':>11}"
    ]
    for http, local in results:
        for side in (http, local):
            lines.append(
                f"{side.rate:>7g} {side.side:<11} {side.commands:>6} {side.achieved_per_s:>11,.1f}"
                f" {side.p50_ms:>8.2f} {side.p99_ms:>8.2f} {side.max_ms:>8.2f}"
                f" {side.server_cpu_ms + side.client_cpu_ms:>11.2f}"
            )
        lines.append(
            f"{'':>7} {'ratio':<11} {'':>6} {'':>11} {http.p50_ms / local.p50_ms:>8.2f}"
            f" {http.p99_ms / local.p99_ms:>8.2f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run both sides at each rate and print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rates", default="50,200", help="writes per second, comma-separated")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    rates = [float(rate) for rate in args.rates.split(",")]

    results: list[tuple[Side, Side]] = []
    for rate in rates:
        count = max(1, int(rate * args.duration))
        registrations, commands = workload(count, args.models)
        sides: dict[str, Side] = {}
        # Alternate which side goes first, so drift favours neither.
        order = ["http", "in_process"] if len(results) % 2 == 0 else ["in_process", "http"]
        for name in order:
            store = Store(registrations)
            try:
                _say(f"  {rate:g}/s {name}: {count:,} commands over {args.duration:g} s")
                run = run_http if name == "http" else run_in_process
                sides[name] = run(store.url, commands, rate)
            finally:
                store.drop()
        results.append((sides["http"], sides["in_process"]))

    if args.json:
        print(
            json.dumps(
                {
                    "duration_s": args.duration,
                    "models": args.models,
                    "python": platform.python_version(),
                    "results": [
                        {
                            "rate": http.rate,
                            "http": asdict(http),
                            "in_process": asdict(local),
                            "ratio_p50": round(http.p50_ms / local.p50_ms, 2),
                            "ratio_p99": round(http.p99_ms / local.p99_ms, 2),
                        }
                        for http, local in results
                    ],
                },
                indent=2,
            )
        )
    else:
        print(table(results))
        print(
            "latency from each command's due time (open loop) to its answer; ratio: http over "
            "in process; cpu: the service's and the sender's CPU time per command (http), this "
            "process's (in process)."
        )
    # A report, not a test: the machine's noise must not fail a build.
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    raise SystemExit(main())
