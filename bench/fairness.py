"""The fairness report computed from the log's leaves, by the operator and from a bundle.

Run from the repository root::

    .venv/bin/python bench/fairness.py [--events 50000] [--backend sqlite|postgres]
        [--models 100] [--repeat 3] [--json]

It builds a ledger of N events with `bench/projections.py`'s `build` (every event valid under
the domain's rules, the same realistic mix of requests, decisions, essays and preferences), then
times, best of ``--repeat``:

1. the baseline, a plain read of the same events: pages of stored events after the last id
   seen, each decoded by the ledger's mapper (`projections.plain_read`), what any replay must
   at least do;
2. ``Queries.fairness()``: every leaf made from the store, hashed into the Merkle tree, decoded
   and replayed through the register views into a scratch SQLite database, then the figures
   (issue #17: the report is computed from the events, never from the views);
3. ``fairness_from_bundle``: the same report from an exported audit bundle, the bundle verified
   first (signature, every leaf, the root) and read again.

Ratios are against the baseline measured in the same process. Figures and their reading:
docs/performance.md, "The fairness report".
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import importlib.util  # noqa: E402

# bench/projections.py builds the ledger; it is loaded by path, as the package `projections`
# already has that name.
_spec = importlib.util.spec_from_file_location("bench_projections", ROOT / "bench/projections.py")
assert _spec is not None
assert _spec.loader is not None
_built = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_built)
_ledger_for, build, plain_read = _built._ledger_for, _built.build, _built.plain_read

from api.bootstrap import build_services  # noqa: E402
from projections.fairness import report_json  # noqa: E402
from projections.queries import fairness_from_bundle  # noqa: E402
from projections.translog.keys import create_signing_key  # noqa: E402

ORIGIN = "bench.example/fairness"


def _say(message: str) -> None:
    if sys.stderr.isatty():
        print(message, file=sys.stderr)  # noqa: T201


def best_of(repeat: int, run: Any) -> tuple[float, Any]:
    """The fastest of ``repeat`` runs (seconds) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        began = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - began)
    return best, result


def measure(events: int, backend: str, models: int, repeat: int) -> dict[str, Any]:
    """Build the ledger, time the three reads, check the two reports agree."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ledger, settings, cleanup = _ledger_for(backend, workdir)
        try:
            _say(f"building {events:,} events on {backend}")
            build(ledger, events, models)
            ledger.close()
            key = workdir / "signing.key"
            create_signing_key(key, ORIGIN)
            services = build_services(
                settings.model_copy(update={"signing_key": key, "log_origin": ORIGIN})
            )
            try:
                base, count = best_of(repeat, lambda: plain_read(services.ledger, 1000))
                _say(f"baseline read: {base:.2f} s")
                operator, report = best_of(repeat, services.queries.fairness)
                _say(f"operator's report: {operator:.2f} s")
                services.log.sign_checkpoint()
                bundle = workdir / "bundle"
                services.log.export(bundle)
                pinned = (bundle / "verifier-key").read_text().strip()
                position = report.position

                def offline() -> Any:
                    return fairness_from_bundle(
                        bundle, pinned, as_of=position.moment, size=position.checkpoint_size
                    )

                reviewer, again = best_of(repeat, offline)
                _say(f"reviewer's report: {reviewer:.2f} s")
                same = json.dumps(report_json(again)) == json.dumps(report_json(report))
            finally:
                services.close()
        finally:
            if cleanup is not None:
                cleanup()
    return {
        "events": count,
        "backend": backend,
        "baseline_s": base,
        "operator_s": operator,
        "reviewer_s": reviewer,
        "identical": same,
        "figures": [
            {
                "figure": f"report from the log, {count:,} events ({backend})",
                "value": round(count / operator),
                "unit": "events/s",
                "floor": round(count / base),
                "floor_label": "plain read + decode",
                "ratio": round(base / operator, 3),
            },
            {
                "figure": f"report from a bundle, verified ({backend})",
                "value": round(count / reviewer),
                "unit": "events/s",
                "floor": round(count / base),
                "floor_label": "plain read + decode",
                "ratio": round(base / reviewer, 3),
                "note": "byte-identical JSON" if same else "JSON DIFFERS",
            },
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = measure(args.events, args.backend, args.models, args.repeat)
    if args.json:
        print(json.dumps(results, indent=2))  # noqa: T201
        return
    print(  # noqa: T201
        f"{results['events']:,} events on {results['backend']}: baseline (read + decode) "
        f"{results['baseline_s']:.2f} s; operator's report {results['operator_s']:.2f} s "
        f"(ratio {results['baseline_s'] / results['operator_s']:.2f}); reviewer's report from "
        f"a verified bundle {results['reviewer_s']:.2f} s "
        f"(ratio {results['baseline_s'] / results['reviewer_s']:.2f}); "
        f"identical JSON: {results['identical']}"
    )


if __name__ == "__main__":
    main()
