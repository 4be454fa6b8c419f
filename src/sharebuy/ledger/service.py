"""Ledger use cases that stand alone: sealing the chain, reading balances."""

from __future__ import annotations

from sqlalchemy import Engine, select

from sharebuy.db.uow import UnitOfWork
from sharebuy.ledger import repository
from sharebuy.ledger.models import chain_head


def seal_pending(engine: Engine, *, wait: bool = False) -> int:
    """Seal whatever has committed. Without `wait`, a sealer already at work is left to it."""
    with UnitOfWork(engine) as uow:
        if not wait and uow.c.dialect.name == "postgresql":
            # Somebody else holds the head: their run (or the next) seals our entries too.
            got = uow.c.execute(
                select(chain_head.c.id).where(chain_head.c.id == 1).with_for_update(skip_locked=True)
            ).first()
            if got is None:
                return 0
        sealed = repository.seal(uow.c)
        uow.commit()
        return sealed
