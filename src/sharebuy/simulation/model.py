"""One run of the simulator: the day loop, in the engine's order, and its per-day records.

Each business day: members join and new merchants receive the operator's allocation; the C2C
market clears; merchants top up their deposits; consumers shop (purchases at the last settled
guide price); the day is settled (SPEC §4) at the guide price the day's trades set.  Only
per-day aggregates and per-member state are kept (no member × day arrays), so a million
consumers over a year fit in a few hundred megabytes.  The same day can instead follow a
`Script` (scripted grants, deposits, trades and purchases): the engine–simulator agreement test
replays one through both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from sharebuy.rewards import formulas
from sharebuy.simulation import market, mechanics
from sharebuy.simulation.behaviour import Behaviour, growth_stop_day
from sharebuy.simulation.cash_model import CashRebate
from sharebuy.simulation.scenario import Scenario
from sharebuy.simulation.state import ACTIVE, PENDING, SUSPENDED, DayRules, Schedule, State, units4

Progress = Callable[[int, int], None]
I64 = npt.NDArray[np.int64]

# Every per-day series and its unit: count, cny (0.01), sv (0.01), points (0.0001),
# price (0.0001 CNY per point), cny6 (0.000001 CNY: the exact sum of M × r).
COLUMNS: dict[str, str] = {
    "consumers_joined": "count",
    "consumers_active": "count",
    "merchants_joined": "count",
    "merchants_active": "count",
    "merchants_suspended": "count",
    "merchants_pending": "count",
    "purchases": "count",
    "purchase_amount": "cny",
    "refused_purchases": "count",
    "refused_amount": "cny",
    "concessions": "cny6",
    "sv_issued": "sv",
    "sv_issued_consumers": "sv",
    "sv_consumed": "sv",
    "sv_outstanding": "sv",
    "sv_outstanding_consumers": "sv",
    "points_deducted": "points",
    "deducted_from_deposit": "points",
    "airdrop_rule": "points",
    "released": "points",
    "released_consumers": "points",
    "holders": "count",
    "reserve": "points",
    "burned": "points",
    "fee_account": "points",
    "circulating": "points",
    "merchant_points": "points",
    "offered": "points",
    "demanded": "points",
    "traded": "points",
    "traded_cash": "cny",
    "market_price": "price",
    "guide_price": "price",
    "cohort_spent": "cny",
    "cohort_cash": "cny",
    "cohort_points": "points",
    "cohort_value": "cny",
    "cash_promised_outstanding": "cny",
    "cash_treasury": "cny",
    "cash_paid": "cny",
    "cash_due": "cny",
    "cash_shortfall": "cny",
    "cash_failure_day": "count",
}
SCALE = {"count": 0, "cny": 2, "sv": 2, "points": 4, "price": 4, "cny6": 6}


@dataclass
class ScriptDay:
    """One scripted business day, in the order the day runs."""

    grants: list[tuple[int, int]] = field(default_factory=list)  # (merchant, points units)
    top_ups: list[int] = field(default_factory=list)  # merchants posting their deposit
    trades: list[tuple[int, int, int, int]] = field(default_factory=list)  # (seller, buyer, qty, price)
    purchases: list[tuple[int, int, int]] = field(default_factory=list)  # (consumer, merchant, cents)


@dataclass
class Script:
    """A replay instead of behaviour: fixed members, every action written down."""

    consumers: int
    merchant_rates: list[Decimal]
    days: dict[int, ScriptDay]


@dataclass
class RunResult:
    name: str
    seed: int
    overrides: dict[str, Any]
    days: int
    series: dict[str, npt.NDArray[np.int64]]
    growth_stop_day: int
    cohort_size: int
    state: State | None = None  # kept only when asked (tests)


@dataclass(frozen=True)
class Spent:
    """The day's purchases, and those that found no open merchant (count, amount)."""

    bought: mechanics.Purchases
    unserved: int = 0
    unserved_amount: int = 0


# -- the phases of one day: module functions so that other drivers (bench/) can call them -------


def join(scenario: Scenario, script: Script | None, state: State, behaviour: Behaviour, day: int) -> I64:
    """Members join, new merchants get the operator's allocation; returns who is active today."""
    if script:
        plan = script.days.get(day, ScriptDay())
        if plan.grants:
            mechanics.grant(
                state, np.array([m for m, _ in plan.grants]), np.array([q for _, q in plan.grants])
            )
        return np.arange(state.consumers, dtype=np.int64)
    state.consumers = behaviour.joined(day, state.consumers)
    active = behaviour.active(day, state.consumers)
    before, after = state.merchants, behaviour.merchants_joined(state.consumers, state.merchants)
    if after > before:
        state.m_rate[before:after] = behaviour.rates[before:after]
        state.merchants = after
        behaviour.expected_usage(state, before, after, len(active))
        grant = scenario.merchant_behaviour["grant_points"].units
        if grant:
            new = np.arange(before, after, dtype=np.int64)
            mechanics.grant(state, new, np.full(len(new), grant, np.int64))
    return active


def momentum(prices: tuple[int, int]) -> float:
    """Yesterday's log return of the guide price (0 until there are two days)."""
    before, last = prices
    return math.log(last / before) if before > 0 else 0.0


def trade(
    script: Script | None, state: State, behaviour: Behaviour, rules: DayRules, day: int, drift: float
) -> market.Auction:
    if script:
        plan = script.days.get(day, ScriptDay())
        columns = np.array(plan.trades, dtype=np.int64).reshape(-1, 4).T
        done = mechanics.trades(state, rules, *columns)
        return market.Auction(done.quantity, done.quantity, done)
    if not rules.market_open:
        return market.Auction(0, 0, mechanics.trades(state, rules, *(np.zeros(0, np.int64),) * 4))
    book = market.orders(state, rules, behaviour, drift)
    return market.clear(state, rules, behaviour, book)


def deposit(script: Script | None, state: State, rules: DayRules, day: int) -> None:
    required = mechanics.deposit_required(rules, state.price)
    if script:
        plan = script.days.get(day, ScriptDay())
        if plan.top_ups:
            mechanics.top_up(state, np.array(plan.top_ups, dtype=np.int64), required)
    else:
        mechanics.top_up(state, np.arange(state.merchants, dtype=np.int64), required)


def spend(
    script: Script | None, state: State, behaviour: Behaviour, rules: DayRules, day: int, active: I64
) -> Spent:
    if script:
        plan = script.days.get(day, ScriptDay())
        rows = np.array(plan.purchases, dtype=np.int64).reshape(-1, 3).T
        return Spent(mechanics.purchases(state, day, rules, rows[0], rows[1], rows[2]))
    shoppers, amounts = behaviour.spending(day, active, rules.max_purchase)
    chosen = behaviour.choose_merchants(state, len(shoppers))
    if chosen is None:
        none = np.zeros(0, dtype=np.int64)
        return Spent(
            mechanics.purchases(state, day, rules, none, none, none), len(shoppers), int(amounts.sum())
        )
    bought = mechanics.purchases(state, day, rules, shoppers, chosen, amounts, unique_consumers=True)
    behaviour.learn_usage(chosen, bought.points_deducted, state.merchants)
    return Spent(bought)


def day_row(
    state: State,
    cash: CashRebate,
    rules: DayRules,
    active: int,
    cohort: int,
    auction: market.Auction,
    spent: Spent,
    release: mechanics.Release,
) -> dict[str, int]:
    """The day's aggregates (one value per COLUMNS entry); also books the cash-rebate model."""
    s, bought = state, spent.bought
    accepted, amounts = bought.accepted, bought.amount
    concessions = int(bought.concession_micro.sum())
    promise = int(bought.consumer_share_value.sum())
    due, paid = cash.day(concessions, promise)
    status = s.m_status[: s.merchants]
    c_points = int(s.c_points.sum())
    merchant_points = int(s.m_points.sum()) + int(s.m_deposit.sum())
    cohort_points = int(s.c_points[:cohort].sum())
    cohort_cash = int(s.c_cash[:cohort].sum())
    value = int(formulas.trade_amount_units(np.array([cohort_points]), release.guide_price.units)[0])
    spent_accepted = int(amounts[accepted].sum())
    deposit_taken = int(bought.from_deposit.sum())
    refused = len(amounts) - int(accepted.sum())
    return {
        "consumers_joined": s.consumers,
        "consumers_active": active,
        "merchants_joined": s.merchants,
        "merchants_active": int((status == ACTIVE).sum()),
        "merchants_suspended": int((status == SUSPENDED).sum()),
        "merchants_pending": int((status == PENDING).sum()),
        "purchases": len(amounts) - refused,
        "purchase_amount": spent_accepted,
        "refused_purchases": refused + spent.unserved,
        "refused_amount": int(amounts.sum()) - spent_accepted + spent.unserved_amount,
        "concessions": concessions,
        "sv_issued": promise + int(bought.merchant_share_value.sum()),
        "sv_issued_consumers": promise,
        "sv_consumed": release.share_value_consumed,
        "sv_outstanding": int(s.c_sv.sum()) + int(s.m_sv.sum()),
        "sv_outstanding_consumers": int(s.c_sv.sum()),
        "points_deducted": int(bought.points_deducted.sum()),
        "deducted_from_deposit": deposit_taken,
        "airdrop_rule": rules.daily_airdrop,
        "released": release.airdrop,
        "released_consumers": release.consumer_points,
        "holders": release.holders,
        "reserve": s.reserve,
        "burned": s.burned,
        "fee_account": s.fee_account,
        "circulating": c_points + merchant_points,
        "merchant_points": merchant_points,
        "offered": auction.offered,
        "demanded": auction.demanded,
        "traded": auction.trades.quantity,
        "traded_cash": auction.trades.cash,
        "market_price": 0 if auction.trades.market_price is None else auction.trades.market_price.units,
        "guide_price": release.guide_price.units,
        "cohort_spent": int(s.c_spent[:cohort].sum()),
        "cohort_cash": cohort_cash,
        "cohort_points": cohort_points,
        "cohort_value": cohort_cash + value,
        "cash_promised_outstanding": cash.outstanding,
        "cash_treasury": cash.treasury,
        "cash_paid": cash.paid,
        "cash_due": due,
        "cash_shortfall": due - paid,
        "cash_failure_day": -1 if cash.failure_day is None else cash.failure_day,
    }


class Simulation:
    """One run: the state, the behaviour that drives it, and the per-day records."""

    def __init__(self, scenario: Scenario, seed: int, script: Script | None = None) -> None:
        self.scenario = scenario
        self.seed = seed
        self.script = script
        self.schedule = Schedule(scenario.rulebooks())
        self.state, self.behaviour, self.cash = initial(scenario, seed, script, self.schedule)
        self.records = {name: np.zeros(scenario.days, dtype=np.int64) for name in COLUMNS}
        self.cohort = 0

    def step(self, day: int) -> None:
        s, rules = self.state, self.schedule.on(day)
        active = join(self.scenario, self.script, s, self.behaviour, day)
        if day == 0:
            self.cohort = s.consumers  # the day-1 cohort: consumers 0..cohort-1
        prices = self.records["guide_price"]
        drift = momentum((int(prices[day - 2]), int(prices[day - 1]))) if day >= 2 else 0.0
        auction = trade(self.script, s, self.behaviour, rules, day, drift)
        deposit(self.script, s, rules, day)
        spent = spend(self.script, s, self.behaviour, rules, day, active)
        release = mechanics.settle(s, day, rules, auction.trades.market_price)
        row = day_row(s, self.cash, rules, len(active), self.cohort, auction, spent, release)
        for name, number in row.items():
            self.records[name][day] = number

    def result(self, *, keep_state: bool = False) -> RunResult:
        return RunResult(
            name=self.scenario.name,
            seed=self.seed,
            overrides=dict(self.scenario.overrides),
            days=self.scenario.days,
            series=self.records,
            growth_stop_day=0 if self.script else growth_stop_day(self.scenario),
            cohort_size=self.cohort,
            state=self.state if keep_state else None,
        )


def initial(
    scenario: Scenario, seed: int, script: Script | None, schedule: Schedule
) -> tuple[State, Behaviour, CashRebate]:
    """Day-0 state: the whole issue in the reserve, nobody joined yet (or the script's members)."""
    first = schedule.on(0)
    consumers = script.consumers if script else scenario.consumers
    merchants = len(script.merchant_rates) if script else scenario.merchants
    state = State.empty(consumers, merchants, first)
    behaviour = Behaviour.draw(scenario, np.random.default_rng(seed))
    cash = CashRebate.of(scenario.cash_model["release_rate"], scenario.cash_model["operator_cut"])
    if script:
        state.consumers, state.merchants = consumers, merchants
        state.m_rate[:] = [units4(rate) for rate in script.merchant_rates]
    return state, behaviour, cash


def run(
    scenario: Scenario,
    seed: int | None = None,
    *,
    script: Script | None = None,
    progress: Progress | None = None,
    keep_state: bool = False,
) -> RunResult:
    """Run one scenario for one seed (the scenario's own seed by default)."""
    sim = Simulation(scenario, scenario.seed if seed is None else seed, script)
    for day in range(scenario.days):
        sim.step(day)
        if progress is not None:
            progress(day + 1, scenario.days)
    return sim.result(keep_state=keep_state)
