"""One effect per Idempotency-Key, and the first answer on every retry, when the key is not read
before the effect (`optimistic=True`): the record's INSERT in the effect's own transaction is
what finds a key used before.  On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select

from sharebuy.db.uow import UnitOfWork, transaction
from sharebuy.idempotency import service as idempotency
from sharebuy.idempotency.models import idempotency_records
from sharebuy.kernel.errors import Conflict, InvalidInput
from tests.statements import sent_statements

PATH = "/api/v1/things"


def _claim(body: dict[str, Any], key: str = "k-1") -> idempotency.Request:
    return idempotency.Request(
        scope="key:7",
        key=key,
        method="POST",
        path=PATH,
        fingerprint=idempotency.fingerprint("POST", PATH, body),
    )


def _effect(engine: Engine, marker: str, before: Callable[[], None] | None = None) -> Callable[[], str]:
    """An effect that writes one row (a marker under another scope) in its one transaction, as a
    service does; `before` runs first, outside it (a racing request committing its record)."""

    def effect() -> str:
        if before is not None:
            before()

        def work(uow: UnitOfWork) -> str:
            uow.c.execute(
                insert(idempotency_records).values(
                    scope="effect",
                    key=marker,
                    method="POST",
                    path=PATH,
                    fingerprint="-",
                    status_code=0,
                    response="null",
                    created_at=datetime.now(UTC),
                )
            )
            uow.commit()
            return marker

        return transaction(engine, work)

    return effect


def _render(result: str) -> tuple[int, Any]:
    return 201, {"made": result}


def _markers(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(idempotency_records.c.key).where(idempotency_records.c.scope == "effect")
        ).all()
    return sorted(r.key for r in rows)


def _run(engine: Engine, claim: idempotency.Request, effect: Callable[[], str]) -> idempotency.Answer:
    return idempotency.run(engine, claim, effect, _render, optimistic=True)


def test_a_first_request_is_recorded_with_its_effect_and_nothing_is_read(engine: Engine) -> None:
    with sent_statements(engine) as seen:
        answer = _run(engine, _claim({"n": 1}), _effect(engine, "first"))
    assert answer == idempotency.Answer(201, {"made": "first"}, False)
    assert not [s for s in seen if s.lstrip().upper().startswith("SELECT")], seen
    with engine.connect() as conn:
        row = conn.execute(select(idempotency_records).where(idempotency_records.c.scope == "key:7")).one()
    assert row.key == "k-1" and row.status_code == 201 and row.fingerprint == _claim({"n": 1}).fingerprint
    assert _markers(engine) == ["first"]


def test_a_retry_gets_the_first_answer_and_its_second_effect_is_rolled_back(engine: Engine) -> None:
    first = _run(engine, _claim({"n": 1}), _effect(engine, "first"))
    again = _run(engine, _claim({"n": 1}), _effect(engine, "second"))
    assert again == idempotency.Answer(first.status_code, first.body, True)
    assert _markers(engine) == ["first"]


def test_the_key_with_another_request_is_refused_and_changes_nothing(engine: Engine) -> None:
    _run(engine, _claim({"n": 1}), _effect(engine, "first"))
    with pytest.raises(InvalidInput) as refused:
        _run(engine, _claim({"n": 2}), _effect(engine, "second"))
    assert refused.value.code == "idempotency_key_reused"
    assert _markers(engine) == ["first"]


def test_a_duplicate_whose_first_commits_while_it_runs_is_409(engine: Engine) -> None:
    """The first request's record is committed after this one began and before it commits: the
    INSERT loses on the unique index, the effect is rolled back, and the answer is 409, as when
    the key was read first and not yet there."""
    claim = _claim({"n": 1})

    def first_commits() -> None:
        with UnitOfWork(engine) as uow:
            idempotency._write(uow.c, claim, 201, {"made": "first"})
            uow.commit()

    with pytest.raises(Conflict) as raced:
        _run(engine, claim, _effect(engine, "second", before=first_commits))
    assert raced.value.code == "idempotency_in_progress"
    assert _markers(engine) == []


def test_a_retry_the_effect_refuses_gets_the_first_answer(engine: Engine) -> None:
    """A service may refuse a retry itself (its sale is already recorded) before the record's
    INSERT is reached: the recorded answer is still what the caller gets."""
    first = _run(engine, _claim({"n": 1}), _effect(engine, "first"))

    def refuses() -> str:
        raise Conflict("already_done", "已经处理过", "already done")

    assert _run(engine, _claim({"n": 1}), refuses) == idempotency.Answer(201, first.body, True)
    with pytest.raises(InvalidInput) as refused:
        _run(engine, _claim({"n": 2}), refuses)
    assert refused.value.code == "idempotency_key_reused"


def test_a_refusal_without_a_record_before_is_the_answer(engine: Engine) -> None:
    def refuses() -> str:
        raise Conflict("already_done", "已经处理过", "already done")

    with pytest.raises(Conflict) as refused:
        _run(engine, _claim({"n": 1}), refuses)
    assert refused.value.code == "already_done"
    claim = _claim({"n": 1}, key="k-2")

    def first_commits_then_refuses() -> str:
        with UnitOfWork(engine) as uow:
            idempotency._write(uow.c, claim, 201, {"made": "first"})
            uow.commit()
        raise Conflict("already_done", "已经处理过", "already done")

    with pytest.raises(Conflict) as raced:  # a record that appeared meanwhile: the refusal stands
        _run(engine, claim, first_commits_then_refuses)
    assert raced.value.code == "already_done"
    with engine.connect() as conn:
        records = conn.execute(
            select(func.count())
            .select_from(idempotency_records)
            .where(idempotency_records.c.scope == "key:7")
        ).scalar_one()
    assert records == 1  # k-2's, written by its "first"; the refused k-1 left none
