"""pgbench TPC-B on the same server, as a yardstick for the purchase rate."""

from __future__ import annotations

import re
import shutil
from typing import Any

from bench.common import PGBENCH_DB, Result, drop_database, pg_server, recreate_database, run

CLIENTS = 4
THREADS = 2
SCALE = 1


def measure(pg_url: str, duration: int) -> dict[str, Any]:
    exe = shutil.which("pgbench")
    if exe is None:
        raise RuntimeError("pgbench is not on PATH")
    server = pg_server(pg_url)
    conn = ["-h", str(server["host"]), "-p", str(server["port"])]
    if server["user"]:
        conn += ["-U", str(server["user"])]
    env = {"PGPASSWORD": str(server["password"])} if server["password"] else {}
    recreate_database(pg_url, PGBENCH_DB)
    try:
        run([exe, *conn, "-i", "-s", str(SCALE), "-q", PGBENCH_DB], env=env, timeout=300)
        out = run(
            [exe, *conn, "-c", str(CLIENTS), "-j", str(THREADS), "-T", str(duration), PGBENCH_DB],
            env=env,
            timeout=duration + 120,
        )
    finally:
        drop_database(pg_url, PGBENCH_DB)
    found = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out) or re.search(
        r"tps = ([0-9.]+)", out
    )
    if found is None:
        raise RuntimeError(f"could not read tps from pgbench output:\n{out}")
    lat = re.search(r"latency average = ([0-9.]+) ms", out)
    txs = re.search(r"number of transactions actually processed: (\d+)", out)
    return {
        "tps": float(found.group(1)),
        "latency_avg_ms": float(lat.group(1)) if lat else None,
        "transactions": int(txs.group(1)) if txs else None,
        "clients": CLIENTS,
        "threads": THREADS,
        "scale": SCALE,
        "duration_s": duration,
        "output_tail": out.strip().splitlines()[-8:],
    }


def row(m: dict[str, Any]) -> Result:
    return Result(
        benchmark="pgbench TPC-B",
        database="postgresql",
        config=f"-s {m['scale']} -c {m['clients']} -j {m['threads']} -T {m['duration_s']}",
        value=m["tps"],
        unit="tps",
        details=f"{m['transactions']} transactions, latency avg {m['latency_avg_ms']} ms",
        data=m,
    )
