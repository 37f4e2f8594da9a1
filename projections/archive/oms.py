"""OpenSSF model signing (OMS v1.0) bundles: read one against a manifest, or sign one.

A ``model.sig`` as ``model_signing`` 1.1.1 writes it with its key method is a Sigstore bundle
v0.3 in JSON: ``mediaType``, ``verificationMaterial`` (the public key's hint, the SHA-256 hex
of its PEM SubjectPublicKeyInfo; no transparency-log entries) and a DSSE envelope whose payload
is the in-toto statement `projections.archive.model_signing` reads and writes, signed over
the envelope's pre-authentication encoding (DSSE v1) with ECDSA. Two jobs here:

- `oms_evidence`: what ``reliquary preserve --oms-bundle`` records, the bundle's root digest
  and the SHA-256 of its bytes, once the statement is shown to list exactly the manifest's
  files with the same digests. **It does not verify the bundle's signature** (a Sigstore
  bundle's needs the network; ``model_signing verify`` does it);
- `sign_oms_bundle`: a bundle for a recorded manifest, signed with an ECDSA P-256 private key,
  that ``model_signing verify key`` accepts unchanged.

docs/archive.md gives the formats and what each side checks. Nothing here imports
``cryptography`` until a bundle is signed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.decisions import ManifestEntry
from domain.errors import ArchiveError, OmsKeyRefused, UnreadableFile
from projections.archive.model_signing import (
    IN_TOTO_PAYLOAD_TYPE,
    from_model_signing,
    to_model_signing,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey

SIGSTORE_BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
"""The media type of the bundles model-signing's key method writes and reads."""

MAX_OMS_BUNDLE_BYTES = 64 * 1024 * 1024
"""The largest ``model.sig`` read: a statement of 200,000 files (the manifest limit) is about
40 MB once base64-encoded in its envelope."""

MAX_KEY_BYTES = 64 * 1024
"""The largest PEM key file read (a P-256 key is about 250 bytes)."""

NAMED_FILES = 5
"""Files named per kind of difference when a bundle does not match a folder; the rest counted."""


@dataclass(frozen=True)
class OmsEvidence:
    """What a preservation records of a ``model.sig`` that signs its files."""

    root_digest: str
    """The statement's subject sha256: the OMS root digest of the manifest's files."""
    bundle_digest: str
    """The SHA-256 of the bundle file's bytes, as read."""


@dataclass(frozen=True)
class SignedOmsBundle:
    """A ``model.sig`` written for a recorded manifest, and what names it."""

    content: bytes
    """The bundle's bytes, to write as they are (their SHA-256 is `bundle_digest`)."""
    root_digest: str
    manifest_digest: str
    file_count: int
    key_hint: str
    """The public key's hint in the bundle: SHA-256 hex of its PEM SubjectPublicKeyInfo."""

    @property
    def bundle_digest(self) -> str:
        """The SHA-256 of the bundle's bytes."""
        return hashlib.sha256(self.content).hexdigest()


def read_limited(path: Path, limit: int, what: str) -> bytes:
    """A regular file's bytes, refused (`UnreadableFile`) when missing or larger than ``limit``."""
    try:
        with path.open("rb") as stream:
            content = stream.read(limit + 1)
    except OSError as error:
        raise UnreadableFile(f"cannot read the {what} {path}: {error.strerror}") from None
    if len(content) > limit:
        raise UnreadableFile(f"the {what} {path} is larger than {limit} bytes")
    return content


def oms_evidence(bundle_path: Path, files: Sequence[ManifestEntry]) -> OmsEvidence:
    """The root and bundle digests of a ``model.sig`` that signs exactly these files.

    The statement must list every file of the manifest and no other, each with the same
    SHA-256, in model-signing's order (so its root is `domain.manifests.oms_root_digest` of
    the files). A file of the folder that the bundle's ``ignore_paths`` left out is refused
    too, named as such: the manifest would then hold a file the signature does not cover.
    Anything else is an `ArchiveError` naming the bundle and the files. The signature is not
    verified here.
    """
    from domain.manifests import oms_root_digest

    content = read_limited(bundle_path, MAX_OMS_BUNDLE_BYTES, "OMS bundle")
    where = str(bundle_path)
    try:
        document = json.loads(content)
    except (UnicodeDecodeError, ValueError):
        raise ArchiveError(where, "not a JSON document (an OMS model.sig is one)") from None
    if not isinstance(document, Mapping) or "dsseEnvelope" not in document:
        raise ArchiveError(where, "not a Sigstore bundle with a DSSE envelope (a model.sig)")
    if document.get("mediaType") != SIGSTORE_BUNDLE_MEDIA_TYPE:
        raise ArchiveError(
            where,
            f"mediaType is {document.get('mediaType')!r}, not {SIGSTORE_BUNDLE_MEDIA_TYPE}",
        )
    try:
        statement = from_model_signing(document)
    except ArchiveError as error:
        raise ArchiveError(where, error.reason) from None
    _refuse_differences(where, statement.digests, statement.ignore_paths, files)
    computed = oms_root_digest(files)
    if statement.root_digest != computed:
        raise ArchiveError(
            where,
            f"its root digest {statement.root_digest} covers these files in another order "
            f"than model-signing's; the OMS root of the files is {computed}",
        )
    return OmsEvidence(
        root_digest=statement.root_digest, bundle_digest=hashlib.sha256(content).hexdigest()
    )


def _ignored_by(path: str, ignore_paths: Iterable[str]) -> str | None:
    for ignored in ignore_paths:
        if path == ignored or path.startswith(ignored.rstrip("/") + "/"):
            return ignored
    return None


def _named(paths: list[str]) -> str:
    shown = ", ".join(repr(path) for path in paths[:NAMED_FILES])
    more = len(paths) - NAMED_FILES
    return shown + (f" and {more} more" if more > 0 else "")


def _refuse_differences(
    where: str,
    signed: Mapping[str, str],
    ignore_paths: tuple[str, ...],
    files: Sequence[ManifestEntry],
) -> None:
    folder = {entry.path: entry.sha256 for entry in files}
    order = sorted(signed.keys() | folder.keys(), key=lambda path: path.encode("utf-8"))
    modified = [p for p in order if p in signed and p in folder and signed[p] != folder[p]]
    missing = [p for p in order if p in signed and p not in folder]
    unsigned = [p for p in order if p in folder and p not in signed]
    ignored = [p for p in unsigned if _ignored_by(p, ignore_paths) is not None]
    problems = []
    if modified:
        problems.append(f"{len(modified)} file(s) differ from what it signs: {_named(modified)}")
    if missing:
        problems.append(f"{len(missing)} file(s) it signs are not in the folder: {_named(missing)}")
    if ignored:
        problems.append(
            f"{len(ignored)} file(s) of the folder were left out by its ignore_paths "
            f"{list(ignore_paths)}: {_named(ignored)}; a preserved manifest lists every file, "
            "so sign the folder without them (or move them, the model.sig itself too, out of "
            "the folder)"
        )
    if others := [p for p in unsigned if p not in ignored]:
        problems.append(f"{len(others)} file(s) of the folder it does not sign: {_named(others)}")
    if problems:
        raise ArchiveError(
            where, "the bundle does not sign the folder's files: " + "; ".join(problems)
        )


def _private_key(pem: bytes, where: str) -> EllipticCurvePrivateKey:
    """The ECDSA P-256 private key of a PEM file; `OmsKeyRefused` names what else it is."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem, password=None)
    except TypeError:  # the library's word for "this key is encrypted"
        raise OmsKeyRefused(
            f"the key {where} is encrypted; give an unencrypted PEM private key (decrypt a "
            "copy with `openssl pkey -in KEY -out PLAIN`, kept private)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise OmsKeyRefused(f"the key {where} is not a PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        kind = type(key).__name__.removesuffix("PrivateKey").lstrip("_")
        raise OmsKeyRefused(
            f"the key {where} is a private key of type {kind}, not ECDSA P-256 (secp256r1), "
            "the key method OMS bundles are signed with here"
        )
    if key.curve.name != "secp256r1":
        raise OmsKeyRefused(
            f"the key {where} is an ECDSA key on {key.curve.name}, not P-256 (secp256r1)"
        )
    return key


def pre_authentication(payload: bytes) -> bytes:
    """DSSE v1's pre-authentication encoding of an in-toto payload: what is signed."""
    kind = IN_TOTO_PAYLOAD_TYPE.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def sign_oms_bundle(
    files: Sequence[ManifestEntry],
    model_name: str,
    manifest_digest: str,
    private_key_pem: bytes,
    *,
    key_name: str = "the key",
) -> SignedOmsBundle:
    """An OMS v1.0 ``model.sig`` for these files, signed with an ECDSA P-256 private key.

    The statement is `to_model_signing`'s (no ignored paths: the manifest lists every file),
    the subject named ``model_name``; the envelope's signature is ECDSA with SHA-256 over the
    DSSE pre-authentication encoding, DER-encoded, as model-signing's key signer makes it. A
    key that is not an unencrypted PEM P-256 private key is `OmsKeyRefused`, named by
    ``key_name`` (never by its bytes).
    """
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = _private_key(private_key_pem, key_name)
    payload = json.dumps(to_model_signing(files, model_name), indent=2).encode("utf-8")
    signature = key.sign(pre_authentication(payload), ec.ECDSA(hashes.SHA256()))
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hint = hashlib.sha256(public_pem).hexdigest()
    bundle: dict[str, Any] = {
        "mediaType": SIGSTORE_BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": hint}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode("ascii"),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(signature).decode("ascii"), "keyid": ""}],
        },
    }
    statement = json.loads(payload)
    return SignedOmsBundle(
        content=json.dumps(bundle, separators=(",", ":")).encode("utf-8"),
        root_digest=statement["subject"][0]["digest"]["sha256"],
        manifest_digest=manifest_digest,
        file_count=len(files),
        key_hint=hint,
    )


def recorded_oms(facts: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The OMS root and bundle digests a ``WeightsPreserved`` records (its facts or fields);
    both None for one recorded without a bundle, or before class version 3."""
    return facts.get("oms_root_digest"), facts.get("oms_bundle_digest")
