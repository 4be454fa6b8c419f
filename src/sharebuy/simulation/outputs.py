"""Files a simulation leaves behind: time series (CSV, Parquet when pyarrow is there) and KPIs.

Series are written as exact decimals from their integer units (a price 12345 → "1.2345"), one
row per grid point × seed × day.  kpis.json holds every run's KPIs and the P10/P50/P90 of each
grid point; kpis.csv the same summaries as a table.
"""

from __future__ import annotations

import csv
import json
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from sharebuy.kernel.errors import InvalidInput
from sharebuy.simulation.kpis import KPIS
from sharebuy.simulation.model import COLUMNS, SCALE
from sharebuy.simulation.sweep import Outcome


def decimal_text(units: int, places: int) -> str:
    if places == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10**places)
    return f"{sign}{whole}.{frac:0{places}d}"


def parquet_available() -> bool:
    return find_spec("pyarrow") is not None


def write_series_csv(outcome: Outcome, path: Path) -> None:
    keys = list(outcome.grid)
    places = [SCALE[COLUMNS[name]] for name in COLUMNS]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["point", "seed", *keys, "day", *COLUMNS])
        for point in outcome.points:
            settings = [point.overrides[k] for k in keys]
            for run in point.runs:
                columns = [run.series[name].tolist() for name in COLUMNS]
                for day in range(len(columns[0])):
                    values = [decimal_text(col[day], p) for col, p in zip(columns, places, strict=True)]
                    writer.writerow([point.index, run.seed, *settings, day + 1, *values])


def write_series_parquet(outcome: Outcome, path: Path) -> None:
    """The same rows as the CSV, amounts as integer units; the units go into the file's metadata."""
    if not parquet_available():
        raise InvalidInput(
            "parquet_unavailable",
            "未安装 pyarrow，不能写 Parquet；请去掉 --parquet 或安装 pyarrow",
            "pyarrow is not installed, so no Parquet can be written; drop --parquet or install pyarrow",
        )
    import pyarrow as pa
    import pyarrow.parquet as pq

    table: dict[str, list[Any]] = {"point": [], "seed": [], "day": []}
    table.update({f"sweep:{k}": [] for k in outcome.grid})
    table.update({name: [] for name in COLUMNS})
    for point in outcome.points:
        for run in point.runs:
            days = len(run.series["guide_price"])
            table["point"] += [point.index] * days
            table["seed"] += [run.seed] * days
            table["day"] += list(range(1, days + 1))
            for k in outcome.grid:
                table[f"sweep:{k}"] += [str(point.overrides[k])] * days
            for name in COLUMNS:
                table[name] += run.series[name].tolist()
    units = {name: f"{COLUMNS[name]} (10^-{SCALE[COLUMNS[name]]})" for name in COLUMNS}
    arrow = pa.table(table).replace_schema_metadata({"units": json.dumps(units)})
    pq.write_table(arrow, path)


def kpi_document(outcome: Outcome) -> dict[str, Any]:
    s = outcome.scenario
    return {
        "scenario": s.name,
        "description": s.description,
        "days": s.days,
        "seeds": outcome.seeds,
        "grid": outcome.grid,
        "points": [
            {
                "point": p.index,
                "settings": p.overrides,
                "summary": p.summary(),
                "runs": [{"seed": r.seed, "kpis": r.kpis} for r in p.runs],
            }
            for p in outcome.points
        ],
    }


def write_kpis(outcome: Outcome, out: Path) -> None:
    doc = kpi_document(outcome)
    (out / "kpis.json").write_text(
        json.dumps(doc, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
    )
    keys = list(outcome.grid)
    with (out / "kpis.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["point", *keys, "kpi", "runs", "reached", "p10", "p50", "p90"])
        for point in doc["points"]:
            for kpi in KPIS:
                row = point["summary"][kpi.name]
                writer.writerow(
                    [
                        point["point"],
                        *[point["settings"][k] for k in keys],
                        kpi.name,
                        row["runs"],
                        row["reached"],
                        *("" if row[q] is None else row[q] for q in ("p10", "p50", "p90")),
                    ]
                )
