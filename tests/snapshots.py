"""A database put back as it was, as often as a test needs: `with Snapshot(engine) as saved:
... saved.restore()`.

For tests whose examples share one database, such as a Hypothesis state machine that calls the
app: Hypothesis replays the choices of earlier examples and expects what it saw then, so every
example has to start from the same rows, not from what the examples before it left behind.

SQLite: the whole file, copied into memory and back with SQLite's backup API (exact, and safe
with the WAL).  PostgreSQL: every table's rows copied into temporary tables of a connection kept
for the purpose; a restore empties the tables, copies the rows back and puts every sequence back
where it was, in one transaction and one round trip.  Either way the process-wide caches of rows
are cleared, as after any rebuild of the database under the same URL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from sqlalchemy import Connection, Engine, text

from sharebuy.db.schema import metadata
from sharebuy.kernel import caches


class Snapshot:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._file: sqlite3.Connection | None = None
        self._keeper: Connection | None = None
        self._restore_sql = ""
        if engine.dialect.name == "sqlite":
            self._file = sqlite3.connect(":memory:", check_same_thread=False)
            with self._live_file() as live:
                live.backup(self._file)
        else:
            self._keeper = engine.connect()
            self._restore_sql = _save_postgres(self._keeper)

    @contextmanager
    def _live_file(self) -> Iterator[sqlite3.Connection]:
        raw = self.engine.raw_connection()
        try:
            live = raw.driver_connection
            assert isinstance(live, sqlite3.Connection)
            yield live
        finally:
            raw.close()

    def restore(self) -> None:
        if self._file is not None:
            with self._live_file() as live:
                self._file.backup(live)
        else:
            assert self._keeper is not None
            with self._keeper.begin():
                self._keeper.exec_driver_sql(self._restore_sql)
        caches.clear()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._keeper is not None:
            # The temporary tables die with the session, not with the pool's checkin.
            with self._keeper.begin():
                self._keeper.exec_driver_sql("DISCARD TEMP")
            self._keeper.close()
            self._keeper = None

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def _save_postgres(conn: Connection) -> str:
    """Copy the rows aside; return the statements that put them back."""
    names = [table.name for table in metadata.sorted_tables]
    with conn.begin():
        for name in names:
            conn.exec_driver_sql(f'CREATE TEMPORARY TABLE "saved_{name}" AS TABLE "{name}"')
        sequences = conn.execute(
            text(
                "SELECT format('%I.%I', schemaname, sequencename), last_value, start_value "
                "FROM pg_sequences WHERE schemaname = current_schema()"
            )
        ).all()
    statements = [f'DELETE FROM "{name}"' for name in reversed(names)]
    statements += [f'INSERT INTO "{name}" TABLE "saved_{name}"' for name in names]
    statements += [
        f"SELECT setval('{sequence}', {start if last is None else last}, {last is not None})"
        for sequence, last, start in sequences
    ]
    return ";\n".join(statements)
