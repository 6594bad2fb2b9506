"""Scheduling, patient side: reminder rules, switches and messages; online bookings awaiting
confirmation; waiting-list files, listings per practitioner; offers of freed slots.

Revision ID: scheduling_0002
Revises: scheduling_0001
Create Date: 2026-11-28 13:21:44.190105
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.plugin_api import Sealed, UTCDateTime

revision = 'scheduling_0002'
down_revision = 'scheduling_0001'
branch_labels = None
depends_on = ("core_patients_0001", "core_links_0001")


def upgrade() -> None:
    op.create_table('scheduling_reminder_rule',
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('minutes_before', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['core_clinic.id'], name=op.f('fk_scheduling_reminder_rule_clinic_id_core_clinic')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduling_reminder_rule'))
    )
    with op.batch_alter_table('scheduling_reminder_rule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scheduling_reminder_rule_clinic_id'), ['clinic_id'], unique=False)

    op.create_table('scheduling_reminder_switch',
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=24), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['core_clinic.id'], name=op.f('fk_scheduling_reminder_switch_clinic_id_core_clinic')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduling_reminder_switch'))
    )
    with op.batch_alter_table('scheduling_reminder_switch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scheduling_reminder_switch_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_index('ix_scheduling_reminder_switch_scope', ['clinic_id', 'scope', 'subject_id'], unique=False)

    op.create_table('scheduling_online_booking',
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=True),
    sa.Column('confirm_by', UTCDateTime(), nullable=False),
    sa.Column('confirmed_at', UTCDateTime(), nullable=True),
    sa.Column('released_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['scheduling_appointment.id'], name=op.f('fk_scheduling_online_booking_appointment_id_scheduling_appointment')),
    sa.ForeignKeyConstraint(['clinic_id'], ['core_clinic.id'], name=op.f('fk_scheduling_online_booking_clinic_id_core_clinic')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduling_online_booking')),
    sa.UniqueConstraint('appointment_id', name=op.f('uq_scheduling_online_booking_appointment_id'))
    )
    with op.batch_alter_table('scheduling_online_booking', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scheduling_online_booking_clinic_id'), ['clinic_id'], unique=False)

    op.create_table('scheduling_reminder',
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('due_at', UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('sent_at', UTCDateTime(), nullable=True),
    sa.Column('detail', sa.String(length=200), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['scheduling_appointment.id'], name=op.f('fk_scheduling_reminder_appointment_id_scheduling_appointment')),
    sa.ForeignKeyConstraint(['clinic_id'], ['core_clinic.id'], name=op.f('fk_scheduling_reminder_clinic_id_core_clinic')),
    sa.ForeignKeyConstraint(['rule_id'], ['scheduling_reminder_rule.id'], name=op.f('fk_scheduling_reminder_rule_id_scheduling_reminder_rule')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduling_reminder')),
    sa.UniqueConstraint('appointment_id', 'rule_id', name='uq_scheduling_reminder_appointment_rule')
    )
    with op.batch_alter_table('scheduling_reminder', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scheduling_reminder_appointment_id'), ['appointment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scheduling_reminder_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_index('ix_scheduling_reminder_status_due', ['status', 'due_at'], unique=False)

    op.create_table('scheduling_waiting_entry',
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('earlier_than_appointment_id', sa.Integer(), nullable=True),
    sa.Column('full_name', Sealed(), nullable=True),
    sa.Column('email', Sealed(), nullable=True),
    sa.Column('phone', Sealed(), nullable=True),
    sa.Column('situation', Sealed(), nullable=True),
    sa.Column('prescription', Sealed(), nullable=True),
    sa.Column('age_years', Sealed(), nullable=True),
    sa.Column('availability', sa.String(length=2000), nullable=False),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('last_confirmed_at', UTCDateTime(), nullable=False),
    sa.Column('reconfirm_sent_at', UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['clinic_id'], ['core_clinic.id'], name=op.f('fk_scheduling_waiting_entry_clinic_id_core_clinic')),
    sa.ForeignKeyConstraint(['earlier_than_appointment_id'], ['scheduling_appointment.id'], name=op.f('fk_scheduling_waiting_entry_earlier_than_appointment_id_scheduling_appointment')),
    sa.ForeignKeyConstraint(['patient_id'], ['core_patient.id'], name=op.f('fk_scheduling_waiting_entry_patient_id_core_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduling_waiting_entry'))
    )
    with op.batch_alter_table('scheduling_waiting_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scheduling_waiting_entry_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scheduling_waiting_entry_patient_id'), ['patient_id'], unique=False)

    op.create_table('scheduling_offer',
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('freed_appointment_id', sa.Integer(), nullable=True),
    sa.Column('practitioner_id', sa.Integer(), nullable=False),
    sa.Column('appointment_type_id', sa.Integer(), nullable=False),
    sa.Column('room_id', sa.Integer(), nullable=True),
    sa.Column('starts_at', UTCDateTime(), nullable=False),
    sa.Column('ends_at', UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=True),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('booked_appointment_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('answered_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['appointment_type_id'], ['scheduling_appointment_type.id'], name=op.f('fk_scheduling_offer_appointment_type_id_scheduling_appointment_type')),
    sa.ForeignKeyConstraint(['booked_appointment_id'], ['scheduling_appointment.id'], name=op.f('fk_scheduling_offer_booked_appointment_id_scheduling_appointment')),
    sa.ForeignKeyConstraint(['clinic_id'], ['core_clinic.id'], name=op.f('fk_scheduling_offer_clinic_id_core_clinic')),
    sa.ForeignKeyConstraint(['entry_id'], ['scheduling_waiting_entry.id'], name=op.f('fk_scheduling_offer_entry_id_scheduling_waiting_entry')),
    sa.ForeignKeyConstraint(['freed_appointment_id'], ['scheduling_appointment.id'], name=op.f('fk_scheduling_offer_freed_appointment_id_scheduling_appointment')),
    sa.ForeignKeyConstraint(['practitioner_id'], ['core_user.id'], name=op.f('fk_scheduling_offer_practitioner_id_core_user')),
    sa.ForeignKeyConstraint(['room_id'], ['scheduling_room.id'], name=op.f('fk_scheduling_offer_room_id_scheduling_room')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduling_offer'))
    )
    with op.batch_alter_table('scheduling_offer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scheduling_offer_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scheduling_offer_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index('ix_scheduling_offer_slot', ['clinic_id', 'practitioner_id', 'starts_at'], unique=False)

    op.create_table('scheduling_waiting_listing',
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('practitioner_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('refusal_message', Sealed(), nullable=True),
    sa.Column('triaged_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['clinic_id'], ['core_clinic.id'], name=op.f('fk_scheduling_waiting_listing_clinic_id_core_clinic')),
    sa.ForeignKeyConstraint(['entry_id'], ['scheduling_waiting_entry.id'], name=op.f('fk_scheduling_waiting_listing_entry_id_scheduling_waiting_entry')),
    sa.ForeignKeyConstraint(['practitioner_id'], ['core_user.id'], name=op.f('fk_scheduling_waiting_listing_practitioner_id_core_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduling_waiting_listing')),
    sa.UniqueConstraint('entry_id', 'practitioner_id', name='uq_scheduling_waiting_listing')
    )
    with op.batch_alter_table('scheduling_waiting_listing', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scheduling_waiting_listing_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scheduling_waiting_listing_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scheduling_waiting_listing_practitioner_id'), ['practitioner_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('scheduling_waiting_listing', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scheduling_waiting_listing_practitioner_id'))
        batch_op.drop_index(batch_op.f('ix_scheduling_waiting_listing_entry_id'))
        batch_op.drop_index(batch_op.f('ix_scheduling_waiting_listing_clinic_id'))

    op.drop_table('scheduling_waiting_listing')
    with op.batch_alter_table('scheduling_offer', schema=None) as batch_op:
        batch_op.drop_index('ix_scheduling_offer_slot')
        batch_op.drop_index(batch_op.f('ix_scheduling_offer_entry_id'))
        batch_op.drop_index(batch_op.f('ix_scheduling_offer_clinic_id'))

    op.drop_table('scheduling_offer')
    with op.batch_alter_table('scheduling_waiting_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scheduling_waiting_entry_patient_id'))
        batch_op.drop_index(batch_op.f('ix_scheduling_waiting_entry_clinic_id'))

    op.drop_table('scheduling_waiting_entry')
    with op.batch_alter_table('scheduling_reminder', schema=None) as batch_op:
        batch_op.drop_index('ix_scheduling_reminder_status_due')
        batch_op.drop_index(batch_op.f('ix_scheduling_reminder_clinic_id'))
        batch_op.drop_index(batch_op.f('ix_scheduling_reminder_appointment_id'))

    op.drop_table('scheduling_reminder')
    with op.batch_alter_table('scheduling_online_booking', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scheduling_online_booking_clinic_id'))

    op.drop_table('scheduling_online_booking')
    with op.batch_alter_table('scheduling_reminder_switch', schema=None) as batch_op:
        batch_op.drop_index('ix_scheduling_reminder_switch_scope')
        batch_op.drop_index(batch_op.f('ix_scheduling_reminder_switch_clinic_id'))

    op.drop_table('scheduling_reminder_switch')
    with op.batch_alter_table('scheduling_reminder_rule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scheduling_reminder_rule_clinic_id'))

    op.drop_table('scheduling_reminder_rule')
