"""Bulk writes for the daily release: COPY on PostgreSQL, executemany on SQLite.

Both run inside the caller's transaction on the caller's connection, so a bulk write commits or
rolls back with the rest of the use case.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection


def _driver(conn: Connection) -> Any:
    return conn.connection.driver_connection


def insert_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    cols = ", ".join(columns)
    raw = _driver(conn)
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join("?" for _ in columns)
        cur = raw.cursor()
        try:
            cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)
        finally:
            cur.close()


def add_to_balances(conn: Connection, deltas: Iterable[tuple[int, int]]) -> None:
    """balance += delta for many accounts. The caller has locked the rows (in id order).

    The table's CHECK constraints still guard signs: a violation aborts the whole transaction.
    """
    raw = _driver(conn)
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS tmp_balance_deltas "
                "(id BIGINT PRIMARY KEY, delta BIGINT NOT NULL) ON COMMIT DELETE ROWS"
            )
            with cur.copy("COPY tmp_balance_deltas (id, delta) FROM STDIN") as copy:
                for row in deltas:
                    copy.write_row(row)
            cur.execute(
                "UPDATE ledger_accounts a SET balance = a.balance + t.delta "
                "FROM tmp_balance_deltas t WHERE a.id = t.id"
            )
            cur.execute("DELETE FROM tmp_balance_deltas")
    else:
        cur = raw.cursor()
        try:
            cur.executemany(
                "UPDATE ledger_accounts SET balance = balance + ? WHERE id = ?",
                ((delta, acc) for acc, delta in deltas),
            )
        finally:
            cur.close()
