"""The daily release (SPEC §4): exact shares, once per day, in date order, resumable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select

from sharebuy.kernel.amounts import Points, ShareValue
from sharebuy.kernel.errors import Refused
from sharebuy.ledger.models import entries
from sharebuy.members import service as members
from sharebuy.rewards import platform_service, settlement_service
from sharebuy.rewards.models import settlement_lines
from tests.integration.world import LATER, START, build, new_consumer, open_merchant

DAY2 = START + timedelta(days=1)
DAY3 = START + timedelta(days=2)


def test_spec_worked_example(engine: Engine) -> None:
    """SPEC §4: A holds 5000.00 SV of a network of 100,000.00 SV; A = 500, P = 1.0000.

    At merchant X (10%: consumer ×1, merchant ×0.2 of the amount):
      A spends  5,000.00 → A  5,000.00 SV, X  1,000.00 SV
      B spends 75,000.00 → B 75,000.00 SV, X 15,000.00 SV
    At merchant Y (25%: consumer ×2.5, merchant ×0.5):
      C spends  1,333.33 → C  3,333.33 SV (3,333.325 half-up), Y 666.67 SV (666.665 half-up)
    Network = 5,000 + 75,000 + 3,333.33 + 16,000 + 666.67 = 100,000.00.
    A receives 500 × 5,000 / 100,000 = 25.0000 points; its SV becomes 5,000 − 25 × 1 = 4,975.00.
    """
    world = build(engine, consumers=3, grant="9000")
    a, b, c = world.consumers
    shop_y = open_merchant(engine, new_consumer(engine), grant="1000", rate="0.25")
    world.buy(a, "5000")
    world.buy(b, "75000")
    world.buy(c, "1333.33", merchant=shop_y)
    [report] = settlement_service.settle(engine, through=START, now=LATER)
    assert report.network_share_value == ShareValue.parse("100000.00")
    assert report.holders == 5
    assert report.released == report.airdrop == Points.parse("500")
    view = world.consumer(a)
    assert view["points"]["available"] == Points.parse("25.0000")
    assert view["share_value"] == ShareValue.parse("4975.00")
    world.assert_verified()


def test_settling_twice_answers_with_the_first_result(engine: Engine) -> None:
    world = build(engine)
    world.buy(world.consumers[0], "100")
    [first] = settlement_service.settle(engine, through=START, now=LATER)
    [again] = settlement_service.settle(engine, through=START, now=LATER)
    assert again.replayed and again.released == first.released
    assert again.journal_head_hash == first.journal_head_hash
    with engine.connect() as conn:
        releases = conn.execute(
            select(func.count()).select_from(entries).where(entries.c.kind == "release")
        ).scalar()
    assert releases == 1
    world.assert_verified()


def test_missed_days_are_caught_up_in_order_from_end_of_day_balances(engine: Engine) -> None:
    """Day 2's purchases are recorded before day 1 settles: day 1 must not see them."""
    world = build(engine, grant="5000")
    a, b = world.consumers[:2]
    world.buy(a, "100")  # day 1: A 100 SV, X 20 SV
    world.buy(b, "300", day=DAY2)  # day 2: B 300 SV, X 60 SV
    reports = settlement_service.settle(engine, through=DAY3, now=LATER)
    assert [r.date for r in reports] == [START, DAY2, DAY3]
    assert reports[0].network_share_value == ShareValue.parse("120")
    assert reports[0].holders == 2
    # Day 1 releases 500 points against 120 SV: A gets 416.6667 (truncated 416.6666 + the leftover
    # unit: its remainder 2/3 beats X's 1/3), X 83.3333; each uses up all of its SV.
    assert world.consumer(a)["points"]["available"] == Points.parse("416.6667")
    assert reports[1].network_share_value == ShareValue.parse("360")
    for report in reports:
        assert report.released == report.airdrop
    world.assert_verified()


def test_a_settlement_interrupted_half_way_releases_exactly_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settlement_service, "CHUNK_SIZE", 2)
    world = build(engine, consumers=7, grant="5000")
    for n, consumer in enumerate(world.consumers):
        world.buy(consumer, f"{10 * (n + 1)}.37")
    partial = settlement_service.settle_day(engine, START, stop_after_chunks=2)
    assert partial.status == "posting"  # 8 holders in 4 chunks, 2 posted: the "crash"
    assert Points(0) < partial.released < partial.airdrop
    world.assert_verified()  # a half-done day is still a consistent ledger
    [done] = settlement_service.settle(engine, through=START, now=LATER)
    assert done.status == "completed"
    assert done.released == done.airdrop == Points.parse("500")
    with engine.connect() as conn:
        points = conn.execute(select(func.sum(settlement_lines.c.points))).scalar()
    assert points == Points.parse("500").units
    world.assert_verified()


def test_a_crash_while_completing_a_day_leaves_it_to_be_completed_with_its_chain_head(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies as the day is being completed, after its last chunk: the day must not be
    left completed without the chain head (I7), since a completed day is never taken up again."""
    world = build(engine, consumers=3, grant="5000")
    for consumer in world.consumers:
        world.buy(consumer, "100")
    seal = settlement_service.seal_pending

    def crash_on_completion(engine: Engine, *, wait: bool = False) -> int:
        if wait:
            raise SystemExit("killed")
        return seal(engine, wait=wait)

    monkeypatch.setattr(settlement_service, "seal_pending", crash_on_completion)
    with pytest.raises(SystemExit):
        settlement_service.settle(engine, through=START, now=LATER)
    monkeypatch.setattr(settlement_service, "seal_pending", seal)
    world.assert_verified()
    [done] = settlement_service.settle(engine, through=START, now=LATER)
    assert done.status == "completed" and not done.replayed
    assert done.journal_head_seq is not None and done.released == done.airdrop
    world.assert_verified()


def test_a_day_cannot_be_settled_before_it_ends(engine: Engine) -> None:
    build(engine)
    with pytest.raises(Refused) as caught:
        settlement_service.settle(engine, through=START, now=LATER.replace(year=2025, month=3, day=1))
    assert caught.value.code == "day_not_over"


def test_empty_day_releases_nothing_and_keeps_the_reserve(engine: Engine) -> None:
    world = build(engine)
    reserve = world.platform()["reserve"]
    [report] = settlement_service.settle(engine, through=START, now=LATER)
    assert report.holders == 0 and report.released == Points(0)
    assert world.platform()["reserve"] == reserve
    world.assert_verified()


def test_release_never_exceeds_the_reserve(engine: Engine) -> None:
    """With 390,000 − grants left, a reserve smaller than A releases only what it holds."""
    world = build(engine, grant="1000", rules={"total_issue": "1200", "daily_airdrop": "500"})
    world.buy(world.consumers[0], "100")
    reports = settlement_service.settle(engine, through=DAY2, now=LATER)
    assert [r.airdrop for r in reports] == [Points.parse("200"), Points(0)]
    assert world.platform()["reserve"] == Points(0)
    world.assert_verified()


def test_activity_window_and_registration_bonus(engine: Engine) -> None:
    """Window of 1 day: a holder with no purchase that day sits out.  Bonus 50 SV on the first
    purchase only; a consumer who never buys has no bonus and takes no part."""
    world = build(engine, rules={"activity_window_days": "1", "registration_bonus_sv": "50"})
    a, b, idle = world.consumers
    first = world.buy(a, "100")
    assert first.registration_bonus == ShareValue.parse("50")
    assert world.buy(a, "10").registration_bonus == ShareValue(0)
    world.buy(b, "100", day=DAY2)
    reports = settlement_service.settle(engine, through=DAY2, now=LATER)
    lines = settlement_service.lines(engine, DAY2)
    holders_day2 = {line["member_id"] for line in lines}
    assert a not in holders_day2 and b in holders_day2 and idle not in holders_day2
    assert reports[0].network_share_value == ShareValue.parse("182")  # 100 + 50 + 10 + X 22
    world.assert_verified()


def test_rule_change_applies_from_its_day_and_each_day_records_its_version(engine: Engine) -> None:
    world = build(engine)
    changed = platform_service.set_rules(engine, {"daily_airdrop": "1000"}, effective_from=DAY2)
    world.buy(world.consumers[0], "100")
    world.buy(world.consumers[0], "5000", day=DAY2)
    reports = settlement_service.settle(engine, through=DAY2, now=LATER)
    assert [r.released for r in reports] == [Points.parse("500"), Points.parse("1000")]
    assert reports[1].rule_version == changed["version"]
    with pytest.raises(Refused) as caught:
        platform_service.set_rules(engine, {"daily_airdrop": "1"}, effective_from=DAY2)
    assert caught.value.code == "rules_in_past"
    world.assert_verified()


def test_frozen_and_closed_members_sit_out(engine: Engine) -> None:
    world = build(engine)
    a, b = world.consumers[:2]
    world.buy(a, "100")
    world.buy(b, "100")
    members.set_frozen(engine, b, True)
    members.set_merchant_status(engine, world.merchant, "closed", reason="closed")
    settlement_service.settle(engine, through=START, now=LATER)
    assert [line["member_id"] for line in settlement_service.lines(engine, START)] == [a]
    world.assert_verified()
