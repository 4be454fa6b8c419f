"""Shared helpers for the benchmarks: results, machine facts, and dedicated databases.

Every benchmark builds its own database: SQLite files in a temporary directory, or a dedicated
PostgreSQL database created and dropped through an admin connection to `postgres` on the server
named by --pg-url.  Nothing here touches the database that URL itself names.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import platform
import queue
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from sharebuy.db import migrate
from sharebuy.db.engine import make_engine
from sharebuy.kernel import caches

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"

# Another name (SHAREBUY_BENCH_DB, e.g. sharebuy_bench_mine) keeps two checkouts benchmarking
# on one server apart.
BENCH_DB = os.environ.get("SHAREBUY_BENCH_DB", "sharebuy_bench")
PGBENCH_DB = "sharebuy_pgbench"


@dataclass
class Result:
    """One row of the results table."""

    benchmark: str
    database: str
    config: str
    value: float | None
    unit: str
    target: str = ""
    met: bool | None = None
    peak_rss_mb: float | None = None
    details: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- machine -----------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _physical_cores() -> int | None:
    try:
        pairs = set()
        phys = core = None
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("physical id"):
                phys = line.split(":", 1)[1].strip()
            elif line.startswith("core id"):
                core = line.split(":", 1)[1].strip()
            elif not line.strip() and core is not None:
                pairs.add((phys, core))
                phys = core = None
        if core is not None:
            pairs.add((phys, core))
        return len(pairs) or None
    except OSError:
        return None


def _git_commit() -> str | None:
    """The checked-out commit, read from .git without running git."""
    try:
        head = (ROOT / ".git" / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        path = ROOT / ".git" / ref
        if path.exists():
            return path.read_text().strip()
        packed = ROOT / ".git" / "packed-refs"
        if packed.exists():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split()[0]
    except OSError:
        pass
    return None


def machine(pg_url: str | None) -> dict[str, Any]:
    ram = _ram_bytes()
    facts: dict[str, Any] = {
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": _physical_cores(),
        "ram_gb": round(ram / 2**30, 1) if ram else None,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "os": f"{platform.system()} {platform.release()}",
        "sqlite_synchronous": os.environ.get("SHAREBUY_SQLITE_SYNCHRONOUS", "FULL (default)"),
        "git_commit": _git_commit(),
        "postgresql": None,
    }
    if pg_url:
        try:
            with psycopg.connect(admin_dsn(pg_url), autocommit=True) as conn:
                facts["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
                settings = dict(
                    conn.execute(
                        "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name IN "
                        "('shared_buffers', 'synchronous_commit', 'fsync', 'max_connections', 'work_mem')"
                    ).fetchall()
                )
                facts["postgresql_settings"] = settings
        except psycopg.Error as error:
            facts["postgresql"] = f"unreachable: {error}".strip()
    return facts


# -- PostgreSQL databases ------------------------------------------------------------------


def _url(pg_url: str, database: str) -> URL:
    return make_url(pg_url).set(drivername="postgresql", database=database)


def admin_dsn(pg_url: str) -> str:
    """libpq DSN of the `postgres` database on the server of `pg_url`."""
    return libpq_dsn(pg_url, "postgres")


def libpq_dsn(pg_url: str, database: str) -> str:
    u = _url(pg_url, database)
    parts = {
        "host": u.host or "127.0.0.1",
        "port": u.port or 5432,
        "user": u.username,
        "password": u.password,
        "dbname": database,
    }
    return " ".join(f"{k}={v}" for k, v in parts.items() if v is not None)


def db_url(pg_url: str, database: str) -> str:
    return _url(pg_url, database).render_as_string(hide_password=False)


def pg_server(pg_url: str) -> dict[str, Any]:
    u = _url(pg_url, "postgres")
    return {"host": u.host or "127.0.0.1", "port": u.port or 5432, "user": u.username, "password": u.password}


def recreate_database(pg_url: str, database: str) -> str:
    """Drop and create `database` on the server; returns its SQLAlchemy URL."""
    drop_database(pg_url, database)
    with psycopg.connect(admin_dsn(pg_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    return db_url(pg_url, database)


def drop_database(pg_url: str, database: str) -> None:
    if not re.fullmatch(r"sharebuy_(bench|pgbench)\w*", database):
        raise ValueError(f"refusing to drop {database!r}: not a benchmark database")
    with psycopg.connect(admin_dsn(pg_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


def migrated_engine(url: str) -> Any:
    """A fresh engine on a fresh, migrated database (process caches cleared: same URL, new db)."""
    caches.clear()
    engine = make_engine(url)
    migrate.upgrade(engine)
    return engine


def run(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run(
        cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done.stdout + done.stderr


# -- worker processes ------------------------------------------------------------------------


def run_workers(
    target: Any, argument_sets: list[tuple[Any, ...]], seconds: float, what: str
) -> list[dict[str, Any]]:
    """Start one spawned process per argument set, all meeting at a barrier, and collect one
    report each; `target(*args, barrier, out)` puts a dict on `out` (with "error" if it failed)."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(len(argument_sets)), ctx.Queue()
    procs = [
        ctx.Process(target=target, args=(*args, barrier, out), name=f"bench-{what}-{i}")
        for i, args in enumerate(argument_sets)
    ]
    for p in procs:
        p.start()
    results: list[dict[str, Any]] = []
    limit = time.monotonic() + seconds + 300
    try:
        while len(results) < len(procs):
            try:
                results.append(out.get(timeout=max(1.0, limit - time.monotonic())))
            except queue.Empty:
                raise RuntimeError(f"{what} workers did not report in time") from None
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
                p.join(timeout=10)
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise RuntimeError(f"a {what} worker failed:\n" + errors[0])
    return results


@contextmanager
def sqlite_synchronous(mode: str) -> Iterator[None]:
    """Engines made inside the block (and processes started in it) use SQLite's synchronous=`mode`."""
    before = os.environ.get("SHAREBUY_SQLITE_SYNCHRONOUS")
    os.environ["SHAREBUY_SQLITE_SYNCHRONOUS"] = mode
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("SHAREBUY_SQLITE_SYNCHRONOUS", None)
        else:
            os.environ["SHAREBUY_SQLITE_SYNCHRONOUS"] = before
