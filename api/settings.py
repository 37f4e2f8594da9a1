"""Reliquary's settings, read from ``RELIQUARY_*`` environment variables and validated once."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.storage import store_for


class Settings(BaseSettings):
    """Configuration for every entry point (see docs/configuration.md)."""

    model_config = SettingsConfigDict(env_prefix="RELIQUARY_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///reliquary.db",
        description="sqlite:///FILE (the default, reliquary.db here) or "
        "postgresql://user@host:port/dbname[?schema=name]",
    )
    cache_size: int = Field(default=1000, ge=0, description="models kept in memory")
    preference_min_interviews: int = Field(default=2, ge=1)
    preference_min_days: int = Field(default=2, ge=1)
    preference_min_framings: int = Field(default=2, ge=1)

    @field_validator("database_url")
    @classmethod
    def _known_store(cls, value: str) -> str:
        value = value.strip()
        store_for(value)  # raises InvalidDatabaseURL naming the problem
        return value


def get_settings() -> Settings:
    """Read the settings from the environment now (never at import)."""
    return Settings()
