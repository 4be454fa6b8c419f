"""Test databases: every integration test runs on SQLite and on PostgreSQL, on real migrations.

SQLite: each test gets a copy of a freshly migrated file.  PostgreSQL: the database named by
SHAREBUY_TEST_POSTGRES_URL (one per xdist worker, suffixed with its id) is migrated once and
truncated before each test.  With
SHAREBUY_REQUIRE_POSTGRES=1 (CI) a missing PostgreSQL is an error, not a skip.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text

from sharebuy.db import migrate
from sharebuy.db.engine import make_engine, normalise_url
from sharebuy.db.schema import metadata
from sharebuy.kernel import caches

PG_URL = os.environ.get("SHAREBUY_TEST_POSTGRES_URL")
REQUIRE_PG = os.environ.get("SHAREBUY_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


def _worker_database(url: str, worker: str) -> str:
    """Each pytest-xdist worker gets a database of its own beside the configured one."""
    if worker == "master":
        return url
    base = make_url(normalise_url(url))
    name = f"{base.database}_{worker}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if exists is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("SHAREBUY_TEST_POSTGRES_URL is not set but SHAREBUY_REQUIRE_POSTGRES=1")
        pytest.skip("SHAREBUY_TEST_POSTGRES_URL is not set")
    # Not the `worker_id` fixture: it exists only while xdist is loaded (`-p no:xdist` drops it).
    worker = os.environ.get("PYTEST_XDIST_WORKER", "master")
    engine = make_engine(_worker_database(PG_URL, worker))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def _truncate(engine: Engine) -> None:
    names = ", ".join(t.name for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[Engine]:
    caches.clear()
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(sqlite_template, path)
        eng = make_engine(f"sqlite:///{path}")
        yield eng
        eng.dispose()
    else:
        eng = request.getfixturevalue("pg_engine")
        _truncate(eng)
        yield eng
    caches.clear()


@pytest.fixture
def pg(pg_engine: Engine) -> Iterator[Engine]:
    """PostgreSQL only: for what only PostgreSQL can prove (concurrency)."""
    caches.clear()
    _truncate(pg_engine)
    yield pg_engine
    caches.clear()
