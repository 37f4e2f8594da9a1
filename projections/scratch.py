"""A private SQLite database that views replay events into, never shared and never kept.

`ScratchRecorder` is a `projections.runner.ViewRecorder` on a connection of its own: in memory
by default, or in a file the caller owns (a temporary one, so that a large replay lives on disk
rather than in memory). Its tracking records are kept in a dict, so that a `ViewRunner` can
drive the very views the board reads into it (`projections.view_audit`); a direct replay that
never tracks (`projections.fairness.recorded.rows_as_of`) simply never asks.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from projections.runner import ViewRecorder

if TYPE_CHECKING:
    from eventsourcing.persistence import Tracking


class ScratchRecorder(ViewRecorder):
    """A scratch SQLite database the views replay into (in memory unless ``path`` is given)."""

    dialect = "sqlite"
    param = "?"

    def __init__(self, path: str = ":memory:") -> None:  # the library's needs a datastore
        self.connection = sqlite3.connect(path)
        self._tracked: dict[str, int] = {}

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor; the scratch database is committed as it goes."""
        cursor = self.connection.cursor()
        try:
            yield cursor
            self.connection.commit()
        finally:
            cursor.close()

    def reading(self) -> contextlib.AbstractContextManager[Any]:
        """A cursor that only reads."""
        return self.transaction()

    def values(self, row: Any) -> tuple[Any, ...]:
        """A row as a tuple."""
        return tuple(row)

    def track(self, cursor: Any, tracking: Tracking) -> None:  # noqa: ARG002 (kept in a dict)
        """Remember the last event a view took (in this object, not in the database)."""
        self._tracked[tracking.application_name] = tracking.notification_id

    def tracked_positions(self, cursor: Any, names: Sequence[str]) -> dict[str, int]:  # noqa: ARG002
        """The last event each named view took here (absent: none)."""
        return {name: self._tracked[name] for name in names if name in self._tracked}

    def insert_tracking(self, tracking: Tracking) -> None:
        """Remember the last event a view took."""
        self.track(None, tracking)

    def max_tracking_id(self, application_name: str) -> int | None:
        """The last event the named view took here, if any."""
        return self._tracked.get(application_name)

    def close(self) -> None:
        """Close the connection (an in-memory database is gone with it)."""
        self.connection.close()
