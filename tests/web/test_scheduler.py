"""The daily release in the server: at 00:05 Asia/Shanghai, catching up missed days, once."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine

from sharebuy.kernel.clock import BUSINESS_TZ
from sharebuy.ledger.verify import verify
from sharebuy.rewards import checks, platform_service, queries
from sharebuy.web.scheduler import Scheduler, next_settlement, settle_missed
from tests.integration.world import at, new_consumer

START = date(2025, 3, 1)


def test_next_settlement_is_five_past_midnight_in_shanghai() -> None:
    # 23:00 UTC on 1 March is 07:00 on 2 March in Shanghai: next run 00:05 on 3 March local
    now = datetime(2025, 3, 1, 23, 0, tzinfo=UTC)
    assert next_settlement(now) == datetime(2025, 3, 3, 0, 5, tzinfo=BUSINESS_TZ)
    just_before = datetime(2025, 3, 3, 0, 4, 59, tzinfo=BUSINESS_TZ)
    assert next_settlement(just_before) == datetime(2025, 3, 3, 0, 5, tzinfo=BUSINESS_TZ)
    assert next_settlement(datetime(2025, 3, 3, 0, 5, tzinfo=BUSINESS_TZ)) == datetime(
        2025, 3, 4, 0, 5, tzinfo=BUSINESS_TZ
    )


def _platform_with_a_sale(engine: Engine) -> None:
    from sharebuy.members import service as members
    from sharebuy.rewards import purchase_service

    platform_service.initialise(engine, start_day=START)
    owner, buyer = new_consumer(engine), new_consumer(engine)
    shop = members.add_merchant(engine, name="店", owner_id=owner, region="441900", rate="0.10")
    members.approve_merchant(engine, shop)
    members.grant_points(engine, shop, "1000", reason="bootstrap")
    members.post_deposit(engine, shop)
    purchase_service.record_purchase(engine, merchant_id=shop, consumer_id=buyer, amount="100", at=at(START))


def test_catch_up_settles_every_missed_day_once(engine: Engine) -> None:
    _platform_with_a_sale(engine)
    four_days_later = datetime(2025, 3, 5, 0, 10, tzinfo=BUSINESS_TZ)
    assert settle_missed(engine, four_days_later) == 4  # 1, 2, 3 and 4 March
    assert settle_missed(engine, four_days_later) == 0
    days = [s["date"] for s in queries.settlement_list(engine)]
    assert days == [date(2025, 3, d) for d in (4, 3, 2, 1)]


def test_not_initialised_is_skipped_quietly(engine: Engine) -> None:
    assert settle_missed(engine, datetime.now(UTC)) == 0


def test_scheduler_thread_catches_up_at_start_and_runs_jobs(engine: Engine) -> None:
    _platform_with_a_sale(engine)
    ran: list[int] = []
    clock = datetime(2025, 3, 3, 9, 0, tzinfo=BUSINESS_TZ)
    scheduler = Scheduler(
        engine, periodic=[(timedelta(milliseconds=100), lambda e: ran.append(1))], clock=lambda: clock
    )
    scheduler.start()
    deadline = time.monotonic() + 20
    while (len(queries.settlement_list(engine)) < 2 or not ran) and time.monotonic() < deadline:
        time.sleep(0.1)
    scheduler.stop()
    assert [s["date"] for s in queries.settlement_list(engine)] == [date(2025, 3, 2), date(2025, 3, 1)]
    assert ran, "the periodic job never ran"


def test_two_servers_release_the_day_once(pg: Engine) -> None:
    """Two schedulers catching up at the same moment on PostgreSQL: each day is released once."""
    _platform_with_a_sale(pg)
    now = datetime(2025, 3, 4, 0, 6, tzinfo=BUSINESS_TZ)
    counts: list[int] = []
    barrier = threading.Barrier(2)

    def server() -> None:
        barrier.wait()
        counts.append(settle_missed(pg, now))

    threads = [threading.Thread(target=server) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # the loser is refused by the advisory lock (or finds the days done) and releases nothing
    assert sorted(counts) == [0, 3]
    settled = queries.settlement_list(pg)
    assert [s["date"] for s in settled] == [date(2025, 3, d) for d in (3, 2, 1)]
    assert all(s["released"] == s["airdrop"] for s in settled)
    report = verify(pg, checks.CHECKS)
    assert report.ok, report.as_dict()
