"""Bulk reads and writes for the daily release: COPY on PostgreSQL, executemany on SQLite.

All of them run inside the caller's transaction on the caller's connection, so a bulk write
commits or rolls back with the rest of the use case.

The column-wise functions take and return numpy arrays so that a million rows never become a
million Python objects at once: on PostgreSQL the rows are encoded for a binary COPY by numpy in
one pass (no per-row Python), on SQLite they go to executemany as plain tuples made by
`ndarray.tolist()` in slices.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Executable

# Rows per COPY buffer or executemany batch: bounds the memory a bulk write holds at once.
BATCH_ROWS = 100_000

_PG_EPOCH = np.datetime64("2000-01-01", "D")
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)

# A column is an array (int64 -> BIGINT, int32 -> INTEGER, fixed-width bytes 'S<n>' -> text,
# datetime64[D] -> DATE) or one value for every row (int -> BIGINT, str -> text, date -> DATE).
ColumnValues = npt.NDArray[Any] | int | str | date


def _driver(conn: Connection) -> Any:
    return conn.connection.driver_connection


def tune_for_bulk(conn: Connection) -> None:
    """For the rest of this transaction on PostgreSQL: work_mem for the sorts and hashes of a
    million holders to stay in memory (the server default spills them to disk), and no JIT,
    whose compiling costs more than it saves on these short plans.  SQLite needs nothing."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
        conn.exec_driver_sql("SET LOCAL jit = off")


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


def insert_columns(conn: Connection, table: str, columns: Mapping[str, ColumnValues]) -> None:
    """INSERT one row per array element; every array has the same length, at least one is given."""
    n = next(len(v) for v in columns.values() if isinstance(v, np.ndarray))
    if n == 0:
        return
    cols = ", ".join(columns)
    raw = _driver(conn)
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(_COPY_SIGNATURE)
            for lo in range(0, n, BATCH_ROWS):
                copy.write(_copy_records(columns, lo, min(n, lo + BATCH_ROWS)))
            copy.write(_COPY_TRAILER)
    else:
        marks = ", ".join("?" for _ in columns)
        cur = raw.cursor()
        try:
            cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", _row_tuples(columns, n))
        finally:
            cur.close()


def _copy_records(columns: Mapping[str, ColumnValues], lo: int, hi: int) -> bytes:
    """Rows lo..hi in PostgreSQL's binary COPY format, built as one packed numpy record array:
    per row the field count, then each field's length and big-endian value."""
    values = [_pg_binary(v, lo, hi) for v in columns.values()]
    fields: list[tuple[str, Any]] = [("n", ">i2")]
    for i, v in enumerate(values):
        fields += [(f"l{i}", ">i4"), (f"v{i}", v.dtype)]
    records = np.empty(hi - lo, dtype=np.dtype(fields))
    records["n"] = len(values)
    for i, v in enumerate(values):
        records[f"l{i}"] = v.dtype.itemsize
        records[f"v{i}"] = v
    return records.tobytes()


def _pg_binary(value: ColumnValues, lo: int, hi: int) -> npt.NDArray[Any]:
    """One column (or a constant) in its binary wire form: fixed width, big-endian."""
    value = value[lo:hi] if isinstance(value, np.ndarray) else np.full(hi - lo, _as_array_scalar(value))
    kind = value.dtype.kind
    if kind == "i" and value.dtype.itemsize in (4, 8):
        return value.astype(value.dtype.newbyteorder(">"), copy=False)
    if kind == "M":
        return (value.astype("datetime64[D]") - _PG_EPOCH).astype(">i4")
    if kind == "S":
        # Binary COPY sends each text value with its length: every value must fill the width.
        if len(value) and (np.char.str_len(value) != value.dtype.itemsize).any():
            raise ValueError("text columns must hold values of one fixed width")
        return value
    raise TypeError(f"no binary COPY encoding for {value.dtype}")


def _as_array_scalar(value: int | str | date) -> Any:
    if isinstance(value, bool):
        raise TypeError("booleans are not supported")
    if isinstance(value, int):
        return np.int64(value)
    if isinstance(value, str):
        return np.bytes_(value.encode())
    return np.datetime64(value, "D")


def _row_tuples(columns: Mapping[str, ColumnValues], n: int) -> Iterator[tuple[Any, ...]]:
    """Plain Python tuples for executemany, made in slices with `tolist()` (fast, and bounded in
    memory)."""
    for lo in range(0, n, BATCH_ROWS):
        hi = min(n, lo + BATCH_ROWS)
        yield from zip(*(_python_values(v, lo, hi) for v in columns.values()), strict=False)


def _python_values(value: ColumnValues, lo: int, hi: int) -> Iterable[Any]:
    if not isinstance(value, np.ndarray):
        # SQLAlchemy stores a DATE as its ISO text on SQLite.
        return repeat(value.isoformat() if isinstance(value, date) else value, hi - lo)
    part = value[lo:hi]
    if part.dtype.kind == "M":
        return np.datetime_as_string(part.astype("datetime64[D]")).tolist()
    if part.dtype.kind == "S":
        return np.char.decode(part, "ascii").tolist()
    return part.tolist()


def fetch_ints(conn: Connection, stmt: Executable, columns: int) -> npt.NDArray[np.int64]:
    """Run a SELECT whose columns are all integers; rows come back as an (n, columns) int64 array.

    The rows are read straight from the driver's cursor in batches, never as SQLAlchemy Row
    objects, which at a million rows costs seconds.
    """
    result = conn.execute(stmt)
    cursor = result.cursor
    parts = []
    try:
        while batch := cursor.fetchmany(BATCH_ROWS):
            parts.append(np.array(batch, dtype=np.int64).reshape(-1, columns))
    finally:
        result.close()
    return np.concatenate(parts) if parts else np.zeros((0, columns), dtype=np.int64)


def add_to_balances(conn: Connection, ids: npt.NDArray[np.int64], deltas: npt.NDArray[np.int64]) -> None:
    """balance += delta for many accounts (`ids` distinct). The caller has locked the rows.

    The table's CHECK constraints still guard signs: a violation aborts the whole transaction.
    """
    if len(ids) == 0:
        return
    raw = _driver(conn)
    if conn.dialect.name != "postgresql" or len(ids) <= _FEW_ROWS:
        cur = raw.cursor()
        try:
            mark = "%s" if conn.dialect.name == "postgresql" else "?"
            cur.executemany(
                f"UPDATE ledger_accounts SET balance = balance + {mark} WHERE id = {mark}",
                _row_tuples({"delta": deltas, "id": ids}, len(ids)),
            )
        finally:
            cur.close()
        return
    with raw.cursor() as cur:
        # No key or index: the rows are only ever joined once, by the UPDATE below.
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS tmp_balance_deltas "
            "(id BIGINT NOT NULL, delta BIGINT NOT NULL) ON COMMIT DELETE ROWS"
        )
    insert_columns(conn, "tmp_balance_deltas", {"id": ids, "delta": deltas})
    with raw.cursor() as cur:
        # The id range is redundant for the result but bounds the plan: without it the planner
        # hashes or merge-scans the whole accounts table for every chunk (N² over a release).
        cur.execute(
            "UPDATE ledger_accounts a SET balance = a.balance + t.delta FROM tmp_balance_deltas t "
            "WHERE a.id = t.id AND a.id BETWEEN %s AND %s",
            (int(ids.min()), int(ids.max())),
        )
        cur.execute("TRUNCATE tmp_balance_deltas")


# Up to this many rows, plain UPDATEs beat loading a temporary table.
_FEW_ROWS = 64
