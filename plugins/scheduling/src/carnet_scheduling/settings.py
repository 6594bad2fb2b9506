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
        default="metropole",
        pattern="^(metropole|alsace-moselle|guadeloupe|martinique|guyane|la-reunion|mayotte|saint-barthelemy|"
                "saint-martin|saint-pierre-et-miquelon|nouvelle-caledonie|polynesie-francaise|wallis-et-futuna)$",
        description="Public holidays of the practice's region: 'metropole', 'alsace-moselle' (adds Good Friday, "
                    "26 December) or an overseas department or collectivity ('la-reunion', 'guadeloupe'…).",
    )
    prescription_warning_sessions: int = Field(
        default=3, ge=0, le=50, description="Warn when this many sessions or fewer remain on a prescription.",
    )
    # Patient side: online booking, patient links, waiting list.
    online_min_notice_hours: int = Field(
        default=24, ge=0, le=24 * 30, description="Online booking: earliest slot offered, in hours from now.",
    )
    online_horizon_days: int = Field(default=60, ge=1, le=365, description="Online booking: how far ahead.")
    confirm_minutes: int = Field(
        default=30, ge=5, le=24 * 60, description="An online booking not confirmed within this time is released.",
    )
    cancel_cutoff_hours: int = Field(
        default=24, ge=0, le=24 * 14,
        description="Patients cancel or move through their link until this many hours before.",
    )
    offer_hours: int = Field(default=12, ge=1, le=24 * 7, description="How long a waiting-list offer stays open.")
    offers_per_slot: int = Field(default=3, ge=1, le=20, description="Waiting files offered each freed slot at once.")
    waitlist_reconfirm_days: int = Field(
        default=60, ge=7, le=365, description="Ask waiting patients 'still interested?' at this interval.",
    )
    waitlist_reply_days: int = Field(
        default=14, ge=1, le=60, description="Days to answer 'still interested?' before the file is removed.",
    )
    priority_urgent_points: int = Field(
        default=50, ge=0, le=1000, description="Waiting list: points for an urgent file.",
    )
    priority_child_points: int = Field(
        default=20, ge=0, le=1000, description="Waiting list: points for a patient under 18.",
    )
    priority_month_points: int = Field(
        default=10, ge=0, le=1000, description="Waiting list: points per month of waiting.",
    )
    priority_triage_points: int = Field(
        default=30, ge=0, le=1000, description="Waiting list: points per priority step set by the practitioner.",
    )
