"""Purchases per second through `record_purchase` (sealing after each commit, the default).

The world is built through the services on a fresh database: the platform, one active merchant
per worker process (each with its own pool of consumers), so the only rows two workers share are
the platform accounts and the chain head.  Every worker is a fresh process with its own engine;
after a warm-up (which also buys once from every consumer of its pool, so first-purchase
activation is not in the measured window) all workers start together on a barrier and buy for a
fixed duration.  Afterwards the parent seals what is left and runs `verify` with the rewards
checks: a run that leaves the ledger inconsistent is a failure.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import traceback
from datetime import date, datetime
from datetime import time as dtime
from typing import Any

from bench.common import (
    BENCH_DB,
    Result,
    drop_database,
    migrated_engine,
    recreate_database,
    run_workers,
    sqlite_synchronous,
)
from sharebuy.db.engine import make_engine
from sharebuy.kernel.clock import BUSINESS_TZ
from sharebuy.ledger import repository as ledger
from sharebuy.ledger.service import seal_pending
from sharebuy.ledger.verify import verify
from sharebuy.members import service as members
from sharebuy.rewards import checks, platform_service
from sharebuy.rewards.purchase_service import record_purchase

START = date(2025, 3, 1)
AT = datetime.combine(START, dtime(12), BUSINESS_TZ)
AMOUNT = "88.00"
# 1,000,000 points per merchant pays for ~113k purchases of 88.00 at 10% (8.8 points each): no
# merchant can run short in a bounded run.  The default total issue (390,000) cannot fund
# several such grants, so the purchase benchmark raises it; nothing on the purchase path
# depends on the total issue.
GRANT = "1000000"
RULES = {"total_issue": "100000000"}
MAX_PER_WORKER = 100_000  # hard bound on purchases per worker in the measured window
CONSUMERS_PER_WORKER = 50


def build_world(engine: Any, workers: int) -> list[tuple[int, list[int]]]:
    """Platform, and per worker an active merchant and its own consumers, through the services."""
    platform_service.initialise(engine, start_day=START, overrides=RULES)
    phones = iter(f"139{n:08d}" for n in range(10**8))
    world = []
    for w in range(workers):
        owner = members.add_consumer(engine, phone=next(phones), name=f"店主{w}")
        merchant = members.add_merchant(
            engine, name=f"基准商家{w}", owner_id=owner, region="441900", rate="0.10"
        )
        members.approve_merchant(engine, merchant)
        members.grant_points(engine, merchant, GRANT, reason="benchmark bootstrap")
        state = members.post_deposit(engine, merchant)
        assert state.status == "active", state
        pool = [
            members.add_consumer(engine, phone=next(phones), name=f"c{w}-{i}")
            for i in range(CONSUMERS_PER_WORKER)
        ]
        world.append((merchant, pool))
    return world


def _worker(
    url: str,
    index: int,
    merchant: int,
    pool: list[int],
    warmup: float,
    duration: float,
    barrier: Any,
    out: Any,
) -> None:
    try:
        engine = make_engine(url)

        def buy(n: int) -> None:
            record_purchase(
                engine,
                merchant_id=merchant,
                consumer_id=pool[n % len(pool)],
                amount=AMOUNT,
                at=AT,
                key=f"w{index}-{n}",
            )

        n = 0
        warm_until = time.perf_counter() + warmup
        while n < len(pool) or (time.perf_counter() < warm_until and n < 10 * len(pool) + 10_000):
            buy(n)
            n += 1
        warm = n
        barrier.wait(timeout=300)
        latencies: list[float] = []
        start = time.perf_counter()
        deadline = start + duration
        while len(latencies) < MAX_PER_WORKER:
            t0 = time.perf_counter()
            if t0 >= deadline:
                break
            buy(n)
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


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


def measure(url: str, workers: int, warmup: float, duration: float) -> dict[str, Any]:
    """Build the world on the (fresh) database at `url`, run the workers, verify."""
    engine = migrated_engine(url)
    t0 = time.perf_counter()
    world = build_world(engine, workers)
    setup_s = time.perf_counter() - t0
    engine.dispose()

    results = run_workers(
        _worker,
        [(url, i, merchant, pool, warmup, duration) for i, (merchant, pool) in enumerate(world)],
        warmup + duration,
        "purchase",
    )

    engine = make_engine(url)
    with engine.connect() as conn:
        unsealed = ledger.unsealed_count(conn)
    seal_pending(engine, wait=True)
    t0 = time.perf_counter()
    report = verify(engine, checks.CHECKS)
    verify_s = time.perf_counter() - t0
    engine.dispose()
    if not report.ok:
        raise AssertionError(f"verify failed after the purchase run: {report.as_dict()}")

    lat = sorted(x for r in results for x in r["lat"])
    count = sum(r["count"] for r in results)
    rate = sum(r["count"] / r["elapsed"] for r in results)
    return {
        "purchases_per_s": rate,
        "purchases": count,
        "duration_s": max(r["elapsed"] for r in results),
        "per_worker_per_s": [
            round(r["count"] / r["elapsed"], 1) for r in sorted(results, key=lambda r: r["index"])
        ],
        "warmup_purchases": sum(r["warmup"] for r in results),
        "latency_ms": {
            "mean": statistics.fmean(lat) * 1e3 if lat else None,
            "p50": _percentile(lat, 0.50) * 1e3,
            "p95": _percentile(lat, 0.95) * 1e3,
            "p99": _percentile(lat, 0.99) * 1e3,
            "max": lat[-1] * 1e3 if lat else None,
        },
        "unsealed_after_run": unsealed,
        "verify_ok": report.ok,
        "verify_s": verify_s,
        "journal_entries": report.facts.get("entries"),
        "setup_s": setup_s,
        "workers": workers,
        "consumers_per_worker": CONSUMERS_PER_WORKER,
    }


def _row(db: str, workers: int, m: dict[str, Any]) -> Result:
    lat = m["latency_ms"]
    return Result(
        benchmark="purchases",
        database=db,
        config=f"{workers} proc{'s' if workers > 1 else ''}",
        value=m["purchases_per_s"],
        unit="purchases/s",
        details=(
            f"{m['purchases']} in {m['duration_s']:.1f}s; latency p50 {lat['p50']:.1f} ms, "
            f"p99 {lat['p99']:.1f} ms; verify ok ({m['journal_entries']} entries)"
            + (f"; per worker {m['per_worker_per_s']}" if workers > 1 else "")
            + (
                f"; {m['unsealed_after_run']} entries left unsealed at the end"
                if m["unsealed_after_run"]
                else ""
            )
        ),
        data=m,
    )


SQLITE_TARGET = 2500.0


def run_sqlite(warmup: float, duration: float) -> list[Result]:
    """One process on WAL, with the default synchronous=FULL (an fsync per commit) and with
    NORMAL (no fsync per commit: a power cut may lose the last commits, never consistency)."""
    rows = []
    for mode in ("FULL", "NORMAL"):
        # The setting is inherited by the spawned worker.
        with sqlite_synchronous(mode), tempfile.TemporaryDirectory(prefix="sharebuy-bench-") as tmp:
            m = measure(f"sqlite:///{os.path.join(tmp, 'purchases.db')}", 1, warmup, duration)
        row = _row("sqlite", 1, m)
        row.config = f"1 proc, WAL, synchronous={mode}"
        row.target, row.met = f"≥ {SQLITE_TARGET:,.0f}", m["purchases_per_s"] >= SQLITE_TARGET
        rows.append(row)
    return rows


def run_postgres(pg_url: str, workers: list[int], warmup: float, duration: float) -> list[Result]:
    rows = []
    try:
        for n in workers:
            url = recreate_database(pg_url, BENCH_DB)
            m = measure(url, n, warmup, duration)
            rows.append(_row("postgresql", n, m))
    finally:
        drop_database(pg_url, BENCH_DB)
    return rows
