"""The transparency log's questions, answered once for every door: checkpoints and proofs.

`LogService` holds the log and knows where the ledger's signing key is. The CLI, the HTTP API
and the web console ask it which checkpoint to prove against, for proofs, leaves and tiles,
for a model's history with proofs, and for a model's preserved weights proven in the log; none
of them chooses a checkpoint or signs one itself.

The checkpoint a proof is made against (`checkpoint_for_proof`), the one rule:

- no size asked: a checkpoint of the whole log, signed now if this process holds the signing
  key (the same checkpoint again if the log has not grown), else the latest one kept (an
  auditor's copy holds no private key);
- a size asked: the checkpoint of that size kept, the latest signed if there are several
  (after a key rotation); if none is kept and the size is the whole log, a new one signed as
  above; otherwise `CheckpointNotFound`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.errors import CheckpointNotFound, LogError, SigningKeyError
from domain.identity import model_id
from projections.translog.checkpoint import verifier_key
from projections.translog.keys import load_signing_key

if TYPE_CHECKING:
    from domain.ledger import Ledger
    from projections.translog.proven import RecordedWeights
    from projections.translog.recorders import StoredCheckpoint
    from projections.translog.tree import ConsistencyProof, InclusionProof, TransparencyLog
    from projections.translog.verify import Report


class LogService:
    """Checkpoints, proofs and leaves of one ledger's transparency log."""

    def __init__(self, log: TransparencyLog, signing_key_path: Path) -> None:
        self.log = log
        self.signing_key_path = signing_key_path

    @property
    def ledger(self) -> Ledger:
        """The ledger the log follows."""
        return self.log.ledger

    @property
    def origin(self) -> str:
        """The log's origin line."""
        return self.log.origin

    # -- keys ----------------------------------------------------------------------------------

    def signing_key(self) -> str:
        """The ledger's private signing key (`SigningKeyError` if this copy cannot use it)."""
        return load_signing_key(self.signing_key_path)

    def holds_signing_key(self) -> bool:
        """Whether this process can sign checkpoints."""
        return self._signing_key_or_none() is not None

    def verifier_key(self) -> str:
        """The public verifier key of the ledger's signing key."""
        return verifier_key(self.signing_key())

    def _signing_key_or_none(self) -> str | None:
        try:
            return self.signing_key()
        except SigningKeyError:
            return None

    # -- following the ledger ------------------------------------------------------------------

    def catch_up(self, on_progress: Callable[[int], None] | None = None) -> int:
        """Take every new event into the log; how many were taken."""
        return self.log.catch_up(on_progress=on_progress)

    def pending(self) -> int:
        """How many events the log has not taken yet."""
        return self.log.pending()

    def sequence_of(self, model: str, version: int) -> int | None:
        """A model version's sequence number, if the log has taken it (no catching up)."""
        try:
            return self.log.sequence_of(str(model_id(model)), version)
        except LogError:
            return None

    # -- checkpoints ---------------------------------------------------------------------------

    def sign_checkpoint(self, on_progress: Callable[[int], None] | None = None) -> StoredCheckpoint:
        """Take every new event, then sign (or reuse) a checkpoint of the whole log."""
        key = self.signing_key()
        self.log.catch_up(on_progress=on_progress)
        return self.log.checkpoint(key)

    def checkpoint_for_proof(self, size: int | None = None) -> StoredCheckpoint:
        """The signed checkpoint a proof is made against (the rule in the module docstring)."""
        key = self._signing_key_or_none()
        self.log.catch_up()
        if size is not None:
            kept = [c for c in self.log.checkpoints() if c.size == size]
            if kept:
                return kept[-1]
            if key is None or size != self.log.size():
                raise CheckpointNotFound(
                    f"no signed checkpoint of size {size}; `reliquary checkpoint --list` "
                    "(or GET /log/checkpoints) shows the sizes kept",
                    size=size,
                )
        if key is not None:
            return self.log.checkpoint(key)
        latest = self.log.recorder.latest_checkpoint()
        if latest is None:
            raise CheckpointNotFound(
                "the log has no signed checkpoint yet, and this copy holds no signing key"
            )
        return latest

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every checkpoint signed, oldest first."""
        self.log.catch_up()
        return self.log.checkpoints()

    # -- proofs and leaves ---------------------------------------------------------------------

    def inclusion_proof(
        self, sequence: int, size: int | None = None
    ) -> tuple[InclusionProof, StoredCheckpoint]:
        """Proof that the event at ``sequence`` is in a signed tree, and that checkpoint."""
        checkpoint = self.checkpoint_for_proof(size)
        return self.log.inclusion_proof(sequence, checkpoint.size), checkpoint

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """Proof that the tree of ``old_size`` events is a prefix of the tree of ``new_size``."""
        self.log.catch_up()
        return self.log.consistency_proof(old_size, new_size)

    def leaf(self, sequence: int) -> bytes:
        """The leaf bytes (RFC 8785 record) of one event."""
        from projections.translog.tiles import leaf_bytes

        self.log.catch_up()
        if not 0 <= sequence < self.log.size():
            raise LogError(f"no event at sequence {sequence}", sequence=sequence)
        return leaf_bytes(self.log, sequence, 1)[0]

    def leaf_hash(self, sequence: int) -> bytes | None:
        """The stored leaf hash of one event, if the log has taken it."""
        self.log.catch_up()
        return self.log.recorder.nodes([(0, sequence)]).get((0, sequence))

    def tile(self, path: str) -> bytes:
        """A C2SP tlog-tiles hash tile or entry bundle of the tree of the latest checkpoint."""
        from projections.translog.tiles import read_tile

        return read_tile(self.log, self.checkpoint_for_proof().size, path)

    def proven_history(self, model: str, version: int) -> dict[str, Any]:
        """A model's versions 1..version, each with its inclusion proof in a signed checkpoint."""
        from projections.translog.proven import proven_history

        checkpoint = self.checkpoint_for_proof()
        if (self.sequence_of(model, version) or 0) >= checkpoint.size:
            raise CheckpointNotFound(
                "no signing key here, and no kept checkpoint covers these events"
            )
        proven = proven_history(self.log, model, version, checkpoint)
        key = self._signing_key_or_none()
        proven["verifier_key"] = verifier_key(key) if key else None
        return proven

    def recorded_weights(self, model: str, verifier: str | None = None) -> RecordedWeights:
        """A model's preserved weights as recorded, proven in the signed log.

        ``verifier`` is the key the reader trusts; by default the ledger's own.
        """
        from projections.translog.proven import recorded_weights_in_log

        checkpoint = self.checkpoint_for_proof()
        trusted = verifier if verifier is not None else self.verifier_key()
        return recorded_weights_in_log(self.log, model, checkpoint, trusted)

    # -- auditing and bundles ------------------------------------------------------------------

    def verify(
        self,
        trusted: Sequence[str] | None = None,
        kept_checkpoint: str | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> Report:
        """Recompute every leaf and node; check every checkpoint (and a kept one)."""
        from projections.translog.verify import verify_log

        keys = list(trusted) if trusted else [self._own_verifier()]
        return verify_log(self.log, keys, kept_checkpoint, on_progress=on_progress)

    def export(
        self, directory: Path, on_progress: Callable[[int], None] | None = None
    ) -> tuple[int, str]:
        """Write an offline audit bundle of the whole log; events written and the checkpoint."""
        from projections.translog.bundle import export_bundle

        key = self.signing_key()
        return export_bundle(self.log, directory, key, verifier_key(key), on_progress=on_progress)

    def _own_verifier(self) -> str:
        try:
            return self.verifier_key()
        except SigningKeyError as error:
            raise SigningKeyError(
                f"{error}; or give the verifier key you trust with --key"
            ) from None
