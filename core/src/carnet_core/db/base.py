"""Shared column types and the ClinicOwned mixin every clinic row inherits."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


def _fk_column(constraint: sa.ForeignKeyConstraint, table: sa.Table) -> str:
    """The referencing column a foreign key is named after: its only column, or for a same-clinic
    key `(clinic_id, x)` the `x` (so it keeps the name a plain key on `x` had)."""
    names = [c for c in constraint.column_keys if c != "clinic_id"] or list(constraint.column_keys)
    return names[0]


# Stable constraint names so Alembic batch migrations on SQLite and drift checks agree.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk_column": _fk_column,
    "fk": "fk_%(table_name)s_%(fk_column)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC-aware one is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class ClinicOwned(SQLModel):
    """Mixin for every row that belongs to a clinic; sessions scope queries on it centrally."""

    clinic_id: int = Field(foreign_key="core_clinic.id", index=True, nullable=False)
