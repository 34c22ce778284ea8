"""Settings chosen by SERVICE_ENVIRONMENT, read once at import (alembic's env.py imports this too)."""

import os

from pydantic_settings import BaseSettings, SettingsConfigDict


class LocalSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    # docker compose's service name: without DB_DSN, a run outside compose waits on DNS.
    db_dsn: str = "postgresql+asyncpg://ledger:ledger@db:5432/ledger"
    db_pool_size: int = 5
    debug: bool = True


class CISettings(LocalSettings):
    db_dsn: str  # required: CI must say where the database is
    db_pool_size: int = 2
    debug: bool = False


ENVIRONMENTS = {"local": LocalSettings, "ci": CISettings}


def load_settings() -> LocalSettings:
    return ENVIRONMENTS[os.environ.get("SERVICE_ENVIRONMENT", "local")]()


settings = load_settings()
