"""A per-client sliding-window limit on sign-in attempts, in each server process.

The per-account lock-out (identity.service) is the durable defence against guessing one
password; this limit slows down one client trying many accounts.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from fastapi import Request

from sharebuy.kernel.errors import RateLimited


class SlidingWindow:
    def __init__(self, limit: int, seconds: int = 60) -> None:
        self.limit = limit
        self.window_ns = seconds * 1_000_000_000
        self._hits: dict[str, deque[int]] = {}
        self._lock = threading.Lock()

    def hit(self, who: str, now_ns: int | None = None) -> bool:
        """Count one attempt; False when `who` is over the limit.  Times are integer nanoseconds
        of the monotonic clock."""
        now = time.monotonic_ns() if now_ns is None else now_ns
        with self._lock:
            hits = self._hits.setdefault(who, deque())
            while hits and hits[0] <= now - self.window_ns:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            if len(self._hits) > 10_000:  # forget idle clients so memory stays bounded
                self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - self.window_ns}
            return True


def limit_sign_in(request: Request) -> None:
    """Dependency of the sign-in routes; the window lives on the app (one per server process)."""
    window: SlidingWindow = request.app.state.sign_in_window
    client = request.client.host if request.client else "unknown"
    if not window.hit(client):
        raise RateLimited(
            "too_many_attempts",
            "登录尝试过于频繁，请一分钟后再试",
            "too many sign-in attempts; try again in a minute",
        )
