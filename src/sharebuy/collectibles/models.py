"""Collectibles tables: editions (with their image), tokens, and each token's provenance.

The image bytes live in the database beside their SHA-256, like dispute evidence: one backup
holds everything, and verify can recompute the hash.  The CHECK constraints back the supply
rule up at the database: minted never exceeds supply, a serial lies in 1..supply and is unique
within its edition, and a token's provenance positions are unique.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from sharebuy.db.base import IdType, Units, metadata

editions = Table(
    "collectible_editions",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("title_zh", String(100), nullable=False),
    Column("title_en", String(100), nullable=False, server_default=""),
    Column("description_zh", Text, nullable=False),
    Column("description_en", Text, nullable=False, server_default=""),
    Column("supply", Integer, nullable=False),
    Column("minted", Integer, nullable=False, server_default="0"),
    Column("price", Units, nullable=False),  # points units (0.0001)
    Column("opens_at", DateTime(timezone=True), nullable=False),
    Column("closes_at", DateTime(timezone=True), nullable=False),
    Column("image_type", String(16), nullable=False),
    Column("image_size", Integer, nullable=False),
    Column("image_sha256", String(64), nullable=False),
    Column("image", LargeBinary, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("supply > 0", name="positive_supply"),
    CheckConstraint("minted >= 0 AND minted <= supply", name="minted_in_range"),
    CheckConstraint("price > 0", name="positive_price"),
    CheckConstraint("opens_at < closes_at", name="window"),
)

tokens = Table(
    "collectible_tokens",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("token_id", String(64), nullable=False, unique=True),
    Column("edition_id", IdType, ForeignKey("collectible_editions.id"), nullable=False),
    Column("serial", Integer, nullable=False),
    Column("owner_id", IdType, ForeignKey("members.id"), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),  # the holding period starts here
    Column("minted_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("edition_id", "serial", name="uq_collectible_tokens_edition_serial"),
    CheckConstraint("serial >= 1", name="serial_positive"),
)
Index("ix_collectible_tokens_owner", tokens.c.owner_id)

provenance = Table(
    "collectible_provenance",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("token_id", String(64), ForeignKey("collectible_tokens.token_id"), nullable=False),
    Column("seq", Integer, nullable=False),  # 1 for the mint, then one more per gift
    Column("kind", String(8), nullable=False),  # mint | gift
    Column("from_member", IdType, ForeignKey("members.id"), nullable=True),
    Column("to_member", IdType, ForeignKey("members.id"), nullable=False),
    Column("entry_id", IdType, ForeignKey("journal_entries.id"), nullable=True),  # the mint's payment
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("token_id", "seq", name="uq_collectible_provenance_token_seq"),
    CheckConstraint("kind IN ('mint', 'gift')", name="kind"),
)
