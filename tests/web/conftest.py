"""HTTP tests: the real app in-process (TestClient) on SQLite and PostgreSQL.

`town` builds the cast every authorization test needs, through the API where a user would:
consumers A and B who registered themselves, merchant X (owner O, staff S, a POS key) and
merchant Y (owner P, staff T, a POS key), an admin and an auditor.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sharebuy.identity import service as identity
from sharebuy.kernel.clock import business_day
from sharebuy.ledger.verify import verify
from sharebuy.members import service as members
from sharebuy.rewards import checks, platform_service
from sharebuy.settings import Settings
from sharebuy.web.app import create_app

PASSWORD = "correct horse 42"


@pytest.fixture
def app_client(engine: Engine) -> Iterator[TestClient]:
    settings = Settings(
        environment="test", sign_in_rate_per_minute=10_000, log_json=False, log_level="WARNING"
    )
    app = create_app(settings, engine=engine, scheduler=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@dataclass
class Caller:
    """One identity's headers; `None` headers means anonymous."""

    name: str
    headers: dict[str, str] = field(default_factory=dict)
    member_id: int | None = None


@dataclass
class Town:
    client: TestClient
    engine: Engine
    start: Any
    callers: dict[str, Caller] = field(default_factory=dict)
    merchants: dict[str, int] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Caller:
        return self.callers[name]

    def call(self, who: str, method: str, path: str, **kw: Any) -> Any:
        headers = {**self.callers[who].headers, **kw.pop("headers", {})}
        return self.client.request(method, f"/api/v1{path}", headers=headers, **kw)

    def buy(self, who: str, merchant: str, consumer: str, amount: str, key: str) -> Any:
        return self.call(
            who,
            "POST",
            "/purchases",
            json={
                "merchant_id": self.merchants[merchant],
                "consumer_id": self[consumer].member_id,
                "amount": amount,
            },
            headers={"Idempotency-Key": key},
        )

    def assert_verified(self) -> None:
        report = verify(self.engine, checks.CHECKS)
        assert report.ok, report.as_dict()


def _bearer(client: TestClient, login: str) -> dict[str, str]:
    answer = client.post("/api/v1/auth/token", json={"login": login, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def register(client: TestClient, phone: str, name: str) -> Caller:
    answer = client.post("/api/v1/auth/register", json={"phone": phone, "password": PASSWORD, "name": name})
    assert answer.status_code == 201, answer.text
    return Caller(name, _bearer(client, phone), answer.json()["member_id"])


@pytest.fixture
def town(app_client: TestClient, engine: Engine) -> Town:
    today = business_day(datetime.now(UTC))
    start = today - timedelta(days=3)
    platform_service.initialise(engine, start_day=start)
    t = Town(app_client, engine, start)
    t.callers["anonymous"] = Caller("anonymous")
    for i, name in enumerate(["A", "B", "O", "S", "P", "T"]):
        t.callers[name] = register(app_client, f"1380000{i:04d}", name)
    for login, role in (("admin", "admin"), ("auditor", "auditor")):
        identity.create_operator(engine, login=login, password=PASSWORD, role=role)
        t.callers[login] = Caller(login, _bearer(app_client, login))
    for shop, owner, staff in (("X", "O", "S"), ("Y", "P", "T")):
        applied = t.call(owner, "POST", "/merchants", json={"name": f"商店{shop}", "region_code": "441900"})
        assert applied.status_code == 201, applied.text
        merchant_id = applied.json()["id"]
        t.merchants[shop] = merchant_id
        members.approve_merchant(engine, merchant_id)
        members.grant_points(engine, merchant_id, "1000", reason="bootstrap")
        members.post_deposit(engine, merchant_id)
        added = t.call(
            owner,
            "POST",
            f"/merchants/{merchant_id}/staff",
            json={"phone": f"1380000{['A', 'B', 'O', 'S', 'P', 'T'].index(staff):04d}"},
        )
        assert added.status_code == 201, added.text
        # staff membership is read at each authentication: the same token now carries it
        made = t.call(owner, "POST", f"/merchants/{merchant_id}/api-keys", json={"name": "till"})
        assert made.status_code == 201, made.text
        t.keys[shop] = made.json()["key"]
        t.callers[f"pos{shop}"] = Caller(f"pos{shop}", {"Authorization": f"Bearer {made.json()['key']}"})
    return t
