"""CLI fixtures: every scenario runs on a fresh SQLite file and, when configured, on PostgreSQL.

The project's `engine` fixture (tests/conftest.py) decides the database: on SQLite the CLI gets a
brand-new file `x.db` beside it, so `sharebuy init` must migrate it itself; on PostgreSQL it gets
the database of SHAREBUY_TEST_POSTGRES_URL, migrated once and truncated before each test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sharebuy.kernel import caches
from tests.cli.harness import Cli, reset_state


@pytest.fixture
def db_url(engine: Engine, tmp_path: Path) -> str:
    if engine.dialect.name == "sqlite":
        return f"sqlite:///{tmp_path / 'x.db'}"
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def migrated_url(engine: Engine) -> str:
    """A database with the schema in place but never initialised (as after `sharebuy db upgrade`)."""
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def env_db_path(tmp_path: Path) -> Path:
    """Where SHAREBUY_DATABASE_URL points during a test: only commands without --db may touch it."""
    return tmp_path / "from-env.db"


@pytest.fixture
def cli(
    db_url: str, env_db_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Cli]:
    monkeypatch.delenv("SHAREBUY_LANG", raising=False)
    monkeypatch.setenv("SHAREBUY_DATABASE_URL", f"sqlite:///{env_db_path}")
    caches.clear()
    reset_state()
    yield Cli(monkeypatch, capsys, db_url)
    reset_state()
    caches.clear()
