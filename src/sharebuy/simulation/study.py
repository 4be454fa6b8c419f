"""A whole study, as `sharebuy simulate` runs it: runs, then every output into one directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sharebuy.simulation import outputs, plots, report, sweep
from sharebuy.simulation.scenario import Scenario, make_sweep


@dataclass
class Study:
    outcome: sweep.Outcome
    out: Path
    files: list[str]


def run(
    scenario: Scenario,
    out: Path,
    *,
    seeds: int | None = None,
    grid: dict[str, list[Any]] | None = None,
    workers: int = 1,
    parquet: bool = False,
    progress: sweep.Progress | None = None,
) -> Study:
    if grid:
        given = scenario.sweep
        merged = {**(given.grid if given else {}), **grid}
        heatmap = (
            given.heatmap if given and given.heatmap and all(k in merged for k in given.heatmap) else None
        )
        swept = make_sweep(merged, heatmap, given.kpi if given else "redeemed_share", scenario)
        from dataclasses import replace

        scenario = replace(scenario, sweep=swept)
    outcome = sweep.run(scenario, seeds=seeds, workers=workers, progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    files = ["series.csv", "kpis.json", "kpis.csv"]
    outputs.write_series_csv(outcome, out / "series.csv")
    if parquet:
        outputs.write_series_parquet(outcome, out / "series.parquet")
        files.append("series.parquet")
    outputs.write_kpis(outcome, out / "")
    made = plots.fan_charts(outcome.points[0], out)
    swept_plot = None
    if outcome.grid and scenario.sweep is not None:
        swept_plot = plots.sweep_chart(outcome, out, scenario.sweep.kpi, scenario.sweep.heatmap)
    files += [p.name for p in made] + ([swept_plot.name] if swept_plot else [])
    report.write(outcome, out, made, swept_plot, files)
    files.append("report.html")
    return Study(outcome, out, files)
