"""The rulebook (SPEC §2): every operator setting, its default, its parser and its bounds.

Pure: a `Rulebook` is an immutable mapping of typed values; storage lives in rules_repository.
Values are exact (Decimal or Amount); a rulebook serialises to strings and back losslessly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sharebuy.kernel.amounts import Cny, Points, Price, ShareValue, parse_decimal
from sharebuy.kernel.errors import InvalidInput


def _rate(text: object) -> Decimal:
    value = parse_decimal(text, "rate")
    if value.as_tuple().exponent < -4:  # type: ignore[operator]
        raise InvalidInput("too_many_decimals", "比例最多 4 位小数", "rates take at most 4 decimals")
    if not Decimal(0) <= value <= Decimal(1):
        raise InvalidInput("rate_out_of_range", "比例必须在 0 到 1 之间", "a rate must lie in 0..1")
    return value


def _multiplier(text: object) -> Decimal:
    value = parse_decimal(text, "multiplier")
    if value < 0 or value > 1000 or value.as_tuple().exponent < -4:  # type: ignore[operator]
        raise InvalidInput(
            "invalid_multiplier",
            "倍数必须在 0 到 1000 之间，最多 4 位小数",
            "a multiplier must lie in 0..1000 with at most 4 decimals",
        )
    return value


def _days(text: object) -> int:
    value = parse_decimal(text, "days")
    if value != value.to_integral_value() or value < 0 or value > 3650:
        raise InvalidInput(
            "invalid_days", "天数必须是 0 到 3650 的整数", "days must be a whole number 0..3650"
        )
    return int(value)


def _destination(text: object) -> str:
    value = str(text).strip().lower()
    if value not in ("burn", "reserve"):
        raise InvalidInput(
            "invalid_destination", "扣除去向只能是 burn 或 reserve", "destination must be burn or reserve"
        )
    return value


@dataclass(frozen=True)
class Switch:
    """An on/off rule; written "on" or "off" (true/false, yes/no and 1/0 are read too)."""

    on: bool

    def __bool__(self) -> bool:
        return self.on

    def __str__(self) -> str:
        return "on" if self.on else "off"


def _switch(text: object) -> Switch:
    if isinstance(text, Switch):
        return text
    value = str(text).strip().lower()
    if value in ("on", "true", "yes", "1"):
        return Switch(True)
    if value in ("off", "false", "no", "0"):
        return Switch(False)
    raise InvalidInput("invalid_switch", "开关只能是 on 或 off", "a switch is on or off")


def _whole(low: int, high: int) -> Callable[[object], int]:
    def parse(text: object) -> int:
        value = parse_decimal(text, "number")
        if value != value.to_integral_value() or not low <= value <= high:
            raise InvalidInput(
                "invalid_whole_number",
                f"必须是 {low} 到 {high} 的整数",
                f"must be a whole number {low}..{high}",
            )
        return int(value)

    return parse


def _non_negative(parser: Callable[[object], Any]) -> Callable[[object], Any]:
    def parse(text: object) -> Any:
        value = parser(text)
        if value.units < 0:
            raise InvalidInput("negative_rule", "该规则不能为负数", "this rule cannot be negative")
        return value

    return parse


def _positive(parser: Callable[[object], Any]) -> Callable[[object], Any]:
    def parse(text: object) -> Any:
        value = parser(text)
        if value.units <= 0:
            raise InvalidInput("non_positive_rule", "该规则必须大于零", "this rule must be positive")
        return value

    return parse


def _choice(key: str, allowed: tuple[str, ...]) -> Callable[[object], str]:
    def parse(text: object) -> str:
        value = str(text).strip().lower()
        if value not in allowed:
            listed = " | ".join(allowed)
            raise InvalidInput("invalid_choice", f"只能是 {listed} 之一", f"{key} must be one of {listed}")
        return value

    return parse


@dataclass(frozen=True)
class RuleSpec:
    key: str
    default: str
    parse: Callable[[object], Any]
    zh: str
    fixed_after_init: bool = False


SPECS: dict[str, RuleSpec] = {
    spec.key: spec
    for spec in (
        RuleSpec("concession_rate_min", "0.01", _rate, "商家让利比例下限"),
        RuleSpec("concession_rate_max", "0.50", _rate, "商家让利比例上限"),
        RuleSpec("consumer_multiplier", "10", _multiplier, "消费者共享值倍数"),
        RuleSpec("merchant_multiplier", "2", _multiplier, "商家共享值倍数"),
        RuleSpec("total_issue", "390000", _positive(Points.parse), "积分恒定发行总量", True),
        RuleSpec("daily_airdrop", "500", _non_negative(Points.parse), "每日空投积分"),
        RuleSpec("initial_price", "1.0000", _positive(Price.parse), "初始指导价", True),
        RuleSpec("price_floor", "1.0000", _positive(Price.parse), "指导价下限"),
        RuleSpec("merchant_deposit_cny", "500.00", _non_negative(Cny.parse), "商家保证金（元）"),
        RuleSpec("deduction_destination", "burn", _destination, "让利积分去向"),
        RuleSpec("c2c_fee_rate", "0", _rate, "C2C 手续费率"),
        RuleSpec("activity_window_days", "0", _days, "空投活跃窗口（天，0 为关闭）"),
        RuleSpec("registration_bonus_sv", "0.00", _non_negative(ShareValue.parse), "注册奖励共享值"),
        RuleSpec("refund_window_days", "7", _days, "退货期限（天）"),
        RuleSpec("max_purchase_cny", "100000.00", _positive(Cny.parse), "单笔消费上限（元）"),
        RuleSpec("c2c_market_open", "on", _switch, "C2C 市场开放"),
        RuleSpec("c2c_price_band", "0", _rate, "C2C 挂单价格相对指导价的幅度（0 为不限）"),
        RuleSpec("c2c_payment_minutes", "15", _whole(1, 1440), "C2C 付款时限（分钟）"),
        RuleSpec("c2c_confirm_hours", "24", _whole(1, 720), "C2C 卖方确认收款时限（小时）"),
        RuleSpec("c2c_real_name_required", "on", _switch, "C2C 交易须实名"),
        RuleSpec("c2c_max_open_trades_per_member", "5", _whole(1, 1000), "每位会员同时进行的 C2C 交易上限"),
        RuleSpec("c2c_min_order_points", "1", _positive(Points.parse), "C2C 单笔最少积分"),
        RuleSpec("tier_basis_days", "0", _days, "会员等级统计窗口（天，0 为累计）"),
        RuleSpec(
            "tier_downgrade", "never", _choice("tier_downgrade", ("never", "on_evaluation")), "会员等级降级"
        ),
        RuleSpec(
            "dividend_period", "monthly", _choice("dividend_period", ("daily", "monthly")), "分红池周期"
        ),
        RuleSpec("dividend_pool_rate", "0", _rate, "分红池占周期营业额比例（0 为关闭）"),
        RuleSpec("green_bonus_rate", "0.10", _rate, "绿色商家共享值加成比例"),
        RuleSpec("collectible_points_destination", "burn", _destination, "藏品兑换积分去向"),
        RuleSpec("collectible_hold_days", "180", _days, "藏品转赠前的持有天数"),
        RuleSpec("mall_auto_deliver_days", "7", _whole(1, 90), "积分商城发货后自动确认收货（天）"),
        RuleSpec("mall_fee_rate", "0.02", _rate, "积分商城手续费率"),
        RuleSpec("mall_green_bonus_rate", "0.05", _rate, "绿色商品兑换的共享值奖励比例"),
    )
}


class Rulebook(Mapping[str, Any]):
    """One version of the rules: typed values for every key in SPECS."""

    def __init__(self, values: Mapping[str, Any], version: int = 0) -> None:
        self._values = dict(values)
        self.version = version

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Any:
        return iter(SPECS)

    def __len__(self) -> int:
        return len(SPECS)

    def as_text(self) -> dict[str, str]:
        return {key: str(self._values[key]) for key in SPECS}

    # typed accessors used on hot paths
    @property
    def concession_bounds(self) -> tuple[Decimal, Decimal]:
        return self["concession_rate_min"], self["concession_rate_max"]


def unknown_key(key: str) -> InvalidInput:
    return InvalidInput("unknown_rule", f"未知的规则：{key}", f"unknown rule: {key}", known=", ".join(SPECS))


def parse_values(raw: Mapping[str, object]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for key, value in raw.items():
        spec = SPECS.get(key)
        if spec is None:
            raise unknown_key(key)
        try:
            parsed[key] = spec.parse(value)
        except InvalidInput as error:
            raise InvalidInput(
                error.code,
                f"规则 {key}（{spec.zh}）：{error.message_zh}",
                f"rule {key}: {error.message_en}",
            ) from None
    return parsed


def defaults() -> dict[str, Any]:
    return {key: spec.parse(spec.default) for key, spec in SPECS.items()}


def build(base: Mapping[str, Any], changes: Mapping[str, object], version: int = 0) -> Rulebook:
    values = dict(base)
    values.update(parse_values(changes))
    validate(values)
    return Rulebook(values, version)


def validate(values: Mapping[str, Any]) -> None:
    """Cross-key rules; each check names the keys involved."""
    low, high = values["concession_rate_min"], values["concession_rate_max"]
    if low <= 0 or low > high:
        raise InvalidInput(
            "invalid_concession_bounds",
            "让利比例需满足 0 < 下限 ≤ 上限 ≤ 1",
            "concession bounds must satisfy 0 < min <= max <= 1",
        )
    if values["initial_price"] < values["price_floor"]:
        raise InvalidInput(
            "initial_below_floor", "初始指导价不能低于下限", "initial price cannot be below the floor"
        )
    if values["daily_airdrop"] > values["total_issue"]:
        raise InvalidInput(
            "airdrop_above_issue", "每日空投不能超过发行总量", "daily airdrop cannot exceed the total issue"
        )


def from_text(stored: Mapping[str, str], version: int) -> Rulebook:
    """Load a stored version; keys added to SPECS later fall back to their defaults."""
    values = defaults()
    values.update(parse_values({k: v for k, v in stored.items() if k in SPECS}))
    return Rulebook(values, version)
