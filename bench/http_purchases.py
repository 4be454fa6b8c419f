"""Purchases per second over HTTP: the real server (`sharebuy serve`, 2 worker processes) on
PostgreSQL, driven by an asyncio load generator on the same 2-core machine at 1, 8 and 32
concurrent clients.  Each client is a till with its own POS key and merchant, posting
`POST /api/v1/purchases` with a fresh Idempotency-Key, so every request is a full purchase
(idempotency record, ledger entry, outbox event) and the only shared rows are the platform's.
Afterwards `verify` must pass and the number of purchases in the database must equal the number
of 201 answers.  Beside the rate, the server's CPU per request (user + system time of its worker
processes over the measured seconds, divided by the requests answered): on a shared 2-core machine
the rate moves with whatever else runs, the CPU a request costs much less.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from bench.common import BENCH_DB, Result, drop_database, migrated_engine, recreate_database
from bench.purchases import GRANT, RULES, START
from sharebuy.identity import service as identity
from sharebuy.ledger.service import seal_pending
from sharebuy.ledger.verify import verify
from sharebuy.members import service as members
from sharebuy.rewards import checks, platform_service
from sharebuy.rewards.models import purchases

SERVER_WORKERS = 2
CONSUMERS = 20
P99_TARGET_MS = 50.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_world(url: str, tills: int) -> list[tuple[int, str, list[int]]]:
    """(merchant id, POS key, consumer ids) per till."""
    engine = migrated_engine(url)
    platform_service.initialise(engine, start_day=START, overrides=RULES)
    phones = iter(f"137{n:08d}" for n in range(10**8))
    world = []
    for t in range(tills):
        owner = members.add_consumer(engine, phone=next(phones), name=f"店主{t}")
        shop = members.add_merchant(engine, name=f"基准商家{t}", owner_id=owner, region="441900", rate="0.10")
        members.approve_merchant(engine, shop)
        members.grant_points(engine, shop, GRANT, reason="benchmark bootstrap")
        members.post_deposit(engine, shop)
        key = identity.create_api_key(engine, shop, name=f"till {t}", created_by=None)["key"]
        pool = [members.add_consumer(engine, phone=next(phones)) for _ in range(CONSUMERS)]
        world.append((shop, key, pool))
    engine.dispose()
    return world


def _serve(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SHAREBUY_DATABASE_URL": url, "SHAREBUY_LOG_LEVEL": "WARNING"}
    exe = os.path.join(os.path.dirname(sys.executable), "sharebuy")
    return subprocess.Popen(
        [exe, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(SERVER_WORKERS)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _descendants(pid: int) -> list[int]:
    """The server's processes below `pid` (uvicorn's workers), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of `pids` so far (0 where /proc is not there)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _wait_ready(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the server did not become ready")


async def _load(
    base: str,
    world: list[tuple[int, str, list[int]]],
    clients: int,
    warmup: float,
    duration: float,
    server_cpu: Callable[[], float],
) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    measuring = asyncio.Event()
    stop_at = [float("inf")]

    async def till(index: int, client: httpx.AsyncClient) -> None:
        _shop, key, pool = world[index]
        n = 0
        headers = {"Authorization": f"Bearer {key}"}
        while time.perf_counter() < stop_at[0]:
            n += 1
            body = {"consumer_id": pool[n % len(pool)], "amount": "88.00"}
            t0 = time.perf_counter()
            answer = await client.post(
                "/api/v1/purchases",
                json=body,
                headers={**headers, "Idempotency-Key": f"c{clients}-{index}-{n}"},
            )
            if measuring.is_set():
                latencies.append(time.perf_counter() - t0)
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    # A till sends headers and body in two writes: without TCP_NODELAY, Nagle's algorithm holds
    # the body until the server's delayed ACK (~40 ms on Linux) and the benchmark would measure that.
    transport = httpx.AsyncHTTPTransport(
        limits=limits, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    )
    async with httpx.AsyncClient(base_url=base, transport=transport, timeout=60) as client:
        tasks = [asyncio.create_task(till(i, client)) for i in range(clients)]
        await asyncio.sleep(warmup)
        measuring.set()
        cpu_before = server_cpu()
        started = time.perf_counter()
        stop_at[0] = started + duration
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
        cpu_spent = server_cpu() - cpu_before
    ok = statuses.get(201, 0)
    lat = sorted(latencies)
    return {
        "clients": clients,
        "purchases_per_s": ok / elapsed,
        "requests": len(lat),
        "statuses": statuses,
        "elapsed_s": elapsed,
        "server_cpu_ms_per_request": cpu_spent / len(lat) * 1e3 if lat else None,
        "latency_ms": {
            "p50": lat[len(lat) // 2] * 1e3 if lat else None,
            "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3 if lat else None,
            "mean": statistics.fmean(lat) * 1e3 if lat else None,
        },
    }


def run_postgres(pg_url: str, concurrency: list[int], warmup: float, duration: float) -> list[Result]:
    rows = []
    try:
        for clients in concurrency:
            url = recreate_database(pg_url, BENCH_DB)
            world = build_world(url, clients)
            port = _free_port()
            server = _serve(url, port)
            try:
                base = f"http://127.0.0.1:{port}"
                _wait_ready(base)
                server_cpu = functools.partial(_cpu_seconds, _descendants(server.pid))
                m = asyncio.run(_load(base, world, clients, warmup, duration, server_cpu))
            finally:
                server.terminate()
                server.wait(timeout=30)
            rows.append(_row(m, _check(url, m)))
    finally:
        drop_database(pg_url, BENCH_DB)
    return rows


def _check(url: str, m: dict[str, Any]) -> dict[str, Any]:
    engine = migrated_engine(url)
    try:
        seal_pending(engine, wait=True)
        report = verify(engine, checks.CHECKS)
        with engine.connect() as conn:
            stored = int(conn.execute(select(func.count()).select_from(purchases)).scalar_one())
    finally:
        engine.dispose()
    if not report.ok:
        raise AssertionError(f"verify failed after the HTTP run: {report.as_dict()}")
    return {"verify_ok": report.ok, "purchases_stored": stored}


def _row(m: dict[str, Any], checked: dict[str, Any]) -> Result:
    lat = m["latency_ms"]
    met = None
    if m["clients"] == 32 and lat["p99"] is not None:
        met = lat["p99"] <= P99_TARGET_MS
    return Result(
        benchmark="purchases over HTTP",
        database="postgresql",
        config=f"{m['clients']} client{'s' if m['clients'] > 1 else ''}, {SERVER_WORKERS} server workers",
        value=m["purchases_per_s"],
        unit="purchases/s",
        target=f"p99 ≤ {P99_TARGET_MS:.0f} ms" if m["clients"] == 32 else "",
        met=met,
        details=(
            f"{m['requests']} requests in {m['elapsed_s']:.1f}s, statuses {m['statuses']}; latency p50 "
            f"{lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms; server CPU {m['server_cpu_ms_per_request']:.2f} ms "
            f"per request; verify ok, {checked['purchases_stored']} purchases stored"
        ),
        data={**m, **checked},
    )
