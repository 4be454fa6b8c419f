"""Market benchmarks: completed trades per second, and quick-buy latency against a deep book.

Trades: each worker process has its own seller (one large listing) and its own buyer, and
completes trades of 1 point one after another through the services: take the listing, mark it
paid, confirm it (three transactions, each with its escrow entry or transition log row).  The
workers share only the platform accounts, the rulebook and the chain head.

Quick buy: the book is seeded in bulk with open listings spread over many sellers (the listings,
one escrow entry per listing and the balances, written as the service would write them, then
sealed), and buyers then quick-buy through the service, each call opening trades against the
best listings by price, then age.  Latency is measured per call.

Both runs end with `verify` (I1–I7 with the market's escrow checks): a run that leaves the ledger
inconsistent is a failure.
"""

from __future__ import annotations

import itertools
import statistics
import time
import traceback
from datetime import UTC, date, datetime
from datetime import time as dtime
from typing import Any

import numpy as np
from sqlalchemy import text

from bench.common import BENCH_DB, Result, drop_database, migrated_engine, recreate_database, run_workers
from bench.purchases import _percentile
from sharebuy.db import bulk
from sharebuy.db.engine import make_engine
from sharebuy.db.uow import UnitOfWork, transaction
from sharebuy.kernel.amounts import Points
from sharebuy.kernel.clock import BUSINESS_TZ
from sharebuy.ledger import repository as ledger
from sharebuy.ledger.domain import PT, Leg
from sharebuy.ledger.service import seal_pending
from sharebuy.ledger.verify import verify
from sharebuy.market import escrow
from sharebuy.market import service as market
from sharebuy.members import domain as member_domain
from sharebuy.members import service as members
from sharebuy.rewards import checks, platform_service

START = date(2025, 3, 1)
NOW = datetime.combine(START, dtime(12), BUSINESS_TZ)
# Enough points for long runs; nothing on the market path depends on the total issue.  Buyers
# in the quick-buy run keep many trades open at once, so the per-member cap is raised too.
RULES = {"total_issue": "1000000000", "c2c_max_open_trades_per_member": "1000"}
MAX_PER_WORKER = 50_000
SELLERS = 200
LISTING_POINTS = 10
QUICK_BUY_POINTS = 25
_ids = itertools.count(1)


def _id_number() -> str:
    """A valid GB 11643 number, new on every call (Beijing Chaoyang, born in 1990)."""
    n = next(_ids)
    first17 = f"110105{19900101 + (n // 1000) % 27:08d}{n % 1000:03d}"
    return first17 + member_domain.id_check_character(first17)


def trader(engine: Any, n: int) -> int:
    """A consumer who may trade: a real name, the risk notice accepted, an Alipay account."""
    member = members.add_consumer(engine, phone=f"137{n:08d}", name=f"交易者{n}")
    members.set_real_name(engine, member, "张三", _id_number(), now=NOW)
    market.accept_risk_notice(engine, member, version=1, actor="bench", now=NOW)
    market.add_payment_method(
        engine, member, kind="alipay", account_name="张三", account_id=f"137{n:08d}", now=NOW
    )
    return member


def fund(engine: Any, member_id: int, points: int) -> None:
    """Points from the reserve to the member's available, as a daily release would pay them."""
    units = Points.parse(str(points)).units

    def work(uow: UnitOfWork) -> None:
        platform = ledger.platform_accounts(uow.c)
        target = ledger.member_accounts(uow.c, member_id)["available"]
        ledger.post(
            uow.c,
            kind="grant",
            business_day=START,
            legs=[Leg(platform["reserve"], PT, -units), Leg(target, PT, units)],
            reference=f"bench:{member_id}",
            reason="benchmark funding",
            actor="bench",
            platform_ids=platform.values(),
        )
        uow.commit()

    transaction(engine, work)


def _verified(engine: Any) -> dict[str, Any]:
    seal_pending(engine, wait=True)
    t0 = time.perf_counter()
    report = verify(engine, checks.CHECKS)
    if not report.ok:
        raise AssertionError(f"verify failed after the market run: {report.as_dict()}")
    return {"verify_s": time.perf_counter() - t0, "journal_entries": report.facts.get("entries")}


# -- completed trades per second -------------------------------------------------------------


def _trade_worker(
    url: str, index: int, pair: tuple[int, int, int], warmup: float, duration: float, barrier: Any, out: Any
) -> None:
    try:
        engine = make_engine(url)
        seller, buyer, listing = pair

        def one(n: int) -> None:
            trade = market.take_listing(engine, buyer, listing, "1", actor="bench", now=NOW)
            market.mark_paid(engine, trade["id"], buyer, f"PAY-{index}-{n}", actor="bench", now=NOW)
            market.confirm(engine, trade["id"], seller, actor="bench", now=NOW)

        n = 0
        warm_until = time.perf_counter() + warmup
        while time.perf_counter() < warm_until:
            one(n)
            n += 1
        warm = n
        barrier.wait(timeout=300)
        latencies: list[float] = []
        start = time.perf_counter()
        deadline = start + duration
        while len(latencies) < MAX_PER_WORKER and time.perf_counter() < deadline:
            t0 = time.perf_counter()
            one(n)
            n += 1
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
        engine.dispose()
        out.put(
            {"index": index, "warmup": warm, "count": len(latencies), "elapsed": elapsed, "lat": latencies}
        )
    except BaseException:
        barrier.abort()
        out.put({"index": index, "error": traceback.format_exc()})


def trade_pairs(engine: Any, workers: int, points: int) -> list[tuple[int, int, int]]:
    pairs = []
    for w in range(workers):
        seller, buyer = trader(engine, 2 * w), trader(engine, 2 * w + 1)
        fund(engine, seller, points)
        listing = market.create_listing(
            engine,
            seller,
            quantity=str(points),
            price="1.5",
            payment_kinds=["alipay"],
            actor="bench",
            now=NOW,
        )
        pairs.append((seller, buyer, int(listing["id"])))
    return pairs


def measure_trades(url: str, workers: int, warmup: float, duration: float) -> dict[str, Any]:
    engine = migrated_engine(url)
    platform_service.initialise(engine, start_day=START, overrides=RULES)
    pairs = trade_pairs(engine, workers, points=MAX_PER_WORKER * 2)
    engine.dispose()
    results = run_workers(
        _trade_worker,
        [(url, i, pair, warmup, duration) for i, pair in enumerate(pairs)],
        warmup + duration,
        "trade",
    )
    engine = make_engine(url)
    checked = _verified(engine)
    engine.dispose()
    lat = sorted(x for r in results for x in r["lat"])
    return {
        "trades_per_s": sum(r["count"] / r["elapsed"] for r in results),
        "trades": sum(r["count"] for r in results),
        "duration_s": max(r["elapsed"] for r in results),
        "latency_ms": {
            "mean": statistics.fmean(lat) * 1e3 if lat else None,
            "p50": _percentile(lat, 0.50) * 1e3,
            "p95": _percentile(lat, 0.95) * 1e3,
        },
        **checked,
    }


# -- quick buy against a deep book -----------------------------------------------------------


TABLES = ("market_listings", "journal_entries", "postings")


def _next_id(conn: Any, table: str) -> int:
    return int(conn.execute(text(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")).scalar_one())


def seed_book(engine: Any, listings: int, seed: int = 7, seller_count: int = SELLERS) -> dict[str, Any]:
    """`listings` open listings of LISTING_POINTS each at 1.0000–3.0000, over `seller_count` sellers.

    Written in bulk as create_listing would leave them: the listing rows, one escrow entry per
    listing (reference `market:listing:<id>`, available → escrow), the balances moved once per
    seller; the sealer then chains the entries like any others."""
    sellers = [trader(engine, 10_000 + s) for s in range(seller_count)]
    per_seller = -(-listings // seller_count)
    for seller in sellers:
        fund(engine, seller, per_seller * LISTING_POINTS)
    rng = np.random.default_rng(seed)
    prices = rng.integers(10_000, 30_000, size=listings, endpoint=True)
    quantity = Points.parse(str(LISTING_POINTS)).units
    now = NOW.astimezone(UTC)
    with UnitOfWork(engine) as uow:
        conn = uow.c
        day = escrow.posting_day(conn, NOW)
        accounts = {s: ledger.member_accounts(conn, s) for s in sellers}
        first_listing, first_entry, first_posting = (_next_id(conn, t) for t in TABLES)
        owner = [sellers[i % seller_count] for i in range(listings)]
        bulk.insert_rows(
            conn,
            "market_listings",
            (
                "id",
                "seller_id",
                "quantity",
                "remaining",
                "price",
                "min_order",
                "max_order",
                "payment_kinds",
                "status",
                "created_at",
                "updated_at",
            ),
            (
                (
                    first_listing + i,
                    owner[i],
                    quantity,
                    quantity,
                    int(prices[i]),
                    Points.parse("1").units,
                    quantity,
                    "alipay",
                    "active",
                    now,
                    now,
                )
                for i in range(listings)
            ),
        )
        bulk.insert_rows(
            conn,
            "journal_entries",
            ("id", "kind", "business_day", "reference", "reason", "actor", "created_at"),
            (
                (
                    first_entry + i,
                    escrow.ESCROW_KIND,
                    day,
                    escrow.listing_ref(first_listing + i),
                    f"listing {first_listing + i} placed in escrow",
                    "bench",
                    now,
                )
                for i in range(listings)
            ),
        )
        legs = (
            (
                first_posting + 2 * i + side,
                first_entry + i,
                accounts[owner[i]][kind],
                PT,
                sign * quantity,
                day,
            )
            for i in range(listings)
            for side, (kind, sign) in enumerate((("available", -1), ("escrow", 1)))
        )
        columns = ("id", "entry_id", "account_id", "asset", "amount", "business_day")
        bulk.insert_rows(conn, "postings", columns, legs)
        held = [quantity * owner.count(s) for s in sellers]
        ids = [accounts[s][k] for s in sellers for k in ("available", "escrow")]
        deltas = [d for h in held for d in (-h, h)]
        # Nothing else runs while the book is seeded: no row locks needed.
        bulk.add_to_balances(conn, np.array(ids, dtype=np.int64), np.array(deltas, dtype=np.int64))
        if conn.dialect.name == "postgresql":
            for table in TABLES:  # the ids above were chosen here, not drawn from the sequences
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                    )
                )
        uow.commit()
    t0 = time.perf_counter()
    seal_pending(engine, wait=True)
    return {"sellers": seller_count, "seal_s": time.perf_counter() - t0}


def measure_quick_buy(url: str, listings: int, calls: int) -> dict[str, Any]:
    engine = migrated_engine(url)
    platform_service.initialise(engine, start_day=START, overrides=RULES)
    t0 = time.perf_counter()
    seeded = seed_book(engine, listings)
    seed_s = time.perf_counter() - t0
    buyers = [trader(engine, 20_000 + b) for b in range(max(1, calls // 20))]
    latencies: list[float] = []
    trades = 0
    for n in range(calls):
        t1 = time.perf_counter()
        done = market.quick_buy(
            engine, buyers[n % len(buyers)], str(QUICK_BUY_POINTS), "3", actor="bench", now=NOW
        )
        latencies.append(time.perf_counter() - t1)
        trades += len(done["trades"])
    checked = _verified(engine)
    engine.dispose()
    lat = sorted(latencies)
    return {
        "listings": listings,
        "calls": calls,
        "trades_opened": trades,
        "seed_s": seed_s,
        "latency_ms": {
            "mean": statistics.fmean(lat) * 1e3,
            "p50": _percentile(lat, 0.50) * 1e3,
            "p95": _percentile(lat, 0.95) * 1e3,
            "max": lat[-1] * 1e3,
        },
        **seeded,
        **checked,
    }


def run_postgres(
    pg_url: str, workers: list[int], warmup: float, duration: float, listings: int, calls: int
) -> list[Result]:
    rows = []
    try:
        for w in workers:
            m = measure_trades(recreate_database(pg_url, BENCH_DB), w, warmup, duration)
            lat = m["latency_ms"]
            rows.append(
                Result(
                    "market trades (take, paid, confirm)",
                    "postgresql",
                    f"{w} proc{'s' if w > 1 else ''}",
                    m["trades_per_s"],
                    "trades/s",
                    details=(
                        f"{m['trades']} completed in {m['duration_s']:.1f}s; per trade p50 "
                        f"{lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms; verify ok ({m['journal_entries']} entries)"
                    ),
                    data=m,
                )
            )
        q = measure_quick_buy(recreate_database(pg_url, BENCH_DB), listings, calls)
        lat = q["latency_ms"]
        rows.append(
            Result(
                "market quick buy latency",
                "postgresql",
                f"{listings:,} open listings",
                lat["p50"],
                "ms p50",
                details=(
                    f"{calls} quick buys of {QUICK_BUY_POINTS} points opened {q['trades_opened']} trades; "
                    f"p95 {lat['p95']:.1f} ms, max {lat['max']:.1f} ms; book seeded in {q['seed_s']:.0f}s; "
                    f"verify ok ({q['journal_entries']} entries)"
                ),
                data=q,
            )
        )
    finally:
        drop_database(pg_url, BENCH_DB)
    return rows
