"""Settlement of N holders: time and peak memory of `settle`, then the ledger checks.

Seeding N holders through the services would take hours at 1M, so the database is seeded in
bulk (COPY on PostgreSQL, executemany on SQLite, through `sharebuy.db.bulk.insert_rows`) with
exactly the rows the services leave behind for N consumers who have bought something:

- `members` (kind consumer, activated on the start day) and `consumers` (a unique phone), as
  `add_consumer` plus `_mark_activated` in a purchase write them;
- the five accounts `open_member_accounts` opens per member (sv, sv_owed, available, escrow,
  deposit; owner = the member id as text), in the same order, so account ids interleave the
  same way;
- the share value comes from ONE balanced journal entry of kind `bench_seed` that credits each
  holder's `sv` account and debits the platform `sv_issued` account by the total, and the
  balances are set to match; the entry is then sealed into the hash chain as any other.

Share values are random (seeded) between 0.01 and 10,000.00, so the largest-remainder step has
real work.  The rulebook is the default (daily airdrop 500 points, window off).  On PostgreSQL
the seeded tables are VACUUM ANALYZEd and a CHECKPOINT taken (what autovacuum would have done on
a live server); on SQLite the WAL is checkpointed.  None of the seeding is timed.

Each settlement runs in a fresh subprocess (`bench.settle_child`) so that its peak RSS is its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy import func, insert, select, text, update

from bench.common import BENCH_DB, ROOT, Result, drop_database, migrated_engine, recreate_database
from sharebuy.db import bulk
from sharebuy.db.engine import make_engine
from sharebuy.db.uow import UnitOfWork
from sharebuy.kernel.clock import BUSINESS_TZ
from sharebuy.ledger import domain as ledger_domain
from sharebuy.ledger.models import accounts, entries
from sharebuy.ledger.service import seal_pending
from sharebuy.ledger.verify import verify
from sharebuy.members.models import members
from sharebuy.rewards import checks, platform_service
from sharebuy.rewards.models import settlement_lines, settlements

START = date(2025, 3, 1)
NOW = datetime.combine(START + timedelta(days=1), dtime(12), BUSINESS_TZ)
BATCH = 100_000
SEED = 20250301
TARGET_SECONDS = 30.0
TARGET_RSS_MB = 2048.0


def _binder(engine: Any, type_: Any) -> Any:
    """The dialect's own bind processor, so raw bulk rows store exactly what SQLAlchemy would."""
    proc = type_.dialect_impl(engine.dialect).bind_processor(engine.dialect)
    return proc or (lambda value: value)


def seed(engine: Any, holders: int) -> dict[str, Any]:
    """Initialise the platform and add `holders` activated consumers holding share value."""
    t0 = time.perf_counter()
    platform_service.initialise(engine, start_day=START)
    rng = np.random.default_rng(SEED)
    share_value = rng.integers(1, 1_000_000, size=holders, endpoint=True, dtype=np.int64)
    total = int(share_value.sum())
    created = _binder(engine, sa.DateTime(timezone=True))(datetime.now(UTC))
    day = _binder(engine, sa.Date())(START)
    as_bool = _binder(engine, sa.Boolean())
    kinds = list(ledger_domain.MEMBER_KINDS.items())
    per = len(kinds)
    with UnitOfWork(engine) as uow:
        conn = uow.c
        first_member = int(conn.execute(select(func.coalesce(func.max(members.c.id), 0))).scalar_one()) + 1
        first_account = int(conn.execute(select(func.coalesce(func.max(accounts.c.id), 0))).scalar_one()) + 1
        sv_issued = int(
            conn.execute(
                select(accounts.c.id).where(accounts.c.owner == "platform", accounts.c.kind == "sv_issued")
            ).scalar_one()
        )
        for lo in range(0, holders, BATCH):
            hi = min(holders, lo + BATCH)
            ids = range(first_member + lo, first_member + hi)
            bulk.insert_rows(
                conn,
                "members",
                ("id", "kind", "name", "frozen", "activated_day", "created_at"),
                ((m, "consumer", "", as_bool(False), day, created) for m in ids),
            )
            bulk.insert_rows(
                conn,
                "consumers",
                ("member_id", "phone"),
                ((m, f"13{m:09d}") for m in ids),
            )
            bulk.insert_rows(
                conn,
                "ledger_accounts",
                ("id", "owner", "member_id", "kind", "asset", "balance", "allow_negative", "allow_positive"),
                (
                    (
                        first_account + i * per + k,
                        str(first_member + i),
                        first_member + i,
                        kind,
                        asset,
                        int(share_value[i]) if kind == "sv" else 0,
                        as_bool(neg),
                        as_bool(pos),
                    )
                    for i in range(lo, hi)
                    for k, (kind, (asset, neg, pos)) in enumerate(kinds)
                ),
            )
        entry_id = conn.execute(
            insert(entries).returning(entries.c.id),
            {
                "kind": "bench_seed",
                "business_day": START,
                "reference": "bench:seed",
                "reason": f"benchmark seed: share value of {holders} holders",
                "actor": "bench",
                "idempotency_key": f"bench_seed:{holders}",
                "reverses_id": None,
                "rule_version": 1,
                "created_at": datetime.now(UTC),
            },
        ).scalar_one()
        sv_index = next(k for k, (kind, _spec) in enumerate(kinds) if kind == "sv")
        bulk.insert_rows(
            conn,
            "postings",
            ("entry_id", "account_id", "asset", "amount", "business_day"),
            [(entry_id, sv_issued, ledger_domain.SV, -total, day)],
        )
        for lo in range(0, holders, BATCH):
            hi = min(holders, lo + BATCH)
            bulk.insert_rows(
                conn,
                "postings",
                ("entry_id", "account_id", "asset", "amount", "business_day"),
                (
                    (entry_id, first_account + i * per + sv_index, ledger_domain.SV, int(share_value[i]), day)
                    for i in range(lo, hi)
                ),
            )
        conn.execute(
            update(accounts).where(accounts.c.id == sv_issued).values(balance=accounts.c.balance - total)
        )
        if conn.dialect.name == "postgresql":
            for table in ("members", "ledger_accounts"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
        uow.commit()
    seal_pending(engine, wait=True)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
            conn.execute(text("CHECKPOINT"))
    else:
        raw = engine.raw_connection()  # outside any transaction: the engine's connections autocommit
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            raw.close()
    return {"seed_s": time.perf_counter() - t0, "network_share_value_units": total}


def settle_in_child(
    url: str,
    *,
    extra: list[str] | None = None,
    prefix: list[str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 1800,
) -> dict[str, Any]:
    """Run `bench.settle_child` in a fresh interpreter (optionally under a profiler `prefix`,
    with `env` added to the environment)."""
    cmd = [
        *(prefix or []),
        sys.executable,
        "-m",
        "bench.settle_child",
        "--url",
        url,
        "--day",
        START.isoformat(),
        "--now",
        NOW.isoformat(),
        *(extra or []),
    ]
    t0 = time.perf_counter()
    done = subprocess.run(
        cmd,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"settlement child failed ({done.returncode}):\n{done.stderr.strip()[-4000:]}")
    # The child's report is its last JSON line; a profiler prefix may print its own lines after it.
    report = next(line for line in reversed(done.stdout.splitlines()) if line.startswith("{"))
    out: dict[str, Any] = json.loads(report)
    out["child_wall_s"] = wall
    return out


def check_record(engine: Any, holders: int, m: dict[str, Any]) -> list[str]:
    """The cheap checks that also run at sizes where the full verify is skipped."""
    problems = []
    if m["status"] != "completed":
        problems.append(f"status {m['status']}")
    if m["holders"] != holders:
        problems.append(f"holders {m['holders']} != {holders}")
    if m["released_units"] != m["airdrop_units"]:
        problems.append(f"released {m['released_units']} != airdrop {m['airdrop_units']}")
    with UnitOfWork(engine, readonly=True) as uow:
        row = uow.c.execute(select(settlements).where(settlements.c.business_day == START)).mappings().one()
        lines_sum = uow.c.execute(
            select(func.sum(settlement_lines.c.points)).where(settlement_lines.c.business_day == START)
        ).scalar()
    if int(row["released"]) != int(row["airdrop"]):
        problems.append(f"stored released {row['released']} != airdrop {row['airdrop']}")
    if int(lines_sum or 0) != int(row["airdrop"]):
        problems.append(f"lines sum {lines_sum} != airdrop {row['airdrop']}")
    if row["journal_head_hash"] is None:
        problems.append("no journal head recorded")
    return problems


def measure(url: str, holders: int, *, verify_up_to: int) -> dict[str, Any]:
    engine = migrated_engine(url)
    seeded = seed(engine, holders)
    engine.dispose()
    m = settle_in_child(url)
    m.update(seeded)
    m["holders_seeded"] = holders
    engine = make_engine(url)
    problems = check_record(engine, holders, m)
    if problems:
        raise AssertionError(f"settlement of {holders} holders is wrong: {'; '.join(problems)}")
    m["record_ok"] = True
    if holders <= verify_up_to:
        t0 = time.perf_counter()
        report = verify(engine, checks.CHECKS)
        m["verify_s"] = time.perf_counter() - t0
        m["verify_ok"] = report.ok
        if not report.ok:
            raise AssertionError(f"verify failed after settling {holders} holders: {report.as_dict()}")
    else:
        m["verify_ok"] = None
    engine.dispose()
    return m


def _mb(kb: int) -> float:
    return kb / 1024


def _row(db: str, holders: int, m: dict[str, Any]) -> Result:
    peak_mb = _mb(m["maxrss_kb"])
    added_mb = _mb(max(0, m["maxrss_kb"] - m["rss_before_kb"]))
    ph = m["phases"]
    big = holders >= 1_000_000
    met = (m["seconds"] <= TARGET_SECONDS and peak_mb <= TARGET_RSS_MB) if big else None
    checked = (
        f"verify ok ({m['verify_s']:.1f}s)" if m.get("verify_ok") else "released == A_D (verify skipped)"
    )
    return Result(
        benchmark="settlement",
        database=db,
        config=f"{holders:,} holders",
        value=m["seconds"],
        unit="s",
        target=f"≤ {TARGET_SECONDS:.0f} s, ≤ 2 GB" if big else "",
        met=met,
        peak_rss_mb=peak_mb,
        details=(
            f"{m['seconds'] / holders * 1e6:.1f} µs/holder; compute {ph['compute_s']:.1f}s / "
            f"post {ph['post_s']:.1f}s / complete+seal {ph['complete_s']:.1f}s; "
            f"peak − RSS before settle: {added_mb:.0f} MB; {checked}; seed {m['seed_s']:.0f}s untimed"
        ),
        data=m,
    )


def scaling_row(db: str, rows: list[Result]) -> Result | None:
    """Time per holder across sizes: 'roughly linear' = the largest size costs ≤ 1.5× per holder
    what the next smaller size did."""
    done = sorted(
        ((r.data["holders_seeded"], r.value) for r in rows if r.value is not None and r.error is None),
        key=lambda p: p[0],
    )
    if len(done) < 2:
        return None
    per = [(n, t / n * 1e6) for n, t in done]
    ratio = per[-1][1] / per[-2][1]
    return Result(
        benchmark="settlement scaling",
        database=db,
        config=" → ".join(f"{n:,}" for n, _ in per),
        value=ratio,
        unit="× per-holder cost",
        target="roughly linear (≤ 1.5×)",
        met=ratio <= 1.5,
        details="µs/holder: " + ", ".join(f"{n:,}: {us:.1f}" for n, us in per),
        data={"per_holder_us": {str(n): us for n, us in per}},
    )


def run_sqlite(sizes: list[int], verify_up_to: int) -> list[Result]:
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="sharebuy-bench-") as tmp:
            url = f"sqlite:///{os.path.join(tmp, f'settle-{n}.db')}"
            try:
                rows.append(_row("sqlite", n, measure(url, n, verify_up_to=verify_up_to)))
            except Exception as error:
                rows.append(_failed("sqlite", n, error))
    return rows


def run_postgres(pg_url: str, sizes: list[int], verify_up_to: int) -> list[Result]:
    rows = []
    try:
        for n in sizes:
            url = recreate_database(pg_url, BENCH_DB)
            try:
                rows.append(_row("postgresql", n, measure(url, n, verify_up_to=verify_up_to)))
            except Exception as error:
                rows.append(_failed("postgresql", n, error))
    finally:
        drop_database(pg_url, BENCH_DB)
    return rows


def _failed(db: str, holders: int, error: Exception) -> Result:
    return Result(
        benchmark="settlement",
        database=db,
        config=f"{holders:,} holders",
        value=None,
        unit="s",
        met=False,
        error=f"{type(error).__name__}: {error}",
        data={"holders_seeded": holders},
    )
