"""The simulator: scenarios and their errors, the mechanics against references, determinism,
conservation, the market's clearing, KPIs against the rules' ceiling, the cash-rebate model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sharebuy.kernel.amounts import Points
from sharebuy.kernel.errors import InvalidInput
from sharebuy.rewards import domain
from sharebuy.simulation import kpis, market, mechanics, model, scenario
from sharebuy.simulation.cash_model import CashRebate
from sharebuy.simulation.state import ACTIVE, SUSPENDED, Schedule, State

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def small(**sections: dict[str, Any]) -> scenario.Scenario:
    raw: dict[str, Any] = {
        "scenario": {"days": 60, "seed": 5},
        "population": {"consumers": 300, "merchants": 4},
        "growth": {"kind": "constant"},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return scenario.parse(raw)


# -- scenarios ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_scenario_loads(path: Path) -> None:
    found = scenario.load(path)
    assert found.days > 0 and found.consumers > 0


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ({"spending": {"mean_cny": -5}}, "spending.mean_cny"),
        ({"spending": {"bogus": 1}}, "spending.bogus"),
        ({"growth": {"kind": "exponential"}}, "growth.kind"),
        ({"nonsense": {}}, "nonsense"),
        ({"rules": {"daily_airdrop": "abc"}}, "rules"),
        ({"rules": {"consumer_multiplier": 1.5, "concession_rate_min": "0.6"}}, "rules"),
        ({"rules": {"changes": [{"day": 5, "total_issue": "1"}]}}, "rules.changes[0].total_issue"),
        ({"rules": {"changes": [{"price_floor": "1"}]}}, "rules.changes[0]"),
        ({"merchants": {"concession_rates": ["0.1"], "rate_weights": [1, 2]}}, "merchants.rate_weights"),
        ({"sweep": {"spending.nope": [1, 2]}}, "spending.nope"),
        ({"sweep": {"rules.daily_airdrop": ["100", "-1"]}}, "rules"),
    ],
)
def test_mistakes_are_named_in_both_languages(raw: dict[str, Any], where: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        scenario.parse({"scenario": {"days": 10}, **raw})
    assert where in caught.value.message_en and where in caught.value.message_zh
    assert caught.value.message_zh != caught.value.message_en


def test_a_toml_float_rule_is_read_as_written() -> None:
    found = scenario.parse({"rules": {"price_floor": 0.5, "initial_price": 1.25}})
    assert str(found.rules["initial_price"]) == "1.2500"


def test_missing_or_broken_files_are_explained(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not found"):
        scenario.load(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[scenario\n")
    with pytest.raises(InvalidInput, match="not valid TOML"):
        scenario.load(bad)


def test_cli_sweeps_name_rules_by_their_short_key() -> None:
    grid = scenario.parse_cli_sweep(["daily_airdrop=250,500", "spending.mean_cny=50,100"])
    assert grid == {"rules.daily_airdrop": ["250", "500"], "spending.mean_cny": ["50", "100"]}
    with pytest.raises(InvalidInput):
        scenario.parse_cli_sweep(["daily_airdrop"])


# -- mechanics against the engine's scalar rules -------------------------------------------------


def _state(available: list[int], deposit: list[int], price: int = 10_000) -> tuple[State, Any]:
    schedule = Schedule([(0, scenario.parse({}).rules)])
    state = State.empty(10, len(available), schedule.on(0))
    state.consumers, state.merchants = 10, len(available)
    state.m_points[:] = available
    state.m_deposit[:] = deposit
    state.m_status[:] = ACTIVE
    state.m_rate[:] = 1_000
    state.price = price
    return state, schedule.on(0)


def _sequential(available: list[int], deposit: list[int], sales: list[tuple[int, int]], owed: list[int]):  # type: ignore[no-untyped-def]
    """One purchase after another, as the engine records them (domain.split_deduction)."""
    avail, dep = list(available), list(deposit)
    status = [ACTIVE] * len(available)
    out = []
    for (j, _), due in zip(sales, owed, strict=True):
        if status[j] != ACTIVE:
            out.append(None)
            continue
        try:
            cut = domain.split_deduction(Points(due), Points(avail[j]), Points(dep[j]))
        except Exception:
            out.append(None)
            continue
        avail[j] -= cut.from_available.units
        dep[j] -= cut.from_deposit.units
        if cut.suspends:
            status[j] = SUSPENDED
        out.append(cut.from_deposit.units)
    return out, avail, dep, status


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3_000_000), st.integers(0, 6_000_000)), min_size=1, max_size=4),
    st.lists(st.tuples(st.integers(0, 3), st.integers(1, 900_000)), min_size=0, max_size=40),
)
def test_deductions_follow_the_engine_purchase_after_purchase(
    balances: list[tuple[int, int]], sales: list[tuple[int, int]]
) -> None:
    available = [a for a, _ in balances]
    deposit = [d for _, d in balances]
    sales = [(j % len(balances), cents) for j, cents in sales]
    state, rules = _state(available, deposit)
    consumers = np.arange(len(sales)) % 10
    merchants = np.array([j for j, _ in sales], dtype=np.int64)
    amounts = np.array([c for _, c in sales], dtype=np.int64)
    done = mechanics.purchases(state, 0, rules, consumers, merchants, amounts)
    owed = [
        int(x)
        for x in mechanics.formulas.concession_points_units(amounts, np.full(len(sales), 1_000), 10_000)
    ]
    expected, avail, dep, status = _sequential(available, deposit, sales, owed)
    assert [
        None if not a else int(d) for a, d in zip(done.accepted, done.from_deposit, strict=True)
    ] == expected
    assert state.m_points.tolist() == avail
    assert state.m_deposit.tolist() == dep
    assert state.m_status.tolist() == status


def test_a_run_is_deterministic_per_seed_and_conserves_points() -> None:
    found = small()
    first = model.run(found, 9, keep_state=True)
    again = model.run(found, 9)
    other = model.run(found, 10)
    assert all((first.series[k] == again.series[k]).all() for k in model.COLUMNS)
    assert any((first.series[k] != other.series[k]).any() for k in model.COLUMNS)
    assert first.state is not None
    assert first.state.points_total() == found.rules["total_issue"].units
    s = first.series
    assert (
        s["reserve"] + s["burned"] + s["fee_account"] + s["circulating"] == found.rules["total_issue"].units
    ).all()
    assert (s["released"] <= s["airdrop_rule"]).all()
    assert (s["guide_price"] >= found.rules["price_floor"].units).all()


def test_the_reserve_runs_dry_and_releases_stop() -> None:
    found = small(rules={"total_issue": "8000", "daily_airdrop": "500"}, merchants={"grant_points": "600"})
    result = model.run(found)
    k = kpis.compute(result)
    assert k["reserve_exhausted_day"] is not None
    day = k["reserve_exhausted_day"] - 1
    assert result.series["released"][day + 1 :].sum() == 0
    assert int(result.series["released"].sum()) + 4 * Points.parse("600").units == Points.parse("8000").units


# -- the market ------------------------------------------------------------------------------


def test_call_auction_clears_at_the_price_that_trades_most() -> None:
    found = small(selling={"levels": 4, "tick": 0.01})
    sim = model.Simulation(found, 1)
    s = sim.state
    s.consumers, s.merchants = 300, 4
    s.c_points[:4] = [50_000, 50_000, 50_000, 50_000]
    s.m_points[:] = 0
    book = market.Book(
        sellers=np.array([0, 1, 2, 3]),
        ask_qty=np.array([50_000, 50_000, 50_000, 50_000]),
        ask_level=np.array([-2, 0, 1, 3]),
        buyers=np.array([0, 1]),
        bid_qty=np.array([80_000, 60_000]),
        bid_level=np.array([2, 0]),
    )
    done = market.clear(s, sim.schedule.on(0), sim.behaviour, book)
    # Level 0 trades min(100k offered, 140k wanted) = 100k; level 1 trades min(150k, 80k) = 80k.
    assert done.trades.quantity == 100_000
    assert done.trades.market_price is not None and done.trades.market_price.units == s.price
    assert s.c_points[:4].tolist() == [0, 0, 50_000, 50_000]  # cheapest asks filled first
    assert s.m_points.tolist() == [80_000, 20_000, 0, 0]  # highest bid first
    assert int(s.c_cash[:2].sum()) == 10 * 100  # 10 points at 1.0000


def test_cash_rebate_treasury_fails_when_payments_outrun_concessions() -> None:
    cash = CashRebate.of(domain.Decimal("0.1"), domain.Decimal("0"))
    failed = None
    for _ in range(100):
        cash.day(concessions_micro=100 * 10**6, promise=100_000)  # 100 CNY in, 1,000 CNY promised a day
        if cash.failure_day is not None:
            failed = cash.failure_day
            break
    assert failed is not None and failed > 0
    assert cash.paid <= cash.promised


# -- KPIs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("growth", [{"kind": "constant"}, {"kind": "logistic", "start": 50, "rate": 0.1}])
def test_money_redeemed_stays_within_what_the_rules_allow(growth: dict[str, Any]) -> None:
    """Money reaching holders comes only from merchants buying what concessions and deposits
    need: at most the ceiling plus what merchants hold and the premium they paid over the
    guide price (docs/simulator.md)."""
    found = small(growth=growth, scenario={"days": 120})
    result = model.run(found, keep_state=True)
    k = kpis.compute(result)
    s, state = result.series, result.state
    assert state is not None
    issued = int(s["sv_issued"].sum())
    ceiling = k["redeemed_share_ceiling"]
    assert ceiling == pytest.approx(1 / 12, rel=1e-3)
    stock = (int(state.m_points.sum()) + int(state.m_deposit.sum())) * int(s["guide_price"][-1]) / 10**6
    premium = 1 + found.merchant_behaviour["bid_premium"]
    assert k["redeemed_share"] is not None
    assert k["redeemed_share"] <= ceiling * premium + stock / issued
    assert k["sv_retired_share"] is not None and k["sv_retired_share"] <= 1


def test_summaries_say_when_a_day_was_never_reached() -> None:
    rows: list[dict[str, kpis.KpiValue]] = [{"cohort_days_to_50pct": None}, {"cohort_days_to_50pct": 30}]
    summary = kpis.summarise(rows)["cohort_days_to_50pct"]
    assert summary["reached"] == 1 and summary["p90"] is None and summary["p10"] == 30
    assert kpis.render(kpis.BY_NAME["cohort_days_to_50pct"], None) == "not within the horizon"
