"""Model ids: the only place an aggregate id is made.

A model's id is a UUID 5 of its name, so anyone can compute it from the name alone, and two
writers registering the same name collide on the same aggregate instead of making two.
"""

from __future__ import annotations

import unicodedata
from uuid import UUID, uuid5

# A fixed namespace for Reliquary model names (uuid5 of the DNS namespace and "reliquary").
MODEL_NAMESPACE = uuid5(UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8"), "reliquary.models")


def model_id(name: str) -> UUID:
    """Return the aggregate id of the model with this name.

    The name is taken in NFC, as the ledger records names (`domain.text`), so a door given
    another spelling of the same name (NFD, from a path or an option) finds the same model.
    An ASCII or NFC name keeps the id it always had; only a name registered, before names
    were normalised, in another form would now be looked up under its NFC id.
    """
    return uuid5(MODEL_NAMESPACE, unicodedata.normalize("NFC", name))
