"""Jobs: outbox, recorded effects, failed jobs, leases, schedule state.

Revision ID: core_jobs_0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.db.base import UTCDateTime

revision = "core_jobs_0001"
down_revision = None
branch_labels = ("core_jobs",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "core_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("actor", sa.String(length=127), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("kwargs", sa.Text(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("not_before", UTCDateTime(), nullable=True),
        sa.Column("max_age_ms", sa.Integer(), nullable=True),
        sa.Column("claimed_by", sa.String(length=36), nullable=True),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("publish_attempts", sa.Integer(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.Column("last_seen_at", UTCDateTime(), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["core_clinic.id"], name="fk_core_outbox_clinic_id_core_clinic"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_core_outbox"),
        sa.UniqueConstraint("message_id", name="uq_core_outbox_message_id"),
    )
    op.create_index("ix_core_outbox_clinic_id", "core_outbox", ["clinic_id"])
    op.create_index("ix_core_outbox_status_due", "core_outbox", ["status", "not_before"])
    op.create_table(
        "core_job_effect",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_core_job_effect"),
        sa.UniqueConstraint("key", name="uq_core_job_effect_key"),
    )
    op.create_table(
        "core_failed_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("actor", sa.String(length=127), nullable=False),
        sa.Column("queue", sa.String(length=127), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("kwargs", sa.Text(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=True),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("failed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_core_failed_job"),
    )
    op.create_index("ix_core_failed_job_message_id", "core_failed_job", ["message_id"])
    op.create_index("ix_core_failed_job_clinic_id", "core_failed_job", ["clinic_id"])
    op.create_table(
        "core_job_lease",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("holder", sa.String(length=127), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_core_job_lease"),
    )
    op.create_table(
        "core_schedule_state",
        sa.Column("name", sa.String(length=127), nullable=False),
        sa.Column("next_run_at", UTCDateTime(), nullable=False),
        sa.Column("last_run_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_core_schedule_state"),
    )


def downgrade() -> None:
    op.drop_table("core_schedule_state")
    op.drop_table("core_job_lease")
    op.drop_table("core_failed_job")
    op.drop_table("core_job_effect")
    op.drop_table("core_outbox")
