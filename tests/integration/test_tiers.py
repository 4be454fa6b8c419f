"""Tiers, the dividend pool and the green bonus through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from sharebuy.db.uow import UnitOfWork, transaction
from sharebuy.kernel.amounts import Points, ShareValue
from sharebuy.kernel.errors import NotFound, Refused
from sharebuy.ledger import repository as ledger
from sharebuy.ledger.domain import PT, Leg
from sharebuy.rewards import settlement_service
from sharebuy.tiers import dividends, green
from sharebuy.tiers import service as tiers
from sharebuy.tiers.models import dividend_lines, tier_history
from tests.integration.world import LATER, START, World, build


def fund_fees(engine: Engine, amount: str) -> None:
    """Points from the reserve to the fee account (what C2C fees do): I2 holds."""
    points = Points.parse(amount)

    def work(uow: UnitOfWork) -> None:
        platform = ledger.platform_accounts(uow.c)
        ledger.post(
            uow.c,
            kind="grant",
            business_day=START,
            legs=[Leg(platform["reserve"], PT, -points.units), Leg(platform["fees"], PT, points.units)],
            reference="test:fees",
            reason="test funding of the fee account",
            actor="test",
            platform_ids=platform.values(),
        )
        uow.commit()

    transaction(engine, work)


def fees(engine: Engine) -> Points:
    with UnitOfWork(engine, readonly=True) as uow:
        return Points(ledger.balances(uow.c, "platform")["fees"])


def available(engine: Engine, member_id: int) -> Points:
    with UnitOfWork(engine, readonly=True) as uow:
        return Points(ledger.balances(uow.c, str(member_id))["available"])


def ladder(engine: Engine) -> None:
    tiers.set_tier(
        engine,
        code="gold",
        member_kind="consumer",
        name_zh="金卡",
        name_en="Gold",
        threshold="1000",
        weight=3,
    )
    tiers.set_tier(
        engine,
        code="silver",
        member_kind="consumer",
        name_zh="银卡",
        name_en="Silver",
        threshold="100",
        weight=1,
    )
    tiers.set_tier(
        engine,
        code="star",
        member_kind="merchant",
        name_zh="星级商家",
        name_en="Star merchant",
        threshold="1000",
        weight=2,
    )


def settle(engine: Engine, day: object = START) -> None:
    settlement_service.settle(engine, through=day, now=LATER)  # type: ignore[arg-type]


def daily_world(engine: Engine, **rules: object) -> World:
    world = build(engine, rules={"dividend_pool_rate": "0.01", "dividend_period": "daily", **rules})
    ladder(engine)
    c0, c1, c2 = world.consumers
    world.buy(c0, "2000")
    world.buy(c1, "200")
    world.buy(c2, "150")
    return world


def test_tiers_are_earned_by_own_spending_and_the_pool_is_split_exactly(engine: Engine) -> None:
    world = daily_world(engine)
    c0, c1, c2 = world.consumers
    fund_fees(engine, "10")
    settle(engine)
    assert tiers.member_tier(engine, c0)["tier"]["code"] == "gold"
    assert tiers.member_tier(engine, c1)["tier"]["code"] == "silver"
    assert tiers.member_tier(engine, world.merchant)["tier"]["code"] == "star"
    assert tiers.member_tier(engine, world.owner)["tier"] is None  # no spending of its own
    found = dividends.report(engine, START.isoformat())
    # 2350 CNY × 1% ÷ 1.0000 = 23.5 points wanted; the fee account holds 10: capped.
    assert found.pool_wanted == Points.parse("23.5") and found.pool == Points.parse("10")
    assert found.capped and found.members == 4 and found.leftover_units == 2
    # weights 3 + 1 + 1 + 2 = 7: 10 × 3/7 = 4.2857, 10/7 = 1.4285 (+1 unit each, largest remainders)
    # The daily release paid points too: the dividend is what the period's lines say, and the
    # journal agrees with them (verify's dividends_paid_once).
    gained = {line["member_id"]: line["points"] for line in dividends.lines(engine, START.isoformat())}
    assert gained == {
        c0: Points.parse("4.2857"),
        c1: Points.parse("1.4286"),
        c2: Points.parse("1.4286"),
        world.merchant: Points.parse("2.8571"),
    }
    assert {t["tier_code"]: (t["members"], t["amount"]) for t in found.tiers} == {
        "gold": (1, Points.parse("4.2857")),
        "silver": (2, Points.parse("2.8572")),
        "star": (1, Points.parse("2.8571")),
    }
    assert fees(engine) == Points(0)
    world.assert_verified()


def test_a_period_is_paid_once(engine: Engine) -> None:
    world = daily_world(engine)
    fund_fees(engine, "100")
    settle(engine)
    first = dividends.report(engine, START.isoformat())
    again = dividends.run_period(engine, START.isoformat(), actor="admin")
    assert again.replayed and again.pool == first.pool == Points.parse("23.5")
    assert fees(engine) == Points.parse("76.5")
    with UnitOfWork(engine, readonly=True) as uow:
        count = len(uow.c.execute(select(dividend_lines.c.member_id)).all())
    assert count == 4
    with pytest.raises(Refused) as caught:
        dividends.run_period(engine, START.strftime("%Y-%m"))  # the month overlaps the paid day
    assert caught.value.code in ("period_overlaps", "period_not_settled")
    world.assert_verified()


def test_a_crash_after_completing_the_day_is_followed_up_by_the_next_run(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = daily_world(engine)
    c0 = world.consumers[0]
    fund_fees(engine, "100")

    def crash(*_: object) -> None:
        raise KeyboardInterrupt  # the process dies once the day is complete, before tiers

    monkeypatch.setattr(settlement_service.dividends, "after_settlement", crash)
    with pytest.raises(KeyboardInterrupt):
        settle(engine)
    monkeypatch.undo()
    assert tiers.member_tier(engine, c0)["tier"] is None
    with pytest.raises(NotFound) as unpaid:
        dividends.report(engine, START.isoformat())
    assert unpaid.value.code == "dividend_period_not_found"
    settle(engine)  # the same day again: answered as settled, and its follow-up done
    assert tiers.member_tier(engine, c0)["tier"]["code"] == "gold"
    assert dividends.report(engine, START.isoformat()).pool == Points.parse("23.5")
    settle(engine)  # once more: nothing paid twice
    assert fees(engine) == Points.parse("76.5")
    world.assert_verified()


def test_an_unsettled_period_is_refused_and_an_empty_fee_account_pays_nothing(engine: Engine) -> None:
    world = build(engine, rules={"dividend_pool_rate": "0.01"})  # monthly by default
    ladder(engine)
    world.buy(world.consumers[0], "2000")
    with pytest.raises(Refused) as caught:
        dividends.run_period(engine, START.strftime("%Y-%m"))
    assert caught.value.code == "period_not_settled"
    settle(engine)
    # No fee yet: the day's period is capped to nothing, recorded as paid, with no journal entry.
    result = dividends.run_period(engine, START.isoformat())
    assert result.pool == Points(0) and result.capped and result.entry_id is None
    assert not result.replayed
    world.assert_verified()


def test_downgrade_policy(engine: Engine) -> None:
    world = build(engine, rules={"tier_basis_days": "1", "tier_downgrade": "never"})
    ladder(engine)
    c0 = world.consumers[0]
    world.buy(c0, "2000")
    settle(engine, START)
    settle(engine, START + timedelta(days=1))  # nothing spent that day: the window holds nothing
    assert tiers.member_tier(engine, c0)["tier"]["code"] == "gold"  # never: kept
    from sharebuy.rewards import platform_service

    platform_service.set_rules(
        engine, {"tier_downgrade": "on_evaluation"}, effective_from=START + timedelta(days=2)
    )
    world.buy(c0, "150", day=START + timedelta(days=2))
    settle(engine, START + timedelta(days=2))
    mine = tiers.member_tier(engine, c0)
    assert mine["tier"]["code"] == "silver"
    assert [(h["from_code"], h["to_code"]) for h in mine["history"]] == [("gold", "silver"), (None, "gold")]
    evaluation = tiers.evaluate(engine, START + timedelta(days=2))  # again: nothing changes
    assert evaluation.upgraded == evaluation.downgraded == 0
    with pytest.raises(Refused):
        tiers.evaluate(engine, START)  # earlier than the latest evaluation
    with UnitOfWork(engine, readonly=True) as uow:
        assert len(uow.c.execute(select(tier_history.c.id)).all()) == 4  # c0 and the merchant twice each
    assert tiers.member_tier(engine, world.merchant)["tier"] is None  # 150 of turnover in the window
    world.assert_verified()


def test_green_bonus_is_recorded_and_reversed_by_the_refund(engine: Engine) -> None:
    world = build(engine)
    c = world.consumers[0]
    green.set_green(engine, world.merchant, True, actor="admin", note="节能认证")
    result = world.buy(c, "1000")  # 1000 × 10% × 10 = 1000 SV, +10% green = 100 SV
    assert result.consumer_share_value == ShareValue.parse("1000")
    assert result.green_bonus == ShareValue.parse("100")
    assert world.consumer(c)["share_value"] == ShareValue.parse("1100")
    from sharebuy.rewards import purchase_service

    refund = purchase_service.refund_purchase(
        engine, result.id, at=None, now=LATER.replace(year=2025, month=3, day=2)
    )
    assert refund.consumer_share_value_taken == ShareValue.parse("1100")
    assert world.consumer(c)["share_value"] == ShareValue(0)
    green.set_green(engine, world.merchant, False, actor="admin")
    assert world.buy(c, "1000", day=START + timedelta(days=1)).green_bonus == ShareValue(0)
    assert [h["action"] for h in green.status(engine, world.merchant)["history"]] == ["revoke", "certify"]
    world.assert_verified()
