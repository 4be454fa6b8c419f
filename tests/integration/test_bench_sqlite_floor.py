"""The SQLite floor benchmark replays exactly what the service sent: the replayed copy ends with
the balances the service's run left, one transaction per purchase."""

from __future__ import annotations

import pytest
from bench import sqlite_floor


def test_the_replay_reproduces_the_service_run() -> None:
    m = sqlite_floor.measure("NORMAL", count=25)
    # measure() itself compares every account's balance after the replay with the service's
    assert m["purchases"] == 25
    assert m["service"]["statements"] >= 4
    assert m["replay"]["per_s"] > 0
    assert "steps" not in m["service"]


def test_a_replay_that_leaves_anything_out_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    replay = sqlite_floor._replay

    def without_last_purchase(path: str, steps: list[sqlite_floor.Step], mode: str) -> dict[str, float]:
        last_begin = max(i for i, (sql, _p, _m) in enumerate(steps) if sql == sqlite_floor.BEGIN)
        return replay(path, steps[:last_begin], mode)

    monkeypatch.setattr(sqlite_floor, "_replay", without_last_purchase)
    with pytest.raises(AssertionError, match="did not reproduce"):
        sqlite_floor.measure("NORMAL", count=5)
