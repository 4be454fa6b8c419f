"""The simulator's vectorised formulas against the engine's scalar ones, unit for unit."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sharebuy.kernel.amounts import Cny, Points, Price
from sharebuy.market import domain as market_domain
from sharebuy.rewards import domain, formulas

amounts = st.integers(1, 10_000_000)  # 0.01 .. 100,000.00 CNY
rates = st.integers(1, 10_000)  # 0.0001 .. 1
multipliers = st.integers(0, 10_000_000)  # 0 .. 1000 in units of 0.0001
prices = st.integers(1, 10_000_000)


def _rate(units: int) -> Decimal:
    return Decimal(units).scaleb(-4)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(amounts, rates), min_size=1, max_size=20), multipliers)
def test_purchase_share_value_matches_the_scalar_formula(rows: list[tuple[int, int]], k: int) -> None:
    amount = np.array([a for a, _ in rows], dtype=np.int64)
    rate = np.array([r for _, r in rows], dtype=np.int64)
    got = formulas.purchase_share_value(amount, rate, k)
    for i, (a, r) in enumerate(rows):
        assert int(got[i]) == domain.consumer_share_value(Cny(a), _rate(r), _rate(k)).units
        assert int(got[i]) == domain.merchant_share_value(Cny(a), _rate(r), _rate(k)).units


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(amounts, rates), min_size=1, max_size=20), prices)
def test_concession_points_match_the_scalar_formula(rows: list[tuple[int, int]], price: int) -> None:
    amount = np.array([a for a, _ in rows], dtype=np.int64)
    rate = np.array([r for _, r in rows], dtype=np.int64)
    got = formulas.concession_points_units(amount, rate, price)
    for i, (a, r) in enumerate(rows):
        assert int(got[i]) == domain.concession_points(Cny(a), _rate(r), Price(price)).units


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 10**12), min_size=1, max_size=20), prices, st.integers(0, 10_000))
def test_trade_amount_and_fee_match_the_market(quantities: list[int], price: int, fee: int) -> None:
    q = np.array(quantities, dtype=np.int64)
    cash = formulas.trade_amount_units(q, price)
    fees = formulas.trade_fee_units(q, fee)
    for i, units in enumerate(quantities):
        assert int(cash[i]) == market_domain.trade_amount(Points(units), Price(price)).units
        assert int(fees[i]) == market_domain.trade_fee(Points(units), _rate(fee)).units


@settings(max_examples=400, deadline=None)
@given(
    st.integers(0, 10**14),
    st.lists(st.tuples(st.integers(0, 10**13), st.booleans()), min_size=1, max_size=40),
    st.randoms(use_true_random=False),
)
def test_linear_split_gives_the_same_points_as_the_engine(
    airdrop: int, rows: list[tuple[int, bool]], rnd
) -> None:  # type: ignore[no-untyped-def]
    """Zero entries receive nothing, exactly as if left out; the rest get split_airdrop's points."""
    sv = np.array([v if keep else 0 for v, keep in rows], dtype=np.int64)
    if sv.sum() == 0:
        return
    ids = np.array(rnd.sample(range(1, 10 * len(rows) + 1), len(rows)), dtype=np.int64)
    got = formulas.split_airdrop_linear(airdrop, sv, ids)
    holders = sv > 0
    expected = np.zeros(len(sv), dtype=np.int64)
    expected[holders] = formulas.split_airdrop(airdrop, sv[holders], ids[holders])
    assert (got == expected).all()
    assert int(got.sum()) == airdrop


def test_linear_split_with_equal_shares_breaks_ties_by_lower_id() -> None:
    sv = np.array([0, 5, 5, 5, 0, 5], dtype=np.int64)
    ids = np.array([9, 40, 10, 30, 1, 20], dtype=np.int64)
    got = formulas.split_airdrop_linear(6, sv, ids)  # 1 each, 2 left over: ids 10 and 20
    assert got.tolist() == [0, 1, 2, 1, 0, 2]
