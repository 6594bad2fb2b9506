"""JSON shapes of the consent API (pydantic: unknown fields are refused)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from carnet_core.plugin_api import Id


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestIn(Strict):
    template_id: Id = Field(description="A published form of the clinic")
    patient_id: Id = Field(description="The patient (for a minor, the holders of parental authority sign)")


class WithdrawalIn(Strict):
    purpose: str = Field(min_length=2, max_length=40, pattern=r"^[a-z][a-z0-9_]+$",
                         description="The clause key withdrawn (sms_reminders, telesoin, …)")
