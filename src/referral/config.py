"""Typed settings, read once from the environment (prefix REFERRAL_).

Nothing else in the code base reads os.environ.
"""

from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from referral.keyring import Keyring

PROJECT_ROOT = Path(__file__).resolve().parents[2]


# A development machine keeps its generated master key here (`referral keys init`);
# real deployments set REFERRAL_MASTER_KEYS in the environment instead.
LOCAL_ENV_FILE = PROJECT_ROOT / "var" / "referral.env"

# Months after closing before a case's personal data is erased, per final state.
DEFAULT_RETENTION_MONTHS = {
    "closed": 36,
    "closed_no_action": 12,
    "signposted": 12,
    "police_led": 36,
    "closed_consent_refused": 12,
    "closed_consent_withdrawn": 12,
    "transferred": 12,
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REFERRAL_", extra="ignore", env_file=LOCAL_ENV_FILE
    )

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

    host: str = "127.0.0.1"
    port: int = 8000
    cookie_secure: bool = Field(
        default=True,
        description="Send the session cookie over HTTPS only. Browsers treat localhost as secure.",
    )
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    login_max_failures: int = Field(default=5, description="Per username, within the window.")
    login_max_failures_per_client: int = Field(default=20, description="Per client address.")
    login_window_minutes: int = 15
    api_token_days: int = 90
    password_time_cost: int = Field(default=3, description="argon2id passes.")
    password_memory_kib: int = Field(default=65536, description="argon2id memory, KiB.")
    password_parallelism: int = Field(default=4, description="argon2id lanes.")

    audit_signing_key: SecretStr | None = Field(
        default=None,
        description="Ed25519 private key (base64) that signs audit checkpoints.",
    )
    audit_verify_key: str | None = Field(
        default=None,
        description="Ed25519 public key (base64) that checks audit checkpoints.",
    )

    master_keys: SecretStr = Field(
        default=SecretStr(""),
        description="Master keys that wrap subject data keys: ID:BASE64,ID:BASE64 (32 bytes).",
    )
    master_key_id: str | None = Field(
        default=None, description="The master key that wraps new data keys (default: the last)."
    )
    retention_months: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_RETENTION_MONTHS),
        description="Months after closing before erasure, per final state, as JSON.",
    )
    breakglass_minutes: int = Field(
        default=60, ge=5, le=24 * 60, description="How long break-glass access lasts."
    )

    report_denial_burst_count: int = Field(
        default=5, ge=2, description="Access reports flag this many denials by one user..."
    )
    report_denial_burst_minutes: int = Field(
        default=10, ge=1, description="...within this many minutes as a burst."
    )
    working_days: tuple[int, ...] = Field(
        default=(1, 2, 3, 4, 5),
        description="ISO weekdays (1 = Monday) of the working week, as JSON: [1,2,3,4,5].",
    )
    working_day_start: time = Field(default=time(8, 0), description="Local time, HH:MM.")
    working_day_end: time = Field(default=time(18, 0), description="Local time, HH:MM.")
    working_time_zone: str = Field(
        default="Europe/London", description="IANA time zone of the working week."
    )

    @field_validator("working_days")
    @classmethod
    def _iso_weekdays(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(not 1 <= day <= 7 for day in value):
            raise ValueError("working days are ISO weekdays, 1 (Monday) to 7 (Sunday)")
        return tuple(sorted(set(value)))

    @field_validator("working_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("retention_months")
    @classmethod
    def _positive_months(cls, value: dict[str, int]) -> dict[str, int]:
        for state, months in value.items():
            if months < 1:
                raise ValueError(f"retention for {state!r} must be at least 1 month")
        return value

    @field_validator("audit_signing_key", "audit_verify_key", mode="before")
    @classmethod
    def _blank_key_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


def keyring_of(settings: Settings) -> "Keyring":
    from referral.keyring import Keyring

    return Keyring.from_config(settings.master_keys.get_secret_value(), settings.master_key_id)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
