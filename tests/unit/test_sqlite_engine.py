"""Every SQLite connection is set up the same way: WAL, the chosen durability, foreign keys,
a patient lock wait, a page cache that holds the hot pages, and a WAL that is not copied back
after every few hundred purchases."""

from __future__ import annotations

from pathlib import Path

import pytest

from sharebuy.db.engine import make_engine


@pytest.mark.parametrize("mode", ["FULL", "NORMAL"])
def test_connections_carry_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    monkeypatch.setenv("SHAREBUY_SQLITE_SYNCHRONOUS", mode)
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None

            def pragma(name: str) -> object:
                return raw.execute(f"PRAGMA {name}").fetchone()[0]

            assert pragma("journal_mode") == "wal"
            assert pragma("synchronous") == {"FULL": 2, "NORMAL": 1}[mode]
            assert pragma("foreign_keys") == 1
            assert pragma("busy_timeout") == 60000
            assert pragma("cache_size") == -32768
            assert pragma("wal_autocheckpoint") == 10000
    finally:
        engine.dispose()


def test_an_unknown_durability_falls_back_to_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHAREBUY_SQLITE_SYNCHRONOUS", "OFF")
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            assert raw.execute("PRAGMA synchronous").fetchone()[0] == 2
    finally:
        engine.dispose()
