"""Pure purchase and release formulas (SPEC §3–§4); standard library only.

Worked example (SPEC §3): M = 5000.00 CNY, r = 10%, P = 1.0000
    consumer SV = 5000 × 0.10 × 10 = 5000.00      (half-up to 0.01)
    merchant SV = 5000 × 0.10 × 2  = 1000.00      (half-up to 0.01)
    deduction   = 5000 × 0.10 / 1  = 500.0000 pts (rounded up to 0.0001: never less than owed)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sharebuy.kernel.amounts import Cny, Points, Price, ShareValue
from sharebuy.kernel.errors import Refused


def consumer_share_value(amount: Cny, rate: Decimal, multiplier: Decimal) -> ShareValue:
    return ShareValue.from_decimal(amount.to_decimal() * rate * multiplier, "half_up")


def merchant_share_value(amount: Cny, rate: Decimal, multiplier: Decimal) -> ShareValue:
    return ShareValue.from_decimal(amount.to_decimal() * rate * multiplier, "half_up")


def concession_points(amount: Cny, rate: Decimal, price: Price) -> Points:
    """Points the merchant pays for a sale: M × r / P, rounded up so the platform never undercharges."""
    return Points.from_decimal(amount.to_decimal() * rate / price.to_decimal(), "round_up")


def deposit_required(deposit_cny: Cny, price: Price) -> Points:
    """Deposit in points worth `deposit_cny` at the guide price: 500 at 1.00, 250 at 2.00."""
    return Points.from_decimal(deposit_cny.to_decimal() / price.to_decimal(), "round_up")


def share_value_for_points(points: Points, price: Price) -> ShareValue:
    """Value of released points at the day's guide price, half-up to 0.01 (SPEC §4 step 4)."""
    return ShareValue.from_decimal(points.to_decimal() * price.to_decimal(), "half_up")


def guide_price(previous: Price, market: Price | None, floor: Price) -> Price:
    """P_D: the day's market price if there was one, else the previous day's; never below the floor."""
    chosen = market if market is not None else previous
    return max(chosen, floor)


@dataclass(frozen=True, slots=True)
class Deduction:
    from_available: Points
    from_deposit: Points

    @property
    def suspends(self) -> bool:
        """Dipping into the deposit suspends the merchant until it is topped up (SPEC §3)."""
        return self.from_deposit.is_positive()


def split_deduction(owed: Points, available: Points, deposit: Points) -> Deduction:
    from_available = min(owed, available)
    shortfall = owed - from_available
    if shortfall > deposit:
        raise Refused(
            "insufficient_points",
            f"商家积分不足：需扣 {owed}，可用 {available}，保证金 {deposit}",
            f"merchant points are short: {owed} due, {available} available, {deposit} deposit",
            due=owed,
            available=available,
            deposit=deposit,
        )
    return Deduction(from_available, shortfall)


def net_against_owed(credit: int, owed_balance: int) -> tuple[int, int]:
    """Split a share-value credit (units) into (repays clawback owed, goes to the balance).

    `owed_balance` is the owed account's balance, zero or negative.
    """
    repay = min(credit, -owed_balance)
    return repay, credit - repay


def take_back(amount: int, balance: int) -> tuple[int, int]:
    """Split a share-value debit into (taken from the balance, added to clawback owed)."""
    taken = min(amount, balance)
    return taken, amount - taken
