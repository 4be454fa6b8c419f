"""Unit of work: a service opens one, does the whole use case, and commits once.

Nothing is written unless `commit()` is called; leaving the block any other way rolls back.
On PostgreSQL a deadlock or serialization failure is retried from the start by `transaction`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

T = TypeVar("T")

# SQLSTATE codes where retrying the whole transaction is the documented remedy.
_RETRYABLE_SQLSTATES = {"40001", "40P01"}


# A hook that must be written in the same transaction as a request's effect (its idempotency
# record): `transaction` runs it, with the use case's result, just before the commit.
CommitHook = Callable[[Connection, Any], None]
_commit_hook: ContextVar[CommitHook | None] = ContextVar("sharebuy_commit_hook", default=None)


@contextmanager
def commit_hook(hook: CommitHook) -> Iterator[None]:
    """Attach `hook` to the first transaction that commits inside this block."""
    token = _commit_hook.set(hook)
    try:
        yield
    finally:
        _commit_hook.reset(token)


class UnitOfWork:
    def __init__(self, engine: Engine, *, readonly: bool = False, defer_commit: bool = False) -> None:
        self.engine = engine
        self.readonly = readonly
        self.conn: Connection | None = None
        self._committed = False
        # With a commit hook pending, `commit()` only marks the work done; `transaction` writes
        # the hook's rows and then commits everything at once.
        self._defer = defer_commit
        self.commit_requested = False
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
        if self._defer:
            self.commit_requested = True
            return
        self.commit_now()

    def commit_now(self) -> None:
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
            hook = _commit_hook.get()
            with UnitOfWork(engine, defer_commit=hook is not None) as uow:
                result = work(uow)
                if uow.commit_requested:
                    assert hook is not None
                    hook(uow.c, result)
                    uow.commit_now()
                    _commit_hook.set(None)  # one request, one record: later transactions go plain
                return result
        except DBAPIError as error:
            if attempt + 1 >= attempts or not is_retryable(error):
                raise
            time.sleep(random.uniform(0.001, 0.01) * (2**attempt))
    raise AssertionError("unreachable")


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    with UnitOfWork(engine, readonly=True) as uow:
        yield uow.c


@contextmanager
def reading_one(engine: Engine) -> Iterator[Connection]:
    """A connection for a single reading statement, asked on every request (the caller's key,
    the Idempotency-Key).  On PostgreSQL it runs outside a transaction block: one SELECT sees one
    snapshot either way, and BEGIN and ROLLBACK would be two more round trips each time.  Use
    `reading` for anything of more than one statement."""
    if engine.dialect.name != "postgresql":
        with reading(engine) as conn:
            yield conn
        return
    with engine.connect() as conn:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")
