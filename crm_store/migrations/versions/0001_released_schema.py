"""The schema of the first release: customers, their phones, agents, contacts.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Databases made by that release (with ``create_all``, before migrations existed) have
exactly these tables and are stamped with this revision on their first upgrade.
Datetimes are ``UTCDateTime`` in the models, stored as ``DateTime(timezone=True)``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("extension", sa.String(32), nullable=False),
        sa.Column("interface", sa.String(200), nullable=False),
        sa.Column("skills", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_number", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("company", sa.String(200), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_number"),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("caller_number", sa.String(64), nullable=False),
        sa.Column("caller_e164", sa.String(20), nullable=True),
        sa.Column("dnis", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("ivr", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("wait_s", sa.Float(), nullable=True),
        sa.Column("talk_s", sa.Float(), nullable=True),
        sa.Column("disposition", sa.String(64), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("call_id"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], ondelete="SET NULL"),
    )
    op.create_index("ix_contacts_customer_arrived", "contacts", ["customer_id", "arrived_at"])
    op.create_index("ix_contacts_arrived_at", "contacts", ["arrived_at"])
    op.create_index("ix_contacts_agent_id", "contacts", ["agent_id"])
    op.create_index("ix_contacts_status", "contacts", ["status"])
    op.create_table(
        "customer_phones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("e164", sa.String(20), nullable=False),
        sa.Column("raw", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_customer_phones_customer_id", "customer_phones", ["customer_id"])
    op.create_index("ix_customer_phones_e164", "customer_phones", ["e164"])


def downgrade() -> None:
    op.drop_table("customer_phones")
    op.drop_table("contacts")
    op.drop_table("customers")
    op.drop_table("agents")
