"""Scheduling settings, read from CARNET_SCHEDULING_* at start (per-clinic rules are data)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SchedulingSettings(BaseModel):
    slot_step_minutes: int | None = Field(
        default=None, ge=5, le=240,
        description="Grid of proposed start times; default: the appointment type's duration.",
    )
    min_notice_hours: int = Field(default=0, ge=0, le=24 * 30, description="Staff availability search notice.")
    horizon_days: int = Field(default=180, ge=1, le=730, description="How far ahead availability is searched.")
    holiday_region: str = Field(
        default="metropole", pattern="^(metropole|alsace-moselle)$",
        description="Public holidays: 'metropole' or 'alsace-moselle' (adds Good Friday, 26 December).",
    )
    prescription_warning_sessions: int = Field(
        default=3, ge=0, le=50, description="Warn when this many sessions or fewer remain on a prescription.",
    )
