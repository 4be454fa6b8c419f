"""The KPIs of a run, and their spread over Monte Carlo seeds (P10 / P50 / P90).

Definitions (docs/simulator.md §KPIs states them with the derivation of the ceiling):
- redeemed_share: CNY paid to holders for points sold ÷ share value issued (both in 0.01 units).
- redeemed_share_ceiling: concessions (Σ M × r) ÷ share value issued — the money the rules make
  merchants hand over, per unit of value promised; 1 / (consumer + merchant multiplier) when the
  multipliers do not change.
- days are business days counted from 1; None means "not within the horizon".
Every figure is what the run shows; nothing here extrapolates beyond the horizon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sharebuy.simulation.model import RunResult

KpiValue = float | int | None


@dataclass(frozen=True)
class Kpi:
    name: str
    zh: str
    en: str
    kind: str  # share, day, sv, price, count


KPIS: tuple[Kpi, ...] = (
    Kpi("redeemed_share", "已兑现为现金的共享值占比", "share of issued SV ever redeemed in money", "share"),
    Kpi("redeemed_share_ceiling", "规则下的兑现上限", "ceiling of that share under the rules", "share"),
    Kpi("sv_retired_share", "已由空投消耗的共享值占比", "share of issued SV retired by releases", "share"),
    Kpi(
        "cohort_days_to_50pct",
        "首日会员收回 50% 消费额的天数",
        "days until the day-1 cohort has 50% back",
        "day",
    ),
    Kpi(
        "cohort_days_to_100pct",
        "首日会员收回 100% 消费额的天数",
        "days until the day-1 cohort has 100% back",
        "day",
    ),
    Kpi(
        "cohort_back_at_horizon", "首日会员期末收回比例", "day-1 cohort's money back at the horizon", "share"
    ),
    Kpi("sv_outstanding", "期末未兑现共享值", "share value outstanding at the horizon", "sv"),
    Kpi("reserve_exhausted_day", "储备积分耗尽日", "day the reserve ran dry", "day"),
    Kpi("growth_stop_day", "增长停止日", "day growth stopped", "day"),
    Kpi(
        "price_drawdown_after_growth",
        "增长停止后指导价最大回撤",
        "guide price drawdown after growth stops",
        "share",
    ),
    Kpi("final_guide_price", "期末指导价", "guide price at the horizon", "price"),
    Kpi("max_guide_price", "最高指导价", "highest guide price", "price"),
    Kpi("merchants_suspended", "期末暂停接单商家数", "merchants suspended at the horizon", "count"),
    Kpi("merchants_suspended_max", "同时暂停接单商家数最大值", "most merchants suspended at once", "count"),
    Kpi(
        "refused_purchase_share",
        "被拒或无店可买的消费额占比",
        "share of spending refused or unserved",
        "share",
    ),
    Kpi("cash_model_failure_day", "现金返利模式资金池断裂日", "day the cash-rebate treasury fails", "day"),
    Kpi(
        "cash_model_paid_share",
        "现金返利模式已兑付占比",
        "cash-rebate model: share of promises paid",
        "share",
    ),
)
BY_NAME = {k.name: k for k in KPIS}


def compute(result: RunResult) -> dict[str, KpiValue]:
    s = result.series
    issued = int(s["sv_issued"].sum())
    cash = int(s["traded_cash"].sum())
    concessions = int(s["concessions"].sum())  # 1e-6 CNY
    price = s["guide_price"]
    stop = min(result.growth_stop_day, result.days - 1)
    after = price[stop:].astype(np.float64)
    peak = np.maximum.accumulate(after)
    promised = int(s["sv_issued_consumers"].sum())
    failure = int(s["cash_failure_day"][-1])
    spent, back = int(s["cohort_spent"][-1]), int(s["cohort_value"][-1])
    reserve_before = s["reserve"] + s["released"]
    short = np.flatnonzero((reserve_before < s["airdrop_rule"]) & (s["airdrop_rule"] > 0))
    return {
        "redeemed_share": _ratio(cash, issued),
        "redeemed_share_ceiling": _ratio(concessions, issued * 10_000),
        "sv_retired_share": _ratio(int(s["sv_consumed"].sum()), issued),
        "cohort_days_to_50pct": _first_day(s["cohort_value"], s["cohort_spent"], 0.5),
        "cohort_days_to_100pct": _first_day(s["cohort_value"], s["cohort_spent"], 1.0),
        "cohort_back_at_horizon": _ratio(back, spent),
        "sv_outstanding": int(s["sv_outstanding"][-1]) / 100,
        "reserve_exhausted_day": int(short[0]) + 1 if len(short) else None,
        "growth_stop_day": stop + 1,
        "price_drawdown_after_growth": float(((peak - after) / peak).max()) if len(after) else 0.0,
        "final_guide_price": int(price[-1]) / 10_000,
        "max_guide_price": int(price.max()) / 10_000,
        "merchants_suspended": int(s["merchants_suspended"][-1]),
        "merchants_suspended_max": int(s["merchants_suspended"].max()),
        "refused_purchase_share": _ratio(
            int(s["refused_amount"].sum()), int(s["refused_amount"].sum()) + int(s["purchase_amount"].sum())
        ),
        "cash_model_failure_day": failure + 1 if failure >= 0 else None,
        "cash_model_paid_share": _ratio(int(s["cash_paid"][-1]), promised),
    }


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _first_day(value: np.ndarray, spent: np.ndarray, share: float) -> int | None:
    """First business day (from 1) on which value ≥ share × spent, for a cohort that has spent."""
    reached = np.flatnonzero((spent > 0) & (value.astype(np.float64) >= share * spent.astype(np.float64)))
    return int(reached[0]) + 1 if len(reached) else None


def summarise(runs: list[dict[str, KpiValue]]) -> dict[str, dict[str, Any]]:
    """P10 / P50 / P90 of each KPI over runs; a day never reached counts as beyond the horizon."""
    out: dict[str, dict[str, Any]] = {}
    for kpi in KPIS:
        values = [r.get(kpi.name) for r in runs]
        numbers = np.array([math.inf if v is None else float(v) for v in values])
        reached = sum(v is not None for v in values)
        row: dict[str, Any] = {"runs": len(values), "reached": reached}
        for label, q in (("p10", 10), ("p50", 50), ("p90", 90)):
            found = float(np.percentile(numbers, q, method="nearest")) if len(numbers) else math.inf
            row[label] = (
                None if math.isinf(found) else (int(found) if kpi.kind in ("day", "count") else found)
            )
        out[kpi.name] = row
    return out


def render(kpi: Kpi, value: KpiValue, lang: str = "en") -> str:
    """A KPI value as a person reads it; None is "not within the horizon" or "n/a"."""
    if value is None:
        if kpi.kind == "day":
            return "期内未发生" if lang == "zh" else "not within the horizon"
        return "—"
    if kpi.kind == "share":
        return f"{float(value) * 100:.2f}%"
    if kpi.kind == "day":
        return f"{'第' if lang == 'zh' else 'day '}{int(value)}{'天' if lang == 'zh' else ''}"
    if kpi.kind == "sv":
        return f"{float(value):,.2f}"
    if kpi.kind == "price":
        return f"{float(value):.4f}"
    return f"{int(value):,}"
