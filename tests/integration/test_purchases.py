"""Purchases and refunds through the service, on SQLite and PostgreSQL (SPEC §3)."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from sqlalchemy import Engine, select

from sharebuy.kernel.amounts import Points, ShareValue
from sharebuy.kernel.errors import Conflict, InvalidInput, NotFound, Refused
from sharebuy.members import service as members
from sharebuy.rewards import purchase_service, settlement_service
from sharebuy.rewards.models import purchases
from tests.integration.world import LATER, START, at, build


def test_purchase_mints_share_value_and_burns_the_concession(engine: Engine) -> None:
    world = build(engine)
    c = world.consumers[0]
    result = world.buy(c, "5000")
    assert result.consumer_share_value == ShareValue.parse("5000")
    assert result.merchant_share_value == ShareValue.parse("1000")
    assert result.points_deducted == Points.parse("500")
    assert world.consumer(c)["share_value"] == ShareValue.parse("5000")
    merchant = world.merchant_view()
    assert merchant["share_value"] == ShareValue.parse("1000")
    assert merchant["points"]["available"] == Points.parse("0")  # 1000 granted − 500 deposit − 500
    assert world.platform()["burned"] == Points.parse("500")
    world.assert_verified()


def test_same_key_answers_with_the_first_result_and_a_changed_body_is_refused(engine: Engine) -> None:
    world = build(engine)
    c = world.consumers[0]
    first = world.buy(c, "100", key="till-1")
    again = world.buy(c, "100", key="till-1")
    assert again.replayed and again.id == first.id
    with pytest.raises(Conflict) as caught:
        world.buy(c, "101", key="till-1")
    assert caught.value.code == "idempotency_key_reused"
    assert world.consumer(c)["share_value"] == ShareValue.parse("100")
    world.assert_verified()


def test_shortfall_comes_from_the_deposit_and_suspends(engine: Engine) -> None:
    world = build(engine, grant="600")  # 500 deposit, 100 available
    c = world.consumers[0]
    result = world.buy(c, "1500")  # 150 points due: 100 available + 50 from the deposit
    assert (result.from_available, result.from_deposit) == (Points.parse("100"), Points.parse("50"))
    assert result.merchant_suspended
    assert world.merchant_view()["status"] == "suspended"
    with pytest.raises(Refused) as caught:
        world.buy(c, "10")
    assert caught.value.code == "merchant_suspended"
    members.grant_points(engine, world.merchant, "50", reason="top-up")
    state = members.post_deposit(engine, world.merchant)
    assert state.status == "active" and state.deposit == Points.parse("500")
    world.buy(c, "10")
    world.assert_verified()


def test_purchase_the_deposit_cannot_cover_writes_nothing(engine: Engine) -> None:
    world = build(engine, grant="500")
    c = world.consumers[0]
    before = world.platform()
    with pytest.raises(Refused) as caught:
        world.buy(c, "6000")  # 600 points due, 0 available, 500 deposit
    assert caught.value.code == "insufficient_points"
    assert world.platform() == before
    assert world.consumer(c)["share_value"] == ShareValue(0)
    world.assert_verified()


@pytest.mark.parametrize(
    ("amount", "code", "error"),
    [
        ("0", "non_positive_amount", InvalidInput),
        ("-5", "non_positive_amount", InvalidInput),
        ("100000.01", "amount_over_limit", Refused),
        ("1.001", "too_many_decimals", InvalidInput),
        ("abc", "invalid_decimal", InvalidInput),
    ],
)
def test_bad_amounts_are_refused(engine: Engine, amount: str, code: str, error: type[Exception]) -> None:
    world = build(engine)
    with pytest.raises(error) as caught:
        world.buy(world.consumers[0], amount)
    assert caught.value.code == code  # type: ignore[attr-defined]


def test_self_dealing_unknown_and_frozen_parties_are_refused(engine: Engine) -> None:
    world = build(engine)
    with pytest.raises(Refused, match="self-dealing"):
        world.buy(world.owner, "10")
    staff = world.consumers[2]
    members.add_staff(engine, world.merchant, staff)
    with pytest.raises(Refused) as caught:
        world.buy(staff, "10")
    assert caught.value.code == "self_dealing"
    with pytest.raises(NotFound):
        world.buy(999, "10")
    members.set_frozen(engine, world.consumers[0], True)
    with pytest.raises(Refused) as caught:
        world.buy(world.consumers[0], "10")
    assert caught.value.code == "consumer_frozen"


def test_purchases_into_a_settled_day_or_before_the_start_are_refused(engine: Engine) -> None:
    world = build(engine)
    world.buy(world.consumers[0], "100")
    settlement_service.settle(engine, through=START, now=LATER)
    with pytest.raises(Refused) as caught:
        world.buy(world.consumers[0], "100", day=START)
    assert caught.value.code == "day_settled"
    with pytest.raises(Refused) as caught:
        world.buy(world.consumers[0], "100", day=START - timedelta(days=1))
    assert caught.value.code == "before_start"
    world.buy(world.consumers[0], "100", day=START + timedelta(days=1))


def test_refund_reverses_everything_and_only_once(engine: Engine) -> None:
    world = build(engine)
    c = world.consumers[0]
    before = world.platform()
    bought = world.buy(c, "2000")
    refund = purchase_service.refund_purchase(engine, bought.id, at=at(START))
    assert refund.points_returned == Points.parse("200")
    assert refund.consumer_share_value_taken == ShareValue.parse("2000")
    assert world.consumer(c)["share_value"] == ShareValue(0)
    after = world.platform()
    assert after["burned"] == before["burned"] and after["share_value_outstanding"] == ShareValue(0)
    again = purchase_service.refund_purchase(engine, bought.id, at=at(START))
    assert again.replayed and again.points_returned == refund.points_returned
    world.assert_verified()


def test_refund_after_release_records_a_clawback_netted_later(engine: Engine) -> None:
    world = build(engine, grant="5000")
    c, other = world.consumers[0], world.consumers[1]
    bought = world.buy(c, "100")  # 100 SV; merchant 20 SV; network 120 → c receives 416.6667 points
    settlement_service.settle(engine, through=START, now=LATER)
    sv_left = world.consumer(c)["share_value"]
    assert sv_left == ShareValue(0)  # 416.6667 points × 1.00 uses up all 100 SV
    next_day = START + timedelta(days=1)
    refund = purchase_service.refund_purchase(engine, bought.id, at=at(next_day))
    assert refund.consumer_clawback_owed == ShareValue.parse("100")
    assert world.consumer(c)["clawback_owed"] == ShareValue.parse("100")
    world.buy(c, "15", day=next_day)  # 15 SV credit repays 15 of the 100 owed
    view = world.consumer(c)
    assert view["clawback_owed"] == ShareValue.parse("85") and view["share_value"] == ShareValue(0)
    world.buy(other, "1", day=next_day)
    world.assert_verified()


def test_refund_window(engine: Engine) -> None:
    world = build(engine)
    bought = world.buy(world.consumers[0], "10")
    with pytest.raises(Refused) as caught:
        purchase_service.refund_purchase(engine, bought.id, at=at(START + timedelta(days=8)))
    assert caught.value.code == "refund_window_closed"


def test_the_moment_of_a_sale_and_a_refund_is_kept_whatever_offset_it_came_with(engine: Engine) -> None:
    """12:00 in Shanghai is 04:00 UTC: stored as that instant on both databases.  SQLite keeps no
    offset, so a moment given in Asia/Shanghai was once stored as 12:00 and read back as 12:00 UTC."""
    world = build(engine)
    bought = world.buy(world.consumers[0], "100")  # at(START) is 12:00 Asia/Shanghai
    purchase_service.refund_purchase(engine, bought.id, at=at(START, 13))
    with engine.connect() as conn:
        row = conn.execute(
            select(purchases.c.occurred_at, purchases.c.refunded_at).where(purchases.c.id == bought.id)
        ).one()
    as_utc = [(m.replace(tzinfo=UTC) if m.tzinfo is None else m).astimezone(UTC) for m in row]
    assert as_utc == [at(START).astimezone(UTC), at(START, 13).astimezone(UTC)]
    assert as_utc[0].hour == 4
