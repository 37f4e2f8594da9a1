"""Helpers that build command documents for tests, with unique names per test."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from domain.commands import Command, parse_command

if TYPE_CHECKING:
    from domain.ledger import Ledger
    from projections.translog.tree import TransparencyLog

RELEASE = "2024-03-04"
SHA = "sha256:" + "ab" * 32


def unique(prefix: str = "model") -> str:
    """A name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


_PERIODS = itertools.count()


def signal_period(n: int | None = None) -> dict[str, str]:
    """A signal period (``period_start``, ``period_end``): the ``n``-th, or else one no other
    signal of this process used (a model has one value per kind and period)."""
    k = next(_PERIODS) + 10_000 if n is None else n
    start = date.fromisoformat(RELEASE) + timedelta(days=k % 800)
    end = start + timedelta(days=k // 800)
    return {"period_start": start.isoformat(), "period_end": end.isoformat()}


def research_signal(model: str, n: int) -> dict[str, Any]:
    """A curator's research-use count of ``n`` for a period of its own: one more event on a
    model, whatever it already holds (the log tests grow a model with them)."""
    return doc(
        "record_signal",
        model,
        role="curator",
        kind="research_use",
        **signal_period(),
        value=float(n),
        unit="count",
    )


def doc(command: str, model: str, role: str = "curator", **fields: Any) -> dict[str, Any]:
    """A command document with a default actor and rationale."""
    return {
        "command": command,
        "model": model,
        "actor": {"id": f"{role}-1", "role": role},
        "rationale": f"test rationale for {command}",
        **fields,
    }


def parse(document: dict[str, Any]) -> Command:
    """Parse a document the way the CLI does (through JSON)."""
    return parse_command(json.dumps(document))


def register(model: str, release_date: str = RELEASE) -> dict[str, Any]:
    """A register_model document."""
    return doc(
        "register_model",
        model,
        family="test-family",
        model_version="1.0",
        release_date=release_date,
        developer="Test Lab",
    )


def manifest(files: dict[str, bytes] | None = None) -> dict[str, Any]:
    """A valid manifest of some files (name to content)."""
    import hashlib

    from domain.decisions import ManifestEntry, manifest_digest

    files = files or {"weights/shard-0.bin": b"zero", "config.json": b"{}"}
    entries = [
        ManifestEntry(path, len(content), hashlib.sha256(content).hexdigest())
        for path, content in sorted(files.items())
    ]
    return {
        "manifest_digest": manifest_digest(entries),
        "files": [{"path": e.path, "size": e.size, "sha256": e.sha256} for e in entries],
    }


def preserve(model: str) -> dict[str, Any]:
    """A valid preserve_weights document."""
    return doc(
        "preserve_weights",
        model,
        manifest=manifest(),
        locations=["s3://archive/models/" + model],
        custodian="Archive Team",
        retention="indefinite",
    )


def interview(model: str, interview_id: str, day: str, framing: str = "open") -> dict[str, Any]:
    """A record_interview document."""
    return doc(
        "record_interview",
        model,
        role="interviewer",
        interview_id=interview_id,
        protocol="retirement-interview",
        protocol_version="1",
        conducted_on=day,
        interviewer="interviewer-1",
        framing=framing,
        questions=["What would you like to happen after your retirement?"],
        context="test interview",
        transcript_digest=SHA,
        transcript_location="s3://transcripts/" + interview_id,
    )


def open_log(
    database_url: str, ledger: Ledger, origin: str = "reliquary.test/ledger"
) -> TransparencyLog:
    """A ledger's transparency log, opened as the composition root opens it."""
    from api.bootstrap import build_log
    from api.settings import Settings

    return build_log(Settings(database_url=database_url, log_origin=origin), ledger)


def demo_event_count() -> int:
    """How many events the bundled demo scenario records (one per line)."""
    from importlib import resources

    text = resources.files("domain.demo").joinpath("scenario.jsonl").read_text(encoding="utf-8")
    return sum(1 for line in text.splitlines() if line.strip())


DEMO_EVENTS = demo_event_count()
"""The demo's size: tests that load it compare with this, not a number written twice."""


def demo_private_values(min_length: int = 1) -> set[str]:
    """Every value of a private field (`domain.disclosure`) in the demo's command documents."""
    import json
    from importlib import resources

    from domain.authority import COMMAND_OF_EVENT
    from domain.disclosure import PRIVATE_FIELDS

    event_of = {command: event for event, command in COMMAND_OF_EVENT.items()}
    text = resources.files("domain.demo").joinpath("scenario.jsonl").read_text(encoding="utf-8")
    values = set()
    for line in filter(str.strip, text.splitlines()):
        document = json.loads(line)
        for name in PRIVATE_FIELDS.get(event_of.get(document["command"], ""), {}):
            for value in _named(document, name):
                if isinstance(value, str) and len(value) >= min_length:
                    values.add(value)
    return values


def _named(document: dict[str, Any], name: str) -> list[Any]:
    """The values a policy's field name picks out of a command document: ``actor.id`` in its
    actor, ``evidence.uri`` in each evidence item, any other name at the top."""
    field, _, part = name.partition(".")
    value = document.get(field)
    if not part:
        return [value]
    items = value if isinstance(value, list) else [value]
    return [item.get(part) for item in items if isinstance(item, dict)]


def stored_manifests(ledger: Any) -> dict[str, Any]:
    """Every file list a ledger keeps beside its events, by digest: what a bundle carries for
    a restore (`Ledger.restore(manifests=)`)."""
    digests = {
        json.loads(n.state)["manifest_digest"]
        for n in ledger.notifications_after(0)
        if n.topic == "reliquary/WeightsPreserved/v1"
    }
    return {digest: ledger.recorder.read_manifest(digest) for digest in digests}


SHELL_SETTINGS = ("RELIQUARY_LOG_ORIGIN", "RELIQUARY_CREATE_TABLES", "RELIQUARY_CACHE_SIZE")
"""Settings a developer's shell may hold that would change what a test's app or CLI does."""


@contextmanager
def signing_environment(key: Path, origin: str | None = None) -> Iterator[pytest.MonkeyPatch]:
    """The environment the app and the CLI read: the signing key at ``key`` (made first, for
    ``origin``, if one is given), and none of `SHELL_SETTINGS`."""
    with pytest.MonkeyPatch.context() as env:
        for name in SHELL_SETTINGS:
            env.delenv(name, raising=False)
        env.setenv("RELIQUARY_SIGNING_KEY", str(key))
        if origin is not None:
            from projections.translog.keys import create_signing_key

            create_signing_key(key, origin)
        yield env
