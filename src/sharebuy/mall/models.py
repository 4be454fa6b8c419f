"""Points-mall tables: products, redemption orders and their transition log.

Prices and order points are points units (0.0001), share value units of 0.01.  The CHECK
constraints back the stock rule up at the database: a product's remaining stock never goes below
zero, which is what makes the conditional decrement (`stock >= q`) safe against overselling.
Stock conservation (verify): initial_stock + added_stock = stock + Σ quantity of orders not
cancelled.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from sharebuy.db.base import IdType, Units, metadata

products = Table(
    "mall_products",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("merchant_id", IdType, ForeignKey("members.id"), nullable=False),
    Column("region_code", String(6), nullable=False),  # GB/T 2260, filtered by prefix
    Column("title_zh", String(100), nullable=False),
    Column("title_en", String(100), nullable=False, server_default=""),
    Column("description_zh", Text, nullable=False, server_default=""),
    Column("description_en", Text, nullable=False, server_default=""),
    Column("picture_url", String(500), nullable=True),
    Column("price", Units, nullable=False),  # points per item
    Column("initial_stock", Integer, nullable=False),
    Column("added_stock", Integer, nullable=False, server_default="0"),
    Column("stock", Integer, nullable=False),  # remaining, decremented only by `stock >= q`
    Column("status", String(8), nullable=False),  # active | paused
    Column("green", Boolean, nullable=False, server_default="0"),  # certified by an operator
    Column("green_by", String(64), nullable=True),
    Column("green_at", DateTime(timezone=True), nullable=True),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("price > 0", name="positive_price"),
    CheckConstraint("stock >= 0 AND initial_stock >= 0 AND added_stock >= 0", name="stock_non_negative"),
    CheckConstraint("stock <= initial_stock + added_stock", name="stock_in_range"),
    CheckConstraint("status IN ('active', 'paused')", name="status"),
)
Index("ix_mall_products_browse", products.c.status, products.c.region_code, products.c.id)
Index("ix_mall_products_merchant", products.c.merchant_id, products.c.id)

orders = Table(
    "mall_orders",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("product_id", IdType, ForeignKey("mall_products.id"), nullable=False),
    Column("merchant_id", IdType, ForeignKey("members.id"), nullable=False),
    Column("consumer_id", IdType, ForeignKey("members.id"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", Units, nullable=False),
    Column("points", Units, nullable=False),  # quantity × unit_price, held in the mall escrow
    Column("fee", Units, nullable=False, server_default="0"),  # set on delivery
    Column("green", Boolean, nullable=False, server_default="0"),  # the product's at placing
    Column("green_share_value", Units, nullable=False, server_default="0"),  # minted on delivery
    Column("guide_price", Units, nullable=True),  # the price the bonus used
    Column("status", String(12), nullable=False),
    Column("shipping_note", Text, nullable=False, server_default=""),
    Column("placed_at", DateTime(timezone=True), nullable=False),
    Column("shipped_at", DateTime(timezone=True), nullable=True),
    Column("deliver_by", DateTime(timezone=True), nullable=True),  # automatic delivery after this
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("rule_version", Integer, nullable=False),
    CheckConstraint("quantity > 0 AND unit_price > 0 AND points > 0", name="amounts"),
    CheckConstraint("fee >= 0 AND fee <= points AND green_share_value >= 0", name="fee_in_range"),
    CheckConstraint("consumer_id <> merchant_id", name="not_self"),
    CheckConstraint("status IN ('placed', 'shipped', 'delivered', 'cancelled')", name="status"),
)
Index("ix_mall_orders_consumer", orders.c.consumer_id, orders.c.id)
Index("ix_mall_orders_merchant", orders.c.merchant_id, orders.c.status, orders.c.id)
Index("ix_mall_orders_product", orders.c.product_id, orders.c.status)
Index("ix_mall_orders_due", orders.c.status, orders.c.deliver_by)

order_transitions = Table(
    "mall_order_transitions",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("order_id", IdType, ForeignKey("mall_orders.id"), nullable=False),
    Column("event", String(12), nullable=False),
    Column("from_status", String(12), nullable=True),  # NULL for the placing
    Column("to_status", String(12), nullable=False),
    Column("role", String(10), nullable=False),  # consumer | merchant | operator | system
    Column("actor", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
)
Index("ix_mall_order_transitions_order", order_transitions.c.order_id, order_transitions.c.id)
