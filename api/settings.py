"""Reliquary's settings, read from ``RELIQUARY_*`` environment variables and validated once."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.rules import PreferencePolicy
from domain.storage import store_for


class Settings(BaseSettings):
    """Configuration for every entry point (see docs/configuration.md)."""

    model_config = SettingsConfigDict(env_prefix="RELIQUARY_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///reliquary.db",
        description="sqlite:///FILE (the default, reliquary.db here) or "
        "postgresql://user@host:port/dbname[?schema=name]",
    )
    create_tables: bool = Field(
        default=True,
        description="create missing tables on start; false for a service role that may "
        "only read and append (see docs/transparency.md)",
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
    preference_min_interviews: int = Field(default=2, ge=1)
    preference_min_days: int = Field(default=2, ge=1)
    preference_min_framings: int = Field(default=2, ge=1)

    @field_validator("database_url")
    @classmethod
    def _known_store(cls, value: str) -> str:
        value = value.strip()
        store_for(value)  # raises InvalidDatabaseURL naming the problem
        return value


def preference_policy(settings: Settings) -> PreferencePolicy:
    """The preference stability policy these settings configure."""
    return PreferencePolicy(
        settings.preference_min_interviews,
        settings.preference_min_days,
        settings.preference_min_framings,
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


def get_settings() -> Settings:
    """Read the settings from the environment now (never at import)."""
    return Settings()
