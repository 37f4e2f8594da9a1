"""C2SP tlog-cosignature v1: Reliquary's cosignatures, checked by a verifier written from the spec.

`_independent_verify` imports nothing from Reliquary: it follows c2sp.org/tlog-cosignature
("Format", "Ed25519 signed message") and c2sp.org/signed-note with the standard library and
`cryptography` only, so a cosignature it accepts is one any implementation of the spec accepts.
"""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from domain.errors import CosignatureError, MalformedError
from projections.translog.checkpoint import (
    Checkpoint,
    generate_signing_key,
    sign_checkpoint,
    verifier_key,
)
from projections.translog.cosignature import (
    cosign,
    cosigned_message,
    cosigner_key_id,
    cosigner_verifier_key,
    generate_cosigner_key,
    verify_cosignature,
)

WITNESS = "witness.example/w1"
TIME = 1679315147


def _independent_verify(note: str, name: str, public_key: bytes) -> list[int]:
    """The timestamps of the valid cosignatures by (name, key) on a note; raises if one fails.

    From the spec alone: key ID = SHA-256(name || "\\n" || 0x04 || key)[:4]; the signature is
    a u64 big-endian timestamp then 64 bytes of Ed25519 over "cosignature/v1\\n" "time <t>\\n"
    and the note body (up to the last blank line, its final newline kept).
    """
    key_id = hashlib.sha256(name.encode() + b"\n" + b"\x04" + public_key).digest()[:4]
    split = note.rindex("\n\n")
    body, signatures = note[: split + 1], note[split + 2 :].splitlines()
    found = []
    for line in signatures:
        assert line.startswith("\u2014 ")
        line_name, encoded = line[2:].split(" ")
        raw = base64.b64decode(encoded, validate=True)
        if line_name != name or raw[:4] != key_id:
            continue
        assert len(raw) == 4 + 8 + 64
        (timestamp,) = struct.unpack(">Q", raw[4:12])
        message = f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode()
        Ed25519PublicKey.from_public_bytes(public_key).verify(raw[12:], message)
        found.append(timestamp)
    return found


def _public_of(vkey: str) -> tuple[str, bytes]:
    name, _, data = vkey.split("+", 2)  # base64 may hold '+'; a name and an ID never do
    raw = base64.b64decode(data)
    assert raw[0] == 0x04
    return name, raw[1:]


@pytest.fixture(scope="module")
def log_key() -> str:
    return generate_signing_key("example.com/log")


@pytest.fixture(scope="module")
def witness_key() -> str:
    return generate_cosigner_key(WITNESS)


def _note(log_key: str, size: int = 20852163, extensions: tuple[str, ...] = ()) -> str:
    root = hashlib.sha256(str(size).encode()).digest()
    return sign_checkpoint(Checkpoint("example.com/log", size, root, extensions), log_key)


def test_an_independent_verifier_accepts_the_cosignature(log_key: str, witness_key: str) -> None:
    note = _note(log_key)
    cosigned = note + cosign(note, witness_key, TIME)
    name, public = _public_of(cosigner_verifier_key(witness_key))
    assert name == WITNESS
    assert _independent_verify(cosigned, WITNESS, public) == [TIME]
    assert verify_cosignature(cosigned, cosigner_verifier_key(witness_key)) == TIME


def test_extension_lines_are_cosigned(log_key: str, witness_key: str) -> None:
    note = _note(log_key, extensions=("ext one",))
    cosigned = note + cosign(note, witness_key, TIME)
    _, public = _public_of(cosigner_verifier_key(witness_key))
    assert _independent_verify(cosigned, WITNESS, public) == [TIME]
    # The same cosignature line on the note without the extension does not verify.
    line = cosigned.splitlines(keepends=True)[-1]
    bare = _note(log_key)
    with pytest.raises(CosignatureError):
        verify_cosignature(bare + line, cosigner_verifier_key(witness_key))


def test_the_line_and_message_are_byte_for_byte_the_spec(witness_key: str) -> None:
    body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    assert cosigned_message(body, TIME) == (b"cosignature/v1\ntime 1679315147\n" + body.encode())
    vkey = cosigner_verifier_key(witness_key)
    name, public = _public_of(vkey)
    assert vkey.split("+")[1] == cosigner_key_id(name, public).hex()
    assert (
        cosigner_key_id(name, public)
        == (hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4])
    )


def test_the_log_key_id_is_not_the_cosigner_key_id(log_key: str) -> None:
    # Type 0x01 (a note signature) and 0x04 (a cosignature) give different IDs for one key.
    name, _, data = verifier_key(log_key).split("+", 2)
    public = base64.b64decode(data)[1:]
    assert verifier_key(log_key).split("+")[1] != cosigner_key_id(name, public).hex()


def test_a_tampered_timestamp_or_root_fails(log_key: str, witness_key: str) -> None:
    note = _note(log_key)
    line = cosign(note, witness_key, TIME)
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[4 + 7] ^= 1  # the timestamp's last byte
    forged = line.split(" ")[0] + " " + WITNESS + " " + base64.b64encode(bytes(raw)).decode()
    vkey = cosigner_verifier_key(witness_key)
    _, public = _public_of(vkey)
    with pytest.raises(CosignatureError, match="does not verify"):
        verify_cosignature(note + forged + "\n", vkey)
    with pytest.raises(InvalidSignature):
        _independent_verify(note + forged + "\n", WITNESS, public)
    other = _note(log_key, size=5)
    with pytest.raises(CosignatureError):
        verify_cosignature(other + line, vkey)


def test_a_missing_cosignature_is_named(log_key: str, witness_key: str) -> None:
    note = _note(log_key)
    with pytest.raises(CosignatureError, match=f"expected a cosignature by {WITNESS}"):
        verify_cosignature(note, cosigner_verifier_key(witness_key))


def test_another_witness_s_line_is_ignored(log_key: str, witness_key: str) -> None:
    note = _note(log_key)
    other = generate_cosigner_key("witness.example/w2")
    cosigned = note + cosign(note, other, 1) + cosign(note, witness_key, TIME)
    assert verify_cosignature(cosigned, cosigner_verifier_key(witness_key)) == TIME


def test_keys_and_timestamps_out_of_range_are_refused(log_key: str, witness_key: str) -> None:
    note = _note(log_key)
    with pytest.raises(ValueError, match="2\\*\\*63"):
        cosign(note, witness_key, 2**63)
    with pytest.raises(MalformedError, match="cosigner signing key"):
        cosign(note, log_key, TIME)  # a note key (type 0x01) is not a cosigner key
    with pytest.raises(MalformedError, match="checkpoint"):
        cosign("not a checkpoint\n\n\u2014 x AAAAAAAA\n", witness_key, TIME)
