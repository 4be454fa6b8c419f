"""The traditional cash-rebate model the seed contrasts (传统消费全返): promises paid in cash.

The same purchases, booked the old way: each consumer is promised the same rebate quota as the
share value the points model mints (M × r × consumer multiplier), to be paid in cash at a fixed
share of the outstanding promise per day; the merchants' concessions (M × r), less the
operator's cut, fill a treasury that pays it.  When a day's payments exceed the treasury it pays
what it holds and has failed: that day is the treasury's failure day.  Whole cents throughout.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass
class CashRebate:
    release_rate: int  # per day, in millionths of the outstanding promise
    keep: int  # share of concessions that reaches the treasury, in millionths
    outstanding: int = 0  # promised and not yet paid (0.01 CNY)
    treasury: int = 0
    paid: int = 0
    promised: int = 0
    failure_day: int | None = None  # day index (0 = the first business day)
    days: int = 0  # days booked so far

    @classmethod
    def of(cls, release_rate: Decimal, operator_cut: Decimal) -> CashRebate:
        return cls(int(release_rate * 1_000_000), int((1 - operator_cut) * 1_000_000))

    def day(self, concessions_micro: int, promise: int) -> tuple[int, int]:
        """Book one day: concessions in 1e-6 CNY, new promises in 0.01 CNY; returns (due, paid)."""
        self.treasury += concessions_micro * self.keep // 10**10  # 1e-6 × 1e-6 → 0.01 CNY
        self.outstanding += promise
        self.promised += promise
        due = (self.outstanding * self.release_rate + 500_000) // 1_000_000
        pay = min(due, self.treasury)
        self.treasury -= pay
        self.outstanding -= pay
        self.paid += pay
        self.days += 1
        if pay < due and self.failure_day is None:
            self.failure_day = self.days - 1
        return due, pay
