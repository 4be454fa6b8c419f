"""Tier, dividend and green certification tables.

Points and CNY are integer counts of their smallest units, as everywhere.  A dividend period is
unique by its key, so a period is paid at most once whatever runs it (I4's twin for the pool).
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
)

from sharebuy.db.base import IdType, Units, metadata

# The operator's ladder: one per member kind; a member holds the highest tier whose threshold
# its own basis amount reaches.
tiers = Table(
    "tiers",
    metadata,
    Column("code", String(16), primary_key=True),
    Column("member_kind", String(10), nullable=False),  # consumer | merchant
    Column("name_zh", String(32), nullable=False),
    Column("name_en", String(32), nullable=False),
    Column("threshold", Units, nullable=False),  # CNY cents of own consumption or turnover
    Column("weight", Integer, nullable=False),  # dividend weight per member of the tier
    Column("updated_by", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("member_kind IN ('consumer', 'merchant')", name="member_kind"),
    CheckConstraint("threshold >= 0", name="non_negative_threshold"),
    CheckConstraint("weight >= 0", name="non_negative_weight"),
)

member_tiers = Table(
    "member_tiers",
    metadata,
    Column("member_id", IdType, ForeignKey("members.id"), primary_key=True),
    Column("tier_code", String(16), nullable=False),
    Column("since_day", Date, nullable=False),
    Column("basis", Units, nullable=False),
)
Index("ix_member_tiers_tier", member_tiers.c.tier_code)

tier_history = Table(
    "tier_history",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("member_id", IdType, ForeignKey("members.id"), nullable=False),
    Column("from_code", String(16), nullable=True),  # NULL: had no tier
    Column("to_code", String(16), nullable=True),  # NULL: lost its tier
    Column("business_day", Date, nullable=False),
    Column("basis", Units, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_tier_history_member", tier_history.c.member_id, tier_history.c.id)

dividend_periods = Table(
    "dividend_periods",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("period", String(10), nullable=False, unique=True),  # 2025-03-01 (daily) or 2025-03
    Column("kind", String(8), nullable=False),
    Column("first_day", Date, nullable=False),
    Column("last_day", Date, nullable=False),
    Column("rule_version", Integer, nullable=False),
    Column("turnover", Units, nullable=False),  # CNY cents
    Column("pool_rate", Integer, nullable=False),  # units of 0.0001
    Column("guide_price", Units, nullable=False),
    Column("pool_wanted", Units, nullable=False),  # points the rate asks for
    Column("fee_balance", Units, nullable=False),  # the fee account when the period was paid
    Column("pool", Units, nullable=False),  # points paid: min(wanted, fee balance), or 0 with nobody
    Column("capped", Boolean, nullable=False),
    Column("members", Integer, nullable=False),
    Column("leftover_units", Integer, nullable=False),
    Column("entry_id", IdType, ForeignKey("journal_entries.id"), nullable=True),
    Column("actor", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("kind IN ('daily', 'monthly')", name="kind"),
    CheckConstraint("pool >= 0 AND pool <= pool_wanted AND pool <= fee_balance", name="pool_capped"),
    CheckConstraint("first_day <= last_day", name="days"),
)

dividend_tiers = Table(
    "dividend_tiers",
    metadata,
    Column("period_id", IdType, ForeignKey("dividend_periods.id"), primary_key=True),
    Column("tier_code", String(16), primary_key=True),
    Column("weight", Integer, nullable=False),
    Column("members", Integer, nullable=False),
    Column("amount", Units, nullable=False),
)

dividend_lines = Table(
    "dividend_lines",
    metadata,
    Column("period_id", IdType, ForeignKey("dividend_periods.id"), primary_key=True),
    Column("member_id", IdType, ForeignKey("members.id"), primary_key=True),
    Column("tier_code", String(16), nullable=False),
    Column("points", Units, nullable=False),
)
Index("ix_dividend_lines_member", dividend_lines.c.member_id)

green_merchants = Table(
    "green_merchants",
    metadata,
    Column("merchant_id", IdType, ForeignKey("members.id"), primary_key=True),
    Column("green", Boolean, nullable=False),
    Column("changed_by", String(64), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("note", Text, nullable=False, server_default=""),
)

green_log = Table(
    "green_log",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("merchant_id", IdType, ForeignKey("members.id"), nullable=False),
    Column("action", String(8), nullable=False),  # certify | revoke
    Column("actor", String(64), nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Column("at", DateTime(timezone=True), nullable=False),
    CheckConstraint("action IN ('certify', 'revoke')", name="action"),
)
Index("ix_green_log_merchant", green_log.c.merchant_id)
