"""one identity number belongs to one consumer: a unique index, not only a check before writing

The real-name rule (SPEC §10) kept two accounts of one person apart by looking before writing;
two accounts claiming one number at the same moment could both pass the look.  The index makes
the database refuse the second.  Existing duplicates stop the upgrade with their member ids, for
an operator to resolve: the migration never chooses which account keeps the number.

Revision ID: 0010_unique_id_number
Revises: 0009_totp_last_step
Create Date: 2026-11-29 09:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_unique_id_number"
down_revision = "0009_totp_last_step"
branch_labels = None
depends_on = None


def upgrade() -> None:
    duplicates = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT id_number, COUNT(*) FROM consumers WHERE id_number IS NOT NULL "
                "GROUP BY id_number HAVING COUNT(*) > 1"
            )
        )
        .all()
    )
    if duplicates:
        raise RuntimeError(
            f"{len(duplicates)} identity numbers are recorded on more than one consumer; "
            "resolve them before upgrading (SELECT member_id, id_number FROM consumers ...)"
        )
    op.create_index("ux_consumers_id_number", "consumers", ["id_number"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_consumers_id_number", table_name="consumers")
