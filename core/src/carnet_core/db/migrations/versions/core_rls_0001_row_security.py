"""Row-level security (PostgreSQL) on every clinic-owned table of core: rows are visible and
writable only for the clinic the transaction is bound to (`carnet.clinic_id`, set by each
CarnetSession) or for an explicitly unscoped session, even for raw SQL. A second line under the
ORM's clinic filter; it applies to roles without SUPERUSER or BYPASSRLS (see README, "Production
shape"). Nothing on SQLite.

A branch of its own (`core_rls`), after every core area that has clinic-owned tables; a new
clinic-owned table of an area enables it in the migration that creates it.

Revision ID: core_rls_0001
Revises:
"""

from __future__ import annotations

from alembic import op

from carnet_core.db.schema import disable_clinic_rls, enable_clinic_rls

revision = "core_rls_0001"
down_revision = None
branch_labels = ("core_rls",)
# the last revisions of the areas with clinic-owned tables (the others come before them)
depends_on = ("core_audit_0001", "core_links_0002")

TABLES = (
    "core_clinic_plugin", "core_membership", "core_api_token", "core_audit", "core_audit_checkpoint",
    "core_data_key", "core_subject_key", "core_key_rewrap", "core_patient_link", "core_patient",
    "core_patient_guardian", "core_patient_settings",
)


def upgrade() -> None:
    for table in TABLES:
        enable_clinic_rls(op, table)


def downgrade() -> None:
    for table in TABLES:
        disable_clinic_rls(op, table)
