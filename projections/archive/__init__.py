"""Preserved weights: a directory turned into a manifest of file digests, and checked against one.

The manifest and its digest are defined once, in `domain.decisions` (`ManifestEntry`,
`manifest_digest`) and in docs/archive.md; this package only reads files, never writes them.

- `scan`: walking a directory into the files a manifest would list (`scan_tree`), and the
  limits and path rules of a manifest (`path_refusal`), refusing links, special files and
  names no manifest can record;
- `hashing`: hashing those files into a `TreeManifest` (`hash_tree`) with bounded memory and
  several workers;
- `comparison`: a recorded manifest and an observed one compared file by file (`compare`);
- `model_signing`: the OpenSSF model-signing v1.0 statement of the files, written and read.
- `oms`: OMS ``model.sig`` bundles: one read against a manifest (``preserve --oms-bundle``) and
  one signed for a recorded manifest (``oms export``); imported by name, not re-exported here,
  as it is needed only by those two commands.
- `manifests`: a recorded manifest read back by its digest (`WeightsPreserved` names it so),
  whole and checked (`recorded_manifest`) or a page at a time (`manifest_page`).

The names other code uses are re-exported here. The CLI imports this package inside its
commands, never at start-up.
"""

from projections.archive.comparison import STATUSES, FileCheck, compare
from projections.archive.hashing import (
    DEFAULT_BLOCK_SIZE,
    TreeManifest,
    default_workers,
    hash_tree,
)
from projections.archive.model_signing import (
    ModelSigningManifest,
    from_model_signing,
    to_model_signing,
)
from projections.archive.scan import (
    MAX_FILE_SIZE,
    MAX_FILES,
    MAX_PATH_LENGTH,
    ScannedFile,
    path_refusal,
    scan_tree,
)

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "MAX_FILES",
    "MAX_FILE_SIZE",
    "MAX_PATH_LENGTH",
    "STATUSES",
    "FileCheck",
    "ModelSigningManifest",
    "ScannedFile",
    "TreeManifest",
    "compare",
    "default_workers",
    "from_model_signing",
    "hash_tree",
    "path_refusal",
    "scan_tree",
    "to_model_signing",
]
