"""Pure rules of tiers, the dividend pool and the green bonus (SPEC §7); standard library only.

- A tier is earned by the member's OWN basis amount (a consumer's consumption, a merchant's
  turnover) and nothing else: no count of recruits enters any formula here.
- The pool is `turnover × rate ÷ guide price`, truncated to 0.0001 points (the fee account never
  pays more than the rate asks), then capped by the fee account's balance: points are never minted.
- The split gives each member the weight of its tier and splits the pool exactly as the daily
  release splits the airdrop (SPEC §4: truncate, then one unit each to the largest remainders,
  ties to the lower member id), so Σ lines = pool to the unit and members of one tier differ by
  at most one unit.

Worked example: turnover 50,000.00 CNY, rate 1%, guide price 1.0000 → a pool of 500.0000 points;
with a fee balance of 120.0000 the pool is capped to 120.0000.  Tiers gold (weight 3, one
member) and silver (weight 1, two members): total weight 5, gold gets 72.0000, each silver 24.0000.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sharebuy.kernel.amounts import Cny, Points, ShareValue
from sharebuy.kernel.errors import InvalidInput
from sharebuy.kernel.text import displayable

MEMBER_KINDS = ("consumer", "merchant")
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,15}$")
_RATE_SCALE = 10**4  # rates count units of 0.0001, like prices and points


@dataclass(frozen=True)
class Tier:
    code: str
    member_kind: str
    name_zh: str
    name_en: str
    threshold: Cny
    weight: int


def check_tier(tier: Tier) -> Tier:
    """Refuse a tier an operator could not mean: bad code, kind, names, threshold or weight."""
    if not _CODE.match(tier.code):
        raise InvalidInput(
            "invalid_tier_code",
            "等级代码须为小写字母开头的 1–16 位小写字母、数字或下划线",
            "a tier code is 1–16 lowercase letters, digits or underscores, starting with a letter",
        )
    if tier.member_kind not in MEMBER_KINDS:
        raise InvalidInput(
            "invalid_member_kind",
            "会员类型只能是 consumer 或 merchant",
            "member kind is consumer or merchant",
        )
    names = (tier.name_zh.strip(), tier.name_en.strip())
    # Tier names are shown to every member of the tier: nothing that cannot be displayed.
    if not all(0 < len(name) <= 32 and displayable(name) for name in names):
        raise InvalidInput(
            "invalid_tier_name",
            "等级名称须为 1–32 个可显示的字符",
            "tier names take 1–32 characters that can be displayed",
        )
    if tier.threshold.units < 0:
        raise InvalidInput("negative_threshold", "门槛不能为负数", "a threshold cannot be negative")
    if not 0 <= tier.weight <= 10_000:
        raise InvalidInput(
            "invalid_weight",
            "分红权重必须是 0 到 10000 的整数",
            "a dividend weight is a whole number 0..10000",
        )
    return tier


def tier_for(basis: int, ladder: Sequence[Tier]) -> Tier | None:
    """The highest tier whose threshold the basis (CNY cents) reaches; None below every threshold."""
    reached = [t for t in ladder if t.threshold.units <= basis]
    return max(reached, key=lambda t: (t.threshold.units, t.code)) if reached else None


def rank(code: str | None, ladder: Sequence[Tier]) -> int:
    """Position on the ladder by threshold: no tier is -1, a tier no longer on the ladder -1 too."""
    ordered = sorted(ladder, key=lambda t: (t.threshold.units, t.code))
    for position, tier in enumerate(ordered):
        if tier.code == code:
            return position
    return -1


def next_tier(current: str | None, target: str | None, ladder: Sequence[Tier], downgrade: str) -> str | None:
    """What a member holds after an evaluation: the target, except that under `never` a member
    keeps a higher tier it earned before (a tier removed from the ladder is always given up)."""
    if target == current:
        return current
    if downgrade == "never" and rank(target, ladder) < rank(current, ladder):
        return current
    return target


def window(day: date, basis_days: int) -> date | None:
    """First day counted for the basis on `day`: None for the lifetime (basis_days = 0)."""
    return None if basis_days == 0 else day - timedelta(days=basis_days - 1)


# -- dividend periods --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    key: str  # 2025-03-01 for a day, 2025-03 for a month
    kind: str
    first_day: date
    last_day: date


def period_of(kind: str, day: date) -> Period:
    """The period of `kind` that contains `day`."""
    if kind == "daily":
        return Period(day.isoformat(), "daily", day, day)
    last = calendar.monthrange(day.year, day.month)[1]
    return Period(f"{day.year:04d}-{day.month:02d}", "monthly", day.replace(day=1), day.replace(day=last))


def parse_period(text: str) -> Period:
    """'2025-03-01' is a daily period, '2025-03' a monthly one."""
    value = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return period_of("daily", date.fromisoformat(value))
        if re.fullmatch(r"\d{4}-\d{2}", value):
            return period_of("monthly", date.fromisoformat(value + "-01"))
    except ValueError:
        pass
    raise InvalidInput(
        "invalid_period",
        "分红周期写作 YYYY-MM-DD（日）或 YYYY-MM（月）",
        "a dividend period is YYYY-MM-DD (a day) or YYYY-MM (a month)",
    )


def pool_wanted(turnover: Cny, rate: Decimal, price_units: int) -> Points:
    """turnover × rate ÷ price, truncated to 0.0001 points.

    cents (1e-2 CNY) × rate units (1e-4) ÷ price units (1e-4 CNY/pt) = 1e-2 points; × 100 gives
    points units.  Truncated: the pool never asks the fee account for more than the rate allows.
    """
    rate_units = int(rate * _RATE_SCALE)
    return Points(turnover.units * rate_units * 100 // price_units)


def rate_text(units: int) -> Decimal:
    """A stored rate (units of 0.0001) as the decimal the operator wrote: 100 → 0.0100."""
    return Decimal(units).scaleb(-4)


def capped_pool(wanted: Points, fee_balance: Points) -> tuple[Points, bool]:
    """The pool actually paid and whether the fee account's balance limited it."""
    if fee_balance.units < wanted.units:
        return fee_balance, True
    return wanted, False


def green_bonus(consumer_share_value: ShareValue, rate: Decimal) -> ShareValue:
    """The consumer's extra share value at a green merchant: SV × rate, half-up to 0.01."""
    return ShareValue.from_decimal(consumer_share_value.to_decimal() * rate, "half_up")
