"""The shared metadata and column helpers every part's models.py builds its tables on."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, MetaData

# Named constraints so that Alembic migrations are stable on both databases.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
IdType = BigInteger().with_variant(Integer(), "sqlite")
# Amounts are integers of their smallest unit; 64-bit on both databases.
Units = BigInteger
# The widest id any table holds (64-bit on both databases): a larger number names no row, and no
# driver can bind it, so the edges refuse it before it reaches one.
MAX_ID = 2**63 - 1
