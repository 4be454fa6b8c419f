"""Webhook use cases: a merchant's endpoints and delivery log, and the dispatcher.

The dispatcher never holds a transaction open across the network: it claims due deliveries with
a lease and commits, sends, then records each outcome in a short transaction of its own.  A
delivery goes out at least once (a crash after sending and before recording sends it again when
the lease runs out), so receivers should ignore a Sharebuy-Event-Id they have already handled.
Deliveries are not ordered: a retried event can arrive after a later one.
"""

from __future__ import annotations

import json
import secrets
import socket
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine

from sharebuy.db.uow import UnitOfWork, reading, transaction
from sharebuy.events import domain, repository
from sharebuy.events.repository import utc
from sharebuy.kernel.errors import InvalidInput, Refused
from sharebuy.members import repository as member_repo
from sharebuy.settings import get_settings

# (url, headers, body) -> the HTTP status code; raises on a network error or a timeout.
Sender = Callable[[str, Mapping[str, str], bytes], int]

SEND_TIMEOUT_SECONDS = 5.0
MAX_ACTIVE_ENDPOINTS = 10
MAX_ERROR_LENGTH = 500
# Deliveries claimed per transaction; the lease covers sending all of them one after another.
CLAIM_CHUNK = 10
LEASE_MARGIN = timedelta(seconds=30)
ENQUEUE_BATCH = 1000
# An endpoint's cursor only moves past events at least this old.  On PostgreSQL an event's id
# is drawn before its transaction commits, so a lower id can become visible after a higher one;
# until the cursor passes an event, the anti-join on deliveries is what keeps enqueue exact.
CURSOR_LAG = timedelta(minutes=5)


def _now(now: datetime | None) -> datetime:
    # Timestamps are stored in UTC: SQLite keeps no zone, so mixed zones would compare wrongly.
    return (now or datetime.now(UTC)).astimezone(UTC)


def _server_key() -> str:
    return get_settings().secret_key.get_secret_value()


def _secret(endpoint_id: int, salt: str) -> str:
    return domain.derive_secret(_server_key(), endpoint_id, salt)


def _endpoint_view(row: Any) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "url": row["url"],
        "topics": domain.topic_list(row["topics"]),
        "active": bool(row["active"]),
        "created_at": utc(row["created_at"]),
        "disabled_at": utc(row["disabled_at"]),
    }


# -- endpoints --------------------------------------------------------------------------------


def create_endpoint(
    engine: Engine,
    merchant_id: int,
    *,
    url: str,
    topics: str | list[str] = domain.ALL,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Register an endpoint; the answer holds its signing secret, which is never shown again."""
    production = get_settings().environment == "production"
    clean_url = domain.validate_url(url, production=production)
    subscription = domain.parse_topics(topics)
    moment = _now(now)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        member_repo.merchant(uow.c, merchant_id)
        if repository.active_endpoint_count(uow.c, merchant_id) >= MAX_ACTIVE_ENDPOINTS:
            raise Refused(
                "too_many_endpoints",
                f"每个商家最多 {MAX_ACTIVE_ENDPOINTS} 个启用中的 Webhook 端点",
                f"a merchant can have at most {MAX_ACTIVE_ENDPOINTS} active webhook endpoints",
            )
        salt = secrets.token_hex(16)
        endpoint_id = repository.insert_endpoint(
            uow.c,
            {
                "merchant_id": merchant_id,
                "url": clean_url,
                "topics": subscription,
                "secret_salt": salt,
                "active": True,
                # Only events after the endpoint exists are delivered to it.
                "from_event_id": repository.last_event_id(uow.c),
                "created_at": moment,
            },
        )
        uow.commit()
        return {
            "id": endpoint_id,
            "url": clean_url,
            "topics": domain.topic_list(subscription),
            "secret": _secret(endpoint_id, salt),
            "created_at": moment,
        }

    return transaction(engine, work)


def list_endpoints(engine: Engine, merchant_id: int) -> list[dict[str, Any]]:
    with reading(engine) as conn:
        member_repo.merchant(conn, merchant_id)
        return [_endpoint_view(row) for row in repository.endpoints_of(conn, merchant_id)]


def disable_endpoint(
    engine: Engine, merchant_id: int, endpoint_id: int, *, now: datetime | None = None
) -> dict[str, Any]:
    """Stop sending to an endpoint; what was still waiting for it is marked failed."""
    moment = _now(now)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        row = repository.endpoint(uow.c, merchant_id, endpoint_id, lock=True)
        if row["active"]:
            repository.update_endpoint(uow.c, endpoint_id, active=False, disabled_at=moment)
            repository.abandon_pending(uow.c, endpoint_id, "endpoint disabled")
        view = _endpoint_view(repository.endpoint(uow.c, merchant_id, endpoint_id))
        uow.commit()
        return view

    return transaction(engine, work)


def rotate_secret(engine: Engine, merchant_id: int, endpoint_id: int) -> dict[str, Any]:
    """A new signing secret, shown once; the old one stops working at once."""

    def work(uow: UnitOfWork) -> dict[str, Any]:
        row = repository.endpoint(uow.c, merchant_id, endpoint_id, lock=True)
        if not row["active"]:
            raise Refused(
                "endpoint_disabled",
                f"Webhook 端点 {endpoint_id} 已停用",
                f"webhook endpoint {endpoint_id} is disabled",
            )
        salt = secrets.token_hex(16)
        repository.update_endpoint(uow.c, endpoint_id, secret_salt=salt)
        uow.commit()
        return {"id": endpoint_id, "secret": _secret(endpoint_id, salt)}

    return transaction(engine, work)


def deliveries(
    engine: Engine,
    merchant_id: int,
    *,
    endpoint_id: int | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """The delivery log, newest first; page on with `before_id` = the last id seen."""
    if not 1 <= limit <= 500:
        raise InvalidInput("invalid_limit", "limit 应为 1–500", "limit must be 1–500")
    with reading(engine) as conn:
        member_repo.merchant(conn, merchant_id)
        if endpoint_id is not None:
            repository.endpoint(conn, merchant_id, endpoint_id)
        rows = repository.delivery_log(conn, merchant_id, endpoint_id, limit, before_id)
    return [
        {
            "id": int(r["id"]),
            "endpoint_id": int(r["endpoint_id"]),
            "event_id": int(r["event_id"]),
            "topic": r["topic"],
            "status": r["status"],
            "attempts": int(r["attempts"]),
            "last_status_code": r["last_status_code"],
            "last_error": r["last_error"],
            "next_attempt_at": utc(r["next_attempt_at"]) if r["status"] == "pending" else None,
            "delivered_at": utc(r["delivered_at"]),
            "created_at": utc(r["created_at"]),
        }
        for r in rows
    ]


# -- the dispatcher ---------------------------------------------------------------------------


def enqueue(engine: Engine, now: datetime | None = None) -> int:
    """Pending deliveries for new events: each active endpoint gets its merchant's events and the
    platform-wide ones (merchant NULL), of the topics it subscribed to.  Safe to run repeatedly
    and concurrently: the unique (endpoint, event) index admits each pair once."""
    moment = _now(now)

    def work(uow: UnitOfWork) -> int:
        created = 0
        for ep in repository.active_endpoints(uow.c):
            # The horizon is read before the events, so everything up to it is seen below.
            horizon = repository.horizon_event_id(uow.c, int(ep["from_event_id"]), moment - CURSOR_LAG)
            event_ids = repository.undelivered_events(uow.c, ep, ENQUEUE_BATCH)
            created += repository.insert_deliveries(uow.c, int(ep["id"]), event_ids, moment)
            if horizon is not None and len(event_ids) == ENQUEUE_BATCH:
                horizon = min(horizon, event_ids[-1])
            if horizon is not None:
                repository.update_endpoint(uow.c, int(ep["id"]), from_event_id=horizon)
        uow.commit()
        return created

    return transaction(engine, work)


def dispatch_due(
    engine: Engine, *, now: datetime | None = None, send: Sender | None = None, limit: int = 100
) -> dict[str, int]:
    """Send up to `limit` due deliveries; 2xx is delivered, anything else is retried by the backoff
    schedule and marked failed after its last step."""
    sender = send or post_json
    # A fixed `now` (tests) is used throughout; otherwise the clock is read at each step, so a
    # signature is as fresh as its send and a lease starts when it is taken.
    counts = {"claimed": 0, "delivered": 0, "retrying": 0, "failed": 0}
    while counts["claimed"] < limit:
        batch = _claim(engine, _now(now), min(CLAIM_CHUNK, limit - counts["claimed"]))
        if not batch:
            break
        counts["claimed"] += len(batch)
        for job in batch:
            code, error = _attempt(job, _now(now), sender)
            counts[_record(engine, job, code, error, _now(now))] += 1
    return counts


def run_once(engine: Engine, now: datetime | None = None, send: Sender | None = None) -> dict[str, int]:
    """One tick of the scheduler: enqueue new events, then deliver what is due."""
    created = enqueue(engine, now)
    return {"enqueued": created, **dispatch_due(engine, now=now, send=send)}


def _claim(engine: Engine, moment: datetime, size: int) -> list[dict[str, Any]]:
    """Take due deliveries for this dispatcher: the lease moves them out of the due range, so
    another dispatcher does not send them while this one is sending."""

    def work(uow: UnitOfWork) -> list[dict[str, Any]]:
        rows = [dict(r) for r in repository.due_deliveries(uow.c, moment, size)]
        if rows:
            until = moment + LEASE_MARGIN + timedelta(seconds=SEND_TIMEOUT_SECONDS * len(rows))
            repository.lease(uow.c, [int(r["id"]) for r in rows], until)
        uow.commit()
        return rows

    return transaction(engine, work)


def _attempt(job: Mapping[str, Any], moment: datetime, sender: Sender) -> tuple[int | None, str | None]:
    event_id, topic = int(job["event_id"]), str(job["topic"])
    created_at = utc(job["event_created_at"])
    assert created_at is not None
    body = domain.body(event_id, topic, created_at, json.loads(job["payload"]))
    secret = _secret(int(job["endpoint_id"]), str(job["secret_salt"]))
    signature = domain.sign(secret, body, int(moment.timestamp()))
    try:
        return int(sender(str(job["url"]), domain.headers(event_id, topic, signature), body)), None
    except Exception as error:  # whatever the receiver or the network did, it is retried
        return None, f"{type(error).__name__}: {error}"[:MAX_ERROR_LENGTH]


def _record(
    engine: Engine, job: Mapping[str, Any], code: int | None, error: str | None, moment: datetime
) -> str:
    attempts = int(job["attempts"]) + 1
    values: dict[str, Any] = {"attempts": attempts, "last_status_code": code}
    if code is not None and domain.delivered(code):
        outcome = "delivered"
        values.update(status="delivered", next_attempt_at=None, last_error=None, delivered_at=moment)
    else:
        delay = domain.retry_delay(attempts)
        outcome = "retrying" if delay is not None else "failed"
        values.update(
            status="pending" if delay is not None else "failed",
            next_attempt_at=moment + delay if delay is not None else None,
            last_error=error or f"HTTP {code}",
        )

    def work(uow: UnitOfWork) -> str:
        repository.record_outcome(uow.c, int(job["id"]), int(job["attempts"]), **values)
        uow.commit()
        return outcome

    return transaction(engine, work)


# -- the default sender ------------------------------------------------------------------------


class InternalAddress(Exception):
    """A webhook's host resolves to the platform's own network: not sent (recorded, retried)."""


def _refuse_internal(url: str) -> None:
    """Every address the host resolves to must be public.  The HTTP client resolves the name
    again when it connects, so a name that changes its answer within that moment is not caught:
    a network egress rule is the complete defence, this check the one the platform can make."""
    host = urlsplit(url).hostname or ""
    port = urlsplit(url).port or 443
    found = {str(info[4][0]) for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)}
    internal = domain.internal_addresses(found)
    if internal:
        raise InternalAddress(f"{host} resolves to an internal address ({', '.join(sorted(internal))})")


def post_json(url: str, headers: Mapping[str, str], body: bytes) -> int:
    """POST `body` and return the status code; raises on a network error or a 5 s timeout.

    Redirects are not followed: a 3xx is an answer other than 2xx, retried like any other, since
    the endpoint's URL is the one the merchant registered.
    """
    if get_settings().environment == "production":
        _refuse_internal(url)
    response = httpx.post(
        url,
        content=body,
        headers={**headers, "User-Agent": "sharebuy-webhooks/1"},
        timeout=SEND_TIMEOUT_SECONDS,
        follow_redirects=False,
    )
    return response.status_code
