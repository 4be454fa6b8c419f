"""postings carry their entry's business day: the column the journal is partitioned on

A posting is partitioned with its entry (`sharebuy db partition-journal`, PostgreSQL): the
partition key has to be a column of the row itself, and the foreign key to a partitioned
journal_entries has to include it.  The column is added on both databases so that one code
path writes it; it is copied from the entry here and never differs from it (verify checks).

Revision ID: 0008_journal_partitions
Revises: 0007_accounts_fillfactor
Create Date: 2026-11-29 05:12:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_journal_partitions"
down_revision = "0007_accounts_fillfactor"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("business_day", sa.Date(), nullable=True))
    op.execute(
        "UPDATE postings SET business_day = "
        "(SELECT e.business_day FROM journal_entries e WHERE e.id = postings.entry_id)"
    )
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.alter_column("business_day", existing_type=sa.Date(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.drop_column("business_day")
