"""The one feed of the log: every stored event in ledger order, with its leaf bytes.

The tree (`tree.py`), the auditor's recomputation (`verify.py`), audit bundles (`bundle.py`)
and C2SP entry bundles (`tiles.py`) all read the ledger the same way: page through the
notification log after a position (`Ledger.notifications_after`, "greater than the last id
seen", because PostgreSQL's ids have gaps), number each event by its position, name its model
from the registration seen earlier, and compute its leaf (`leaves.leaf_bytes`: the stored bytes in
a canonical envelope).
An event whose model no earlier event registers cannot be given a leaf: the feed raises
`LogDamaged` naming its sequence, the one behaviour every reader shares.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from domain.errors import LogDamaged
from projections.translog.leaves import leaf_bytes, registered_name

if TYPE_CHECKING:
    from domain.ledger import Ledger


@dataclass(frozen=True)
class LeafEntry:
    """One event as the log sees it: its sequence number, the stored event, and its leaf."""

    sequence: int
    notification: Any
    model_id: str
    model: str
    registers_model: bool
    leaf: bytes


def leaf_feed(
    ledger: Ledger,
    *,
    after: int = 0,
    first_sequence: int = 0,
    names: dict[str, str] | None = None,
    page: int = 1000,
) -> Iterator[LeafEntry]:
    """Every event stored after notification id ``after``, numbered from ``first_sequence``.

    ``names`` maps the ids of models registered before ``after`` to their names (empty when
    reading from the start); the feed adds each registration it reads to it.
    """
    known = names if names is not None else {}
    sequence = first_sequence
    for notification in ledger.notifications_after(after, page=page):
        model_id = str(notification.originator_id)
        name = registered_name(notification)
        registers = name is not None and model_id not in known
        if registers:
            known[model_id] = name  # type: ignore[assignment]
        model = known.get(model_id)
        if model is None:
            raise LogDamaged(
                f"sequence {sequence}: event #{notification.id} (version "
                f"{notification.originator_version}) belongs to model {model_id}, which no "
                "earlier event registers; run `reliquary verify`",
                sequence=sequence,
                notification_id=notification.id,
            )
        leaf = leaf_bytes(notification, sequence=sequence)
        yield LeafEntry(sequence, notification, model_id, model, registers, leaf)
        sequence += 1
