"""The sealer reads the postings of the entries it seals by id range: entries that commit late
(an id below ones already sealed) must still be sealed once, with their own postings."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from sharebuy.db.uow import UnitOfWork
from sharebuy.ledger import repository as ledger
from sharebuy.ledger.domain import SV, Leg
from sharebuy.ledger.models import entries
from sharebuy.ledger.service import seal_pending
from tests.integration.world import START, build


def _post(uow: UnitOfWork, member: int, note: str) -> int:
    # Within one member's accounts: writers on different members hold no row in common.
    mine = ledger.member_accounts(uow.c, member)
    return ledger.post(
        uow.c,
        kind="adjustment",
        business_day=START,
        legs=[Leg(mine["sv"], SV, 3), Leg(mine["sv_owed"], SV, -3)],
        reference=note,
        reason="late commit",
        actor="test",
    )


def _commit_one(engine: Engine, member: int, note: str) -> int:
    with UnitOfWork(engine) as uow:
        entry = _post(uow, member, note)
        uow.commit()
    return entry


def _late_commit_around(pg: Engine, others: int) -> None:
    world = build(pg)
    seal_pending(pg, wait=True)
    first, other = world.consumers[0], world.consumers[1]
    late = UnitOfWork(pg)
    with late:
        late_id = _post(late, first, "late")  # holds its id, not yet committed
        between = [_commit_one(pg, other, f"between {n}") for n in range(others)]
        seal_pending(pg, wait=True)  # seals what committed: the late entry is invisible
        late.commit()
    after = _commit_one(pg, other, "after")
    assert late_id < between[0] < after
    seal_pending(pg, wait=True)
    with pg.connect() as conn:
        assert ledger.unsealed_count(conn) == 0
        seqs = dict(conn.execute(select(entries.c.id, entries.c.seq).where(entries.c.id >= late_id)).all())
        total = conn.execute(select(func.count()).select_from(entries)).scalar_one()
    # The late entry takes the place after those already sealed, then the entry after it.
    assert seqs[after] == seqs[late_id] + 1 == total
    world.assert_verified()


def test_a_late_commit_inside_a_short_range_is_sealed_with_its_own_postings(pg: Engine) -> None:
    _late_commit_around(pg, 2)  # pending ids: late, after; the range holds sealed ones too


def test_a_late_commit_far_behind_is_sealed_without_a_wide_range_read(pg: Engine) -> None:
    _late_commit_around(pg, 12)
