"""The ledger's signing key: a file, mode 0600, never in the database.

The file holds one line, the signed-note private key (``PRIVATE+KEY+<name>+<id>+<key>``, the
format of Go's ``golang.org/x/mod/sumdb/note``). Its public half, the verifier key, is what
reviewers pin. See docs/transparency.md for rotation.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from domain.errors import SigningKeyError
from projections.translog.checkpoint import generate_signing_key, verifier_key


def create_signing_key(path: Path, name: str) -> bool:
    """Create the key file if it does not exist; return whether it was created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_signing_key(name)
    # O_EXCL: never overwrite a key another process just wrote; 0600 from the first byte.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key + "\n")
    return True


def load_signing_key(path: Path) -> str:
    """Read the signing key, refusing a file others can read."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SigningKeyError(
            f"no signing key at {path}; run `reliquary init` to create one "
            "(or set RELIQUARY_SIGNING_KEY)"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningKeyError(
            f"signing key {path} is readable by others (mode {stat.S_IMODE(mode):o}); "
            f"run: chmod 600 {path}"
        )
    return path.read_text().strip()


def load_verifier_key(path: Path) -> str:
    """The public verifier key of the signing key at ``path``."""
    return verifier_key(load_signing_key(path))
