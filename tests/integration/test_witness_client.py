"""The witness client: a checkpoint submitted to two Reliquary witnesses and a tiny one.

The two Reliquary witnesses run in process, each with its own cosigner key and store (one on
each backend's fresh store, one on its own SQLite file). The third, `TinyWitness`, is written
here from c2sp.org/tlog-witness, tlog-cosignature, signed-note and RFC 9162 alone (no
Reliquary code), so the client is checked against a reading of the spec that is not ours.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from api.bootstrap import Services, build_services
from api.settings import Settings
from projections.translog.checkpoint import Checkpoint, generate_signing_key, sign_checkpoint
from projections.translog.checkpoint import verifier_key as note_verifier_key
from projections.translog.cosignature import (
    cosign,
    cosigner_verifier_key,
    generate_cosigner_key,
    verify_cosignature,
)
from projections.translog.witness import Witness
from projections.translog.witness_policy import (
    MAX_POLICY_WITNESSES,
    Outcome,
    PolicyWitness,
    PostAnswer,
    WitnessPolicy,
    WitnessPolicyError,
    WitnessUnreachable,
    parse_witness_policy,
    submit_checkpoint,
)
from tests.rfc6962 import consistency, leaf, node, root

ORIGIN = "example.com/witnessed-log"


class Log:
    """A log in the test: its leaves and its note key."""

    def __init__(self, key: str, prefix: bytes = b"entry") -> None:
        self.key = key
        self.leaves = [leaf(prefix + b" %d" % i) for i in range(64)]

    def note(self, size: int) -> str:
        return sign_checkpoint(Checkpoint(ORIGIN, size, root(self.leaves[:size])), self.key)

    def proof_to(self, size: int):  # type: ignore[no-untyped-def]
        return lambda old: consistency(old, self.leaves[:size])


def _verify_consistency(m: int, n: int, old: bytes, new: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2, step by step."""
    if m == n:
        return not proof and old == new
    if m == 0:
        return False
    if m & (m - 1) == 0:  # step 1: m a power of two
        proof = [old, *proof]
    if not proof:
        return False
    fn, sn = m - 1, n - 1
    while fn & 1:  # step 3
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old and sr == new and sn == 0


class TinyWitness:
    """A C2SP tlog-witness from the specs alone: in memory, one log, Ed25519."""

    def __init__(self, name: str, log_key: str, origin: str = ORIGIN) -> None:
        self.name, self.origin = name, origin
        self.key = Ed25519PrivateKey.generate()
        public = self.key.public_key().public_bytes_raw()
        self.key_id = hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4]
        encoded = base64.b64encode(bytes([4]) + public).decode()
        self.vkey = f"{name}+{self.key_id.hex()}+{encoded}"
        # The log's vkey: <name>+<hex id>+base64(0x01 || key) (signed-note).
        log_name, log_id, data = note_verifier_key(log_key).split("+", 2)
        self.log_name, self.log_id = log_name, bytes.fromhex(log_id)
        self.log_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(data)[1:])
        self.size, self.root = 0, b""
        self.clock = 1_700_000_000

    def post(self, _: PolicyWitness, body: bytes) -> PostAnswer:
        head, _, note = body.decode().partition("\n\n")
        lines = head.split("\n")
        old = int(lines[0].removeprefix("old "))
        proof = [base64.b64decode(line) for line in lines[1:]]
        split = note.rfind("\n\n")
        text, signatures = note[: split + 1], note[split + 2 :].splitlines()
        origin, size_text, root64 = text.splitlines()[:3]
        if origin != self.origin:
            return PostAnswer(404, "unknown log\n")
        if not any(self._log_signed(text, line) for line in signatures):
            return PostAnswer(403, "bad signature\n")
        size, root = int(size_text), base64.b64decode(root64)
        if old != self.size:
            return PostAnswer(409, f"{self.size}\n")
        if self.size and not _verify_consistency(self.size, size, self.root, root, proof):
            return PostAnswer(422, "inconsistent\n")
        self.size, self.root = size, root
        message = f"cosignature/v1\ntime {self.clock}\n{text}".encode()
        blob = self.key_id + struct.pack(">Q", self.clock) + self.key.sign(message)
        return PostAnswer(200, f"\u2014 {self.name} {base64.b64encode(blob).decode()}\n")

    def _log_signed(self, text: str, line: str) -> bool:
        name, _, data = line.removeprefix("\u2014 ").partition(" ")
        raw = base64.b64decode(data)
        if name != self.log_name or raw[:4] != self.log_id:
            return False
        try:
            self.log_key.verify(raw[4:], text.encode())
        except InvalidSignature:
            return False
        return True


def _write_private(path: Path, text: str) -> Path:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text + "\n")
    return path


class Reliquaries:
    """Two Reliquary witnesses of one log, and their policy entries."""

    def __init__(self, database_url: str, tmp_path: Path, log_key: str) -> None:
        self.opened: list[Services] = []
        self.witnesses: dict[str, Witness] = {}
        self.entries: list[PolicyWitness] = []
        config = tmp_path / "witness.json"
        config.write_text(
            json.dumps({"logs": [{"origin": ORIGIN, "verifier_key": note_verifier_key(log_key)}]})
        )
        urls = (database_url, f"sqlite:///{tmp_path / 'second.db'}")
        for number, url in enumerate(urls, 1):
            name = f"witness{number}.example/reliquary"
            key = generate_cosigner_key(name)
            services = build_services(
                Settings(
                    database_url=url,
                    witness_config=config,
                    witness_key=_write_private(tmp_path / f"w{number}.key", key),
                    signing_key=tmp_path / f"ledger{number}.key",
                )
            )
            self.opened.append(services)
            assert services.witness is not None
            self.witnesses[name] = services.witness
            self.entries.append(
                PolicyWitness(
                    name, f"https://w{number}.example/witness", cosigner_verifier_key(key)
                )
            )

    def post(self, witness: PolicyWitness, body: bytes) -> PostAnswer:
        answer = self.witnesses[witness.name].add_checkpoint(body)
        return PostAnswer(answer.status, answer.body)


@pytest.fixture
def log() -> Log:
    return Log(generate_signing_key(ORIGIN))


@pytest.fixture
def reliquaries(database_url: str, tmp_path: Path, log: Log) -> Iterator[Reliquaries]:
    made = Reliquaries(database_url, tmp_path, log.key)
    yield made
    for services in made.opened:
        services.close()


@pytest.fixture
def tiny(log: Log) -> TinyWitness:
    return TinyWitness("tiny.example/witness", log.key)


def _policy(entries: list[PolicyWitness], quorum: int) -> WitnessPolicy:
    return WitnessPolicy(tuple(entries), quorum)


def _poster(reliquaries: Reliquaries, tiny: TinyWitness):  # type: ignore[no-untyped-def]
    def post(witness: PolicyWitness, body: bytes) -> PostAnswer:
        if witness.name == tiny.name:
            return tiny.post(witness, body)
        return reliquaries.post(witness, body)

    return post


def test_three_witnesses_cosign_as_the_log_grows(reliquaries, tiny, log) -> None:  # type: ignore[no-untyped-def]
    tiny_entry = PolicyWitness(tiny.name, "http://tiny.example/", tiny.vkey)
    policy = _policy([*reliquaries.entries, tiny_entry], 3)
    post = _poster(reliquaries, tiny)
    old = 0
    for size in (3, 8, 21):
        note = log.note(size)
        report = submit_checkpoint(
            policy, note, old, log.proof_to(size)(old) if old else [], post, log.proof_to(size)
        )
        assert [o.outcome for o in report.outcomes] == [Outcome.COSIGNED] * 3
        assert report.quorum_met and len(report.cosignatures) == 3 and not report.alarms
        for entry in policy.witnesses:  # each line verifies on its own, by its own key
            verify_cosignature(report.cosigned_note, entry.verifier_key)
        old = size


def test_a_409_is_retried_once_from_the_witness_s_size(reliquaries, tiny, log) -> None:  # type: ignore[no-untyped-def]
    tiny_entry = PolicyWitness(tiny.name, "http://tiny.example/", tiny.vkey)
    policy = _policy([reliquaries.entries[0], tiny_entry], 2)
    post = _poster(reliquaries, tiny)
    # Only the tiny witness saw size 5; the Reliquary witness saw nothing.
    assert tiny.post(tiny_entry, b"old 0\n\n" + log.note(5).encode()).status == 200
    asked: list[int] = []

    def proof_from(old: int) -> list[bytes]:
        asked.append(old)
        return log.proof_to(13)(old)

    # The client believes every witness is at 9 (wrong for both): each answers 409 once.
    report = submit_checkpoint(policy, log.note(13), 9, log.proof_to(13)(9), post, proof_from)
    assert [(o.outcome, o.attempts) for o in report.outcomes] == [
        (Outcome.COSIGNED, 2),
        (Outcome.COSIGNED, 2),
    ]
    assert asked == [5]  # from 0 no proof is needed; from 5 the caller supplied it
    assert report.quorum_met and (tiny.size, tiny.root) == (13, root(log.leaves[:13]))


def test_a_fork_is_an_alarm_and_the_quorum_is_not_met(reliquaries, tiny, log) -> None:  # type: ignore[no-untyped-def]
    tiny_entry = PolicyWitness(tiny.name, "http://tiny.example/", tiny.vkey)
    policy = _policy([*reliquaries.entries, tiny_entry], 2)
    post = _poster(reliquaries, tiny)
    fork = Log(log.key, prefix=b"other history")  # same key, another history
    first = reliquaries.entries[0]
    # The operator showed the first witness, and the tiny one, the fork at size 8.
    assert reliquaries.post(first, b"old 0\n\n" + fork.note(8).encode()).status == 200
    assert tiny.post(tiny_entry, b"old 0\n\n" + fork.note(8).encode()).status == 200
    report = submit_checkpoint(policy, log.note(12), 8, log.proof_to(12)(8), post, log.proof_to(12))
    outcomes = {o.witness: o for o in report.outcomes}
    assert outcomes[first.name].outcome == Outcome.ALARM
    assert outcomes[first.name].attempts == 1  # an alarm is never retried
    assert outcomes[tiny.name].outcome == Outcome.ALARM
    # The second witness had seen nothing: 409 "0", then cosigned from 0.
    assert outcomes[reliquaries.entries[1].name].outcome == Outcome.COSIGNED
    assert len(report.alarms) == 2 and len(report.cosignatures) == 1
    assert not report.quorum_met
    assert reliquaries.witnesses[first.name].store.state(ORIGIN).size == 8  # type: ignore[union-attr]


def test_a_forged_cosignature_is_refused(reliquaries, tiny, log) -> None:  # type: ignore[no-untyped-def]
    entry = reliquaries.entries[0]
    impostor_key = generate_cosigner_key(entry.name)  # same name, another key

    def impostor(witness: PolicyWitness, body: bytes) -> PostAnswer:
        return PostAnswer(200, cosign(log.note(4), impostor_key, 1_700_000_000))

    def tampered(witness: PolicyWitness, body: bytes) -> PostAnswer:
        good = reliquaries.post(witness, body).body
        name, raw64 = good[len("\u2014 ") : -1].split(" ")
        raw = bytearray(base64.b64decode(raw64))
        raw[-1] ^= 1
        return PostAnswer(200, f"\u2014 {name} {base64.b64encode(raw).decode()}\n")

    def garbage(witness: PolicyWitness, body: bytes) -> PostAnswer:
        return PostAnswer(200, "cosigned, trust me\n")

    for post in (impostor, tampered, garbage):
        report = submit_checkpoint(_policy([entry], 1), log.note(4), 0, [], post, log.proof_to(4))
        assert [o.outcome for o in report.outcomes] == [Outcome.FORGED]
        assert report.cosignatures == () and not report.quorum_met


def test_unknown_log_unreachable_and_odd_answers(reliquaries, log) -> None:  # type: ignore[no-untyped-def]
    entry = reliquaries.entries[0]

    def answer(status: int, body: str):  # type: ignore[no-untyped-def]
        def post(witness: PolicyWitness, _: bytes) -> PostAnswer:
            return PostAnswer(status, body)

        return post

    def down(witness: PolicyWitness, _: bytes) -> PostAnswer:
        raise WitnessUnreachable("connection refused")

    cases = [
        (answer(404, "unknown log\n"), Outcome.NOT_CONFIGURED),
        (answer(403, "bad key\n"), Outcome.NOT_CONFIGURED),
        (answer(409, "99\n"), Outcome.CONFLICT),  # the witness is past this checkpoint
        (answer(409, "4\n"), Outcome.CONFLICT),  # 409 again after the retry
        (answer(409, "four\n"), Outcome.ERROR),
        (answer(500, "oops\n"), Outcome.ERROR),
        (down, Outcome.UNREACHABLE),
    ]
    for post, expected in cases:
        report = submit_checkpoint(_policy([entry], 1), log.note(4), 0, [], post, log.proof_to(4))
        assert report.outcomes[0].outcome == expected, report.outcomes[0]
        assert not report.quorum_met


def _entry(name: str) -> dict[str, str]:
    key = cosigner_verifier_key(generate_cosigner_key(name))
    return {"name": name, "url": "https://w.example/witness", "verifier_key": key}


def test_a_policy_parses_and_names_its_problems() -> None:
    one, two = _entry("w1.example"), _entry("w2.example")
    policy = parse_witness_policy(json.dumps({"quorum": 2, "witnesses": [one, two]}))
    assert policy.quorum == 2 and [w.name for w in policy.witnesses] == ["w1.example", "w2.example"]
    assert policy.witnesses[0].add_checkpoint_url == "https://w.example/witness/add-checkpoint"
    bad_cases = [
        ("[", "not JSON"),
        (json.dumps({"witnesses": [one]}), "exactly 'quorum' and 'witnesses'"),
        (json.dumps({"quorum": 1, "witnesses": []}), "non-empty"),
        (json.dumps({"quorum": 3, "witnesses": [one, two]}), "1 <= quorum <= 2"),
        (json.dumps({"quorum": 0, "witnesses": [one]}), "1 <= quorum <= 1"),
        (json.dumps({"quorum": True, "witnesses": [one]}), "integer 'quorum'"),
        (json.dumps({"quorum": 1, "witnesses": [one, one]}), "'w1.example' twice"),
        (json.dumps({"quorum": 1, "witnesses": [{**one, "name": "w9.example"}]}), "name of its"),
        (json.dumps({"quorum": 1, "witnesses": [{**one, "url": "ftp://x"}]}), "http(s) URL"),
        (json.dumps({"quorum": 1, "witnesses": [{**one, "url": "https://x/?a"}]}), "http(s)"),
        (json.dumps({"quorum": 1, "witnesses": [{**one, "verifier_key": "x+1+2"}]}), "witness 1"),
        (json.dumps({"quorum": 1, "witnesses": [{**one, "extra": 1}]}), "exactly 'name'"),
        (json.dumps({"quorum": 1, "witnesses": [one] * (MAX_POLICY_WITNESSES + 1)}), "at most"),
    ]
    for text, expected in bad_cases:
        with pytest.raises(WitnessPolicyError, match=None) as raised:
            parse_witness_policy(text, "policy.json")
        assert expected in str(raised.value) and "policy.json" in str(raised.value), text
