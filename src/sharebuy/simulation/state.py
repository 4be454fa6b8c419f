"""The simulator's state: one numpy array per member attribute, integer units for every balance.

Units are the engine's: share value and CNY in 0.01, points and prices in 0.0001, rates in
0.0001.  Holder ids order the release's tie-break exactly as member ids do in the engine:
consumer i has id i, merchant j has id `consumer_capacity + j` (consumers were registered
first, in index order).  Invariant kept by mechanics.py: reserve + Σ available + Σ deposits +
fee account + burned = total issue, every day.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from sharebuy.kernel.amounts import Cny, Price
from sharebuy.members.domain import RATE_UNITS
from sharebuy.rewards.rules import Rulebook

I64 = npt.NDArray[np.int64]

PENDING, ACTIVE, SUSPENDED = 0, 1, 2
NEVER = -(
    10**6
)  # the last purchase day of a member who never made one  # merchant status: approved awaiting deposit, open, 暂停接单


def units4(value: Decimal) -> int:
    """A rate or multiplier with at most 4 decimals, in units of 0.0001 (the rulebook's limit)."""
    return int(value * RATE_UNITS)


@dataclass(frozen=True)
class DayRules:
    """One rulebook version in integer units, as the hot loop needs it."""

    version: int
    rate_min: int
    rate_max: int
    consumer_multiplier: int
    merchant_multiplier: int
    daily_airdrop: int
    total_issue: int
    initial_price: Price
    price_floor: Price
    deposit_cny: Cny
    burn: bool
    fee_rate: int
    window_days: int
    bonus_sv: int
    max_purchase: int
    market_open: bool
    price_band: Decimal
    min_order: int
    book: Rulebook

    @classmethod
    def of(cls, book: Rulebook) -> DayRules:
        low, high = book.concession_bounds
        return cls(
            version=book.version,
            rate_min=units4(low),
            rate_max=units4(high),
            consumer_multiplier=units4(book["consumer_multiplier"]),
            merchant_multiplier=units4(book["merchant_multiplier"]),
            daily_airdrop=book["daily_airdrop"].units,
            total_issue=book["total_issue"].units,
            initial_price=book["initial_price"],
            price_floor=book["price_floor"],
            deposit_cny=book["merchant_deposit_cny"],
            burn=book["deduction_destination"] == "burn",
            fee_rate=units4(book["c2c_fee_rate"]),
            window_days=int(book["activity_window_days"]),
            bonus_sv=book["registration_bonus_sv"].units,
            max_purchase=book["max_purchase_cny"].units,
            market_open=bool(book["c2c_market_open"]),
            price_band=book["c2c_price_band"],
            min_order=book["c2c_min_order_points"].units,
            book=book,
        )


class Schedule:
    """The rulebook in force on each day: versions take effect from their first day on."""

    def __init__(self, versions: list[tuple[int, Rulebook]]) -> None:
        self.days = [day for day, _ in versions]
        self.rules = [DayRules.of(book) for _, book in versions]

    def on(self, day: int) -> DayRules:
        index = int(np.searchsorted(self.days, day, side="right")) - 1
        return self.rules[max(index, 0)]


@dataclass
class State:
    """Everything that carries from one day to the next; arrays sized for the whole horizon."""

    # consumers
    c_sv: I64
    c_points: I64
    c_last_purchase: npt.NDArray[np.int32]  # NEVER until the first purchase (activation)
    c_spent: I64  # CNY paid at merchants, accepted purchases only
    c_cash: I64  # CNY received for points sold
    # merchants
    m_rate: I64
    m_sv: I64
    m_points: I64
    m_deposit: I64
    m_status: npt.NDArray[np.int8]
    m_last_sale: npt.NDArray[np.int32]
    # platform
    reserve: int
    burned: int = 0
    fee_account: int = 0
    price: int = 0  # the last settled day's guide price (what purchases and deposits use)
    consumers: int = 0  # joined so far: consumers 0..consumers-1
    merchants: int = 0  # joined so far

    @classmethod
    def empty(cls, consumers: int, merchants: int, first: DayRules) -> State:
        return cls(
            c_sv=np.zeros(consumers, np.int64),
            c_points=np.zeros(consumers, np.int64),
            c_last_purchase=np.full(consumers, NEVER, np.int32),
            c_spent=np.zeros(consumers, np.int64),
            c_cash=np.zeros(consumers, np.int64),
            m_rate=np.zeros(merchants, np.int64),
            m_sv=np.zeros(merchants, np.int64),
            m_points=np.zeros(merchants, np.int64),
            m_deposit=np.zeros(merchants, np.int64),
            m_status=np.zeros(merchants, np.int8),
            m_last_sale=np.full(merchants, NEVER, np.int32),
            reserve=first.total_issue,
            price=first.initial_price.units,
        )

    @property
    def capacity(self) -> int:
        return len(self.c_sv)

    def points_total(self) -> int:
        """Σ of every points balance; equals the total issue (SPEC §8 I2)."""
        held = int(self.c_points.sum()) + int(self.m_points.sum()) + int(self.m_deposit.sum())
        return self.reserve + held + self.fee_account + self.burned
