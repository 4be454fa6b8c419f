"""`sharebuy demo` as `make run` calls it: the data loads once, `sharebuy verify` passes after it."""

from __future__ import annotations

from pathlib import Path

from tests.cli.harness import Cli


def test_demo_then_verify(cli: Cli, tmp_path: Path) -> None:
    cli.monkeypatch.setenv("SHAREBUY_DEMO_ACCOUNTS", str(tmp_path / "accounts.json"))
    first = cli.ok("demo")
    assert first["loaded"] is True
    assert len(first["mall"]["products"]) == 5 and len(first["mall"]["orders"]) == 4
    assert len(first["collectibles"]["editions"]) == 2 and len(first["collectibles"]["tokens"]) == 1
    logins = {a["login"] for a in first["sign_in"]["accounts"]}
    assert {"admin", "auditor", "13800000003", "13800000006"} <= logins
    report = cli.ok("verify")
    assert report["ok"] is True
    assert report["dividend_periods"] == 1 and report["collectibles"] == {"editions": 2, "tokens": 1}
    assert report["mall"]["products"] == 5 and report["mall"]["orders"] == 4
    again = cli.ok("demo")
    assert again["loaded"] is False and again["reason"] == "demo data already present"
    assert cli.ok("verify")["ok"] is True
