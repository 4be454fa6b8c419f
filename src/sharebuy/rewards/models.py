"""Rewards tables: the platform's start, rule versions, purchases, settlements and their lines."""

from __future__ import annotations

from sqlalchemy import (
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

platform_state = Table(
    "platform_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("start_day", Date, nullable=False),
    Column("initialized_at", DateTime(timezone=True), nullable=False),
)

rule_versions = Table(
    "rule_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("effective_from", Date, nullable=False),
    Column("rules_json", Text, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_rule_versions_from", rule_versions.c.effective_from)

purchases = Table(
    "purchases",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("merchant_id", IdType, ForeignKey("members.id"), nullable=False),
    Column("consumer_id", IdType, ForeignKey("members.id"), nullable=False),
    Column("amount", Units, nullable=False),  # CNY cents
    Column("concession_rate", Integer, nullable=False),  # units of 0.0001
    Column("guide_price", Units, nullable=False),  # price units
    Column("rule_version", Integer, nullable=False),
    Column("business_day", Date, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("consumer_share_value", Units, nullable=False),
    Column("merchant_share_value", Units, nullable=False),
    Column("registration_bonus", Units, nullable=False, server_default="0"),
    Column("points_deducted", Units, nullable=False),
    Column("from_available", Units, nullable=False),
    Column("from_deposit", Units, nullable=False),
    Column("idempotency_key", String(128), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("entry_id", IdType, ForeignKey("journal_entries.id"), nullable=False),
    Column("status", String(10), nullable=False, server_default="recorded"),
    Column("refund_entry_id", IdType, ForeignKey("journal_entries.id"), nullable=True),
    Column("refunded_at", DateTime(timezone=True), nullable=True),
    # Extra consumer share value for a sale at a green merchant (SPEC §7), minted and refunded with it.
    Column("green_bonus", Units, nullable=False, server_default="0"),
    UniqueConstraint("merchant_id", "idempotency_key", name="uq_purchases_merchant_key"),
    CheckConstraint("amount > 0", name="positive_amount"),
)
Index("ix_purchases_consumer_day", purchases.c.consumer_id, purchases.c.business_day)
Index("ix_purchases_merchant_day", purchases.c.merchant_id, purchases.c.business_day)
Index("ix_purchases_day", purchases.c.business_day)

settlements = Table(
    "settlements",
    metadata,
    Column("business_day", Date, primary_key=True),
    # computing -> posting -> completed; a crash leaves 'posting' with its progress recorded.
    Column("status", String(10), nullable=False),
    Column("rule_version", Integer, nullable=False),
    Column("guide_price", Units, nullable=False),
    Column("price_source", String(10), nullable=False),
    Column("airdrop", Units, nullable=False),  # A_D
    Column("network_share_value", Units, nullable=False),  # S
    Column("holders", Integer, nullable=False),
    Column("released", Units, nullable=False, server_default="0"),
    Column("share_value_consumed", Units, nullable=False, server_default="0"),
    Column("leftover_units", Integer, nullable=False, server_default="0"),
    Column("chunks", Integer, nullable=False),
    Column("chunks_posted", Integer, nullable=False, server_default="0"),
    Column("journal_head_seq", IdType, nullable=True),
    Column("journal_head_hash", String(64), nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True), nullable=True),
)

settlement_lines = Table(
    "settlement_lines",
    metadata,
    Column("business_day", Date, ForeignKey("settlements.business_day"), primary_key=True),
    Column("member_id", IdType, primary_key=True),
    Column("chunk", Integer, nullable=False),
    Column("share_value", Units, nullable=False),  # SV_i at the end of the day
    Column("points", Units, nullable=False),  # p_i
    Column("share_value_consumed", Units, nullable=False),  # min(SV_i, p_i × P_D)
    # What the release could take from SV when posted (a refund in between may leave less);
    # the rest is added to the member's clawback owed.
    Column("consumed_from_owed", Units, nullable=False, server_default="0"),
)
Index("ix_settlement_lines_member", settlement_lines.c.member_id)
