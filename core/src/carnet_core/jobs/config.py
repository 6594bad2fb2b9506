"""Jobs settings, read from the process settings' CARNET_JOBS_* variables."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from carnet_core.settings import SettingsError


class JobsError(RuntimeError):
    """The jobs runtime is misused or misconfigured; the message names the fix."""


class JobsConfig(BaseModel):
    """Tuning knobs; the defaults suit production."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    namespace: str = Field("carnet", description="Prefix of every Redis key the broker writes.")
    relay_interval: float = Field(1.0, gt=0, description="Seconds between outbox polls.")
    relay_batch: int = Field(100, ge=1, le=10_000)
    relay_lease: float = Field(300.0, gt=0, description="Seconds a relay holds claimed rows.")
    redrive_after: float = Field(
        3600.0,
        gt=0,
        description="Seconds without a sign of life before a published job is published again.",
    )
    min_backoff_ms: int = Field(15_000, ge=1)
    max_backoff_ms: int = Field(30 * 60 * 1000, ge=1)
    heartbeat_timeout_ms: int = Field(60_000, ge=1000)
    maintenance_chance: int = Field(1000, ge=0, le=1_000_000)
    scheduler_interval: float = Field(5.0, gt=0)
    scheduler_lease: float = Field(30.0, gt=0)
    worker_threads: int = Field(8, ge=1, le=256)
    worker_timeout_ms: int = Field(1000, ge=10)

    @model_validator(mode="after")
    def _consistent(self) -> JobsConfig:
        if self.redrive_after * 1000 <= self.max_backoff_ms:
            raise ValueError(
                "CARNET_JOBS_REDRIVE_AFTER (seconds) must exceed CARNET_JOBS_MAX_BACKOFF_MS, "
                "or a job "
                "waiting for its retry would be published a second time"
            )
        if self.scheduler_lease <= self.scheduler_interval:
            raise ValueError(
                "CARNET_JOBS_SCHEDULER_LEASE must exceed CARNET_JOBS_SCHEDULER_INTERVAL"
            )
        return self


def jobs_config(env: Mapping[str, str]) -> JobsConfig:
    prefix = "CARNET_JOBS_"
    raw = {k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix) and v != ""}
    try:
        return JobsConfig(**raw)
    except ValidationError as exc:
        problems = "; ".join(
            (f"{prefix}{str(e['loc'][0]).upper()}: " if e["loc"] else "") + e["msg"]
            for e in exc.errors()
        )
        raise SettingsError(f"invalid jobs settings: {problems}") from None
