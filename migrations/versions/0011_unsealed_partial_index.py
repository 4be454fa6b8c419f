"""the sealer's index holds only the entries still to seal

`ix_journal_entries_unsealed` was an index on (seq, id) over the whole journal, so sealing an
entry moved its index entry, and on PostgreSQL (where setting `seq` is never an in-place update)
added one more index insertion to every entry's life.  A partial index on id WHERE seq IS NULL
serves the sealer's one query (`WHERE seq IS NULL ORDER BY id`) and stays as small as the
backlog; the unique index on seq still guards the chain positions.

Revision ID: 0011_unsealed_partial_index
Revises: 0010_unique_id_number
Create Date: 2026-11-29 12:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_unsealed_partial_index"
down_revision = "0010_unique_id_number"
branch_labels = None
depends_on = None

_UNSEALED = sa.text("seq IS NULL")


def upgrade() -> None:
    op.drop_index("ix_journal_entries_unsealed", table_name="journal_entries")
    op.create_index(
        "ix_journal_entries_unsealed",
        "journal_entries",
        ["id"],
        postgresql_where=_UNSEALED,
        sqlite_where=_UNSEALED,
    )


def downgrade() -> None:
    op.drop_index("ix_journal_entries_unsealed", table_name="journal_entries")
    op.create_index("ix_journal_entries_unsealed", "journal_entries", ["seq", "id"])
