"""Map a database URL onto the `eventsourcing` library's persistence settings (pure, no IO).

``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` and ``sqlite:///:memory:``
select the library's SQLite module; ``postgresql://user[:password]@host[:port]/dbname
[?schema=name]`` selects its PostgreSQL module.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from domain.errors import LedgerError


class InvalidDatabaseURL(LedgerError):
    """The database URL names no store we know how to open."""

    rule = "invalid-database-url"


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
            env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path},
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
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": dbname,
            "POSTGRES_HOST": parts.hostname,
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            # The library insists on a password setting; trust auth takes an empty one.
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_SCHEMA": schema,
        }
        return Store(backend="postgres", env=env, postgres_schema=schema or None)
    raise InvalidDatabaseURL(
        f"invalid database URL {_redacted(url)!r}: expected sqlite:///FILE or "
        "postgresql://user@host:port/dbname"
    )


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
