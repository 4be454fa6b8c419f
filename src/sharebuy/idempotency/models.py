"""The record of an idempotent request, written in the same transaction as its effect."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, String, Table, Text, UniqueConstraint

from sharebuy.db.base import IdType, metadata

idempotency_records = Table(
    "idempotency_records",
    metadata,
    Column("id", IdType, primary_key=True, autoincrement=True),
    # Whose key it is (a user, a POS key): two callers never collide on one another's keys.
    Column("scope", String(64), nullable=False),
    Column("key", String(128), nullable=False),
    Column("method", String(8), nullable=False),
    Column("path", String(256), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("scope", "key", name="uq_idempotency_records_scope_key"),
)
