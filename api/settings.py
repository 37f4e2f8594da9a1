"""Reliquary's settings, read from ``RELIQUARY_*`` environment variables and validated once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.rules import PreferencePolicy

if TYPE_CHECKING:
    from projections.checklist import ChecklistPolicy
    from projections.health import HealthPolicy
    from projections.translog.witness import LogEntry
    from projections.translog.witness_policy import WitnessPolicy
from domain.storage import store_for


class Settings(BaseSettings):
    """Configuration for every entry point (see docs/configuration.md)."""

    model_config = SettingsConfigDict(env_prefix="RELIQUARY_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///reliquary.db",
        description="sqlite:///FILE (the default, reliquary.db here) or "
        "postgresql://user@host:port/dbname[?schema=name]",
    )
    views_database_url: str | None = Field(
        default=None,
        description="where the views and their tracking live: postgresql://user@host:port/"
        "dbname[?schema=name], another PostgreSQL database (or schema) than the events'; "
        "unset, the views live beside the events. Needs a PostgreSQL database_url",
    )
    create_tables: bool = Field(
        default=True,
        description="create missing tables on start; false for a service role that may "
        "only read and append (see docs/transparency.md)",
    )
    views: Literal["auto", "catch-up-on-read", "follow"] = Field(
        default="auto",
        description="who keeps the views current: catch-up-on-read (each read takes new "
        "events first), follow (a projection runner does; reads serve the views as they are "
        "and say how far behind they are), or auto (follow if this role may not write the "
        "views, as under the hardened deployment's service role; else catch-up-on-read)",
    )
    cache_size: int = Field(default=1000, ge=0, description="models kept in memory")
    signing_key: Path | None = Field(
        default=None,
        description="the ledger's signing key file (default: beside the SQLite file, "
        "or ./reliquary-signing.key for PostgreSQL)",
    )
    log_origin: str = Field(
        default="reliquary.local/ledger",
        pattern=r"^[^\s+]+$",
        description="the transparency log's origin line and key name",
    )
    max_document_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="the largest command document, as a file for `apply` or a request body "
        "for the HTTP API; a larger one is refused before it is read whole or parsed",
    )
    idempotency_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="how long a request holds its Idempotency-Key while it runs; a retry "
        "after a crash takes the key over once the lease has expired",
    )
    idempotency_key_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 365,
        description="how long a finished request's Idempotency-Key and its answer are kept",
    )
    checkpoint_interval_seconds: float = Field(
        default=10.0,
        ge=0.1,
        le=86_400,
        description="how often the HTTP service's log follower signs a checkpoint of new "
        "entries (writers sign; a reader never does)",
    )
    checklist_archive_check_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="the retirement checklist: how old the latest archive check may be",
    )
    checklist_signal_days: int = Field(
        default=45,
        ge=1,
        le=3650,
        description="the retirement checklist: how long ago the latest signal's period may "
        "have ended",
    )
    stale_request_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="the board's access queue: how many days a request may wait for a "
        "decision before it is highlighted as stale",
    )
    follow_interval_seconds: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="how often `reliquary projections follow` looks for new events",
    )
    witness_config: Path | None = Field(
        default=None,
        description="a JSON file of the logs this service witnesses (c2sp.org/tlog-witness): "
        '{"logs": [{"origin": ..., "verifier_key": ...}]}; set, with witness_key, to serve '
        "POST /witness/add-checkpoint",
    )
    witness_key: Path | None = Field(
        default=None,
        description="the witness's own cosigner signing key file (`reliquary witness key`)",
    )
    witness_policy: Path | None = Field(
        default=None,
        description="the witness policy of this ledger's own log (JSON: witnesses and a "
        "quorum, see docs/transparency.md): each checkpoint signed is submitted to them and "
        "published with their cosignatures",
    )
    witness_mode: Literal["advisory", "required"] = Field(
        default="advisory",
        description="with witness_policy: advisory publishes the latest checkpoint with the "
        "cosignatures it has; required publishes (and proves against) only the latest "
        "checkpoint a quorum of the witnesses cosigned",
    )
    witness_timeout_seconds: float = Field(
        default=10.0,
        ge=0.1,
        le=300,
        description="how long each witness may take to answer a submitted checkpoint",
    )
    health_max_lag_events: int = Field(
        default=1000,
        ge=0,
        le=1_000_000_000,
        description="GET /health: how many events a view may be behind the log and still "
        "count as ready (beyond: lagging)",
    )
    health_max_lag_seconds: float = Field(
        default=60.0,
        ge=0,
        le=86_400 * 365,
        description="GET /health: how old the oldest event a view has not taken may be, in "
        "seconds, and the view still count as ready (beyond: lagging)",
    )
    health_max_log_lag_events: int = Field(
        default=10_000,
        ge=0,
        le=1_000_000_000,
        description="GET /health: how many events the transparency log's tree may be behind "
        "the ledger (its follower catching up: lagging); beyond, the service is broken",
    )
    preference_min_interviews: int = Field(default=2, ge=1)
    preference_min_days: int = Field(default=2, ge=1)
    preference_min_framings: int = Field(default=2, ge=1)

    @field_validator("database_url")
    @classmethod
    def _known_store(cls, value: str) -> str:
        value = value.strip()
        store_for(value)  # raises InvalidDatabaseURL naming the problem
        return value

    @field_validator("views_database_url")
    @classmethod
    def _views_elsewhere(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A PostgreSQL URL, for a PostgreSQL ledger: SQLite's views live in the ledger's file
        (a second SQLite file would need a second, unsynchronised connection to follow it)."""
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not store_for(value).is_postgres:
            raise ValueError(
                "RELIQUARY_VIEWS_DATABASE_URL must be a postgresql:// URL (views elsewhere "
                "live in PostgreSQL)"
            )
        ledger = info.data.get("database_url")
        if ledger is not None and not store_for(ledger).is_postgres:
            raise ValueError(
                "RELIQUARY_VIEWS_DATABASE_URL needs a PostgreSQL ledger (RELIQUARY_DATABASE_URL "
                "postgresql://...); a SQLite ledger keeps its views in its own file: unset it"
            )
        return value


def preference_policy(settings: Settings) -> PreferencePolicy:
    """The preference stability policy these settings configure."""
    return PreferencePolicy(
        settings.preference_min_interviews,
        settings.preference_min_days,
        settings.preference_min_framings,
    )


def health_policy(settings: Settings) -> HealthPolicy:
    """The thresholds of ``GET /health`` these settings configure."""
    from projections.health import HealthPolicy as Policy

    return Policy(
        max_lag_events=settings.health_max_lag_events,
        max_lag_seconds=settings.health_max_lag_seconds,
        max_log_lag_events=settings.health_max_log_lag_events,
    )


def checklist_policy(settings: Settings) -> ChecklistPolicy:
    """The retirement checklist's thresholds these settings configure."""
    from projections.checklist import ChecklistPolicy as Policy

    return Policy(
        archive_check_days=settings.checklist_archive_check_days,
        signal_days=settings.checklist_signal_days,
        preference=preference_policy(settings),
    )


def signing_key_path(settings: Settings) -> Path:
    """Where the signing key lives: the setting, or beside the SQLite file."""
    if settings.signing_key is not None:
        return settings.signing_key
    store = store_for(settings.database_url)
    if store.sqlite_path and store.sqlite_path != ":memory:":
        database = Path(store.sqlite_path)
        return database.with_name(database.stem + ".signing-key")
    return Path("reliquary-signing.key")


def witness_configuration(settings: Settings) -> tuple[dict[str, LogEntry], str] | None:
    """The logs to witness and the witness's signing key, or None if this is no witness.

    Both settings or neither: one without the other is a configuration error, said at start.
    """
    from domain.errors import SigningKeyError
    from projections.translog.keys import load_signing_key
    from projections.translog.witness import load_witness_config

    if settings.witness_config is None and settings.witness_key is None:
        return None
    if settings.witness_config is None or settings.witness_key is None:
        raise SigningKeyError(
            "a witness needs both RELIQUARY_WITNESS_CONFIG and RELIQUARY_WITNESS_KEY"
        )
    return load_witness_config(settings.witness_config), load_signing_key(settings.witness_key)


def own_witness_policy(settings: Settings) -> WitnessPolicy | None:
    """The witness policy of the ledger's own log, or None; `required` needs one."""
    from domain.errors import WitnessPolicyError
    from projections.translog.witness_policy import load_witness_policy

    if settings.witness_policy is None:
        if settings.witness_mode == "required":
            raise WitnessPolicyError(
                "RELIQUARY_WITNESS_MODE=required needs RELIQUARY_WITNESS_POLICY: the witnesses "
                "whose quorum a checkpoint needs"
            )
        return None
    return load_witness_policy(settings.witness_policy)


def get_settings() -> Settings:
    """Read the settings from the environment now (never at import)."""
    return Settings()
