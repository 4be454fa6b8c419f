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
    # The global flag before the command asks for the same one object (sign-in accounts in it).
    again = cli.run("--json", "demo", json_flag=False)
    assert again.exit_code == 0
    assert again.data["loaded"] is False and again.data["reason"] == "demo data already present"
    assert {a["login"] for a in again.data["sign_in"]["accounts"]} == logins
    assert cli.ok("verify")["ok"] is True
