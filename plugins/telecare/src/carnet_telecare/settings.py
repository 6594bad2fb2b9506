"""Telecare settings, read from CARNET_TELECARE_* at start."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TelecareSettings(BaseModel):
    attachment_max_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, le=8 * 1024 * 1024,
        description="Largest attachment accepted, in bytes (the request body limit is 10 MB).",
    )
    patient_messages_per_hour: int = Field(default=4, ge=1, le=100,
                                           description="Messages a patient may send in one conversation per hour.")
    patient_messages_per_day: int = Field(default=10, ge=1, le=500,
                                          description="Messages a patient may send per day, every conversation.")
    care_months: int = Field(default=12, ge=1, le=60,
                             description="A patient may be written to when cared for within this many months.")
    link_days: int = Field(default=30, ge=1, le=90, description="How long the link of a notification works.")
    code_minutes: int = Field(default=30, ge=5, le=120,
                              description="How long a verified code keeps the conversation open in that link.")
