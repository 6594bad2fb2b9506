"""consent: the register of patients' RGPD requests (deadlines, decision, delivered export sealed
with the patient's key); same-clinic keys, row-level security.

Revision ID: consent_0003
Revises: consent_0002
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.plugin_api import UTCDateTime, disable_clinic_rls, enable_clinic_rls

revision = "consent_0003"
down_revision = "consent_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('consent_rights_request',
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('requester', sa.String(length=16), nullable=False),
    sa.Column('identity_check', sa.String(length=16), nullable=False),
    sa.Column('details', sa.LargeBinary(), nullable=True),
    sa.Column('old_data', sa.Boolean(), nullable=False),
    sa.Column('received_at', UTCDateTime(), nullable=False),
    sa.Column('due_at', UTCDateTime(), nullable=False),
    sa.Column('extended_at', UTCDateTime(), nullable=True),
    sa.Column('extension_reason', sa.LargeBinary(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('decision_reason', sa.LargeBinary(), nullable=True),
    sa.Column('handled_by', sa.Integer(), nullable=True),
    sa.Column('answered_at', UTCDateTime(), nullable=True),
    sa.Column('export', sa.LargeBinary(), nullable=True),
    sa.Column('export_link_id', sa.Integer(), nullable=True),
    sa.Column('delivered_at', UTCDateTime(), nullable=True),
    sa.Column('downloaded_at', UTCDateTime(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id', 'patient_id'], ['core_patient.clinic_id', 'core_patient.id'], name=op.f('fk_consent_rights_request_patient_id_core_patient')),
    sa.ForeignKeyConstraint(['clinic_id'], ['core_clinic.id'], name=op.f('fk_consent_rights_request_clinic_id_core_clinic')),
    sa.ForeignKeyConstraint(['handled_by'], ['core_user.id'], name=op.f('fk_consent_rights_request_handled_by_core_user')),
    sa.ForeignKeyConstraint(['created_by'], ['core_user.id'], name=op.f('fk_consent_rights_request_created_by_core_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_rights_request'))
    )
    with op.batch_alter_table('consent_rights_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_rights_request_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consent_rights_request_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_consent_rights_request_open', ['clinic_id', 'status', 'due_at'], unique=False)
        batch_op.create_index('uq_consent_rights_request_clinic_key', ['clinic_id', 'id'], unique=True)
    enable_clinic_rls(op, 'consent_rights_request')


def downgrade() -> None:
    disable_clinic_rls(op, 'consent_rights_request')
    op.drop_table('consent_rights_request')
