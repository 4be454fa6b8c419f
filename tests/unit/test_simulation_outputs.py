"""`sharebuy simulate` end to end: one JSON object, the files, an offline report that promises
nothing, sweeps in processes that any single run reproduces."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from sharebuy.cli.main import main
from sharebuy.simulation import kpis, model, report, scenario
from tests.cli.harness import one_json_object, reset_state

TINY = """
[scenario]
name = "tiny"
days = 40
seed = 4

[population]
consumers = 200
merchants = 3

[growth]
kind = "linear"
start = 20
days_to_peak = 20
"""


def run_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, dict]:  # type: ignore[type-arg]
    reset_state()
    monkeypatch.setattr(sys, "argv", ["sharebuy", *args])
    capsys.readouterr()
    code = 0
    try:
        main()
    except SystemExit as done:
        code = int(done.code or 0)
    finally:
        reset_state()
    return code, one_json_object(capsys.readouterr().out)


def test_simulate_writes_series_plots_and_an_offline_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "tiny.toml"
    file.write_text(TINY)
    out = tmp_path / "out"
    code, data = run_cli(
        monkeypatch,
        capsys,
        "simulate",
        str(file),
        "--out",
        str(out),
        "--seeds",
        "2",
        "--sweep",
        "daily_airdrop=250,500",
        "--workers",
        "2",
        "--json",
    )
    assert code == 0, data
    assert data["runs"] == 4 and data["seeds"] == [4, 5]
    assert set(data["kpis"]) == {k.name for k in kpis.KPIS}
    assert [g["settings"] for g in data["grid"]] == [
        {"rules.daily_airdrop": "250"},
        {"rules.daily_airdrop": "500"},
    ]
    for name in ("series.csv", "kpis.json", "kpis.csv", "guide_price.png", "value.png", "cash_model.png"):
        assert (out / name).stat().st_size > 0, name
    rows = (out / "series.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 * 40 and rows[0].startswith("point,seed,rules.daily_airdrop,day,")

    page = (out / "report.html").read_text(encoding="utf-8")
    assert report.NOTICE_ZH in page and report.NOTICE_EN in page
    assert page.count("data:image/png;base64,") >= 6
    assert not re.search(r"(src|href)=\"?(https?:)?//", page), "the report must open offline"
    for promise in ("guarantee", "will rise", "保证收益", "必涨", "appreciate"):
        assert promise not in page.replace("does not guarantee", "")

    # Any run of the sweep is reproduced by a single run with its settings and seed.
    stored = json.loads((out / "kpis.json").read_text())["points"][1]["runs"][1]
    again = model.run(scenario.parse(scenario.load(file).raw, {"rules.daily_airdrop": "500"}), 5)
    assert stored["seed"] == 5
    assert stored["kpis"] == json.loads(json.dumps(kpis.compute(again)))


def test_simulate_explains_a_bad_scenario_in_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "bad.toml"
    file.write_text(TINY + "\n[spending]\nshop_probability = 2\n")
    code, data = run_cli(monkeypatch, capsys, "simulate", str(file), "--json")
    assert code == 1
    assert data["error"]["code"] == "invalid_scenario"
    assert "spending.shop_probability" in data["error"]["message_en"]


def test_the_report_carries_the_products_risk_notice() -> None:
    from sharebuy.web.api import platform

    assert report.NOTICE_ZH == platform.NOTICE_ZH
    assert report.NOTICE_EN == platform.NOTICE_EN
