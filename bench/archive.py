"""Directory hashing: `reliquary manifest` against `openssl dgst -sha256` and OpenSSF model-signing.

Run from the repository root::

    .venv/bin/python bench/archive.py [--repeat 5] [--dir /tmp] [--json]

It writes one data set under ``--dir`` (3 GiB: one 1 GiB file, and sixteen 128 MiB files in
a folder of their own; distinct pseudo-random bytes), uses it for every measurement and
deletes it at the end. Then, each case interleaved and each side keeping its best of
``--repeat`` runs:

* **one 1 GiB file**: ``reliquary manifest DIR --json`` (the real CLI, a subprocess, start-up
  included) against ``openssl dgst -sha256 FILE`` (the processor's SHA instructions).
  Goal: at least 0.9 of openssl's speed, in every run. The same for ``reliquary
  verify-archive MODEL DIR --json``, once against a SQLite ledger in which the file was
  preserved (``reliquary init``, ``demo``, ``preserve``, ``checkpoint``, made before timing)
  and once against that ledger's exported bundle (``--bundle B --key K``: no database).
* **sixteen 128 MiB files**: the CLI on the folder against one ``openssl dgst -sha256 F1 ...
  F16``, which hashes them one after another. Goal: at least 1.7x (both cores).
* Beside each CLI row, for the analysis: ``hash_tree`` in a fresh ``python -c`` (start-up of
  the library alone) and in this process (no start-up), and the start-up of both on a
  14-byte tree.
* **peak memory** of each Reliquary process (``ru_maxrss`` from ``wait4``, taken by a bare
  launcher: Linux carries a forking parent's size into the child's figure). Goal: < 150 MB.
* **model-signing** (the peer, if installed: ``pip install model-signing pyopenssl``): its
  Python hashing API, ``model_signing.hashing.Config().use_file_serialization(
  hashing_algorithm="sha256").hash(DIR)``, against Reliquary's ``hash_tree(DIR)``, both in
  this process. Goal: Reliquary at least as fast.

Page cache: every file is read once, untimed, before any timing, so each side reads warm
from memory (the machine has far more RAM than 3 GiB) and the comparison is of hashing,
not of the disk; cold reads are bounded by the disk for every tool alike. The script also
checks that all tools agree on every digest. Every run's ratio (the two sides' times in that
run) is reported beside the best-of ratio; a goal "in every run" is judged on the worst run.
It asserts nothing about time and exits 0.
Figures go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from projections.archive import hash_tree  # noqa: E402

MIB = 1 << 20
GOAL_ONE_FILE = 0.9  # of openssl's speed on one file
GOAL_SIXTEEN = 1.7  # times openssl's speed on sixteen files, one after another
GOAL_RSS_MB = 150.0
GOAL_PEER = 1.0  # Reliquary's speed over model-signing's


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise RuntimeError(f"the tools disagree: {message}")


def _write_data(path: Path, size: int, seed: int, pattern: bytes) -> None:
    """``size`` bytes: the random pattern, each 16 MiB block starting with its own digest."""
    with path.open("wb") as out:
        written = 0
        index = 0
        while written < size:
            header = hashlib.sha256(b"%d:%d" % (seed, index)).digest()
            chunk = (header + pattern[len(header) :])[: size - written]
            out.write(chunk)
            written += len(chunk)
            index += 1


def make_data_set(base: Path, big_mib: int, files: int, file_mib: int) -> tuple[Path, Path]:
    """The one-file folder and the many-file folder, filled with distinct bytes."""
    pattern = os.urandom(16 * MIB)
    one = base / "one-file"
    many = base / "sixteen-files"
    one.mkdir()
    many.mkdir()
    _write_data(one / "model.bin", big_mib * MIB, 0, pattern)
    for index in range(files):
        _write_data(
            many / f"shard-{index:05d}-of-{files:05d}.bin", file_mib * MIB, index + 1, pattern
        )
    return one, many


def warm(folder: Path) -> None:
    """Read every file once so that the timed runs all start from the page cache."""
    buffer = bytearray(MIB)
    for file in sorted(folder.iterdir()):
        with file.open("rb", buffering=0) as handle:
            while handle.readinto(buffer):
                pass


# Peak RSS: Linux carries the parent's resident size into a child's ru_maxrss when it forks
# (or vforks) and execs, so a child started by this process (hundreds of MB with model-signing
# loaded) would report at least that. A bare Python launcher (about 10 MB) starts the command
# instead and reports its wait4 rusage and its wall time, spawn to exit.
_LAUNCHER = """
import os, sys, time
began = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
elapsed = time.perf_counter() - began
with open(sys.argv[1], "w") as out:
    out.write(f"{os.waitstatus_to_exitcode(status)} {elapsed!r} {usage.ru_maxrss}")
"""


def run_child(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int, bytes]:
    """Wall time (spawn to exit), peak RSS in bytes, and stdout of a command."""
    with tempfile.TemporaryDirectory() as scratch:
        result, out, err = (Path(scratch) / name for name in ("result", "out", "err"))
        with out.open("wb") as stdout, err.open("wb") as stderr:
            subprocess.run(
                [sys.executable, "-I", "-c", _LAUNCHER, str(result), *argv],
                stdout=stdout,
                stderr=stderr,
                check=True,
                env=env,
            )
        code, elapsed, maxrss_kib = result.read_text().split()
        if int(code) != 0:
            raise RuntimeError(f"{argv[0]} failed ({code}): {err.read_text()[-500:]}")
        return float(elapsed), int(maxrss_kib) * 1024, out.read_bytes()


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    result = call()
    return time.perf_counter() - began, result


def cli_argv(folder: Path) -> list[str] | None:
    """``reliquary manifest DIR --json``, or None if this checkout's CLI has no such command."""
    cli = Path(sys.executable).parent / "reliquary"
    if not cli.exists():
        return None
    probe = subprocess.run([str(cli), "manifest", "--help"], capture_output=True, check=False)
    return [str(cli), "manifest", str(folder), "--json"] if probe.returncode == 0 else None


def wrapper_argv(folder: Path) -> list[str]:
    """``hash_tree`` in a fresh interpreter: the library with start-up, without the CLI."""
    code = (
        "import json, sys; from pathlib import Path; from projections.archive import hash_tree; "
        "print(json.dumps(hash_tree(Path(sys.argv[1])).to_json()))"
    )
    return [sys.executable, "-c", code, str(folder)]


MODEL = "lumen-4"  # a model of the demo ledger that may have its weights preserved


def prepare_ledger(base: Path, one: Path) -> tuple[dict[str, str], list[str], list[str]]:
    """A SQLite ledger (and its exported bundle) in which ``one`` is MODEL's preserved weights.

    Returns the environment that names the ledger, and the two ``verify-archive`` command
    lines: against the ledger, and against the bundle with its pinned key.
    """
    cli = str(Path(sys.executable).parent / "reliquary")
    env = {
        **os.environ,
        "RELIQUARY_DATABASE_URL": f"sqlite:///{base / 'ledger.db'}",
        "RELIQUARY_SIGNING_KEY": str(base / "signing.key"),
    }

    def call(*args: str) -> str:
        done = subprocess.run([cli, *args], env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"reliquary {args[0]} failed: {done.stderr[-500:]}")
        return done.stdout

    call("init")
    call("demo")
    call(
        "preserve",
        MODEL,
        str(one),
        "--location",
        "file:///bench/one-file",
        "--custodian",
        "The benchmark",
        "--rationale",
        "Weights preserved to time verify-archive.",
        "--actor-id",
        "bench-curator",
    )
    call("checkpoint")
    call("export", str(base / "bundle"))
    key = call("key").strip()
    ledger = [cli, "verify-archive", MODEL, str(one), "--json"]
    bundle = [cli, "verify-archive", "--bundle", str(base / "bundle"), "--key", key]
    return env, ledger, [*bundle, MODEL, str(one), "--json"]


def openssl_digests(output: bytes) -> dict[str, str]:
    """``SHA2-256(path)= hex`` lines (OpenSSL 3) as {file name: hex}."""
    digests = {}
    for line in output.decode().splitlines():
        name, _, digest = line.rpartition("= ")
        digests[Path(name[name.index("(") + 1 : -1]).name] = digest.strip()
    return digests


def model_signing_hasher() -> tuple[Callable[[Path], dict[str, str]] | None, str]:
    """model-signing's own file hashing, or None and why it is not available."""
    try:
        ms_hashing: Any = importlib.import_module("model_signing.hashing")
    except ImportError as error:
        return None, (
            f"model-signing is not importable ({error}); install it with "
            "`.venv/bin/pip install model-signing pyopenssl` (1.1.1 imports pyOpenSSL without "
            "declaring it)"
        )
    version = importlib.metadata.version("model-signing")

    def run(folder: Path) -> dict[str, str]:
        manifest = (
            ms_hashing.Config().use_file_serialization(hashing_algorithm="sha256").hash(folder)
        )
        return {
            str(item.identifier): item.digest.digest_hex for item in manifest.resource_descriptors()
        }

    return run, f"model-signing {version}"


def measure(args: argparse.Namespace, base: Path) -> dict[str, Any]:
    _say(f"writing the data set under {base} ...")
    began = time.perf_counter()
    one, many = make_data_set(base, args.big_mib, args.files, args.file_mib)
    tiny = base / "tiny"
    tiny.mkdir()
    (tiny / "README").write_bytes(b"start-up only\n")
    _say(f"  written in {time.perf_counter() - began:.1f} s; reading it once, untimed ...")
    warm(one)
    warm(many)
    sizes = {"one": args.big_mib * MIB, "many": args.files * args.file_mib * MIB}
    folders = {"one": one, "many": many, "tiny": tiny}
    openssl = {
        "one": ["openssl", "dgst", "-sha256", str(one / "model.bin")],
        "many": ["openssl", "dgst", "-sha256", *sorted(str(path) for path in many.iterdir())],
    }
    has_cli = cli_argv(tiny) is not None
    verify: dict[str, list[str]] = {}
    env = None
    if has_cli:
        _say("  a ledger with the one file preserved, for verify-archive ...")
        env, verify["verify_ledger"], verify["verify_bundle"] = prepare_ledger(base, one)
    else:
        _say("  this checkout has no `reliquary manifest`: the CLI rows are left out")
    peer, peer_label = model_signing_hasher()

    times: dict[str, list[float]] = {}
    rss: dict[str, int] = {}

    def keep(name: str, seconds: float) -> None:
        times.setdefault(name, []).append(seconds)

    def child(name: str, argv: list[str]) -> bytes:
        seconds, peak, out = run_child(argv, env)
        keep(name, seconds)
        rss[name] = max(rss.get(name, 0), peak)
        return out

    for run in range(args.repeat):
        _say(f"run {run + 1} of {args.repeat} ...")
        if has_cli:
            child("tiny.cli", cli_argv(tiny) or [])
        child("tiny.wrapper", wrapper_argv(tiny))
        for case in ("one", "many"):
            folder = folders[case]
            reference = openssl_digests(child(f"{case}.openssl", openssl[case]))
            outputs = [json.loads(child(f"{case}.wrapper", wrapper_argv(folder)))]
            if has_cli:
                outputs.append(json.loads(child(f"{case}.cli", cli_argv(folder) or [])))
            seconds, tree = timed(partial(hash_tree, folder))
            keep(f"{case}.inprocess", seconds)
            outputs.append(tree.to_json())
            for output in outputs:
                listed = {item["path"]: item["sha256"] for item in output["files"]}
                _check(listed == reference, f"{case}: a manifest and openssl")
                _check(output["manifest_digest"] == tree.digest, f"{case}: manifest digests")
            if case == "one":
                for kind, argv in verify.items():
                    checked = json.loads(child(f"one.{kind}", argv))
                    _check(checked["intact"] is True, f"{kind}: the copy is intact")
                    _check(checked["observed_manifest_digest"] == tree.digest, f"{kind}: digests")
            if case == "many" and peer is not None:
                seconds, theirs = timed(partial(peer, folder))
                keep("many.model_signing", seconds)
                _check(theirs == reference, "model-signing and openssl")

    best = {name: min(runs) for name, runs in times.items()}

    def per_run(baseline: str, name: str) -> list[float]:
        return [
            base_s / side_s for base_s, side_s in zip(times[baseline], times[name], strict=True)
        ]

    rows: list[dict[str, Any]] = []
    labels = {
        "cli": "reliquary manifest DIR --json",
        "verify_ledger": "reliquary verify-archive M DIR",
        "verify_bundle": "verify-archive --bundle B M DIR",
        "wrapper": "python -c 'hash_tree(DIR)'",
        "inprocess": "hash_tree(DIR), in process",
    }
    # The goal of the one file holds in every run (issue #16), the others on the best runs.
    goals = {
        "one.cli": (GOAL_ONE_FILE, True),
        "one.verify_ledger": (GOAL_ONE_FILE, True),
        "one.verify_bundle": (GOAL_ONE_FILE, True),
        "many.cli": (GOAL_SIXTEEN, False),
    }
    for case, title, baseline in (
        ("one", f"one {args.big_mib} MiB file", "openssl dgst -sha256 FILE"),
        (
            "many",
            f"{args.files} x {args.file_mib} MiB files",
            f"openssl dgst -sha256 F1..F{args.files}",
        ),
    ):
        for kind in ("cli", "verify_ledger", "verify_bundle", "wrapper", "inprocess"):
            name = f"{case}.{kind}"
            if name not in best:
                continue
            goal, every_run = goals.get(name, (None, False))
            rows.append(
                {
                    "case": title,
                    "figure": name,
                    "baseline": baseline,
                    "baseline_s": best[f"{case}.openssl"],
                    "reliquary": labels[kind],
                    "reliquary_s": best[name],
                    "ratio": best[f"{case}.openssl"] / best[name],
                    "runs": per_run(f"{case}.openssl", name),
                    "baseline_runs_s": times[f"{case}.openssl"],
                    "reliquary_runs_s": times[name],
                    "goal": goal,
                    "goal_in_every_run": every_run,
                    "bytes": sizes[case],
                }
            )
    if peer is not None:
        rows.append(
            {
                "case": f"{args.files} x {args.file_mib} MiB files",
                "figure": "many.model_signing",
                "baseline": f"{peer_label}, its hashing API",
                "baseline_s": best["many.model_signing"],
                "reliquary": labels["inprocess"],
                "reliquary_s": best["many.inprocess"],
                "ratio": best["many.model_signing"] / best["many.inprocess"],
                "runs": per_run("many.model_signing", "many.inprocess"),
                "baseline_runs_s": times["many.model_signing"],
                "reliquary_runs_s": times["many.inprocess"],
                "goal": GOAL_PEER,
                "goal_in_every_run": False,
                "bytes": sizes["many"],
            }
        )
    for row in rows:
        row["baseline_gbps"] = row["bytes"] / row["baseline_s"] / 1e9
        row["reliquary_gbps"] = row["bytes"] / row["reliquary_s"] / 1e9
        row["worst_ratio"] = min(row["runs"])
        judged = row["worst_ratio"] if row["goal_in_every_run"] else row["ratio"]
        row["met"] = None if row["goal"] is None else judged >= row["goal"]
    return {
        "rows": rows,
        "peak_rss_mb": {
            name: peak / 1e6 for name, peak in sorted(rss.items()) if "openssl" not in name
        },
        "goal_rss_mb": GOAL_RSS_MB,
        "startup_s": {name: best[name] for name in ("tiny.cli", "tiny.wrapper") if name in best},
        "peer": peer_label if peer is not None else None,
        "peer_skipped": None if peer is not None else peer_label,
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": sys.version.split()[0],
        "openssl": subprocess.run(
            ["openssl", "version"], capture_output=True, text=True, check=False
        ).stdout.strip(),
    }


def report(result: dict[str, Any]) -> None:
    row_runs = result["repeat"]
    print(
        f"{'case':<22} {'baseline':<34} {'s':>6} {'GB/s':>5}  "
        f"{'reliquary':<31} {'s':>6} {'GB/s':>5} {'ratio':>6}  {'every run':<{5 * row_runs}} goal"
    )
    for row in result["rows"]:
        goal = row["goal"]
        verdict = "-"
        if goal is not None:
            where = "every run" if row["goal_in_every_run"] else "best"
            verdict = f">= {goal:.2f} ({where}) {'met' if row['met'] else 'NOT met'}"
        runs = " ".join(f"{ratio:.2f}" for ratio in row["runs"])
        print(
            f"{row['case']:<22} {row['baseline']:<34} {row['baseline_s']:>6.3f} "
            f"{row['baseline_gbps']:>5.2f}  {row['reliquary']:<31} {row['reliquary_s']:>6.3f} "
            f"{row['reliquary_gbps']:>5.2f} {row['ratio']:>6.2f}  {runs:<{5 * row_runs}} {verdict}"
        )
    print()
    for name, peak in result["peak_rss_mb"].items():
        tree, kind = name.split(".")
        goal = f"(goal < {GOAL_RSS_MB:.0f} MB: {'met' if peak < GOAL_RSS_MB else 'NOT met'})"
        print(f"peak RSS, {kind:<13} on the {tree:<4} tree: {peak:6.1f} MB  {goal}")
    for name, seconds in result["startup_s"].items():
        print(f"start-up, {name.split('.')[1]:<13} on a 14-byte tree: {seconds:.3f} s")
    if result["peer_skipped"]:
        print(f"model-signing: skipped: {result['peer_skipped']}")
    print()
    load = ", ".join(f"{value:.2f}" for value in result["load_average"])
    print(
        f"ratio: baseline time over Reliquary time (higher is faster), best of {result['repeat']} "
        "interleaved runs per side; every run: the two sides' times in that run; warm: every "
        "file was read once, untimed, before timing."
    )
    print(
        f"{result['cpus']} CPUs, load average {load}; Python {result['python']}; "
        f"{result['openssl']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--file-mib", type=int, default=128)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if shutil.which("openssl") is None:
        sys.exit("openssl is not on PATH: it is the baseline")
    needed = (args.big_mib + args.files * args.file_mib) * MIB
    free = shutil.disk_usage(args.dir).free
    if free < needed * 1.1:
        sys.exit(
            f"{args.dir} has {free / 2**30:.1f} GiB free; the data set needs {needed / 2**30:.1f}"
        )
    base = Path(tempfile.mkdtemp(prefix="reliquary-bench-archive-", dir=args.dir))
    try:
        result = measure(args, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        report(result)


if __name__ == "__main__":
    main()
