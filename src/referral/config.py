"""Typed settings, read once from the environment (prefix REFERRAL_).

Nothing else in the code base reads os.environ.
"""

from datetime import time
from functools import lru_cache
from ipaddress import ip_address
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from referral.domain.vocabulary import Role

if TYPE_CHECKING:
    from referral.keyring import Keyring

PROJECT_ROOT = Path(__file__).resolve().parents[2]


# A development machine keeps its generated master key here (`referral keys init`);
# real deployments set REFERRAL_MASTER_KEYS in the environment instead.
LOCAL_ENV_FILE = PROJECT_ROOT / "var" / "referral.env"


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ip_address(host).is_loopback
    except ValueError:
        return False


class OidcProvider(BaseModel):
    """One network's OpenID Connect provider (docs/operations.md, single sign-on)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str = Field(min_length=1, max_length=80, description='"Sign in with <label>".')
    issuer: str = Field(description="The provider's issuer, exactly as its tokens name it.")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    organisation_claim: str = Field(
        default="organisation",
        min_length=1,
        description="The ID token claim that names the person's organisation.",
    )
    scopes: str = "openid profile email"

    @field_validator("issuer")
    @classmethod
    def _https_issuer(cls, value: str) -> str:
        # Plain http only on this machine (a provider in the tests or a local trial):
        # anything else would carry the client secret and the tokens in the clear.
        parts = urlsplit(value)
        secure = parts.scheme == "https" or (
            parts.scheme == "http" and _loopback(parts.hostname or "")
        )
        if not parts.hostname or not secure or parts.query or parts.fragment:
            raise ValueError("the issuer is an https:// address without query or fragment")
        return value

    @field_validator("scopes")
    @classmethod
    def _openid_scope(cls, value: str) -> str:
        if "openid" not in value.split():
            raise ValueError("the scopes must include openid")
        return value


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
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        description=(
            "FULL: every commit is on disk before it is acknowledged. NORMAL: commits are "
            "not synced one by one; a power cut or OS crash can lose the last commits "
            "(never corrupts the file). See docs/configuration.md."
        ),
    )

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(
        default=1, ge=1, description="Processes `referral serve` starts; each serves the port."
    )
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
    second_factor_roles: tuple[str, ...] | None = Field(
        default=None,
        description="Roles that must sign in with a second factor (TOTP), as JSON: "
        '["coordinator","dpo"]. Unset: every role the policy lets read special or criminal '
        "data, plus dpo and admin. []: nobody is obliged (anyone may still enrol).",
    )
    second_factor_fresh_minutes: int = Field(
        default=5,
        ge=1,
        le=60,
        description="Break-glass and erasure need a second-factor code given within this "
        "many minutes (or with the form).",
    )
    password_time_cost: int = Field(default=3, description="argon2id passes.")
    password_memory_kib: int = Field(default=65536, description="argon2id memory, KiB.")
    password_parallelism: int = Field(default=4, description="argon2id lanes.")

    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token a scraper sends to read /metrics; unset: /metrics answers "
        "404 to everyone. See docs/operations.md, Monitoring.",
    )

    audit_signing_key: SecretStr | None = Field(
        default=None,
        description="Ed25519 private key (base64) that signs audit checkpoints.",
    )
    audit_verify_key: str | None = Field(
        default=None,
        description="Ed25519 public key (base64) that checks audit checkpoints.",
    )
    # Each run costs a few statements and a commit whether one entry waits or a thousand:
    # every second keeps that under 1 % of a core; nothing waits on it (verify and
    # checkpoints sequence first).
    group_commit_window_ms: float = Field(
        default=3.0,
        ge=0,
        le=50,
        description="How long a group commit may wait for the audit writes of reads still "
        "under way, so that one commit serves several (0: commit what is queued at once). "
        "A lone request never waits. See docs/configuration.md.",
    )
    audit_sequencer_interval_ms: int = Field(
        default=1000,
        ge=0,
        description="How often each `referral serve` process sequences queued audit entries "
        "(0: not in this process; `referral audit sequence` or the worker must then).",
    )

    master_keys: SecretStr = Field(
        default=SecretStr(""),
        description="Master keys that wrap subject data keys: ID:BASE64,ID:BASE64 (32 bytes).",
    )
    master_key_id: str | None = Field(
        default=None, description="The master key that wraps new data keys (default: the last)."
    )
    search_key: SecretStr = Field(
        default=SecretStr(""),
        description="The key of the search index's HMACs, base64 (32 bytes); default: "
        "derived from the first master key listed.",
    )
    linkage_key: SecretStr = Field(
        default=SecretStr(""),
        description="The secret repeat-referral linkage tokens are keyed with: ID:BASE64 "
        "(32 bytes; `referral keys generate`). Unset: no linkage (docs/linkage.md).",
    )
    retention_months: dict[str, int] = Field(
        default_factory=dict,
        description="Months after closing before erasure, per closed state, as JSON: "
        "overrides the workflow files' `retain_months`.",
    )
    breakglass_minutes: int = Field(
        default=60, ge=5, le=24 * 60, description="How long break-glass access lasts."
    )

    # The clock: deadlines, timers and `referral worker` / `referral tick` (docs/clock.md).
    due_soon_days: int = Field(
        default=2, ge=0, description="Queues mark deadlines within this many working days."
    )
    drift_days: int = Field(
        default=30,
        ge=0,
        description="Alert on an open case or intervention with no change for this many days "
        "(0: no drift alerts).",
    )
    worker_interval_seconds: float = Field(
        default=30.0, gt=0, description="How long `referral worker` waits between ticks."
    )
    timer_batch: int = Field(default=500, ge=1, description="Timers one tick handles at most.")

    statistics_threshold: int = Field(
        default=5,
        ge=1,
        description="National statistics hide every count below this (small-cell "
        "suppression), and enough others that none can be worked out from the totals; a "
        "time-to-stage figure needs this many cases. See docs/statistics.md.",
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

    # Notices by e-mail, sent by `referral worker` / `referral tick` (docs/notifications.md).
    smtp_host: str | None = Field(
        default=None, description="SMTP server; unset: no e-mail, notices stay in the app."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = Field(default=True, description="Upgrade the connection with STARTTLS.")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    mail_from: str = Field(default="referral@localhost", description="The sender of e-mails.")
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where people reach the service: e-mails link to pages under it.",
    )
    mail_max_attempts: int = Field(
        default=5, ge=1, description="Tries before an e-mail is marked failed."
    )
    mail_retry_seconds: int = Field(
        default=60, ge=1, description="Wait after a first failed try; doubled after each."
    )
    mail_batch: int = Field(default=100, ge=1, description="E-mails one tick sends at most.")

    # Webhooks, delivered by `referral worker` / `referral tick` (docs/operations.md).
    webhooks_allow_http_localhost: bool = Field(
        default=False,
        description="Allow plain http:// endpoints on localhost (tests, a local relay).",
    )
    webhooks_max_attempts: int = Field(
        default=6, ge=1, description="Tries before a webhook delivery is marked failed."
    )
    webhooks_retry_seconds: int = Field(
        default=30, ge=1, description="Wait after a first failed delivery; doubled after each."
    )
    webhooks_timeout_seconds: float = Field(
        default=10.0, gt=0, description="How long one POST may take."
    )
    webhooks_batch: int = Field(default=100, ge=1, description="Deliveries one tick makes at most.")
    # Single sign-on: a provider per network, by network slug (docs/operations.md).
    oidc_providers: dict[str, OidcProvider] = Field(
        default_factory=dict,
        description="OpenID Connect providers by network slug, as JSON: "
        '{"demo-city": {"label": ..., "issuer": ..., "client_id": ..., "client_secret": ...}}.',
    )
    oidc_timeout_seconds: float = Field(
        default=10.0, gt=0, description="How long a call to a provider may take."
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

    @field_validator("second_factor_roles")
    @classmethod
    def _known_roles(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        unknown = sorted(set(value or ()) - {str(role) for role in Role})
        if unknown:
            raise ValueError(f"unknown role(s) {', '.join(unknown)}")
        return value

    @field_validator("audit_signing_key", "audit_verify_key", mode="before")
    @classmethod
    def _blank_key_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "smtp_host",
        "smtp_username",
        "smtp_password",
        "metrics_token",
        "second_factor_roles",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("public_base_url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("give the address people use, e.g. https://referral.example.org")
        return value.rstrip("/")


def keyring_of(settings: Settings) -> "Keyring":
    from referral.keyring import Keyring

    return Keyring.from_config(
        settings.master_keys.get_secret_value(),
        settings.master_key_id,
        search_key=settings.search_key.get_secret_value(),
        linkage_key=settings.linkage_key.get_secret_value(),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
