"""How fast SQLite itself runs the statements of a purchase, with no application code around them.

The purchases of a short run through `record_purchase` (without sealing) are recorded as the
driver receives them: every statement with its parameters, and where each transaction begins
and commits.  The same statements are then replayed with the bare `sqlite3` module on a copy of
the database as it was before the run, with the engine's connection settings, one transaction
per purchase.  The replay's rate is what SQLite alone allows on this machine: the ceiling of
any implementation that writes the same rows and indexes, against which the service's rate
shows what the Python around the statements costs.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
from typing import Any

from sqlalchemy import event

from bench import purchases
from bench.common import Result, migrated_engine, sqlite_synchronous
from sharebuy.db.engine import make_engine, sqlite_pragmas
from sharebuy.ledger.service import seal_pending
from sharebuy.rewards.purchase_service import record_purchase

WARMUP = 300  # purchases before the recorded ones (every consumer of the pool buys once)
RECORDED = 3000

# A recorded step: a statement with its parameters (many: a list of parameter sets), or a
# transaction boundary.
Step = tuple[str, Any, bool]
BEGIN, COMMIT = "\x00begin", "\x00commit"


def measure(mode: str, count: int = RECORDED) -> dict[str, Any]:
    with sqlite_synchronous(mode), tempfile.TemporaryDirectory(prefix="sharebuy-floor-") as tmp:
        path = os.path.join(tmp, "floor.db")
        service = _record(path, count)
        replay = _replay(path + ".before", service.pop("steps"), mode)
        if _balances(path + ".before") != _balances(path):
            raise AssertionError("the replay did not reproduce the service's balances")
    return {"mode": mode, "purchases": count, "service": service, "replay": replay}


def _record(path: str, count: int) -> dict[str, Any]:
    """Warm up, copy the database, then run `count` purchases and record what reached the driver."""
    url = f"sqlite:///{path}"
    engine = migrated_engine(url)
    ((merchant, pool),) = purchases.build_world(engine, 1)

    def buy(n: int) -> None:
        record_purchase(
            engine,
            merchant_id=merchant,
            consumer_id=pool[n % len(pool)],
            amount=purchases.AMOUNT,
            at=purchases.AT,
            key=f"floor-{n}",
            seal=False,
        )

    for n in range(WARMUP):
        buy(n)
    seal_pending(engine, wait=True)
    engine.dispose()
    shutil.copy(path, path + ".before")

    engine = make_engine(url)
    steps: list[Step] = []

    def statement(_c: Any, _cur: Any, sql: str, params: Any, _ctx: Any, many: bool) -> None:
        steps.append((sql, params, many))

    event.listen(engine, "before_cursor_execute", statement)
    # BEGIN IMMEDIATE goes straight to the driver (db.engine): the transaction events mark it.
    event.listen(engine, "begin", lambda _c: steps.append((BEGIN, None, False)))
    event.listen(engine, "commit", lambda _c: steps.append((COMMIT, None, False)))
    cpu, wall = time.process_time(), time.perf_counter()
    for n in range(WARMUP, WARMUP + count):
        buy(n)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    engine.dispose()
    return {
        "steps": steps,
        "per_s": count / wall,
        "cpu_us": 1e6 * cpu / count,
        "statements": sum(1 for sql, _p, _m in steps if sql not in (BEGIN, COMMIT)) / count,
    }


def _replay(path: str, steps: list[Step], mode: str) -> dict[str, Any]:
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in sqlite_pragmas(mode):
        db.execute(pragma)
    commits = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for sql, params, many in steps:
        if sql == BEGIN:
            db.execute("BEGIN IMMEDIATE")
        elif sql == COMMIT:
            db.execute("COMMIT")
            commits += 1
        elif many:
            db.executemany(sql, params)
        else:
            db.execute(sql, params).fetchall()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    db.close()
    return {"per_s": commits / wall, "cpu_us": 1e6 * cpu / commits, "wall_us": 1e6 * wall / commits}


def _balances(path: str) -> list[tuple[int, int]]:
    """Every account's balance: a replay that reproduces the run ends with the same ones."""
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT id, balance FROM ledger_accounts ORDER BY id").fetchall()
    finally:
        db.close()


def run_sqlite() -> list[Result]:
    rows = []
    for mode in ("FULL", "NORMAL"):
        m = measure(mode)
        service, replay = m["service"], m["replay"]
        rows.append(
            Result(
                benchmark="purchases, SQLite's own work",
                database="sqlite",
                config=f"the same statements replayed with sqlite3 alone, synchronous={mode}",
                value=replay["per_s"],
                unit="purchases/s",
                target=f"≥ {purchases.SQLITE_TARGET:,.0f} (the service's target)",
                met=replay["per_s"] >= purchases.SQLITE_TARGET,
                details=(
                    f"{m['purchases']} purchases, {service['statements']:.0f} statements each: "
                    f"SQLite alone {replay['wall_us']:.0f} µs per purchase ({replay['cpu_us']:.0f} µs CPU); "
                    f"through the service without sealing {service['per_s']:,.0f}/s "
                    f"({service['cpu_us']:.0f} µs CPU per purchase)"
                ),
                data=m,
            )
        )
    return rows
