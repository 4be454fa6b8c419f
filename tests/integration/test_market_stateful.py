"""Hypothesis: several members acting at random on the market (listing, taking, quick buys, buy
orders, paying, confirming, cancelling, disputing, deciding, the clock running out) never break
I2 (points conserved), I3 (no negative balance) or I6 (escrow = remaining + open trades).

Everyone may try anything, including what they may not do: refusals must write nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

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
from sharebuy.db.uow import reading
from sharebuy.kernel import caches
from sharebuy.kernel.amounts import Points
from sharebuy.kernel.errors import SharebuyError
from sharebuy.ledger.verify import Report
from sharebuy.market import checks
from sharebuy.market import service as market
from sharebuy.members import queries
from sharebuy.rewards import settlement_service
from tests.integration.market_world import Clock, assert_verified, make_ready, trader
from tests.integration.world import build

quantities = st.sampled_from(["0.5", "1", "2", "3.3333", "7", "25"])
small = st.sampled_from(["1", "2", "3.3333"])
prices = st.sampled_from(["0.9", "1", "1.25", "2"])
who = st.integers(0, 4)
pick = st.integers(min_value=0, max_value=1000)


class Market(RuleBasedStateMachine):
    template: Path

    def __init__(self) -> None:
        super().__init__()
        caches.clear()
        self.dir = Path(self.template).parent / f"market-{id(self)}"
        self.dir.mkdir(exist_ok=True)
        shutil.copy(self.template, self.dir / "db.sqlite")
        self.engine = make_engine(f"sqlite:///{self.dir / 'db.sqlite'}")
        self.clock = Clock()
        self.listings: list[int] = []
        self.orders: list[int] = []
        self.trades: list[tuple[int, int, int]] = []  # (trade, buyer, seller)

    @initialize(fee=st.sampled_from(["0", "0.01", "0.0333"]))
    def start(self, fee: str) -> None:
        world = build(self.engine, consumers=0, grant="600", rules={"c2c_fee_rate": fee})
        make_ready(self.engine, world.merchant, now=self.clock(), consumer=world.owner)
        self.members = [trader(self.engine, now=self.clock(), points="40") for _ in range(4)] + [
            world.merchant
        ]

    def _try(self, call: Any) -> Any:
        try:
            return call()
        except SharebuyError:
            return None  # a refusal: it must have written nothing

    # -- orders ---------------------------------------------------------------------------

    @rule(seller=who, quantity=quantities, price=prices, low=st.sampled_from([None, "1", "2"]))
    def list_points(self, seller: int, quantity: str, price: str, low: str | None) -> None:
        made = self._try(
            lambda: market.create_listing(
                self.engine,
                self.members[seller],
                quantity=quantity,
                price=price,
                payment_kinds=["alipay"],
                min_order=low,
                actor="t",
                now=self.clock(),
            )
        )
        if made:
            self.listings.append(made["id"])

    @precondition(lambda self: self.listings)
    @rule(buyer=who, n=pick, quantity=small)
    def take(self, buyer: int, n: int, quantity: str) -> None:
        listing_id = self.listings[n % len(self.listings)]
        made = self._try(
            lambda: market.take_listing(
                self.engine, self.members[buyer], listing_id, quantity, actor="t", now=self.clock()
            )
        )
        if made:
            self.trades.append((made["id"], made["buyer_id"], made["seller_id"]))

    @rule(buyer=who, quantity=quantities, price=prices, partial=st.booleans())
    def quick_buy(self, buyer: int, quantity: str, price: str, partial: bool) -> None:
        made = self._try(
            lambda: market.quick_buy(
                self.engine,
                self.members[buyer],
                quantity,
                price,
                allow_partial=partial,
                actor="t",
                now=self.clock(),
            )
        )
        if made:
            self.trades.extend((t["id"], t["buyer_id"], t["seller_id"]) for t in made["trades"])

    @rule(buyer=who, quantity=quantities, price=prices)
    def ask(self, buyer: int, quantity: str, price: str) -> None:
        made = self._try(
            lambda: market.create_buy_order(
                self.engine,
                self.members[buyer],
                quantity=quantity,
                price=price,
                payment_kinds="alipay",
                now=self.clock(),
            )
        )
        if made:
            self.orders.append(made["id"])

    @precondition(lambda self: self.orders)
    @rule(seller=who, n=pick, quantity=small)
    def fill(self, seller: int, n: int, quantity: str) -> None:
        order_id = self.orders[n % len(self.orders)]
        made = self._try(
            lambda: market.fill_buy_order(
                self.engine, self.members[seller], order_id, quantity, actor="t", now=self.clock()
            )
        )
        if made:
            self.trades.append((made["id"], made["buyer_id"], made["seller_id"]))

    @precondition(lambda self: self.listings)
    @rule(by=who, n=pick, action=st.sampled_from(["cancel", "pause", "resume", "price"]))
    def manage_listing(self, by: int, n: int, action: str) -> None:
        listing_id, member = self.listings[n % len(self.listings)], self.members[by]
        calls = {
            "cancel": lambda: market.cancel_listing(
                self.engine, member, listing_id, actor="t", now=self.clock()
            ),
            "pause": lambda: market.set_listing_status(
                self.engine, member, listing_id, paused=True, now=self.clock()
            ),
            "resume": lambda: market.set_listing_status(
                self.engine, member, listing_id, paused=False, now=self.clock()
            ),
            "price": lambda: market.set_listing_price(
                self.engine, member, listing_id, "1.1", now=self.clock()
            ),
        }
        self._try(calls[action])

    # -- trades ---------------------------------------------------------------------------

    def _party_move(self, by: int | None, n: int, action: str) -> None:
        """Mostly the party whose move it is (`by` None), sometimes anyone at all."""
        trade_id, buyer, seller = self.trades[n % len(self.trades)]
        rightful = seller if action == "confirm" or (action == "dispute" and n % 2) else buyer
        member, now = (rightful if by is None else self.members[by]), self.clock()
        calls = {
            "pay": lambda: market.mark_paid(self.engine, trade_id, member, "ref", actor="t", now=now),
            "confirm": lambda: market.confirm(self.engine, trade_id, member, actor="t", now=now),
            "cancel": lambda: market.cancel(self.engine, trade_id, member, actor="t", now=now),
            "dispute": lambda: market.dispute(
                self.engine, trade_id, member, reason="why", actor="t", now=now
            ),
        }
        self._try(calls[action])

    @precondition(lambda self: self.trades)
    @rule(by=st.one_of(st.none(), who), n=pick)
    def pay(self, by: int | None, n: int) -> None:
        self._party_move(by, n, "pay")

    @precondition(lambda self: self.trades)
    @rule(by=st.one_of(st.none(), who), n=pick)
    def confirm(self, by: int | None, n: int) -> None:
        self._party_move(by, n, "confirm")

    @precondition(lambda self: self.trades)
    @rule(by=st.one_of(st.none(), who), n=pick)
    def cancel_trade(self, by: int | None, n: int) -> None:
        self._party_move(by, n, "cancel")

    @precondition(lambda self: self.trades)
    @rule(by=st.one_of(st.none(), who), n=pick)
    def dispute(self, by: int | None, n: int) -> None:
        self._party_move(by, n, "dispute")

    @precondition(lambda self: self.trades)
    @rule(n=pick, decision=st.sampled_from(["release", "return"]))
    def decide(self, n: int, decision: str) -> None:
        trade_id = self.trades[n % len(self.trades)][0]
        self._try(
            lambda: market.decide(
                self.engine, trade_id, decision, reason="seen", actor="ops", now=self.clock()
            )
        )

    @rule(minutes=st.sampled_from([1, 10, 20, 60 * 25]))
    def time_passes(self, minutes: int) -> None:
        """Deadlines run out; a new business day settles the last (with its market price)."""
        market.sweep(self.engine, self.clock.advance(minutes=minutes))
        self._try(lambda: settlement_service.settle(self.engine, now=self.clock()))

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def escrow_matches(self) -> None:
        if not hasattr(self, "members"):
            return
        with reading(self.engine) as conn:
            check = checks.escrow_matches(conn, Report())
        assert check.ok, check.detail

    @invariant()
    def points_are_conserved(self) -> None:
        if not hasattr(self, "members"):
            return
        view = queries.platform_balance(self.engine)
        held = view["reserve"] + view["burned"] + view["fees"] + view["held_by_members"]
        assert held == view["total_issue"] == Points.parse("390000")

    def teardown(self) -> None:
        if hasattr(self, "members"):
            assert_verified(self.engine)
        self.engine.dispose()
        shutil.rmtree(self.dir, ignore_errors=True)


def test_random_market_activity_keeps_the_invariants(sqlite_template: Path) -> None:
    Market.template = sqlite_template
    run_state_machine_as_test(
        Market,
        settings=settings(
            max_examples=20,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )
