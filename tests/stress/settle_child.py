"""The operator CLI (`sharebuy ...`) with crash points for the killed-settlement test.

Run as a script by the test, never imported by the product: the hooks below patch the running
process only, so production code paths carry no fault-injection switch at all.

- STRESS_CHUNK_SIZE: holders per posted chunk (small, so that one day is many transactions);
- STRESS_CHUNK_PAUSE: seconds to wait after each posted chunk (so a kill after a random delay
  lands in the middle of posting, not only in the interpreter's start-up);
- STRESS_DIE_AT_COMMIT=n with STRESS_DIE_WHEN=before|after: SIGKILL this process just before
  the n-th commit (the transaction is open: the database must roll it back) or just after it
  (committed, and the next step never starts).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any


def _install() -> None:
    from sharebuy.db import uow
    from sharebuy.rewards import settlement_service

    if os.environ.get("STRESS_CHUNK_SIZE"):
        settlement_service.CHUNK_SIZE = int(os.environ["STRESS_CHUNK_SIZE"])
    pause = float(os.environ.get("STRESS_CHUNK_PAUSE") or 0)
    if pause:
        post_chunk = settlement_service._post_chunk

        def slow_post_chunk(*args: Any, **kwargs: Any) -> Any:
            result = post_chunk(*args, **kwargs)
            time.sleep(pause)
            return result

        settlement_service._post_chunk = slow_post_chunk  # type: ignore[assignment]
    die_at = int(os.environ.get("STRESS_DIE_AT_COMMIT") or 0)
    if die_at:
        when = os.environ.get("STRESS_DIE_WHEN", "before")
        commit_now = uow.UnitOfWork.commit_now
        seen = [0]

        def dying_commit_now(self: uow.UnitOfWork) -> None:
            seen[0] += 1
            if seen[0] == die_at and when == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            commit_now(self)
            if seen[0] == die_at and when == "after":
                os.kill(os.getpid(), signal.SIGKILL)

        uow.UnitOfWork.commit_now = dying_commit_now  # type: ignore[method-assign]


if __name__ == "__main__":
    _install()
    from sharebuy.cli.main import main

    sys.argv = ["sharebuy", *sys.argv[1:]]
    main()
