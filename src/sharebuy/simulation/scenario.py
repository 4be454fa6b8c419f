"""Scenario files: TOML in, a validated `Scenario` out, every mistake named in 中文 and English.

A scenario has the rulebook (the same keys, parsers and cross-checks as the engine's rules.py,
plus rule changes from a given day on), the population, its growth, and the behaviour of
consumers and merchants.  Floats are fine for behaviour (spending distributions, probabilities);
rule values become exact Decimals and amounts, as in the engine.  Sweeps override any key by its
dotted path ("rules.daily_airdrop", "spending.mean_cny") on the raw TOML and parse it again, so a
swept value is validated exactly like a written one.
"""

from __future__ import annotations

import copy
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sharebuy.kernel.amounts import Points, parse_decimal
from sharebuy.kernel.errors import InvalidInput, SharebuyError
from sharebuy.rewards import rules as rulebook

Raw = dict[str, Any]


def invalid(where: str, zh: str, en: str) -> InvalidInput:
    return InvalidInput("invalid_scenario", f"场景参数 {where}：{zh}", f"scenario setting {where}: {en}")


# -- value parsers: (raw value, where) -> typed value -------------------------------------------


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise invalid(where, "必须是数字", "must be a number")
    try:
        number = float(value)
    except ValueError:
        raise invalid(where, f"不是有效的数字：{value!r}", f"is not a valid number: {value!r}") from None
    if not math.isfinite(number):
        raise invalid(where, "必须是有限数", "must be a finite number")
    return number


def real(low: float, high: float) -> Callable[[object, str], float]:
    def parse(value: object, where: str) -> float:
        number = _number(value, where)
        if not low <= number <= high:
            raise invalid(where, f"必须在 {low} 到 {high} 之间", f"must lie in {low}..{high}")
        return number

    return parse


def whole(low: int, high: int) -> Callable[[object, str], int]:
    def parse(value: object, where: str) -> int:
        number = _number(value, where)
        if number != int(number) or not low <= number <= high:
            raise invalid(where, f"必须是 {low} 到 {high} 的整数", f"must be a whole number {low}..{high}")
        return int(number)

    return parse


def choice(*options: str) -> Callable[[object, str], str]:
    def parse(value: object, where: str) -> str:
        text = str(value).strip().lower()
        if text not in options:
            listed = ", ".join(options)
            raise invalid(where, f"只能是 {listed} 之一", f"must be one of {listed}")
        return text

    return parse


def text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise invalid(where, "必须是字符串", "must be a string")
    return value


def exact(value: object, where: str) -> Decimal:
    """A decimal written as a string or a number; a TOML float is read as the digits written."""
    if isinstance(value, float):
        value = repr(value)
    try:
        return parse_decimal(value, where)
    except SharebuyError as error:
        raise invalid(where, error.message_zh, error.message_en) from None


def fraction(value: object, where: str) -> Decimal:
    number = exact(value, where)
    if not Decimal(0) <= number <= Decimal(1) or number.as_tuple().exponent < -6:  # type: ignore[operator]
        raise invalid(where, "必须在 0 到 1 之间，最多 6 位小数", "must lie in 0..1 with at most 6 decimals")
    return number


def points(value: object, where: str) -> Points:
    if isinstance(value, float):
        value = repr(value)
    try:
        found = Points.parse(value)
    except SharebuyError as error:
        raise invalid(where, error.message_zh, error.message_en) from None
    if found.units < 0:
        raise invalid(where, "不能为负数", "cannot be negative")
    return found


def rates(value: object, where: str) -> tuple[Decimal, ...]:
    if not isinstance(value, list) or not value:
        raise invalid(where, "必须是非空的比例列表", "must be a non-empty list of rates")
    found = tuple(exact(v, f"{where}[{i}]") for i, v in enumerate(value))
    for i, rate in enumerate(found):
        if not Decimal(0) < rate <= Decimal(1) or rate.as_tuple().exponent < -4:  # type: ignore[operator]
            raise invalid(
                f"{where}[{i}]",
                "让利比例须在 0 到 1 之间，最多 4 位小数",
                "a rate lies in 0..1, 4 decimals at most",
            )
    return found


def weights(value: object, where: str) -> tuple[float, ...]:
    if not isinstance(value, list):
        raise invalid(where, "必须是数字列表", "must be a list of numbers")
    found = tuple(real(0, 1e12)(v, f"{where}[{i}]") for i, v in enumerate(value))
    if found and sum(found) <= 0:
        raise invalid(where, "权重之和必须大于零", "the weights must add up to more than zero")
    return found


Parser = Callable[[object, str], Any]

# section -> key -> (parser, default).  A default of None means "derived" (see _derive).
SCHEMA: dict[str, dict[str, tuple[Parser, Any]]] = {
    "scenario": {
        "name": (text, "scenario"),
        "description": (text, ""),
        "days": (whole(1, 3650), 365),
        "seed": (whole(0, 2**32 - 1), 1),
        "seeds": (whole(1, 1000), 1),
    },
    "population": {
        "consumers": (whole(1, 50_000_000), 10_000),
        "merchants": (whole(1, 1_000_000), 50),
    },
    "growth": {
        "kind": (choice("constant", "linear", "logistic", "boom_bust"), "constant"),
        "start": (whole(1, 50_000_000), None),
        "rate": (real(0.0001, 5), 0.05),
        "days_to_peak": (whole(1, 3650), 180),
        "peak_day": (whole(0, 3650), 180),
        "decline": (real(0, 1), 0.01),
        "floor": (real(0, 1), 0.1),
    },
    "spending": {
        "shop_probability": (real(0, 1), 0.3),
        "mean_cny": (real(0.01, 1_000_000), 100.0),
        "sigma": (real(0, 3), 0.6),
    },
    "merchants": {
        "concession_rates": (rates, (Decimal("0.10"),)),
        "rate_weights": (weights, ()),
        "popularity": (choice("uniform", "zipf"), "zipf"),
        "zipf_exponent": (real(0, 5), 1.0),
        "grant_points": (points, "1000"),
        "bid_premium": (real(0, 1), 0.02),
        "stock_days": (real(0, 365), 2.0),
    },
    "selling": {
        "probability": (real(0, 1), 0.2),
        "fraction": (real(0, 1), 1.0),
        "ask_mean": (real(-0.9, 10), 0.0),
        "ask_sd": (real(0, 1), 0.02),
        "momentum": (real(-10, 10), 0.0),
        "tick": (real(0.0001, 0.1), 0.005),
        "levels": (whole(1, 2000), 100),
    },
    "cash_model": {
        "release_rate": (fraction, "0.002"),
        "operator_cut": (fraction, "0"),
    },
}
SHOCK_KEYS: dict[str, tuple[Parser, Any]] = {
    "day": (whole(0, 3650), None),
    "days": (whole(0, 3650), 0),
    "spending_factor": (real(0, 100), 1.0),
    "members_factor": (real(0, 1), 1.0),
}
KPI_NAMES = (
    "redeemed_share",
    "redeemed_share_ceiling",
    "sv_retired_share",
    "cohort_days_to_50pct",
    "cohort_days_to_100pct",
    "sv_outstanding",
    "reserve_exhausted_day",
    "price_drawdown_after_growth",
    "final_guide_price",
    "merchants_suspended",
    "merchants_suspended_max",
    "refused_purchase_share",
    "cash_model_failure_day",
    "cash_model_paid_share",
)


@dataclass(frozen=True)
class Shock:
    day: int
    days: int  # 0: lasts to the horizon
    spending_factor: float
    members_factor: float

    def on(self, day: int) -> bool:
        return day >= self.day and (self.days == 0 or day < self.day + self.days)


@dataclass(frozen=True)
class Sweep:
    grid: dict[str, list[Any]]  # dotted key -> values, in the order written
    heatmap: tuple[str, str] | None
    kpi: str


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: `raw` is the TOML it came from, with any sweep overrides applied."""

    raw: Raw
    name: str
    description: str
    days: int
    seed: int
    seeds: int
    consumers: int
    merchants: int
    rules: rulebook.Rulebook  # in force from day 0
    rule_changes: tuple[tuple[int, rulebook.Rulebook], ...]  # (first day, rulebook), ascending
    growth: dict[str, Any]
    shocks: tuple[Shock, ...]
    spending: dict[str, Any]
    merchant_behaviour: dict[str, Any]
    selling: dict[str, Any]
    cash_model: dict[str, Any]
    sweep: Sweep | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    def rulebooks(self) -> list[tuple[int, rulebook.Rulebook]]:
        return [(0, self.rules), *self.rule_changes]


# -- loading ---------------------------------------------------------------------------------


def load(path: str | Path) -> Scenario:
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(
            "scenario_not_found", f"找不到场景文件：{file}", f"scenario file not found: {file}"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise InvalidInput(
            "scenario_not_toml",
            f"场景文件 {file} 不是有效的 TOML：{error}",
            f"{file} is not valid TOML: {error}",
        ) from None
    return parse(data)


def parse(data: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> Scenario:
    raw: Raw = copy.deepcopy(dict(data))
    for key, value in (overrides or {}).items():
        set_path(raw, key, value)
    known = {*SCHEMA, "rules", "sweep"}
    for section in raw:
        if section not in known:
            raise invalid(
                section,
                f"未知的段落，可用：{', '.join(sorted(known))}",
                f"unknown section; known: {', '.join(sorted(known))}",
            )
    values = {name: _section(raw, name) for name in SCHEMA}
    shocks = _shocks(raw.get("growth", {}).get("shocks", []))
    base, changes = _rules(raw.get("rules", {}), values["scenario"]["days"])
    growth = values["growth"]
    if growth["start"] is None:
        growth["start"] = values["population"]["consumers"]
    growth["start"] = min(growth["start"], values["population"]["consumers"])
    merchants = values["merchants"]
    _check_rates(merchants, base)
    scenario = Scenario(
        raw=raw,
        name=values["scenario"]["name"],
        description=values["scenario"]["description"],
        days=values["scenario"]["days"],
        seed=values["scenario"]["seed"],
        seeds=values["scenario"]["seeds"],
        consumers=values["population"]["consumers"],
        merchants=values["population"]["merchants"],
        rules=base,
        rule_changes=changes,
        growth=growth,
        shocks=shocks,
        spending=values["spending"],
        merchant_behaviour=merchants,
        selling=values["selling"],
        cash_model=values["cash_model"],
        overrides=dict(overrides or {}),
    )
    sweep = _sweep(raw.get("sweep"), scenario)
    return scenario if sweep is None else _with_sweep(scenario, sweep)


def _with_sweep(scenario: Scenario, sweep: Sweep) -> Scenario:
    from dataclasses import replace

    return replace(scenario, sweep=sweep)


def _section(raw: Raw, name: str) -> dict[str, Any]:
    given = raw.get(name, {})
    if not isinstance(given, dict):
        raise invalid(name, "必须是一个表（[段落]）", "must be a table ([section])")
    schema = SCHEMA[name]
    extra = set(given) - set(schema) - ({"shocks"} if name == "growth" else set())
    if extra:
        key = sorted(extra)[0]
        raise invalid(
            f"{name}.{key}",
            f"未知的参数，可用：{', '.join(schema)}",
            f"unknown setting; known: {', '.join(schema)}",
        )
    out: dict[str, Any] = {}
    for key, (parse_value, default) in schema.items():
        if key in given:
            out[key] = parse_value(given[key], f"{name}.{key}")
        elif default is None:
            out[key] = None
        else:
            out[key] = parse_value(default, f"{name}.{key}") if isinstance(default, str) else default
    return out


def _shocks(given: object) -> tuple[Shock, ...]:
    if not isinstance(given, list):
        raise invalid(
            "growth.shocks",
            "必须是表的数组（[[growth.shocks]]）",
            "must be an array of tables ([[growth.shocks]])",
        )
    found = []
    for i, item in enumerate(given):
        where = f"growth.shocks[{i}]"
        if not isinstance(item, dict):
            raise invalid(where, "必须是一个表", "must be a table")
        extra = set(item) - set(SHOCK_KEYS)
        if extra:
            raise invalid(f"{where}.{sorted(extra)[0]}", "未知的参数", "unknown setting")
        if "day" not in item:
            raise invalid(f"{where}.day", "必须给出冲击开始的日子", "the day the shock starts is required")
        values = {
            key: parse_value(item[key], f"{where}.{key}") if key in item else default
            for key, (parse_value, default) in SHOCK_KEYS.items()
        }
        found.append(Shock(**values))
    return tuple(found)


def _rules(given: object, days: int) -> tuple[rulebook.Rulebook, tuple[tuple[int, rulebook.Rulebook], ...]]:
    """The day-0 rulebook and the changes, each validated by the engine's own rules.build."""
    if not isinstance(given, dict):
        raise invalid("rules", "必须是一个表", "must be a table")
    plain = {k: _rule_text(v) for k, v in given.items() if k != "changes"}
    base = _build(rulebook.defaults(), plain, "rules", version=1)
    changes_raw = given.get("changes", [])
    if not isinstance(changes_raw, list):
        raise invalid(
            "rules.changes",
            "必须是表的数组（[[rules.changes]]）",
            "must be an array of tables ([[rules.changes]])",
        )
    changes: list[tuple[int, rulebook.Rulebook]] = []
    current = base
    last_day = 0
    for i, item in enumerate(changes_raw):
        where = f"rules.changes[{i}]"
        if not isinstance(item, dict) or "day" not in item:
            raise invalid(
                where, "每项规则变更须写明生效日 day", "each rule change needs the day it takes effect"
            )
        day = whole(1, days)(item["day"], f"{where}.day")
        if day <= last_day:
            raise invalid(
                f"{where}.day", "规则变更须按生效日递增排列", "rule changes must come in increasing day order"
            )
        edits = {k: _rule_text(v) for k, v in item.items() if k != "day"}
        for key in edits:
            spec = rulebook.SPECS.get(key)
            if spec is not None and spec.fixed_after_init:
                raise invalid(
                    f"{where}.{key}",
                    f"{spec.zh}在平台开始后不能修改",
                    "this rule is fixed once the platform has started",
                )
        current = _build(current, edits, where, version=len(changes) + 2)
        changes.append((day, current))
        last_day = day
    return base, tuple(changes)


def _rule_text(value: object) -> object:
    return repr(value) if isinstance(value, float) else value


def _build(
    base: Mapping[str, Any], edits: Mapping[str, object], where: str, version: int
) -> rulebook.Rulebook:
    try:
        return rulebook.build(base, edits, version=version)
    except SharebuyError as error:
        raise InvalidInput(
            "invalid_scenario",
            f"场景参数 {where}：{error.message_zh}",
            f"scenario setting {where}: {error.message_en}",
        ) from None


def _check_rates(merchants: dict[str, Any], rules: rulebook.Rulebook) -> None:
    rates_given, weights_given = merchants["concession_rates"], merchants["rate_weights"]
    if weights_given and len(weights_given) != len(rates_given):
        raise invalid(
            "merchants.rate_weights",
            "权重个数须与 concession_rates 相同",
            "must have as many weights as merchants.concession_rates has rates",
        )
    if not weights_given:
        merchants["rate_weights"] = tuple(1.0 for _ in rates_given)


def _sweep(given: object, scenario: Scenario) -> Sweep | None:
    if given is None:
        return None
    if not isinstance(given, dict):
        raise invalid("sweep", "必须是一个表", "must be a table")
    grid: dict[str, list[Any]] = {}
    heatmap: tuple[str, str] | None = None
    kpi = "redeemed_share"
    for key, value in given.items():
        if key == "heatmap":
            if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
                raise invalid("sweep.heatmap", "须是两个参数名", "must name two swept settings")
            heatmap = (canonical_key(value[0]), canonical_key(value[1]))
        elif key == "kpi":
            kpi = str(value)
        else:
            if not isinstance(value, list) or not value:
                raise invalid(f"sweep.{key}", "须是非空的取值列表", "must be a non-empty list of values")
            grid[canonical_key(key)] = list(value)
    return make_sweep(grid, heatmap, kpi, scenario)


def make_sweep(
    grid: dict[str, list[Any]], heatmap: tuple[str, str] | None, kpi: str, scenario: Scenario
) -> Sweep:
    if kpi not in KPI_NAMES:
        raise invalid(
            "sweep.kpi",
            f"未知的指标，可用：{', '.join(KPI_NAMES)}",
            f"unknown KPI; known: {', '.join(KPI_NAMES)}",
        )
    plain = {k: v for k, v in scenario.raw.items() if k != "sweep"}
    for key, values in grid.items():
        for value in values:  # every value must parse on its own
            parse(plain, {**scenario.overrides, key: value})
    if heatmap is not None and not all(k in grid for k in heatmap):
        raise invalid(
            "sweep.heatmap", "热力图的两个参数都必须在扫描网格中", "both heat-map settings must be swept"
        )
    if heatmap is None and len(grid) == 2:
        first, second = list(grid)
        heatmap = (first, second)
    return Sweep(grid, heatmap, kpi)


def canonical_key(key: str) -> str:
    """ "daily_airdrop" → "rules.daily_airdrop"; other keys must name their section."""
    key = key.strip()
    if "." not in key and key in rulebook.SPECS:
        return f"rules.{key}"
    section, _, name = key.partition(".")
    if section == "rules" and name in rulebook.SPECS:
        return key
    if section in SCHEMA and name in SCHEMA[section]:
        return key
    raise invalid(
        key, "不能扫描：不是已知的规则或行为参数", "cannot be swept: not a known rule or behaviour setting"
    )


def set_path(raw: Raw, key: str, value: Any) -> None:
    section, _, name = canonical_key(key).partition(".")
    table = raw.setdefault(section, {})
    if not isinstance(table, dict):
        raise invalid(section, "必须是一个表", "must be a table")
    table[name] = value


def parse_cli_sweep(items: list[str]) -> dict[str, list[str]]:
    """--sweep KEY=v1,v2,... (values stay text: each is parsed like the TOML value would be)."""
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not values.strip():
            raise InvalidInput(
                "invalid_sweep",
                f"--sweep 的格式是 KEY=v1,v2,...：{item!r}",
                f"--sweep takes KEY=v1,v2,...: {item!r}",
            )
        grid[canonical_key(key)] = [v.strip() for v in values.split(",") if v.strip()]
    return grid
