"""Settings from the environment (prefix SHAREBUY_), read once per process.

Production mode refuses to start with the development secret: tokens, sessions and webhook
signatures would then be forgeable by anyone who has read this file.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-not-a-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHAREBUY_", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    database_url: str = "sqlite:///var/sharebuy.db"
    # Signs access tokens and derives webhook secrets; at least 32 characters in production.
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    session_hours: int = 12
    cookie_secure: bool = False
    sign_in_max_failures: int = 5
    sign_in_lockout_minutes: int = 15
    sign_in_rate_per_minute: int = 20
    # The address clients reach the servers at (https://sharebuy.example.cn): public links, such
    # as the image in collectibles' metadata, use it rather than the request's Host header,
    # which any client chooses. Unset, the request's own address is used.
    public_url: str = ""
    log_json: bool = True
    # Run the daily release and periodic jobs in this server process (`serve --scheduler`).
    scheduler: bool = False
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment == "production":
            secret = self.secret_key.get_secret_value()
            if secret == DEV_SECRET or len(secret) < 32:
                raise ValueError(
                    "SHAREBUY_SECRET_KEY must be set to a random value of at least 32 characters "
                    "in production · 生产环境必须设置至少 32 个字符的随机 SHAREBUY_SECRET_KEY"
                )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
