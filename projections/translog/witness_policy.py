"""The witness client: a trust policy of C2SP witnesses and the submission of a checkpoint.

A policy file (JSON, in the spirit of C2SP's tlog-policy draft) names the witnesses this log
asks to cosign its checkpoints and how many cosignatures make a checkpoint count::

    {"quorum": 2,
     "witnesses": [{"name": "witness.example/w1",
                    "url": "https://witness.example/witness",
                    "verifier_key": "witness.example/w1+<hex key ID>+<base64(0x04 || key)>"}]}

``url`` is the witness's submission prefix: the client posts to ``<url>/add-checkpoint``.
``name`` must be the name in the verifier key, as it is the name on the cosignature line.

`submit_checkpoint` sends one signed checkpoint to every witness (c2sp.org/tlog-witness,
"add-checkpoint") and reads every answer the spec defines:

- 200: the body is the witness's cosignature line(s); kept only once they verify against the
  witness's key from the policy (a line that does not is ``forged``, never counted);
- 409: the witness's size; the submission is retried once from that size, with the consistency
  proof the caller supplies for it (``proof_from``); a witness ahead of the checkpoint, or a
  second 409, is a ``conflict``;
- 422: the witness found the proof inconsistent with what it cosigned before: an ``alarm``
  (a possible split view), reported and never retried;
- 403/404: the witness does not know this log or key: ``not-configured``.

The HTTP call is injected (``post``): httpx in production (`api.cli.witness_submit_cmds`), an
in-process call to a `Witness` in tests, so this module holds the rules and no I/O.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.errors import MalformedError, VerificationError, WitnessPolicyError
from projections.translog.checkpoint import SIGNATURE_LINE_PREFIX, Checkpoint, _split_note
from projections.translog.cosignature import _verifier_key, verify_cosignature
from projections.translog.witness import MAX_PROOF_LINES

__all__ = [
    "COSIGNATURES_TABLE",
    "MAX_ANSWER_BYTES",
    "MAX_POLICY_BYTES",
    "MAX_POLICY_WITNESSES",
    "MAX_URL_LENGTH",
    "Outcome",
    "PolicyWitness",
    "PostAnswer",
    "SubmissionReport",
    "WitnessOutcome",
    "WitnessPolicy",
    "WitnessPolicyError",
    "WitnessUnreachable",
    "load_witness_policy",
    "parse_witness_policy",
    "submission_body",
    "submit_checkpoint",
]

# Where the verified cosignatures are kept (`cosignature_store`; named here, with no I/O, so
# that the hardened deployment's grants can name it without importing the log service).
COSIGNATURES_TABLE = "checkpoint_cosignatures"
# A checkpoint note carries at most 100 signature lines (`checkpoint.MAX_SIGNATURES`): the
# log's own, and one per witness, with room for a log key rotation.
MAX_POLICY_WITNESSES = 64
# A policy is a few lines per witness; anything larger is not a policy.
MAX_POLICY_BYTES = 256 * 1024
MAX_URL_LENGTH = 2048
# How many witnesses are asked at the same time (a policy may list up to 64).
MAX_PARALLEL_SUBMISSIONS = 16
# A 200 answer is a few signature lines of under 200 bytes each.
MAX_ANSWER_BYTES = 16 * 1024
_URL = re.compile(r"https?://[^\s/?#]+(/[^\s?#]*)?")
_SIZE = re.compile(r"(0|[1-9][0-9]{0,19})\n")


class WitnessUnreachable(Exception):
    """Raised by a ``post`` when the witness could not be asked (network, timeout)."""


@dataclass(frozen=True)
class PolicyWitness:
    """One witness of the policy: its name, submission prefix and cosigner verifier key."""

    name: str
    url: str
    verifier_key: str

    @property
    def add_checkpoint_url(self) -> str:
        return self.url.rstrip("/") + "/add-checkpoint"


@dataclass(frozen=True)
class WitnessPolicy:
    """The witnesses and how many of their cosignatures make a checkpoint count."""

    witnesses: tuple[PolicyWitness, ...]
    quorum: int


def parse_witness_policy(text: str, source: str = "witness policy") -> WitnessPolicy:
    """Parse a policy document; `WitnessPolicyError` naming `source` and the problem."""

    def fail(problem: str) -> WitnessPolicyError:
        return WitnessPolicyError(f"{source}: {problem}")

    if len(text.encode("utf-8")) > MAX_POLICY_BYTES:
        raise fail(f"expected at most {MAX_POLICY_BYTES} bytes")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise fail(f"not JSON: {error}") from None
    if not isinstance(document, dict) or set(document) != {"quorum", "witnesses"}:
        raise fail("expected an object with exactly 'quorum' and 'witnesses'")
    entries, quorum = document["witnesses"], document["quorum"]
    if not isinstance(entries, list) or not entries:
        raise fail("expected a non-empty 'witnesses' list")
    if len(entries) > MAX_POLICY_WITNESSES:
        raise fail(f"expected at most {MAX_POLICY_WITNESSES} witnesses, got {len(entries)}")
    witnesses = tuple(_witness(number, entry, fail) for number, entry in enumerate(entries, 1))
    for what, values in (
        ("name", [w.name for w in witnesses]),
        ("verifier_key", [w.verifier_key for w in witnesses]),
    ):
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise fail(f"expected each witness's {what} once, got {repeated[0]!r} twice")
    if isinstance(quorum, bool) or not isinstance(quorum, int):
        raise fail(f"expected an integer 'quorum', got {quorum!r}")
    if not 1 <= quorum <= len(witnesses):
        raise fail(f"expected 1 <= quorum <= {len(witnesses)} (the witnesses), got {quorum}")
    return WitnessPolicy(witnesses, quorum)


def _witness(number: int, entry: Any, fail: Callable[[str], WitnessPolicyError]) -> PolicyWitness:
    if not isinstance(entry, dict) or set(entry) != {"name", "url", "verifier_key"}:
        raise fail(f"witness {number}: expected exactly 'name', 'url' and 'verifier_key'")
    name, url, key = entry["name"], entry["url"], entry["verifier_key"]
    if not all(isinstance(value, str) for value in (name, url, key)):
        raise fail(f"witness {number}: expected strings")
    if len(url) > MAX_URL_LENGTH or not _URL.fullmatch(url):
        raise fail(
            f"witness {number}: expected an http(s) URL without query or fragment of at most "
            f"{MAX_URL_LENGTH} characters, got {url[:80]!r}"
        )
    try:
        key_name, _, _ = _verifier_key(key)
    except MalformedError as error:
        raise fail(f"witness {number}: {error}") from None
    if key_name != name:
        raise fail(
            f"witness {number}: expected the name of its verifier key, {key_name!r}, got {name!r}"
        )
    return PolicyWitness(name, url, key)


def load_witness_policy(path: Path) -> WitnessPolicy:
    """Read and parse the policy file at `path`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise WitnessPolicyError(f"witness policy {path}: {error}") from None
    return parse_witness_policy(text, f"witness policy {path}")


@dataclass(frozen=True)
class PostAnswer:
    """What a witness answered: the HTTP status and the body's text."""

    status: int
    body: str


class Outcome:
    """The outcome of one witness, in the policy's words (strings, for JSON output)."""

    COSIGNED = "cosigned"
    ALARM = "alarm"
    NOT_CONFIGURED = "not-configured"
    CONFLICT = "conflict"
    FORGED = "forged"
    ERROR = "error"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class WitnessOutcome:
    """What one witness did with the checkpoint, after at most one retry."""

    witness: str
    outcome: str
    detail: str
    attempts: int
    cosignature: str | None = None
    timestamp: int | None = None


@dataclass(frozen=True)
class SubmissionReport:
    """Every witness's outcome, the verified cosignature lines, and whether the quorum is met."""

    note: str
    quorum: int
    outcomes: tuple[WitnessOutcome, ...]

    @property
    def cosignatures(self) -> tuple[str, ...]:
        return tuple(o.cosignature for o in self.outcomes if o.cosignature is not None)

    @property
    def quorum_met(self) -> bool:
        return len(self.cosignatures) >= self.quorum

    @property
    def alarms(self) -> tuple[WitnessOutcome, ...]:
        return tuple(o for o in self.outcomes if o.outcome == Outcome.ALARM)

    @property
    def cosigned_note(self) -> str:
        """The checkpoint note with every verified cosignature line appended."""
        return self.note + "".join(self.cosignatures)


Post = Callable[[PolicyWitness, bytes], PostAnswer]
ProofFrom = Callable[[int], Sequence[bytes]]


def submission_body(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """The tlog-witness ``add-checkpoint`` body: ``old N``, base64 proof lines, blank, note."""
    if len(proof) > MAX_PROOF_LINES:
        raise ValueError(f"expected at most {MAX_PROOF_LINES} proof hashes, got {len(proof)}")
    lines = [f"old {old_size}", *(base64.b64encode(h).decode("ascii") for h in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode("utf-8")


def submit_checkpoint(
    policy: WitnessPolicy,
    note: str,
    old_size: int,
    proof: Sequence[bytes],
    post: Post,
    proof_from: ProofFrom,
) -> SubmissionReport:
    """Submit the signed checkpoint `note` to every witness of `policy`.

    `old_size` and `proof` are the first guess of each witness's size (the last size the log
    submitted) and the consistency proof from it; on a 409 the witness's own size is used once,
    with ``proof_from(size)`` (the proof from that size to the note's). The witnesses are asked
    at once, each on a thread of its own (at most `MAX_PARALLEL_SUBMISSIONS`), so a round takes
    as long as the slowest witness, not their sum; the report lists them in the policy's order.
    """
    text, _ = _split_note(note)  # MalformedError if not a note
    checkpoint = Checkpoint.parse(text)
    if not 0 <= old_size <= checkpoint.size:
        raise ValueError(f"expected 0 <= old size <= {checkpoint.size}, got {old_size}")

    def ask(witness: PolicyWitness) -> WitnessOutcome:
        return _submit_one(witness, note, checkpoint.size, old_size, proof, post, proof_from)

    workers = min(len(policy.witnesses), MAX_PARALLEL_SUBMISSIONS)
    with ThreadPoolExecutor(workers, thread_name_prefix="witness") as pool:
        outcomes = tuple(pool.map(ask, policy.witnesses))
    return SubmissionReport(note, policy.quorum, outcomes)


def _submit_one(
    witness: PolicyWitness,
    note: str,
    size: int,
    old_size: int,
    proof: Sequence[bytes],
    post: Post,
    proof_from: ProofFrom,
) -> WitnessOutcome:
    attempts = 0
    while True:
        attempts += 1
        try:
            answer = post(witness, submission_body(old_size, proof, note))
        except WitnessUnreachable as error:
            return WitnessOutcome(witness.name, Outcome.UNREACHABLE, str(error), attempts)
        body = answer.body[: MAX_ANSWER_BYTES + 1]
        if answer.status == 200:
            return _cosigned(witness, note, body, attempts)
        if answer.status == 422:
            return WitnessOutcome(
                witness.name,
                Outcome.ALARM,
                "the witness refused the consistency proof from its last cosigned size "
                f"(a possible split view): {body.strip()[:200]}",
                attempts,
            )
        if answer.status in (403, 404):
            return WitnessOutcome(
                witness.name,
                Outcome.NOT_CONFIGURED,
                f"{answer.status}: the witness does not know this log or its key: "
                f"{body.strip()[:200]}",
                attempts,
            )
        if answer.status != 409:
            return WitnessOutcome(
                witness.name,
                Outcome.ERROR,
                f"unexpected status {answer.status}: {body.strip()[:200]}",
                attempts,
            )
        match = _SIZE.fullmatch(body)
        if not match:
            return WitnessOutcome(
                witness.name, Outcome.ERROR, f"409 without a size: {body[:80]!r}", attempts
            )
        witness_size = int(match.group(1))
        if witness_size > size:
            return WitnessOutcome(
                witness.name,
                Outcome.CONFLICT,
                f"the witness has cosigned size {witness_size}, past this checkpoint's {size}",
                attempts,
            )
        if attempts > 1:
            return WitnessOutcome(
                witness.name,
                Outcome.CONFLICT,
                f"409 again (witness size {witness_size}) after one retry",
                attempts,
            )
        old_size = witness_size
        # Every tree extends the empty one, and a tree itself: no proof for either.
        proof = [] if witness_size in (0, size) else list(proof_from(witness_size))


def _cosigned(witness: PolicyWitness, note: str, body: str, attempts: int) -> WitnessOutcome:
    def forged(problem: str) -> WitnessOutcome:
        return WitnessOutcome(witness.name, Outcome.FORGED, problem, attempts)

    if len(body) > MAX_ANSWER_BYTES:
        return forged(f"the answer exceeds {MAX_ANSWER_BYTES} bytes")
    if not body.endswith("\n") or not all(
        line.startswith(SIGNATURE_LINE_PREFIX) for line in body[:-1].split("\n")
    ):
        return forged("the answer is not a sequence of signature lines")
    try:
        timestamp = verify_cosignature(note + body, witness.verifier_key)
        _, key_id, _ = _verifier_key(witness.verifier_key)
        _, lines = _split_note(note + body)
    except (VerificationError, MalformedError) as error:
        return forged(f"the cosignature does not verify against the policy's key: {error}")
    # Keep this witness's lines only: another key's line in its answer vouches for nothing.
    mine = [
        line
        for line in body[:-1].split("\n")
        if any(
            parsed.name == witness.name
            and parsed.key_id == key_id
            and line == _line(parsed.name, parsed.key_id + parsed.signature)
            for parsed in lines
        )
    ]
    return WitnessOutcome(
        witness.name,
        Outcome.COSIGNED,
        f"cosigned at {timestamp}",
        attempts,
        "".join(line + "\n" for line in mine),
        timestamp,
    )


def _line(name: str, raw: bytes) -> str:
    return f"{SIGNATURE_LINE_PREFIX}{name} {base64.b64encode(raw).decode('ascii')}"
