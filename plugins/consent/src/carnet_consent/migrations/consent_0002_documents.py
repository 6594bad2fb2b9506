"""consent: the clinic's signing key (private key sealed, certificate in clear) and the signed PDF
of each completed request (sealed with the patient's key); same-clinic keys, row-level security.

Revision ID: consent_0002
Revises: consent_0001
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.plugin_api import UTCDateTime, disable_clinic_rls, enable_clinic_rls

revision = "consent_0002"
down_revision = "consent_0001"
branch_labels = None
depends_on = None

TABLES = ("consent_signing_key", "consent_document")


def upgrade() -> None:
    op.create_table('consent_signing_key',
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('certificate', sa.String(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('private_key', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('not_after', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['core_clinic.id'], name=op.f('fk_consent_signing_key_clinic_id_core_clinic')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_signing_key'))
    )
    with op.batch_alter_table('consent_signing_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_signing_key_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consent_signing_key_fingerprint'), ['fingerprint'], unique=False)
        batch_op.create_index('uq_consent_signing_key_clinic_key', ['clinic_id', 'id'], unique=True)

    op.create_table('consent_document',
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id', 'request_id'], ['consent_request.clinic_id', 'consent_request.id'], name=op.f('fk_consent_document_request_id_consent_request')),
    sa.ForeignKeyConstraint(['clinic_id', 'patient_id'], ['core_patient.clinic_id', 'core_patient.id'], name=op.f('fk_consent_document_patient_id_core_patient')),
    sa.ForeignKeyConstraint(['clinic_id', 'key_id'], ['consent_signing_key.clinic_id', 'consent_signing_key.id'], name=op.f('fk_consent_document_key_id_consent_signing_key')),
    sa.ForeignKeyConstraint(['clinic_id'], ['core_clinic.id'], name=op.f('fk_consent_document_clinic_id_core_clinic')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_document')),
    sa.UniqueConstraint('clinic_id', 'request_id', name='uq_consent_document_request')
    )
    with op.batch_alter_table('consent_document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_document_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consent_document_request_id'), ['request_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consent_document_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consent_document_sha256'), ['sha256'], unique=False)
        batch_op.create_index('uq_consent_document_clinic_key', ['clinic_id', 'id'], unique=True)

    for table in TABLES:
        enable_clinic_rls(op, table)


def downgrade() -> None:
    for table in reversed(TABLES):
        disable_clinic_rls(op, table)
        op.drop_table(table)
