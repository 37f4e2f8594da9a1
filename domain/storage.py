"""Map a database URL onto the `eventsourcing` library's persistence settings (pure, no IO).

``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` and ``sqlite:///:memory:``
select the library's SQLite module; ``postgresql://user[:password]@host[:port]/dbname
[?schema=name]`` selects its PostgreSQL module. Each backend gets the ledger's own application
recorder (``APPLICATION_RECORDER_TOPIC``): the library's, with an append-only events table, in
`domain.sqlite_recorder` and `domain.postgres_recorder`. Those modules are imported only when
the library resolves the topic, so importing this one (every CLI command does) imports neither
the library's PostgreSQL module nor psycopg.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from domain.errors import InvalidDatabaseURL

SQLITE_RECORDER_TOPIC = "domain.sqlite_recorder:SQLiteLedgerRecorder"
"""The library setting ``APPLICATION_RECORDER_TOPIC`` for SQLite stores."""

POSTGRES_RECORDER_TOPIC = "domain.postgres_recorder:PostgresLedgerRecorder"
"""The library setting ``APPLICATION_RECORDER_TOPIC`` for PostgreSQL stores."""


@dataclass(frozen=True)
class Store:
    """Where events live: the backend and what the library needs to open it."""

    backend: str
    env: dict[str, str]
    sqlite_path: str | None = None
    postgres_schema: str | None = None

    @property
    def is_postgres(self) -> bool:
        """Whether this store is PostgreSQL."""
        return self.backend == "postgres"


def store_for(url: str) -> Store:
    """Return the library environment for a database URL, or raise `InvalidDatabaseURL`."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not path:
            raise InvalidDatabaseURL(f"invalid database URL {url!r}: no SQLite file named")
        return Store(
            backend="sqlite",
            env={
                "PERSISTENCE_MODULE": _PERSISTENCE_MODULES["sqlite"],
                "SQLITE_DBNAME": path,
                # The library's recorder, with an append-only events table.
                "APPLICATION_RECORDER_TOPIC": SQLITE_RECORDER_TOPIC,
            },
            sqlite_path=path,
        )
    parts = urlsplit(url)
    if parts.scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        dbname = parts.path.lstrip("/")
        if not parts.hostname or not dbname:
            raise InvalidDatabaseURL(
                f"invalid database URL {_redacted(url)!r}: "
                "expected postgresql://user@host:port/dbname"
            )
        query = parse_qs(parts.query)
        schema = query.get("schema", [""])[0]
        if schema and not schema.replace("_", "").isalnum():
            raise InvalidDatabaseURL(
                f"invalid database URL: schema {schema!r} must be letters, digits and '_'"
            )
        env = {
            "PERSISTENCE_MODULE": _PERSISTENCE_MODULES["postgres"],
            "POSTGRES_DBNAME": dbname,
            "POSTGRES_HOST": parts.hostname,
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            # The library insists on a password setting; trust auth takes an empty one.
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_SCHEMA": schema,
            # The library's recorder, with an append-only events table, saving in one round
            # trip (same table, locks and notifications).
            "APPLICATION_RECORDER_TOPIC": POSTGRES_RECORDER_TOPIC,
        }
        return Store(backend="postgres", env=env, postgres_schema=schema or None)
    raise InvalidDatabaseURL(
        f"invalid database URL {_redacted(url)!r}: expected sqlite:///FILE or "
        "postgresql://user@host:port/dbname"
    )


_PERSISTENCE_MODULES = {"sqlite": "eventsourcing.sqlite", "postgres": "eventsourcing.postgres"}


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
