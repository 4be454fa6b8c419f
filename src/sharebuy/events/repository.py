"""Outbox and webhook queries, each on the caller's connection and inside its transaction.

`emit` is the only write other parts make here: it must run on the connection that writes the
change it describes, so the event commits or rolls back with that change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from sharebuy.events import domain
from sharebuy.events.models import outbox_events, webhook_deliveries, webhook_endpoints
from sharebuy.kernel.errors import not_found
from sharebuy.kernel.views import plain


def utc(moment: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without their zone; every stored timestamp is UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# -- the outbox -------------------------------------------------------------------------------


def emit(
    conn: Connection,
    topic: str,
    merchant_id: int | None,
    payload: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> int:
    """Add an event to the outbox in the caller's transaction; amounts and dates become strings."""
    return int(conn.execute(_insert_event, event_row(topic, merchant_id, payload, now=now)).scalar_one())


def event_row(
    topic: str, merchant_id: int | None, payload: Mapping[str, Any], *, now: datetime | None = None
) -> dict[str, Any]:
    """The outbox row `emit` writes, for a caller that writes it together with its own row."""
    domain.require_known_topic(topic)
    return {
        "topic": topic,
        "merchant_id": merchant_id,
        "payload": json.dumps(plain(dict(payload)), ensure_ascii=False, sort_keys=True),
        "created_at": utc(now) or datetime.now(UTC),
    }


_insert_event = insert(outbox_events).returning(outbox_events.c.id)  # built once, compiled once


def last_event_id(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(outbox_events.c.id), 0))).scalar_one())


def horizon_event_id(conn: Connection, after: int, before: datetime) -> int | None:
    """The newest event after `after` created before `before` (see service.enqueue)."""
    found = conn.execute(
        select(func.max(outbox_events.c.id)).where(
            outbox_events.c.id > after, outbox_events.c.created_at < before
        )
    ).scalar()
    return None if found is None else int(found)


# -- endpoints --------------------------------------------------------------------------------


def insert_endpoint(conn: Connection, row: Mapping[str, Any]) -> int:
    stmt = insert(webhook_endpoints).returning(webhook_endpoints.c.id)
    return int(conn.execute(stmt, dict(row)).scalar_one())


def endpoint(conn: Connection, merchant_id: int, endpoint_id: int, *, lock: bool = False) -> Any:
    """The merchant's endpoint; another merchant's endpoint does not exist as far as it can tell."""
    stmt = select(webhook_endpoints).where(
        webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.merchant_id == merchant_id
    )
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise not_found("Webhook 端点", "webhook endpoint", endpoint_id)
    return row


def endpoints_of(conn: Connection, merchant_id: int) -> Sequence[Any]:
    stmt = (
        select(webhook_endpoints)
        .where(webhook_endpoints.c.merchant_id == merchant_id)
        .order_by(webhook_endpoints.c.id)
    )
    return conn.execute(stmt).mappings().all()


def active_endpoint_count(conn: Connection, merchant_id: int) -> int:
    stmt = select(func.count()).where(
        webhook_endpoints.c.merchant_id == merchant_id, webhook_endpoints.c.active.is_(True)
    )
    return int(conn.execute(stmt).scalar_one())


def active_endpoints(conn: Connection) -> Sequence[Any]:
    stmt = (
        select(webhook_endpoints).where(webhook_endpoints.c.active.is_(True)).order_by(webhook_endpoints.c.id)
    )
    return conn.execute(stmt).mappings().all()


def update_endpoint(conn: Connection, endpoint_id: int, **values: Any) -> None:
    conn.execute(update(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id).values(**values))


# -- deliveries -------------------------------------------------------------------------------


def undelivered_events(conn: Connection, ep: Any, limit: int) -> list[int]:
    """Ids of events after the endpoint's cursor that it should get and has no delivery row for."""
    stmt = (
        select(outbox_events.c.id)
        .where(
            outbox_events.c.id > ep["from_event_id"],
            or_(outbox_events.c.merchant_id == ep["merchant_id"], outbox_events.c.merchant_id.is_(None)),
            ~exists().where(
                webhook_deliveries.c.endpoint_id == ep["id"],
                webhook_deliveries.c.event_id == outbox_events.c.id,
            ),
        )
        .order_by(outbox_events.c.id)
        .limit(limit)
    )
    if ep["topics"] != domain.ALL:
        stmt = stmt.where(outbox_events.c.topic.in_(domain.topic_list(ep["topics"])))
    return [int(i) for i in conn.execute(stmt).scalars()]


def insert_deliveries(conn: Connection, endpoint_id: int, event_ids: list[int], now: datetime) -> int:
    """Pending rows, due at once; a row another enqueuer already wrote is left as it is."""
    if not event_ids:
        return 0
    rows = [
        {
            "endpoint_id": endpoint_id,
            "event_id": event_id,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for event_id in event_ids
    ]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(webhook_deliveries)
        .on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
        .returning(webhook_deliveries.c.id)
    )
    return len(conn.execute(stmt, rows).all())


def due_deliveries(conn: Connection, now: datetime, limit: int) -> Sequence[Any]:
    """Pending deliveries of active endpoints that are due, oldest first, locked for the claim.

    On PostgreSQL a row another dispatcher is claiming right now is skipped rather than waited
    for (SKIP LOCKED); once that claim commits its lease moves the row out of the due range.
    SQLite writers are serialised by BEGIN IMMEDIATE, which gives the same result.
    """
    d, e, ev = webhook_deliveries.c, webhook_endpoints.c, outbox_events.c
    stmt = (
        select(
            d.id,
            d.attempts,
            d.endpoint_id,
            d.event_id,
            e.url,
            e.secret_salt,
            ev.topic,
            ev.payload,
            ev.created_at.label("event_created_at"),
        )
        .join(webhook_endpoints, e.id == d.endpoint_id)
        .join(outbox_events, ev.id == d.event_id)
        .where(d.status == "pending", d.next_attempt_at <= now, e.active.is_(True))
        .order_by(d.next_attempt_at, d.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=webhook_deliveries, skip_locked=True)
    return conn.execute(stmt).mappings().all()


def lease(conn: Connection, delivery_ids: list[int], until: datetime) -> None:
    conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id.in_(delivery_ids))
        .values(next_attempt_at=until)
    )


def record_outcome(conn: Connection, delivery_id: int, claimed_attempts: int, **values: Any) -> bool:
    """Write an attempt's outcome unless another dispatcher recorded one for it meanwhile."""
    stmt = (
        update(webhook_deliveries)
        .where(
            webhook_deliveries.c.id == delivery_id,
            webhook_deliveries.c.status == "pending",
            webhook_deliveries.c.attempts == claimed_attempts,
        )
        .values(**values)
    )
    return bool(conn.execute(stmt).rowcount)


def abandon_pending(conn: Connection, endpoint_id: int, reason: str) -> None:
    conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.endpoint_id == endpoint_id, webhook_deliveries.c.status == "pending")
        .values(status="failed", next_attempt_at=None, last_error=reason)
    )


def delivery_log(
    conn: Connection, merchant_id: int, endpoint_id: int | None, limit: int, before_id: int | None
) -> Sequence[Any]:
    d, e, ev = webhook_deliveries.c, webhook_endpoints.c, outbox_events.c
    conditions = [e.merchant_id == merchant_id]
    if endpoint_id is not None:
        conditions.append(d.endpoint_id == endpoint_id)
    if before_id is not None:
        conditions.append(d.id < before_id)
    stmt = (
        select(
            d.id,
            d.endpoint_id,
            d.event_id,
            ev.topic,
            d.status,
            d.attempts,
            d.next_attempt_at,
            d.last_status_code,
            d.last_error,
            d.delivered_at,
            d.created_at,
        )
        .join(webhook_endpoints, e.id == d.endpoint_id)
        .join(outbox_events, ev.id == d.event_id)
        .where(and_(*conditions))
        .order_by(d.id.desc())
        .limit(limit)
    )
    return conn.execute(stmt).mappings().all()
