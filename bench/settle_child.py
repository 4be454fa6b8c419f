"""Run one settlement in this (fresh) process and print its timing and memory as JSON.

    python -m bench.settle_child --url URL --day 2025-03-01 --now 2025-03-02T12:00+08:00
        [--cprofile FILE] [--log-sql FILE] [--time-calls]

Peak memory is this process's peak resident set size (Linux `VmHWM`, KiB) read after the
settlement; `baseline` is the same figure read just before `settle` is called (interpreter,
imports and engine), so `peak - baseline` is what the settlement itself added at its peak.
`ru_maxrss` would not do: Linux carries it over from the parent through fork and exec, so a
benchmark parent that had just seeded a million holders made the child look that large.
The database server's own memory is not included.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any


def _rss_kb() -> int:
    """Current resident set size in KiB (from /proc/self/statm)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * resource.getpagesize() // 1024


def _peak_rss_kb() -> int:
    """This process image's peak resident set size in KiB (VmHWM; ru_maxrss where unavailable)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _trace(engine: Any, into: list[tuple[str, float, int]]) -> None:
    """Record (statement, seconds, rows) for every statement SQLAlchemy sends (not raw COPY)."""
    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        conn.info["bench_t0"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        into.append((statement, time.perf_counter() - conn.info.pop("bench_t0"), cursor.rowcount))


# Functions --time-calls wraps: (module, attribute) -> label in the report.
TIMED = (
    ("sharebuy.rewards.settlement_service", "_holders"),
    ("sharebuy.rewards.settlement_service", "_lock_holder_accounts"),
    ("sharebuy.rewards.settlement_service", "_read_lines"),
    ("sharebuy.ledger.repository", "post_bulk"),
    ("sharebuy.ledger.repository", "_merge_bulk_legs"),
    ("sharebuy.db.bulk", "insert_columns"),
    ("sharebuy.db.bulk", "add_to_balances"),
    ("sharebuy.ledger.service", "seal_pending"),
)


def _time_calls(into: dict[str, list[float]]) -> None:
    """Wrap the TIMED functions (where they exist) to add up their wall time and calls.

    Wrapped where defined and where imported by name is not needed: the callers look them up
    on their modules (`bulk.insert_columns`, `ledger.post_bulk`) or call them in-module.
    """
    import functools
    import importlib

    for module_name, attr in TIMED:
        module = importlib.import_module(module_name)
        inner = getattr(module, attr, None)
        if inner is None:
            continue
        label = f"{module_name.rsplit('.', 1)[-1]}.{attr}"

        def timed(*args: Any, _inner: Any = inner, _label: str = label, **kwargs: Any) -> Any:
            # Bulk writes are told apart by their table (the argument after the connection).
            key = f"{_label}[{args[1]}]" if _label.endswith("insert_columns") else _label
            t0 = time.perf_counter()
            try:
                return _inner(*args, **kwargs)
            finally:
                totals = into.setdefault(key, [0.0, 0])
                totals[0] += time.perf_counter() - t0
                totals[1] += 1

        setattr(module, attr, functools.wraps(inner)(timed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.settle_child")
    parser.add_argument("--url", required=True)
    parser.add_argument("--day", required=True, type=date.fromisoformat)
    parser.add_argument("--now", required=True, type=datetime.fromisoformat)
    parser.add_argument("--cprofile", default=None, help="write cProfile stats of settle() to this file")
    parser.add_argument(
        "--log-sql", default=None, help="write each SQLAlchemy statement's duration to this JSON file"
    )
    parser.add_argument(
        "--time-calls", action="store_true", help="report the wall time spent in the main bulk steps"
    )
    args = parser.parse_args(argv)

    from sharebuy.db.engine import make_engine
    from sharebuy.rewards.settlement_service import settle

    engine = make_engine(args.url)
    calls: dict[str, list[float]] = {}
    if args.time_calls:
        _time_calls(calls)
    statements: list[tuple[str, float, int]] = []
    if args.log_sql:
        _trace(engine, statements)
    marks: list[tuple[str, int, int, float]] = []

    def progress(phase: str, done: int, total: int) -> None:
        marks.append((phase, done, total, time.perf_counter()))

    baseline = _peak_rss_kb()
    current_before = _rss_kb()
    profiler: Any = None
    if args.cprofile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t0 = time.perf_counter()
    reports = settle(engine, through=args.day, now=args.now, progress=progress)
    elapsed = time.perf_counter() - t0
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.cprofile)
    peak = _peak_rss_kb()
    engine.dispose()

    compute_done = next((t for p, d, n, t in marks if p == "compute" and d == n), None)
    post_done = max((t for p, _d, _n, t in marks if p == "post"), default=compute_done)
    phases = {
        "compute_s": None if compute_done is None else compute_done - t0,
        "post_s": None if compute_done is None or post_done is None else post_done - compute_done,
        "complete_s": None if post_done is None else t0 + elapsed - post_done,
    }
    report = reports[-1]
    out = {
        "seconds": elapsed,
        "phases": phases,
        "maxrss_kb": peak,
        "baseline_maxrss_kb": baseline,
        "rss_before_kb": current_before,
        "days": len(reports),
        "status": report.status,
        "holders": report.holders,
        "airdrop_units": report.airdrop.units,
        "released_units": report.released.units,
        "share_value_consumed_units": report.share_value_consumed.units,
        "network_share_value_units": report.network_share_value.units,
        "journal_head_seq": report.journal_head_seq,
        "replayed": report.replayed,
    }
    if args.time_calls:
        out["calls"] = {name: {"s": round(t, 3), "n": int(n)} for name, (t, n) in calls.items()}
    if args.log_sql:
        Path(args.log_sql).write_text(json.dumps(statements))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
