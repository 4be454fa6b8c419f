"""Profile one settlement of N bulk-seeded holders: where does the time go?

    python -m bench.profile_settlement --db sqlite|postgresql --holders 1000000
        [--pg-url URL] [--py-spy PATH] [--out DIR]

Seeds once (as bench.settlement does), then settles copies of that state three times, each in a
fresh process: plain with a log of every SQLAlchemy statement's duration, under py-spy (sampling,
--idle so time spent waiting on the database counts), and under cProfile (call counts).  Writes
the raw profiles to DIR (default bench/results/profile) and prints a summary.  py-spy is not a
project dependency: install it anywhere (e.g. `pip install --target /tmp/pyspy py-spy`) and pass
--py-spy /tmp/pyspy/bin/py-spy; without it that step is skipped.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pstats
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench import settlement
from bench.common import RESULTS_DIR, admin_dsn, db_url, drop_database, migrated_engine, recreate_database

TEMPLATE_DB = "sharebuy_bench_profile_tpl"
WORK_DB = "sharebuy_bench_profile"


def _copy_pg(pg_url: str) -> str:
    drop_database(pg_url, WORK_DB)
    with psycopg.connect(admin_dsn(pg_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(WORK_DB), sql.Identifier(TEMPLATE_DB)
            )
        )
    return db_url(pg_url, WORK_DB)


def _copy_sqlite(template: Path, work: Path) -> str:
    for suffix in ("", "-wal", "-shm"):
        Path(str(work) + suffix).unlink(missing_ok=True)
    shutil.copyfile(template, work)
    return f"sqlite:///{work}"


def _frame_key(frame: str) -> str:
    """'func (path/to/file.py:123)' -> 'module.py:func:123' for project frames."""
    m = re.match(r"(.*) \((.*):(\d+)\)$", frame)
    if not m:
        return frame
    func, path, line = m.groups()
    short = path.split("site-packages/")[-1].split("src/")[-1]
    return f"{short}:{line} {func}"


def summarise_folded(path: Path, top: int = 25) -> dict[str, Any]:
    """Inclusive share of samples per project function, and per innermost project line."""
    total = 0
    inclusive: collections.Counter[str] = collections.Counter()
    innermost: collections.Counter[str] = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        total += count
        frames = stack.split(";")
        project = [f for f in frames if "sharebuy/" in f or "/bench/" in f]
        seen = set()
        for f in project:
            func_key = re.sub(r":\d+\)$", ")", f)
            if func_key not in seen:
                seen.add(func_key)
                inclusive[func_key] += count
        if project:
            leaf = project[-1]
            after = frames[frames.index(leaf) + 1 :]
            callee = after[0].split(" (")[0] if after else "(self)"
            innermost[f"{_frame_key(leaf)} → {callee}"] += count
    return {
        "samples": total,
        "inclusive": [(k, round(100 * v / total, 1)) for k, v in inclusive.most_common(top)],
        "innermost_line": [(k, round(100 * v / total, 1)) for k, v in innermost.most_common(top)],
    }


def summarise_sql(path: Path, top: int = 15) -> list[tuple[str, int, float, int]]:
    by: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0])
    for statement, seconds, rows in json.loads(path.read_text()):
        key = re.sub(r"\s+", " ", statement)[:160]
        acc = by[key]
        acc[0] += 1
        acc[1] += seconds
        acc[2] += max(0, rows)
    ranked = sorted(by.items(), key=lambda kv: -kv[1][1])[:top]
    return [(k, int(v[0]), round(v[1], 2), int(v[2])) for k, v in ranked]


def summarise_pstats(path: Path, top: int = 25) -> list[tuple[str, int, float, float]]:
    stats = pstats.Stats(str(path))
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((f"{file.split('site-packages/')[-1].split('src/')[-1]}:{line} {func}", nc, tt, ct))
    return [(k, n, round(tt, 2), round(ct, 2)) for k, n, tt, ct in sorted(rows, key=lambda r: -r[2])[:top]]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile_settlement")
    p.add_argument("--db", choices=("sqlite", "postgresql"), required=True)
    p.add_argument("--holders", type=int, default=1_000_000)
    p.add_argument(
        "--pg-url",
        default=os.environ.get("SHAREBUY_BENCH_POSTGRES_URL") or os.environ.get("SHAREBUY_TEST_POSTGRES_URL"),
    )
    p.add_argument("--py-spy", default=shutil.which("py-spy"))
    p.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    p.add_argument("--out", default=str(RESULTS_DIR / "profile"))
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = f"{args.db}-{args.holders}"
    summary: dict[str, Any] = {"db": args.db, "holders": args.holders}

    tmp = Path(tempfile.mkdtemp(prefix="sharebuy-profile-"))
    try:
        if args.db == "postgresql":
            if not args.pg_url:
                p.error("--pg-url (or SHAREBUY_BENCH_POSTGRES_URL) is needed for postgresql")
            url = recreate_database(args.pg_url, TEMPLATE_DB)
        else:
            url = f"sqlite:///{tmp / 'template.db'}"
        engine = migrated_engine(url)
        print(f"seeding {args.holders:,} holders on {args.db} …", file=sys.stderr)
        summary["seed"] = settlement.seed(engine, args.holders)
        engine.dispose()

        def fresh() -> str:
            if args.db == "postgresql":
                return _copy_pg(args.pg_url)
            return _copy_sqlite(tmp / "template.db", tmp / "work.db")

        print("plain run with a statement log …", file=sys.stderr)
        sql_log = out / f"{tag}.sql.json"
        summary["plain"] = settlement.settle_in_child(fresh(), extra=["--log-sql", str(sql_log)])
        summary["sql"] = summarise_sql(sql_log)
        if args.py_spy:
            print("py-spy run …", file=sys.stderr)
            folded = out / f"{tag}.folded"
            summary["py_spy_run"] = settlement.settle_in_child(
                fresh(),
                prefix=[
                    *(args.py_spy, "record", "--idle", "--rate", str(args.rate)),
                    *("--format", "raw", "--output", str(folded), "--"),
                ],
            )
            summary["py_spy"] = summarise_folded(folded)
        print("cProfile run …", file=sys.stderr)
        prof = out / f"{tag}.pstats"
        summary["cprofile_run"] = settlement.settle_in_child(fresh(), extra=["--cprofile", str(prof)])
        summary["cprofile_tottime"] = summarise_pstats(prof)
    finally:
        if args.pg_url and args.db == "postgresql":
            drop_database(args.pg_url, WORK_DB)
            drop_database(args.pg_url, TEMPLATE_DB)
        shutil.rmtree(tmp, ignore_errors=True)
    (out / f"{tag}.summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
