"""Run a state-changing request at most once per (caller, key).

The record of the first answer is written by a commit hook inside the very transaction that
makes the change (see `db.uow.commit_hook`), so the change and its record commit together or
not at all.  A retry with the same key and the same request gets the recorded answer; the same
key with another request is refused (422); a duplicate racing the first one loses on the unique
index, its whole transaction rolls back, and it is answered 409.
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

from sharebuy.db.uow import UnitOfWork, commit_hook, reading, reading_one, transaction
from sharebuy.idempotency.models import idempotency_records
from sharebuy.kernel.errors import Conflict, InvalidInput

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


def _recorded(conn: Connection, request: Request) -> Answer | None:
    row = (
        conn.execute(
            select(idempotency_records).where(
                idempotency_records.c.scope == request.scope, idempotency_records.c.key == request.key
            )
        )
        .mappings()
        .first()
    )
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


def _write(conn: Connection, request: Request, status_code: int, body: Any) -> None:
    conn.execute(
        insert(idempotency_records).values(
            scope=request.scope,
            key=request.key,
            method=request.method,
            path=request.path,
            fingerprint=request.fingerprint,
            status_code=status_code,
            response=json.dumps(body, ensure_ascii=False, default=str),
            created_at=datetime.now(UTC),
        )
    )


def _in_progress(request: Request) -> Conflict:
    return Conflict(
        "idempotency_in_progress",
        "使用同一 Idempotency-Key 的请求正在处理或刚刚完成，请稍后重试以取得结果",
        "a request with the same Idempotency-Key is in progress or has just finished; retry to get its answer",
        key=request.key,
    )


def run(
    engine: Engine,
    request: Request,
    effect: Callable[[], T],
    render: Callable[[T], tuple[int, Any]],
    *,
    atomic: bool = True,
) -> Answer:
    """Answer `request` once: replay a recorded answer, or run `effect` and record `render(result)`.

    `atomic=True` writes the record inside the effect's own transaction (the effect must open
    exactly one writing transaction through `db.uow.transaction`).  `atomic=False` is for
    effects that are idempotent by themselves (a day's settlement): the record follows them.
    """
    with reading_one(engine) as conn:
        earlier = _recorded(conn, request)
    if earlier is not None:
        return earlier
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
        with reading(engine) as conn:
            raced = conn.execute(
                select(idempotency_records.c.id).where(
                    idempotency_records.c.scope == request.scope, idempotency_records.c.key == request.key
                )
            ).first()
        if raced is None:
            raise
        raise _in_progress(request) from None
    status_code, body = answer[0]
    return Answer(status_code, body, False)
