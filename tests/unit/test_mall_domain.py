"""The mall's pure rules: the transition table, region filters, product fields, and the fee and
green-bonus arithmetic (exact, with Hypothesis)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharebuy.kernel.amounts import Points, Price, ShareValue
from sharebuy.kernel.errors import SharebuyError
from sharebuy.mall import domain


def _code(call: object) -> str:
    with pytest.raises(SharebuyError) as caught:
        call()  # type: ignore[operator]
    return caught.value.code


def test_the_transition_table() -> None:
    assert domain.step("placed", "shipped", "merchant").target == "shipped"
    assert domain.step("placed", "cancelled", "consumer").effect == domain.REFUND
    assert domain.step("placed", "cancelled", "merchant").effect == domain.REFUND
    assert domain.step("shipped", "delivered", "system").effect == domain.PAY
    assert _code(lambda: domain.step("shipped", "cancelled", "consumer")) == "invalid_order_transition"
    assert _code(lambda: domain.step("placed", "shipped", "consumer")) == "order_role_forbidden"
    assert _code(lambda: domain.step("delivered", "delivered", "consumer")) == "invalid_order_transition"
    # Every state but the two ends can be left; nothing leaves delivered or cancelled.
    assert {source for source, _event in domain.TRANSITIONS} == set(domain.OPEN_STATES)
    assert set(domain.TOPICS) == {f"mall.order.{e}" for e in ("placed", "shipped", "delivered", "cancelled")}


@pytest.mark.parametrize(
    ("given_", "prefix"),
    [("44", "44"), ("4419", "4419"), ("441900", "4419"), ("440000", "44"), ("441302", "441302")],
)
def test_region_filters_are_prefixes(given_: str, prefix: str) -> None:
    assert domain.region_prefix(given_) == prefix


@pytest.mark.parametrize("bad", ["4", "441", "44190", "4419000", "44a9", ""])
def test_bad_region_filters(bad: str) -> None:
    assert _code(lambda: domain.region_prefix(bad)) == "invalid_region_filter"


def test_product_fields() -> None:
    assert domain.picture_url("https://img.example.cn/a.jpg") == "https://img.example.cn/a.jpg"
    assert domain.picture_url("") is None
    for bad in (
        "http://img.example.cn/a.jpg",
        "https://",
        "ftp://x/y",
        "https://a b.cn/x",
        "javascript:x",
        "https://[",
        "https://a.cn/\x01",
    ):
        assert _code(lambda b=bad: domain.picture_url(b)) == "invalid_picture_url"
    assert domain.quantity("3") == 3
    for bad in (0, -1, 101, "1.5", "", True, "1e2"):
        assert _code(lambda b=bad: domain.quantity(b)) == "invalid_quantity"


def test_the_worked_example() -> None:
    points = domain.total(Points.parse("150"), 2)
    assert points == Points.parse("300")
    assert domain.fee(points, Decimal("0.02")) == Points.parse("6")
    assert domain.green_bonus(points, Price.parse("1.2"), Decimal("0.05")) == ShareValue.parse("18.00")


@given(
    units=st.integers(1, 10**12),
    rate=st.integers(0, 10_000).map(lambda n: Decimal(n) / 10_000),
)
def test_the_fee_never_exceeds_the_points_and_the_merchant_never_gets_more(units: int, rate: Decimal) -> None:
    points = Points(units)
    fee = domain.fee(points, rate)
    assert Points(0) <= fee <= points
    assert abs(fee.to_decimal() - points.to_decimal() * rate) <= Decimal("0.00005")


@given(
    units=st.integers(1, 10**12),
    price=st.integers(1, 10**8),
    rate=st.integers(0, 10_000).map(lambda n: Decimal(n) / 10_000),
)
def test_the_green_bonus_is_exact_to_half_a_cent(units: int, price: int, rate: Decimal) -> None:
    bonus = domain.green_bonus(Points(units), Price(price), rate)
    exact = Points(units).to_decimal() * Price(price).to_decimal() * rate
    assert abs(bonus.to_decimal() - exact) <= Decimal("0.005")
