"""The pure rules of tiers and the dividend pool, with Hypothesis for the split (no database)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharebuy.kernel.amounts import Cny, Points, ShareValue
from sharebuy.kernel.errors import InvalidInput
from sharebuy.rewards import formulas
from sharebuy.tiers import domain
from sharebuy.tiers.domain import Tier

LADDER = [
    Tier("silver", "consumer", "银卡", "Silver", Cny.parse("100"), 1),
    Tier("gold", "consumer", "金卡", "Gold", Cny.parse("1000"), 3),
]


def test_the_highest_threshold_reached_is_the_tier() -> None:
    assert domain.tier_for(Cny.parse("99.99").units, LADDER) is None
    assert domain.tier_for(Cny.parse("100").units, LADDER) == LADDER[0]
    assert domain.tier_for(Cny.parse("5000").units, LADDER) == LADDER[1]


def test_downgrade_policy() -> None:
    assert domain.next_tier("gold", "silver", LADDER, "never") == "gold"
    assert domain.next_tier("gold", None, LADDER, "never") == "gold"
    assert domain.next_tier("gold", "silver", LADDER, "on_evaluation") == "silver"
    assert domain.next_tier("silver", "gold", LADDER, "never") == "gold"
    assert domain.next_tier("retired", None, LADDER, "never") is None  # a tier off the ladder goes


def test_worked_example_of_the_pool() -> None:
    wanted = domain.pool_wanted(Cny.parse("50000"), Decimal("0.01"), 10_000)
    assert wanted == Points.parse("500")
    assert domain.capped_pool(wanted, Points.parse("120")) == (Points.parse("120"), True)
    assert domain.capped_pool(wanted, Points.parse("900")) == (wanted, False)
    # truncated, never rounded up: 0.01 CNY × 1% ÷ 3.0000 = 0.0000333… points
    assert domain.pool_wanted(Cny.parse("0.01"), Decimal("0.01"), 30_000) == Points(0)
    split = formulas.split_airdrop(Points.parse("120").units, np.array([3, 1, 1]), np.array([1, 2, 3]))
    assert split.tolist() == [720_000, 240_000, 240_000]


def test_periods() -> None:
    assert domain.parse_period("2025-03") == domain.Period(
        "2025-03", "monthly", date(2025, 3, 1), date(2025, 3, 31)
    )
    assert domain.parse_period("2024-02").last_day == date(2024, 2, 29)
    assert domain.parse_period("2025-03-07").kind == "daily"
    for bad in ("2025-13", "2025-3", "march", "2025-02-30"):
        with pytest.raises(InvalidInput):
            domain.parse_period(bad)


def test_green_bonus_rounds_half_up() -> None:
    assert domain.green_bonus(ShareValue.parse("1000"), Decimal("0.10")) == ShareValue.parse("100")
    assert domain.green_bonus(ShareValue.parse("0.05"), Decimal("0.10")) == ShareValue.parse("0.01")


def test_tier_validation() -> None:
    with pytest.raises(InvalidInput):
        domain.check_tier(Tier("Gold", "consumer", "金", "Gold", Cny(0), 1))
    with pytest.raises(InvalidInput):
        domain.check_tier(Tier("gold", "recruiter", "金", "Gold", Cny(0), 1))
    with pytest.raises(InvalidInput):
        domain.check_tier(Tier("gold", "consumer", "金", "Gold", Cny(0), -1))


@given(
    pool=st.integers(min_value=0, max_value=10**12),
    tiers=st.lists(
        st.tuples(st.integers(min_value=1, max_value=10_000), st.integers(min_value=1, max_value=40)),
        min_size=1,
        max_size=6,
    ),
)
def test_the_split_pays_out_the_pool_exactly_and_equally_inside_a_tier(
    pool: int, tiers: list[tuple[int, int]]
) -> None:
    weights = np.array([w for w, n in tiers for _ in range(n)], dtype=np.int64)
    tier_of = np.array([t for t, (_w, n) in enumerate(tiers) for _ in range(n)])
    ids = np.arange(1, len(weights) + 1, dtype=np.int64)
    points, leftover = formulas.split_airdrop_counting_leftover(pool, weights, ids)
    assert int(points.sum()) == pool  # nothing created, nothing lost
    assert (points >= 0).all() and 0 <= leftover < len(weights)
    total_weight = int(weights.sum())
    for t, (weight, _n) in enumerate(tiers):
        mine = points[tier_of == t]
        assert int(mine.max()) - int(mine.min()) <= 1  # equal inside a tier, up to one unit
        exact = pool * weight // total_weight  # each member's truncated share
        assert exact <= int(mine.min()) and int(mine.max()) <= exact + 1
