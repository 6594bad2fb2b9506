"""Telecare settings, read from CARNET_TELECARE_* at start."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, field_validator


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
    ice_urls: str = Field(
        default="",
        description="The practice's own STUN/TURN servers for the video (comma-separated stun:, turn:, turns: URLs, "
                    "e.g. coturn from Debian); empty: direct connections only (same network or public addresses).",
    )
    turn_secret: SecretStr | None = Field(
        default=None,
        description="coturn's static-auth-secret (use-auth-secret): each browser gets TURN credentials valid "
                    "for the session's length only.",
    )
    clamd_socket: str = Field(
        default="",
        description="ClamAV daemon's Unix socket (e.g. /run/clamav/clamd.ctl) or host:port: every attachment is "
                    "scanned and refused while clamd is unreachable; empty: stored as 'not scanned'.",
    )

    @field_validator("ice_urls")
    @classmethod
    def _ice_urls(cls, value: str) -> str:
        for url in (u.strip() for u in value.split(",") if u.strip()):
            if not url.startswith(("stun:", "turn:", "turns:")):
                raise ValueError(f"{url!r} is not a stun:, turn: or turns: URL")
        return value

    def ice_url_list(self) -> list[str]:
        return [u.strip() for u in self.ice_urls.split(",") if u.strip()]
