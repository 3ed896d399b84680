"""Typed settings, read once from the environment (prefix REFERRAL_).

Nothing else in the code base reads os.environ.
"""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REFERRAL_", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'var' / 'referral.sqlite3'}",
        description="SQLAlchemy URL; SQLite by default, postgresql+psycopg:// in production.",
    )
    test_database_url: str | None = Field(
        default=None,
        description="When set, the test suite also runs against this PostgreSQL server.",
    )
    workflows_dir: Path = PROJECT_ROOT / "workflows"
    policies_dir: Path = PROJECT_ROOT / "policies"
    log_level: str = "INFO"
    log_json: bool = False
    sqlite_busy_timeout_ms: int = 30_000


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
