"""The rules applied to the simulator's state: the engine's formulas, vectorised, unit for unit.

Each function here is the array form of one engine use case: `grant` (members.service.grant_points),
`top_up` (post_deposit), `purchases` (purchase_service.record_purchase, in order), `trades`
(completed C2C trades) and `settle` (settlement_service: SPEC §4).  They call the formulas of
rewards/domain.py and rewards/formulas.py and nothing else computes an amount, so what the
engine would book, the simulator books.  Invariant: no points are created or lost
(State.points_total() == total issue after every call).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sharebuy.kernel.amounts import Price
from sharebuy.market import domain as market_domain
from sharebuy.rewards import domain, formulas
from sharebuy.simulation.state import ACTIVE, NEVER, PENDING, SUSPENDED, DayRules, State

I64 = npt.NDArray[np.int64]
_FLOAT_EXACT = 2**53


def group_sum(index: npt.NDArray, values: npt.NDArray, size: int) -> I64:
    """Σ values per index, exactly: float64 bincount while no sum can pass 2**53, else np.add.at."""
    v = np.asarray(values, dtype=np.int64)
    if len(v) == 0:
        return np.zeros(size, dtype=np.int64)
    if int(np.abs(v).max()) * len(v) < _FLOAT_EXACT:
        return np.rint(np.bincount(index, weights=v, minlength=size)).astype(np.int64)
    out = np.zeros(size, dtype=np.int64)
    np.add.at(out, index, v)
    return out


def deposit_required(rules: DayRules, price: int) -> int:
    """Points the deposit must hold at the last settled price (domain.deposit_required)."""
    return domain.deposit_required(rules.deposit_cny, Price(price)).units


# -- operator allocation and deposits -------------------------------------------------------------


def grant(state: State, merchants: npt.NDArray, amounts: npt.NDArray) -> I64:
    """Allocate points from the reserve, in order; a grant the reserve cannot cover is refused.

    Returns the points granted to each (0 where refused).
    """
    given = np.zeros(len(merchants), dtype=np.int64)
    for i, (j, amount) in enumerate(zip(merchants.tolist(), amounts.tolist(), strict=True)):
        if 0 < amount <= state.reserve:
            state.reserve -= amount
            state.m_points[j] += amount
            given[i] = amount
    return given


def top_up(state: State, merchants: npt.NDArray, required: int) -> I64:
    """post_deposit for each merchant: move exactly the missing points from available into the
    deposit when available covers them; a pending or suspended merchant whose deposit then
    suffices opens (again).  Returns the points moved per merchant."""
    j = np.asarray(merchants, dtype=np.int64)
    missing = np.maximum(required - state.m_deposit[j], 0)
    can = (missing > 0) & (state.m_points[j] >= missing)
    moved = np.where(can, missing, 0)
    state.m_points[j] -= moved
    state.m_deposit[j] += moved
    status = state.m_status[j]
    opens = ((status == PENDING) | (status == SUSPENDED)) & (state.m_deposit[j] >= required)
    state.m_status[j[opens]] = ACTIVE
    return moved


# -- purchases --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Purchases:
    """What a day's purchases did, per purchase (in the order given) and in total."""

    amount: I64  # per purchase, as asked (0.01 CNY)
    accepted: npt.NDArray[np.bool_]
    consumer_share_value: I64  # per purchase, bonus included, 0 where refused
    merchant_share_value: I64
    points_deducted: I64
    from_deposit: I64
    concession_micro: I64  # M × r per purchase in 1e-6 CNY (what the merchant gives up)
    suspended: npt.NDArray[np.int64]  # merchants suspended by these purchases

    @property
    def deducted_total(self) -> int:
        return formulas.exact_sum(self.points_deducted)


def purchases(
    state: State,
    day: int,
    rules: DayRules,
    consumers: npt.NDArray,
    merchants: npt.NDArray,
    amounts: npt.NDArray,
    *,
    unique_consumers: bool = False,
) -> Purchases:
    """Record purchases in the order given, as record_purchase would one after another.

    The merchant pays each concession from available points, then from the deposit (which
    suspends it: its later purchases that day are refused); a shortfall the deposit cannot cover
    refuses that purchase alone.  Purchases at a merchant not open, or above the single-purchase
    limit, are refused.  `unique_consumers` says no consumer appears twice (a faster credit).
    """
    c = np.asarray(consumers, dtype=np.int64)
    m = np.asarray(merchants, dtype=np.int64)
    amount = np.asarray(amounts, dtype=np.int64)
    n = len(amount)
    ok = (amount > 0) & (amount <= rules.max_purchase) & (state.m_status[m] == ACTIVE)
    rate = np.clip(state.m_rate[m], rules.rate_min, rules.rate_max)
    owed = formulas.concession_points_units(amount, rate, state.price)
    accepted, from_deposit, suspended = _deduct(state, m, owed, ok)
    acc = np.flatnonzero(accepted)
    csv = np.zeros(n, dtype=np.int64)
    msv = np.zeros(n, dtype=np.int64)
    if len(acc):
        csv[acc] = formulas.purchase_share_value(amount[acc], rate[acc], rules.consumer_multiplier)
        msv[acc] = formulas.purchase_share_value(amount[acc], rate[acc], rules.merchant_multiplier)
        if rules.bonus_sv:
            # The registration bonus comes with a consumer's first purchase ever (SPEC §2).
            _, first = np.unique(c[acc], return_index=True)
            newcomers = acc[first][state.c_last_purchase[c[acc[first]]] == NEVER]
            csv[newcomers] += rules.bonus_sv
        buyers = c[acc]
        if unique_consumers:
            state.c_sv[buyers] += csv[acc]
            state.c_spent[buyers] += amount[acc]
        else:
            size = state.capacity
            state.c_sv += group_sum(buyers, csv[acc], size)
            state.c_spent += group_sum(buyers, amount[acc], size)
        state.m_sv += group_sum(m[acc], msv[acc], len(state.m_sv))
        state.c_last_purchase[buyers] = day
        state.m_last_sale[m[acc]] = day
    deducted = np.where(accepted, owed, 0)
    total = formulas.exact_sum(deducted)
    if rules.burn:
        state.burned += total
    else:
        state.reserve += total
    concession = np.where(accepted, amount * rate, 0)
    return Purchases(amount, accepted, csv, msv, deducted, from_deposit, concession, suspended)


def _deduct(
    state: State, m: I64, owed: I64, ok: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.bool_], I64, I64]:
    """domain.split_deduction applied purchase after purchase, per merchant, vectorised.

    Merchants whose day's concessions fit in their available points need no ordering; the
    others are resolved in rounds, each settling every such merchant's first purchase that does
    not fit: taken partly from the deposit (the merchant is suspended and refuses the rest) or,
    when the deposit cannot cover the shortfall, refused alone (the next purchases try again).
    """
    n = len(owed)
    accepted = ok.copy()
    from_deposit = np.zeros(n, dtype=np.int64)
    idx = np.flatnonzero(ok)
    size = len(state.m_points)
    day_total = group_sum(m[idx], owed[idx], size)
    tight = day_total > state.m_points
    easy = ~tight
    state.m_points[easy] -= day_total[easy]
    hard = idx[tight[m[idx]]]
    if len(hard) == 0:
        return accepted, from_deposit, np.zeros(0, dtype=np.int64)
    pending = hard[np.argsort(m[hard], kind="stable")]
    suspended: list[npt.NDArray[np.int64]] = []
    while len(pending):
        mm, ow = m[pending], owed[pending]
        start = np.ones(len(pending), dtype=np.bool_)
        start[1:] = mm[1:] != mm[:-1]
        group = np.cumsum(start) - 1
        cum = np.cumsum(ow)
        before_group = (cum - ow)[start]
        within = cum - before_group[group]  # inclusive running total inside the merchant
        avail = state.m_points[mm]
        fits = within <= avail
        prev_fits = np.ones(len(pending), dtype=np.bool_)
        prev_fits[1:] = fits[:-1]
        first_bad = ~fits & (start | prev_fits)
        used_before = within - ow  # what the earlier purchases of this round took
        bad = np.flatnonzero(first_bad)
        take = avail[bad] - used_before[bad]
        short = ow[bad] - take
        deposit = state.m_deposit[mm[bad]]
        covered = short <= deposit
        # Purchases that fit come out of available points; settle each merchant's balance.
        fit_total = group_sum(group[fits], ow[fits], len(before_group))
        merchants_here = mm[start]
        state.m_points[merchants_here] -= fit_total
        # The first purchase that does not fit: deposit (and suspension) or refusal.
        win = bad[covered]
        state.m_points[mm[win]] -= take[covered]
        state.m_deposit[mm[win]] -= short[covered]
        state.m_status[mm[win]] = SUSPENDED
        from_deposit[pending[win]] = short[covered]
        accepted[pending[bad[~covered]]] = False
        suspended.append(mm[win])
        # After a covered shortfall the merchant is suspended: the rest of its day is refused.
        stopped_group = np.zeros(len(before_group), dtype=np.bool_)
        stopped_group[group[win]] = True
        later = ~fits & ~first_bad
        refused = later & stopped_group[group]
        accepted[pending[refused]] = False
        pending = pending[later & ~stopped_group[group]]
    return accepted, from_deposit, np.concatenate(suspended)


# -- trades -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trades:
    quantity: int  # points moved out of sellers' hands (gross)
    cash: int  # CNY paid by buyers to sellers (0.01)
    fees: int  # points kept by the platform's fee account
    market_price: Price | None  # the volume-weighted price of the day (SPEC §6)
    notional: int  # Σ quantity × price (1e-8 CNY)


def trades(
    state: State,
    rules: DayRules,
    sellers: npt.NDArray,
    buyers: npt.NDArray,
    quantities: npt.NDArray,
    prices: npt.NDArray,
) -> Trades:
    """Completed trades, one per row: consumer `sellers[i]` sells to merchant `buyers[i]`."""
    s = np.asarray(sellers, dtype=np.int64)
    b = np.asarray(buyers, dtype=np.int64)
    q = np.asarray(quantities, dtype=np.int64)
    p = np.asarray(prices, dtype=np.int64)
    if len(q) == 0:
        return Trades(0, 0, 0, None, 0)
    s_members, s_of = np.unique(s, return_inverse=True)
    b_members, b_of = np.unique(b, return_inverse=True)
    return book_trades(state, rules, s_members, s_of, b_members, b_of, q, p)


def book_trades(
    state: State,
    rules: DayRules,
    seller_members: I64,
    seller_of: npt.NDArray,
    buyer_members: I64,
    buyer_of: npt.NDArray,
    quantity: I64,
    price: I64 | int,
) -> Trades:
    """Book trades given as pieces: piece i moves quantity[i] from consumer
    seller_members[seller_of[i]] to merchant buyer_members[buyer_of[i]] at price[i].

    Each is a market trade: the buyer pays quantity × price (trade_amount) off-platform, the
    platform keeps the fee (trade_fee) out of the escrow and the buyer receives the rest.
    Members appear once in their list, so balances move by plain indexed adds.
    """
    q = quantity
    if len(q) == 0:
        return Trades(0, 0, 0, None, 0)
    if isinstance(price, int):
        cash = formulas.trade_amount_units(q, price)
        fee = formulas.trade_fee_units(q, rules.fee_rate)
        notional = formulas.exact_sum(q) * price
    else:
        cash = np.zeros(len(q), dtype=np.int64)
        fee = np.zeros(len(q), dtype=np.int64)
        for one in np.unique(price).tolist():
            at = price == one
            cash[at] = formulas.trade_amount_units(q[at], one)
            fee[at] = formulas.trade_fee_units(q[at], rules.fee_rate)
        notional = int((q.astype(object) * price.astype(object)).sum())
    sold = group_sum(seller_of, q, len(seller_members))
    if (sold > state.c_points[seller_members]).any():
        raise ValueError("a seller cannot sell more points than it holds")
    state.c_points[seller_members] -= sold
    state.c_cash[seller_members] += group_sum(seller_of, cash, len(seller_members))
    state.m_points[buyer_members] += group_sum(buyer_of, q - fee, len(buyer_members))
    fees = formulas.exact_sum(fee)
    state.fee_account += fees
    volume = formulas.exact_sum(q)
    return Trades(volume, formulas.exact_sum(cash), fees, market_domain.vwap(notional, volume), notional)


# -- the daily release ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    guide_price: Price
    airdrop: int
    holders: int
    network_share_value: int
    share_value_consumed: int
    consumer_points: int  # released to consumers
    consumer_share_value_consumed: int


def settle(state: State, day: int, rules: DayRules, market: Price | None) -> Release:
    """SPEC §4 for day `day`: the guide price, the eligible holders, the exact split, the SV used.

    Holders are those with SV > 0 (inside the activity window if one is set); SV only ever comes
    with a purchase here, so every one of them is activated, as the engine requires.  The split
    runs over every member at once, non-holders with zero weight: they receive nothing, exactly
    as if they were left out (formulas.split_airdrop_linear), and the arrays stay contiguous.
    """
    price = domain.guide_price(Price(state.price), market, rules.price_floor)
    c_sv, m_sv = state.c_sv, state.m_sv
    if rules.window_days:
        since = day - rules.window_days + 1
        c_sv = np.where(state.c_last_purchase >= since, c_sv, 0)
        m_sv = np.where(state.m_last_sale >= since, m_sv, 0)
    share_value = np.concatenate([c_sv, m_sv])
    holders = int(np.count_nonzero(share_value))
    airdrop = min(rules.daily_airdrop, state.reserve) if holders else 0
    points = formulas.split_airdrop_linear(airdrop, share_value, _ids(len(share_value)))
    used = formulas.share_value_consumed(points, share_value, price.units)
    n = state.capacity
    state.c_points += points[:n]
    state.c_sv -= used[:n]
    state.m_points += points[n:]
    state.m_sv -= used[n:]
    state.reserve -= airdrop
    state.price = price.units
    return Release(
        guide_price=price,
        airdrop=airdrop,
        holders=holders,
        network_share_value=formulas.exact_sum(share_value),
        share_value_consumed=formulas.exact_sum(used),
        consumer_points=formulas.exact_sum(points[:n]),
        consumer_share_value_consumed=formulas.exact_sum(used[:n]),
    )


_id_cache: dict[int, I64] = {}


def _ids(size: int) -> I64:
    """Member ids in state order: consumers 0..n-1, then merchants n..n+m-1."""
    found = _id_cache.get(size)
    if found is None:
        found = _id_cache[size] = np.arange(size, dtype=np.int64)
    return found
