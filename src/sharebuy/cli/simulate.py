"""`sharebuy simulate`: run a scenario file (sweeps, seeds) and write series, plots and a report."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sharebuy.cli.output import STATE, console, emit, err_console, wants_json
from sharebuy.kernel.errors import InvalidInput
from sharebuy.simulation import kpis, scenario
from sharebuy.simulation.sweep import Progress as ProgressFn

Json = Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象 · print one JSON object")]


@contextmanager
def _progress_bar(label: str) -> Iterator[ProgressFn]:
    if not sys.stderr.isatty():
        yield lambda *_: None
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def simulate(
    scenario_file: Annotated[Path, typer.Argument(help="场景文件（TOML）· scenario file")],
    out: Annotated[Path | None, typer.Option("--out", help="输出目录 · output directory")] = None,
    seeds: Annotated[int | None, typer.Option("--seeds", help="蒙特卡洛种子数 · Monte Carlo seeds")] = None,
    sweep: Annotated[
        list[str] | None,
        typer.Option("--sweep", help="扫描参数 KEY=v1,v2,...（可重复）· sweep a setting (repeatable)"),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", help="并行进程数 · parallel processes")] = 1,
    parquet: Annotated[
        bool, typer.Option("--parquet", help="另写 Parquet（需要 pyarrow）· also write Parquet")
    ] = False,
    json_out: Json = False,
) -> None:
    """经济模拟：按平台规则推演 · simulate the economy under the platform's rules."""
    if seeds is not None and not 1 <= seeds <= 1000:
        raise InvalidInput("invalid_seeds", "--seeds 须在 1 到 1000 之间", "--seeds must lie in 1..1000")
    if not 1 <= workers <= 256:
        raise InvalidInput("invalid_workers", "--workers 须在 1 到 256 之间", "--workers must lie in 1..256")
    from sharebuy.simulation import study  # matplotlib loads only when a simulation runs

    found = scenario.load(scenario_file)
    grid = scenario.parse_cli_sweep(sweep or [])
    target = out or Path("simulation-out") / found.name
    with _progress_bar(f"模拟 simulating {found.name}") as progress:
        done = study.run(
            found, target, seeds=seeds, grid=grid, workers=workers, parquet=parquet, progress=progress
        )
    outcome = done.outcome
    result = {
        "scenario": found.name,
        "out": str(done.out),
        "report": str(done.out / "report.html"),
        "days": found.days,
        "seeds": outcome.seeds,
        "runs": sum(len(p.runs) for p in outcome.points),
        "kpis": outcome.points[0].summary(),
        "grid": [{"point": p.index, "settings": p.overrides, "kpis": p.summary()} for p in outcome.points]
        if outcome.grid
        else [],
    }
    if wants_json(json_out):
        emit(result, True)
        return
    _print_table(outcome.points[0].summary(), len(outcome.points[0].runs) > 1)
    if outcome.grid:
        console.print(f"参数组合 grid points: {len(outcome.points)} (kpis.csv has every one)")
    console.print(f"报告 report: {done.out / 'report.html'}")


def _print_table(summary: dict[str, dict[str, object]], many: bool) -> None:
    zh = STATE.lang.startswith("zh")
    table = Table(title="模拟指标 · simulation KPIs")
    table.add_column("KPI")
    for name in ("P10", "P50", "P90") if many else ("value",):
        table.add_column(name, justify="right")
    for kpi in kpis.KPIS:
        row = summary[kpi.name]
        cells = [row["p10"], row["p50"], row["p90"]] if many else [row["p50"]]
        label = kpi.zh if zh else kpi.en
        table.add_row(label, *(kpis.render(kpi, v, "zh" if zh else "en") for v in cells))  # type: ignore[arg-type]
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
