"""Engine construction. Engines are built on demand by the composition root, never at import."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

DEFAULT_URL = "sqlite:///var/sharebuy.db"


def database_url(override: str | None = None) -> str:
    return override or os.environ.get("SHAREBUY_DATABASE_URL") or DEFAULT_URL


def normalise_url(url: str) -> str:
    """Accept plain postgresql:// URLs and route them through psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    url = normalise_url(database_url(url))
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **kwargs)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # No pre-ping round trip per checkout: a connection the server dropped raises a disconnect
    # error, SQLAlchemy invalidates the pool, and uow.transaction retries on a fresh connection.
    return create_engine(url, **kwargs)


# Page cache per connection, in KiB.  SQLite's default of 2 MB holds little more than the hot
# index pages: a purchase then reads evicted pages back from the OS on every statement.
_CACHE_KIB = 32 * 1024
# Pages the WAL may grow to (4 KiB each, about 40 MB) before a commit copies it back into the
# database; the default of 1,000 copies the same hot pages back ten times as often.
_AUTOCHECKPOINT_PAGES = 10_000
_BEGIN = {mode: f"BEGIN {mode}" for mode in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE")}


def sqlite_pragmas(synchronous: str = "FULL") -> list[str]:
    """The settings of every SQLite connection (synchronous: FULL unless NORMAL or EXTRA)."""
    mode = synchronous.upper() if synchronous.upper() in ("FULL", "NORMAL", "EXTRA") else "FULL"
    return [
        "PRAGMA journal_mode=WAL",
        f"PRAGMA synchronous={mode}",
        "PRAGMA foreign_keys=ON",
        "PRAGMA busy_timeout=60000",
        f"PRAGMA cache_size=-{_CACHE_KIB}",
        f"PRAGMA wal_autocheckpoint={_AUTOCHECKPOINT_PAGES}",
    ]


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        directory = os.path.dirname(os.path.abspath(parsed.database))
        os.makedirs(directory, exist_ok=True)
    pragmas = sqlite_pragmas(os.environ.get("SHAREBUY_SQLITE_SYNCHRONOUS", "FULL"))
    engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so that BEGIN IMMEDIATE below is ours.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in pragmas:
            cur.execute(pragma)
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front: a deferred transaction that later upgrades
        # can fail with SQLITE_BUSY instead of waiting, which would turn contention into errors.
        # Straight to the driver: this runs before every transaction, and the statement needs
        # nothing of SQLAlchemy's execution machinery.
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.connection.dbapi_connection.execute(_BEGIN[mode])

    return engine
