"""Real names (实名) on SQLite and PostgreSQL: one identity number, one account — checked before
writing and guarded by a unique index when two accounts claim a number at the same moment."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, func, select

from sharebuy.db.uow import reading
from sharebuy.kernel.errors import Conflict, InvalidInput
from sharebuy.members import service as members
from sharebuy.members.models import consumers
from tests.integration.market_world import id_number
from tests.integration.world import build, new_consumer


def _consumer_count(engine: Engine) -> int:
    with reading(engine) as conn:
        return int(conn.execute(select(func.count()).select_from(consumers)).scalar_one())


def test_an_operator_records_the_real_name_at_registration(engine: Engine) -> None:
    build(engine, consumers=0)
    number = id_number()
    member = members.add_consumer(engine, phone="13912340001", real_name=" 赵六 ", id_number=number.lower())
    with reading(engine) as conn:
        row = conn.execute(select(consumers).where(consumers.c.member_id == member)).mappings().one()
    assert (row["real_name"], row["id_number"]) == ("赵六", number)
    assert row["real_name_verified_at"] is not None
    # The holder confirming the same details is answered as before; other details are refused.
    assert members.set_real_name(engine, member, "赵六", number)["id"] == member
    with pytest.raises(Conflict) as changed:
        members.set_real_name(engine, member, "赵七", number)
    assert changed.value.code == "real_name_already_set"


def test_bad_or_duplicate_real_names_register_nobody(engine: Engine) -> None:
    build(engine, consumers=0)
    number = id_number()
    members.add_consumer(engine, phone="13912340001", real_name="赵六", id_number=number)
    before = _consumer_count(engine)
    refusals = [
        (InvalidInput, "real_name_incomplete", {"real_name": "钱七"}),
        (InvalidInput, "real_name_incomplete", {"id_number": id_number()}),
        (InvalidInput, "invalid_id_number", {"real_name": "钱七", "id_number": "110105199001010000"}),
        (Conflict, "id_number_taken", {"real_name": "钱七", "id_number": number}),
    ]
    for kind, code, fields in refusals:
        with pytest.raises(kind) as refused:
            members.add_consumer(engine, phone="13912340002", **fields)
        assert refused.value.code == code, fields
    assert _consumer_count(engine) == before
    # A consumer who later claims the number is refused as well.
    other = new_consumer(engine)
    with pytest.raises(Conflict) as taken:
        members.set_real_name(engine, other, "钱七", number)
    assert taken.value.code == "id_number_taken"


def test_accounts_racing_for_one_number_leave_it_with_one(engine: Engine) -> None:
    build(engine, consumers=0)
    claimants = [new_consumer(engine) for _ in range(4)]
    number = id_number()
    barrier = threading.Barrier(len(claimants))

    def claim(member: int) -> str:
        barrier.wait()
        try:
            members.set_real_name(engine, member, "孙八", number)
        except Conflict as error:
            return error.code
        return "recorded"

    with ThreadPoolExecutor(len(claimants)) as pool:
        outcomes = sorted(pool.map(claim, claimants))
    assert outcomes == ["id_number_taken"] * 3 + ["recorded"]
    with reading(engine) as conn:
        holders = conn.execute(select(consumers.c.member_id).where(consumers.c.id_number == number)).all()
    assert len(holders) == 1
