"""The public register of models: what became of each model, as a client plans a migration.

A provider's models API tells its clients each model's lifecycle dates and what replaces it;
this register tells the public the same of every model on the ledger, and what stays open after
retirement, from values the disclosure policy (`domain.disclosure`) leaves public only: the
model's registration, its retirement's date and successor, its access policy's channels, and
its preserved weights' digest. No field of an access request, no rationale and no actor is read
here, so nothing sealed can reach the register. It is one pure function of the models' states,
so the HTTP route (and any other door) presents the same document.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from domain.lifecycle import ModelLifecycle

REGISTER_VERSION = 1
"""The version of the register's document; a field removed or changed in meaning is a new one
(a field added is not)."""


def public_register(
    models: Sequence[ModelLifecycle],
    *,
    sequence_of: Callable[[str, int], int | None],
    basis: dict[str, Any],
) -> dict[str, Any]:
    """The register of ``models`` (in the order given), with the ``basis`` it was read on.

    ``sequence_of(model, version)`` names the transparency log's sequence of a model's version,
    or None while the log has not taken it: a client then finds no proof yet, and asks again.
    """
    return {
        "register_version": REGISTER_VERSION,
        "models": [_entry(model, sequence_of) for model in models],
        "basis": basis,
    }


def request_access_path(model: str) -> str:
    """The API path of the command a researcher requests access to ``model`` with."""
    return f"/models/{quote(model, safe='')}/access-requests"


def _entry(model: ModelLifecycle, sequence_of: Callable[[str, int], int | None]) -> dict[str, Any]:
    """One model's public facts."""
    policy = model.access_policy
    channels = [] if policy is None else policy.channels
    return {
        "model": model.name,
        "family": model.family,
        "model_version": model.model_version,
        "developer": model.developer,
        "status": model.lifecycle_status,
        "release_date": model.release_date.isoformat(),
        "retirement": {
            "scheduled_for": _day(model.retirement_date),
            "retired_on": _day(model.retired_on),
            "successor": model.successor,
        },
        "access": {
            # None: no access policy decided yet (not the same as one that keeps nothing open).
            "channels": None
            if policy is None
            else [{"channel": c.channel, "audience": c.audience} for c in channels],
            "request": {"method": "POST", "path": request_access_path(model.name)},
        },
        "weights": _weights(model, sequence_of),
    }


def _weights(
    model: ModelLifecycle, sequence_of: Callable[[str, int], int | None]
) -> dict[str, Any] | None:
    """The latest preserved weights (None: none preserved), with where the log proves them."""
    weights = model.weights
    if weights is None:
        return None
    sequence = sequence_of(model.name, weights.version)
    return {
        "manifest_digest": weights.manifest_digest,
        "files": weights.file_count,
        "preserved_at": weights.preserved_at.isoformat(),
        "sequence": sequence,
        "leaf": None if sequence is None else f"/log/leaves/{sequence}",
        "proof": None if sequence is None else f"/log/proof/inclusion?sequence={sequence}",
        "manifest": f"/models/{quote(model.name, safe='')}/manifest",
    }


def _day(value: Any) -> str | None:
    """A date as ISO 8601, or None."""
    return None if value is None else str(value.isoformat())
