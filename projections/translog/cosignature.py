"""C2SP tlog-cosignature v1 (Ed25519): a witness's timestamped statement about a checkpoint.

What each function implements (c2sp.org/tlog-cosignature, sections "Format" and "Ed25519
signed message"):

- `cosigner_key_id`: ``SHA-256(<name> || "\\n" || 0x04 || 32-byte Ed25519 public key)[:4]``.
- `generate_cosigner_key`, `cosigner_verifier_key`: the keys, encoded like the ledger's note
  keys (`projections.translog.checkpoint`) but with the signature type 0x04, as the spec allows
  for vkeys: ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x04 || 32-byte seed)>`` and
  ``<name>+<hex key ID>+<base64(0x04 || 32-byte public key)>``.
- `cosigned_message`: ``cosignature/v1\\n`` ``time <timestamp>\\n`` then the whole note body of
  the checkpoint (its final newline included, its signature lines not).
- `cosign`: the signature line ``— <name> base64(key ID || timestamped_signature)`` where
  ``timestamped_signature`` is the u64 big-endian timestamp followed by the 64-byte Ed25519
  signature over that message (RFC 8446 section 3.3 serialization).
- `verify_cosignature`: the reverse, returning the timestamp.

A cosigner key and the log's key are different key types on purpose: the ID commits to the
type byte, so a log key can never be mistaken for a cosigner's, and the ``cosignature/v1``
header separates the two messages. Errors: `CosignatureError` (a `VerificationError`) when a
cosignature is absent or does not verify, `MalformedError` when text or a key is not well
formed.
"""

from __future__ import annotations

import hashlib
import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from domain.errors import CosignatureError, MalformedError
from projections.translog.checkpoint import (
    ED25519_KEY_SIZE,
    ED25519_SIGNATURE_SIZE,
    KEY_ID_SIZE,
    PRIVATE_KEY_PREFIX,
    SIGNATURE_LINE_PREFIX,
    Checkpoint,
    _b64decode,
    _b64encode,
    _key_name_problem,
    _split_note,
)

__all__ = [
    "COSIGNATURE_HEADER",
    "COSIGNATURE_V1_TYPE",
    "CosignatureError",
    "cosign",
    "cosigned_message",
    "cosigner_key_id",
    "cosigner_verifier_key",
    "generate_cosigner_key",
    "verify_cosignature",
]

# c2sp.org/tlog-cosignature, "Format": the key ID algorithm byte of Ed25519 cosignatures.
COSIGNATURE_V1_TYPE = 0x04
# c2sp.org/tlog-cosignature, "Ed25519 signed message": the header line, for domain separation.
COSIGNATURE_HEADER = "cosignature/v1"
# c2sp.org/tlog-cosignature, "Format": "It MUST NOT exceed 2^63 - 1".
MAX_TIMESTAMP = 2**63 - 1
# u64 timestamp, then the Ed25519 signature: the `timestamped_signature` structure.
_TIMESTAMP = struct.Struct(">Q")
TIMESTAMPED_SIGNATURE_SIZE = _TIMESTAMP.size + ED25519_SIGNATURE_SIZE


def cosigner_key_id(name: str, public_key: bytes) -> bytes:
    """``SHA-256(<name> || "\\n" || 0x04 || public key)[:4]`` (tlog-cosignature, "Format")."""
    material = name.encode("utf-8") + b"\n" + bytes([COSIGNATURE_V1_TYPE]) + public_key
    return hashlib.sha256(material).digest()[:KEY_ID_SIZE]


def _encode(name: str, public_key: bytes, key: bytes) -> str:
    key_id = cosigner_key_id(name, public_key).hex()
    return f"{name}+{key_id}+{_b64encode(bytes([COSIGNATURE_V1_TYPE]) + key)}"


def generate_cosigner_key(name: str) -> str:
    """A new Ed25519 cosigner signing key (a secret: anyone holding it cosigns as `name`)."""
    problem = _key_name_problem(name)
    if problem:
        raise ValueError(f"expected a key name without spaces or '+', got: {problem}")
    private_key = Ed25519PrivateKey.generate()
    public = private_key.public_key().public_bytes_raw()
    return PRIVATE_KEY_PREFIX + _encode(name, public, private_key.private_bytes_raw())


def _split(text: str, kind: str) -> tuple[str, bytes, bytes]:
    """``<name>+<hex key ID>+<base64(0x04 || key)>``: name, claimed ID, 32-byte key."""
    name, _, rest = text.partition("+")
    hex_id, _, data64 = rest.partition("+")
    problem = _key_name_problem(name)
    if problem:
        raise MalformedError(f"malformed {kind}: {problem}")
    if len(hex_id) != 2 * KEY_ID_SIZE or any(c not in "0123456789abcdefABCDEF" for c in hex_id):
        raise MalformedError(f"malformed {kind}: expected an 8-digit hex key ID, got {hex_id!r}")
    data = _b64decode(data64, "key data", kind)
    if len(data) != 1 + ED25519_KEY_SIZE or data[0] != COSIGNATURE_V1_TYPE:
        raise MalformedError(
            f"malformed {kind}: expected 0x{COSIGNATURE_V1_TYPE:02x} (Ed25519 cosignature/v1) "
            f"and a {ED25519_KEY_SIZE}-byte key, got {len(data)} bytes starting "
            f"0x{data[:1].hex() or '--'}"
        )
    return name, bytes.fromhex(hex_id), data[1:]


def _signing_key(text: str) -> tuple[str, bytes, Ed25519PrivateKey]:
    kind = "cosigner signing key"
    if not text.startswith(PRIVATE_KEY_PREFIX):
        raise MalformedError(f"malformed {kind}: expected it to start with {PRIVATE_KEY_PREFIX!r}")
    name, key_id, seed = _split(text[len(PRIVATE_KEY_PREFIX) :], kind)
    private_key = Ed25519PrivateKey.from_private_bytes(seed)
    expected = cosigner_key_id(name, private_key.public_key().public_bytes_raw())
    if key_id != expected:
        raise MalformedError(f"malformed {kind}: expected key ID {expected.hex()}")
    return name, key_id, private_key


def _verifier_key(text: str) -> tuple[str, bytes, Ed25519PublicKey]:
    kind = "cosigner verifier key"
    name, key_id, public = _split(text, kind)
    expected = cosigner_key_id(name, public)
    if key_id != expected:
        raise MalformedError(f"malformed {kind}: expected key ID {expected.hex()}")
    return name, key_id, Ed25519PublicKey.from_public_bytes(public)


def cosigner_verifier_key(signing_key: str) -> str:
    """The public vkey ``<name>+<hex key ID>+<base64(0x04 || public key)>`` of a cosigner."""
    name, _, private_key = _signing_key(signing_key)
    public = private_key.public_key().public_bytes_raw()
    return _encode(name, public, public)


def _check_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise ValueError(f"expected an int timestamp, got {timestamp!r}")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise ValueError(f"expected 0 <= timestamp <= 2**63 - 1, got {timestamp}")


def cosigned_message(checkpoint_body: str, timestamp: int) -> bytes:
    """The bytes an Ed25519 cosignature signs: header line, time line, whole checkpoint body."""
    _check_timestamp(timestamp)
    return f"{COSIGNATURE_HEADER}\ntime {timestamp}\n{checkpoint_body}".encode()


def _checkpoint_text(note: str) -> str:
    """The note body of a signed checkpoint note; `MalformedError` if it is not a checkpoint."""
    text, _ = _split_note(note)
    Checkpoint.parse(text)  # a cosigner states something about checkpoints only
    return text


def cosign(checkpoint_note: str, witness_signing_key: str, timestamp: int) -> str:
    """The cosignature line (ending in a newline) of `checkpoint_note` at `timestamp`.

    The caller has verified the checkpoint (the log's signature and its consistency): this
    only signs. Extension lines, if any, are signed too, as the spec requires.
    """
    text = _checkpoint_text(checkpoint_note)
    name, key_id, private_key = _signing_key(witness_signing_key)
    signature = private_key.sign(cosigned_message(text, timestamp))
    blob = key_id + _TIMESTAMP.pack(timestamp) + signature
    return f"{SIGNATURE_LINE_PREFIX}{name} {_b64encode(blob)}\n"


def verify_cosignature(note: str, witness_verifier_key: str) -> int:
    """Check the cosignature(s) of `note` by the witness's key; return the latest timestamp.

    As a signed note's verifier does, lines by other keys are ignored, every line by this key
    (same name and key ID) must verify, and at least one must be present. Raises
    `CosignatureError` naming what was expected, `MalformedError` for bad text or key.
    """
    name, key_id, public_key = _verifier_key(witness_verifier_key)
    text = _checkpoint_text(note)
    label = f"{name}+{key_id.hex()}"
    timestamps: list[int] = []
    _, lines = _split_note(note)
    for line in lines:
        if line.name != name or line.key_id != key_id:
            continue
        if len(line.signature) != TIMESTAMPED_SIGNATURE_SIZE:
            raise CosignatureError(
                f"cosignature does not verify: expected {TIMESTAMPED_SIGNATURE_SIZE} bytes "
                f"(timestamp and Ed25519 signature) by {label}, got {len(line.signature)}"
            )
        (timestamp,) = _TIMESTAMP.unpack(line.signature[: _TIMESTAMP.size])
        if timestamp > MAX_TIMESTAMP:
            raise CosignatureError(
                f"cosignature does not verify: timestamp {timestamp} by {label} exceeds 2**63 - 1"
            )
        try:
            public_key.verify(line.signature[_TIMESTAMP.size :], cosigned_message(text, timestamp))
        except InvalidSignature:
            raise CosignatureError(
                f"cosignature does not verify: the line by {label} at time {timestamp} is not "
                "a valid Ed25519 cosignature/v1 of this checkpoint"
            ) from None
        timestamps.append(timestamp)
    if not timestamps:
        found = ", ".join(line.label() for line in lines)
        raise CosignatureError(
            f"cosignature missing: expected a cosignature by {label}, got only {found}"
        )
    return max(timestamps)
