"""Outbox and webhook tables.

An event row commits or rolls back with the change it describes (a transactional outbox), so a
webhook is never sent for a purchase that did not happen and never missed for one that did.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from sharebuy.db.base import IdType, metadata

outbox_events = Table(
    "outbox_events",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("topic", String(48), nullable=False),  # purchase.recorded, settlement.completed, ...
    # The merchant the event concerns, or NULL for platform-wide events (settlement.completed).
    Column("merchant_id", IdType, ForeignKey("members.id"), nullable=True),
    Column("payload", Text, nullable=False),  # JSON, amounts as decimal strings
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_outbox_events_merchant", outbox_events.c.merchant_id, outbox_events.c.id)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("merchant_id", IdType, ForeignKey("members.id"), nullable=False),
    Column("url", String(512), nullable=False),
    Column("topics", String(512), nullable=False),  # comma-separated, or "*"
    # The signing secret is derived from the server's secret key and this salt: never stored.
    Column("secret_salt", String(32), nullable=False),
    Column("active", Boolean, nullable=False, server_default="1"),
    # Events after this id are delivered to the endpoint (none from before it existed).
    Column("from_event_id", IdType, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled_at", DateTime(timezone=True), nullable=True),
)
Index("ix_webhook_endpoints_merchant", webhook_endpoints.c.merchant_id)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    Column("endpoint_id", IdType, ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("event_id", IdType, ForeignKey("outbox_events.id"), nullable=False),
    Column("status", String(10), nullable=False),  # pending | delivered | failed (gave up)
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"),
)
Index("ix_webhook_deliveries_due", webhook_deliveries.c.status, webhook_deliveries.c.next_attempt_at)
