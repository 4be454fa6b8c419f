"""The demo data (`sharebuy demo`, what `make run` loads): every part of the platform has
something to show, verify passes, and loading it again changes nothing.  SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from sharebuy import demo
from sharebuy.collectibles import service as collectibles
from sharebuy.db.uow import reading
from sharebuy.demo import showcase
from sharebuy.ledger.models import entries as journal_entries
from sharebuy.ledger.verify import verify
from sharebuy.mall import service as mall
from sharebuy.members import repository as member_repo
from sharebuy.rewards import checks
from sharebuy.rewards.models import purchases
from sharebuy.tiers import dividends, green
from sharebuy.tiers import service as tiers
from sharebuy.tiers.models import tier_history


@pytest.fixture
def loaded(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("SHAREBUY_DEMO_ACCOUNTS", str(tmp_path / "demo-accounts.json"))
    result = demo.load(engine)
    assert result["loaded"] is True
    return result


def _ids(engine: Engine) -> dict[str, int]:
    """The demo consumers' member ids by name, found by phone as a cashier would."""
    with reading(engine) as conn:
        found = {name: member_repo.consumer_by_phone(conn, phone) for phone, name in demo.CONSUMERS}
    assert all(found.values()), found
    return {name: int(member_id) for name, member_id in found.items() if member_id is not None}


def test_demo_shows_tiers_history_and_a_paid_dividend(engine: Engine, loaded: dict[str, Any]) -> None:
    ladder = tiers.list_tiers(engine)
    assert {t["code"] for t in ladder} == {code for code, *_ in showcase.TIERS}
    held = {t["code"]: t["members"] for t in ladder}
    assert sum(1 for n in held.values() if n) >= 4, held  # members in several tiers, both kinds
    assert held["diamond"] == 1 and held["gold"] >= 2 and held["silver"] >= 1 and held["star"] == 1
    people = _ids(engine)
    climber = tiers.member_tier(engine, people["刘洋"])
    assert [(h["from_code"], h["to_code"]) for h in climber["history"]] == [
        ("silver", "gold"),
        (None, "silver"),
    ]
    assert climber["history"][0]["business_day"] > climber["history"][1]["business_day"]
    with reading(engine) as conn:
        assert conn.execute(select(func.count()).select_from(tier_history)).scalar_one() >= 8

    [period] = dividends.periods(engine)
    assert period["kind"] == "daily" and period["period"] == str(loaded["last_settled_day"])
    report = dividends.report(engine, period["period"])
    assert report.pool.units > 0 and not report.capped and report.members == 8
    lines = dividends.lines(engine, period["period"])
    assert sum(line["points"].units for line in lines) == report.pool.units
    assert {t["tier_code"] for t in report.tiers} == {"silver", "gold", "diamond", "growing", "star"}
    assert dividends.member_dividends(engine, people["王芳"])[0]["points"].units > 0


def test_demo_has_a_green_merchant_whose_sales_earned_the_bonus(
    engine: Engine, loaded: dict[str, Any]
) -> None:
    shop = loaded["merchants"][demo.GREEN_SHOP]
    assert green.status(engine, shop)["green"] is True
    assert [m["merchant_id"] for m in green.green_merchants_list(engine)] == [shop]
    with reading(engine) as conn:
        bonuses = conn.execute(
            select(purchases.c.green_bonus).where(purchases.c.merchant_id == shop)
        ).scalars()
        assert [int(b) > 0 for b in bonuses] == [True, True, True]


def test_demo_fills_the_mall_in_three_regions(engine: Engine, loaded: dict[str, Any]) -> None:
    shelf = mall.browse(engine)
    assert len(shelf) == 5 and all(int(p["stock"]) > 0 for p in shelf)
    assert {p["region_code"] for p in shelf} == {"441900", "440106", "440104"}
    assert len(mall.browse(engine, region="4401")) == 2  # Guangzhou
    assert len(mall.browse(engine, region="441900")) == 3  # Dongguan
    assert len(mall.browse(engine, region="44")) == 5
    assert all(p["title_en"] for p in shelf) and sum(1 for p in shelf if p["green"]) == 2
    states = sorted(o["status"] for c in loaded["consumers"] for o in mall.list_orders(engine, consumer_id=c))
    assert states == ["delivered", "delivered", "placed", "shipped"]
    overview = mall.overview(engine)
    assert overview["fees"].units > 0  # the deliveries paid the fee account the dividend came from


def test_demo_mints_a_collectible_with_its_image_hash(engine: Engine, loaded: dict[str, Any]) -> None:
    editions = collectibles.list_editions(engine)
    assert len(editions) == 2 and all(e["status"] == "open" for e in editions)
    for edition in editions:
        kind, data, digest = collectibles.edition_image(engine, int(edition["id"]))
        assert kind == "image/png" and data.startswith(b"\x89PNG\r\n\x1a\n")
        assert hashlib.sha256(data).hexdigest() == digest == edition["image_sha256"]
    owner = _ids(engine)["王芳"]
    [token] = collectibles.tokens_of(engine, owner)
    assert token["token_id"] == loaded["collectibles"]["tokens"][0] and token["serial"] == 1
    assert sorted(int(e["minted"]) for e in editions) == [0, 1]


def test_demo_verifies_and_loads_once(engine: Engine, loaded: dict[str, Any]) -> None:
    report = verify(engine, checks.CHECKS)
    assert report.ok, report.as_dict()

    def counts() -> tuple[int, int, int]:
        with reading(engine) as conn:
            entries = conn.execute(select(func.count()).select_from(journal_entries)).scalar_one()
        return entries, len(mall.browse(engine)), len(collectibles.list_editions(engine))

    before = counts()
    again = demo.load(engine)
    assert again["loaded"] is False and counts() == before
    assert verify(engine, checks.CHECKS).ok
