"""Hypothesis: any sequence of operations keeps I1–I5 and I7 (checked by verify after each run)."""

from __future__ import annotations

import contextlib
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from sharebuy.db.engine import make_engine
from sharebuy.kernel import caches
from sharebuy.kernel.amounts import Points
from sharebuy.kernel.errors import SharebuyError
from sharebuy.members import service as members
from sharebuy.rewards import purchase_service, settlement_service
from tests.integration.world import LATER, START, at, build, new_consumer, open_merchant

amounts = st.decimals(min_value="0.01", max_value="20000", places=2).map(str)


class Economy(RuleBasedStateMachine):
    template: Path

    def __init__(self) -> None:
        super().__init__()
        caches.clear()
        self.dir = Path(self.template).parent / f"run-{id(self)}"
        self.dir.mkdir(exist_ok=True)
        shutil.copy(self.template, self.dir / "db.sqlite")
        self.engine = make_engine(f"sqlite:///{self.dir / 'db.sqlite'}")
        self.day = START
        self.purchases: list[int] = []

    @initialize(grant=st.sampled_from(["500", "700", "3000"]), bonus=st.sampled_from(["0", "12.5"]))
    def start(self, grant: str, bonus: str) -> None:
        self.world = build(self.engine, consumers=4, grant=grant, rules={"registration_bonus_sv": bonus})
        self.shops = [
            self.world.merchant,
            open_merchant(self.engine, new_consumer(self.engine), grant=grant, rate="0.37"),
        ]

    @rule(who=st.integers(0, 3), shop=st.integers(0, 1), amount=amounts)
    def buy(self, who: int, shop: int, amount: str) -> None:
        try:
            done = purchase_service.record_purchase(
                self.engine,
                merchant_id=self.shops[shop],
                consumer_id=self.world.consumers[who],
                amount=amount,
                at=at(self.day),
            )
            self.purchases.append(done.id)
        except SharebuyError:
            pass  # refusals (suspended, short of points) must simply write nothing

    @precondition(lambda self: bool(self.purchases))
    @rule(pick=st.integers(min_value=0))
    def refund(self, pick: int) -> None:
        with contextlib.suppress(SharebuyError):
            purchase_service.refund_purchase(
                self.engine, self.purchases[pick % len(self.purchases)], at=at(self.day)
            )

    @rule(shop=st.integers(0, 1), amount=st.sampled_from(["1", "50", "333.3333"]))
    def top_up(self, shop: int, amount: str) -> None:
        try:
            members.grant_points(self.engine, self.shops[shop], amount, reason="top-up")
            members.post_deposit(self.engine, self.shops[shop])
        except SharebuyError:
            pass

    @rule()
    def settle_and_advance(self) -> None:
        settlement_service.settle(self.engine, through=self.day, now=LATER)
        self.day += timedelta(days=1)

    @invariant()
    def points_are_conserved(self) -> None:
        if not hasattr(self, "world"):
            return
        view = self.world.platform()
        held = view["reserve"] + view["burned"] + view["fees"] + view["held_by_members"]
        assert held == view["total_issue"] == Points.parse("390000")

    def teardown(self) -> None:
        if hasattr(self, "world"):
            self.world.assert_verified()
        self.engine.dispose()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.mark.slow
def test_any_sequence_of_operations_keeps_the_invariants(sqlite_template: Path) -> None:
    Economy.template = sqlite_template
    run_state_machine_as_test(
        Economy,
        settings=settings(
            max_examples=50, stateful_step_count=30, deadline=None, suppress_health_check=list(HealthCheck)
        ),
    )
