"""`sharebuy tiers ...` and `sharebuy dividends ...` as a scripting contract: one JSON object per
call, refusals as errors with stable codes, `verify` ok at the end."""

from __future__ import annotations

from tests.cli.harness import D1, Cli


def test_tiers_dividends_and_green_from_the_cli(cli: Cli) -> None:
    cli.init(D1)
    cli.ok("rules", "set", "dividend_pool_rate=0.01", "dividend_period=daily", "--from", D1)
    gold = cli.ok("tiers", "set", "gold", "--kind", "consumer", "--name-zh", "金卡", "--name-en", "Gold",
                  "--threshold", "1000", "--weight", "3")  # fmt: skip
    assert gold["created"] is True and gold["threshold"] == "1000.00"
    cli.ok("tiers", "set", "star", "--kind", "merchant", "--name-zh", "星级", "--name-en", "Star",
           "--threshold", "500", "--weight", "1")  # fmt: skip
    cli.refused("tiers", "set", "Bad Code", "--kind", "consumer", "--name-zh", "x", "--name-en", "x",
                "--threshold", "1", "--weight", "1", code="invalid_tier_code")  # fmt: skip
    cli.refused("tiers", "set", "gold", "--kind", "merchant", "--name-zh", "x", "--name-en", "x",
                "--threshold", "1", "--weight", "1", code="tier_kind_fixed")  # fmt: skip
    owner, shopper = cli.consumer("店主"), cli.consumer("张伟")
    merchant = cli.open_merchant(owner, grant="1000")
    assert cli.ok("tiers", "green", str(merchant), "--note", "节能认证")["green"] is True
    cli.refused("tiers", "green", str(shopper), code="merchant_not_found")
    bought = cli.buy(merchant, shopper, "2000", D1)
    assert bought["green_bonus"] == "200.00"  # 2000 × 10% × 10 × 10%
    cli.settle("--date", D1)
    shown = cli.ok("tiers", "show", str(shopper))
    assert shown["tier"]["code"] == "gold" and shown["basis"] == "2000.00"
    assert [h["to_code"] for h in shown["history"]] == ["gold"]
    [period] = cli.ok("dividends", "list")["periods"]
    assert period["period"] == D1 and period["pool"] == "0.0000" and period["pool_wanted"] == "20.0000"
    again = cli.ok("dividends", "run", D1)
    assert again["replayed"] is True and again["capped"] is True
    cli.refused("dividends", "run", "2025-01", code="period_not_settled")
    cli.refused("dividends", "run", "2025-13", code="invalid_period")
    report = cli.ok("dividends", "show", D1)
    assert {t["tier_code"]: t["members"] for t in report["tiers"]} == {"gold": 1, "star": 1}
    assert cli.ok("tiers", "evaluate")["upgraded"] == 0
    listed = {t["code"]: t["members"] for t in cli.ok("tiers", "list")["tiers"]}
    assert listed == {"gold": 1, "star": 1}
    cli.refused("tiers", "remove", "gold", code="tier_held")
    assert cli.ok("tiers", "ungreen", str(merchant))["green"] is False
    cli.assert_verified()
