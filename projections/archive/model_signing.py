"""Read and write the OpenSSF model-signing v1.0 statement of a manifest's files.

The format is that of github.com/sigstore/model-transparency, model_signing/_signing/signing.py
(v1.1.1): the signed DSSE payload is an in-toto Statement whose predicate lists one resource per
file, {"name", "algorithm", "digest"}, in the order of the paths' components, and whose single
subject's sha256 is the SHA-256 of the concatenated raw 32-byte file digests in that order. The
serialization block records how to re-hash. `to_model_signing` writes the statement and
`from_model_signing` reads it (or the ``model.sig`` bundle around it) without verifying any
signature; docs/archive.md says how such a statement and a Reliquary manifest relate.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from domain.decisions import ManifestEntry
from domain.errors import ArchiveError
from projections.archive.scan import path_refusal

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")

IN_TOTO_STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
MODEL_SIGNING_PREDICATE_TYPE = "https://model_signing/signature/v1.0"
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


@dataclass(frozen=True)
class ModelSigningManifest:
    """The per-file SHA-256 digests a model-signing statement lists (sizes are not in it)."""

    model_name: str
    digests: dict[str, str]
    """Relative POSIX path to lower-case hex SHA-256."""
    ignore_paths: tuple[str, ...]
    """Paths the signer left out (by default ``.git``, ``.gitattributes``, ``.github``,
    ``.gitignore`` and the signature file): files there are in a Reliquary manifest, not in it."""
    root_digest: str
    """The subject's sha256, checked to be the root over the resources in the order listed (a
    statement model-signing wrote lists them in `domain.manifests.oms_order`)."""


def _model_signing_root(digests: Iterable[str]) -> str:
    """The root over digests in the order a statement lists them (a signer's own order)."""
    hasher = hashlib.sha256()
    for digest in digests:
        hasher.update(bytes.fromhex(digest))
    return hasher.hexdigest()


def to_model_signing(files: Iterable[ManifestEntry], model_name: str) -> dict[str, Any]:
    """The unsigned model-signing v1.0 statement (the DSSE payload) for these files.

    It is what ``model_signing.hashing.hash(dir)`` with file serialization and SHA-256 would
    have a signer sign, subject digest included, except that the ``serialization`` block lists
    no ignored paths (a Reliquary manifest leaves no file out). Signing it is model-signing's
    job (a key, a certificate or Sigstore); this function does not sign.
    """
    # Imported here: `reliquary manifest` imports this package and must not pay for the
    # store's modules (docs/performance.md).
    from domain.manifests import oms_order, oms_root_digest

    ordered = sorted(files, key=lambda entry: oms_order(entry.path))
    return {
        "_type": IN_TOTO_STATEMENT_TYPE,
        "subject": [
            {
                "name": model_name,
                "digest": {"sha256": oms_root_digest(ordered)},
            }
        ],
        "predicateType": MODEL_SIGNING_PREDICATE_TYPE,
        "predicate": {
            "resources": [
                {"name": entry.path, "algorithm": "sha256", "digest": entry.sha256}
                for entry in ordered
            ],
            "serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": False},
        },
    }


def _statement_of(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The in-toto statement inside a Sigstore bundle (``model.sig``), or the statement itself."""
    envelope = document.get("dsseEnvelope")
    if envelope is None:
        return document
    if not isinstance(envelope, Mapping) or envelope.get("payloadType") != IN_TOTO_PAYLOAD_TYPE:
        raise ArchiveError(
            "model-signing bundle", f"the DSSE payload is not {IN_TOTO_PAYLOAD_TYPE}"
        )
    try:
        statement = json.loads(base64.b64decode(str(envelope.get("payload", "")), validate=True))
    except (binascii.Error, ValueError):
        raise ArchiveError("model-signing bundle", "the DSSE payload is not base64 JSON") from None
    if not isinstance(statement, Mapping):
        raise ArchiveError("model-signing bundle", "the DSSE payload is not a JSON object")
    return statement


def from_model_signing(document: Mapping[str, Any]) -> ModelSigningManifest:
    """Read the file digests of a model-signing v1.0 statement, or of a ``model.sig`` bundle.

    **This does not verify the signature**: run ``model_signing verify`` (or its API) for that.
    It checks the statement's own consistency: the in-toto and predicate types, file
    serialization with SHA-256, well-formed unique paths, and the subject digest recomputed
    from the resources. Anything else is an `ArchiveError`.
    """
    where = "model-signing statement"
    statement = _statement_of(document)
    if statement.get("_type") != IN_TOTO_STATEMENT_TYPE:
        raise ArchiveError(where, f"_type is {statement.get('_type')!r}, not an in-toto Statement")
    if statement.get("predicateType") != MODEL_SIGNING_PREDICATE_TYPE:
        raise ArchiveError(
            where,
            f"predicateType is {statement.get('predicateType')!r}; only "
            f"{MODEL_SIGNING_PREDICATE_TYPE} is read",
        )
    predicate = statement.get("predicate")
    subjects = statement.get("subject")
    if not isinstance(predicate, Mapping) or not isinstance(subjects, list) or len(subjects) != 1:
        raise ArchiveError(where, "expected one subject and a predicate object")
    serialization = predicate.get("serialization")
    if not isinstance(serialization, Mapping) or serialization.get("method") != "files":
        raise ArchiveError(
            where, "only file serialization can be compared (shards have no whole-file digest)"
        )
    if serialization.get("hash_type") != "sha256":
        raise ArchiveError(where, f"hash_type is {serialization.get('hash_type')!r}, not sha256")
    resources = predicate.get("resources")
    if not isinstance(resources, list):
        raise ArchiveError(where, "predicate.resources is not a list")
    digests: dict[str, str] = {}
    order: list[str] = []
    for resource in resources:
        if not isinstance(resource, Mapping):
            raise ArchiveError(where, "a resource is not an object")
        name, algorithm, digest = (resource.get(key) for key in ("name", "algorithm", "digest"))
        if not isinstance(name, str) or algorithm != "sha256":
            raise ArchiveError(where, f"resource {name!r} is not a sha256 file digest")
        if not isinstance(digest, str) or not _SHA256_HEX.match(digest):
            raise ArchiveError(where, f"resource {name!r} has a malformed digest")
        refusal = path_refusal(name)
        if refusal is not None:
            raise ArchiveError(
                where, f"resource {name!r}: {refusal}, which a manifest cannot record"
            )
        if name in digests:
            raise ArchiveError(where, f"resource {name!r} is listed twice")
        digests[name] = digest
        order.append(digest)
    subject = subjects[0]
    recorded = subject.get("digest", {}).get("sha256") if isinstance(subject, Mapping) else None
    computed = _model_signing_root(order)
    if recorded != computed:
        raise ArchiveError(
            where, f"subject digest is {recorded!r}, but the resources hash to {computed}"
        )
    ignored = serialization.get("ignore_paths", [])
    return ModelSigningManifest(
        model_name=str(subject.get("name", "")),
        digests=digests,
        ignore_paths=tuple(str(path) for path in ignored) if isinstance(ignored, list) else (),
        root_digest=computed,
    )
