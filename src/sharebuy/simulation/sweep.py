"""Sweeps: a cartesian grid over any rule or behaviour setting × Monte Carlo seeds, in processes.

Every grid point runs the same seeds (scenario seed, seed + 1, …), so points differ by their
settings and not by luck; any single run is reproduced by `sharebuy simulate` with that point's
overrides as --sweep values and its seed as the scenario seed.  Workers are spawned processes,
each parsing the scenario from its raw TOML plus the point's overrides.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from sharebuy.simulation import kpis, model
from sharebuy.simulation.scenario import Raw, Scenario, parse

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Job:
    point: int
    overrides: dict[str, Any]
    seed: int


@dataclass
class Run:
    seed: int
    kpis: dict[str, kpis.KpiValue]
    series: dict[str, npt.NDArray[np.int64]]
    growth_stop_day: int


@dataclass
class Point:
    index: int
    overrides: dict[str, Any]
    runs: list[Run] = field(default_factory=list)

    def summary(self) -> dict[str, dict[str, Any]]:
        return kpis.summarise([r.kpis for r in self.runs])

    def stacked(self, column: str) -> npt.NDArray[np.int64]:
        """seeds × days of one series."""
        return np.vstack([r.series[column] for r in self.runs])


@dataclass
class Outcome:
    scenario: Scenario
    grid: dict[str, list[Any]]
    seeds: list[int]
    points: list[Point]


def jobs(scenario: Scenario, grid: dict[str, list[Any]], seeds: list[int]) -> list[Job]:
    keys = list(grid)
    combos = list(itertools.product(*(grid[k] for k in keys))) if keys else [()]
    found: list[Job] = []
    for point, combo in enumerate(combos):
        overrides = dict(zip(keys, combo, strict=True))
        found.extend(Job(point, overrides, seed) for seed in seeds)
    return found


def _run(args: tuple[Raw, dict[str, Any], Job]) -> tuple[Job, Run]:
    raw, base, job = args
    scenario = parse(raw, {**base, **job.overrides})
    result = model.run(scenario, job.seed)
    return job, Run(job.seed, kpis.compute(result), result.series, result.growth_stop_day)


def run(
    scenario: Scenario,
    *,
    grid: dict[str, list[Any]] | None = None,
    seeds: int | None = None,
    workers: int = 1,
    progress: Progress | None = None,
) -> Outcome:
    """Run every grid point for every seed; `progress(done, total)` counts days (one run) or runs."""
    grid = dict(grid if grid is not None else (scenario.sweep.grid if scenario.sweep else {}))
    seed_list = [scenario.seed + i for i in range(seeds or scenario.seeds)]
    todo = jobs(scenario, grid, seed_list)
    points: dict[int, Point] = {}
    for job in todo:
        points.setdefault(job.point, Point(job.point, job.overrides))
    raw = scenario.raw
    if len(todo) == 1:
        job = todo[0]
        one = parse(raw, {**scenario.overrides, **job.overrides})
        result = model.run(one, job.seed, progress=progress)
        points[0].runs.append(Run(job.seed, kpis.compute(result), result.series, result.growth_stop_day))
    elif workers <= 1:
        for done, job in enumerate(todo, 1):
            points[job.point].runs.append(_run((raw, scenario.overrides, job))[1])
            if progress:
                progress(done, len(todo))
    else:
        context = multiprocessing.get_context("spawn")
        with context.Pool(min(workers, len(todo))) as pool:
            finished = pool.imap_unordered(_run, [(raw, scenario.overrides, j) for j in todo])
            for done, (job, found) in enumerate(finished, 1):
                points[job.point].runs.append(found)
                if progress:
                    progress(done, len(todo))
    for point in points.values():
        point.runs.sort(key=lambda r: r.seed)
    return Outcome(scenario, grid, seed_list, [points[i] for i in sorted(points)])
