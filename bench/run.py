"""Run the benchmarks, print one table and write bench/results/latest.json.

    python -m bench.run [--quick] [--only NAME ...] [--pg-url URL]

NAME is one of: purchases, purchases-sqlite, sqlite-floor, purchases-pg, http, pgbench, settlement,
settlement-sqlite, settlement-pg, market, simulator.  The PostgreSQL server is --pg-url, else
SHAREBUY_BENCH_POSTGRES_URL, else SHAREBUY_TEST_POSTGRES_URL; without one the PostgreSQL rows are
skipped.  Only the server of that URL is used: the benchmarks create and drop their own
databases (sharebuy_bench, or SHAREBUY_BENCH_DB such as sharebuy_bench_mine when two checkouts
share a server; sharebuy_pgbench) through the `postgres` database.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import http_purchases, market, pgbench, purchases, settlement, simulator, sqlite_floor
from bench.common import RESULTS_DIR, Result, machine

NAMES = {
    "purchases": ("purchases-sqlite", "sqlite-floor", "purchases-pg"),
    "purchases-sqlite": ("purchases-sqlite",),
    "sqlite-floor": ("sqlite-floor",),
    "purchases-pg": ("purchases-pg",),
    "http": ("http",),
    "pgbench": ("pgbench",),
    "settlement": ("settlement-sqlite", "settlement-pg"),
    "settlement-sqlite": ("settlement-sqlite",),
    "settlement-pg": ("settlement-pg",),
    "market": ("market",),
    "simulator": ("simulator",),
}
RATIO_TARGET = 0.5
HTTP_RATIO_TARGET = 0.4


def _ints(text: str) -> list[int]:
    return [int(part.replace("_", "").replace("k", "000").replace("M", "000000")) for part in text.split(",")]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes and short runs (smoke test, < 60 s)")
    p.add_argument("--only", action="append", choices=sorted(NAMES), metavar="NAME", help="run only this")
    p.add_argument(
        "--pg-url",
        default=os.environ.get("SHAREBUY_BENCH_POSTGRES_URL") or os.environ.get("SHAREBUY_TEST_POSTGRES_URL"),
        help="any URL on the PostgreSQL server to use (default: $SHAREBUY_BENCH_POSTGRES_URL, "
        "$SHAREBUY_TEST_POSTGRES_URL)",
    )
    p.add_argument("--duration", type=float, help="measured seconds per purchase run and for pgbench")
    p.add_argument(
        "--workers", type=_ints, default=[1, 4], help="PostgreSQL purchase processes (default 1,4)"
    )
    p.add_argument(
        "--listings", type=_ints, help="open listings for the quick-buy latency (default 100k; quick 10k)"
    )
    p.add_argument("--sizes", type=_ints, help="settlement holder counts (default 10k,100k,1M; quick 10k)")
    p.add_argument(
        "--verify-up-to",
        type=int,
        default=1_000_000,
        help="run the full verify after settlements of at most this many holders (default 1M)",
    )
    p.add_argument("--output", default=str(RESULTS_DIR / "latest.json"))
    args = p.parse_args(argv)
    if args.duration is None:
        args.duration = 3.0 if args.quick else 10.0
    args.warmup = 0.5 if args.quick else 2.0
    if args.listings is None:
        args.listings = [10_000] if args.quick else [100_000]
    if args.sizes is None:
        args.sizes = [10_000] if args.quick else [10_000, 100_000, 1_000_000]
    selected: list[str] = []
    for name in args.only or ["purchases", "http", "pgbench", "settlement", "market", "simulator"]:
        selected += [n for n in NAMES[name] if n not in selected]
    args.selected = selected
    return args


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in ("purchases/s", "tps", "trades/s"):
        return f"{value:,.1f} {unit}"
    if unit == "s":
        return f"{value:,.2f} s"
    return f"{value:.2f} {unit}"


def render(console: Console, facts: dict[str, Any], results: list[Result], notes: list[str]) -> None:
    pg = facts.get("postgresql") or "not used"
    title = (
        f"sharebuy benchmarks — {facts['cpu_model']}, {facts['logical_cpus']} logical CPUs "
        f"({facts.get('physical_cores')} cores), {facts['ram_gb']} GB RAM; Python {facts['python']}, "
        f"SQLite {facts['sqlite']} (synchronous {facts['sqlite_synchronous']}), PostgreSQL {pg}"
    )
    table = Table(title=title, caption="\n".join(notes), caption_justify="left", show_lines=True)
    table.add_column("Benchmark")
    table.add_column("Database")
    table.add_column("Config")
    table.add_column("Result", justify="right")
    table.add_column("Peak RSS", justify="right")
    table.add_column("Target")
    table.add_column("Met")
    table.add_column("Details", overflow="fold", max_width=90)
    for r in results:
        met = "" if r.met is None else ("[green]yes[/]" if r.met else "[red]NO[/]")
        table.add_row(
            r.benchmark,
            r.database,
            r.config,
            _fmt(r.value, r.unit) if r.error is None else "[red]FAILED[/]",
            "" if r.peak_rss_mb is None else f"{r.peak_rss_mb:,.0f} MB",
            r.target,
            met,
            r.details if r.error is None else f"[red]{r.error}[/]",
        )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=220)
    err = Console(stderr=True)
    started = datetime.now(UTC)
    facts = machine(args.pg_url)
    pg_ok = bool(args.pg_url) and not str(facts.get("postgresql") or "").startswith("unreachable")
    results: list[Result] = []
    notes = [
        "Purchases: record_purchase(amount 88.00, seal=True default), fixed duration after warm-up; "
        "PostgreSQL workers are separate processes, each its own engine and merchant (shared rows: "
        "platform accounts, chain head). verify(CHECKS) must pass after every run.",
        "Settlement peak RSS: VmHWM (peak resident set) of a fresh process that runs only settle(), "
        "so it includes the interpreter and imports; Details give peak minus the RSS just before "
        "settle(). The database server's memory is not included. Seeding is bulk SQL, untimed.",
    ]
    if not args.pg_url:
        notes.append(
            "PostgreSQL rows skipped: no --pg-url, SHAREBUY_BENCH_POSTGRES_URL or SHAREBUY_TEST_POSTGRES_URL."
        )
    elif not pg_ok:
        notes.append(f"PostgreSQL rows skipped: {facts.get('postgresql')}")

    def attempt(label: str, fn: Callable[[], list[Result]], failed: Result) -> list[Result]:
        err.print(f"[bold]▶ {label}[/] …")
        t0 = time.perf_counter()
        try:
            rows = fn()
        except Exception as error:
            traceback.print_exc()
            failed.error = f"{type(error).__name__}: {str(error)[:500]}"
            failed.met = False
            rows = [failed]
        err.print(f"  done in {time.perf_counter() - t0:.1f}s")
        results.extend(rows)
        _write(args.output, started, facts, args, results, notes)
        return rows

    pg_rows: list[Result] = []
    http_rows: list[Result] = []
    pgb: list[Result] = []
    for name in args.selected:
        if (name.endswith("-pg") or name in ("pgbench", "http", "market")) and not pg_ok:
            continue
        if name == "purchases-sqlite":
            attempt(
                "purchases on SQLite",
                lambda: purchases.run_sqlite(args.warmup, args.duration),
                Result("purchases", "sqlite", "1 proc", None, "purchases/s"),
            )
        elif name == "sqlite-floor":
            attempt(
                "purchases on SQLite: the same statements without the application",
                sqlite_floor.run_sqlite,
                Result("purchases, SQLite's own work", "sqlite", "", None, "purchases/s"),
            )
        elif name == "purchases-pg":
            pg_rows = attempt(
                f"purchases on PostgreSQL ({', '.join(map(str, args.workers))} processes)",
                lambda: purchases.run_postgres(args.pg_url, args.workers, args.warmup, args.duration),
                Result("purchases", "postgresql", "", None, "purchases/s"),
            )
        elif name == "http":
            http_rows = attempt(
                "purchases over HTTP on PostgreSQL (1, 8, 32 clients)",
                lambda: http_purchases.run_postgres(args.pg_url, [1, 8, 32], args.warmup, args.duration),
                Result("purchases over HTTP", "postgresql", "", None, "purchases/s"),
            )
        elif name == "pgbench":
            pgb = attempt(
                "pgbench TPC-B",
                lambda: [pgbench.row(pgbench.measure(args.pg_url, round(args.duration)))],
                Result("pgbench TPC-B", "postgresql", "", None, "tps"),
            )
        elif name == "settlement-sqlite":
            rows = attempt(
                f"settlement on SQLite ({', '.join(f'{n:,}' for n in args.sizes)} holders)",
                lambda: settlement.run_sqlite(args.sizes, args.verify_up_to),
                Result("settlement", "sqlite", "", None, "s"),
            )
            scaling = settlement.scaling_row("sqlite", rows)
            if scaling:
                results.append(scaling)
        elif name == "settlement-pg":
            rows = attempt(
                f"settlement on PostgreSQL ({', '.join(f'{n:,}' for n in args.sizes)} holders)",
                lambda: settlement.run_postgres(args.pg_url, args.sizes, args.verify_up_to),
                Result("settlement", "postgresql", "", None, "s"),
            )
            scaling = settlement.scaling_row("postgresql", rows)
            if scaling:
                results.append(scaling)
        elif name == "market":
            attempt(
                f"market on PostgreSQL: trades/s ({', '.join(map(str, args.workers))} processes), "
                f"quick buy over {args.listings[0]:,} listings",
                lambda: market.run_postgres(
                    args.pg_url,
                    args.workers,
                    args.warmup,
                    args.duration,
                    args.listings[0],
                    40 if args.quick else 200,
                ),
                Result("market", "postgresql", "", None, "trades/s"),
            )
        elif name == "simulator":
            attempt(
                "economy simulator: against radCAD 0.14, and at 1M consumers × 365 days",
                lambda: simulator.run(args.quick),
                Result("simulator", "—", "", None, "s"),
            )
        if pg_rows and pgb and not any(r.benchmark == "purchases ÷ pgbench" for r in results):
            ratio = _ratio(pg_rows, pgb[0])
            if ratio is not None:
                # Place the ratio right after the pgbench row.
                results.insert(results.index(pgb[0]) + 1, ratio)
        if http_rows and pgb and not any(r.benchmark == "HTTP purchases ÷ pgbench" for r in results):
            ratio = _ratio(http_rows, pgb[0], "HTTP purchases ÷ pgbench", HTTP_RATIO_TARGET)
            if ratio is not None:
                results.insert(results.index(pgb[0]) + 1, ratio)

    _write(args.output, started, facts, args, results, notes)
    render(console, facts, results, notes)
    console.print(f"results written to {os.path.relpath(args.output)}")
    return 1 if any(r.error for r in results) else 0


def _ratio(
    pg_rows: list[Result], pgb: Result, label: str = "purchases ÷ pgbench", target: float = RATIO_TARGET
) -> Result | None:
    ok = [r for r in pg_rows if r.error is None and r.value]
    if not ok or pgb.error is not None or not pgb.value:
        return None
    best = max(ok, key=lambda r: r.value or 0.0)
    value = best.value / pgb.value  # type: ignore[operator]
    others = ", ".join(f"{r.config}: {r.value / pgb.value:.3f}" for r in ok if r is not best)  # type: ignore[operator]
    return Result(
        benchmark=label,
        database="postgresql",
        config=f"{best.config} ÷ TPC-B",
        value=value,
        unit="",
        target=f"≥ {target}",
        met=value >= target,
        details=f"{best.value:,.1f} purchases/s ÷ {pgb.value:,.1f} tps" + (f"; {others}" if others else ""),
        data={"ratio": value, "purchases_per_s": best.value, "pgbench_tps": pgb.value},
    )


def _write(
    path: str,
    started: datetime,
    facts: dict[str, Any],
    args: argparse.Namespace,
    results: list[Result],
    notes: list[str],
) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    doc = {
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "machine": facts,
        "options": {
            "quick": args.quick,
            "selected": args.selected,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "pg_workers": args.workers,
            "settlement_sizes": args.sizes,
            "market_listings": args.listings,
            "verify_up_to": args.verify_up_to,
            "pg_server": _redact(args.pg_url),
        },
        "notes": notes,
        "results": [r.as_dict() for r in results],
    }
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(doc, fh, indent=2, ensure_ascii=False, default=str)
    os.replace(tmp, path)


def _redact(url: str | None) -> str | None:
    if not url:
        return None
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    sys.exit(main())
