"""Exact amounts: parsing, rounding rules, formatting, refusal of floats."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharebuy.kernel.amounts import Cny, Points, Price, ShareValue, half_up, round_up, truncate
from sharebuy.kernel.errors import InvalidInput


def test_full_precision_strings() -> None:
    assert str(Points.parse("25")) == "25.0000"
    assert str(ShareValue.parse("4975")) == "4975.00"
    assert str(Price.parse("1")) == "1.0000"
    assert str(Cny.parse("-0.05")) == "-0.05"


def test_floats_are_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        Points.parse(0.1)
    assert caught.value.code == "float_refused"
    with pytest.raises(TypeError):
        Points(1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["abc", "", "NaN", "Infinity", "1e9999x"])
def test_garbage_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        Cny.parse(text)


def test_more_decimals_than_the_unit_is_an_error_not_a_rounding() -> None:
    with pytest.raises(InvalidInput) as caught:
        Cny.parse("1.005")
    assert caught.value.code == "too_many_decimals"


def test_named_roundings() -> None:
    assert half_up(Decimal("0.125"), 2) == Decimal("0.13")
    assert half_up(Decimal("0.124"), 2) == Decimal("0.12")
    assert truncate(Decimal("0.12999"), 4) == Decimal("0.1299")
    assert round_up(Decimal("0.12001"), 4) == Decimal("0.1201")
    assert round_up(Decimal("0.1200"), 4) == Decimal("0.1200")


def test_kinds_do_not_mix() -> None:
    with pytest.raises(TypeError):
        Points(1) + ShareValue(1)  # type: ignore[operator]


@given(st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=6, allow_nan=False))
def test_rounding_brackets_the_exact_value(value: Decimal) -> None:
    """truncate never gives more (in magnitude), round_up never charges less, half-up is nearest."""
    low, high, near = truncate(value, 4), round_up(value, 4), half_up(value, 4)
    assert abs(low) <= abs(value)
    assert high >= value
    assert abs(near - value) <= Decimal("0.00005")


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_text_round_trip(units: int) -> None:
    assert Points.parse(str(Points(units))) == Points(units)
    assert ShareValue.parse(str(ShareValue(units))) == ShareValue(units)
