"""Process settings: read once from the environment by each entry point and passed down."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class SettingsError(Exception):
    """A setting is invalid; the message names the variable and the fix."""


OWASP_MIN_ARGON2_MEMORY_KIB = 19 * 1024
SECRET_FIELDS = {"smtp_url", "redis_url", "database_url", "master_key"}


class Settings(BaseModel):
    """Core settings. Plugin settings live in `plugins` keyed by plugin name."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    home: Path = Field(description="All local state: database, keys, mail and SMS folders.")
    database_url: str
    # PostgreSQL: every connection does `SET ROLE` to this role, so row-level security applies
    # even when the login role may bypass it (superuser, BYPASSRLS).
    database_role: str | None = None
    redis_url: str | None = None
    base_url: str = "http://127.0.0.1:8000"
    smtp_url: str | None = None
    mail_from: str = "Carnet <no-reply@localhost>"
    allowed_plugins: tuple[str, ...] | None = None  # None: every installed plugin is allowed
    locale: str = "fr"
    master_key: str | None = None  # base64, else read from master_key_file
    master_key_file: Path | None = None
    audit_retention_days: int = 365
    # Backups (carnet_core.backup): where `carnet backup` and the scheduled job write (default
    # CARNET_HOME/backups), how many complete copies to keep, and how often the job makes one
    # (hours; 0: no scheduled backup).
    backup_dir: Path | None = None
    backup_keep: int = Field(7, ge=1, le=10_000)
    backup_every_hours: int = Field(24, ge=0, le=24 * 366)
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    # Login throttling (identity.policy): failed steps tolerated per account (from devices that never
    # logged in to it) and per address within the window, then refusals that double with each
    # further failure, from login_backoff_seconds up to the window. Known devices count apart.
    login_max_failures_per_account: int = Field(5, ge=1, le=1000)
    login_max_failures_per_address: int = Field(20, ge=1, le=100_000)
    login_failure_window_minutes: int = Field(24 * 60, ge=1, le=7 * 24 * 60)
    login_backoff_seconds: int = Field(60, ge=1, le=24 * 3600)
    login_known_device_days: int = Field(90, ge=1, le=400)
    # argon2id memory per password hash; OWASP's floor is 19 MiB (checked in load_settings).
    password_hash_memory_kib: int = Field(64 * 1024, ge=8, le=4 * 1024 * 1024)
    testing: bool = False  # the test suite: allows cheaper password hashing, never in production
    in_process_worker: bool = True
    debug: bool = False
    log_level: str = "info"
    log_format: str = "json"
    plugins: dict[str, Any] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict, repr=False)

    @field_validator("database_role")
    @classmethod
    def _database_role(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", v):
            raise ValueError("must be a PostgreSQL role name (letters, digits and _, at most 63)")
        return v

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL such as https://carnet.example.fr")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _password_hash_floor(self) -> Settings:
        if self.password_hash_memory_kib < OWASP_MIN_ARGON2_MEMORY_KIB and not self.testing:
            raise ValueError(
                f"CARNET_PASSWORD_HASH_MEMORY_KIB must be at least {OWASP_MIN_ARGON2_MEMORY_KIB} "
                "(19 MiB, OWASP's minimum for argon2id); lower values are for the test suite only "
                "(CARNET_TESTING=1)"
            )
        return self

    @property
    def production(self) -> bool:
        """Production shape: a real broker is configured (Redis)."""
        return self.redis_url is not None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def mail_dir(self) -> Path:
        return self.home / "mail"

    @property
    def sms_dir(self) -> Path:
        return self.home / "sms"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def backups_dir(self) -> Path:
        return self.backup_dir if self.backup_dir is not None else self.home / "backups"

    @property
    def secure_cookies(self) -> bool:
        """Secure cookies everywhere except plain-HTTP development on localhost."""
        parts = urlsplit(self.base_url)
        local = parts.hostname in ("127.0.0.1", "localhost", "::1")
        return not (parts.scheme == "http" and local)

    def redacted(self) -> dict[str, Any]:
        """The settings as shown to an operator: secrets replaced."""
        data = self.model_dump(exclude={"env", "plugins"})
        for key in SECRET_FIELDS:
            if data.get(key):
                data[key] = _redact_url(str(data[key])) if key.endswith("_url") else "***"
        data["plugins"] = {
            name: (cfg.model_dump() if isinstance(cfg, BaseModel) else cfg)
            for name, cfg in self.plugins.items()
        }
        return data

    def with_plugin_settings(self, plugins: dict[str, Any]) -> Settings:
        return self.model_copy(update={"plugins": plugins})


def _redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return url.replace(parts.netloc, netloc)
    return url


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from environment variables (`os.environ` by default)."""
    env = dict(os.environ if env is None else env)
    home = Path(env.get("CARNET_HOME") or "./var").expanduser().resolve()
    database_url = env.get("CARNET_DATABASE_URL") or f"sqlite:///{home / 'carnet.db'}"
    allowed_raw = env.get("CARNET_ALLOWED_PLUGINS")
    allowed = None
    if allowed_raw is not None and allowed_raw.strip() != "*":
        allowed = tuple(p.strip() for p in allowed_raw.split(",") if p.strip())
    values: dict[str, Any] = {
        "home": home,
        "database_url": database_url,
        "database_role": env.get("CARNET_DATABASE_ROLE") or None,
        "redis_url": env.get("CARNET_REDIS_URL") or None,
        "base_url": env.get("CARNET_BASE_URL") or "http://127.0.0.1:8000",
        "smtp_url": env.get("CARNET_SMTP_URL") or None,
        "mail_from": env.get("CARNET_MAIL_FROM") or "Carnet <no-reply@localhost>",
        "allowed_plugins": allowed,
        "locale": env.get("CARNET_LOCALE") or "fr",
        "master_key": env.get("CARNET_MASTER_KEY") or None,
        "master_key_file": env.get("CARNET_MASTER_KEY_FILE") or None,
        "audit_retention_days": env.get("CARNET_AUDIT_RETENTION_DAYS") or 365,
        "backup_dir": env.get("CARNET_BACKUP_DIR") or None,
        "backup_keep": env.get("CARNET_BACKUP_KEEP") or 7,
        "backup_every_hours": env.get("CARNET_BACKUP_EVERY_HOURS") or 24,
        "in_process_worker": _flag(env.get("CARNET_IN_PROCESS_WORKER"), not env.get("CARNET_REDIS_URL")),
        "debug": _flag(env.get("CARNET_DEBUG"), False),
        "log_level": (env.get("CARNET_LOG_LEVEL") or "info").lower(),
        "log_format": (env.get("CARNET_LOG_FORMAT") or "json").lower(),
        "login_max_failures_per_account": env.get("CARNET_LOGIN_MAX_FAILURES_PER_ACCOUNT") or 5,
        "login_max_failures_per_address": env.get("CARNET_LOGIN_MAX_FAILURES_PER_ADDRESS") or 20,
        "login_failure_window_minutes": env.get("CARNET_LOGIN_FAILURE_WINDOW_MINUTES") or 24 * 60,
        "login_backoff_seconds": env.get("CARNET_LOGIN_BACKOFF_SECONDS") or 60,
        "login_known_device_days": env.get("CARNET_LOGIN_KNOWN_DEVICE_DAYS") or 90,
        "password_hash_memory_kib": env.get("CARNET_PASSWORD_HASH_MEMORY_KIB") or 64 * 1024,
        "testing": _flag(env.get("CARNET_TESTING"), False),
        "env": {k: v for k, v in env.items() if k.startswith("CARNET_")},
    }
    values.update(overrides)
    if values["locale"] not in ("fr", "en"):
        raise SettingsError("CARNET_LOCALE must be 'fr' or 'en'")
    if values["log_level"] not in ("debug", "info", "warning", "error"):
        raise SettingsError("CARNET_LOG_LEVEL must be debug, info, warning or error")
    if values["log_format"] not in ("json", "text"):
        raise SettingsError("CARNET_LOG_FORMAT must be 'json' or 'text'")
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise SettingsError(_explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        if not err["loc"]:  # a check across fields: its message names the variables
            lines.append(str(err["msg"]).removeprefix("Value error, "))
            continue
        lines.append(f"CARNET_{str(err['loc'][0]).upper()}: {err['msg']}")
    return "invalid settings: " + "; ".join(lines)


def plugin_settings_from_env(name: str, model: type[BaseModel], env: Mapping[str, str]) -> BaseModel:
    """Validate a plugin's settings model from `CARNET_<PLUGIN>_*` variables."""
    prefix = f"CARNET_{name.upper()}_"
    raw = {k[len(prefix):].lower(): v for k, v in env.items() if k.startswith(prefix)}
    try:
        return model(**raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{prefix}{str(e['loc'][0]).upper() if e['loc'] else '?'}: {e['msg']}" for e in exc.errors()
        )
        raise SettingsError(f"plugin '{name}' has invalid settings: {problems}") from None
