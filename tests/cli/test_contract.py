"""The operator CLI as a scripting contract (README "运营命令行"), driven through its entry point.

Every call runs `sharebuy ... --json` and must print exactly one JSON object on stdout; amounts are
full-precision decimal strings; a refusal exits non-zero with {"error": {"code", "message", ...}}.
Expected values are worked out by hand from SPEC §2–§5 in each docstring, to the last unit, and
every scenario ends with `sharebuy verify --json` reporting ok with exit 0.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from sharebuy.db.engine import make_engine
from sharebuy.kernel.clock import BUSINESS_TZ
from tests.cli.harness import D1, D2, D3, Cli, at, money, one_json_object

SHAREBUY = Path(sys.executable).with_name("sharebuy")


# -- scenario 1 ------------------------------------------------------------------------------------


def test_spec_worked_example(cli: Cli) -> None:
    """SPEC §4: A holds 5,000.00 SV of a network of 100,000.00 SV, A = 500 → 25.0000 points, 4,975.00 SV.

    Members in id order: A 1, B 2, C 3, owner O 4, merchant X 5 (rate 0.10, guide price 1.0000).
    Grant 10,000 points to X; the deposit takes 500 → X available 9,500.0000.
    Purchases on D (consumer SV = M × 0.1 × 10, merchant SV = M × 0.1 × 2, half-up to 0.01):
      A spends  5,000.00 → A  5,000.00 SV, X  1,000.00 SV, deduction   500.0000
      B spends 77,500.00 → B 77,500.00 SV, X 15,500.00 SV, deduction 7,750.0000
      C spends    833.33 → C    833.33 SV, X 166.666 → 166.67 SV, deduction 83.333 → 83.3330
      S = 5,000 + 77,500 + 833.33 + (1,000 + 15,500 + 166.67) = 100,000.00 SV; O holds none.
      X available 9,500 − 8,333.3330 = 1,166.6670; burned 8,333.3330.
    Release, in units of 0.0001: p_i = 5,000,000 × SV_i / 10,000,000 (SV in units of 0.01)
      A 250,000 and B 3,875,000 exactly; C 41,666.5 → 41,666; X 833,333.5 → 833,333.
      One unit is left; C and X tie on remainder 0.5 → the lower id, C: C 4.1667, X 83.3333.
    SV consumed = points × 1.0000 half-up: A 25.00, B 387.50, C 4.17, X 83.33 (Σ 500.00)
      → A 4,975.00, B 77,112.50, C 829.16, X 16,583.34.
    """
    cli.init(D1)
    a, b, c, owner = (cli.consumer(n) for n in ("A", "B", "C", "店主"))
    x = cli.open_merchant(owner, grant="10000")
    assert (a, b, c, owner, x) == (1, 2, 3, 4, 5)
    assert cli.buy(x, a, "5000", D1)["merchant_share_value"] == "1000.00"
    assert cli.buy(x, b, "77500", D1)["merchant_share_value"] == "15500.00"
    bought = cli.buy(x, c, "833.33", D1)
    assert (bought["consumer_share_value"], bought["merchant_share_value"]) == ("833.33", "166.67")
    assert bought["points_deducted"] == "83.3330"
    assert cli.merchant_view(x)["share_value"] == "16666.67"

    report = cli.settle("--date", D1)
    assert [day["date"] for day in report["days"]] == [D1]
    assert report["network_share_value"] == "100000.00"
    assert report["holders"] == 4
    assert report["airdrop"] == report["released"] == "500.0000"
    assert report["guide_price"] == "1.0000"
    assert report["share_value_consumed"] == "500.00"
    assert report["leftover_units"] == 1
    assert report["replayed"] is False

    assert cli.line(D1, a) == {
        "member_id": a, "share_value": "5000.00", "points": "25.0000", "share_value_consumed": "25.00"
    }  # fmt: skip
    lines = cli.ok("settlement", "show", D1)["lines"]
    assert [(ln["member_id"], ln["points"], ln["share_value_consumed"]) for ln in lines] == [
        (a, "25.0000", "25.00"),
        (b, "387.5000", "387.50"),
        (c, "4.1667", "4.17"),
        (x, "83.3333", "83.33"),
    ]
    view_a = cli.consumer_view(a)
    assert view_a["points"]["available"] == "25.0000"
    assert view_a["share_value"] == "4975.00"
    assert cli.consumer_view(b)["share_value"] == "77112.50"
    assert cli.consumer_view(c)["share_value"] == "829.16"
    view_x = cli.merchant_view(x)
    assert view_x["share_value"] == "16583.34"
    assert view_x["points"] == {"available": "1250.0003", "escrow": "0.0000", "deposit": "500.0000"}

    # reserve 390,000 − 10,000 − 500 = 379,500; held 25 + 387.5 + 4.1667 + 1,250.0003 + 500 = 2,166.6670
    assert cli.platform() == {
        "total_issue": "390000.0000",
        "reserve": "379500.0000",
        "burned": "8333.3330",
        "fees": "0.0000",
        "held_by_members": "2166.6670",
        "released": "500.0000",
        "share_value_issued": "100000.00",
        "share_value_retired": "500.00",
        "share_value_outstanding": "99500.00",
        "clawback_owed": "0.00",
        "guide_price": "1.0000",
    }
    cli.assert_verified()


# -- scenario 2 ------------------------------------------------------------------------------------


def _shop(cli: Cli, *, consumers: int = 1, grant: str = "1000", rate: str = "0.10") -> tuple[list[int], int]:
    """init on D1; consumers 1..n, then the owner, then the merchant (active, deposit 500)."""
    cli.init(D1)
    buyers = [cli.consumer(f"c{i}") for i in range(consumers)]
    owner = cli.consumer("店主")
    return buyers, cli.open_merchant(owner, grant=grant, rate=rate)


def test_idempotent_purchase(cli: Cli) -> None:
    """A retried purchase answers with the first result; the same key with another body is refused.

    A spends 5,000.00 at X (0.10): A 5,000.00 SV, X 1,000.00 SV, deduction 500.0000 from X's
    available 500.0000 (grant 1,000 − deposit 500) → 0.0000, nothing from the deposit.
    """
    [a], x = _shop(cli)
    first = cli.buy(x, a, "5000", D1, key="till-1")
    assert first["replayed"] is False
    assert (first["consumer_share_value"], first["merchant_share_value"]) == ("5000.00", "1000.00")
    assert (first["points_deducted"], first["from_available"], first["from_deposit"]) == (
        "500.0000", "500.0000", "0.0000"
    )  # fmt: skip
    again = cli.buy(x, a, "5000", D1, key="till-1")
    assert again == {**first, "replayed": True}

    before = (cli.consumer_view(a), cli.merchant_view(x), cli.platform())
    base = ["purchase", "--merchant", str(x), "--consumer", str(a), "--key", "till-1"]
    cli.refused(*base, "--amount", "5000.01", "--at", at(D1), code="idempotency_key_reused")
    cli.refused(*base, "--amount", "5000", "--at", at(D1, "11:00"), code="idempotency_key_reused")
    assert (cli.consumer_view(a), cli.merchant_view(x), cli.platform()) == before
    assert before[0]["share_value"] == "5000.00"
    assert before[1]["share_value"] == "1000.00"
    assert before[1]["points"] == {"available": "0.0000", "escrow": "0.0000", "deposit": "500.0000"}
    assert (before[2]["burned"], before[2]["share_value_issued"]) == ("500.0000", "6000.00")
    cli.assert_verified()


# -- scenario 3 ------------------------------------------------------------------------------------


def test_deposit_shortfall_suspends_until_topped_up(cli: Cli) -> None:
    """Grant 600, deposit 500 → available 100.0000.

    A spends 2,000.00 at 0.10: deduction 200.0000 = 100.0000 available + 100.0000 deposit → the
    deposit is 400.0000 and X is suspended (deposit_shortfall).  `merchant deposit` with nothing
    available is refused; after a grant of 150 it moves 100.0000 (deposit 500.0000, available
    50.0000) and X is active again.  A spends 10.00: deduction 1.0000 → available 49.0000.
    A purchase of 5,500.00 (deduction 550.0000 > 49 + 500) is refused and writes nothing.
    Totals: A 2,000.00 + 10.00 SV; X 400.00 + 2.00 SV; burned 201.0000;
    reserve 390,000 − 600 − 150 = 389,250.0000; held 49 + 500 = 549.0000.
    """
    [a], x = _shop(cli, grant="600")
    sale = cli.buy(x, a, "2000", D1, key="p1")
    assert (sale["points_deducted"], sale["from_available"], sale["from_deposit"]) == (
        "200.0000", "100.0000", "100.0000"
    )  # fmt: skip
    assert sale["merchant_suspended"] is True
    view = cli.merchant_view(x)
    assert (view["status"], view["suspension_reason"]) == ("suspended", "deposit_shortfall")
    assert view["points"] == {"available": "0.0000", "escrow": "0.0000", "deposit": "400.0000"}

    before = (cli.consumer_view(a), cli.merchant_view(x))
    cli.refused(
        "purchase", "--merchant", str(x), "--consumer", str(a), "--amount", "10", "--at", at(D1),
        code="merchant_suspended",
    )  # fmt: skip
    cli.refused("merchant", "deposit", str(x), code="insufficient_points")
    assert (cli.consumer_view(a), cli.merchant_view(x)) == before

    cli.grant(x, "150")
    topped = cli.ok("merchant", "deposit", str(x))
    assert topped == {
        "id": x, "status": "active", "suspension_reason": None, "deposit": "500.0000",
        "deposit_required": "500.0000", "available": "50.0000", "moved": "100.0000",
    }  # fmt: skip
    small = cli.buy(x, a, "10", D1)
    assert (small["points_deducted"], small["from_available"], small["merchant_suspended"]) == (
        "1.0000", "1.0000", False
    )  # fmt: skip

    before = (cli.consumer_view(a), cli.merchant_view(x), cli.platform())
    cli.refused(
        "purchase", "--merchant", str(x), "--consumer", str(a), "--amount", "5500", "--at", at(D1),
        code="insufficient_points",
    )  # fmt: skip
    assert (cli.consumer_view(a), cli.merchant_view(x), cli.platform()) == before
    assert before[0]["share_value"] == "2010.00"
    assert before[1]["share_value"] == "402.00"
    assert before[1]["status"] == "active"
    assert before[1]["points"] == {"available": "49.0000", "escrow": "0.0000", "deposit": "500.0000"}
    assert (before[2]["reserve"], before[2]["burned"], before[2]["held_by_members"]) == (
        "389250.0000", "201.0000", "549.0000"
    )  # fmt: skip
    cli.assert_verified()


def test_replay_of_a_suspending_purchase_is_the_first_result(cli: Cli) -> None:
    """Same set-up as above: the sale that dipped into the deposit, retried with its key."""
    [a], x = _shop(cli, grant="600")
    first = cli.buy(x, a, "2000", D1, key="p1")
    assert first["merchant_suspended"] is True
    assert cli.buy(x, a, "2000", D1, key="p1") == {**first, "replayed": True}


# -- scenario 4 ------------------------------------------------------------------------------------


def test_refund_restores_balances_exactly(cli: Cli) -> None:
    """B spends 100.00 (B 100.00 SV, X 20.00 SV, deduction 10.0000); snapshot; then A spends 1,234.56:
    A 1,234.56 SV, X 1,234.56 × 0.2 = 246.912 → 246.91 SV, deduction 123.456 → 123.4560.
    Refunding A's purchase takes back 1,234.56 and 246.91 SV and returns 123.4560 points from the
    burn account: every balance equals the snapshot again (X available 490.0000, burned 10.0000,
    share value issued 120.00).  A second refund answers with the first result, replayed.
    """
    [a, b], x = _shop(cli, consumers=2)
    cli.buy(x, b, "100", D1)
    snapshot = (money(cli.consumer_view(a)), money(cli.consumer_view(b)), money(cli.merchant_view(x)))
    platform = cli.platform()

    sale = cli.buy(x, a, "1234.56", D1)
    assert (sale["consumer_share_value"], sale["merchant_share_value"], sale["points_deducted"]) == (
        "1234.56", "246.91", "123.4560"
    )  # fmt: skip
    assert cli.merchant_view(x)["points"]["available"] == "366.5440"

    refund = cli.ok("refund", str(sale["id"]), "--at", at(D1, "18:00"))
    assert refund == {
        "purchase_id": sale["id"],
        "business_day": D1,
        "consumer_share_value_taken": "1234.56",
        "consumer_clawback_owed": "0.00",
        "merchant_share_value_taken": "246.91",
        "merchant_clawback_owed": "0.00",
        "points_returned": "123.4560",
        "merchant_status": "active",
        "replayed": False,
    }
    after = (money(cli.consumer_view(a)), money(cli.consumer_view(b)), money(cli.merchant_view(x)))
    assert after == snapshot
    assert after[2] == {
        "share_value": "20.00", "clawback_owed": "0.00", "available": "490.0000", "escrow": "0.0000",
        "deposit": "500.0000",
    }  # fmt: skip
    assert cli.platform() == platform
    assert (platform["burned"], platform["share_value_issued"]) == ("10.0000", "120.00")

    assert cli.ok("refund", str(sale["id"]), "--at", at(D1, "19:00")) == {**refund, "replayed": True}
    assert money(cli.consumer_view(a)) == snapshot[0]
    cli.assert_verified()


# -- scenario 5 ------------------------------------------------------------------------------------


def test_settling_is_once_in_order_and_closes_the_day(cli: Cli) -> None:
    """A (id 1) and X (id 3, rate 0.10); purchases of A: D1 1,000, D2 500, D3 100 (X earns a fifth).

    D1 (settled while the D2 purchase is already on the books, which must not count):
      S = 1,000 + 200 = 1,200.00; A 5,000,000 × 100,000 / 120,000 = 4,166,666.67 → 416.6667 (it
      takes the one leftover unit, remainder .67 against .33), X 83.3333; SV → A 583.33, X 116.67.
    D2: A 1,083.33, X 216.67, S 1,300.00; A 4,166,653.85 → 416.6654 (+1, remainder .85), X 83.3346;
      consumed A 416.67, X 83.33 → A 666.66, X 133.34.
    D3: A 766.66, X 153.34, S 920.00; A 4,166,630.43 → 416.6630, X 833,369.57 → 83.3370 (+1);
      consumed A 416.66, X 83.34 → A 350.00, X 70.00.
    A's points 416.6667 + 416.6654 + 416.6630 = 1,249.9951; X 83.3333 + 83.3346 + 83.3370 = 250.0049
    on top of its available 500 − (100 + 50 + 10) = 340 → 590.0049.
    """
    [a], x = _shop(cli)
    cli.buy(x, a, "1000", D1)
    cli.buy(x, a, "500", D2)

    first = cli.settle("--date", D1)
    assert [d["date"] for d in first["days"]] == [D1]
    assert (first["network_share_value"], first["holders"], first["released"]) == ("1200.00", 2, "500.0000")
    assert (first["share_value_consumed"], first["leftover_units"], first["price_source"]) == (
        "500.00", 1, "initial"
    )  # fmt: skip
    assert cli.line(D1, a)["points"] == "416.6667"
    assert cli.line(D1, x)["points"] == "83.3333"

    again = cli.settle("--date", D1)
    report = {k: v for k, v in first.items() if k != "days"}
    assert again == {**report, "replayed": True, "days": [{**report, "replayed": True}]}

    cli.refused(
        "purchase", "--merchant", str(x), "--consumer", str(a), "--amount", "1", "--at", at(D1, "23:59"),
        code="day_settled",
    )  # fmt: skip
    cli.buy(x, a, "100", D3)

    caught_up = cli.settle("--through", D3)
    assert [d["date"] for d in caught_up["days"]] == [D2, D3]
    assert caught_up["date"] == D3
    d2, d3 = caught_up["days"]
    assert (d2["network_share_value"], d2["share_value_consumed"], d2["leftover_units"]) == (
        "1300.00",
        "500.00",
        1,
    )
    assert (d3["network_share_value"], d3["share_value_consumed"], d3["leftover_units"]) == (
        "920.00",
        "500.00",
        1,
    )
    assert all(d["released"] == "500.0000" and d["replayed"] is False for d in (d2, d3))
    assert (cli.line(D2, a)["points"], cli.line(D2, x)["points"]) == ("416.6654", "83.3346")
    assert (cli.line(D3, a)["points"], cli.line(D3, x)["points"]) == ("416.6630", "83.3370")

    view_a, view_x = cli.consumer_view(a), cli.merchant_view(x)
    assert (view_a["share_value"], view_a["points"]["available"]) == ("350.00", "1249.9951")
    assert (view_x["share_value"], view_x["points"]["available"]) == ("70.00", "590.0049")
    assert cli.settle("--date", D2)["replayed"] is True

    today = datetime.now(BUSINESS_TZ).date()
    for day in (today, today + timedelta(days=1)):
        cli.refused("settle", "--date", day.isoformat(), code="day_not_over")
    cli.refused("settle", "--through", (today + timedelta(days=30)).isoformat(), code="day_not_over")
    cli.refused("settle", "--date", D1, "--through", D3, code="choose_one")
    cli.assert_verified()


# -- scenario 6 ------------------------------------------------------------------------------------


def test_rule_change_takes_effect_from_its_day(cli: Cli) -> None:
    """daily_airdrop = 1000 from D2; D1 still releases 500.

    D1: A spends 1,000 → same as the settling test: A 416.6667, X 83.3333; A 583.33, X 116.67 SV.
    D2: B spends 10,000 → B 10,000.00, X +2,000.00 → 2,116.67; S = 583.33 + 10,000 + 2,116.67 =
      12,700.00.  In units: A 10,000,000 × 58,333 / 1,270,000 = 459,314.96, B 7,874,015.75,
      X 1,666,669.29; floors sum to 9,999,998 → the two units go to A (.96) and B (.75):
      A 45.9315, B 787.4016, X 166.6669 (Σ 1,000.0000); consumed 45.93 + 787.40 + 166.67 = 1,000.00.
    """
    [a, b], x = _shop(cli, consumers=2, grant="2000")
    changed = cli.ok("rules", "set", "daily_airdrop=1000", "--from", D2, "--note", "双倍空投")
    assert (changed["version"], changed["effective_from"], changed["changes"]) == (
        2,
        D2,
        {"daily_airdrop": "1000.0000"},
    )
    assert changed["rules"]["daily_airdrop"] == "1000.0000"
    assert cli.ok("rules", "show", "--date", D1)["rules"]["daily_airdrop"] == "500.0000"
    shown = cli.ok("rules", "show", "--date", D2)
    assert (shown["version"], shown["rules"]["daily_airdrop"]) == (2, "1000.0000")

    cli.buy(x, a, "1000", D1)
    cli.buy(x, b, "10000", D2)
    d1, d2 = cli.settle("--through", D2)["days"]
    assert (d1["rule_version"], d1["airdrop"], d1["released"]) == (1, "500.0000", "500.0000")
    assert (d2["rule_version"], d2["airdrop"], d2["released"]) == (2, "1000.0000", "1000.0000")
    assert (d2["network_share_value"], d2["holders"], d2["leftover_units"], d2["share_value_consumed"]) == (
        "12700.00", 3, 2, "1000.00"
    )  # fmt: skip
    assert [cli.line(D2, m)["points"] for m in (a, b, x)] == ["45.9315", "787.4016", "166.6669"]
    assert cli.platform()["released"] == "1500.0000"

    cli.refused("rules", "set", "daily_airdrop=600", "--from", D2, code="rules_in_past")
    cli.refused("rules", "set", "total_issue=1", "--from", "2030-01-01", code="rule_fixed")
    cli.refused("rules", "set", "initial_price=2", "--from", "2030-01-01", code="rule_fixed")
    cli.refused("rules", "set", "no_such_rule=1", "--from", "2030-01-01", code="unknown_rule")
    cli.refused("rules", "set", "daily_airdrop=abc", "--from", "2030-01-01", code="invalid_decimal")
    cli.refused("rules", "set", "daily_airdrop=-1", "--from", "2030-01-01", code="negative_rule")
    cli.refused("rules", "set", "daily_airdrop=0.00001", "--from", "2030-01-01", code="too_many_decimals")
    cli.refused("rules", "set", "daily_airdrop", "--from", "2030-01-01", code="invalid_pair")
    cli.refused("rules", "set", "daily_airdrop=1", "--from", "2024-12-31", code="before_start")
    assert cli.ok("rules", "show", "--date", "2030-01-01")["version"] == 2
    cli.assert_verified()


RULES_TOML = """\
# TOML floats must reach the rulebook as the decimals written here, never as binary floats.
[rules]
concession_rate_min = 0.02
concession_rate_max = 0.3
merchant_multiplier = 2.2
daily_airdrop = 600
merchant_deposit_cny = 300.10
"""


def test_init_with_a_rules_file_keeps_toml_floats_exact(cli: Cli, tmp_path: Path) -> None:
    """Bounds 0.02–0.3, merchant ×2.2, A = 600, deposit worth 300.10 CNY = 300.1000 points at 1.0000.

    A spends 100.00 at X (0.30): A 100 × 0.3 × 10 = 300.00 SV, X 100 × 0.3 × 2.2 = 66.00 SV,
    deduction 30.0000.  S = 366.00; A 6,000,000 × 30,000 / 36,600 = 4,918,032.79 → 491.8033 (+1,
    remainder .79 against .21), X 1,081,967.21 → 108.1967 (Σ 600.0000).
    """
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES_TOML, encoding="utf-8")
    started = cli.init(D1, "--rules", str(rules))
    expected = {
        "concession_rate_min": "0.02",
        "concession_rate_max": "0.3",
        "merchant_multiplier": "2.2",
        "daily_airdrop": "600.0000",
        "merchant_deposit_cny": "300.10",
        "consumer_multiplier": "10",
        "total_issue": "390000.0000",
    }
    for rulebook in (started["rules"], cli.ok("rules", "show")["rules"]):
        assert {k: rulebook[k] for k in expected} == expected

    a, owner = cli.consumer("A"), cli.consumer("店主")
    cli.refused(
        "merchant", "add", "--name", "店", "--owner", str(owner), "--region", "441900", "--rate", "0.01",
        code="rate_out_of_bounds",
    )  # fmt: skip
    cli.refused(
        "merchant", "add", "--name", "店", "--owner", str(owner), "--region", "441900", "--rate", "0.31",
        code="rate_out_of_bounds",
    )  # fmt: skip
    x = cli.open_merchant(owner, grant="1000", rate="0.30")
    assert cli.merchant_view(x)["points"]["deposit"] == "300.1000"
    sale = cli.buy(x, a, "100", D1)
    assert (sale["consumer_share_value"], sale["merchant_share_value"], sale["points_deducted"]) == (
        "300.00", "66.00", "30.0000"
    )  # fmt: skip
    day = cli.settle("--date", D1)
    assert (day["airdrop"], day["network_share_value"]) == ("600.0000", "366.00")
    assert (cli.line(D1, a)["points"], cli.line(D1, x)["points"]) == ("491.8033", "108.1967")
    cli.assert_verified()


@pytest.mark.parametrize(
    ("toml", "code"),
    [
        ("[rules]\nno_such_rule = 1\n", "unknown_rule"),
        ("[rules]\ndaily_airdrop = 0.00001\n", "too_many_decimals"),
        ("[rules]\nconcession_rate_min = 0.6\n", "invalid_concession_bounds"),
        ("[rules\n", "invalid_toml"),
    ],
)
def test_init_refuses_a_bad_rules_file_and_stays_uninitialised(
    cli: Cli, tmp_path: Path, toml: str, code: str
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(toml, encoding="utf-8")
    cli.refused("init", "--start-date", D1, "--rules", str(rules), code=code)
    cli.refused("init", "--start-date", D1, "--rules", str(tmp_path / "missing.toml"), code="file_not_found")
    cli.refused("rules", "show", code="not_initialised")


# -- scenario 7 ------------------------------------------------------------------------------------


def _refusals(x: int, a: int, owner: int) -> list[tuple[list[str], str]]:
    """Bad input for a world of consumer a, owner, active merchant x; each must be a JSON refusal."""
    buy = ["purchase", "--merchant", str(x), "--consumer", str(a), "--at", at(D1)]
    shop = ["merchant", "add", "--name", "新店", "--owner", str(a)]
    grant = ["points", "grant", "--merchant", str(x), "--reason", "r"]
    return [
        (["consumer", "add", "--phone", "12345"], "invalid_phone"),
        (["consumer", "add", "--phone", "1380000000a"], "invalid_phone"),
        (["consumer", "add", "--phone", "13800000001"], "phone_taken"),
        ([*shop, "--region", "999999"], "invalid_region"),
        ([*shop, "--region", "44190"], "invalid_region"),
        ([*shop, "--region", "441900", "--rate", "0.6"], "rate_out_of_bounds"),
        ([*shop, "--region", "441900", "--rate", "0.001"], "rate_out_of_bounds"),
        ([*shop, "--region", "441900", "--rate", "0.12345"], "too_many_decimals"),
        ([*shop, "--region", "441900", "--rate", "abc"], "invalid_decimal"),
        (["merchant", "add", "--name", "新店", "--owner", "99", "--region", "441900"], "consumer_not_found"),
        (["merchant", "add", "--name", " ", "--owner", str(a), "--region", "441900"], "name_required"),
        ([*buy, "--amount", "abc"], "invalid_decimal"),
        ([*buy, "--amount", "1.001"], "too_many_decimals"),
        ([*buy, "--amount", "0"], "non_positive_amount"),
        ([*buy, "--amount", "-5"], "non_positive_amount"),
        ([*buy, "--amount", "NaN"], "invalid_decimal"),
        ([*buy, "--amount", "100000.01"], "amount_over_limit"),
        ([*buy[:2], "99", *buy[3:], "--amount", "1"], "merchant_not_found"),
        ([*buy[:4], "99", *buy[5:], "--amount", "1"], "consumer_not_found"),
        ([*buy[:4], str(owner), *buy[5:], "--amount", "1"], "self_dealing"),
        ([*buy[:6], "not-a-time", "--amount", "1"], "invalid_datetime"),
        ([*buy[:6], at("2024-12-31"), "--amount", "1"], "before_start"),
        ([*grant, "--amount", "1.00001"], "too_many_decimals"),
        ([*grant, "--amount", "0"], "non_positive_amount"),
        ([*grant, "--amount", "389000.0001"], "reserve_exhausted"),
        (["points", "grant", "--merchant", "99", "--amount", "1", "--reason", "r"], "merchant_not_found"),
        (["merchant", "approve", str(x)], "invalid_status_transition"),
        (["merchant", "deposit", "99"], "merchant_not_found"),
        (["refund", "99"], "purchase_not_found"),
        (["settle", "--date", "2025-13-01"], "invalid_date"),
        (["settle", "--date", "2024-12-31"], "before_start"),
        (["settlement", "show", D1], "not_settled"),
        (["balance"], "choose_one"),
        (["balance", "--consumer", str(a), "--merchant", str(x)], "choose_one"),
        (["balance", "--consumer", "99"], "consumer_not_found"),
        (["balance", "--merchant", str(a)], "merchant_not_found"),
        (["init", "--start-date", D1], "already_initialised"),
        (["init", "--start-date", "2025-02-30"], "invalid_date"),
    ]


def test_bad_input_is_a_json_refusal_and_changes_nothing(cli: Cli) -> None:
    """Every refusal: non-zero exit, one JSON object with the stated code; the books are unchanged
    (grant 1,000: reserve 389,000.0000, X available 500.0000 and deposit 500.0000)."""
    [a], x = _shop(cli)
    owner = 2
    before = cli.platform()
    wrong = []
    for args, code in _refusals(x, a, owner):
        result = cli.run(*args)
        got = result.data.get("error", {}).get("code")
        if result.exit_code == 0 or got != code:
            wrong.append((args, code, result.exit_code, result.data))
    assert not wrong, "\n".join(map(repr, wrong))
    assert cli.platform() == before
    assert (before["reserve"], before["held_by_members"]) == ("389000.0000", "1000.0000")
    cli.assert_verified()


def test_language_of_messages(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--lang en` (or SHAREBUY_LANG=en) picks the English message; zh is the default."""
    _shop(cli)
    args = ["purchase", "--merchant", "99", "--consumer", "1", "--amount", "1", "--at", at(D1)]
    zh = cli.refused(*args, code="merchant_not_found")
    assert zh["message"] == zh["message_zh"] == "商家 99 不存在"
    en = cli.refused("--lang", "en", *args, code="merchant_not_found")
    assert en["message"] == en["message_en"] == "merchant 99 does not exist"
    assert en["details"] == {"id": "99"}
    monkeypatch.setenv("SHAREBUY_LANG", "en")
    assert cli.refused(*args, code="merchant_not_found")["message"] == "merchant 99 does not exist"


def test_json_flag_before_or_after_the_command(cli: Cli) -> None:
    """`sharebuy --json CMD` and `sharebuy CMD --json` print the same single object."""
    _shop(cli)
    after = cli.ok("balance", "--consumer", "1")
    before = cli.ok("--json", "balance", "--consumer", "1", json_flag=False)
    assert before == after
    refused = cli.run("--json", "refund", "99", json_flag=False)
    assert refused.exit_code != 0 and refused.error["code"] == "purchase_not_found"


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["purchase", "--merchant", "1", "--amount", "1"], id="missing-option"),
        pytest.param(["purchase", "--merchant", "x", "--consumer", "1", "--amount", "1"], id="not-an-int"),
        pytest.param(["consumer", "add"], id="missing-phone"),
        pytest.param(["settle", "--bogus"], id="unknown-option"),
        pytest.param(["no-such-command"], id="unknown-command"),
    ],
)
def test_usage_error_is_a_json_refusal(cli: Cli, args: list[str]) -> None:
    """Usage errors never reach the database: code "usage", exit 2, one JSON object."""
    result = cli.run(*args)
    assert result.exit_code == 2
    assert result.error["code"] == "usage"


# -- scenario 8 ------------------------------------------------------------------------------------


def test_platform_balance_adds_up_to_the_total_issue(cli: Cli) -> None:
    """Points: reserve + burned + fees + held_by_members = total issue, through a refund with a
    clawback, a suspension, a top-up and two settlements.  A 1, B 2, owner 3, X 4 (0.10).

    Grant 1,000 → deposit 500, available 500.  Reserve 389,000.
    D1: A 3,000 → A 3,000.00 SV, X 600.00, −300 pts;  B 1,000 → B 1,000.00, X 200.00, −100 pts.
      settle D1: S 4,800.00 → A 312.5000, B 104.1667 (leftover unit, .67), X 83.3333;
      SV → A 2,687.50, B 895.83, X 716.67; X available 100 + 83.3333 = 183.3333.
    D2: refund B's purchase: B gives back 895.83 and owes 104.17; X gives back 200.00 → 516.67;
      100.0000 points back to X available → 283.3333; burned 400 − 100 = 300.
      B 2,000 → 2,000.00 SV repays the 104.17 first → B 1,895.83; X 916.67; −200 → 83.3333.
      A 5,000 → A 7,687.50; X 1,916.67; −500 = 83.3333 available + 416.6667 deposit → suspended.
      grant 500, `merchant deposit` moves 416.6667 → deposit 500, available 83.3333, active.
      settle D2: S = 7,687.50 + 1,895.83 + 1,916.67 = 11,500.00 → A 3,342,391.30 → 334.2391,
      B 824,273.91 → 82.4274 (+1), X 833,334.78 → 83.3335 (+1); consumed 334.24, 82.43, 83.33.
    End: reserve 390,000 − 1,000 − 500 − 500 − 500 = 387,500; burned 300 + 100 − 100 + 200 + 500
      = 1,000; held A 646.7391 + B 186.5941 + X 166.6668 + deposit 500 = 1,500.0000; Σ 390,000.
      SV issued 3,600 + 1,200 − 1,200 + 2,400 + 6,000 = 12,000.00, retired 1,000.00,
      outstanding A 7,353.26 + B 1,813.40 + X 1,833.34 = 11,000.00.
    """
    [a, b], x = _shop(cli, consumers=2)
    cli.buy(x, a, "3000", D1)
    b_first = cli.buy(x, b, "1000", D1)
    cli.settle("--date", D1)
    assert [cli.line(D1, m)["points"] for m in (a, b, x)] == ["312.5000", "104.1667", "83.3333"]

    refund = cli.ok("refund", str(b_first["id"]), "--at", at(D2))
    assert (refund["consumer_share_value_taken"], refund["consumer_clawback_owed"]) == ("895.83", "104.17")
    assert (refund["merchant_share_value_taken"], refund["merchant_clawback_owed"]) == ("200.00", "0.00")
    view_b = cli.consumer_view(b)
    assert (view_b["share_value"], view_b["clawback_owed"]) == ("0.00", "104.17")
    cli.buy(x, b, "2000", D2)
    view_b = cli.consumer_view(b)
    assert (view_b["share_value"], view_b["clawback_owed"]) == ("1895.83", "0.00")
    assert cli.buy(x, a, "5000", D2)["from_deposit"] == "416.6667"
    assert cli.merchant_view(x)["status"] == "suspended"
    cli.grant(x, "500")
    assert cli.ok("merchant", "deposit", str(x))["moved"] == "416.6667"

    day = cli.settle("--date", D2)
    assert (day["network_share_value"], day["leftover_units"], day["share_value_consumed"]) == (
        "11500.00", 2, "500.00"
    )  # fmt: skip
    assert [cli.line(D2, m)["points"] for m in (a, b, x)] == ["334.2391", "82.4274", "83.3335"]
    assert cli.consumer_view(a)["points"]["available"] == "646.7391"
    assert cli.consumer_view(b)["points"]["available"] == "186.5941"
    assert cli.merchant_view(x)["points"] == {
        "available": "166.6668",
        "escrow": "0.0000",
        "deposit": "500.0000",
    }

    platform = cli.platform()
    assert platform == {
        "total_issue": "390000.0000",
        "reserve": "387500.0000",
        "burned": "1000.0000",
        "fees": "0.0000",
        "held_by_members": "1500.0000",
        "released": "1000.0000",
        "share_value_issued": "12000.00",
        "share_value_retired": "1000.00",
        "share_value_outstanding": "11000.00",
        "clawback_owed": "0.00",
        "guide_price": "1.0000",
    }
    parts = ("reserve", "burned", "fees", "held_by_members")
    assert sum(Decimal(platform[k]) for k in parts) == Decimal(platform["total_issue"])
    cli.assert_verified()


# -- scenario 9 ------------------------------------------------------------------------------------

UNINITIALISED = [
    ["consumer", "add", "--phone", "13800000001"],
    ["merchant", "add", "--name", "店", "--owner", "1", "--region", "441900"],
    ["purchase", "--merchant", "2", "--consumer", "1", "--amount", "1", "--at", at(D1)],
    ["rules", "show"],
    ["rules", "set", "daily_airdrop=1", "--from", D1],
    ["settle", "--date", D1],
]


@pytest.mark.parametrize("args", UNINITIALISED, ids=lambda a: " ".join(a[:2]))
def test_never_initialised_database(cli: Cli, tmp_path: Path, migrated_url: str, args: list[str]) -> None:
    """Both a file with no schema at all and a migrated but empty database say not_initialised."""
    cli.refused(*args, db=f"sqlite:///{tmp_path / 'never.db'}", code="not_initialised")
    cli.refused(*args, db=migrated_url, code="not_initialised")


def test_never_migrated_database_for_reads(cli: Cli, tmp_path: Path) -> None:
    never = f"sqlite:///{tmp_path / 'never.db'}"
    for args in (["balance", "--platform"], ["balance", "--consumer", "1"], ["verify"], ["refund", "1"]):
        cli.refused(*args, db=never, code="not_initialised")


def test_platform_balance_of_an_uninitialised_database(cli: Cli, migrated_url: str) -> None:
    cli.refused("balance", "--platform", db=migrated_url, code="not_initialised")


def test_verify_of_an_uninitialised_database_fails(cli: Cli, migrated_url: str) -> None:
    result = cli.run("verify", db=migrated_url)
    assert result.data.get("ok") is not True
    assert result.exit_code != 0


# -- the database choice and verify's exit code -----------------------------------------------------


def test_db_option_overrides_the_environment(cli: Cli, env_db_path: Path) -> None:
    """SHAREBUY_DATABASE_URL names a database; --db wins over it; without --db the env one is used."""
    _shop(cli)
    assert not env_db_path.exists()
    cli.refused("balance", "--consumer", "1", db=None, code="not_initialised")
    assert cli.ok("init", "--start-date", D2, db=None)["start_date"] == D2
    assert cli.ok("rules", "show", "--date", D2, db=None)["versions"][0]["effective_from"] == D2
    assert cli.ok("rules", "show", "--date", D2)["versions"][0]["effective_from"] == D1


def test_verify_exits_non_zero_on_a_tampered_ledger(cli: Cli) -> None:
    """One unit of points added behind the journal's back: verify names it and exits non-zero."""
    [a], _x = _shop(cli)
    engine = make_engine(cli.url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE ledger_accounts SET balance = balance + 1 WHERE member_id = :m AND kind = 'available'"
                ),
                {"m": a},
            )
    finally:
        engine.dispose()
    result = cli.run("verify")
    assert result.data["ok"] is False
    assert result.data["checks"]["I2_points_conserved"]["ok"] is False
    assert result.exit_code != 0


def test_grant_key_reused_with_another_amount(cli: Cli) -> None:
    [_a], x = _shop(cli)
    base = ["points", "grant", "--merchant", str(x), "--reason", "r", "--key", "g-1"]
    first = cli.ok(*base, "--amount", "600")
    assert cli.ok(*base, "--amount", "600") == {**first, "replayed": True}
    cli.refused(*base, "--amount", "999", code="idempotency_key_reused")


def test_deposit_required_follows_the_rules_in_force(cli: Cli) -> None:
    """merchant_deposit_cny = 600 from D2 (a past day): the deposit posted today must be 600.0000,
    and the balance view must say the same."""
    cli.init(D1)
    owner = cli.consumer("店主")
    cli.ok("rules", "set", "merchant_deposit_cny=600", "--from", D2)
    x = cli.open_merchant(owner, grant="1000")
    assert cli.merchant_view(x)["points"]["deposit"] == "600.0000"
    assert cli.merchant_view(x)["deposit_required"] == "600.0000"


# -- the console script, end to end ------------------------------------------------------------------


def _sharebuy(*args: str, url: str | None = None, env_url: str | None = None) -> tuple[int, dict, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SHAREBUY_LANG", "SHAREBUY_DATABASE_URL")}
    if env_url:
        env["SHAREBUY_DATABASE_URL"] = env_url
    argv = [str(SHAREBUY), *(["--db", url] if url else []), *args, "--json"]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, one_json_object(done.stdout), done.stderr


def test_console_script_end_to_end(db_url: str) -> None:
    """The installed `sharebuy` on SHAREBUY_DATABASE_URL: init (migrating a fresh SQLite file),
    a shop, a purchase of 5,000.00 (5,000.00 + 1,000.00 SV), settle D1 (A 500 × 5/6 = 416.6667,
    X 83.3333, leftover unit to A), verify ok with exit 0."""
    steps: list[tuple[list[str], dict[str, object]]] = [
        (["init", "--start-date", D1], {"start_date": D1}),
        (["consumer", "add", "--phone", "13800000001", "--name", "张伟"], {"id": 1}),
        (["consumer", "add", "--phone", "13800000002", "--name", "店主"], {"id": 2}),
        (["merchant", "add", "--name", "莞带生活超市", "--owner", "2", "--region", "441900", "--rate", "0.10"],
         {"id": 3}),
        (["merchant", "approve", "3"], {"status": "approved"}),
        (["points", "grant", "--merchant", "3", "--amount", "1000", "--reason", "启动积分"], {"amount": "1000.0000"}),
        (["merchant", "deposit", "3"], {"status": "active", "deposit": "500.0000"}),
        (["purchase", "--merchant", "3", "--consumer", "1", "--amount", "5000", "--at", at(D1), "--key", "till-1"],
         {"consumer_share_value": "5000.00", "merchant_share_value": "1000.00", "points_deducted": "500.0000"}),
        (["settle", "--date", D1], {"network_share_value": "6000.00", "released": "500.0000"}),
        (["balance", "--consumer", "1"], {"share_value": "4583.33", "points": {"available": "416.6667", "escrow": "0.0000", "deposit": "0.0000"}}),
        (["verify"], {"ok": True}),
    ]  # fmt: skip
    for args, expected in steps:
        code, data, _ = _sharebuy(*args, env_url=db_url)
        assert code == 0, (args, data)
        assert {k: data.get(k) for k in expected} == expected, (args, data)


def test_console_script_refusal(tmp_path: Path) -> None:
    """A refusal from the real executable: exit 1, one JSON object, English with --lang en."""
    url = f"sqlite:///{tmp_path / 'never.db'}"
    code, data, _ = _sharebuy("--lang", "en", "consumer", "add", "--phone", "13800000001", url=url)
    assert code == 1
    assert data["error"]["code"] == "not_initialised"
    assert data["error"]["message"] == data["error"]["message_en"]


def test_console_script_usage_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'never.db'}"
    code, data, _ = _sharebuy("purchase", "--merchant", "1", url=url)
    assert code == 2
    assert data["error"]["code"] == "usage"
