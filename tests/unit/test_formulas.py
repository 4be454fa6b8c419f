"""The release and purchase formulas against SPEC worked examples and exact references."""

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sharebuy.kernel.amounts import Cny, Points, Price, ShareValue
from sharebuy.kernel.errors import Refused
from sharebuy.rewards import domain, formulas


def test_purchase_worked_example() -> None:
    """SPEC §3: 5000 CNY at 10% → consumer 5000 SV, merchant 1000 SV, 500 points at P = 1."""
    amount, rate = Cny.parse("5000"), Decimal("0.10")
    assert domain.consumer_share_value(amount, rate, Decimal(10)) == ShareValue.parse("5000")
    assert domain.merchant_share_value(amount, rate, Decimal(2)) == ShareValue.parse("1000")
    assert domain.concession_points(amount, rate, Price.parse("1")) == Points.parse("500")


def test_deduction_rounds_up_never_undercharging() -> None:
    # 10.00 × 10% / 3.0000 = 0.33333… → 0.3334
    assert domain.concession_points(Cny.parse("10"), Decimal("0.1"), Price.parse("3")) == Points.parse(
        "0.3334"
    )


def test_deposit_requirement_follows_the_price() -> None:
    """SPEC §5: 500 points at 1.00, 250 at 2.00."""
    assert domain.deposit_required(Cny.parse("500"), Price.parse("1")) == Points.parse("500")
    assert domain.deposit_required(Cny.parse("500"), Price.parse("2")) == Points.parse("250")


def test_release_worked_example() -> None:
    """SPEC §4: 5000 of 100,000 SV with A = 500 → 25.0000 points; SV 5000 → 4975.00 at P = 1."""
    sv = np.array([500_000, 9_500_000], dtype=np.int64)  # 5,000.00 and 95,000.00 SV
    points = formulas.split_airdrop(Points.parse("500").units, sv, np.array([1, 2]))
    assert Points(int(points[0])) == Points.parse("25")
    used = formulas.share_value_consumed(points, sv, Price.parse("1").units)
    assert ShareValue(int(sv[0] - used[0])) == ShareValue.parse("4975")


def test_guide_price_never_below_floor() -> None:
    floor = Price.parse("1")
    assert domain.guide_price(Price.parse("1.5"), None, floor) == Price.parse("1.5")
    assert domain.guide_price(Price.parse("1.5"), Price.parse("0.8"), floor) == floor
    assert domain.guide_price(Price.parse("1.5"), Price.parse("2"), floor) == Price.parse("2")


def test_deduction_takes_available_then_deposit_then_refuses() -> None:
    split = domain.split_deduction(Points(100), Points(60), Points(500))
    assert (split.from_available, split.from_deposit, split.suspends) == (Points(60), Points(40), True)
    with pytest.raises(Refused):
        domain.split_deduction(Points(1000), Points(60), Points(500))


def reference_split(airdrop: int, sv: list[int], ids: list[int]) -> list[int]:
    """SPEC §4 step 3 with exact fractions, written independently of the numpy version."""
    total = sum(sv)
    shares = [Fraction(airdrop * s, total) for s in sv]
    floors = [int(q) for q in shares]
    rank = sorted(range(len(sv)), key=lambda i: (-(shares[i] - floors[i]), ids[i]))
    for i in rank[: airdrop - sum(floors)]:
        floors[i] += 1
    return floors


holders = st.lists(st.integers(min_value=1, max_value=10**12), min_size=1, max_size=60)


@settings(max_examples=300)
@given(airdrop=st.integers(min_value=0, max_value=5 * 10**9), sv=holders)
def test_split_is_exact_and_matches_the_reference(airdrop: int, sv: list[int]) -> None:
    ids = list(range(1, len(sv) + 1))
    points = formulas.split_airdrop(airdrop, np.array(sv, dtype=np.int64), np.array(ids))
    assert int(points.sum()) == airdrop  # no point created, none lost
    assert points.tolist() == reference_split(airdrop, sv, ids)


@given(sv=st.lists(st.integers(min_value=10**13, max_value=10**15), min_size=1, max_size=20))
def test_split_stays_exact_beyond_64_bits(sv: list[int]) -> None:
    airdrop = 5_000_000
    ids = list(range(len(sv)))
    points = formulas.split_airdrop(airdrop, np.array(sv, dtype=np.int64), np.array(ids))
    assert int(points.sum()) == airdrop
    assert points.tolist() == reference_split(airdrop, sv, ids)


def test_ties_go_to_the_lower_id() -> None:
    points = formulas.split_airdrop(1, np.array([5, 5, 5]), np.array([30, 10, 20]))
    assert points.tolist() == [0, 1, 0]


@given(
    points=st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=30),
    price=st.integers(min_value=1, max_value=10**7),
)
def test_share_value_consumed_is_half_up_and_capped(points: list[int], price: int) -> None:
    sv = [p // 3 + 1 for p in points]
    used = formulas.share_value_consumed(np.array(points), np.array(sv), price)
    for p, s, u in zip(points, sv, used.tolist(), strict=True):
        exact = ShareValue.from_decimal(Points(p).to_decimal() * Price(price).to_decimal(), "half_up").units
        assert u == min(s, exact)
