"""Offline audit bundles: export the log, verify it with no database, import it elsewhere.

A bundle is a directory:

- ``events.jsonl``: one line per event, in ledger order, each line exactly the leaf's RFC 8785
  canonical bytes (so ``SHA-256(0x00 || line)`` is the leaf hash);
- ``checkpoint``: the latest signed checkpoint (C2SP tlog-checkpoint signed note);
- ``verifier-key``: the ledger's public verifier key;
- ``README.md``: how to check it without Reliquary (see docs/reviewers.md).
"""

from __future__ import annotations

import functools
import itertools
import json
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import rfc8785
from eventsourcing.persistence import StoredEvent
from pydantic import TypeAdapter

from domain.errors import BundleDoesNotVerify, BundleError, BundleRefused
from domain.identity import model_id
from projections.translog import merkle
from projections.translog.checkpoint import Checkpoint, verify_checkpoint
from projections.translog.feed import leaf_feed
from projections.translog.tree import TransparencyLog, append_leaf

EVENTS, CHECKPOINT, KEY, README = "events.jsonl", "checkpoint", "verifier-key", "README.md"


@dataclass
class BundleReport:
    """What checking a bundle found: ``ok`` only if every check held."""

    events: int = 0
    checkpoint: Checkpoint | None = None
    root: bytes = b""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether everything held."""
        return not self.problems


def export_bundle(
    log: TransparencyLog,
    directory: Path,
    signing_key: str,
    verifier: str,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[int, str]:
    """Write a bundle of the whole log; return the number of events and the checkpoint."""
    checkpoint = log.checkpoint(signing_key)
    directory.mkdir(parents=True, exist_ok=True)
    written = 0
    with (directory / EVENTS).open("wb") as out:
        for line in _leaf_lines(log, checkpoint.size, on_progress):
            out.write(line + b"\n")
            written += 1
    (directory / CHECKPOINT).write_text(checkpoint.note)
    (directory / KEY).write_text(verifier + "\n")
    (directory / README).write_text(_README.format(events=written, origin=log.origin))
    return written, checkpoint.note


def _leaf_lines(
    log: TransparencyLog, size: int, on_progress: Callable[[int], None] | None
) -> Iterator[bytes]:
    for entry in itertools.islice(leaf_feed(log.ledger, page=2000), size):
        yield entry.leaf
        if on_progress and (entry.sequence + 1) % 1000 == 0:
            on_progress(1000)


def verify_bundle(
    directory: Path,
    pinned_verifier: str | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> BundleReport:
    """Check a bundle with no database: signature, every leaf, the root, per-model versions."""
    report = BundleReport()
    verifier = _read(directory / KEY).strip()
    if pinned_verifier is not None and pinned_verifier.strip() != verifier:
        report.problems.append(
            "the bundle's verifier key is not the one you pinned: expected "
            f"{pinned_verifier.strip()}, the bundle has {verifier}"
        )
        verifier = pinned_verifier.strip()
    try:
        checkpoint = verify_checkpoint(_read(directory / CHECKPOINT), verifier)
    except ValueError as error:
        report.problems.append(f"checkpoint: {error}")
        return report
    report.checkpoint = checkpoint
    frontier: dict[merkle.Node, bytes] = {}
    versions: dict[str, int] = {}
    index = 0
    for line in _lines(directory / EVENTS):
        problem = _check_line(line, index, versions)
        if problem:
            report.problems.append(f"line {index + 1} (sequence {index}): {problem}")
            if len(report.problems) >= 20:
                return report
        append_leaf(frontier, {}, index, merkle.leaf_hash(line))
        index += 1
        if on_progress and index % 1000 == 0:
            on_progress(1000)
    report.events = index
    report.root = merkle.range_hash(0, index, frontier) if index else merkle.EMPTY_ROOT
    if index != checkpoint.size:
        report.problems.append(
            f"the checkpoint covers {checkpoint.size} events but events.jsonl has {index}"
        )
    elif report.root != checkpoint.root_hash:
        report.problems.append(
            f"root mismatch: the checkpoint says {checkpoint.root_hash.hex()}, "
            f"events.jsonl hashes to {report.root.hex()}"
        )
    return report


def _check_line(line: bytes, index: int, versions: dict[str, int]) -> str | None:
    """One line's own checks: canonical JSON, its sequence, its model's next version."""
    try:
        record = json.loads(line)
    except ValueError as error:
        return f"not JSON: {error}"
    if not isinstance(record, dict):
        return "not a JSON object"
    if rfc8785.dumps(record) != line:
        return "not in RFC 8785 canonical form"
    if record.get("sequence") != index:
        return f"sequence is {record.get('sequence')!r}, expected {index}"
    name, version = record.get("model"), record.get("version")
    if not isinstance(name, str) or str(model_id(name)) != record.get("model_id"):
        return "model_id is not the id of the model's name"
    expected = versions.get(name, 0) + 1
    if version != expected:
        return f"model {name!r} jumps from version {expected - 1} to {version}"
    versions[name] = expected
    return None


def import_bundle(
    log: TransparencyLog,
    directory: Path,
    pinned_verifier: str,
    batch: int = 1000,
) -> int:
    """Restore a verified bundle into an empty ledger; its log then has the bundle's root.

    The bundle must be signed by the key the operator pinned (``pinned_verifier``; the key
    inside the bundle proves nothing by itself). The whole bundle is verified first, then
    every event is replayed through the ledger's authority table and rules
    (`Ledger.restore`), and only then are the events stored, exactly as signed.
    """
    if not pinned_verifier.strip():
        raise BundleError("pin the verifier key the bundle must be signed by (--key)")
    report = verify_bundle(directory, pinned_verifier)
    if not report.ok:
        raise BundleDoesNotVerify(f"the bundle does not verify: {report.problems[0]}")
    ledger = log.ledger
    transcoder = ledger.mapper.transcoder

    def read() -> Iterator[StoredEvent]:
        for number, line in enumerate(_lines(directory / EVENTS), start=1):
            yield _stored_event(number, json.loads(line), transcoder)

    count = ledger.restore(read, batch_size=batch)
    log.catch_up()
    if report.checkpoint and log.root(report.checkpoint.size) != report.checkpoint.root_hash:
        raise BundleDoesNotVerify(
            "imported, but the log's root differs from the bundle's checkpoint"
        )
    return count


def _stored_event(line: int, record: dict[str, Any], transcoder: Any) -> StoredEvent:
    """Rebuild the stored event a leaf record was made from (the inverse of leaf_record).

    The event type is looked up in the ledger's own catalogue, never resolved as a module path
    (a topic such as ``os:system`` would otherwise import what the bundle names).
    """
    from domain.ledger import EVENT_BY_TOPIC
    from domain.lifecycle import ModelLifecycle

    cls = EVENT_BY_TOPIC.get(record["topic"])
    if cls is None:
        raise BundleRefused(
            f"line {line}: unknown event type {record['topic']!r}: not in the catalogue",
            line=line,
            rule="invalid-command",
        )
    hints = typing.get_type_hints(cls)
    state: dict[str, Any] = {
        name: _typed(hints.get(name), value) for name, value in record["facts"].items()
    }
    state["timestamp"] = datetime.fromisoformat(record["recorded_at"])
    state["actor"] = _typed(hints.get("actor"), record["actor"])
    state["rationale"] = record["rationale"]
    state["evidence"] = _typed(hints.get("evidence"), record["evidence"])
    effective = record["effective_at"]
    state["effective_at"] = datetime.fromisoformat(effective) if effective else None
    if record["version"] == 1:
        state["originator_topic"] = ModelLifecycle.TOPIC
    if record["class_version"] != 1:
        state["class_version"] = record["class_version"]
    return StoredEvent(
        originator_id=UUID(record["model_id"]),
        originator_version=record["version"],
        topic=record["topic"],
        state=transcoder.encode(state),
    )


def _typed(annotation: Any, value: Any) -> Any:
    if annotation is None:
        return value
    return _adapter(annotation).validate_python(value)


@functools.cache
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def _lines(path: Path) -> Iterator[bytes]:
    try:
        with path.open("rb") as stream:
            for raw in stream:
                yield raw.rstrip(b"\n")
    except FileNotFoundError:
        raise BundleError(f"not a bundle: {path} is missing") from None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise BundleError(f"not a bundle: {path} is missing") from None


_README = """# Reliquary audit bundle

Log origin: `{origin}`. Events: {events}.

- `events.jsonl`: one line per event, in ledger order; each line is the event's public record
  in RFC 8785 canonical JSON, and its leaf hash is SHA-256(0x00 || line).
- `checkpoint`: the signed checkpoint (C2SP tlog-checkpoint, Ed25519 signed note) whose root
  is the RFC 9162 Merkle tree hash of those leaves.
- `verifier-key`: the ledger's public key (`name+keyid+base64(0x01 || ed25519 key)`). Compare
  it with the key the operator published before you trust anything signed by it.

Check it with `reliquary verify-bundle .`, or without Reliquary's code using the script in
Reliquary's docs/reviewers.md (Python's hashlib and an Ed25519 library).
"""
