"""C2SP signed notes, checkpoints and tlog-proofs, with Ed25519 keys in Go's note key format.

What each function implements:

- `sign_note`, `open_note`: c2sp.org/signed-note, "Format" and "Signatures", with the Ed25519
  signature type (0x01) of "Ed25519 signatures". Key IDs are the spec's recommended
  SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4].
- `generate_signing_key`, `verifier_key`: the key encodings of golang.org/x/mod/sumdb/note
  ("Signing Notes" and "Verifying Notes" in its package documentation):
  ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || 32-byte seed)>`` and
  ``<name>+<hex key ID>+<base64(0x01 || 32-byte public key)>``.
- `Checkpoint`, `Checkpoint.body`, `Checkpoint.parse`: the note text of c2sp.org/tlog-checkpoint
  ("Note text"). `sign_checkpoint` and `verify_checkpoint` add its "Signatures" section.
- `format_tlog_proof`, `parse_tlog_proof`: c2sp.org/tlog-proof@v1 ("Format").

Strictness beyond the specs, so that every accepted text formats back to exactly itself:
base64 must be canonical (RFC 4648 section 3.5 lets decoders refuse non-zero pad bits), and tree
sizes and indices are limited to 64 bits (RFC 9162 carries both as uint64).

Errors. Every failure is a `VerificationError` (a `ValueError`). Text that is not well formed
raises its subclass `MalformedError`, whose message starts ``malformed <what>: <reason>`` with
<what> one of ``note``, ``checkpoint``, ``signing key``, ``verifier key``, ``tlog-proof``. A
well-formed note that carries no valid signature by the given key raises `VerificationError`
itself, saying what was expected and what was got. A `Checkpoint` built with bad fields raises
`MalformedError` ("malformed checkpoint: ...") too, so any `Checkpoint` that exists formats to a
body that parses back to it. A bad key name for `generate_signing_key` is a plain `ValueError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from domain.errors import MalformedError, VerificationError

__all__ = [
    "ED25519_SIGNATURE_TYPE",
    "MAX_SIGNATURES",
    "TLOG_PROOF_HEADER",
    "Checkpoint",
    "MalformedError",
    "VerificationError",
    "format_tlog_proof",
    "generate_signing_key",
    "open_note",
    "parse_tlog_proof",
    "sign_checkpoint",
    "sign_note",
    "verifier_key",
    "verify_checkpoint",
]

# c2sp.org/signed-note, "Signature types": 0x01 is Ed25519.
ED25519_SIGNATURE_TYPE = 0x01
# c2sp.org/signed-note, "Format": a signature starts with the 32-bit big-endian key ID.
KEY_ID_SIZE = 4
# RFC 8032 section 5.1.5/5.1.6: Ed25519 seeds and public keys are 32 bytes, signatures 64.
ED25519_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
# c2sp.org/tlog-checkpoint, "Note text": the root of an RFC 6962 (SHA-256) tree.
ROOT_HASH_SIZE = 32
# c2sp.org/tlog-proof, "Format": "one SHA-256 hash per line".
PROOF_HASH_SIZE = 32
# c2sp.org/signed-note, "Format": verifiers "MUST accept at least up to 16 signatures" and
# SHOULD cap them; 100 is the cap golang.org/x/mod/sumdb/note's Open applies.
MAX_SIGNATURES = 100
# RFC 9162 carries tree_size (TreeHeadDataV2) and leaf_index (InclusionProofDataV2) as uint64.
MAX_UINT64 = 2**64 - 1
# c2sp.org/signed-note, "Format": em dash (U+2014), space, key name, space, signature.
SIGNATURE_LINE_PREFIX = "\u2014 "
# golang.org/x/mod/sumdb/note, "Signing Notes": the literal start of an encoded signer key.
PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"
# c2sp.org/tlog-proof, "Format": the first line.
TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
_TLOG_PROOF_EXTRA = "extra "
_TLOG_PROOF_INDEX = "index "

# ASCII decimal with no leading zeroes, as tlog-checkpoint's tree size and tlog-proof's index.
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_KEY_ID_HEX = re.compile(r"[0-9a-fA-F]{8}")


# --- encodings -------------------------------------------------------------------------------


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, what: str, kind: str) -> bytes:
    """Strict, canonical RFC 4648 section 4 base64, or `MalformedError` naming `what`."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise MalformedError(f"malformed {kind}: {what} is not base64: {text!r}") from None
    if _b64encode(data) != text:
        raise MalformedError(f"malformed {kind}: {what} is not canonical base64: {text!r}")
    return data


def _decimal(text: str, what: str, kind: str) -> int:
    if not _DECIMAL.fullmatch(text):
        raise MalformedError(
            f"malformed {kind}: expected {what} as ASCII decimal without leading zeros, "
            f"got {text!r}"
        )
    value = int(text)
    if value > MAX_UINT64:
        raise MalformedError(f"malformed {kind}: {what} {text} does not fit in 64 bits")
    return value


def _is_space(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) in ("Zs", "Zl", "Zp")


def _key_name_problem(name: str) -> str | None:
    """Why `name` is not a key name (c2sp.org/signed-note, "Format"), or None."""
    if not name:
        return "key name is empty"
    if "+" in name:
        return f"key name {name!r} contains '+'"
    if any(_is_space(char) for char in name):
        return f"key name {name!r} contains a Unicode space"
    if any(ord(char) < 0x20 for char in name):
        return f"key name {name!r} contains a control character"
    if not _is_utf8(name):
        return f"key name {name!r} is not valid UTF-8"
    return None


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _note_text_problem(text: str) -> str | None:
    """Why `text` cannot be in a signed note (c2sp.org/signed-note, "Format"), or None."""
    if not _is_utf8(text):
        return "not valid UTF-8"
    for char in text:
        if ord(char) < 0x20 and char != "\n":
            return f"contains the control character U+{ord(char):04X}"
    return None


def _key_id(name: str, public_key: bytes) -> bytes:
    """c2sp.org/signed-note, "Ed25519 signatures": SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    material = name.encode("utf-8") + b"\n" + bytes([ED25519_SIGNATURE_TYPE]) + public_key
    return hashlib.sha256(material).digest()[:KEY_ID_SIZE]


# --- keys ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SigningKey:
    name: str
    key_id: bytes
    private_key: Ed25519PrivateKey


@dataclass(frozen=True)
class _VerifierKey:
    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    def label(self) -> str:
        return f"{self.name}+{self.key_id.hex()}"


def _split_key(text: str, kind: str) -> tuple[str, bytes, bytes]:
    """Split ``<name>+<hex key ID>+<base64 key data>`` and check the name and algorithm byte."""
    name, _, rest = text.partition("+")
    hex_id, _, data64 = rest.partition("+")
    problem = _key_name_problem(name)
    if problem:
        raise MalformedError(f"malformed {kind}: {problem}")
    if not _KEY_ID_HEX.fullmatch(hex_id):
        raise MalformedError(f"malformed {kind}: expected an 8-digit hex key ID, got {hex_id!r}")
    data = _b64decode(data64, "key data", kind)
    if len(data) != 1 + ED25519_KEY_SIZE:
        raise MalformedError(
            f"malformed {kind}: expected {1 + ED25519_KEY_SIZE} bytes of key data "
            f"(type byte and Ed25519 key), got {len(data)}"
        )
    if data[0] != ED25519_SIGNATURE_TYPE:
        raise MalformedError(
            f"malformed {kind}: expected signature type 0x{ED25519_SIGNATURE_TYPE:02x} "
            f"(Ed25519), got 0x{data[0]:02x}"
        )
    return name, bytes.fromhex(hex_id), data[1:]


def _check_key_id(kind: str, name: str, claimed: bytes, public: bytes) -> None:
    actual = _key_id(name, public)
    if claimed != actual:
        raise MalformedError(
            f"malformed {kind}: expected key ID {actual.hex()} for this name and key, "
            f"got {claimed.hex()}"
        )


def _parse_signing_key(text: str) -> _SigningKey:
    kind = "signing key"
    if not text.startswith(PRIVATE_KEY_PREFIX):
        raise MalformedError(f"malformed {kind}: expected it to start with {PRIVATE_KEY_PREFIX!r}")
    name, key_id, seed = _split_key(text[len(PRIVATE_KEY_PREFIX) :], kind)
    private_key = Ed25519PrivateKey.from_private_bytes(seed)
    # The key ID names the *public* key, so check it after deriving that key.
    _check_key_id(kind, name, key_id, private_key.public_key().public_bytes_raw())
    return _SigningKey(name, key_id, private_key)


def _parse_verifier_key(text: str) -> _VerifierKey:
    kind = "verifier key"
    name, key_id, public = _split_key(text, kind)
    _check_key_id(kind, name, key_id, public)
    return _VerifierKey(name, key_id, Ed25519PublicKey.from_public_bytes(public))


def _encode_key(name: str, key_id: bytes, key: bytes) -> str:
    return f"{name}+{key_id.hex()}+{_b64encode(bytes([ED25519_SIGNATURE_TYPE]) + key)}"


def generate_signing_key(name: str) -> str:
    """A new Ed25519 signing key, encoded as Go's note package does (see the module docstring).

    The text is a secret: anyone holding it can sign as `name`.
    """
    problem = _key_name_problem(name)
    if problem:
        raise ValueError(f"expected a key name without spaces or '+', got: {problem}")
    private_key = Ed25519PrivateKey.generate()
    public = private_key.public_key().public_bytes_raw()
    return PRIVATE_KEY_PREFIX + _encode_key(
        name, _key_id(name, public), private_key.private_bytes_raw()
    )


def verifier_key(signing_key: str) -> str:
    """The public verifier key ``<name>+<hex key ID>+<base64(0x01 || public key)>``."""
    key = _parse_signing_key(signing_key)
    return _encode_key(key.name, key.key_id, key.private_key.public_key().public_bytes_raw())


# --- signed notes ----------------------------------------------------------------------------


def sign_note(text: str, signing_key: str) -> str:
    """Sign `text` (which must end in a newline): text, a blank line, one signature line.

    c2sp.org/signed-note, "Format": the Ed25519 signature covers the UTF-8 text including its
    final newline, and is written as ``— <name> base64(key ID || signature)``.
    """
    if not text.endswith("\n"):
        raise MalformedError("malformed note: expected the text to end with a newline")
    problem = _note_text_problem(text)
    if problem:
        raise MalformedError(f"malformed note: text {problem}")
    key = _parse_signing_key(signing_key)
    signature = key.private_key.sign(text.encode("utf-8"))
    return f"{text}\n{SIGNATURE_LINE_PREFIX}{key.name} {_b64encode(key.key_id + signature)}\n"


@dataclass(frozen=True)
class _SignatureLine:
    name: str
    key_id: bytes
    signature: bytes

    def label(self) -> str:
        return f"{self.name}+{self.key_id.hex()}"


def _split_note(note: str) -> tuple[str, list[_SignatureLine]]:
    """The text and the parsed signature lines of a signed note, or `MalformedError`."""
    problem = _note_text_problem(note)
    if problem:
        raise MalformedError(f"malformed note: {problem}")
    # The text is separated from the signatures by the last empty line in the note.
    split = note.rfind("\n\n")
    if split < 0:
        raise MalformedError("malformed note: no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block:
        raise MalformedError("malformed note: no signature lines after the blank line")
    if not block.endswith("\n"):
        raise MalformedError("malformed note: the last signature line does not end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedError(
            f"malformed note: expected at most {MAX_SIGNATURES} signatures, got {len(lines)}"
        )
    return text, [_parse_signature_line(number, line) for number, line in enumerate(lines, 1)]


def _parse_signature_line(number: int, line: str) -> _SignatureLine:
    if not line.startswith(SIGNATURE_LINE_PREFIX):
        raise MalformedError(
            f"malformed note: signature line {number} does not start with an em dash "
            f"(U+2014) and a space: {line!r}"
        )
    name, _, encoded = line[len(SIGNATURE_LINE_PREFIX) :].partition(" ")
    problem = _key_name_problem(name)
    if problem:
        raise MalformedError(f"malformed note: signature line {number}: {problem}")
    raw = _b64decode(encoded, f"signature line {number}", "note")
    if len(raw) <= KEY_ID_SIZE:
        raise MalformedError(
            f"malformed note: signature line {number} has {len(raw)} bytes, expected a "
            f"{KEY_ID_SIZE}-byte key ID and a signature"
        )
    return _SignatureLine(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:])


def open_note(note: str, verifier: str) -> str:
    """Verify a signed note by the key `verifier` and return its text (with its final newline).

    c2sp.org/signed-note, "Signatures": lines by other keys (a different name or key ID) are
    ignored; every line by this key must verify, and at least one must be present. Raises
    `MalformedError` for a note or key that is not well formed, `VerificationError` otherwise.
    """
    key = _parse_verifier_key(verifier)
    text, lines = _split_note(note)
    message = text.encode("utf-8")
    verified = 0
    for line in lines:
        if line.name != key.name or line.key_id != key.key_id:
            continue
        try:
            key.public_key.verify(line.signature, message)
        except InvalidSignature:
            raise VerificationError(
                f"expected a valid Ed25519 signature by {key.label()}, got one that does not "
                f"verify ({len(line.signature)} bytes)"
            ) from None
        verified += 1
    if not verified:
        found = ", ".join(line.label() for line in lines)
        raise VerificationError(f"expected a signature by {key.label()}, got only {found}")
    return text


# --- checkpoints -----------------------------------------------------------------------------


def _line_problem(value: object, what: str) -> str | None:
    if not isinstance(value, str):
        return f"expected {what} as a string, got {type(value).__name__}"
    if not value:
        return f"{what} is empty"
    if "\n" in value:
        return f"{what} contains a newline"
    problem = _note_text_problem(value)
    return f"{what} {problem}" if problem else None


@dataclass(frozen=True)
class Checkpoint:
    """A log's Merkle tree head, as the note text of c2sp.org/tlog-checkpoint.

    ``origin`` names the log (non-empty, one line); ``size`` is the number of leaves;
    ``root_hash`` is the 32-byte RFC 9162 root; ``extensions`` are optional extra non-empty
    lines (NOT RECOMMENDED by the spec). Bad fields raise `MalformedError`.
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Check every field, so that `body` always parses back to this checkpoint."""
        if isinstance(self.extensions, str):
            raise MalformedError("malformed checkpoint: expected extensions as a tuple of lines")
        object.__setattr__(self, "extensions", tuple(self.extensions))
        problem = _line_problem(self.origin, "origin")
        if problem:
            raise MalformedError(f"malformed checkpoint: {problem}")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise MalformedError(f"malformed checkpoint: expected an int size, got {self.size!r}")
        if not 0 <= self.size <= MAX_UINT64:
            raise MalformedError(
                f"malformed checkpoint: expected 0 <= size < 2**64, got {self.size}"
            )
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != ROOT_HASH_SIZE:
            got = len(self.root_hash) if isinstance(self.root_hash, bytes) else "not bytes"
            raise MalformedError(
                f"malformed checkpoint: expected a {ROOT_HASH_SIZE}-byte root hash, got {got}"
            )
        for number, extension in enumerate(self.extensions, 1):
            problem = _line_problem(extension, f"extension line {number}")
            if problem:
                raise MalformedError(f"malformed checkpoint: {problem}")

    def body(self) -> str:
        """The note text: origin, decimal size, base64 root hash, then any extension lines."""
        lines = [self.origin, str(self.size), _b64encode(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """Parse note text (c2sp.org/tlog-checkpoint, "Note text"); `MalformedError` if bad."""
        kind = "checkpoint"
        if not body.endswith("\n"):
            raise MalformedError("malformed checkpoint: expected the text to end with a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedError(
                f"malformed checkpoint: expected at least 3 lines (origin, size, root hash), "
                f"got {len(lines)}"
            )
        origin, size_line, root_line, *extensions = lines
        if not origin:
            raise MalformedError("malformed checkpoint: origin is empty")
        size = _decimal(size_line, "tree size", kind)
        root_hash = _b64decode(root_line, "root hash", kind)
        if len(root_hash) != ROOT_HASH_SIZE:
            raise MalformedError(
                f"malformed checkpoint: expected a {ROOT_HASH_SIZE}-byte root hash, "
                f"got {len(root_hash)} bytes"
            )
        return cls(origin, size, root_hash, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signing_key: str) -> str:
    """The checkpoint as a signed note (c2sp.org/tlog-checkpoint, "Signatures")."""
    return sign_note(checkpoint.body(), signing_key)


def verify_checkpoint(note: str, verifier: str, origin: str | None = None) -> Checkpoint:
    """Open a signed checkpoint with `verifier`, parse it, and check its origin if given.

    The key name need not equal the origin (c2sp.org/tlog-checkpoint says it SHOULD); pass
    `origin` to pin the log. Raises `VerificationError` (or its `MalformedError`) naming what
    was expected.
    """
    checkpoint = Checkpoint.parse(open_note(note, verifier))
    if origin is not None and checkpoint.origin != origin:
        raise VerificationError(f"expected origin {origin!r}, got {checkpoint.origin!r}")
    return checkpoint


# --- tlog-proof ------------------------------------------------------------------------------


def format_tlog_proof(
    index: int, proof: Sequence[bytes], signed_checkpoint: str, extra: bytes | None = None
) -> str:
    """A c2sp.org/tlog-proof@v1 text: header, optional extra line, index, hashes, checkpoint.

    `proof` is the inclusion proof in RFC order (leaf's sibling first); `signed_checkpoint` is
    included verbatim; `extra` (None to omit the line) is opaque, unauthenticated data.
    Raises `ValueError` for arguments that cannot be written in the format.
    """
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= MAX_UINT64:
        raise ValueError(f"expected 0 <= index < 2**64, got {index!r}")
    for position, element in enumerate(proof):
        if len(element) != PROOF_HASH_SIZE:
            raise ValueError(
                f"expected {PROOF_HASH_SIZE}-byte proof hashes, got {len(element)} bytes at "
                f"proof[{position}]"
            )
    if not signed_checkpoint.endswith("\n"):
        raise ValueError("expected a signed checkpoint note, which ends with a newline")
    lines = [TLOG_PROOF_HEADER]
    if extra is not None:
        lines.append(_TLOG_PROOF_EXTRA + _b64encode(extra))
    lines.append(f"{_TLOG_PROOF_INDEX}{index}")
    lines.extend(_b64encode(element) for element in proof)
    return "".join(line + "\n" for line in lines) + "\n" + signed_checkpoint


def parse_tlog_proof(text: str) -> tuple[int, list[bytes], str, bytes | None]:
    """Split a c2sp.org/tlog-proof@v1 text into (index, proof hashes, signed checkpoint, extra).

    Only the layout is checked here; the caller verifies the checkpoint (`verify_checkpoint`)
    and then the inclusion proof against it (`merkle.verify_inclusion`). The extra data is
    unauthenticated. Raises `MalformedError` ("malformed tlog-proof: ...").
    """
    kind = "tlog-proof"
    header = text.split("\n", 1)[0]
    if header != TLOG_PROOF_HEADER:
        raise MalformedError(
            f"malformed {kind}: expected first line {TLOG_PROOF_HEADER!r}, got {header!r}"
        )
    # The proof lines are non-empty, so the first empty line ends them.
    split = text.find("\n\n")
    if split < 0:
        raise MalformedError(f"malformed {kind}: no empty line before the checkpoint")
    lines, signed_checkpoint = text[:split].split("\n"), text[split + 2 :]
    position = 1
    extra: bytes | None = None
    if position < len(lines) and lines[position].startswith(_TLOG_PROOF_EXTRA):
        extra = _b64decode(lines[position][len(_TLOG_PROOF_EXTRA) :], "extra data", kind)
        position += 1
    if position >= len(lines) or not lines[position].startswith(_TLOG_PROOF_INDEX):
        got = lines[position] if position < len(lines) else "nothing"
        raise MalformedError(f"malformed {kind}: expected an 'index <n>' line, got {got!r}")
    index = _decimal(lines[position][len(_TLOG_PROOF_INDEX) :], "index", kind)
    hashes: list[bytes] = []
    for number, line in enumerate(lines[position + 1 :]):
        element = _b64decode(line, f"proof hash {number}", kind)
        if len(element) != PROOF_HASH_SIZE:
            raise MalformedError(
                f"malformed {kind}: expected {PROOF_HASH_SIZE}-byte proof hashes, got "
                f"{len(element)} bytes for proof hash {number}"
            )
        hashes.append(element)
    if not signed_checkpoint.endswith("\n"):
        raise MalformedError(
            f"malformed {kind}: expected a signed checkpoint note ending in a newline after "
            f"the empty line"
        )
    return index, hashes, signed_checkpoint, extra
