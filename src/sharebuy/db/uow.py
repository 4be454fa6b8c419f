"""Unit of work: a service opens one, does the whole use case, and commits once.

Nothing is written unless `commit()` is called; leaving the block any other way rolls back.
On PostgreSQL a deadlock or serialization failure is retried from the start by `transaction`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

T = TypeVar("T")

# SQLSTATE codes where retrying the whole transaction is the documented remedy.
_RETRYABLE_SQLSTATES = {"40001", "40P01"}


class UnitOfWork:
    def __init__(self, engine: Engine, *, readonly: bool = False) -> None:
        self.engine = engine
        self.readonly = readonly
        self.conn: Connection | None = None
        self._committed = False
        self.after_commit: list[Callable[[], None]] = []

    def __enter__(self) -> UnitOfWork:
        conn = self.engine.connect()
        if self.readonly and conn.dialect.name == "sqlite":
            conn = conn.execution_options(sqlite_begin="DEFERRED")
        self.conn = conn
        conn.begin()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.conn is not None
        try:
            if not self._committed and self.conn.in_transaction():
                self.conn.rollback()
        finally:
            self.conn.close()
        if self._committed and exc[0] is None:
            for hook in self.after_commit:
                hook()

    @property
    def c(self) -> Connection:
        assert self.conn is not None, "unit of work not entered"
        return self.conn

    def commit(self) -> None:
        self.c.commit()
        self._committed = True


def is_retryable(error: BaseException) -> bool:
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        sqlstate = getattr(error.orig, "sqlstate", None)
        if sqlstate in _RETRYABLE_SQLSTATES:
            return True
        if isinstance(error, OperationalError) and "database is locked" in str(error):
            return True
    return False


def transaction(engine: Engine, work: Callable[[UnitOfWork], T], *, attempts: int = 5) -> T:
    """Run `work` in a fresh unit of work, retrying whole transactions the database aborted."""
    for attempt in range(attempts):
        try:
            with UnitOfWork(engine) as uow:
                return work(uow)
        except DBAPIError as error:
            if attempt + 1 >= attempts or not is_retryable(error):
                raise
            time.sleep(random.uniform(0.001, 0.01) * (2**attempt))
    raise AssertionError("unreachable")


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    with UnitOfWork(engine, readonly=True) as uow:
        yield uow.c
