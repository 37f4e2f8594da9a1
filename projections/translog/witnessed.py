"""Which witnesses vouch for a checkpoint, and which checkpoint the log publishes.

`check_witnesses` is the one check of a cosigned checkpoint against a witness policy, used by
every reader that says "vouched by": ``verify``, ``verify-bundle``, ``proof inclusion``,
``history --proofs`` and the monitor (the browser and the reviewer script have their own, written
from the same spec). It follows c2sp.org/tlog-cosignature and c2sp.org/signed-note: the lines
of keys outside the policy are ignored; every line by a policy witness's key must verify (one
that does not is a problem, never a vouch); a witness counts once however many lines it has.

`Witnessing` is how the log publishes: it appends the stored cosignatures (each re-verified
against the policy) to the operator's signed note, and under the ``required`` mode it names the
latest checkpoint a quorum cosigned, the one every default proof, tile and bundle is made
against (Trillian Tessera's rule: a checkpoint is published only once its witness policy is met).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from domain.errors import CheckpointNotFound, CosignatureError, MalformedError
from projections.translog.checkpoint import _split_note
from projections.translog.cosignature import _verifier_key, verify_cosignature
from projections.translog.recorders import StoredCheckpoint
from projections.translog.witness_policy import WitnessPolicy

if TYPE_CHECKING:
    from projections.translog.cosignature_store import CosignatureStore
    from projections.translog.verify import Report

__all__ = [
    "WITNESS_MODES",
    "Vouch",
    "WitnessVerdict",
    "Witnessing",
    "audit_cosignatures",
    "check_witnesses",
]

ADVISORY = "advisory"
REQUIRED = "required"
WITNESS_MODES = (ADVISORY, REQUIRED)
# Under ``required``, how many of the most recent quorum-cosigned checkpoints are looked at
# before giving up: a stored row that no longer verifies is skipped, not trusted.
_CANDIDATES = 8


@dataclass(frozen=True)
class Vouch:
    """A policy witness whose cosignature of the checkpoint verified, and its latest time."""

    witness: str
    timestamp: int


@dataclass(frozen=True)
class WitnessVerdict:
    """What a policy's witnesses said about one checkpoint note."""

    quorum: int
    witnesses: int
    vouched: tuple[Vouch, ...]
    problems: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.witness for v in self.vouched)

    @property
    def quorum_met(self) -> bool:
        return not self.problems and len(self.vouched) >= self.quorum

    def describe(self) -> str:
        """One line: who vouched, and whether that is a quorum."""
        who = ", ".join(self.names) or "no witness"
        met = "met" if self.quorum_met else "NOT met"
        count = f"{len(self.vouched)} of {self.witnesses}"
        line = f"vouched by {who} ({count}; quorum {self.quorum} {met})"
        return line + "".join(f"; {problem}" for problem in self.problems)

    def as_json(self) -> dict[str, object]:
        return {
            "summary": self.describe(),
            "quorum": self.quorum,
            "witnesses": self.witnesses,
            "quorum_met": self.quorum_met,
            "vouched": [{"witness": v.witness, "timestamp": v.timestamp} for v in self.vouched],
            "problems": list(self.problems),
        }


def check_witnesses(note: str, policy: WitnessPolicy) -> WitnessVerdict:
    """Check every cosignature line of `note` by a witness of `policy`.

    A note that is not a signed checkpoint raises `MalformedError`. The log's own signature is
    not checked here: the caller has opened the note with the log's key first.
    """
    _, lines = _split_note(note)  # MalformedError for a note that is not well formed
    present = {(line.name, line.key_id) for line in lines}
    vouched: list[Vouch] = []
    problems: list[str] = []
    for witness in policy.witnesses:
        name, key_id, _ = _verifier_key(witness.verifier_key)
        if (name, key_id) not in present:
            continue
        try:
            vouched.append(Vouch(witness.name, verify_cosignature(note, witness.verifier_key)))
        except (CosignatureError, MalformedError) as error:
            problems.append(f"witness {witness.name}: {error}")
    return WitnessVerdict(policy.quorum, len(policy.witnesses), tuple(vouched), tuple(problems))


@dataclass(frozen=True)
class Witnessing:
    """The log's witness policy, its mode, and the cosignatures stored for its checkpoints."""

    policy: WitnessPolicy
    store: CosignatureStore
    required: bool

    def cosigned(self, checkpoint: StoredCheckpoint) -> StoredCheckpoint:
        """`checkpoint` with its stored cosignatures that verify, one line per witness.

        Each line is verified on its own against its witness's key in the policy, so a row
        someone wrote into the table (garbage, or a line that does not verify) is left out and
        cannot hide the good ones. A witness's first verified cosignature is the one shown, so
        the published note changes only when a witness cosigns for the first time (its ETag
        stays put otherwise).
        """
        keys = {w.name: w.verifier_key for w in self.policy.witnesses}
        lines: dict[str, str] = {}
        for stored in self.store.cosignatures(checkpoint):
            key = keys.get(stored.witness)
            if key is None or stored.witness in lines:
                continue
            try:
                verify_cosignature(checkpoint.note + stored.cosignature, key)
            except (CosignatureError, MalformedError):
                continue
            lines[stored.witness] = stored.cosignature
        kept = "".join(lines[w.name] for w in self.policy.witnesses if w.name in lines)
        return replace(checkpoint, note=checkpoint.note + kept)

    def published(
        self,
        latest: StoredCheckpoint,
        checkpoints_of_size: Callable[[int], Sequence[StoredCheckpoint]],
    ) -> StoredCheckpoint:
        """The checkpoint the log publishes: the latest (advisory) or latest witnessed one.

        Under ``required``, `CheckpointNotFound` when no checkpoint has a quorum yet.
        """
        if not self.required:
            return self.cosigned(latest)
        names = [w.name for w in self.policy.witnesses]
        for size, root in self.store.quorum_candidates(names, self.policy.quorum, _CANDIDATES):
            for stored in checkpoints_of_size(size):
                if stored.root_hash != root:
                    continue
                candidate = self.cosigned(stored)
                if check_witnesses(candidate.note, self.policy).quorum_met:
                    return candidate
        raise CheckpointNotFound(
            f"no checkpoint has been cosigned by a quorum of {self.policy.quorum} of the "
            f"{len(names)} witnesses yet (the witness mode is required); `reliquary witness "
            "submit POLICY` asks them"
        )


def audit_cosignatures(
    report: Report,
    checkpoints: Sequence[StoredCheckpoint],
    store: CosignatureStore,
    policy: WitnessPolicy,
) -> None:
    """`verify`'s witness pass: every stored cosignature by a policy witness must verify.

    A row whose checkpoint (size and root) the log never signed, or whose line does not verify
    against the policy's key for its witness, is a problem of `report` (someone wrote the
    table). Rows by witnesses outside the policy are counted, not judged. Then `report` says
    which witnesses vouch for the latest checkpoint a quorum cosigned, or the latest signed.
    """
    notes = {(c.size, c.root_hash): c.note for c in checkpoints}
    keys = {w.name: w.verifier_key for w in policy.witnesses}
    cosigned: dict[tuple[int, bytes], str] = {}
    for stored in store.every_cosignature():
        report.cosignatures_checked += 1
        where = f"cosignature by {stored.witness} of size {stored.size}"
        note = notes.get((stored.size, stored.root_hash))
        if note is None:
            report.fail(
                f"{where}: no checkpoint of that size and root {stored.root_hash.hex()} was signed"
            )
            continue
        key = keys.get(stored.witness)
        if key is None:
            continue
        try:
            verify_cosignature(note + stored.cosignature, key)
        except (CosignatureError, MalformedError) as error:
            report.fail(f"{where}: {error}")
            continue
        line = cosigned.setdefault((stored.size, stored.root_hash), note)
        if stored.cosignature not in line:
            cosigned[(stored.size, stored.root_hash)] = line + stored.cosignature
    verdicts = [(size, check_witnesses(note, policy)) for (size, _), note in cosigned.items()]
    met = [item for item in verdicts if item[1].quorum_met]
    chosen = max(met or verdicts, key=lambda item: item[0], default=None)
    if chosen is not None:
        report.witnessed_size, report.witnesses = chosen
    elif checkpoints:
        report.witnessed_size = checkpoints[-1].size
        report.witnesses = check_witnesses(checkpoints[-1].note, policy)
