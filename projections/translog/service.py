"""The transparency log's questions, answered once for every door: checkpoints and proofs.

`LogService` holds the log and knows where the ledger's signing key is. The CLI, the HTTP API
and the web console ask it which checkpoint to prove against, for proofs, leaves and tiles,
for a model's history with proofs, and for a model's preserved weights proven in the log; none
of them chooses a checkpoint or signs one itself.

**Writers sign; a read never writes.** Checkpoints are signed only by the writer-side methods:
`sign_checkpoint` (``reliquary checkpoint``, ``reliquary export``) and `sign_pending` (for a
scheduler: only when the log grew); the HTTP service's log follower does the same, at most once
per ``checkpoint_interval_seconds`` (`projections.translog.follower`). `catch_up` is a writer's
too. Every other method only reads: none signs a checkpoint, none takes events into the log,
so readers cannot make the database write, whatever they ask and however often.

The checkpoint a proof is made against (`checkpoint_for_proof`), the one rule:

- no size asked: the published checkpoint (`published_checkpoint`): the latest signed, or,
  under a witness policy in the ``required`` mode, the latest a quorum of witnesses cosigned.
  Events recorded since are in the log (their leaves are served) but not provable until a
  writer signs a checkpoint that covers them (the HTTP service does within its checkpoint
  interval) and, under ``required``, the witnesses cosign it;
- a size asked: the checkpoint of that size kept, the latest signed if there are several
  (after a key rotation);
- none kept: `CheckpointNotFound`, which says who signs one.

Under a witness policy (`projections.translog.witnessed.Witnessing`) every checkpoint this
service hands out carries its stored cosignatures that verify, appended to the operator's note
(a signed note's readers ignore lines by keys they do not know).

Answers that can never change (a leaf, a full tile or entry bundle) are kept in a bounded LRU
(`AnswerCache`: by default 4,096 answers and 64 MiB), so that a repeated read does not compute
them again.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.errors import (
    CheckpointNotFound,
    InvalidQuery,
    LogError,
    NoPreservedWeights,
    SigningKeyError,
)
from domain.identity import model_id
from projections.translog.checkpoint import verifier_key
from projections.translog.keys import load_signing_key

if TYPE_CHECKING:
    from domain.ledger import Ledger
    from projections.translog.cosignature_store import CosignatureStore
    from projections.translog.proven import RecordedWeights
    from projections.translog.recorders import StoredCheckpoint
    from projections.translog.tree import ConsistencyProof, InclusionProof, TransparencyLog
    from projections.translog.verify import Report
    from projections.translog.witness_policy import WitnessPolicy
    from projections.translog.witnessed import Witnessing, WitnessVerdict


# Who signs checkpoints, for the messages of a read that finds none.
WHO_SIGNS = (
    "checkpoints are signed by writers: `reliquary checkpoint`, or the HTTP service's log "
    "follower within its checkpoint interval (RELIQUARY_CHECKPOINT_INTERVAL_SECONDS)"
)
MAX_CHECKPOINT_PAGE = 1000
DEFAULT_CHECKPOINT_PAGE = 100


@dataclass(frozen=True)
class Blob:
    """Bytes that never change, with their strong entity tag (quoted, as HTTP sends it)."""

    data: bytes
    etag: str

    @classmethod
    def of(cls, data: bytes) -> Blob:
        """The bytes and their tag: the SHA-256 of the bytes, hex."""
        return cls(data, '"' + hashlib.sha256(data).hexdigest() + '"')


class AnswerCache:
    """A bounded, thread-safe LRU of immutable answers: at most ``max_entries`` and ``max_bytes``.

    An answer over ``max_bytes // 4`` is not kept (it would push out most of the others).
    Only answers that can never change are put in: a leaf by sequence, a tile by its path.
    """

    def __init__(self, max_entries: int = 4096, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = self.misses = 0
        self._items: OrderedDict[Hashable, Blob] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> Blob | None:
        """The answer kept under ``key`` (now the most recently used), or None."""
        with self._lock:
            blob = self._items.get(key)
            if blob is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return blob

    def put(self, key: Hashable, blob: Blob) -> None:
        """Keep an answer, dropping the least recently used ones beyond the bounds."""
        size = len(blob.data)
        if size > self.max_bytes // 4 or self.max_entries <= 0:
            return
        with self._lock:
            previous = self._items.pop(key, None)
            if previous is not None:
                self.bytes -= len(previous.data)
            self._items[key] = blob
            self.bytes += size
            while len(self._items) > self.max_entries or self.bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self.bytes -= len(dropped.data)


class LogService:
    """Checkpoints, proofs and leaves of one ledger's transparency log."""

    def __init__(
        self,
        log: TransparencyLog,
        signing_key_path: Path,
        cache: AnswerCache | None = None,
        witnessing: Witnessing | None = None,
        cosignatures: CosignatureStore | None = None,
    ) -> None:
        self.log = log
        self.signing_key_path = signing_key_path
        self.cache = cache if cache is not None else AnswerCache()
        self.witnessing = witnessing
        # Where the witnesses' cosignatures are kept (the policy's store, if there is one).
        self.cosignatures = witnessing.store if witnessing is not None else cosignatures

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
        return self.signing_key_or_none() is not None

    def verifier_key(self) -> str:
        """The public verifier key of the ledger's signing key."""
        return verifier_key(self.signing_key())

    def signing_key_or_none(self) -> str | None:
        """The private signing key, or None where this copy holds none (an auditor's)."""
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

    # -- signing: writers only ---------------------------------------------------------------

    def sign_checkpoint(self, on_progress: Callable[[int], None] | None = None) -> StoredCheckpoint:
        """Writer side: take every new event, then sign (or reuse) a checkpoint of the whole log.

        Needs the signing key (`SigningKeyError`). When the log has not grown since the latest
        checkpoint, that one is returned and nothing is signed.
        """
        key = self.signing_key()
        self.log.catch_up(on_progress=on_progress)
        return self.log.checkpoint(key)

    def sign_pending(self) -> StoredCheckpoint | None:
        """Writer side, for a schedule: sign a checkpoint if the log grew past the latest one.

        Takes every new event first. Returns the new checkpoint, or None when there was
        nothing new to sign or this process holds no signing key.
        """
        key = self.signing_key_or_none()
        if key is None:
            return None
        return self.log.sign_if_grown(key)

    # -- checkpoints: reads --------------------------------------------------------------------

    def latest_checkpoint(self) -> StoredCheckpoint:
        """The checkpoint signed last, as the operator signed it (`CheckpointNotFound` if none).

        What the witnesses are sent; readers are handed `published_checkpoint`.
        """
        latest = self.log.recorder.latest_checkpoint()
        if latest is None:
            raise CheckpointNotFound(f"the log has no signed checkpoint yet; {WHO_SIGNS}")
        return latest

    def published_checkpoint(self) -> StoredCheckpoint:
        """The checkpoint the log publishes, with the cosignatures that verify.

        Without a witness policy, or in the ``advisory`` mode, the latest signed; in the
        ``required`` mode, the latest a quorum cosigned (`CheckpointNotFound` if none has).
        """
        latest = self.latest_checkpoint()
        if self.witnessing is None:
            return latest
        return self.witnessing.published(latest, self.log.checkpoints_of_size)

    def witness_policy(self) -> WitnessPolicy | None:
        """The witness policy the log publishes under, if it has one."""
        return self.witnessing.policy if self.witnessing is not None else None

    def vouching(self, note: str, policy: WitnessPolicy | None = None) -> WitnessVerdict | None:
        """Which witnesses of `policy` (default: the log's) vouch for a checkpoint note."""
        from projections.translog.witnessed import check_witnesses

        chosen = policy if policy is not None else self.witness_policy()
        return check_witnesses(note, chosen) if chosen is not None else None

    def checkpoint_for_proof(self, size: int | None = None) -> StoredCheckpoint:
        """The signed checkpoint a proof is made against (the rule in the module docstring).

        Only reads: it never signs, even where this process holds the key.
        """
        if size is None:
            return self.published_checkpoint()
        kept = self.log.checkpoints_of_size(size)
        if not kept:
            raise CheckpointNotFound(
                f"no signed checkpoint of size {size}; `reliquary checkpoint --list` "
                "(or GET /log/checkpoints) shows the sizes kept",
                size=size,
            )
        if self.witnessing is None:
            return kept[-1]
        return self.witnessing.cosigned(kept[-1])

    def is_signed_size(self, size: int) -> bool:
        """Whether a checkpoint of this tree size was signed."""
        return bool(self.log.checkpoints_of_size(size))

    def checkpoint_page(
        self, after: int = 0, limit: int = DEFAULT_CHECKPOINT_PAGE
    ) -> tuple[list[StoredCheckpoint], int | None]:
        """A page of checkpoints in the order signed, and the cursor of the next (or None).

        ``after`` is the cursor a previous page returned (0: from the first); ``limit`` is 1
        to `MAX_CHECKPOINT_PAGE`.
        """
        if not 1 <= limit <= MAX_CHECKPOINT_PAGE:
            raise InvalidQuery(f"limit must be from 1 to {MAX_CHECKPOINT_PAGE}; got {limit}")
        if not 0 <= after <= 2**62:
            raise InvalidQuery(f"after must be a cursor from a previous page; got {after}")
        return self.log.checkpoint_page(after, limit)

    # -- proofs and leaves: reads --------------------------------------------------------------

    def inclusion_proof(
        self, sequence: int, size: int | None = None
    ) -> tuple[InclusionProof, StoredCheckpoint]:
        """Proof that the event at ``sequence`` is in a signed tree, and that checkpoint."""
        checkpoint = self.checkpoint_for_proof(size)
        if size is None and checkpoint.size <= sequence < self.log.size():
            raise CheckpointNotFound(
                f"sequence {sequence} is in the log but not yet in a {self._published_kind} "
                f"checkpoint (the latest is of {checkpoint.size} events); {WHO_SIGNS}",
                sequence=sequence,
                size=checkpoint.size,
            )
        return self.log.inclusion_proof(sequence, checkpoint.size), checkpoint

    def inclusion_document(
        self, sequence: int, size: int | None = None, policy: WitnessPolicy | None = None
    ) -> dict[str, Any]:
        """An inclusion proof as every door presents it (JSON): the proof, its checkpoint, and
        which witnesses of `policy` (default: the log's) vouch for that checkpoint."""
        proof, checkpoint = self.inclusion_proof(sequence, size)
        verdict = self.vouching(checkpoint.note, policy)
        return {
            "sequence": proof.index,
            "leaf_index": proof.index,
            "tree_size": proof.size,
            "leaf_hash": proof.leaf_hash.hex(),
            "audit_path": [step.hex() for step in proof.path],
            "root": proof.root.hex(),
            "checkpoint": checkpoint.note,
            "witnesses": verdict.as_json() if verdict is not None else None,
        }

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """Proof that the tree of ``old_size`` events is a prefix of the tree of ``new_size``.

        ``new_size`` defaults to the published checkpoint's size.
        """
        if new_size is None:
            new_size = self.published_checkpoint().size
        return self.log.consistency_proof(old_size, new_size)

    def leaf(self, sequence: int) -> bytes:
        """The leaf bytes (RFC 8785 record) of one event."""
        return self.leaf_blob(sequence).data

    def leaf_blob(self, sequence: int) -> Blob:
        """The leaf bytes of one event and their tag, computed once (then from the cache)."""
        from projections.translog.tiles import leaf_bytes

        key = ("leaf", sequence)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        if not 0 <= sequence < self.log.size():
            raise LogError(f"no event at sequence {sequence} in the log", sequence=sequence)
        blob = Blob.of(leaf_bytes(self.log, sequence, 1)[0])
        self.cache.put(key, blob)
        return blob

    def leaf_hash(self, sequence: int) -> bytes | None:
        """The stored leaf hash of one event, if the log has taken it."""
        return self.log.recorder.nodes([(0, sequence)]).get((0, sequence))

    def tile(self, path: str) -> bytes:
        """A C2SP tlog-tiles hash tile or entry bundle of the tree of the latest checkpoint."""
        return self.tile_blob(path).data

    def tile_blob(self, path: str) -> Blob:
        """A tile's bytes and their tag; a tile served once is kept (its bytes never change)."""
        from projections.translog.tiles import read_tile

        key = ("tile", path)
        cached = self.cache.get(key)
        if cached is not None:
            # It was in a signed tree then, so it is in every later one, with the same bytes.
            return cached
        blob = Blob.of(read_tile(self.log, self.checkpoint_for_proof().size, path))
        self.cache.put(key, blob)
        return blob

    def proven_history(
        self, model: str, version: int, policy: WitnessPolicy | None = None
    ) -> dict[str, Any]:
        """A model's versions 1..version, each with its inclusion proof in a signed checkpoint,
        and which witnesses of `policy` (default: the log's) vouch for that checkpoint."""
        from projections.translog.proven import proven_history

        checkpoint = self.checkpoint_for_proof()
        self._require_covered(model, version, checkpoint)
        proven = proven_history(self.log, model, version, checkpoint)
        key = self.signing_key_or_none()
        proven["verifier_key"] = verifier_key(key) if key else None
        verdict = self.vouching(checkpoint.note, policy)
        proven["witnesses"] = verdict.as_json() if verdict is not None else None
        return proven

    def recorded_weights(self, model: str, verifier: str | None = None) -> RecordedWeights:
        """A model's preserved weights as recorded, proven in the signed log.

        ``verifier`` is the key the reader trusts; by default the ledger's own.
        """
        from projections.translog.proven import recorded_weights_in_log

        weights = self.ledger.state(model).weights
        if weights is None:
            raise NoPreservedWeights(f"model {model!r} has no preserved weights on record")
        checkpoint = self.checkpoint_for_proof()
        self._require_covered(model, weights.version, checkpoint)
        trusted = verifier if verifier is not None else self.verifier_key()
        return recorded_weights_in_log(self.log, model, checkpoint, trusted)

    @property
    def _published_kind(self) -> str:
        """How the published checkpoint is called in messages."""
        witnessing = self.witnessing
        return "witnessed" if witnessing is not None and witnessing.required else "signed"

    def _require_covered(self, model: str, version: int, checkpoint: StoredCheckpoint) -> None:
        """`CheckpointNotFound` unless the checkpoint covers the model's version."""
        sequence = self.sequence_of(model, version)
        if sequence is None or sequence >= checkpoint.size:
            raise CheckpointNotFound(
                f"version {version} of model {model!r} is not in a {self._published_kind} "
                f"checkpoint yet (the latest is of {checkpoint.size} events); {WHO_SIGNS}",
                size=checkpoint.size,
            )

    # -- auditing and bundles ------------------------------------------------------------------

    def verify(
        self,
        trusted: Sequence[str] | None = None,
        kept_checkpoint: str | None = None,
        on_progress: Callable[[int], None] | None = None,
        policy: WitnessPolicy | None = None,
    ) -> Report:
        """Recompute every leaf and node; check every checkpoint (and a kept one).

        Under a witness policy (`policy`, default the log's own), also check every stored
        cosignature against the policy and say which witnesses vouch for the published
        checkpoint (`projections.translog.witnessed.audit_cosignatures`).
        """
        from projections.translog.verify import verify_log
        from projections.translog.witnessed import audit_cosignatures

        keys = list(trusted) if trusted else [self._own_verifier()]
        report = verify_log(self.log, keys, kept_checkpoint, on_progress=on_progress)
        chosen = policy if policy is not None else self.witness_policy()
        if chosen is not None and self.cosignatures is not None:
            audit_cosignatures(report, self.log.checkpoints(), self.cosignatures, chosen)
        return report

    def export_archive(self) -> bytes:
        """`export` as one ``.tar.gz`` (a folder ``bundle/``), for a door that hands out a file.

        Commitments only (no openings): what any reader of the records may hold.
        """
        import io
        import tarfile
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp) / "bundle"
            self.export(directory)
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
                archive.add(directory, arcname="bundle")
        return buffer.getvalue()

    def export(
        self,
        directory: Path,
        on_progress: Callable[[int], None] | None = None,
        *,
        disclose_to: str | None = None,
    ) -> tuple[int, str]:
        """Write an offline audit bundle of the latest signed checkpoint's tree.

        Only reads: the bundle holds the events the latest checkpoint covers and that
        checkpoint (a writer signs first if it wants the newest events in it: `reliquary
        export` does). Needs the signing key for the verifier key it writes. With
        ``disclose_to`` (`domain.disclosure.bundle_recipient`: a role, ``researcher:ID`` or
        ``none``), the bundle holds the openings of the private values that recipient may read
        in clear (`domain.disclosure.may_open`).
        """
        from domain.disclosure import bundle_recipient
        from domain.sealed import pseudonym
        from projections.translog.bundle import export_bundle
        from projections.translog.tree import AtCheckpoint

        recipient = bundle_recipient(disclose_to or "none")
        opens: Callable[[str], bool] | None = None
        if recipient.reader is not None:
            pseudonym_key = self.log.ledger.pseudonym_key()
            opens = partial(recipient.opens, pseudonym_of=partial(pseudonym, pseudonym_key))
        key = self.signing_key()
        signed = AtCheckpoint(self.log, self.published_checkpoint())
        return export_bundle(
            signed, directory, key, verifier_key(key), on_progress=on_progress, disclose=opens
        )

    def _own_verifier(self) -> str:
        try:
            return self.verifier_key()
        except SigningKeyError as error:
            raise SigningKeyError(
                f"{error}; or give the verifier key you trust with --key"
            ) from None
