"""Market tables: listings, buy orders, trades and their transition log, dispute evidence,
payment methods, market profiles and the operator's market switch.

Quantities are points units (0.0001), prices price units (0.0001 CNY per point), amounts CNY
cents.  The CHECK constraints back I6 up at the database: a listing's remaining never goes
below zero or above its quantity, and a trade belongs to exactly one listing or buy order.
The K-line is computed on read from completed trades, so it can never disagree with them.
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
    LargeBinary,
    String,
    Table,
    Text,
)

from sharebuy.db.base import IdType, Units, metadata

listings = Table(
    "market_listings",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("seller_id", IdType, ForeignKey("members.id"), nullable=False),
    Column("quantity", Units, nullable=False),  # listed at creation, escrowed
    Column("remaining", Units, nullable=False),  # not yet reserved by a trade
    Column("price", Units, nullable=False),
    Column("min_order", Units, nullable=False),
    Column("max_order", Units, nullable=False),
    Column("payment_kinds", String(32), nullable=False),  # "alipay,bank"
    Column("status", String(8), nullable=False),  # active | paused | closed
    Column("closed_reason", String(16), nullable=True),  # cancelled | filled
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("quantity > 0", name="positive_quantity"),
    CheckConstraint("remaining >= 0 AND remaining <= quantity", name="remaining_in_range"),
    CheckConstraint("price > 0", name="positive_price"),
    CheckConstraint("min_order > 0 AND min_order <= max_order", name="order_bounds"),
    CheckConstraint("status IN ('active', 'paused', 'closed')", name="status"),
)
# The order book: the best (lowest) price first, then the oldest.
Index("ix_market_listings_book", listings.c.status, listings.c.price, listings.c.id)
Index("ix_market_listings_seller", listings.c.seller_id, listings.c.status)

buy_orders = Table(
    "market_buy_orders",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("buyer_id", IdType, ForeignKey("members.id"), nullable=False),
    Column("quantity", Units, nullable=False),
    Column("remaining", Units, nullable=False),
    Column("price", Units, nullable=False),
    Column("min_order", Units, nullable=False),
    Column("max_order", Units, nullable=False),
    Column("payment_kinds", String(32), nullable=False),  # how the buyer can pay
    Column("status", String(8), nullable=False),  # active | closed
    Column("closed_reason", String(16), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("quantity > 0", name="positive_quantity"),
    CheckConstraint("remaining >= 0 AND remaining <= quantity", name="remaining_in_range"),
    CheckConstraint("price > 0", name="positive_price"),
    CheckConstraint("min_order > 0 AND min_order <= max_order", name="order_bounds"),
    CheckConstraint("status IN ('active', 'closed')", name="status"),
)
Index("ix_market_buy_orders_book", buy_orders.c.status, buy_orders.c.price, buy_orders.c.id)
Index("ix_market_buy_orders_buyer", buy_orders.c.buyer_id, buy_orders.c.status)

trades = Table(
    "market_trades",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("listing_id", IdType, ForeignKey("market_listings.id"), nullable=True),
    Column("buy_order_id", IdType, ForeignKey("market_buy_orders.id"), nullable=True),
    Column("buyer_id", IdType, ForeignKey("members.id"), nullable=False),
    Column("seller_id", IdType, ForeignKey("members.id"), nullable=False),
    Column("quantity", Units, nullable=False),
    Column("price", Units, nullable=False),
    Column("amount", Units, nullable=False),  # CNY cents the buyer pays the seller
    Column("fee", Units, nullable=False),  # points kept by the platform on completion
    Column("status", String(16), nullable=False),
    Column("payment_reference", String(100), nullable=True),
    # The seller's accepted accounts at the opening: the buyer pays to what it was shown.
    Column("payment_details", Text, nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("pay_by", DateTime(timezone=True), nullable=False),
    Column("paid_at", DateTime(timezone=True), nullable=True),
    Column("confirm_by", DateTime(timezone=True), nullable=True),
    Column("disputed_at", DateTime(timezone=True), nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    # The business day whose guide price this completed trade counts toward.
    Column("completed_day", Date, nullable=True),
    Column("decision", String(8), nullable=True),  # release | return
    Column("decided_by", String(64), nullable=True),
    Column("decision_reason", Text, nullable=True),
    Column("rule_version", Integer, nullable=False),
    CheckConstraint("(listing_id IS NULL) <> (buy_order_id IS NULL)", name="one_source"),
    CheckConstraint(
        "quantity > 0 AND price > 0 AND amount > 0 AND fee >= 0 AND fee <= quantity", name="amounts"
    ),
    CheckConstraint("buyer_id <> seller_id", name="no_self_trade"),
    CheckConstraint(
        "status IN ('awaiting_payment', 'paid', 'disputed', 'completed', 'cancelled')", name="status"
    ),
)
Index("ix_market_trades_listing", trades.c.listing_id, trades.c.status)
Index("ix_market_trades_buy_order", trades.c.buy_order_id, trades.c.status)
Index("ix_market_trades_buyer", trades.c.buyer_id, trades.c.status)
Index("ix_market_trades_seller", trades.c.seller_id, trades.c.status)
Index("ix_market_trades_due", trades.c.status, trades.c.pay_by)
Index("ix_market_trades_completed", trades.c.completed_day)

trade_transitions = Table(
    "market_trade_transitions",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("trade_id", IdType, ForeignKey("market_trades.id"), nullable=False),
    Column("event", String(16), nullable=False),
    Column("from_status", String(16), nullable=True),  # NULL for the opening
    Column("to_status", String(16), nullable=False),
    Column("role", String(8), nullable=False),  # buyer | seller | operator | system
    Column("actor", String(64), nullable=False),  # who, e.g. user:12, cli, system
    Column("buyer_id", IdType, nullable=False),  # copied: counts cancellations per buyer per day
    Column("at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
)
Index("ix_market_trade_transitions_trade", trade_transitions.c.trade_id, trade_transitions.c.id)
Index("ix_market_trade_transitions_buyer", trade_transitions.c.buyer_id, trade_transitions.c.at)

evidence = Table(
    "market_evidence",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("trade_id", IdType, ForeignKey("market_trades.id"), nullable=False),
    Column("role", String(8), nullable=False),  # buyer | seller | operator
    Column("uploader", String(64), nullable=False),
    Column("kind", String(8), nullable=False),  # text | image
    Column("content_type", String(32), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("body", LargeBinary, nullable=False),  # UTF-8 text or the image bytes (size-limited)
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("kind IN ('text', 'image')", name="kind"),
)
Index("ix_market_evidence_trade", evidence.c.trade_id)

payment_methods = Table(
    "market_payment_methods",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("member_id", IdType, ForeignKey("members.id"), nullable=False),
    Column("kind", String(8), nullable=False),  # alipay | wechat | bank
    Column("account_name", String(50), nullable=False),
    Column("account_id", String(200), nullable=False),
    Column("bank_name", String(50), nullable=False, server_default=""),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("kind IN ('alipay', 'wechat', 'bank')", name="kind"),
)
Index("ix_market_payment_methods_member", payment_methods.c.member_id, payment_methods.c.active)

profiles = Table(
    "market_profiles",
    metadata,
    Column("member_id", IdType, ForeignKey("members.id"), primary_key=True),
    Column("risk_accepted_at", DateTime(timezone=True), nullable=True),
    Column("risk_notice_version", Integer, nullable=True),
    Column("risk_accepted_by", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# One row: the operator's switch.  Absent means open; the rulebook's c2c_market_open must also be on.
market_switch = Table(
    "market_switch",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("open", Boolean, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("actor", String(64), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)
