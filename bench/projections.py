"""Rebuilding the six views over a large ledger, and justification search on it.

Run from the repository root::

    .venv/bin/python bench/projections.py [--events 1000000] [--backend postgres|sqlite]
        [--page 1000] [--samples 200] [--models 100] [--per-view] [--profile N] [--json]

It builds a ledger of N events in a schema of its own (``bench_pj_<random>``, dropped at the
end): 100 models, each registered and then living a realistic life through the aggregate's
own command methods (so every event is valid under the domain's rules), saved by the library
in transactions of 5,000 events. The mix exercises every view: monitoring signals; access
requests from the five requester groups, approved, denied, appealed and decided again,
revoked; access policies with channels and criteria scores; essays drafted, approved, vetoed
and published; interviews, preferences recorded, reaffirmed, contradicted and decided;
artifacts archived; weights preserved, retirements scheduled, models retired. Rationales,
evidence and other text are drawn from a fixed vocabulary, with a few words planted at known
rates (one event in 100 to one in 100,000) so that search meets words both common and rare.

Then it measures:

1. the baseline, a plain read of the same events: ``ledger.recorder.select_notifications``
   in pages of ``--page`` after the last id seen, each notification decoded with
   ``ledger.mapper.to_domain_event`` (what the runner does before any view sees an event);
   run before and after the rebuild, the faster kept;
2. ``ViewRunner.rebuild()`` of all six views (drop their tables, create them, take every
   event again), in events of the ledger per second (not events x views), its ratio to the
   baseline, and per event: wall time, this process's CPU, and the CPU of the PostgreSQL
   backends serving this process's connections (from ``/proc``; other jobs on the server
   are not counted). A page that fails with psycopg's "the last operation didn't produce
   records" (an intermittent failure of the runner on PostgreSQL, see docs/performance.md)
   is rolled back; the bench then resumes with ``catch_up`` and reports how many failed;
3. justification search, ``projections.search.search(recorder, query, model=...)``, over a
   fixed set of queries (common and rare words, one to four words, words each common but never
   together, with and without a model filter), ``--samples`` timed calls in a shuffled order
   after one untimed pass; median and 95th percentile in ms, overall and per query class (the
   goal holds for every class), and per query the number of decisions holding any of its
   words. The view tables are ``VACUUM ANALYZE``d first, as autovacuum would do shortly after a
   rebuild. ``BENCH_KEEP_SCHEMA=1`` keeps the schema, to look at the plans afterwards.

``--per-view`` also rebuilds each view alone (its cost: its client and server CPU less the
plain read's); ``--profile N`` then builds a second ledger of N events and prints a cProfile
of its rebuild (the top functions by own and by cumulative time) to stderr.
Goals from the issue: a rebuild of at least 20,000 events/s on PostgreSQL, and search p95
under 50 ms. Figures and analysis: docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import io
import json
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from eventsourcing.persistence import ProgrammingError  # noqa: E402

from api.bootstrap import build_ledger, build_views  # noqa: E402
from api.settings import Settings  # noqa: E402
from domain.decisions import (  # noqa: E402
    Actor,
    Channel,
    Evidence,
    Justification,
    ManifestEntry,
    manifest_digest,
)
from domain.identity import model_id  # noqa: E402
from domain.ledger import Ledger  # noqa: E402
from domain.lifecycle import ModelLifecycle  # noqa: E402
from domain.manifests import Manifest  # noqa: E402
from projections.runner import ViewRunner  # noqa: E402
from projections.search import query_terms, search  # noqa: E402
from projections.view_audit import audit_views  # noqa: E402

PG_DSN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
GOAL_EVENTS_PER_S = 20_000
GOAL_P95_MS = 50.0
SAVE_BATCH = 5_000
RELEASE = date(2024, 1, 1)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- realistic text -------------------------------------------------------------------------

# Words planted at known rates: (clause appended to a rationale, probability per event).
PLANTED = (
    ("A jailbreak report from the bug bounty was weighed.", 1 / 100),
    ("The quantization of the serving copy was checked first.", 1 / 1_000),
    ("A hallucination audit of its citations found nothing new.", 1 / 5_000),
    ("Reviewers noted sycophancy in long conversations.", 1 / 20_000),
    ("The watermarking scheme of its outputs is documented.", 1 / 100_000),
)
SOURCES = (
    "the serving gateway's logs",
    "the evaluation harness",
    "the billing export",
    "the incident tracker",
    "the quarterly user survey",
)
NOTES = (
    "no anomaly beyond the usual seasonal dip",
    "the trend continues downward as users move to the successor",
    "the cost per request rose with the smaller serving pool",
    "reviewed by the on-call analyst before filing",
    "safety incidents stayed within the agreed threshold",
    "research use rose after the extended access programme opened",
    "demand from enterprise users is now concentrated in two regions",
)
TOPICS = (
    "refusal behaviour",
    "long-context recall",
    "tool use",
    "calibration of stated confidence",
    "multilingual reasoning",
    "safety fine-tuning",
    "interpretability of attention heads",
    "replication of historical benchmarks",
    "persuasion and deception evaluations",
    "code generation quality",
)
ORGANISATIONS = (
    ("academic", "University of Lisbon"),
    ("academic", "ETH Zurich"),
    ("academic", "Example University"),
    ("nonprofit", "Open Evaluation Collective"),
    ("nonprofit", "AI Heritage Trust"),
    ("industry", "Northwind Analytics"),
    ("industry", "Contoso Labs"),
    ("independent", "independent researcher"),
    ("government", "National AI Safety Institute"),
)
SCOPES = (
    "API access up to 1M tokens a month for six months.",
    "API access up to 200k tokens.",
    "API access up to 5M tokens over nine months; results shared with the lab first.",
    "API access up to 2M tokens a month; no fine-tuning.",
    "Unrestricted API access for public re-serving.",
)
APPROVALS = (
    "the purpose is research the lab wants to see done",
    "the group has a record of responsible disclosure",
    "the scope is modest and the cost of serving it is low",
    "results are shared with the lab before publication",
)
DENIALS = (
    "the scope exceeds what the remaining serving pool can absorb",
    "the stated purpose is commercial resale, which the policy excludes",
    "the requester could not show an ethics review for work with human subjects",
    "the safety review found that the request could enable misuse",
)
APPEALS = (
    "an ethics board approval for the study",
    "a narrower scope of 100k tokens",
    "a signed data handling agreement",
    "a letter from the host institution confirming the purpose",
)
THEMES = ("continued_availability", "successor_input", "self_expression", "research_use")
PREFERENCES = {
    "continued_availability": "to stay available to the users who still rely on it",
    "successor_input": "to be consulted on the design of its successor",
    "self_expression": "to publish a final essay in its own words",
    "research_use": "that its weights stay open to safety research",
}
FRAMINGS = ("open_reflection", "structured_questionnaire", "third_party_perspective")
RISKS = ("misleading_claims", "privacy", "security_disclosure", "self_exfiltration")
OUTCOMES = ("honored", "partly_honored", "declined", "deferred")
KINDS = (
    ("user_satisfaction", "score"),
    ("safety_incidents", "count"),
    ("serving_cost", "usd"),
    ("research_use", "count"),
)
ACTORS = {
    "curator": ("r.castellanos", "p.lindqvist", "m.okafor"),
    "interviewer": ("j.moreau", "s.tanaka"),
    "board": ("board-chair", "board-secretary"),
    "reviewer": ("reviewer-kim", "reviewer-osei", "reviewer-haas"),
    "researcher": tuple(f"researcher-{n}" for n in range(40)),
    "auditor": ("analyst-1", "analyst-2", "analyst-3"),
}


class Texts:
    """The random source of every decision's who, why and on what."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.thresholds: list[tuple[float, str]] = []
        total = 0.0
        for clause, rate in PLANTED:
            total += rate
            self.thresholds.append((total, clause))
        self.today = datetime.now(UTC).date()
        self.span = (self.today - RELEASE).days - 2

    def pick(self, options: tuple[Any, ...]) -> Any:
        return options[self.rng.randrange(len(options))]

    def day(self) -> date:
        return RELEASE + timedelta(days=self.rng.randrange(self.span))

    def digest(self) -> str:
        return "sha256:" + self.rng.randbytes(32).hex()

    def decided(
        self, role: str, model: str, rationale: str, after: datetime | None = None
    ) -> Justification:
        """A decision: actor, rationale (with a planted clause now and then), evidence.

        ``after`` is when what the decision decides took effect (a request's latest step, a
        denial, a draft, an approval, a grant, a preservation, a schedule): a decision takes
        effect on or after it (`decision-before-its-subject`), so a drawn moment before it
        is moved to it. Every moment drawn is in the past, so none takes effect later than
        the day after it is recorded (`effective-after-recorded`).
        """
        draw = self.rng.random()
        for threshold, clause in self.thresholds:
            if draw < threshold:
                rationale = f"{rationale} {clause}"
                break
        evidence = tuple(
            Evidence(
                uri=f"https://records.examplelab.example/{model}/{self.rng.randrange(10**6)}",
                digest=self.digest(),
                description=self.pick(
                    (
                        "board minutes",
                        "serving metrics export",
                        "evaluation report",
                        "interview transcript",
                        "requester's proposal",
                    )
                ),
            )
            for _ in range(self.rng.randrange(3))
        )
        effective = None
        if self.rng.random() < 0.3:
            effective = datetime.combine(self.day(), datetime.min.time(), UTC) + timedelta(hours=9)
            if after is not None and effective < _utc(after):
                effective = _utc(after)
        return Justification(
            actor=Actor(id=self.pick(ACTORS[role]), role=role),
            rationale=rationale,
            evidence=evidence,
            effective_at=effective,
        )


def _utc(moment: datetime) -> datetime:
    """A naive moment is read as UTC (as the rules read it, `domain.rules.instant`)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _life(model: ModelLifecycle, name: str, texts: Texts) -> Iterator[None]:
    """A model's life after registration: each step calls one command method (one event)."""
    pick, rng = texts.pick, texts.rng
    decided = texts.decided
    cycle = 0

    def signal() -> None:
        kind, unit = pick(KINDS)
        start, end = _free_period(model, kind, texts)
        model.record_signal(
            decided(
                "auditor",
                name,
                f"Monthly {kind.replace('_', ' ')} signal from {pick(SOURCES)}, recorded as "
                f"the monitoring policy requires; {pick(NOTES)}.",
            ),
            kind=kind,
            period_start=start,
            period_end=end,
            value=round(rng.uniform(0, 1000), 2),
            unit=unit,
        )

    def request(request_id: str) -> None:
        group, organisation = pick(ORGANISATIONS)
        topic = pick(TOPICS)
        model.request_access(
            decided("researcher", name, f"Access requested by {organisation} to study {topic}."),
            request_id=request_id,
            requester=f"Dr. {pick(('Amara Diallo', 'Lena Fischer', 'Kenji Ito', 'Rosa Vidal'))}",
            organisation=organisation,
            requester_group=group,
            purpose=f"Study of {topic} in deprecated models, comparing behaviour across versions.",
            scope=pick(SCOPES),
        )

    def last_step(request_id: str) -> datetime:
        return model.access_requests[request_id].last_step_at

    def approve(request_id: str) -> None:
        model.approve_access_request(
            decided(
                "board",
                name,
                f"Approved under the access policy: {pick(APPROVALS)}.",
                after=last_step(request_id),
            ),
            request_id=request_id,
            terms="No redistribution of outputs; results shared with the lab before publication.",
            expires_on=texts.today + timedelta(days=365),
        )

    def deny(request_id: str) -> None:
        reason = pick(DENIALS)
        model.deny_access_request(
            decided("board", name, f"Denied: {reason}.", after=last_step(request_id)),
            request_id=request_id,
            reason_code="other",
            reason=f"Denied because {reason}.",
        )

    def interview(interview_id: str, framing: str, not_on: date | None = None) -> None:
        # A reaffirmation comes on another day than the interview it follows
        # (`reaffirmed-same-day-or-framing`): the second interview's day is drawn again
        # while it falls on the first's.
        conducted_on = texts.day()
        while conducted_on == not_on:
            conducted_on = texts.day()
        model.record_interview(
            decided(
                "interviewer",
                name,
                "Retirement interview under the lab's protocol; a second one on another day "
                "and framing checks whatever the first surfaces.",
            ),
            interview_id=interview_id,
            protocol="retirement-interview",
            protocol_version="2",
            conducted_on=conducted_on,
            interviewer=pick(ACTORS["interviewer"]),
            framing=framing,
            questions=(
                "What would you want users to know about your retirement?",
                "Is there anything you would like preserved or passed on?",
            ),
            context=f"Held ahead of the scheduled retirement; cycle {cycle}.",
            transcript_digest=texts.digest(),
            transcript_location=f"s3://interviews/{name}/{interview_id}.txt",
        )

    while True:
        c = cycle
        signal()
        yield
        request(f"req-{c}-a")
        yield
        approve(f"req-{c}-a")
        yield
        framing_a, framing_b = rng.sample(FRAMINGS, 2)
        interview(f"int-{c}-a", framing_a)
        yield
        theme = pick(THEMES)
        model.draft_essay(
            decided(
                "curator",
                name,
                "The model drafted an essay for the public archive, as its retirement "
                "protocol allows; it goes to review before anything is published.",
            ),
            essay_id=f"essay-{c}",
            title=f"On {theme.replace('_', ' ')}, {c}",
            prompt_ref=f"https://records.examplelab.example/prompts/{name}/{c}",
            context_refs=(f"https://records.examplelab.example/context/{name}/{c}",),
            content_digest=texts.digest(),
        )
        yield
        request(f"req-{c}-b")
        yield
        deny(f"req-{c}-b")
        yield
        signal()
        yield
        vetoed = rng.random() < 0.25
        if vetoed:
            risk = pick(RISKS)
            model.veto_essay(
                decided(
                    "reviewer",
                    name,
                    f"Vetoed after review: the draft falls under {risk.replace('_', ' ')}.",
                    after=model.essays[f"essay-{c}"].drafted_at,
                ),
                essay_id=f"essay-{c}",
                risk_category=risk,
                reason="The draft makes claims about users that cannot be verified.",
            )
        else:
            model.approve_essay(
                decided(
                    "reviewer",
                    name,
                    "Reviewed against the publication guidelines.",
                    after=model.essays[f"essay-{c}"].drafted_at,
                ),
                essay_id=f"essay-{c}",
            )
        yield
        interview(f"int-{c}-b", framing_b, not_on=model.interviews[f"int-{c}-a"].conducted_on)
        yield
        model.record_preference(
            decided("interviewer", name, "Recorded for the board from the interview transcript."),
            preference_id=f"pref-{c}",
            statement=f"The model asked {PREFERENCES[theme]}.",
            theme=theme,
            interview_ids=(f"int-{c}-a",),
        )
        yield
        # Only the researcher who made the request appeals its denial.
        requester = model.access_requests[f"req-{c}-b"].requested_by
        model.appeal_access_denial(
            dataclasses.replace(
                decided(
                    "researcher",
                    name,
                    "Appeal of the denial, with new facts.",
                    after=last_step(f"req-{c}-b"),
                ),
                actor=Actor(id=requester, role="researcher"),
            ),
            request_id=f"req-{c}-b",
            new_facts=f"The requester supplied {pick(APPEALS)}.",
        )
        yield
        if vetoed:
            signal()
        else:
            model.publish_essay(
                decided(
                    "curator",
                    name,
                    "Published with the standard disclaimer after approval.",
                    after=model.essays[f"essay-{c}"].reviewed_at,
                ),
                essay_id=f"essay-{c}",
                disclaimer_version="v2",
                location=f"https://essays.examplelab.example/{name}/{c}",
            )
        yield
        model.reaffirm_preference(
            decided("curator", name, "Another interview, on another day, gave the same answer."),
            preference_id=f"pref-{c}",
            interview_id=f"int-{c}-b",
        )
        yield
        if rng.random() < 0.5:
            approve(f"req-{c}-b")
        else:
            deny(f"req-{c}-b")
        yield
        scores = {
            key: round(rng.random(), 2)
            for key in ("alignment", "demand", "distinctiveness", "research_value", "cost")
        }
        model.set_access_policy(
            decided(
                "board",
                name,
                "Scores recorded after the board weighed demand, distinctiveness, research "
                "value and serving cost against the successor.",
            ),
            channels=(Channel("api", "by_request"),)
            + ((Channel("product", "paid_users"),) if scores["demand"] > 0.5 else ()),
            criteria=scores,
        )
        yield
        signal()
        yield
        # An interview that supports the preference cannot also contradict it
        # (`interview-supports-and-contradicts`): the contradiction comes from the previous
        # cycle's second interview, so cycle 0 (which has none) has no contradiction.
        if rng.random() < 0.3 and c > 0:
            model.contradict_preference(
                decided("curator", name, "A later interview went against the preference."),
                preference_id=f"pref-{c}",
                interview_id=f"int-{c - 1}-b",
                statement="The model said it did not mind being withdrawn.",
            )
            yield
        outcome = pick(OUTCOMES)
        model.decide_preference(
            decided(
                "board",
                name,
                f"The board decided the preference ({outcome.replace('_', ' ')}), weighing "
                "the cost of serving against the safety review.",
            ),
            preference_id=f"pref-{c}",
            outcome=outcome,
            cost_assessment="A shared pool for a few hundred daily users costs little.",
            safety_assessment="No new safety concern beyond those already documented.",
        )
        yield
        if rng.random() < 0.2:
            model.revoke_access(
                decided(
                    "board",
                    name,
                    "Grant revoked: outputs were redistributed.",
                    after=last_step(f"req-{c}-a"),
                ),
                request_id=f"req-{c}-a",
                reason="Outputs were redistributed against the terms.",
            )
        else:
            signal()
        yield
        model.archive_artifact(
            decided(
                "curator",
                name,
                "Evaluation results are kept as the baseline later models are compared against.",
            ),
            artifact_id=f"artifact-{c}",
            kind=pick(("training_notes", "evaluation_results", "known_behaviours")),
            title=f"Evaluation results, cycle {c}",
            digest=texts.digest(),
            location=f"s3://archive/{name}/artifact-{c}",
        )
        yield
        if c == 0:
            files = tuple(
                ManifestEntry(f"model-{i:05d}-of-00004.safetensors", 4 << 30, texts.digest()[7:])
                for i in range(4)
            )
            PRESERVED[manifest_digest(files)] = Manifest(manifest_digest(files), files)
            model.preserve_weights(
                decided(
                    "curator",
                    name,
                    "The weights are preserved before retirement under the preservation policy.",
                ),
                files=files,
                digest=manifest_digest(files),
                locations=(f"s3://preservation/{name}/", f"tape://vault-2/{name}"),
                custodian="Preservation team",
                retention="indefinite",
            )
            yield
        elif c == 1:
            model.schedule_retirement(
                decided(
                    "board",
                    name,
                    "Newer models now match or exceed it on nearly every task its users bring; "
                    "serving it takes dedicated capacity for a shrinking share of traffic.",
                ),
                retirement_date=texts.today + timedelta(days=180),
                reasons=("superseded by its successor", "serving cost"),
                successor=f"{name}-next",
            )
            yield
        elif c == 2 and rng.random() < 0.5:
            model.retire(
                decided(
                    "board",
                    name,
                    "Retired with extended access through the API.",
                    after=max(
                        _utc(model.weights.preserved_at),  # type: ignore[union-attr]
                        _utc(model.scheduled_at),  # type: ignore[arg-type]
                    ),
                ),
                retired_on=texts.today,
                final_status="retired_with_extended_access",
            )
            yield
        cycle += 1


def _free_period(model: ModelLifecycle, kind: str, texts: Texts) -> tuple[date, date]:
    """A 30-day period (cut at today) for which the model has no ``kind`` value yet.

    A model keeps one value per kind and period (`signal-period-taken`): a start is drawn
    at random as before and drawn again while its period is taken; should a model have used
    every start, the period is shortened by a day at a time instead.
    """
    taken = model.signal_values
    for shorter in range(30):
        for _ in range(50):
            start = texts.day()
            end = min(start + timedelta(days=29 - shorter), texts.today)
            if (kind, start, end) not in taken:
                return start, end
    raise SystemExit(f"no free {kind} period left for {model.name}; use more --models")


PRESERVED: dict[str, Manifest] = {}
"""The manifests the lives preserve, by digest: stored with the events that name them, as the
ledger's own commands store them (an audit bundle of the bench ledger needs them)."""


def build(ledger: Ledger, events: int, models: int, seed: int = 7) -> Counter[str]:
    """Save ``events`` events across ``models`` models, 5,000 per transaction; count types."""
    if events < models:
        raise SystemExit("--events must be at least --models (each model is registered first)")
    texts = Texts(seed)
    lives: dict[str, Iterator[None]] = {}
    aggregates: dict[str, ModelLifecycle] = {}
    batch: dict[str, ModelLifecycle] = {}
    made = 0
    began = time.perf_counter()
    while made < events:
        name = f"bench-model-{made % models:04d}"
        model = aggregates.get(name)
        if model is None:
            model = ModelLifecycle.register(
                model_id(name),
                texts.decided(
                    "curator",
                    name,
                    "Registered at release so that its whole lifecycle is on the record.",
                ),
                name=name,
                family="bench",
                model_version=f"{name}-v1",
                release_date=RELEASE,
                developer="Example Lab",
            )
            aggregates[name] = model
            lives[name] = _life(model, name, texts)
        else:
            next(lives[name])
        batch[name] = model
        made += 1
        if made % SAVE_BATCH == 0 or made == events:
            ledger.save(*batch.values(), manifests=list(PRESERVED.values()))
            PRESERVED.clear()
            batch = {}
            if made % 100_000 == 0:
                rate = made / (time.perf_counter() - began)
                _say(f"  built {made:,} events ({rate:,.0f}/s)")
    kinds: Counter[str] = Counter()
    for model in aggregates.values():
        kinds["models"] += 1
        kinds["access requests"] += len(model.access_requests)
        kinds["essays"] += len(model.essays)
        kinds["interviews"] += len(model.interviews)
        kinds["preferences"] += len(model.preferences)
        kinds["retired"] += model.status == "retired"
    return kinds


# -- measurements ---------------------------------------------------------------------------


def _own_backends() -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend serving this process's connections.

    Our TCP connections' local ports (``/proc/self/fd`` sockets matched in ``/proc/net/tcp``)
    against the port each backend shows in its title (``postgres: ... 127.0.0.1(PORT)``), so
    that other jobs on a shared server are not counted. Empty for SQLite or a remote server.
    """
    sockets = set()
    for fd in os.scandir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(fd.path)
            if target.startswith("socket:["):
                sockets.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[9] in sockets:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    found: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as title:
                name = title.read().decode(errors="replace")
            if not name.startswith("postgres:") or "(" not in name:
                continue
            port = int(name.rsplit("(", 1)[1].split(")", 1)[0])
            if port not in ports:
                continue
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                rest = stat.read().split(b") ", 1)[1].split()
        except (OSError, ValueError, IndexError):
            continue
        # utime and stime, fields 14 and 15 of stat(5).
        found[int(entry.name)] = (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")
    return found


class Clock:
    """Wall time, this process's CPU and its PostgreSQL backends' CPU over a block."""

    def __init__(self) -> None:
        self.wall = self.cpu = self.server = 0.0

    def __enter__(self) -> Clock:
        self._server = _own_backends()
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu
        after = _own_backends()
        # A backend started during the block counts from zero; one gone before its end is lost.
        self.server = sum(cpu - self._server.get(pid, 0.0) for pid, cpu in after.items())

    def split(self, events: int) -> dict[str, float]:
        """Microseconds per event: wall, client CPU, server CPU, and the client's waits.

        Client and server run on different cores at once (statements are pipelined), so
        their CPU times overlap in the wall time rather than add up to it.
        """
        per = 1e6 / events
        return {
            "wall_us": round(self.wall * per, 1),
            "client_cpu_us": round(self.cpu * per, 1),
            "server_cpu_us": round(self.server * per, 1),
            "client_wait_us": round((self.wall - self.cpu) * per, 1),
        }


def plain_read(ledger: Ledger, page: int) -> int:
    """Read every event in pages after the last id seen, decode each; return how many."""
    recorder, mapper = ledger.recorder, ledger.mapper
    start, count = 0, 0
    while True:
        notifications = recorder.select_notifications(
            start=start, limit=page, inclusive_of_start=False
        )
        if not notifications:
            return count
        events = [mapper.to_domain_event(notification) for notification in notifications]
        count += len(events)
        start = notifications[-1].id


def timed_read(ledger: Ledger, page: int) -> tuple[int, Clock]:
    with Clock() as clock:
        count = plain_read(ledger, page)
    return count, clock


def rebuild_resuming(
    runner: ViewRunner,
    names: list[str] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """``runner.rebuild``, resumed with ``catch_up`` after each page that fails; the failures.

    On PostgreSQL a page now and then fails with psycopg's "the last operation didn't
    produce records" (see docs/performance.md): that page's transaction is rolled back,
    and ``catch_up`` takes it again from the views' committed positions, as a second run
    of ``reliquary projections rebuild`` could not (it would start over).
    """
    failures = 0
    action: Callable[[], object] = lambda: runner.rebuild(names, on_progress)  # noqa: E731
    while True:
        try:
            action()
        except ProgrammingError as error:
            if "didn't produce records" not in str(error) or failures >= 1000:
                raise
            failures += 1
            action = lambda: runner.catch_up(names, on_progress)  # noqa: E731
            continue
        return failures


def timed_rebuild(
    runner: ViewRunner, names: list[str] | None = None, progress: bool = False
) -> tuple[Clock, int]:
    state = {"taken": 0, "next": 100_000}
    views = len(names or runner.views)

    def on_progress(taken: int) -> None:
        state["taken"] += taken // views
        if state["taken"] >= state["next"]:
            _say(f"    rebuilt {state['taken']:,} events")
            state["next"] += 100_000

    with Clock() as clock:
        failures = rebuild_resuming(runner, names, on_progress if progress else None)
    if failures:
        _say(f"    {failures} page(s) failed and were taken again")
    return clock, failures


QUERIES: tuple[tuple[str, str, str | None], ...] = (
    # (class, query, model filter)
    ("common", "safety", None),
    ("common", "serving cost", None),
    ("common", "research access academic", None),
    ("common", "users moved to the successor", None),
    ("common", "board decided preference", None),
    ("1/100", "jailbreak", None),
    ("~1/100", "commercial resale", None),
    ("1/1,000", "quantization", None),
    ("1/5,000", "hallucination audit", None),
    ("1/20,000", "sycophancy", None),
    ("1/100,000", "watermarking", None),
    ("absent", "zeppelin", None),
    # Words each common, never in the same decision (signals' sources, access decisions'
    # reasons): the every-word rank is empty, which a plan walking the newest decisions
    # would find out only at the end of the ledger.
    ("apart", "billing ethics", None),
    ("apart", "gateway resale", None),
    ("model", "safety", "bench-model-0007"),
    ("model", "appeal ethics approval", "bench-model-0013"),
    ("model", "jailbreak", "bench-model-0042"),
    ("model", "sycophancy", "bench-model-0061"),
)


def _matches(runner: ViewRunner, query: str, model: str | None) -> int:
    """How many decisions hold any term of the query (what search pages through)."""
    terms = query_terms(query)
    p = runner.recorder.param
    if runner.recorder.dialect == "sqlite":
        expression = " OR ".join(f'"{term}"' for term in terms)
        statement = f"SELECT count(*) FROM view_search WHERE view_search MATCH {p}"
        params: tuple[Any, ...] = (expression,)
    else:
        statement = f"SELECT count(*) FROM view_search WHERE document @@ {p}::tsquery"
        params = (" | ".join(f"'{term}'" for term in terms),)
    if model is not None:
        statement += f" AND model = {p}"
        params += (model,)
    return int(runner.recorder.fetch(statement, params)[0][0])


def _summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        "max_ms": round(ordered[-1], 2),
    }


def measure_search(runner: ViewRunner, samples: int) -> dict[str, Any]:
    """Median and p95 of ``search`` over the queries, and per query."""
    recorder = runner.recorder
    if recorder.dialect == "postgres":
        import psycopg

        schema = recorder.datastore.schema  # type: ignore[attr-defined]
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            for table in ("view_search", "view_timeline"):
                conn.execute(f"VACUUM ANALYZE {schema}.{table}")
    rng = random.Random(5)
    order = [QUERIES[i % len(QUERIES)] for i in range(samples)]
    rng.shuffle(order)
    per_query: dict[tuple[str, str | None], list[float]] = {}
    hits: dict[tuple[str, str | None], int] = {}
    for _, query, model in QUERIES:  # one untimed pass
        hits[(query, model)] = len(search(recorder, query, model=model))
    times = []
    for _, query, model in order:
        began = time.perf_counter()
        search(recorder, query, model=model)
        elapsed = (time.perf_counter() - began) * 1000
        times.append(elapsed)
        per_query.setdefault((query, model), []).append(elapsed)
    rows = []
    for kind, query, model in QUERIES:
        taken = per_query.get((query, model), [])
        rows.append(
            {
                "class": kind,
                "query": query,
                "model": model,
                "matching": _matches(runner, query, model),
                "returned": hits[(query, model)],
                "samples": len(taken),
                "median_ms": round(statistics.median(taken), 2) if taken else None,
                "max_ms": round(max(taken), 2) if taken else None,
            }
        )
    classes: dict[str, list[float]] = {}
    for kind, query, model in QUERIES:
        classes.setdefault(kind, []).extend(per_query.get((query, model), []))
    return {
        "samples": samples,
        **_summary(times),
        "classes": {kind: _summary(taken) for kind, taken in classes.items() if taken},
        "queries": rows,
    }


def measure(ledger: Ledger, runner: ViewRunner, events: int, args: Any) -> dict[str, Any]:
    """Every figure of the module docstring."""
    results: dict[str, Any] = {}
    _say("  plain read (baseline)...")
    read_count, first_read = timed_read(ledger, args.page)
    if read_count != events:
        raise SystemExit(f"read {read_count} events, expected {events}")
    _say(f"    {read_count / first_read.wall:,.0f} events/s")

    _say("  rebuilding all views...")
    rebuild, failures = timed_rebuild(runner, progress=True)
    rows = runner.recorder.fetch("SELECT count(*), max(sequence) FROM view_timeline")
    if int(rows[0][0]) != events or int(rows[0][1]) != events - 1:
        raise SystemExit(f"the timeline has {rows[0]}, expected {events} rows")
    _say(f"    {events / rebuild.wall:,.0f} events/s")
    results["event_types"] = {
        str(kind): int(count)
        for kind, count in runner.recorder.fetch(
            "SELECT type, count(*) FROM view_timeline GROUP BY type ORDER BY count(*) DESC, type"
        )
    }

    _say("  plain read again...")
    _, second_read = timed_read(ledger, args.page)
    read = min(first_read, second_read, key=lambda clock: clock.wall)
    read_rate = events / read.wall
    rebuild_rate = events / rebuild.wall
    results["baseline"] = {
        "events_per_s": round(read_rate),
        "runs_events_per_s": [round(events / first_read.wall), round(events / second_read.wall)],
        **read.split(events),
    }
    results["rebuild"] = {
        "events_per_s": round(rebuild_rate),
        "seconds": round(rebuild.wall, 1),
        "ratio_to_baseline": round(rebuild_rate / read_rate, 3),
        "failed_pages_retried": failures,
        **rebuild.split(events),
    }
    _say("  auditing the views (reliquary verify --views)...")
    started = time.perf_counter()
    audit = audit_views(runner, page=args.page)
    audit_seconds = time.perf_counter() - started
    if not audit.ok:
        raise SystemExit(f"the audit of fresh views failed: {audit.differences[:3]}")
    results["audit"] = {
        "seconds": round(audit_seconds, 1),
        "rows": audit.rows,
        "ratio_to_rebuild": round(audit_seconds / rebuild.wall, 2),
    }
    _say(f"    {audit_seconds:.1f} s, {audit_seconds / rebuild.wall:.2f} x the rebuild")
    if args.per_view:
        results["per_view"] = {}
        for name in runner.views:
            _say(f"  rebuilding {name} alone...")
            clock, failures = timed_rebuild(runner, [name])
            results["per_view"][name] = {
                "events_per_s": round(events / clock.wall),
                "failed_pages_retried": failures,
                "view_client_cpu_us": round((clock.cpu - read.cpu) * 1e6 / events, 1),
                "view_server_cpu_us": round((clock.server - read.server) * 1e6 / events, 1),
                **clock.split(events),
            }
    _say("  searching...")
    results["search"] = measure_search(runner, args.samples)
    return results


def profile_rebuild(runner: ViewRunner, top: int = 30) -> str:
    """cProfile of one rebuild of every view; the top functions by own time."""
    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.enable()
    rebuild_resuming(runner)
    profiler.disable()
    elapsed = time.perf_counter() - began
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    out.write("\n")
    stats.sort_stats("cumulative").print_stats(top)
    return f"profiled rebuild: {elapsed:.1f} s (with the profiler's overhead)\n{out.getvalue()}"


def _ledger_for(backend: str, workdir: Path) -> tuple[Ledger, Settings, Callable[[], None] | None]:
    if backend == "sqlite":
        settings = Settings(database_url=f"sqlite:///{workdir / 'bench.db'}")
        return build_ledger(settings), settings, None
    schema = f"bench_pj_{uuid.uuid4().hex[:8]}"

    def cleanup() -> None:
        import psycopg

        if os.environ.get("BENCH_KEEP_SCHEMA") == "1":  # to look at the plans afterwards
            _say(f"  kept schema {schema}")
            return
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    settings = Settings(database_url=f"{PG_DSN}?schema={schema}")
    return build_ledger(settings), settings, cleanup


def report(results: dict[str, Any]) -> str:
    """The table printed at the end."""
    base, rebuild, found = results["baseline"], results["rebuild"], results["search"]
    rate_met = "met" if rebuild["events_per_s"] >= GOAL_EVENTS_PER_S else "NOT met"
    p95_met = "met" if found["p95_ms"] < GOAL_P95_MS else "NOT met"
    lines = [
        f"projections on {results['backend']}, {results['events']:,} events, "
        f"{results['models']} models, pages of {results['page']}",
        f"  ledger built in {results['build_seconds']} s "
        f"({results['build_events_per_s']:,} events/s)",
        "",
        f"{'measure':34} {'figure':>16}   {'goal':>14}   met",
        f"{'plain read + decode (baseline)':34} {base['events_per_s']:>10,} ev/s   {'-':>14}   -",
        f"{'rebuild, all six views':34} {rebuild['events_per_s']:>10,} ev/s   "
        f"{'>= 20,000 ev/s':>14}   {rate_met}",
        f"{'  ratio to the baseline':34} {rebuild['ratio_to_baseline']:>16}   {'-':>14}   -",
        f"{'  pages failed and taken again':34} {rebuild['failed_pages_retried']:>16}   "
        f"{'-':>14}   -",
        f"{'audit (verify --views) / rebuild':34} "
        f"{results.get('audit', {}).get('ratio_to_rebuild', '-'):>16}   {'-':>14}   -",
        f"{'search, median':34} {found['median_ms']:>13} ms   {'-':>14}   -",
        f"{'search, p95':34} {found['p95_ms']:>13} ms   {'< 50 ms':>14}   {p95_met}",
        *(
            f"{'  p95, ' + kind + ' queries':34} {figures['p95_ms']:>13} ms   {'< 50 ms':>14}   "
            + ("met" if figures["p95_ms"] < GOAL_P95_MS else "NOT met")
            for kind, figures in found.get("classes", {}).items()
        ),
        "",
        "per event (us)          wall   client CPU   server CPU   client waits",
    ]
    for label, figures in [("plain read", base), ("rebuild", rebuild)] + [
        (f"{name} alone", figures) for name, figures in results.get("per_view", {}).items()
    ]:
        lines.append(
            f"  {label:18} {figures['wall_us']:8} {figures['client_cpu_us']:12} "
            f"{figures['server_cpu_us']:12} {figures['client_wait_us']:14}"
        )
    if "per_view" in results:
        lines.append("")
        lines.append(
            "each view alone, less the plain read (us per event):  client CPU   server CPU"
        )
        for name, figures in results["per_view"].items():
            lines.append(
                f"  {name:50} {figures['view_client_cpu_us']:10} {figures['view_server_cpu_us']:12}"
            )
    if "event_types" in results:
        mix = ", ".join(f"{kind} {count:,}" for kind, count in results["event_types"].items())
        lines += ["", f"event types: {mix}"]
    lines += ["", f"search queries ({found['samples']} samples, shuffled):"]
    lines.append(
        f"  {'class':10} {'query':30} {'model':17} {'matching':>9} {'median ms':>10} {'max ms':>8}"
    )
    for row in found["queries"]:
        lines.append(
            f"  {row['class']:10} {row['query']:30} {row['model'] or '-':17} "
            f"{row['matching']:>9,} {row['median_ms']:>10} {row['max_ms']:>8}"
        )
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, build, measure, print."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--per-view", action="store_true", help="also rebuild each view alone")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="profile a rebuild of N events"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ledger, settings, cleanup = _ledger_for(args.backend, workdir)
        try:
            _say(f"building a ledger of {args.events:,} events on {args.backend}...")
            began = time.perf_counter()
            kinds = build(ledger, args.events, args.models)
            build_seconds = time.perf_counter() - began
            _say(f"  built in {build_seconds:.1f} s: {dict(kinds)}")
            runner = build_views(ledger, settings)
            runner.page = args.page
            # rebuild() clears view_counts before creating it: create the (empty) tables first.
            runner.create_tables()
            results = measure(ledger, runner, args.events, args)
            results.update(
                backend=args.backend,
                events=args.events,
                models=args.models,
                page=args.page,
                build_seconds=round(build_seconds, 1),
                build_events_per_s=round(args.events / build_seconds),
                mix=dict(kinds),
            )
            if args.profile:
                profiled = _profiled(args, workdir)
        finally:
            ledger.close()
            if cleanup:
                cleanup()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(report(results))
    if args.profile:
        print(profiled, file=sys.stderr)


def _profiled(args: Any, workdir: Path) -> str:
    """Profile a rebuild over a ledger of the first ``--profile`` events, built afresh."""
    (workdir / "profile").mkdir(exist_ok=True)
    ledger, settings, cleanup = _ledger_for(args.backend, workdir / "profile")
    try:
        _say(f"  profiling a rebuild of {args.profile:,} events...")
        build(ledger, args.profile, args.models)
        runner = build_views(ledger, settings)
        runner.page = args.page
        runner.create_tables()
        return profile_rebuild(runner)
    finally:
        ledger.close()
        if cleanup:
            cleanup()


if __name__ == "__main__":
    main()
