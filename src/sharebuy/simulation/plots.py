"""PNG plots of a simulation (matplotlib, Agg backend: no display needed).

Fan charts show the P10–P90 band and the median over seeds for each day.  Labels are in
English so the PNGs render with matplotlib's own fonts on any machine; the HTML report around
them is bilingual.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes

from sharebuy.simulation.kpis import BY_NAME
from sharebuy.simulation.model import COLUMNS, SCALE
from sharebuy.simulation.sweep import Outcome, Point

Series = npt.NDArray[np.float64]


def _values(point: Point, column: str, *, cumulative: bool = False) -> Series:
    data = point.stacked(column).astype(np.float64) / 10 ** SCALE[COLUMNS[column]]
    return np.cumsum(data, axis=1) if cumulative else data


def _fan(ax: Axes, data: Series, label: str, color: str) -> None:
    days = np.arange(1, data.shape[1] + 1)
    low, mid, high = np.percentile(data, [10, 50, 90], axis=0)
    if data.shape[0] > 1:
        ax.fill_between(days, low, high, color=color, alpha=0.2, linewidth=0)
    ax.plot(days, mid, color=color, label=label, linewidth=1.6)


def _figure(title: str, ylabel: str) -> tuple[Any, Axes]:
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    ax.set_title(title)
    ax.set_xlabel("business day")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def _save(fig: Any, ax: Axes, path: Path, seeds: int) -> Path:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8)
    if seeds > 1:
        ax.text(
            0.99,
            0.01,
            f"median, P10–P90 band over {seeds} seeds",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=7,
            color="#555",
        )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def fan_charts(point: Point, out: Path, prefix: str = "") -> list[Path]:
    seeds = len(point.runs)
    made = []
    fig, ax = _figure("Guide price", "CNY per point")
    _fan(ax, _values(point, "guide_price"), "guide price", "#1f77b4")
    made.append(_save(fig, ax, out / f"{prefix}guide_price.png", seeds))

    fig, ax = _figure("Points: released, burned, circulating, reserve", "points")
    _fan(ax, _values(point, "released", cumulative=True), "released (cumulative)", "#2ca02c")
    _fan(ax, _values(point, "burned"), "burned", "#d62728")
    _fan(ax, _values(point, "circulating"), "circulating (held by members)", "#9467bd")
    _fan(ax, _values(point, "reserve"), "reserve", "#7f7f7f")
    made.append(_save(fig, ax, out / f"{prefix}points.png", seeds))

    fig, ax = _figure("Share value outstanding vs value returned in money", "CNY")
    _fan(ax, _values(point, "sv_outstanding"), "share value outstanding (promised, not returned)", "#ff7f0e")
    _fan(ax, _values(point, "traded_cash", cumulative=True), "money paid for points (cumulative)", "#17becf")
    _fan(ax, _values(point, "sv_issued", cumulative=True), "share value issued (cumulative)", "#8c564b")
    made.append(_save(fig, ax, out / f"{prefix}value.png", seeds))

    fig, ax = _figure("Merchant shortfall", "points taken from deposits per day")
    _fan(ax, _values(point, "deducted_from_deposit"), "points taken from deposits", "#d62728")
    twin = ax.twinx()
    _fan(twin, _values(point, "merchants_suspended"), "merchants suspended", "#7f7f7f")
    twin.set_ylabel("merchants suspended")
    twin.legend(loc="upper right", fontsize=8)
    made.append(_save(fig, ax, out / f"{prefix}merchants.png", seeds))

    fig, ax = _figure("Cash-rebate model: treasury against its promises", "CNY")
    _fan(ax, _values(point, "cash_treasury"), "treasury", "#2ca02c")
    _fan(ax, _values(point, "cash_promised_outstanding"), "promised, not yet paid", "#d62728")
    _fan(ax, _values(point, "cash_paid"), "paid (cumulative)", "#1f77b4")
    made.append(_save(fig, ax, out / f"{prefix}cash_model.png", seeds))
    return made


def sweep_chart(outcome: Outcome, out: Path, kpi_name: str, axes: Sequence[str] | None) -> Path | None:
    """A heat map of a KPI's median over two swept settings, or a line over one."""
    kpi = BY_NAME[kpi_name]
    keys = list(outcome.grid)
    if not keys:
        return None
    medians = {tuple(str(p.overrides[k]) for k in keys): p.summary()[kpi_name]["p50"] for p in outcome.points}
    if axes is not None and len(axes) == 2:
        x_key, y_key = axes
        xs = [str(v) for v in outcome.grid[x_key]]
        ys = [str(v) for v in outcome.grid[y_key]]
        grid = np.full((len(ys), len(xs)), np.nan)
        for point in outcome.points:
            value = point.summary()[kpi_name]["p50"]
            xi = xs.index(str(point.overrides[x_key]))
            yi = ys.index(str(point.overrides[y_key]))
            if value is not None and np.isnan(grid[yi, xi]):
                grid[yi, xi] = value
        fig, ax = plt.subplots(figsize=(7, 5), dpi=110)
        image = ax.imshow(grid, origin="lower", cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(xs)), xs)
        ax.set_yticks(range(len(ys)), ys)
        ax.set_xlabel(x_key)
        ax.set_ylabel(y_key)
        ax.set_title(f"{kpi.en} (median over seeds)")
        for yi in range(len(ys)):
            for xi in range(len(xs)):
                text = "—" if np.isnan(grid[yi, xi]) else _short(kpi.kind, float(grid[yi, xi]))
                ax.text(xi, yi, text, ha="center", va="center", color="white", fontsize=8)
        fig.colorbar(image, ax=ax)
        fig.tight_layout()
        path = out / "sweep_heatmap.png"
        fig.savefig(path)
        plt.close(fig)
        return path
    key = keys[0]
    fig, ax = _figure(f"{kpi.en} (median over seeds)", kpi.en)
    labels = [str(v) for v in outcome.grid[key]]
    values = [medians.get(tuple(str(p.overrides[k]) for k in keys)) for p in outcome.points]
    ax.plot(range(len(values)), [np.nan if v is None else v for v in values], marker="o")
    ax.set_xticks(range(len(values)), labels if len(keys) == 1 else [str(i) for i in range(len(values))])
    ax.set_xlabel(key if len(keys) == 1 else "grid point")
    return _save(fig, ax, out / "sweep_line.png", 1)


def _short(kind: str, value: float) -> str:
    if kind == "share":
        return f"{value * 100:.1f}%"
    if kind in ("day", "count"):
        return f"{value:.0f}"
    return f"{value:.3g}"
