"""The cost of a journal partitioned by month: purchases and a settlement, plain vs partitioned.

    python -m bench.partitions_ab --pg-url URL [--holders 100000] [--duration 10] [--workers 1]

Everything runs inside the one database of URL, in two schemas of its own (bench_plain,
bench_partitioned, dropped at the end): no other database on the server is touched.  Each
variant gets the same fresh world; the partitioned one is converted with
`sharebuy.ledger.partitions.convert` before any benchmark entry is written, as an operator
would run `sharebuy db partition-journal` once.
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import date
from typing import Any

from sqlalchemy import create_engine, make_url, text

from bench import purchases, settlement
from bench.common import migrated_engine
from sharebuy.db.engine import normalise_url
from sharebuy.kernel.clock import business_day, utcnow
from sharebuy.ledger import partitions

VARIANTS = ("plain", "partitioned")


def _schema_url(pg_url: str, schema: str) -> str:
    url = make_url(normalise_url(pg_url)).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def _fresh(pg_url: str, variant: str, since: date) -> str:
    schema = f"bench_{variant}"
    admin = create_engine(normalise_url(pg_url))
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    url = _schema_url(pg_url, schema)
    engine = migrated_engine(url)
    if variant == "partitioned":
        partitions.convert(engine, business_day(utcnow()), since=since)
    engine.dispose()
    return url


def _drop(pg_url: str) -> None:
    admin = create_engine(normalise_url(pg_url))
    with admin.begin() as conn:
        for variant in VARIANTS:
            conn.execute(text(f"DROP SCHEMA IF EXISTS bench_{variant} CASCADE"))
    admin.dispose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.partitions_ab", description=__doc__.split("\n\n")[0])
    p.add_argument("--pg-url", default=os.environ.get("SHAREBUY_BENCH_POSTGRES_URL"))
    p.add_argument("--holders", type=int, default=100_000)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--skip", choices=("purchases", "settlement"), action="append", default=[])
    p.add_argument("--rounds", type=int, default=1, help="alternate the variants this many times")
    args = p.parse_args(argv)
    if not args.pg_url:
        p.error("--pg-url (or SHAREBUY_BENCH_POSTGRES_URL) is required")
    out: dict[str, Any] = {}
    # Alternating (plain, partitioned, partitioned, plain, ...) spreads a busy machine's noise
    # over both variants instead of charging it to whichever ran second.
    order = [v for r in range(args.rounds) for v in (VARIANTS if r % 2 == 0 else VARIANTS[::-1])]
    try:
        for run, variant in enumerate(order):
            found: dict[str, Any] = {}
            if "purchases" not in args.skip:
                url = _fresh(args.pg_url, variant, purchases.START)
                m = purchases.measure(url, args.workers, 2.0, args.duration)
                found["purchases_per_s"] = round(m["purchases_per_s"], 1)
                found["purchase_ms"] = {k: round(v, 2) for k, v in m["latency_ms"].items() if v is not None}
                found["purchases_verify_s"] = round(m["verify_s"], 2)
            if "settlement" not in args.skip:
                # The benchmark's entries are dated on its own START: the months start there.
                url = _fresh(args.pg_url, variant, settlement.START)
                m = settlement.measure(url, args.holders, verify_up_to=args.holders)
                found["settle_s"] = round(m["seconds"], 2)
                found["settle_child_wall_s"] = round(m["child_wall_s"], 2)
                found["settlement_verify_s"] = round(m["verify_s"], 2)
                found["settle_phases_s"] = {k: round(v, 2) for k, v in m["phases"].items() if v is not None}
            out[f"{run}:{variant}"] = found
            print(json.dumps({variant: found}), flush=True)
    finally:
        _drop(args.pg_url)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
