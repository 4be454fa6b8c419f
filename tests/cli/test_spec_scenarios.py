"""SPEC §2–§5 scenarios through the operator CLI, each figure worked out by hand in the docstring.

Units: share value (SV) 0.01, points 0.0001, CNY 0.01.  §3: consumer SV = M × r × 10 and merchant
SV = M × r × 2, half-up to 0.01; the deduction d = M × r / P rounded up to 0.0001.  §4: p_i = A_D ×
SV_i / S truncated to 0.0001, the leftover units one each to the largest remainders (ties: lower id),
SV consumed = p_i × P_D half-up, never more than the holder's SV.  Every scenario ends with verify.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cli.harness import D1, D2, D3, Cli, at

D4 = "2025-01-04"


def _shop(
    cli: Cli, *, consumers: int, grant: str, rate: str = "0.10", rules: str = ""
) -> tuple[list[int], int]:
    """init on D1 (with a rules file when given); consumers 1..n, the owner n+1, merchant n+2."""
    cli.init(D1, *(["--rules", rules] if rules else []))
    buyers = [cli.consumer(f"c{i}") for i in range(consumers)]
    owner = cli.consumer("店主")
    return buyers, cli.open_merchant(owner, grant=grant, rate=rate)


def _rules_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _sale(cli: Cli, x: int, c: int, amount: str, moment: str) -> tuple[str, ...]:
    sale = cli.ok("purchase", "--merchant", str(x), "--consumer", str(c), "--amount", amount, "--at", moment)
    return (
        sale["concession_rate"],
        sale["consumer_share_value"],
        sale["merchant_share_value"],
        sale["points_deducted"],
        sale["rule_version"],
    )


def _lines(cli: Cli, day: str) -> list[tuple[int, str, str, str]]:
    lines = cli.ok("settlement", "show", day)["lines"]
    return [(ln["member_id"], ln["share_value"], ln["points"], ln["share_value_consumed"]) for ln in lines]


def _day(report: dict[str, Any]) -> tuple[Any, ...]:
    keys = ("date", "rule_version", "airdrop", "network_share_value", "holders", "share_value_consumed")
    return (*(report[k] for k in keys), report["leftover_units"])


def _held(cli: Cli, member: int, kind: str = "consumer") -> tuple[str, str]:
    view = cli.ok("balance", f"--{kind}", str(member))
    return view["share_value"], view["points"]["available"]


def test_rounding_half_up_round_up_and_truncate(cli: Cli) -> None:
    """X (id 3) at rate 0.0333, then 0.01; A (id 1) buys on D1 at P = 1.0000:
      0.15 × 0.0333 = 0.004995: A 0.04995 → 0.05, X 0.00999 → 0.01, d 0.004995 → 0.0050 (round up)
      1.05 × 0.0333 = 0.034965: A 0.34965 → 0.35, X 0.06993 → 0.07, d → 0.0350
      0.25 × 0.01 = 0.0025: A 0.025 → 0.03 (half-up, not to even), X 0.005 → 0.01, d 0.0025
      0.05 × 0.01 = 0.0005: A 0.005 → 0.01, X 0.001 → 0.00, d 0.0005
    A 0.44 SV, X 0.09 SV, S = 0.53; burned 0.0430.  A_D = 500 = 5,000,000 units:
      A 5,000,000 × 44 / 53 = 4,150,943.40 → 415.0943; X × 9 / 53 = 849,056.60 → 849,056;
      one unit left → X (0.60 > 0.40): 84.9057.  SV consumed = min(SV, p × 1.0000): A 0.44, X 0.09.
    Points: A 415.0943; X 1,000 − 500 − 0.0430 + 84.9057 = 584.8627; reserve 390,000 − 1,000 − 500.
    """
    [a], x = _shop(cli, consumers=1, grant="1000", rate="0.0333")
    assert _sale(cli, x, a, "0.15", at(D1)) == ("0.0333", "0.05", "0.01", "0.0050", 1)
    assert _sale(cli, x, a, "1.05", at(D1)) == ("0.0333", "0.35", "0.07", "0.0350", 1)
    assert cli.ok("merchant", "rate", str(x), "0.01")["concession_rate"] == "0.01"
    assert _sale(cli, x, a, "0.25", at(D1)) == ("0.0100", "0.03", "0.01", "0.0025", 1)
    assert _sale(cli, x, a, "0.05", at(D1)) == ("0.0100", "0.01", "0.00", "0.0005", 1)
    assert _day(cli.settle("--date", D1)) == (D1, 1, "500.0000", "0.53", 2, "0.53", 1)
    assert _lines(cli, D1) == [(a, "0.44", "415.0943", "0.44"), (x, "0.09", "84.9057", "0.09")]
    assert _held(cli, a) == ("0.00", "415.0943")
    assert _held(cli, x, "merchant") == ("0.00", "584.8627")
    platform = cli.platform()
    assert (platform["reserve"], platform["burned"], platform["released"]) == (
        "388500.0000",
        "0.0430",
        "500.0000",
    )
    assert platform["held_by_members"] == "1499.9570"
    cli.assert_verified()


def test_rules_from_a_future_day_and_settling_through_it(cli: Cli) -> None:
    """consumer ×5 and A = 100 from D3, set before anything happened; A (1) at X (3), rate 0.10.
      D2 23:59:59 spends 1,000 (version 1): A 1,000.00 SV, X 200.00, d 100.0000
      D3 00:00:00 spends 1,000 (version 2): A 500.00 SV, X 200.00, d 100.0000
    settle --through D3 catches up D1, D2, D3 in order:
      D1: nobody holds SV: released 0.
      D2: S = 1,200, A 4,166,666.67 → 416.6667 (the one leftover unit), X 83.3333;
          SV 1,000 − 416.67 = 583.33 and 200 − 83.33 = 116.67.
      D3 (A = 100): A 1,083.33, X 316.67, S = 1,400.00;
          A 1,000,000 × 108,333 / 140,000 = 773,807.14 → 77.3807, X 226,192.86 → 22.6193 (leftover);
          SV 1,083.33 − 77.38 = 1,005.95 and 316.67 − 22.62 = 294.05.
    A 494.0474 points; X 2,000 − 500 − 200 + 83.3333 + 22.6193 = 1,405.9526; a rule change dated
    D3 is now refused (D3 is settled), D4 is accepted.
    """
    [a], x = _shop(cli, consumers=1, grant="2000")
    changed = cli.ok("rules", "set", "consumer_multiplier=5", "daily_airdrop=100", "--from", D3)
    assert changed["changes"] == {"consumer_multiplier": "5", "daily_airdrop": "100.0000"}
    assert _sale(cli, x, a, "1000", f"{D2}T23:59:59") == ("0.1000", "1000.00", "200.00", "100.0000", 1)
    assert _sale(cli, x, a, "1000", f"{D3}T00:00:00") == ("0.1000", "500.00", "200.00", "100.0000", 2)
    report = cli.settle("--through", D3)
    assert [_day(day) for day in report["days"]] == [
        (D1, 1, "0.0000", "0.00", 0, "0.00", 0),
        (D2, 1, "500.0000", "1200.00", 2, "500.00", 1),
        (D3, 2, "100.0000", "1400.00", 2, "100.00", 1),
    ]
    assert _lines(cli, D2) == [(a, "1000.00", "416.6667", "416.67"), (x, "200.00", "83.3333", "83.33")]
    assert _lines(cli, D3) == [(a, "1083.33", "77.3807", "77.38"), (x, "316.67", "22.6193", "22.62")]
    assert _held(cli, a) == ("1005.95", "494.0474")
    assert _held(cli, x, "merchant") == ("294.05", "1405.9526")
    cli.refused("rules", "set", "daily_airdrop=200", "--from", D3, code="rules_in_past")
    cli.refused(
        "purchase",
        "--merchant",
        str(x),
        "--consumer",
        str(a),
        "--amount",
        "1",
        "--at",
        at(D3),
        code="day_settled",
    )
    assert cli.ok("rules", "set", "daily_airdrop=200", "--from", D4)["version"] == 3
    platform = cli.platform()
    assert (platform["reserve"], platform["burned"], platform["held_by_members"]) == (
        "387400.0000",
        "200.0000",
        "2400.0000",
    )
    assert (platform["share_value_issued"], platform["share_value_retired"]) == ("1900.00", "600.00")
    cli.assert_verified()


def test_activity_window_and_registration_bonus(cli: Cli, tmp_path: Path) -> None:
    """Window 2 days (D−1 and D), bonus 50.00 SV with a consumer's first purchase.  A 1, B 2, X 4.
      D1: A 3,000 → 3,000 + 50 SV, X 600;  B 2,000 → 2,000 + 50, X 400;  d 300 + 200.
      D3: B 100 → 100.00 (no second bonus), X 20.00, d 10.
    D1: S = 3,050 + 2,050 + 1,000 = 6,100: A 250.0000 exactly; B 1,680,327.87 and X 819,672.13 units,
        the leftover to B: 168.0328, X 81.9672.  SV: A 2,800.00, B 1,881.97, X 918.03.
    D2: all three bought or sold on D1: S = 5,600: A 250.0000; B 1,680,330.36 → 1,680,330, X 819,669.64
        → 819,670 (leftover).  SV: A 2,550.00, B 1,713.94, X 836.06.
    D3: A's last purchase is D1: A sits out.  B 1,813.94, X 856.06, S = 2,670.00:
        B 3,396,891.39 → 339.6891, X 1,603,108.61 → 160.3109 (leftover).  SV: B 1,474.25, X 695.75.
    D4: A's D1 purchase is refunded: 3,050.00 SV back (the bonus with it): 2,550.00 taken, 500.00
        owed; X gives back 600.00 of 695.75 and gets its 300.0000 points back.  A then spends 10 on
        D4: its 10.00 SV pays the debt down to 490.00.
    """
    rules = _rules_file(tmp_path, 'activity_window_days = 2\nregistration_bonus_sv = "50"\n')
    [a, b], x = _shop(cli, consumers=2, grant="2000", rules=rules)
    first = cli.buy(x, a, "3000", D1)
    assert (first["consumer_share_value"], first["registration_bonus"]) == ("3000.00", "50.00")
    assert cli.buy(x, b, "2000", D1)["registration_bonus"] == "50.00"
    again = cli.buy(x, b, "100", D3)
    assert (again["consumer_share_value"], again["registration_bonus"], again["points_deducted"]) == (
        "100.00",
        "0.00",
        "10.0000",
    )
    report = cli.settle("--through", D3)
    assert [_day(day) for day in report["days"]] == [
        (D1, 1, "500.0000", "6100.00", 3, "500.00", 1),
        (D2, 1, "500.0000", "5600.00", 3, "500.00", 1),
        (D3, 1, "500.0000", "2670.00", 2, "500.00", 1),
    ]
    assert _lines(cli, D1) == [
        (a, "3050.00", "250.0000", "250.00"),
        (b, "2050.00", "168.0328", "168.03"),
        (x, "1000.00", "81.9672", "81.97"),
    ]
    assert _lines(cli, D2) == [
        (a, "2800.00", "250.0000", "250.00"),
        (b, "1881.97", "168.0330", "168.03"),
        (x, "918.03", "81.9670", "81.97"),
    ]
    assert _lines(cli, D3) == [(b, "1813.94", "339.6891", "339.69"), (x, "856.06", "160.3109", "160.31")]
    assert _held(cli, a) == ("2550.00", "500.0000")
    assert _held(cli, b) == ("1474.25", "675.7549")
    assert _held(cli, x, "merchant") == ("695.75", "1314.2451")

    refund = cli.ok("refund", str(first["id"]), "--at", at(D4))
    assert (refund["consumer_share_value_taken"], refund["consumer_clawback_owed"]) == ("2550.00", "500.00")
    assert (refund["merchant_share_value_taken"], refund["points_returned"]) == ("600.00", "300.0000")
    assert cli.buy(x, a, "10", D4)["registration_bonus"] == "0.00"
    assert cli.consumer_view(a)["clawback_owed"] == "490.00"
    assert _held(cli, x, "merchant") == ("97.75", "1613.2451")
    platform = cli.platform()
    assert (platform["reserve"], platform["burned"], platform["released"]) == (
        "386500.0000",
        "211.0000",
        "1500.0000",
    )
    # SV: issued 6,220 − 3,650 + 12 = 2,582; retired 1,500; outstanding 1,474.25 + 97.75 = 1,572.00; owed 490
    assert (platform["share_value_issued"], platform["share_value_outstanding"]) == ("2582.00", "1572.00")
    assert platform["clawback_owed"] == "490.00"
    cli.assert_verified()


def test_a_short_reserve_releases_what_it_holds(cli: Cli, tmp_path: Path) -> None:
    """Total issue 1,000, A = 500, deductions back to the reserve; grant 600 → reserve 400, X (3)
    available 100 after its deposit of 500.  Each day is settled before the next one's sales.
      D1: A (1) spends 300: A 300.00, X 60.00 SV, d 30.0000 → reserve 430.  A_D = min(500, 430):
          A 3,583,333.33 units, X 716,666.67 → X gets the leftover: 358.3333 / 71.6667; all SV used.
      D2: A spends 100: A 100.00, X 20.00, d 10 → reserve 10 → A_D = 10: A 83,333.33 → 8.3333,
          X 16,666.67 → 1.6667; SV A 100 − 8.33 = 91.67, X 20 − 1.67 = 18.33.
      D3: the reserve is empty: A_D = 0, two holders, nothing released, nothing consumed.
    A 366.6666 points, X 100 − 30 + 71.6667 − 10 + 1.6667 = 133.3334 + deposit 500; Σ 1,000.0000.
    """
    rules = _rules_file(
        tmp_path, 'total_issue = 1000\ndaily_airdrop = 500\ndeduction_destination = "reserve"\n'
    )
    [a], x = _shop(cli, consumers=1, grant="600", rules=rules)
    cli.refused(
        "points",
        "grant",
        "--merchant",
        str(x),
        "--amount",
        "400.0001",
        "--reason",
        "r",
        code="reserve_exhausted",
    )
    assert cli.buy(x, a, "300", D1)["points_deducted"] == "30.0000"
    assert _day(cli.settle("--date", D1)) == (D1, 1, "430.0000", "360.00", 2, "360.00", 1)
    assert _lines(cli, D1) == [(a, "300.00", "358.3333", "300.00"), (x, "60.00", "71.6667", "60.00")]
    cli.buy(x, a, "100", D2)
    assert _day(cli.settle("--date", D2)) == (D2, 1, "10.0000", "120.00", 2, "10.00", 1)
    assert _lines(cli, D2) == [(a, "100.00", "8.3333", "8.33"), (x, "20.00", "1.6667", "1.67")]
    assert _day(cli.settle("--date", D3)) == (D3, 1, "0.0000", "110.00", 2, "0.00", 0)
    assert _held(cli, a) == ("91.67", "366.6666")
    assert _held(cli, x, "merchant") == ("18.33", "133.3334")
    platform = cli.platform()
    assert (platform["reserve"], platform["burned"], platform["held_by_members"], platform["released"]) == (
        "0.0000",
        "0.0000",
        "1000.0000",
        "440.0000",
    )
    assert (platform["share_value_issued"], platform["share_value_retired"]) == ("480.00", "370.00")
    cli.assert_verified()


def test_refund_of_the_sale_that_dipped_into_the_deposit_reopens_the_shop(cli: Cli) -> None:
    """X (3) at 0.25 with 200.0000 available: A (1) spends 999.99 → A 2,499.975 → 2,499.98 SV,
    X 499.995 → 500.00 SV, d 249.9975 = 200.0000 available + 49.9975 deposit: suspended.  The refund
    puts both back (available 200.0000, deposit 500.0000): the deposit is whole, X is active again.
    A second refund answers the first; a refund after the 7-day window (D1 + 8) is refused."""
    [a], x = _shop(cli, consumers=1, grant="700", rate="0.25")
    sale = cli.buy(x, a, "999.99", D1, key="till-9")
    assert (sale["consumer_share_value"], sale["merchant_share_value"], sale["points_deducted"]) == (
        "2499.98",
        "500.00",
        "249.9975",
    )
    assert (sale["from_available"], sale["from_deposit"], sale["merchant_suspended"]) == (
        "200.0000",
        "49.9975",
        True,
    )
    assert cli.merchant_view(x)["points"]["deposit"] == "450.0025"
    refund = cli.ok("refund", str(sale["id"]), "--at", at(D2))
    assert (refund["points_returned"], refund["merchant_status"], refund["replayed"]) == (
        "249.9975",
        "active",
        False,
    )
    assert cli.ok("refund", str(sale["id"]), "--at", at(D3)) == {**refund, "replayed": True}
    view = cli.merchant_view(x)
    assert (view["status"], view["points"]["available"], view["points"]["deposit"]) == (
        "active",
        "200.0000",
        "500.0000",
    )
    late = cli.buy(x, a, "4", D2)
    assert (late["points_deducted"], late["merchant_suspended"]) == ("1.0000", False)
    cli.refused("refund", str(late["id"]), "--at", at("2025-01-10"), code="refund_window_closed")
    assert cli.ok("refund", str(late["id"]), "--at", at("2025-01-09", "23:59"))["points_returned"] == "1.0000"
    platform = cli.platform()
    assert (platform["burned"], platform["share_value_issued"], platform["held_by_members"]) == (
        "0.0000",
        "0.00",
        "700.0000",
    )
    cli.assert_verified()
