"""Exact amounts: every quantity of money, share value or points is an integer of its unit.

Invariant kept here: no float ever becomes an amount, and every conversion from a decimal
names its rounding (half-up, truncate or round-up) instead of relying on a context default.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, ClassVar, Self

from sharebuy.kernel.errors import InvalidInput

__all__ = [
    "Amount",
    "Cny",
    "Points",
    "Price",
    "ShareValue",
    "half_up",
    "parse_decimal",
    "round_up",
    "truncate",
]


# Thousands separators are read only where they group thousands: "1,000.50", "1_000".  "1,50" is
# 1.50 to an operator used to a decimal comma and 150 once the comma is dropped: refused, not guessed.
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?|[+-]?\d{1,3}(?:_\d{3})+(?:\.\d*)?")


def _ungroup(text: str) -> str:
    """The text without its thousands separators, or "" (not a number) when they are misplaced."""
    if "," not in text and "_" not in text:
        return text
    return text.replace(",", "").replace("_", "") if _GROUPED.fullmatch(text) else ""


def parse_decimal(value: object, what: str = "amount") -> Decimal:
    """Turn user input into a finite Decimal; floats are refused because they are inexact."""
    if isinstance(value, (bool, float)):
        raise InvalidInput(
            "float_refused",
            f"{what} 必须是精确的十进制数，不接受浮点数",
            f"{what} must be an exact decimal, floats are refused",
        )
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        text = _ungroup(value.strip())
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise InvalidInput(
                "invalid_decimal",
                f"{what} 不是有效的数字：{value!r}",
                f"{what} is not a valid number: {value!r}",
            ) from None
    else:
        raise InvalidInput(
            "invalid_decimal",
            f"{what} 的类型无效：{type(value).__name__}",
            f"{what} has an invalid type: {type(value).__name__}",
        )
    if not result.is_finite():
        raise InvalidInput("invalid_decimal", f"{what} 必须是有限数", f"{what} must be a finite number")
    return result


# Storage is a signed 64-bit integer of units: amounts stay below 10**18 units.
MAX_DIGITS = 18


def _quantum(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def half_up(value: Decimal, places: int) -> Decimal:
    """Round to `places` decimals, halves away from zero (四舍五入)."""
    return value.quantize(_quantum(places), rounding=ROUND_HALF_UP)


def truncate(value: Decimal, places: int) -> Decimal:
    """Cut to `places` decimals toward zero (截断): never gives more than was computed."""
    return value.quantize(_quantum(places), rounding=ROUND_DOWN)


def round_up(value: Decimal, places: int) -> Decimal:
    """Round to `places` decimals toward +infinity (进一): never charges less than owed."""
    return value.quantize(_quantum(places), rounding=ROUND_CEILING)


def round_down(value: Decimal, places: int) -> Decimal:
    """Round toward -infinity; used for integer unit division of signed values."""
    return value.quantize(_quantum(places), rounding=ROUND_FLOOR)


class Amount:
    """An exact quantity stored as an integer count of its smallest unit (10**-PLACES)."""

    PLACES: ClassVar[int] = 0
    NAME: ClassVar[str] = "amount"
    __slots__ = ("units",)

    def __init__(self, units: int) -> None:
        if isinstance(units, bool) or not isinstance(units, int):
            raise TypeError(f"{type(self).__name__} takes integer units, got {type(units).__name__}")
        self.units = units

    # -- construction -------------------------------------------------------------------
    @classmethod
    def parse(cls, value: object) -> Self:
        """Exact input only: more decimals than the unit allows is an error, not a rounding.

        Done in integers, not in a decimal context: a context would round a long input to its
        28 digits, flush 1e-999999999 to zero or trap on 1e999999999 instead of refusing them.
        """
        dec = parse_decimal(value, cls.NAME)
        if dec.is_zero():
            return cls(0)
        if dec.adjusted() >= MAX_DIGITS - cls.PLACES:
            raise InvalidInput(
                "amount_out_of_range",
                f"{cls.NAME} 超出范围（最多 {MAX_DIGITS - cls.PLACES} 位整数）：{value}",
                f"{cls.NAME} is out of range (at most {MAX_DIGITS - cls.PLACES} integer digits): {value}",
            )
        sign, digits, exponent = dec.as_tuple()
        assert isinstance(exponent, int)  # finite: parse_decimal refused the rest
        shift = exponent + cls.PLACES
        if dec.adjusted() < -cls.PLACES or (shift < 0 and any(digits[shift:])):
            raise InvalidInput(
                "too_many_decimals",
                f"{cls.NAME} 最多 {cls.PLACES} 位小数：{value}",
                f"{cls.NAME} takes at most {cls.PLACES} decimals: {value}",
            )
        kept = digits if shift >= 0 else digits[:shift]
        units = int("".join(map(str, kept)) or "0") * 10 ** max(shift, 0)
        return cls(-units if sign else units)

    @classmethod
    def from_decimal(cls, value: Decimal, rounding: str = "half_up") -> Self:
        """Convert a computed Decimal with an explicit rounding rule."""
        rounder = _ROUNDERS[rounding]
        return cls(int(rounder(value, cls.PLACES).scaleb(cls.PLACES)))

    @classmethod
    def zero(cls) -> Self:
        return cls(0)

    # -- views --------------------------------------------------------------------------
    def to_decimal(self) -> Decimal:
        return Decimal(self.units).scaleb(-self.PLACES)

    def __str__(self) -> str:
        """Full precision, always: Points(250000) -> '25.0000'."""
        sign = "-" if self.units < 0 else ""
        whole, frac = divmod(abs(self.units), 10**self.PLACES)
        if self.PLACES == 0:
            return f"{sign}{whole}"
        return f"{sign}{whole}.{frac:0{self.PLACES}d}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self}')"

    # -- arithmetic within one kind -----------------------------------------------------
    def _same(self, other: Any) -> int:
        if type(other) is not type(self):
            raise TypeError(f"cannot combine {type(self).__name__} with {type(other).__name__}")
        return int(other.units)

    def __add__(self, other: Self) -> Self:
        return type(self)(self.units + self._same(other))

    def __sub__(self, other: Self) -> Self:
        return type(self)(self.units - self._same(other))

    def __neg__(self) -> Self:
        return type(self)(-self.units)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.units == self.units

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.units))

    def __lt__(self, other: Self) -> bool:
        return self.units < self._same(other)

    def __le__(self, other: Self) -> bool:
        return self.units <= self._same(other)

    def __gt__(self, other: Self) -> bool:
        return self.units > self._same(other)

    def __ge__(self, other: Self) -> bool:
        return self.units >= self._same(other)

    def __bool__(self) -> bool:
        return self.units != 0

    def is_positive(self) -> bool:
        return self.units > 0


_ROUNDERS = {"half_up": half_up, "truncate": truncate, "round_up": round_up}


class Points(Amount):
    """共享积分, unit 0.0001."""

    PLACES = 4
    NAME = "points"


class ShareValue(Amount):
    """共享值, unit 0.01."""

    PLACES = 2
    NAME = "share_value"


class Cny(Amount):
    """人民币 amounts (purchases, trade prices), unit 0.01."""

    PLACES = 2
    NAME = "cny"


class Price(Amount):
    """CNY per point, unit 0.0001."""

    PLACES = 4
    NAME = "price"
