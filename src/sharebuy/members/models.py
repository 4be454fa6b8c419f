"""Member tables. Consumers and merchants share one id space (`members`), so a holder's id in a
settlement is the same whichever kind of member it is, and ties break on it deterministically."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from sharebuy.db.base import IdType, metadata

members = Table(
    "members",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("kind", String(10), nullable=False),  # consumer | merchant
    Column("name", String(100), nullable=False, server_default=""),
    Column("frozen", Boolean, nullable=False, server_default="0"),
    # First business day with a purchase: before it a member sits out of the daily release.
    Column("activated_day", Date, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_members_kind", members.c.kind)

consumers = Table(
    "consumers",
    metadata,
    Column("member_id", IdType, ForeignKey("members.id"), primary_key=True),
    Column("phone", String(20), nullable=False, unique=True),
    Column("real_name", String(100), nullable=True),
    Column("id_number", String(32), nullable=True),
    Column("real_name_verified_at", DateTime(timezone=True), nullable=True),
)
# One identity number, one account (NULLs are distinct: consumers without a real name are many).
Index("ux_consumers_id_number", consumers.c.id_number, unique=True)

merchants = Table(
    "merchants",
    metadata,
    Column("member_id", IdType, ForeignKey("members.id"), primary_key=True),
    Column("owner_id", IdType, ForeignKey("members.id"), nullable=False),
    Column("region_code", String(6), nullable=False),
    # Concession rate in units of 0.0001 (10% = 1000).
    Column("concession_rate", Integer, nullable=False),
    Column("status", String(10), nullable=False),
    Column("suspension_reason", String(32), nullable=True),
    Column("approved_at", DateTime(timezone=True), nullable=True),
    Column("approved_by", String(64), nullable=True),
)
Index("ix_merchants_owner", merchants.c.owner_id)

merchant_staff = Table(
    "merchant_staff",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("merchant_id", IdType, ForeignKey("members.id"), nullable=False),
    Column("consumer_id", IdType, ForeignKey("members.id"), nullable=False),
    Column("role", String(16), nullable=False, server_default="cashier"),
    UniqueConstraint("merchant_id", "consumer_id", name="uq_merchant_staff_pair"),
)
Index("ix_merchant_staff_consumer", merchant_staff.c.consumer_id)
