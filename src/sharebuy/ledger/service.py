"""Ledger use cases that stand alone: sealing the hash chain.

Writers never seal inside their own transaction (that would queue every writer on the chain
head).  After committing they call `seal_soon`, which seals everything committed so far at most
every 0.2 s (SEAL_INTERVAL_NS) per process; the settlement and the CLI seal fully with
`seal_pending`.
Entries committed in between are sealed by the next sealer; verify reports them as unsealed.
"""

from __future__ import annotations

import time

from sqlalchemy import Engine, select

from sharebuy.db.uow import UnitOfWork
from sharebuy.kernel import caches
from sharebuy.ledger import repository
from sharebuy.ledger.models import chain_head

SEAL_INTERVAL_NS = 200_000_000  # of the monotonic clock: 0.2 s
_last_sealed: dict[int, int] = {}
caches.register(_last_sealed.clear)


def seal_pending(engine: Engine, *, wait: bool = False) -> int:
    """Seal whatever has committed. Without `wait`, a sealer already at work is left to it."""
    _last_sealed[id(engine)] = time.monotonic_ns()
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


def seal_soon(engine: Engine) -> None:
    """Seal unless this process sealed less than SEAL_INTERVAL_NS ago."""
    last = _last_sealed.get(id(engine))
    if last is None or time.monotonic_ns() - last >= SEAL_INTERVAL_NS:
        seal_pending(engine)
