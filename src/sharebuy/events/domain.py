"""Webhook rules with no database and no network: topics, URLs, signatures, retry schedule.

Invariant kept here: a body is signed together with the moment it was signed, so a receiver can
tell both that it came from us unchanged and that it is not an old message played back.
`verify_signature` is the receiver's side; merchants may copy it as it is (standard library only).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import socket
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sharebuy.kernel.errors import InvalidInput

SIGNATURE_HEADER = "Sharebuy-Signature"
EVENT_ID_HEADER = "Sharebuy-Event-Id"
TOPIC_HEADER = "Sharebuy-Topic"

# Each C2C trade transition (market.domain.TRANSITIONS) is announced as market.trade.<event>.
MARKET_TOPICS = tuple(
    f"market.trade.{event}"
    for event in (
        "opened",
        "paid",
        "cancelled",
        "expired",
        "confirmed",
        "disputed",
        "escalated",
        "released",
        "returned",
    )
)
# Each points-mall order transition (mall.domain.TRANSITIONS) is announced as mall.order.<event>.
MALL_TOPICS = tuple(f"mall.order.{event}" for event in ("placed", "shipped", "delivered", "cancelled"))
TOPICS = ("purchase.recorded", "purchase.refunded", "settlement.completed", *MARKET_TOPICS, *MALL_TOPICS)
# Other names under market. stay reserved for the market's later events.
RESERVED_PREFIXES = ("market.",)
ALL = "*"

MAX_URL_LENGTH = 512
SIGNATURE_TOLERANCE_SECONDS = 300

# Waits after the 1st, 2nd, ... failed attempt; a failure after the last wait gives up.
BACKOFF = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=6),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(BACKOFF) + 1


# -- topics ---------------------------------------------------------------------------------


def require_known_topic(topic: str) -> str:
    if topic not in TOPICS:
        raise InvalidInput("unknown_topic", f"未知的事件主题：{topic}", f"unknown event topic: {topic}")
    return topic


def parse_topics(value: str | Iterable[str]) -> str:
    """The stored form of a subscription: "*" or the known topics, comma-separated, in order."""
    names = value.split(",") if isinstance(value, str) else list(value)
    chosen = {name.strip() for name in names if name.strip()}
    if not chosen:
        raise InvalidInput("no_topics", "请至少订阅一个事件主题", "subscribe to at least one topic")
    if ALL in chosen:
        return ALL
    for name in sorted(chosen):
        if name.startswith(RESERVED_PREFIXES) and name not in TOPICS:
            raise InvalidInput(
                "topic_reserved",
                f"事件主题 {name} 尚未开放",
                f"topic {name} is reserved and not available yet",
            )
        require_known_topic(name)
    return ",".join(t for t in TOPICS if t in chosen)


def topic_list(stored: str) -> list[str]:
    return [ALL] if stored == ALL else stored.split(",")


def subscribed(stored: str, topic: str) -> bool:
    return stored == ALL or topic in stored.split(",")


# -- endpoint URLs --------------------------------------------------------------------------


def validate_url(url: str, *, production: bool) -> str:
    """An absolute http(s) URL of at most 512 characters; https and a public host in production."""
    text = url.strip()
    if not text or len(text) > MAX_URL_LENGTH or any(ch.isspace() for ch in text):
        raise _bad_url(text[:80], f"网址不能为空、不能含空白且最多 {MAX_URL_LENGTH} 个字符")
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        _ = parts.port  # a non-numeric port raises here
    except ValueError:
        raise _bad_url(text[:80], "网址格式无效") from None
    if parts.scheme not in ("http", "https") or not host:
        raise _bad_url(text[:80], "网址必须以 http:// 或 https:// 开头并包含主机名")
    if parts.username is not None or parts.password is not None:
        raise _bad_url(text[:80], "网址不能包含用户名或密码")
    if production:
        if parts.scheme != "https":
            raise _bad_url(text[:80], "生产环境的网址必须使用 https")
        if _internal_host(host):
            raise _bad_url(text[:80], "网址不能指向本机或内网地址")
    return text


def _internal_host(host: str) -> bool:
    name = host.lower().rstrip(".")  # "localhost." is localhost
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(_legacy_ipv4(name) or name)
    except ValueError:
        return False  # a name: its addresses are checked when sending (internal_addresses)
    return not address.is_global


_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$")


def _legacy_ipv4(host: str) -> str | None:
    """The dotted quad that the C resolver reads in `host` ("127.1", "0x7f.0.0.1", "2130706433",
    octal "0177.0.0.1"), which `ipaddress` refuses to parse but a connection would reach."""
    if not _LEGACY_IPV4.match(host):
        return None
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


def internal_addresses(addresses: Iterable[str]) -> list[str]:
    """The addresses a webhook must not reach: loopback, private, link-local (cloud metadata),
    reserved.  A name is checked when each delivery is sent, since it can be pointed anywhere
    after the endpoint was registered."""
    return [a for a in addresses if not ipaddress.ip_address(a.split("%", 1)[0]).is_global]


def _bad_url(shown: str, reason_zh: str) -> InvalidInput:
    return InvalidInput(
        "invalid_webhook_url",
        f"Webhook 网址无效：{reason_zh}",
        "the webhook URL must be an absolute http(s) URL of at most 512 characters without "
        "credentials (https to a public host in production)",
        url=shown,
    )


# -- secrets and signatures -----------------------------------------------------------------


def derive_secret(server_key: str, endpoint_id: int, salt: str) -> str:
    """The endpoint's signing secret: recomputed when needed, so it is never stored."""
    message = f"webhook:{endpoint_id}:{salt}".encode()
    return hmac.new(server_key.encode(), message, hashlib.sha256).hexdigest()


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes | str, timestamp: int) -> str:
    """The Sharebuy-Signature header: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">."""
    raw = body.encode() if isinstance(body, str) else body
    return f"t={timestamp},v1={_digest(secret, timestamp, raw)}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes | str,
    now: int,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """True when `header` signs exactly `body` with `secret` within `tolerance` seconds of `now`.

    `now` is the receiver's clock in unix seconds.  Pass the raw request body, before any JSON
    parsing.  Several v1 values may be present (one per secret during a rotation).
    """
    raw = body.encode() if isinstance(body, str) else body
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates or abs(now - timestamp) > tolerance:
        return False
    expected = _digest(secret, timestamp, raw)
    return any(hmac.compare_digest(expected, value) for value in candidates)


# -- the message ----------------------------------------------------------------------------


def body(event_id: int, topic: str, created_at: datetime, data: Mapping[str, Any]) -> bytes:
    """The JSON posted to an endpoint; its bytes are what the signature covers."""
    document = {"id": event_id, "topic": topic, "created_at": created_at.isoformat(), "data": data}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def headers(event_id: int, topic: str, signature: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        SIGNATURE_HEADER: signature,
        EVENT_ID_HEADER: str(event_id),
        TOPIC_HEADER: topic,
    }


def delivered(status_code: int) -> bool:
    return 200 <= status_code < 300


def retry_delay(failed_attempts: int) -> timedelta | None:
    """How long to wait after this many failed attempts, or None once the schedule is used up."""
    if failed_attempts < 1:
        raise ValueError("failed_attempts counts attempts made, starting at 1")
    if failed_attempts > len(BACKOFF):
        return None
    return BACKOFF[failed_attempts - 1]
