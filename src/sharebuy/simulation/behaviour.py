"""What members do, as the scenario describes it: growth, spending, choice of merchant.

Floats are fine here (they are behaviour, not balances); every amount they produce is rounded
into integer units (half-up to 0.01 CNY, as a till would) before mechanics.py books it.
Randomness comes from one numpy Generator drawn in a fixed order, so a seed replays a run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sharebuy.simulation.scenario import Scenario
from sharebuy.simulation.state import ACTIVE, State, units4


def curve(scenario: Scenario, day: int) -> float:
    """Active consumers the growth curve asks for on `day` (before shocks)."""
    g = scenario.growth
    peak, start = float(scenario.consumers), float(g["start"])
    kind = g["kind"]
    if kind == "constant":
        return peak
    if kind == "linear":
        return start + (peak - start) * min(1.0, day / g["days_to_peak"])
    if kind == "logistic":
        return _logistic(peak, start, g["rate"], day)
    # boom_bust: logistic growth until the peak day, then a steady decline to a floor.
    top = _logistic(peak, start, g["rate"], min(day, g["peak_day"]))
    if day <= g["peak_day"]:
        return top
    return top * max(g["floor"], (1.0 - g["decline"]) ** (day - g["peak_day"]))


def _logistic(peak: float, start: float, rate: float, day: float) -> float:
    return peak / (1.0 + (peak / start - 1.0) * math.exp(-rate * day))


def growth_stop_day(scenario: Scenario) -> int:
    """The first day the growth curve reaches 99% of its highest value within the horizon."""
    values = np.array([curve(scenario, d) for d in range(scenario.days)])
    return int(np.argmax(values >= 0.99 * values.max()))


def factors(scenario: Scenario, day: int) -> tuple[float, float]:
    """(members factor, spending factor) of the shocks on `day`."""
    members = spending = 1.0
    for shock in scenario.shocks:
        if shock.on(day):
            members *= shock.members_factor
            spending *= shock.spending_factor
    return members, spending


@dataclass
class Behaviour:
    """Per-member traits drawn once, and the day-to-day decisions drawn from them."""

    scenario: Scenario
    rng: np.random.Generator
    loyalty: npt.NDArray[np.float32]  # consumer i is active while loyalty < active share
    popularity: npt.NDArray[np.float64]  # merchant weights for the choice of merchant
    rates: npt.NDArray[np.int64]  # each merchant's concession rate (0.0001)
    usage: npt.NDArray[np.float64]  # merchant's expected concession points per day (moving average)

    @classmethod
    def draw(cls, scenario: Scenario, rng: np.random.Generator) -> Behaviour:
        mb = scenario.merchant_behaviour
        loyalty = rng.random(scenario.consumers, dtype=np.float32)
        rank = rng.permutation(scenario.merchants) + 1
        exponent = mb["zipf_exponent"] if mb["popularity"] == "zipf" else 0.0
        popularity = rank.astype(np.float64) ** -exponent
        weights = np.asarray(mb["rate_weights"], dtype=np.float64)
        picks = rng.choice(len(weights), size=scenario.merchants, p=weights / weights.sum())
        rates = np.array([units4(r) for r in mb["concession_rates"]], dtype=np.int64)[picks]
        return cls(scenario, rng, loyalty, popularity, rates, np.zeros(scenario.merchants))

    # -- growth ---------------------------------------------------------------------------------

    def joined(self, day: int, before: int) -> int:
        """Consumers registered by `day`: they join in index order and never leave the books."""
        wanted = math.ceil(curve(self.scenario, day) - 1e-9)
        return min(self.scenario.consumers, max(before, wanted, 1))

    def merchants_joined(self, consumers: int, before: int) -> int:
        s = self.scenario
        wanted = math.ceil(s.merchants * consumers / s.consumers - 1e-9)
        return min(s.merchants, max(before, wanted, 1))

    def active(self, day: int, joined: int) -> npt.NDArray[np.int64]:
        """Consumers who spend today: the growth curve (and shocks) set the share of joined
        consumers still active; the least loyal stop first and keep their balances."""
        members, _ = factors(self.scenario, day)
        share = curve(self.scenario, day) * members / joined
        if share >= 1.0:
            return np.arange(joined, dtype=np.int64)
        return np.flatnonzero(self.loyalty[:joined] < share)

    def expected_usage(self, state: State, first: int, last: int, active: int) -> None:
        """A new merchant's first estimate of its daily concession points, before it has sales."""
        sp = self.scenario.spending
        share = self.popularity[first:last] / self.popularity[:last].sum()
        spend_cents = active * sp["shop_probability"] * sp["mean_cny"] * 100 * share
        self.usage[first:last] = spend_cents * self.rates[first:last] * 100 / max(state.price, 1)

    # -- spending -------------------------------------------------------------------------------

    def spending(
        self, day: int, active: npt.NDArray[np.int64], max_purchase: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Who shops today and how much (0.01 CNY): lognormal with the scenario's mean."""
        sp = self.scenario.spending
        _, spend_factor = factors(self.scenario, day)
        shoppers = active[self.rng.random(len(active), dtype=np.float32) < sp["shop_probability"]]
        if spend_factor <= 0:
            return shoppers[:0], np.zeros(0, dtype=np.int64)
        sigma = sp["sigma"]
        mu = math.log(sp["mean_cny"] * spend_factor * 100) - sigma * sigma / 2  # in cents
        normal = self.rng.standard_normal(len(shoppers), dtype=np.float32)
        cents = np.floor(np.exp(mu + sigma * normal.astype(np.float64)) + 0.5).astype(np.int64)  # half-up
        keep = cents > 0
        return shoppers[keep], np.minimum(cents[keep], max_purchase)

    def choose_merchants(self, state: State, count: int) -> npt.NDArray[np.int64] | None:
        """Each purchase goes to an open merchant, chosen in proportion to its popularity."""
        open_ = np.flatnonzero(state.m_status[: state.merchants] == ACTIVE)
        if len(open_) == 0:
            return None
        cumulative = np.cumsum(self.popularity[open_])
        draws = self.rng.random(count, dtype=np.float32) * cumulative[-1]
        at = np.minimum(np.searchsorted(cumulative, draws, side="right"), len(open_) - 1)
        return open_[at]

    def learn_usage(
        self, merchants: npt.NDArray[np.int64], deducted: npt.NDArray[np.int64], size: int
    ) -> None:
        """Merchants expect tomorrow's concessions from a moving average of what they paid."""
        today = np.bincount(merchants, weights=deducted.astype(np.float64), minlength=size)
        self.usage[:size] = 0.8 * self.usage[:size] + 0.2 * today[:size]
