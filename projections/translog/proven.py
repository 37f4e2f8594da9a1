"""Proof-carrying answers: a model's events, or its preserved weights, proven in a checkpoint.

A verifier holding the answer, the checkpoint and the ledger's verifier key can check offline
that every event shown is in the signed log (recompute each leaf hash from the leaf bytes,
verify the audit path to the checkpoint's root, verify the checkpoint's signature), and, because
each leaf carries the model's own version number, that no version between 1 and the last one
shown is missing. It cannot show that nothing was decided after the checkpoint was signed, nor
that a decision was never recorded at all (docs/transparency.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.decisions import ManifestEntry
from domain.errors import BundleDoesNotVerify, NoPreservedWeights
from domain.identity import model_id
from projections.archive.manifests import recorded_manifest
from projections.translog import merkle
from projections.translog.checkpoint import verify_checkpoint
from projections.translog.leaves import leaf_bytes, leaf_fields
from projections.translog.recorders import StoredCheckpoint
from projections.translog.tree import TransparencyLog


def proven_history(
    log: TransparencyLog, model: str, up_to_version: int, checkpoint: StoredCheckpoint
) -> dict[str, Any]:
    """The leaves of a model's versions 1..up_to_version, each with its audit path."""
    identifier = model_id(model)
    stored_events = log.ledger.recorder.select_events(identifier, lte=up_to_version)
    leaves = []
    for stored in stored_events:
        sequence = log.sequence_of(str(identifier), stored.originator_version)
        proof = log.inclusion_proof(sequence, checkpoint.size)
        leaves.append(
            {
                "sequence": sequence,
                "version": stored.originator_version,
                "leaf": leaf_bytes(stored, sequence=sequence).decode("utf-8"),
                "leaf_hash": proof.leaf_hash.hex(),
                "audit_path": [step.hex() for step in proof.path],
            }
        )
    return {"checkpoint": checkpoint.note, "tree_size": checkpoint.size, "leaves": leaves}


@dataclass(frozen=True)
class RecordedWeights:
    """The weights a model's latest ``WeightsPreserved`` records, and where the log proves it."""

    model: str
    files: list[ManifestEntry]
    manifest_digest: str
    recorded_in: dict[str, Any]


def recorded_weights_in_log(
    log: TransparencyLog, model: str, checkpoint: StoredCheckpoint, verifier: str
) -> RecordedWeights:
    """A model's preserved weights as recorded, with their inclusion in ``checkpoint`` checked.

    The checkpoint's signature is checked against ``verifier`` (the key the reader trusts) and
    the inclusion proof of the recording event against the signed root, per RFC 9162 2.1.3.2;
    either failing raises (`VerificationError`, `ProofError`), and nothing is claimed.
    """
    weights = log.ledger.state(model).weights
    if weights is None:
        raise NoPreservedWeights(f"model {model!r} has no preserved weights on record")
    sequence = log.sequence_of(str(model_id(model)), weights.version)
    proof = log.inclusion_proof(sequence, checkpoint.size)
    signed = verify_checkpoint(checkpoint.note, verifier)
    merkle.verify_inclusion(proof.leaf_hash, sequence, signed.size, proof.path, signed.root_hash)
    # The event names its files by digest; the list is read beside the log and checked
    # against the digest and the totals the proven event records.
    manifest = recorded_manifest(
        log.ledger,
        weights.manifest_digest,
        file_count=weights.file_count,
        total_bytes=weights.total_bytes,
    )
    return RecordedWeights(
        model=model,
        files=list(manifest.files),
        manifest_digest=weights.manifest_digest,
        recorded_in={
            "version": weights.version,
            "sequence": sequence,
            "checkpoint_size": signed.size,
            "checkpoint_root": signed.root_hash.hex(),
            "leaf_hash": proof.leaf_hash.hex(),
            "audit_path": [step.hex() for step in proof.path],
            "inclusion_verified": True,
        },
    )


def recorded_weights_in_bundle(
    directory: Path, model: str, pinned_verifier: str | None
) -> RecordedWeights:
    """A model's preserved weights as an audit bundle records them, the whole bundle verified.

    Needs no database: every leaf of the bundle is recomputed up to its signed root
    (`bundle.verify_bundle`), so the latest ``WeightsPreserved`` line of the model is proven.
    """
    from projections.translog.bundle import EVENTS, bundle_manifest, verify_bundle

    report = verify_bundle(directory, pinned_verifier)
    if not report.ok:
        raise BundleDoesNotVerify(f"the bundle does not verify: {report.problems[0]}")
    checkpoint = report.checkpoint
    if checkpoint is None:  # a verified bundle always has one
        raise BundleDoesNotVerify("the bundle has no checkpoint")
    latest: dict[str, Any] | None = None
    identifier = str(model_id(model))
    with (directory / EVENTS).open("rb") as lines:
        for line in lines:
            record = leaf_fields(json.loads(line))
            if record["model_id"] == identifier and record["type"] == "WeightsPreserved":
                latest = record
    if latest is None:
        raise NoPreservedWeights(f"the bundle records no preserved weights for model {model!r}")
    facts = latest["facts"]
    if "files" in facts:  # a WeightsPreserved of class version 1 holds its list
        files = [ManifestEntry(f["path"], f["size"], f["sha256"]) for f in facts["files"]]
    else:  # checked by verify_bundle: it hashes to the digest the leaf names, with its totals
        files = list(bundle_manifest(directory, facts["manifest_digest"]).files)
    return RecordedWeights(
        model=model,
        files=files,
        manifest_digest=facts["manifest_digest"],
        recorded_in={
            "version": latest["version"],
            "sequence": latest["sequence"],
            "checkpoint_size": checkpoint.size,
            "checkpoint_root": checkpoint.root_hash.hex(),
            "inclusion_verified": True,  # the whole bundle was recomputed to the signed root
        },
    )
