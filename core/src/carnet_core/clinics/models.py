"""Clinic and per-clinic plugin enablement tables."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from carnet_core.db.base import ClinicOwned, UTCDateTime, utcnow


class Clinic(SQLModel, table=True):
    __tablename__ = "core_clinic"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=63, unique=True, index=False)
    name: str = Field(max_length=200)
    # Where patients come: shown on every patient page (booking, links, consent, telecare).
    address: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})
    postcode: str = Field(default="", max_length=5, sa_column_kwargs={"server_default": ""})
    city: str = Field(default="", max_length=100, sa_column_kwargs={"server_default": ""})
    timezone: str = Field(default="Europe/Paris", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ClinicPlugin(ClinicOwned, table=True):
    """Whether a clinic has enabled an allowed plugin. Disabling keeps all the plugin's data."""

    __tablename__ = "core_clinic_plugin"
    __table_args__ = (sa.UniqueConstraint("clinic_id", "plugin", name="uq_core_clinic_plugin_clinic_plugin"),)

    id: int | None = Field(default=None, primary_key=True)
    plugin: str = Field(max_length=63)
    enabled: bool = Field(default=True)
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
