"""Core audit: append-only records, chain heads, signed checkpoints.

Revision ID: core_audit_0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.db.base import UTCDateTime

revision = "core_audit_0001"
down_revision = None
branch_labels = ("core_audit",)
depends_on = "core_0001"


SQLITE_TRIGGERS = [
    # Records: never updated; deleted only when a purge anchor covers them.
    """CREATE TRIGGER core_audit_no_update BEFORE UPDATE ON core_audit
    BEGIN SELECT RAISE(ABORT, 'core_audit is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER core_audit_no_delete BEFORE DELETE ON core_audit
    WHEN NOT EXISTS (SELECT 1 FROM core_audit_checkpoint c WHERE c.clinic_id = OLD.clinic_id
                     AND c.kind = 'anchor' AND c.seq >= OLD.seq)
    BEGIN SELECT RAISE(ABORT, 'core_audit is append-only: DELETE refused (use carnet audit purge)'); END""",
    """CREATE TRIGGER core_audit_checkpoint_no_update BEFORE UPDATE ON core_audit_checkpoint
    BEGIN SELECT RAISE(ABORT, 'core_audit_checkpoint is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER core_audit_checkpoint_no_delete BEFORE DELETE ON core_audit_checkpoint
    BEGIN SELECT RAISE(ABORT, 'core_audit_checkpoint is append-only: DELETE refused'); END""",
    # Chain heads only move forward and are never removed.
    """CREATE TRIGGER core_audit_head_forward BEFORE UPDATE ON core_audit_head
    WHEN NEW.seq < OLD.seq OR NEW.clinic_id <> OLD.clinic_id
    BEGIN SELECT RAISE(ABORT, 'core_audit_head only moves forward'); END""",
    """CREATE TRIGGER core_audit_head_no_delete BEFORE DELETE ON core_audit_head
    BEGIN SELECT RAISE(ABORT, 'core_audit_head rows cannot be deleted'); END""",
]

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION core_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_LEVEL = 'ROW' THEN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'core_audit' THEN
      IF EXISTS (SELECT 1 FROM core_audit_checkpoint c WHERE c.clinic_id = OLD.clinic_id
                 AND c.kind = 'anchor' AND c.seq >= OLD.seq) THEN
        RETURN OLD;
      END IF;
    ELSIF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'core_audit_head' THEN
      IF NEW.seq >= OLD.seq AND NEW.clinic_id = OLD.clinic_id THEN
        RETURN NEW;
      END IF;
    END IF;
  END IF;
  RAISE EXCEPTION '% is append-only: % refused (records leave only through carnet audit purge)',
    TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$
"""

PG_TRIGGERS = [
    f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
    "FOR EACH ROW EXECUTE FUNCTION core_audit_refuse()"
    for table in ("core_audit", "core_audit_checkpoint", "core_audit_head")
] + [
    f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
    "FOR EACH STATEMENT EXECUTE FUNCTION core_audit_refuse()"
    for table in ("core_audit", "core_audit_checkpoint", "core_audit_head")
]


def upgrade() -> None:
    op.create_table(
        "core_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=128), nullable=True),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("resource_type", sa.String(length=63), nullable=False),
        sa.Column("resource_id", sa.String(length=128), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name="fk_core_audit_clinic_id_core_clinic"),
        sa.PrimaryKeyConstraint("id", name="pk_core_audit"),
        sa.UniqueConstraint("clinic_id", "seq", name="uq_core_audit_clinic_id_seq"),
    )
    op.create_index("ix_core_audit_clinic_id", "core_audit", ["clinic_id"])
    op.create_index("ix_core_audit_clinic_id_patient_id", "core_audit", ["clinic_id", "patient_id"])
    op.create_index("ix_core_audit_clinic_id_occurred_at", "core_audit", ["clinic_id", "occurred_at"])
    op.create_table(
        "core_audit_head",
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name="fk_core_audit_head_clinic_id_core_clinic"),
        sa.PrimaryKeyConstraint("clinic_id", name="pk_core_audit_head"),
    )
    op.create_table(
        "core_audit_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name="fk_core_audit_checkpoint_clinic_id_core_clinic"),
        sa.PrimaryKeyConstraint("id", name="pk_core_audit_checkpoint"),
    )
    op.create_index("ix_core_audit_checkpoint_clinic_id", "core_audit_checkpoint", ["clinic_id"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    elif bind.dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for statement in PG_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    for table in ("core_audit_checkpoint", "core_audit_head", "core_audit"):
        op.drop_table(table)
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS core_audit_refuse()")
