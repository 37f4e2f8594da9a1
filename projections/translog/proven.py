"""Proof-carrying history: a model's events with the inclusion proof of each in a checkpoint.

A verifier holding the answer, the checkpoint and the ledger's verifier key can check offline
that every event shown is in the signed log (recompute each leaf hash from the leaf bytes,
verify the audit path to the checkpoint's root, verify the checkpoint's signature), and, because
each leaf carries the model's own version number, that no version between 1 and the last one
shown is missing. It cannot show that nothing was decided after the checkpoint was signed, nor
that a decision was never recorded at all (docs/transparency.md).
"""

from __future__ import annotations

from typing import Any

from domain.identity import model_id
from projections.translog.leaves import canonical_bytes, leaf_record
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
        record = leaf_record(stored, model=model, sequence=sequence)
        leaves.append(
            {
                "sequence": sequence,
                "version": stored.originator_version,
                "leaf": canonical_bytes(record).decode("utf-8"),
                "leaf_hash": proof.leaf_hash.hex(),
                "audit_path": [step.hex() for step in proof.path],
            }
        )
    return {"checkpoint": checkpoint.note, "tree_size": checkpoint.size, "leaves": leaves}
