"""Prepared statements run on the driver's cursor must answer exactly as `Connection.execute`:
the same Python values and types, the same SQLAlchemy exceptions, seen by the same listeners."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    BigInteger,
    Boolean,
    Engine,
    String,
    bindparam,
    column,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError

from sharebuy.db.arrays import array_params
from sharebuy.db.prepared import Prepared
from sharebuy.db.uow import UnitOfWork
from sharebuy.ledger.models import accounts, entries
from sharebuy.members.models import members
from tests.integration.world import START, build

_members = select(
    members.c.id, members.c.kind, members.c.frozen, members.c.activated_day, members.c.created_at
).where(members.c.id >= bindparam("first"))


def test_rows_are_the_values_and_types_execute_gives(engine: Engine) -> None:
    world = build(engine)
    world.buy(world.consumers[0], "100")  # one member with an activation day, the rest without
    with UnitOfWork(engine, readonly=True) as uow:
        expected = [tuple(row) for row in uow.c.execute(_members, {"first": 0})]
        got = Prepared(_members).run(uow.c, {"first": 0})
    assert got.rows == expected
    assert [tuple(map(type, row)) for row in got.rows] == [tuple(map(type, row)) for row in expected]
    assert {type(row[2]) for row in got.rows} == {bool}
    assert got.keys == ("id", "kind", "frozen", "activated_day", "created_at")
    assert got.mapping() == dict(zip(got.keys, expected[0], strict=True))


def test_an_insert_leaves_out_columns_to_their_defaults(engine: Engine) -> None:
    build(engine)
    entry = {
        "kind": "adjustment",
        "business_day": START,
        "reference": "test",
        "reason": "prepared insert",
        "actor": "test",
        "created_at": datetime(2025, 3, 1, 4, 5, 6, 789000, tzinfo=UTC),
    }
    with UnitOfWork(engine) as uow:
        entry_id = (
            Prepared(insert(entries).returning(entries.c.id)).run(uow.c, entry, insert=True).scalar_one()
        )
        row = uow.c.execute(select(entries).where(entries.c.id == entry_id)).mappings().one()
    assert row["business_day"] == START and row["seq"] is None and row["idempotency_key"] is None
    assert row["created_at"].replace(tzinfo=UTC) == entry["created_at"]


def test_driver_errors_come_back_as_sqlalchemy_errors(engine: Engine) -> None:
    world = build(engine)
    world.buy(world.consumers[0], "100", key="taken")
    taken = Prepared(select(entries.c.idempotency_key).where(entries.c.kind == "purchase"))
    add = Prepared(insert(entries).returning(entries.c.id))
    with UnitOfWork(engine) as uow:
        key = taken.run(uow.c).scalar_one()
        with pytest.raises(IntegrityError):
            add.run(
                uow.c,
                {
                    "kind": "purchase",
                    "business_day": START,
                    "reference": "r",
                    "reason": "r",
                    "actor": "t",
                    "idempotency_key": key,
                    "created_at": datetime.now(UTC),
                },
                insert=True,
            )
    debit = Prepared(
        update(accounts).where(accounts.c.id == bindparam("acc")).values(balance=accounts.c.balance - 1)
    )
    with UnitOfWork(engine) as uow:
        account = (
            uow.c.execute(
                select(accounts.c.id).where(accounts.c.kind == "available", accounts.c.balance == 0)
            )
            .scalars()
            .first()
        )
        with pytest.raises(IntegrityError) as refused:
            debit.run_many(uow.c, [{"acc": account}])
    if engine.dialect.name == "postgresql":
        assert getattr(refused.value.orig, "sqlstate", None) == "23514"  # the CHECK, as ledger expects


def test_listeners_see_every_statement(engine: Engine) -> None:
    build(engine)
    seen: list[tuple[str, Any, bool]] = []

    def count(_conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        seen.append((statement, params, many))

    event.listen(engine, "before_cursor_execute", count)
    try:
        with UnitOfWork(engine, readonly=True) as uow:
            Prepared(_members).run(uow.c, {"first": 1})
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert [s for s, _p, _m in seen if "FROM members" in s] and not seen[-1][2]


def test_a_statement_that_expands_at_execution_is_refused(engine: Engine) -> None:
    expanding = Prepared(select(members.c.id).where(members.c.id.in_(bindparam("ids", expanding=True))))
    with UnitOfWork(engine, readonly=True) as uow, pytest.raises(ValueError):
        expanding.run(uow.c, {"ids": [1, 2]})


def test_a_text_statement_returns_the_rows_it_declares(engine: Engine) -> None:
    build(engine)
    declared = Prepared(
        text("SELECT id, kind FROM members WHERE id <= :last ORDER BY id").columns(
            column("id", BigInteger), column("kind", String)
        )
    )
    with UnitOfWork(engine, readonly=True) as uow:
        expected = [tuple(row) for row in uow.c.execute(declared.statement, {"last": 3})]
        got = declared.run(uow.c, {"last": 3})
    assert expected and got.rows == expected and got.keys == ("id", "kind")


_round_trip = Prepared(
    text("SELECT CAST(:ints AS BIGINT[]), CAST(:flags AS BOOLEAN[]), CAST(:words AS VARCHAR[])")
    .bindparams(*array_params("ints", "flags", "words"))
    .columns(
        column("ints", ARRAY(BigInteger)), column("flags", ARRAY(Boolean)), column("words", ARRAY(String))
    )
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ints=st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), max_size=8),
    flags=st.lists(st.one_of(st.none(), st.booleans()), max_size=8),
    words=st.lists(
        st.one_of(st.none(), st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"))),
        max_size=8,
    ),
)
def test_array_literals_reach_postgresql_as_the_lists_they_were(
    pg: Engine, ints: list[int | None], flags: list[bool | None], words: list[str | None]
) -> None:
    with UnitOfWork(pg, readonly=True) as uow:
        got = _round_trip.run(uow.c, {"ints": ints, "flags": flags, "words": words}).first()
    assert got == (ints, flags, words)
