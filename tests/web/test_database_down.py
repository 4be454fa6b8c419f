"""A database outage is answered 503 `database_unavailable` with Retry-After, never a bare 500:
the caller should retry (with the same Idempotency-Key), as the stress test's clients do."""

from __future__ import annotations

import socket

from fastapi.testclient import TestClient

from sharebuy.db.engine import make_engine
from sharebuy.settings import Settings
from sharebuy.web.app import create_app


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_database_is_503_with_retry_after() -> None:
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/nowhere")
    app = create_app(
        Settings(environment="test", log_json=False, log_level="CRITICAL"), engine=engine, scheduler=False
    )
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            answer = client.post(
                "/api/v1/auth/token", json={"login": "admin", "password": "correct horse 42"}
            )
            ready = client.get("/readyz")
    finally:
        engine.dispose()
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "1"
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["code"] == "database_unavailable"
    assert body["message_zh"] and body["message_en"]
    assert ready.status_code == 503
