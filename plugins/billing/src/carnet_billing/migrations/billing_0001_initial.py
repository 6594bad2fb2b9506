"""Billing: profiles, dated key-letter values, acts, number series, notes and their lines.

Same-clinic composite keys for every reference between clinic rows, row-level security on
PostgreSQL, and triggers on both databases: an issued note (or credit note) is never updated or
deleted and its lines never change; a number series only steps forward by one and is never
deleted.

Revision ID: billing_0001
Revises:
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.plugin_api import UTCDateTime, drop_refusals, enable_clinic_rls, refuse_changes, same_clinic

revision = "billing_0001"
down_revision = None
branch_labels = ("billing",)
depends_on = ("core_0001", "core_identity_0001", "core_patients_0002", "core_rls_0001")

TABLES = (
    "billing_profile", "billing_key_letter_value", "billing_act", "billing_number_series", "billing_note",
    "billing_note_line",
)

CREDIT_OF = "fk_billing_note_credit_of_id_billing_note"

ISSUED_PARENT = "(SELECT status FROM billing_note WHERE id = {row}.note_id) = 'issued'"
SERIES_MOVED = ("NEW.last_seq <> OLD.last_seq + 1 OR NEW.clinic_id <> OLD.clinic_id "
                "OR NEW.practitioner_id <> OLD.practitioner_id OR NEW.year <> OLD.year")


def refuse_changes_to_issued_documents() -> None:
    """Issued notes and their lines are never changed; a number series only steps forward."""
    refuse_changes(op, "billing_note", "billing_note_issued", when="OLD.status = 'issued'",
                   message="billing_note is issued: UPDATE or DELETE refused (cancel it with a credit note)")
    line_rules = (("INSERT", ISSUED_PARENT.format(row="NEW")),
                  ("UPDATE", ISSUED_PARENT.format(row="OLD") + " OR " + ISSUED_PARENT.format(row="NEW")),
                  ("DELETE", ISSUED_PARENT.format(row="OLD")))
    for event, when in line_rules:
        refuse_changes(op, "billing_note_line", "billing_note_line_issued", events=(event,), when=when,
                       message="billing_note_line of an issued note: change refused")
    refuse_changes(op, "billing_number_series", "billing_number_series_forward", events=("UPDATE",),
                   when=SERIES_MOVED, message="billing_number_series only steps forward by one")
    refuse_changes(op, "billing_number_series", "billing_number_series_kept", events=("DELETE",),
                   message="billing_number_series rows cannot be deleted")


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), nullable=False)


def _clinic(table: str) -> list:
    return [
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["core_clinic.id"], name=f"fk_{table}_clinic_id_core_clinic"),
    ]


def _user_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], ["core_user.id"], name=f"fk_{table}_{column}_core_user")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # A credit note references its note (a self-reference): SQLite takes it in CREATE TABLE (it
    # cannot add one later), PostgreSQL once the clinic key it points at exists (below).
    credit_of = [same_clinic("credit_of_id", "billing_note", name=CREDIT_OF)] if sqlite else []
    op.create_table(
        "billing_profile",
        _id(), *_clinic("billing_profile"),
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("profession", sa.String(length=120), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("rpps", sa.String(length=11), nullable=False),
        sa.Column("adeli", sa.String(length=9), nullable=False),
        sa.Column("siret", sa.String(length=14), nullable=False),
        sa.Column("conventionne", sa.Boolean(), nullable=False),
        sa.Column("zone", sa.String(length=16), nullable=False),
        sa.Column("footer", sa.String(length=500), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _user_fk("billing_profile", "practitioner_id"),
        sa.UniqueConstraint("clinic_id", "practitioner_id", name="uq_billing_profile_practitioner"),
        sa.PrimaryKeyConstraint("id", name="pk_billing_profile"),
    )
    op.create_table(
        "billing_key_letter_value",
        _id(), *_clinic("billing_key_letter_value"),
        sa.Column("letter", sa.String(length=8), nullable=False),
        sa.Column("zone", sa.String(length=16), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("value_cents", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _user_fk("billing_key_letter_value", "created_by"),
        sa.UniqueConstraint("clinic_id", "letter", "zone", "effective_from", name="uq_billing_key_letter_value"),
        sa.PrimaryKeyConstraint("id", name="pk_billing_key_letter_value"),
    )
    op.create_table(
        "billing_act",
        _id(), *_clinic("billing_act"),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("letter", sa.String(length=8), nullable=True),
        sa.Column("coefficient_hundredths", sa.Integer(), nullable=True),
        sa.Column("price_cents", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_billing_act"),
    )
    op.create_index("uq_billing_act_clinic_key", "billing_act", ["clinic_id", "id"], unique=True)
    op.create_table(
        "billing_number_series",
        _id(), *_clinic("billing_number_series"),
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        _user_fk("billing_number_series", "practitioner_id"),
        sa.UniqueConstraint("clinic_id", "practitioner_id", "year", name="uq_billing_number_series"),
        sa.PrimaryKeyConstraint("id", name="pk_billing_number_series"),
    )
    op.create_table(
        "billing_note",
        _id(), *_clinic("billing_note"),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("credit_of_id", sa.Integer(), nullable=True),
        sa.Column("number", sa.String(length=16), nullable=True),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("issued_on", sa.Date(), nullable=True),
        sa.Column("issued_at", UTCDateTime(), nullable=True),
        sa.Column("total_cents", sa.Integer(), nullable=False),
        sa.Column("name_withheld", sa.Boolean(), nullable=False),
        sa.Column("patient_name", sa.LargeBinary(), nullable=True),
        sa.Column("issuer", sa.String(length=2000), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _user_fk("billing_note", "practitioner_id"),
        _user_fk("billing_note", "created_by"),
        same_clinic("patient_id", "core_patient", name="fk_billing_note_patient_id_core_patient"),
        *credit_of,
        sa.UniqueConstraint("clinic_id", "practitioner_id", "year", "seq", name="uq_billing_note_number"),
        sa.CheckConstraint("total_cents >= 0", name="total_positive"),
        sa.CheckConstraint(
            "(status = 'draft' AND number IS NULL AND seq IS NULL) OR "
            "(status = 'issued' AND number IS NOT NULL AND seq IS NOT NULL AND issued_on IS NOT NULL)",
            name="number_when_issued"),
        sa.PrimaryKeyConstraint("id", name="pk_billing_note"),
    )
    op.create_index("uq_billing_note_clinic_key", "billing_note", ["clinic_id", "id"], unique=True)
    if not sqlite:
        op.create_foreign_key(CREDIT_OF, "billing_note", "billing_note", ["clinic_id", "credit_of_id"],
                              ["clinic_id", "id"])
    op.create_index("ix_billing_note_patient_id", "billing_note", ["patient_id"])
    op.create_index("ix_billing_note_credit_of_id", "billing_note", ["credit_of_id"])
    op.create_index("ix_billing_note_practitioner_status", "billing_note", ["practitioner_id", "status"])
    op.create_table(
        "billing_note_line",
        _id(), *_clinic("billing_note_line"),
        sa.Column("note_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("act_day", sa.Date(), nullable=False),
        sa.Column("code", sa.LargeBinary(), nullable=True),
        sa.Column("label", sa.LargeBinary(), nullable=True),
        sa.Column("place", sa.LargeBinary(), nullable=True),
        sa.Column("coefficient_hundredths", sa.Integer(), nullable=True),
        sa.Column("unit_cents", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        same_clinic("note_id", "billing_note", name="fk_billing_note_line_note_id_billing_note", ondelete="CASCADE"),
        sa.CheckConstraint("amount_cents >= 0", name="amount_positive"),
        sa.PrimaryKeyConstraint("id", name="pk_billing_note_line"),
    )
    op.create_index("ix_billing_note_line_note_id", "billing_note_line", ["note_id"])
    for table in TABLES:
        op.create_index(f"ix_{table}_clinic_id", table, ["clinic_id"])
        enable_clinic_rls(op, table)
    refuse_changes_to_issued_documents()


def downgrade() -> None:
    drop_refusals(op, "billing_note", "billing_note_issued")
    drop_refusals(op, "billing_note_line", "billing_note_line_issued", ("INSERT", "UPDATE", "DELETE"))
    drop_refusals(op, "billing_number_series", "billing_number_series_forward", ("UPDATE",))
    drop_refusals(op, "billing_number_series", "billing_number_series_kept", ("DELETE",))
    for table in reversed(TABLES):
        op.drop_table(table)
