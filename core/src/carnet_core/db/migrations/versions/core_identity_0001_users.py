"""Identity: users, clinic memberships, sessions, recovery codes, one-time links, login attempts,
API tokens.

Revision ID: core_identity_0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from carnet_core.db.base import UTCDateTime

revision = "core_identity_0001"
down_revision = None
branch_labels = ("core_identity",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "core_login_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_login_attempt")),
    )
    with op.batch_alter_table("core_login_attempt", schema=None) as batch_op:
        batch_op.create_index(
            "ix_core_login_attempt_scope_key_at", ["scope", "key", "at"], unique=False
        )

    op.create_table(
        "core_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("totp_secret_sealed", sa.String(length=255), nullable=True),
        sa.Column("totp_confirmed_at", UTCDateTime(), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("rpps", sa.String(length=11), nullable=True),
        sa.Column("adeli", sa.String(length=9), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("password_changed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_user")),
        sa.UniqueConstraint("email", name=op.f("uq_core_user_email")),
    )
    op.create_table(
        "core_api_token",
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("scopes", sa.String(length=1000), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.Column("last_used_address", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["core_clinic.id"], name=op.f("fk_core_api_token_clinic_id_core_clinic")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["core_user.id"], name=op.f("fk_core_api_token_user_id_core_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_core_api_token_token_hash")),
    )
    with op.batch_alter_table("core_api_token", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_core_api_token_clinic_id"), ["clinic_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_core_api_token_user_id"), ["user_id"], unique=False)

    op.create_table(
        "core_membership",
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("roles", sa.String(length=100), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["core_clinic.id"], name=op.f("fk_core_membership_clinic_id_core_clinic")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["core_user.id"], name=op.f("fk_core_membership_user_id_core_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_membership")),
        sa.UniqueConstraint("clinic_id", "user_id", name="uq_core_membership_clinic_user"),
    )
    with op.batch_alter_table("core_membership", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_core_membership_clinic_id"), ["clinic_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_core_membership_user_id"), ["user_id"], unique=False)

    op.create_table(
        "core_onetime_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["core_user.id"], name=op.f("fk_core_onetime_link_user_id_core_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_onetime_link")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_core_onetime_link_token_hash")),
    )
    with op.batch_alter_table("core_onetime_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_onetime_link_user_id"), ["user_id"], unique=False)

    op.create_table(
        "core_recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["core_user.id"], name=op.f("fk_core_recovery_code_user_id_core_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_recovery_code")),
    )
    with op.batch_alter_table("core_recovery_code", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_core_recovery_code_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "core_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=8), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=True),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("next_url", sa.String(length=500), nullable=True),
        sa.Column("mfa_failures", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["core_clinic.id"], name=op.f("fk_core_session_clinic_id_core_clinic")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["core_user.id"], name=op.f("fk_core_session_user_id_core_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_core_session_token_hash")),
    )
    with op.batch_alter_table("core_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_session_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("core_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_session_user_id"))

    op.drop_table("core_session")
    with op.batch_alter_table("core_recovery_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_recovery_code_user_id"))

    op.drop_table("core_recovery_code")
    with op.batch_alter_table("core_onetime_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_onetime_link_user_id"))

    op.drop_table("core_onetime_link")
    with op.batch_alter_table("core_membership", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_membership_user_id"))
        batch_op.drop_index(batch_op.f("ix_core_membership_clinic_id"))

    op.drop_table("core_membership")
    with op.batch_alter_table("core_api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_api_token_user_id"))
        batch_op.drop_index(batch_op.f("ix_core_api_token_clinic_id"))

    op.drop_table("core_api_token")
    op.drop_table("core_user")
    with op.batch_alter_table("core_login_attempt", schema=None) as batch_op:
        batch_op.drop_index("ix_core_login_attempt_scope_key_at")

    op.drop_table("core_login_attempt")
