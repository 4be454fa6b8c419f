"""Request ids, JSON logs and Prometheus metrics.

Every request gets an id (the caller's X-Request-ID when it is sane, else a new one); it is
echoed in the response, put on every log line written while serving it, and quoted in errors.
With several worker processes, set PROMETHEUS_MULTIPROC_DIR so /metrics adds them all up.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id: ContextVar[str | None] = ContextVar("sharebuy_request_id", default=None)
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

REQUESTS = Counter("sharebuy_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "sharebuy_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PURCHASES = Counter("sharebuy_purchases_total", "Purchases recorded (replays not counted)")
REFUNDS = Counter("sharebuy_refunds_total", "Purchases refunded (replays not counted)")
SETTLEMENT_SECONDS = Histogram(
    "sharebuy_settlement_duration_seconds",
    "Time to settle one business day",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
VERIFY_OK = Gauge(
    "sharebuy_last_verify_ok", "1 if the last verify passed, 0 if it failed", multiprocess_mode="liveall"
)
VERIFY_AT = Gauge("sharebuy_last_verify_timestamp_seconds", "When verify last ran", multiprocess_mode="max")


def metrics_payload() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


def record_verify(ok: bool) -> None:
    VERIFY_OK.set(1 if ok else 0)
    VERIFY_AT.set(time.time())


class JsonFormatter(logging.Formatter):
    """One JSON object per line; never the request body, never a credential."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            # An error handled outside the request's middleware names the request itself.
            "request_id": record.__dict__.get("request_id") or request_id.get(),
        }
        for key in ("method", "path", "status", "duration_ms", "client", "route", "day"):
            if key in record.__dict__:
                entry[key] = record.__dict__[key]
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", as_json: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if as_json else logging.Formatter("%(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger("sharebuy")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(self), geolocation=(), microphone=()"),
]

access_log = logging.getLogger("sharebuy.access")


def _route_label(scope: Scope) -> str:
    """The route template (never the raw path: ids would make one time series per object)."""
    template = getattr(scope.get("route"), "path", None)
    path: str = scope["path"]
    if template is None:
        return "/static" if path.startswith("/static/") else "unmatched"
    if ":path}" in template:  # a segment that may hold slashes: no prefix can be told apart
        return str(template)
    # A route of an included router reports its own path, without the prefixes it is served
    # under (/api/v1, /market): they are the leading segments of the path the template leaves.
    segments = path.rstrip("/").split("/")
    depth = len(template.strip("/").split("/")) if template.strip("/") else 0
    prefix = "/".join(segments[: len(segments) - depth]) if depth else path.rstrip("/")
    return prefix + template


class RequestContext:
    """Pure ASGI middleware: request id, security headers, access log, metrics."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _SANE_ID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in _SECURITY_HEADERS if k not in present]
                if self.hsts:
                    headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_label(scope)
            method = scope["method"]
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(elapsed)
            access_log.info(
                "%s %s %s",
                method,
                scope["path"],
                status,
                extra={
                    "method": method,
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            request_id.reset(token)
