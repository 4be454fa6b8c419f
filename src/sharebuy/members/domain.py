"""Pure member rules: merchant status machine, phone numbers, GB/T 2260 region codes, rates."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
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


_PHONE = re.compile(r"^1[3-9][0-9]{9}$")


def fold_width(text: object) -> str:
    """Full-width digits and signs, as a Chinese input method types them, read as ASCII.

    Digits of other scripts stay as they are, so the ASCII-only patterns below refuse them
    instead of storing a number nobody can search for.
    """
    return unicodedata.normalize("NFKC", str(text))


def normalise_phone(text: str) -> str:
    """Mainland mobile numbers: 11 digits starting 13–19, with an optional +86 prefix."""
    digits = re.sub(r"[\s\-()]", "", fold_width(text))
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
    text = fold_width(code).strip()
    if not re.fullmatch(r"[0-9]{6}", text) or int(text[:2]) not in _PROVINCES:
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
    # Names are shown to others: control and format characters (a right-to-left override, say)
    # could disguise one name as another.
    if not value.isprintable():
        raise InvalidInput(
            "name_not_printable",
            f"{what_zh}含有不可显示的字符",
            f"{what_en} contains characters that cannot be displayed",
        )
    return value


# GB 11643-1999 citizen identity numbers: 6-digit region, birth date YYYYMMDD, 3-digit sequence,
# and a check character over the first 17 digits (ISO 7064 MOD 11-2).
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_check_character(first17: str) -> str:
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def validate_id_number(text: str, today: date | None = None) -> str:
    """An 18-character resident identity number, upper-cased: region, birth date and checksum."""
    number = fold_width(text or "").strip().upper()
    invalid = InvalidInput(
        "invalid_id_number",
        "身份证号码不正确（应为 18 位，校验位须符合 GB 11643）",
        "not a valid 18-character resident identity number (GB 11643 checksum)",
    )
    if not re.fullmatch(r"[0-9]{17}[0-9X]", number) or int(number[:2]) not in _PROVINCES:
        raise invalid
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise invalid from None
    if born.year < 1900 or (today is not None and born > today):
        raise invalid
    if id_check_character(number[:17]) != number[17]:
        raise invalid
    return number


def clean_real_name(text: str) -> str:
    """A legal name as on the identity card: 2–50 characters, no digits."""
    value = " ".join(str(text or "").split())
    if not 2 <= len(value) <= 50 or any(ch.isdigit() for ch in value) or not value.isprintable():
        raise InvalidInput(
            "invalid_real_name",
            "真实姓名应为 2–50 个字符，且不含数字",
            "a real name takes 2–50 characters and no digits",
        )
    return value
