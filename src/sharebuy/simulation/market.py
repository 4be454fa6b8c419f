"""The day's C2C market as one call auction at a uniform price, and the trades it makes.

Mechanism (docs/simulator.md §Market): consumers holding points list a share of them, each at a
reservation price on a grid of ticks around yesterday's guide price; merchants bid for what
they need (deposit top-up plus a few days of concessions, less what they hold) up to a premium
over the guide price.  The clearing price is the grid price that trades the most points; ties
go to the smaller imbalance, then to the price nearest yesterday's.  Fills follow the market's
priority: best price first, then the lower member id.  The fills become ordinary trades (each
rounded as market/domain.py rounds a trade), so the day's volume-weighted price — the guide
price's input — is the clearing price.  Unfilled orders lapse at the end of the day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sharebuy.kernel.amounts import Price
from sharebuy.market import domain as market_domain
from sharebuy.simulation import mechanics
from sharebuy.simulation.behaviour import Behaviour
from sharebuy.simulation.state import DayRules, State

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Book:
    """The day's orders: quantities (points units) and price levels (ticks from the guide)."""

    sellers: I64
    ask_qty: I64
    ask_level: I64
    buyers: I64
    bid_qty: I64
    bid_level: I64


@dataclass(frozen=True)
class Auction:
    offered: int
    demanded: int
    trades: mechanics.Trades


def level_prices(guide: int, tick: int, levels: int) -> I64:
    """Price of each level -levels..levels: guide × (1 + k × tick), half-up to 0.0001, ≥ 0.0001."""
    k = np.arange(-levels, levels + 1, dtype=np.int64)
    return np.maximum((guide * (10_000 + k * tick) + 5_000) // 10_000, 1)


def orders(state: State, rules: DayRules, behaviour: Behaviour, momentum: float) -> Book:
    """Draw the day's sell listings and merchants' buy orders."""
    se = behaviour.scenario.selling
    mb = behaviour.scenario.merchant_behaviour
    rng = behaviour.rng
    levels, tick = se["levels"], se["tick"]
    minimum = max(rules.min_order, 1)
    holders = np.flatnonzero(state.c_points[: state.consumers] >= minimum)
    sellers = holders[rng.random(len(holders), dtype=np.float32) < se["probability"]]
    share = round(se["fraction"] * 1_000_000)
    qty = state.c_points[sellers] * share // 1_000_000
    keep = qty >= minimum
    sellers, qty = sellers[keep], qty[keep]
    centre = se["ask_mean"] + se["momentum"] * momentum
    asks = centre + se["ask_sd"] * rng.standard_normal(len(sellers), dtype=np.float32)
    ask_level = np.clip(np.rint(asks / tick), -levels, levels).astype(np.int64)

    m = state.merchants
    required = mechanics.deposit_required(rules, state.price)
    missing = np.maximum(required - state.m_deposit[:m], 0)
    stock = np.ceil(mb["stock_days"] * behaviour.usage[:m]).astype(np.int64)
    need = missing + stock - state.m_points[:m]
    buyers = np.flatnonzero(need > 0)
    bid_level = np.full(len(buyers), min(levels, math.floor(mb["bid_premium"] / tick + 1e-9)), np.int64)
    return Book(sellers, qty, ask_level, buyers, need[buyers], bid_level)


def clear(state: State, rules: DayRules, behaviour: Behaviour, book: Book) -> Auction:
    """Match the book at one price and book the resulting trades (mechanics.trades)."""
    se = behaviour.scenario.selling
    levels = se["levels"]
    tick = max(1, round(se["tick"] * 10_000))
    prices = level_prices(state.price, tick, levels)
    ask_level, bid_level = book.ask_level + levels, book.bid_level + levels
    sellers, ask_qty, buyers, bid_qty = book.sellers, book.ask_qty, book.buyers, book.bid_qty
    band = market_domain.price_band(Price(state.price), rules.price_band)
    if band is not None:
        allowed = np.flatnonzero((prices >= band[0].units) & (prices <= band[1].units))
        low, high = int(allowed[0]), int(allowed[-1])
        listed = ask_level <= high  # a seller asking above the band cannot list
        sellers, ask_qty, ask_level = sellers[listed], ask_qty[listed], np.maximum(ask_level[listed], low)
        placed = bid_level >= low  # a merchant bidding below the band cannot bid
        buyers, bid_qty, bid_level = buyers[placed], bid_qty[placed], np.minimum(bid_level[placed], high)
    offered, demanded = int(ask_qty.sum()), int(bid_qty.sum())
    width = 2 * levels + 1
    supply = np.cumsum(mechanics.group_sum(ask_level, ask_qty, width))
    demand = np.cumsum(mechanics.group_sum(bid_level, bid_qty, width)[::-1])[::-1]
    volume = np.minimum(supply, demand)
    if not rules.market_open or len(volume) == 0 or volume.max() == 0:
        return Auction(offered, demanded, mechanics.trades(state, rules, *(np.zeros(0, np.int64),) * 4))
    best = np.flatnonzero(volume == volume.max())
    imbalance = np.abs(supply[best] - demand[best])
    best = best[imbalance == imbalance.min()]
    distance = np.abs(best - levels)
    level = int(best[np.argmin(distance)])  # argmin takes the lower level on a tie
    quantity = int(volume[level])
    seller_fill = _fill(ask_level, ask_qty, quantity, eligible=ask_level <= level, best_first=1)
    buyer_fill = _fill(bid_level, bid_qty, quantity, eligible=bid_level >= level, best_first=-1)
    s_idx, s_qty = _queue(sellers, ask_level, seller_fill, 1)
    b_idx, b_qty = _queue(buyers, bid_level, buyer_fill, -1)
    seller_of, buyer_of, pieces = _pair(s_qty, b_qty)
    done = mechanics.book_trades(state, rules, s_idx, seller_of, b_idx, buyer_of, pieces, int(prices[level]))
    return Auction(offered, demanded, done)


def _queue(members: I64, level: I64, fill: I64, best_first: int) -> tuple[I64, I64]:
    """The filled orders in priority order: by price (ascending asks, descending bids), then by
    member id; a stable radix sort on the level keeps the id order of `members` within a level."""
    filled = fill > 0
    order = np.argsort((best_first * level[filled]).astype(np.int16), kind="stable")
    return members[filled][order], fill[filled][order]


def _fill(level: I64, qty: I64, total: int, *, eligible: npt.NDArray[np.bool_], best_first: int) -> I64:
    """Fill `total` points across eligible orders in priority order, without a full sort: every
    level better than the marginal one fills whole, the marginal level fills by member id."""
    fill = np.zeros(len(qty), dtype=np.int64)
    if total == 0:
        return fill
    width = int(level.max()) + 1 if len(level) else 1
    per_level = mechanics.group_sum(level[eligible], qty[eligible], width)
    ranked = np.arange(width) if best_first == 1 else np.arange(width)[::-1]
    cumulative = np.cumsum(per_level[ranked])
    marginal_rank = int(np.searchsorted(cumulative, total, side="left"))
    marginal = int(ranked[marginal_rank])
    before = int(cumulative[marginal_rank - 1]) if marginal_rank else 0
    better = eligible & ((level < marginal) if best_first == 1 else (level > marginal))
    fill[better] = qty[better]
    at = np.flatnonzero(eligible & (level == marginal))
    running = np.cumsum(qty[at]) - qty[at]
    fill[at] = np.clip(total - before - running, 0, qty[at])
    return fill


def _pair(seller_qty: I64, buyer_qty: I64) -> tuple[I64, I64, I64]:
    """Cut the two filled queues (same total) into trades: each piece is one seller × one buyer.

    The pieces end where either queue's running total ends; merging the two sorted lists of ends
    by insertion keeps this linear in the number of orders.
    """
    s_end, b_end = np.cumsum(seller_qty), np.cumsum(buyer_qty)
    at = np.searchsorted(s_end, b_end)
    known = s_end[np.minimum(at, len(s_end) - 1)] == b_end
    ends = np.insert(s_end, at[~known], b_end[~known])
    is_seller_end = np.insert(np.ones(len(s_end), dtype=np.bool_), at[~known], False)
    is_buyer_end = np.zeros(len(ends), dtype=np.bool_)
    is_buyer_end[np.searchsorted(ends, b_end)] = True
    seller_of: I64 = np.cumsum(is_seller_end) - is_seller_end
    buyer_of: I64 = np.cumsum(is_buyer_end) - is_buyer_end
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1]
    return seller_of, buyer_of, ends - starts
