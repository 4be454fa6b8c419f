"""Tiers, the dividend pool and green certification over HTTP, on both databases: the admin's
writes replay with their Idempotency-Key, refusals are problems with stable codes, members read
their own tier and lines only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher, Type

from sharebuy.db.uow import UnitOfWork, transaction
from sharebuy.identity import service as identity
from sharebuy.kernel.clock import business_day
from sharebuy.ledger import repository as ledger
from sharebuy.ledger.domain import PT, Leg
from sharebuy.rewards import platform_service, settlement_service
from tests.web.conftest import Town


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        identity, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
    )


def fund_fees(town: Town, units: int) -> None:
    def work(uow: UnitOfWork) -> None:
        platform = ledger.platform_accounts(uow.c)
        ledger.post(
            uow.c,
            kind="grant",
            business_day=town.start,
            legs=[Leg(platform["reserve"], PT, -units), Leg(platform["fees"], PT, units)],
            reference="test:fees",
            reason="test funding of the fee account",
            actor="test",
            platform_ids=platform.values(),
        )
        uow.commit()

    transaction(town.engine, work)


def test_the_pool_over_http(town: Town) -> None:
    yesterday = business_day(datetime.now(UTC)) - timedelta(days=1)
    platform_service.set_rules(
        town.engine, {"dividend_pool_rate": "0.01", "dividend_period": "daily"}, effective_from=town.start
    )
    gold = {"code": "gold", "member_kind": "consumer", "name_zh": "金卡", "name_en": "Gold",
            "threshold": "100", "weight": 2}  # fmt: skip
    made = town.call("admin", "POST", "/tiers", json=gold, headers={"Idempotency-Key": "t1"})
    assert made.status_code == 200, made.text
    again = town.call("admin", "POST", "/tiers", json=gold, headers={"Idempotency-Key": "t1"})
    assert again.headers.get("Idempotent-Replayed") == "true"
    bad = town.call(
        "admin", "POST", "/tiers", json={**gold, "code": "Gold"}, headers={"Idempotency-Key": "t2"}
    )
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    certified = town.call("admin", "POST", f"/merchants/{town.merchants['X']}/green", json={"green": True},
                          headers={"Idempotency-Key": "g1"})  # fmt: skip
    assert certified.status_code == 200 and certified.json()["green"] is True
    bought = town.buy("posX", "X", "A", "500.00", "sale-1")
    assert bought.json()["green_bonus"] == "50.00"  # 500 × 10% × 10 × 10%
    fund_fees(town, 30_000)  # 3.0000 points
    settlement_service.settle(town.engine)  # through yesterday: tiers evaluated, no sale on those days

    mine = town.call("A", "GET", f"/members/{town['A'].member_id}/tier").json()
    assert mine["tier"] is None and mine["next_tier"]["code"] == "gold"  # today's sale counts tomorrow
    assert town.call("B", "GET", f"/members/{town['A'].member_id}/tier").status_code == 403

    paid = town.call("admin", "POST", "/dividends", json={"period": yesterday.isoformat()},
                     headers={"Idempotency-Key": "d1"})  # fmt: skip
    assert paid.status_code == 201, paid.text
    assert paid.json()["replayed"] is True  # the settlement paid it: nobody held a tier, a pool of 0
    assert paid.json()["pool"] == "0.0000" and paid.json()["members"] == 0
    refused = town.call("admin", "POST", "/dividends", json={"period": "2999-01"},
                        headers={"Idempotency-Key": "d2"})  # fmt: skip
    assert refused.status_code == 422 and refused.json()["code"] == "period_not_settled"
    listed = town.call("auditor", "GET", "/dividends").json()
    assert [p["period"] for p in listed][:1] == [yesterday.isoformat()]
    assert town.call("A", "GET", "/dividends").status_code == 403
    lines = town.call("A", "GET", f"/dividends/{yesterday.isoformat()}/lines").json()
    assert lines == {"items": [], "next_offset": None}
    town.assert_verified()
