"""Ledger tables. Balances are a cache of the postings, kept in the same transaction.

The CHECK constraint is the last line of defence for I3: a member account that must not go
negative cannot be written negative by any code path, even one that forgot to check.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from sharebuy.db.base import IdType, Units, metadata

accounts = Table(
    "ledger_accounts",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("owner", String(32), nullable=False),  # 'platform' or the member id as text
    Column("member_id", IdType, ForeignKey("members.id"), nullable=True),
    Column("kind", String(16), nullable=False),
    Column("asset", String(2), nullable=False),  # 'PT' points, 'SV' share value
    Column("balance", Units, nullable=False, server_default="0"),
    Column("allow_negative", Boolean, nullable=False, server_default="0"),
    Column("allow_positive", Boolean, nullable=False, server_default="1"),
    UniqueConstraint("owner", "kind", name="uq_ledger_accounts_owner_kind"),
    CheckConstraint("allow_negative OR balance >= 0", name="non_negative"),
    CheckConstraint("allow_positive OR balance <= 0", name="non_positive"),
    CheckConstraint("asset IN ('PT', 'SV')", name="asset"),
)
Index("ix_ledger_accounts_member", accounts.c.member_id)

entries = Table(
    "journal_entries",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("kind", String(24), nullable=False),
    Column("business_day", Date, nullable=False),
    Column("reference", String(96), nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("idempotency_key", String(160), nullable=True, unique=True),
    Column("reverses_id", IdType, ForeignKey("journal_entries.id"), nullable=True),
    Column("rule_version", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Filled by the sealer after commit, in id order: position in the chain and its hashes.
    Column("seq", IdType, nullable=True, unique=True),
    Column("prev_hash", String(64), nullable=True),
    Column("hash", String(64), nullable=True),
)
Index("ix_journal_entries_day", entries.c.business_day)
# Only the entries still to seal (migration 0011): the sealer's queue, as small as the backlog.
Index(
    "ix_journal_entries_unsealed",
    entries.c.id,
    postgresql_where=entries.c.seq.is_(None),
    sqlite_where=entries.c.seq.is_(None),
)

postings = Table(
    "postings",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("entry_id", IdType, ForeignKey("journal_entries.id"), nullable=False),
    Column("account_id", IdType, ForeignKey("ledger_accounts.id"), nullable=False),
    Column("asset", String(2), nullable=False),
    Column("amount", Units, nullable=False),
    # The entry's business day, copied: the partition key of a partitioned journal (PostgreSQL,
    # `sharebuy db partition-journal`) must be a column of every row, postings included.
    Column("business_day", Date, nullable=False),
    CheckConstraint("amount <> 0", name="non_zero"),
)
Index("ix_postings_entry", postings.c.entry_id)
Index("ix_postings_account", postings.c.account_id)

# One row: the head of the hash chain. Sealers lock it so the chain has a single order.
chain_head = Table(
    "journal_chain_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", IdType, nullable=False),
    Column("hash", String(64), nullable=False),
)
