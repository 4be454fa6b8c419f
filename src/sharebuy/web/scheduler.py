"""The in-server scheduler (`sharebuy serve --scheduler`).

- the daily release at 00:05 Asia/Shanghai, and at start every day missed while no server ran;
  on PostgreSQL an advisory lock inside `settle` means two servers never settle at once (the
  second is refused and simply tries again at its next tick);
- periodic jobs (webhook deliveries, market timeouts) every few seconds.
Every job runs in its own try: one failing job is logged and never stops the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from functools import partial

from sqlalchemy import Engine

from sharebuy.kernel.clock import BUSINESS_TZ
from sharebuy.kernel.errors import SharebuyError
from sharebuy.rewards import settlement_service
from sharebuy.web.observability import SETTLEMENT_SECONDS

log = logging.getLogger("sharebuy.scheduler")
SETTLE_AT = dtime(0, 5)


def next_settlement(now: datetime) -> datetime:
    """The next 00:05 Asia/Shanghai strictly after `now`."""
    local = now.astimezone(BUSINESS_TZ)
    candidate = datetime.combine(local.date(), SETTLE_AT, BUSINESS_TZ)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate


def settle_missed(engine: Engine, now: datetime | None = None) -> int:
    """Settle every finished business day not yet settled; returns how many were settled now."""
    started = time.perf_counter()
    try:
        reports = settlement_service.settle(engine, now=now)
    except SharebuyError as error:
        # not initialised, nothing to settle before the start day, or another server is at it
        log.info("settlement skipped: %s", error.message_en)
        return 0
    fresh = [r for r in reports if not r.replayed]
    for report in fresh:
        log.info(
            "settled %s: released %s to %s holders",
            report.date,
            report.released,
            report.holders,
            extra={"day": str(report.date)},
        )
    if fresh:
        SETTLEMENT_SECONDS.observe((time.perf_counter() - started) / len(fresh))
    return len(fresh)


@dataclass
class Scheduler:
    engine: Engine
    periodic: list[tuple[timedelta, Callable[[Engine], object]]] = field(default_factory=list)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sharebuy-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: int = 10) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        self._safely("catch-up settlement", lambda: settle_missed(self.engine, self.clock()))
        due_settle = next_settlement(self.clock())
        last_run: list[int | None] = [None] * len(self.periodic)
        while not self._stop.wait(1.0):
            now = self.clock()
            if now >= due_settle:
                self._safely("daily settlement", partial(settle_missed, self.engine, now))
                due_settle = next_settlement(now)
            for i, (every, job) in enumerate(self.periodic):
                ran, moment = last_run[i], time.monotonic_ns()
                if ran is None or moment - ran >= every // timedelta(microseconds=1) * 1000:
                    last_run[i] = moment
                    self._safely(getattr(job, "__name__", "job"), partial(job, self.engine))

    @staticmethod
    def _safely(name: str, job: Callable[[], object]) -> None:
        try:
            job()
        except Exception:
            log.exception("scheduled job %s failed", name)
