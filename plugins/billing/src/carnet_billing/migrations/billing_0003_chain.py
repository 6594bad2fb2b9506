"""Billing: the per-practitioner hash chain of issued documents (`prev_hash`, `chain_hash` on
billing_note), and immutability triggers that let core's key rotation re-seal the sealed columns
of issued notes and lines (`carnet keys rewrap` rewrites ciphertext only) while still refusing any
other change, on both databases.

Revision ID: billing_0003
Revises: billing_0002
"""

# ruff: noqa: S608 - trigger SQL built from the fixed column lists below, no input
import sqlalchemy as sa
from alembic import op

revision = "billing_0003"
down_revision = "billing_0002"
branch_labels = None
depends_on = None

# Columns that are not sealed: an UPDATE of an issued row that changes any of them is refused.
NOTE_COLUMNS = ("id", "clinic_id", "kind", "status", "practitioner_id", "patient_id", "credit_of_id", "number",
                "year", "seq", "issued_on", "issued_at", "total_cents", "name_withheld", "issuer", "created_by",
                "created_at", "updated_at", "prev_hash", "chain_hash")
LINE_COLUMNS = ("id", "clinic_id", "note_id", "position", "act_day", "coefficient_hundredths", "unit_cents",
                "quantity", "amount_cents")
NOTE_SEALED = ("patient_name",)
LINE_SEALED = ("code", "label", "place")


def _changed(columns: tuple[str, ...]) -> str:
    return " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in columns)


SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER billing_note_issued_no_update BEFORE UPDATE ON billing_note
    WHEN OLD.status = 'issued' AND ({_changed(NOTE_COLUMNS)})
    BEGIN SELECT RAISE(ABORT, 'billing_note is issued: UPDATE refused (cancel it with a credit note)'); END""",
    f"""CREATE TRIGGER billing_note_line_issued_no_update BEFORE UPDATE ON billing_note_line
    WHEN ((SELECT status FROM billing_note WHERE id = OLD.note_id) = 'issued'
          OR (SELECT status FROM billing_note WHERE id = NEW.note_id) = 'issued')
      AND ({_changed(LINE_COLUMNS)})
    BEGIN SELECT RAISE(ABORT, 'billing_note_line of an issued note: UPDATE refused'); END""",
]

PG_FUNCTIONS = [
    f"""CREATE OR REPLACE FUNCTION billing_note_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND (to_jsonb(NEW) - ARRAY{list(NOTE_SEALED)}) = (to_jsonb(OLD) - ARRAY{list(NOTE_SEALED)}) THEN
    RETURN NEW;  -- a re-seal of the sealed columns by key rotation
  END IF;
  RAISE EXCEPTION '% refused on billing_note: the note is issued (cancel it with a credit note)', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$""",
    f"""CREATE OR REPLACE FUNCTION billing_line_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND (to_jsonb(NEW) - ARRAY{list(LINE_SEALED)}) = (to_jsonb(OLD) - ARRAY{list(LINE_SEALED)}) THEN
    RETURN NEW;  -- a re-seal of the sealed columns by key rotation
  END IF;
  IF (TG_OP <> 'INSERT' AND EXISTS (SELECT 1 FROM billing_note n WHERE n.id = OLD.note_id AND n.status = 'issued'))
     OR (TG_OP <> 'DELETE' AND EXISTS (SELECT 1 FROM billing_note n WHERE n.id = NEW.note_id AND n.status = 'issued'))
  THEN
    RAISE EXCEPTION '% refused on billing_note_line: the note is issued', TG_OP
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END
$$""",
]


def upgrade() -> None:
    op.add_column("billing_note", sa.Column("prev_hash", sa.String(length=64), nullable=True))
    op.add_column("billing_note", sa.Column("chain_hash", sa.String(length=64), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_FUNCTIONS:
            op.execute(statement)
        op.execute("DROP TRIGGER IF EXISTS billing_note_issued ON billing_note")
        op.execute("CREATE TRIGGER billing_note_issued BEFORE UPDATE OR DELETE ON billing_note "
                   "FOR EACH ROW WHEN (OLD.status = 'issued') EXECUTE FUNCTION billing_note_guard()")
    else:
        op.execute("DROP TRIGGER IF EXISTS billing_note_issued_no_update")
        op.execute("DROP TRIGGER IF EXISTS billing_note_line_issued_no_update")
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("billing_0003 is not reversible: the hash chain of issued notes is kept")
