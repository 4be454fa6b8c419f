"""Repeat one settlement of N holders on copies of one seeded state: A/B timings and results.

    python -m bench.settle_ab --db sqlite|postgresql --holders 1000000 [--runs 3]
        [--pg-url URL] [--src DIR] [--fingerprint] [--keep] [--drop]

Seeding 1M holders takes a minute or more, so the seeded state is kept as a template (a SQLite
file under $TMPDIR/sharebuy-ab, or the PostgreSQL database sharebuy_bench_ab_tpl_N) and reused
by later invocations with --keep; --drop removes it.  Each run settles a fresh copy in a fresh
process, as bench.settlement does.  --src runs another checkout's `sharebuy` (its src/ put first
on PYTHONPATH), so two versions can be timed on the same state.  --fingerprint prints a digest
of everything the settlement decides (lines, postings, entries, balances, the header; not the
timestamps and hashes, which differ from run to run): two versions that agree on it released
the same points and consumed the same share value, to the last unit, in the same journal.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import text

from bench import settlement
from bench.common import admin_dsn, db_url, drop_database, migrated_engine
from bench.profile_settlement import summarise_folded
from sharebuy.db import migrate
from sharebuy.db.engine import make_engine

WORK_DB = "sharebuy_bench_ab"


def _tpl_db(holders: int) -> str:
    return f"sharebuy_bench_ab_tpl_{holders}"


def _tpl_file(holders: int) -> Path:
    return Path(tempfile.gettempdir()) / "sharebuy-ab" / f"template-{holders}.db"


def _pg_exists(pg_url: str, name: str) -> bool:
    with psycopg.connect(admin_dsn(pg_url), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def template(db: str, holders: int, pg_url: str | None, keep: bool) -> str:
    """The seeded template's URL, seeding it unless --keep finds one."""
    if db == "postgresql":
        assert pg_url
        name = _tpl_db(holders)
        if keep and _pg_exists(pg_url, name):
            return _upgraded(db_url(pg_url, name))
        drop_database(pg_url, name)
        with psycopg.connect(admin_dsn(pg_url), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = db_url(pg_url, name)
    else:
        path = _tpl_file(holders)
        if keep and path.exists():
            return _upgraded(f"sqlite:///{path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    print(f"seeding {holders:,} holders on {db} …", file=sys.stderr)
    engine = migrated_engine(url)
    settlement.seed(engine, holders)
    engine.dispose()
    return url


def _upgraded(url: str) -> str:
    """A kept template gains the migrations added since it was seeded."""
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    return url


def fresh_copy(db: str, holders: int, pg_url: str | None) -> str:
    if db == "postgresql":
        assert pg_url
        drop_database(pg_url, WORK_DB)
        with psycopg.connect(admin_dsn(pg_url), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                    sql.Identifier(WORK_DB), sql.Identifier(_tpl_db(holders))
                )
            )
        return db_url(pg_url, WORK_DB)
    src = _tpl_file(holders)
    work = src.with_name(f"work-{holders}.db")
    for suffix in ("", "-wal", "-shm"):
        Path(str(work) + suffix).unlink(missing_ok=True)
    work.write_bytes(src.read_bytes())
    return f"sqlite:///{work}"


_FINGERPRINT = (
    "SELECT business_day, status, rule_version, guide_price, price_source, airdrop, "
    "network_share_value, holders, released, share_value_consumed, leftover_units, chunks, "
    "chunks_posted, journal_head_seq FROM settlements ORDER BY business_day",
    "SELECT business_day, member_id, chunk, share_value, points, share_value_consumed, "
    "consumed_from_owed FROM settlement_lines ORDER BY business_day, member_id",
    "SELECT id, kind, business_day, reference, reason, actor, idempotency_key, reverses_id, "
    "rule_version, seq FROM journal_entries ORDER BY id",
    "SELECT id, entry_id, account_id, asset, amount FROM postings ORDER BY id",
    "SELECT id, balance FROM ledger_accounts ORDER BY id",
)


def fingerprint(url: str) -> str:
    digest = hashlib.sha256()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            for query in _FINGERPRINT:
                for row in conn.execute(text(query)):
                    digest.update(repr(tuple(str(v) for v in row)).encode())
    finally:
        engine.dispose()
    return digest.hexdigest()[:16]


def _alter(url: str, statements: list[str]) -> None:
    if not statements:
        return
    engine = make_engine(url)
    try:
        # autocommit: VACUUM (which rewrites a table under a new fillfactor) refuses a transaction
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.settle_ab")
    p.add_argument("--db", choices=("sqlite", "postgresql"), required=True)
    p.add_argument("--holders", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument(
        "--pg-url",
        default=os.environ.get("SHAREBUY_BENCH_POSTGRES_URL") or os.environ.get("SHAREBUY_TEST_POSTGRES_URL"),
    )
    p.add_argument("--src", default=None, help="another checkout's src/ to run instead of this one")
    p.add_argument("--fingerprint", action="store_true", help="print a digest of the settled state")
    p.add_argument("--keep", action="store_true", help="reuse a template seeded earlier")
    p.add_argument("--time-calls", action="store_true", help="time the main bulk steps of each run")
    p.add_argument("--py-spy", default=None, help="record each run with this py-spy and summarise it")
    p.add_argument("--drop", action="store_true", help="drop the template and work copy, then exit")
    p.add_argument(
        "--alter",
        action="append",
        default=[],
        metavar="SQL",
        help="a statement run on each fresh copy before it settles (repeatable): a schema change, A/B",
    )
    args = p.parse_args(argv)
    if args.db == "postgresql" and not args.pg_url:
        p.error("--pg-url is needed for postgresql")
    if args.drop:
        if args.db == "postgresql":
            drop_database(args.pg_url, WORK_DB)
            drop_database(args.pg_url, _tpl_db(args.holders))
        else:
            for path in (
                _tpl_file(args.holders),
                _tpl_file(args.holders).with_name(f"work-{args.holders}.db"),
            ):
                for suffix in ("", "-wal", "-shm"):
                    Path(str(path) + suffix).unlink(missing_ok=True)
        return 0
    template(args.db, args.holders, args.pg_url, args.keep)
    env = {"PYTHONPATH": args.src} if args.src else None
    runs: list[dict[str, Any]] = []
    for n in range(args.runs):
        url = fresh_copy(args.db, args.holders, args.pg_url)
        _alter(url, args.alter)
        prefix = None
        folded = Path(tempfile.gettempdir()) / "sharebuy-ab" / f"{args.db}-{args.holders}-{n + 1}.folded"
        if args.py_spy:
            prefix = [args.py_spy, "record", "--idle", "--rate", "100", "--format", "raw"]
            prefix += ["--output", str(folded), "--"]
        extra = ["--time-calls"] if args.time_calls else None
        m = settlement.settle_in_child(url, env=env, prefix=prefix, extra=extra)
        row = {
            "run": n + 1,
            "seconds": round(m["seconds"], 2),
            **{k: round(v, 2) for k, v in m["phases"].items() if v is not None},
            "peak_rss_mb": round(m["maxrss_kb"] / 1024),
            "added_mb": round(max(0, m["maxrss_kb"] - m["rss_before_kb"]) / 1024),
            "released": m["released_units"],
        }
        if "calls" in m:
            row["calls"] = m["calls"]
        if args.fingerprint:
            row["fingerprint"] = fingerprint(url)
        runs.append(row)
        print(json.dumps(row), flush=True)
        if args.py_spy:
            spy = summarise_folded(folded, top=30)
            for key in ("inclusive", "innermost_line"):
                print(f"{key}:", *(f"  {pct:5.1f}% {name}" for name, pct in spy[key]), sep="\n")
    summary = {
        "db": args.db,
        "holders": args.holders,
        "median_s": round(statistics.median(r["seconds"] for r in runs), 2),
        **{
            f"median_{k}": round(statistics.median(r[k] for r in runs), 2)
            for k in ("compute_s", "post_s", "complete_s", "peak_rss_mb")
            if all(k in r for r in runs)
        },
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
