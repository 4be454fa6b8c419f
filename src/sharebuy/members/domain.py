"""Pure member rules: merchant status machine, phone numbers, GB/T 2260 region codes, rates."""

from __future__ import annotations

import re
from decimal import Decimal

from sharebuy.kernel.amounts import parse_decimal
from sharebuy.kernel.errors import InvalidInput, Refused

# status -> the statuses it may move to (applied → approved → active ⇄ suspended → closed).
MERCHANT_TRANSITIONS: dict[str, frozenset[str]] = {
    "applied": frozenset({"approved", "closed"}),
    "approved": frozenset({"active", "closed"}),
    "active": frozenset({"suspended", "closed"}),
    "suspended": frozenset({"active", "closed"}),
    "closed": frozenset(),
}
STATUS_ZH = {
    "applied": "已申请",
    "approved": "已批准（待缴保证金）",
    "active": "营业中",
    "suspended": "暂停接单",
    "closed": "已关闭",
}


def require_transition(current: str, target: str) -> None:
    if target not in MERCHANT_TRANSITIONS.get(current, frozenset()):
        raise Refused(
            "invalid_status_transition",
            f"商家状态不能从「{STATUS_ZH.get(current, current)}」变为「{STATUS_ZH.get(target, target)}」",
            f"a merchant cannot go from {current} to {target}",
            current=current,
            target=target,
        )


_PHONE = re.compile(r"^1[3-9]\d{9}$")


def normalise_phone(text: str) -> str:
    """Mainland mobile numbers: 11 digits starting 13–19, with an optional +86 prefix."""
    digits = re.sub(r"[\s\-()]", "", str(text))
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not _PHONE.match(digits):
        raise InvalidInput(
            "invalid_phone",
            f"手机号格式不正确：{text}",
            f"not a valid mainland China mobile number: {text}",
        )
    return digits


# Province-level prefixes of GB/T 2260 (including Taiwan 71, Hong Kong 81, Macao 82).
_PROVINCES = frozenset(
    {
        11,
        12,
        13,
        14,
        15,
        21,
        22,
        23,
        31,
        32,
        33,
        34,
        35,
        36,
        37,
        41,
        42,
        43,
        44,
        45,
        46,
        50,
        51,
        52,
        53,
        54,
        61,
        62,
        63,
        64,
        65,
        71,
        81,
        82,
    }
)


def validate_region(code: str) -> str:
    text = str(code).strip()
    if not re.fullmatch(r"\d{6}", text) or int(text[:2]) not in _PROVINCES:
        raise InvalidInput(
            "invalid_region",
            f"地区代码应为 6 位 GB/T 2260 行政区划代码：{code}",
            f"region must be a 6-digit GB/T 2260 administrative code: {code}",
        )
    return text


RATE_UNITS = 10_000  # concession rates are stored in units of 0.0001


def parse_rate(text: object) -> Decimal:
    value = parse_decimal(text, "concession_rate")
    if value.as_tuple().exponent < -4:  # type: ignore[operator]
        raise InvalidInput(
            "too_many_decimals", "让利比例最多 4 位小数", "a concession rate takes at most 4 decimals"
        )
    return value


def check_rate_bounds(rate: Decimal, low: Decimal, high: Decimal) -> None:
    if not low <= rate <= high:
        raise Refused(
            "rate_out_of_bounds",
            f"让利比例 {rate} 不在运营规则范围 {low}–{high} 内",
            f"concession rate {rate} is outside the operator's bounds {low}–{high}",
        )


def rate_to_units(rate: Decimal) -> int:
    return int(rate * RATE_UNITS)


def rate_from_units(units: int) -> Decimal:
    return (Decimal(units) / RATE_UNITS).quantize(Decimal("0.0001"))


def clean_name(text: str, what_zh: str, what_en: str, *, required: bool = True) -> str:
    value = " ".join(str(text or "").split())
    if required and not value:
        raise InvalidInput("name_required", f"{what_zh}不能为空", f"{what_en} is required")
    if len(value) > 100:
        raise InvalidInput(
            "name_too_long", f"{what_zh}最多 100 个字符", f"{what_en} is at most 100 characters"
        )
    return value
