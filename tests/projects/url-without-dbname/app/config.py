import os

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=os.environ.get("APP_CONFIG_FILE", ".env"), extra="ignore")

    app_name: str = "books"
    db_uri: str = "postgresql+asyncpg://books:books@localhost:5432"


settings = Settings()
