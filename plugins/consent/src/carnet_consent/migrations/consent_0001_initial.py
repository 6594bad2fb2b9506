"""consent: forms and their immutable versions, requests and signers, signatures (evidence) and
the decisions ledger; same-clinic keys everywhere, row-level security on PostgreSQL, and triggers
on both databases: a published version and a signature are never updated or deleted, a decision
is never updated or deleted (a withdrawal is a new decision).

Revision ID: consent_0001
Revises:
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.plugin_api import UTCDateTime, disable_clinic_rls, enable_clinic_rls

revision = "consent_0001"
down_revision = None
branch_labels = ("consent",)
depends_on = ("core_0001", "core_identity_0001", "core_patients_0002", "core_rls_0001")

TABLES = ("consent_template", "consent_version", "consent_request", "consent_signer", "consent_signature",
          "consent_decision")
IMMUTABLE = ("consent_version", "consent_signature", "consent_decision")

PG_FUNCTION = """CREATE OR REPLACE FUNCTION consent_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% refused on %: published versions, signatures and decisions are never changed',
    TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$"""


# A signature's sealed values are written once, right after its insert (core seals a new row once
# it has an id): an UPDATE is refused as soon as either of them is set.
FROZEN_WHEN = {"consent_signature": "OLD.answers IS NOT NULL OR OLD.evidence IS NOT NULL"}


def _sqlite_triggers(table: str) -> list[str]:
    when = f"WHEN {FROZEN_WHEN[table]} " if table in FROZEN_WHEN else ""
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} {when}"
        f"BEGIN SELECT RAISE(ABORT, '{table} is immutable: UPDATE refused'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is immutable: DELETE refused'); END",
    ]


def upgrade() -> None:
    op.create_table('consent_template',
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.String(), nullable=False),
    sa.Column('clauses', sa.String(), nullable=False),
    sa.Column('signers', sa.String(length=8), nullable=False),
    sa.Column('archived', sa.Boolean(), nullable=False),
    sa.Column('current_version_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['core_clinic.id'], name=op.f('fk_consent_template_clinic_id_core_clinic')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_template')),
    sa.UniqueConstraint('clinic_id', 'key', name=op.f('uq_consent_template_clinic_id'))
    )
    with op.batch_alter_table('consent_template', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_template_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_index('uq_consent_template_clinic_key', ['clinic_id', 'id'], unique=True)

    op.create_table('consent_version',
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.String(), nullable=False),
    sa.Column('clauses', sa.String(), nullable=False),
    sa.Column('signers', sa.String(length=8), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('published_at', UTCDateTime(), nullable=False),
    sa.Column('published_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['clinic_id', 'template_id'], ['consent_template.clinic_id', 'consent_template.id'], name=op.f('fk_consent_version_template_id_consent_template')),
    sa.ForeignKeyConstraint(['clinic_id'], ['core_clinic.id'], name=op.f('fk_consent_version_clinic_id_core_clinic')),
    sa.ForeignKeyConstraint(['published_by'], ['core_user.id'], name=op.f('fk_consent_version_published_by_core_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_version'))
    )
    with op.batch_alter_table('consent_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_version_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consent_version_template_id'), ['template_id'], unique=False)
        batch_op.create_index('uq_consent_version_clinic_key', ['clinic_id', 'id'], unique=True)

    op.create_table('consent_request',
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('rule', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('completed_at', UTCDateTime(), nullable=True),
    sa.Column('cancelled_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['clinic_id', 'patient_id'], ['core_patient.clinic_id', 'core_patient.id'], name=op.f('fk_consent_request_patient_id_core_patient')),
    sa.ForeignKeyConstraint(['clinic_id', 'template_id'], ['consent_template.clinic_id', 'consent_template.id'], name=op.f('fk_consent_request_template_id_consent_template')),
    sa.ForeignKeyConstraint(['clinic_id', 'version_id'], ['consent_version.clinic_id', 'consent_version.id'], name=op.f('fk_consent_request_version_id_consent_version')),
    sa.ForeignKeyConstraint(['clinic_id'], ['core_clinic.id'], name=op.f('fk_consent_request_clinic_id_core_clinic')),
    sa.ForeignKeyConstraint(['created_by'], ['core_user.id'], name=op.f('fk_consent_request_created_by_core_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_request'))
    )
    with op.batch_alter_table('consent_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_request_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consent_request_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consent_request_template_id'), ['template_id'], unique=False)
        batch_op.create_index('uq_consent_request_clinic_key', ['clinic_id', 'id'], unique=True)

    op.create_table('consent_signer',
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=12), nullable=False),
    sa.Column('guardian_id', sa.Integer(), nullable=True),
    sa.Column('relation', sa.String(length=16), nullable=True),
    sa.Column('name', sa.LargeBinary(), nullable=True),
    sa.Column('email', sa.LargeBinary(), nullable=True),
    sa.Column('link_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('sent_at', UTCDateTime(), nullable=True),
    sa.Column('signed_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['clinic_id', 'patient_id'], ['core_patient.clinic_id', 'core_patient.id'], name=op.f('fk_consent_signer_patient_id_core_patient')),
    sa.ForeignKeyConstraint(['clinic_id', 'request_id'], ['consent_request.clinic_id', 'consent_request.id'], name=op.f('fk_consent_signer_request_id_consent_request')),
    sa.ForeignKeyConstraint(['clinic_id'], ['core_clinic.id'], name=op.f('fk_consent_signer_clinic_id_core_clinic')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_signer'))
    )
    with op.batch_alter_table('consent_signer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_signer_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consent_signer_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consent_signer_request_id'), ['request_id'], unique=False)
        batch_op.create_index('uq_consent_signer_clinic_key', ['clinic_id', 'id'], unique=True)

    op.create_table('consent_signature',
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('signer_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('version_hash', sa.String(length=64), nullable=False),
    sa.Column('answers', sa.LargeBinary(), nullable=True),
    sa.Column('evidence', sa.LargeBinary(), nullable=True),
    sa.Column('channel', sa.String(length=12), nullable=False),
    sa.Column('code_verified_at', UTCDateTime(), nullable=False),
    sa.Column('signed_at', UTCDateTime(), nullable=False),
    sa.Column('audit_seq', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['clinic_id', 'patient_id'], ['core_patient.clinic_id', 'core_patient.id'], name=op.f('fk_consent_signature_patient_id_core_patient')),
    sa.ForeignKeyConstraint(['clinic_id', 'request_id'], ['consent_request.clinic_id', 'consent_request.id'], name=op.f('fk_consent_signature_request_id_consent_request')),
    sa.ForeignKeyConstraint(['clinic_id', 'signer_id'], ['consent_signer.clinic_id', 'consent_signer.id'], name=op.f('fk_consent_signature_signer_id_consent_signer')),
    sa.ForeignKeyConstraint(['clinic_id', 'version_id'], ['consent_version.clinic_id', 'consent_version.id'], name=op.f('fk_consent_signature_version_id_consent_version')),
    sa.ForeignKeyConstraint(['clinic_id'], ['core_clinic.id'], name=op.f('fk_consent_signature_clinic_id_core_clinic')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_signature'))
    )
    with op.batch_alter_table('consent_signature', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_signature_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consent_signature_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consent_signature_request_id'), ['request_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consent_signature_signer_id'), ['signer_id'], unique=False)
        batch_op.create_index('uq_consent_signature_clinic_key', ['clinic_id', 'id'], unique=True)

    op.create_table('consent_decision',
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=40), nullable=False),
    sa.Column('allowed', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('signature_id', sa.Integer(), nullable=True),
    sa.Column('version_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id', 'patient_id'], ['core_patient.clinic_id', 'core_patient.id'], name=op.f('fk_consent_decision_patient_id_core_patient')),
    sa.ForeignKeyConstraint(['clinic_id', 'signature_id'], ['consent_signature.clinic_id', 'consent_signature.id'], name=op.f('fk_consent_decision_signature_id_consent_signature')),
    sa.ForeignKeyConstraint(['clinic_id'], ['core_clinic.id'], name=op.f('fk_consent_decision_clinic_id_core_clinic')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_decision'))
    )
    with op.batch_alter_table('consent_decision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_decision_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consent_decision_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('uq_consent_decision_clinic_key', ['clinic_id', 'id'], unique=True)
        batch_op.create_index('ix_consent_decision_patient_purpose', ['clinic_id', 'patient_id', 'purpose', 'id'],
                              unique=False)

    for table in TABLES:
        enable_clinic_rls(op, table)
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for table in IMMUTABLE:
            if table in FROZEN_WHEN:
                op.execute(f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} FOR EACH ROW "
                           f"WHEN ({FROZEN_WHEN[table]}) EXECUTE FUNCTION consent_refuse()")
                op.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} FOR EACH ROW "
                           "EXECUTE FUNCTION consent_refuse()")
            else:
                op.execute(f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
                           "FOR EACH ROW EXECUTE FUNCTION consent_refuse()")
    elif bind.dialect.name == "sqlite":
        for table in IMMUTABLE:
            for statement in _sqlite_triggers(table):
                op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    for table in IMMUTABLE:
        if bind.dialect.name == "postgresql":
            for name in ("immutable", "no_update", "no_delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{name} ON {table}")
        elif bind.dialect.name == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS consent_refuse()")
    for table in reversed(TABLES):
        disable_clinic_rls(op, table)
        op.drop_table(table)
