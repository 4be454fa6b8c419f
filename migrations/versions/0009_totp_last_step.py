"""users remember the last TOTP step accepted, so that a code is good only once

RFC 6238 §5.2: the verifier must not accept the second attempt of the same one-time password.
Sign-in claims the step with one conditional update (later than the last one, or none yet).

Revision ID: 0009_totp_last_step
Revises: 0008_journal_partitions
Create Date: 2026-11-29 09:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_totp_last_step"
down_revision = "0008_journal_partitions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("totp_last_step")
