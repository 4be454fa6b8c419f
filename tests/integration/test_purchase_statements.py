"""How a purchase talks to the database: the statement budget that its throughput rests on, and
the shared platform rows written last (the lock every writer waits for is held shortest)."""

from __future__ import annotations

from sqlalchemy import Engine

from sharebuy.db.uow import UnitOfWork
from sharebuy.kernel.amounts import ShareValue
from sharebuy.ledger import repository as ledger
from sharebuy.ledger.domain import SV, Leg
from tests.integration.world import START, build
from tests.statements import sent_statements

# Statements a purchase sends, not counting BEGIN/COMMIT: the sale (merchant lock, consumer,
# context), the member accounts' lock, the entry with its postings and balances, and the purchase
# row with its event and the shared accounts.  SQLite has no writing CTEs: the entry, its
# postings, the balances, the purchase and the event are one statement each.
BUDGET = {"postgresql": 4, "sqlite": 7}


def test_a_purchase_keeps_to_its_statement_budget(engine: Engine) -> None:
    world = build(engine)
    c = world.consumers[0]
    world.buy(c, "100", key="warm", seal=False)  # the first purchase also activates the consumer
    with sent_statements(engine) as seen:
        world.buy(c, "100", key="counted", seal=False)
    assert len(seen) <= BUDGET[engine.dialect.name], seen
    world.assert_verified()


def test_a_replay_writes_nothing(engine: Engine) -> None:
    world = build(engine)
    c = world.consumers[0]
    world.buy(c, "100", key="once", seal=False)
    with sent_statements(engine) as seen:
        again = world.buy(c, "100", key="once", seal=False)
    assert again.replayed
    assert not [s for s in seen if s.lstrip().upper().startswith(("INSERT", "UPDATE", "WITH"))], seen


def test_shared_legs_wait_for_apply_shared_and_then_balance(engine: Engine) -> None:
    world = build(engine)
    c = world.consumers[0]
    world.buy(c, "100")
    with UnitOfWork(engine) as uow:
        platform = ledger.platform_accounts(uow.c)
        locked = ledger.lock_member_accounts(uow.c, [c])
        sv = locked[c]["sv"][0]
        before = ledger.balances(uow.c, "platform")["sv_issued"]
        _entry, shared = ledger.post_deferring_shared(
            uow.c,
            kind="adjustment",
            business_day=START,
            legs=[Leg(sv, SV, 7), Leg(platform["sv_issued"], SV, -7)],
            reference="test",
            reason="deferred shared legs",
            actor="test",
            platform_ids=platform.values(),
            locked=locked.flat(),
        )
        assert ledger.balances(uow.c, str(c))["sv"] == locked[c]["sv"][1] + 7
        if engine.dialect.name == "postgresql":  # SQLite applies them at once (nothing to gain)
            assert shared == [{"acc": platform["sv_issued"], "delta": -7}]
            assert ledger.balances(uow.c, "platform")["sv_issued"] == before
        ledger.apply_shared(uow.c, shared)
        assert ledger.balances(uow.c, "platform")["sv_issued"] == before - 7
        # Left uncommitted: the unit of work rolls it back.
    assert world.consumer(c)["share_value"] == ShareValue.parse("100")
