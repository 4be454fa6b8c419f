"""Run a state-changing request at most once per (caller, key).

The record of the first answer is written by a commit hook inside the very transaction that
makes the change (see `db.uow.commit_hook`), so the change and its record commit together or
not at all.  A retry with the same key and the same request gets the recorded answer; the same
key with another request is refused (422); a duplicate racing the first one loses on the unique
index, its whole transaction rolls back, and it is answered 409.

An optimistic run (`optimistic=True`, for effects that write only inside their one transaction,
such as a purchase) skips the read before the effect, a round trip on every request: a key
seen before makes the record's INSERT fail on the unique index, which rolls the effect back
whole, or makes the effect refuse (the sale is already recorded).  Only then is the record
read, and the answer is the one the read before the effect would have given: the record
written before this request began is replayed (or refused, 422, for another request), one
written while it ran is a racing duplicate (409).  "Before" is told by the record's
`created_at` against the moment this request began, both from the servers' clocks: within the
instant between a record's INSERT and its COMMIT, or within the skew between two servers'
clocks, a duplicate may get the committed first answer where a read would have said 409, or
409 where it would have replayed; either answer is safe, and nothing takes effect twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from sharebuy.db.prepared import Prepared
from sharebuy.db.uow import UnitOfWork, commit_hook, reading, reading_one, transaction
from sharebuy.idempotency.models import idempotency_records
from sharebuy.kernel.errors import Conflict, InvalidInput, SharebuyError

T = TypeVar("T")
MAX_KEY_LENGTH = 128


@dataclass(frozen=True)
class Request:
    scope: str
    key: str
    method: str
    path: str
    fingerprint: str


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: Any
    replayed: bool


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{method.upper()} {path}\n{canonical}".encode()).hexdigest()


def check_key(key: str) -> str:
    if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(
            "invalid_idempotency_key",
            f"Idempotency-Key 应为 1–{MAX_KEY_LENGTH} 个可打印字符",
            f"Idempotency-Key must be 1–{MAX_KEY_LENGTH} printable characters",
        )
    return key


def _row(conn: Connection, request: Request) -> Any:
    return (
        conn.execute(
            select(idempotency_records).where(
                idempotency_records.c.scope == request.scope, idempotency_records.c.key == request.key
            )
        )
        .mappings()
        .first()
    )


def _recorded(conn: Connection, request: Request) -> Answer | None:
    return _answer(request, _row(conn, request))


def _answer(request: Request, row: Any) -> Answer | None:
    """The replay of a recorded answer, or 422 when the key was used for another request."""
    if row is None:
        return None
    if row["fingerprint"] != request.fingerprint:
        raise InvalidInput(
            "idempotency_key_reused",
            "该 Idempotency-Key 已用于另一个不同的请求",
            "this Idempotency-Key was already used for a different request",
            key=request.key,
        )
    return Answer(int(row["status_code"]), json.loads(row["response"]), True)


# Written with every state-changing request: prepared once (db.prepared), no RETURNING.
_insert_record = Prepared(insert(idempotency_records))


def _write(conn: Connection, request: Request, status_code: int, body: Any) -> None:
    _insert_record.run(
        conn,
        {
            "scope": request.scope,
            "key": request.key,
            "method": request.method,
            "path": request.path,
            "fingerprint": request.fingerprint,
            "status_code": status_code,
            "response": json.dumps(body, ensure_ascii=False, default=str),
            "created_at": datetime.now(UTC),
        },
        insert=True,
    )


def _in_progress(request: Request) -> Conflict:
    return Conflict(
        "idempotency_in_progress",
        "使用同一 Idempotency-Key 的请求正在处理或刚刚完成，请稍后重试以取得结果",
        "a request with the same Idempotency-Key is in progress or has just finished; retry to get its answer",
        key=request.key,
    )


def _written_before(row: Any, moment: datetime) -> bool:
    created: datetime = row["created_at"]
    if created.tzinfo is None:  # SQLite hands back UTC without its offset
        created = created.replace(tzinfo=UTC)
    return created < moment


def run(
    engine: Engine,
    request: Request,
    effect: Callable[[], T],
    render: Callable[[T], tuple[int, Any]],
    *,
    atomic: bool = True,
    optimistic: bool = False,
) -> Answer:
    """Answer `request` once: replay a recorded answer, or run `effect` and record `render(result)`.

    `atomic=True` writes the record inside the effect's own transaction (the effect must open
    exactly one writing transaction through `db.uow.transaction`).  `atomic=False` is for
    effects that are idempotent by themselves (a day's settlement): the record follows them.
    `optimistic=True` (with `atomic`) looks for the record only when the effect cannot go
    ahead (see the module's docstring); the effect must write nothing outside its transaction.
    """
    if optimistic and atomic:
        return _run_optimistic(engine, request, effect, render)
    with reading_one(engine) as conn:
        earlier = _recorded(conn, request)
    if earlier is not None:
        return earlier
    return _run_effect(engine, request, effect, render, atomic=atomic)


def _run_optimistic(
    engine: Engine, request: Request, effect: Callable[[], T], render: Callable[[T], tuple[int, Any]]
) -> Answer:
    began = datetime.now(UTC)
    try:
        return _run_effect(engine, request, effect, render, atomic=True, races=False)
    except (IntegrityError, SharebuyError) as error:
        # The record's INSERT lost on the unique index, or the effect refused (a retry's sale
        # is already recorded): only now is the record looked for.
        with reading_one(engine) as conn:
            row = _row(conn, request)
        if row is None:
            raise
        if _written_before(row, began):
            earlier = _answer(request, row)  # the first answer, or 422 for another request
            assert earlier is not None
            return earlier
        if isinstance(error, IntegrityError):
            raise _in_progress(request) from None
        raise  # a record that appeared while this request ran leaves a refusal as it was


def _run_effect(
    engine: Engine,
    request: Request,
    effect: Callable[[], T],
    render: Callable[[T], tuple[int, Any]],
    *,
    atomic: bool,
    races: bool = True,
) -> Answer:
    answer: list[tuple[int, Any]] = []

    def record(conn: Connection, result: Any) -> None:
        status_code, body = render(result)
        _write(conn, request, status_code, body)
        answer.append((status_code, body))

    try:
        if atomic:
            with commit_hook(record):
                result = effect()
        else:
            result = effect()
        if not answer:
            # The effect wrote nothing (a replay inside the service, a no-op): record on our own.
            def alone(uow: UnitOfWork) -> None:
                record(uow.c, result)
                uow.commit()

            transaction(engine, alone)
    except IntegrityError:
        if not races:
            raise
        with reading(engine) as conn:
            raced = _row(conn, request)
        if raced is None:
            raise
        raise _in_progress(request) from None
    status_code, body = answer[0]
    return Answer(status_code, body, False)
