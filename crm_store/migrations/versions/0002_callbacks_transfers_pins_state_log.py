"""Since the first release: customer PINs, callbacks, transfers, the agent state log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Every new column is nullable, so existing rows stay valid as they are (a customer's
``pin_failures`` None counts as none). Contacts may now also have the direction
``callback`` (a value only: no constraint changes). The
new ``callbacks`` table keeps the callbacks still to be placed across restarts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Adding nullable columns is a plain ALTER TABLE ... ADD COLUMN on SQLite too:
    # batch mode copies no table for these.
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("pin_hash", sa.String(200), nullable=True))
        batch.add_column(sa.Column("pin_failures", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("pin_locked_until", sa.DateTime(timezone=True),
                                   nullable=True))
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("parent_call_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("callback_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("callback_number", sa.String(20), nullable=True))
        batch.add_column(sa.Column("transferred_to", sa.String(200), nullable=True))
        batch.create_index("ix_contacts_parent_call_id", ["parent_call_id"])
    op.create_table(
        "agent_state_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("previous", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"]),
    )
    op.create_index("ix_agent_state_log_agent_id", "agent_state_log", ["agent_id"])
    op.create_index("ix_agent_state_log_at", "agent_state_log", ["at"])
    op.create_table(
        "callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("parent_call_id", sa.String(64), nullable=True),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("skills", sa.String(200), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_result", sa.String(32), nullable=False),
        sa.Column("scheduled_by", sa.Integer(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("call_id"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["scheduled_by"], ["agents.id"], ondelete="SET NULL"),
    )
    op.create_index("ix_callbacks_parent_call_id", "callbacks", ["parent_call_id"])
    op.create_index("ix_callbacks_status", "callbacks", ["status"])


def downgrade() -> None:
    op.drop_index("ix_callbacks_status", table_name="callbacks")
    op.drop_index("ix_callbacks_parent_call_id", table_name="callbacks")
    op.drop_table("callbacks")
    op.drop_index("ix_agent_state_log_at", table_name="agent_state_log")
    op.drop_index("ix_agent_state_log_agent_id", table_name="agent_state_log")
    op.drop_table("agent_state_log")
    # recreate="never": SQLite (3.35+) drops these columns in place, without copying
    # the tables.
    with op.batch_alter_table("contacts", recreate="never") as batch:
        batch.drop_index("ix_contacts_parent_call_id")
        batch.drop_column("transferred_to")
        batch.drop_column("callback_number")
        batch.drop_column("callback_at")
        batch.drop_column("parent_call_id")
    with op.batch_alter_table("customers", recreate="never") as batch:
        batch.drop_column("pin_locked_until")
        batch.drop_column("pin_failures")
        batch.drop_column("pin_hash")
