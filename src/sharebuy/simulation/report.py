"""One self-contained HTML report: the KPIs, the plots embedded as data URIs, the settings.

It opens offline (no script, font or stylesheet from elsewhere) and says what the numbers show
and nothing more: the risk notice is the product's own wording (SPEC §10), and no line projects
a return or a rise in the point price.
"""

from __future__ import annotations

import base64
import html
from datetime import UTC, datetime
from pathlib import Path

from sharebuy.rewards import rules as rulebook
from sharebuy.simulation.kpis import KPIS, render
from sharebuy.simulation.sweep import Outcome

# The wording of the platform's risk notice (web/api/platform.py); a test keeps them equal.
NOTICE_ZH = (
    "共享积分的价格由会员之间的交易决定，可能下跌；本平台不承诺任何收益，也不保证积分可以按任何价格售出。"
)
NOTICE_EN = (
    "The price of shared points is set by trades between members and can fall; the platform promises no "
    "return and does not guarantee that points can be sold at any price."
)
ABOUT_ZH = "本报告是模拟结果：它按平台规则和所设定的行为假设推演，只报告模拟中出现的数字，不是预测，也不代表任何承诺。"
ABOUT_EN = (
    "This report shows simulated figures: the platform's rules applied to the behaviour assumed in the "
    "scenario. It reports what the runs show; it is not a forecast and promises nothing."
)

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;margin:2rem auto;
max-width:1000px;padding:0 1rem;color:#222;line-height:1.5}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;font-size:.9rem}td,th{border:1px solid #ddd;padding:.3rem .5rem;text-align:left}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.notice{border:2px solid #c0392b;background:#fdf2f0;padding:.8rem 1rem;margin:1rem 0}
img{max-width:100%;border:1px solid #eee;margin:.5rem 0}.muted{color:#666;font-size:.85rem}
"""


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _kpi_table(outcome: Outcome) -> str:
    point = outcome.points[0]
    summary = point.summary()
    many = len(point.runs) > 1
    head = (
        "<tr><th>指标 KPI</th>"
        + ("<th>P10</th><th>P50</th><th>P90</th>" if many else "<th>值 value</th>")
        + "</tr>"
    )
    rows = []
    for kpi in KPIS:
        row = summary[kpi.name]
        cells = [row["p10"], row["p50"], row["p90"]] if many else [row["p50"]]
        shown = "".join(f'<td class="num">{html.escape(render(kpi, v))}</td>' for v in cells)
        rows.append(
            f"<tr><td>{html.escape(kpi.zh)}<br><span class=muted>{html.escape(kpi.en)}</span></td>{shown}</tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _grid_table(outcome: Outcome, kpi_name: str) -> str:
    keys = list(outcome.grid)
    kpi = next(k for k in KPIS if k.name == kpi_name)
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    rows = []
    for point in outcome.points:
        row = point.summary()[kpi_name]
        settings = "".join(f"<td>{html.escape(str(point.overrides[k]))}</td>" for k in keys)
        values = "".join(
            f'<td class="num">{html.escape(render(kpi, row[q]))}</td>' for q in ("p10", "p50", "p90")
        )
        rows.append(f"<tr><td>{point.index}</td>{settings}{values}</tr>")
    return (
        f"<p>{html.escape(kpi.zh)} · {html.escape(kpi.en)}</p><table><tr><th>#</th>{head}"
        f"<th>P10</th><th>P50</th><th>P90</th></tr>{''.join(rows)}</table>"
    )


def _rules_table(outcome: Outcome) -> str:
    scenario = outcome.scenario
    rows = []
    for day, book in scenario.rulebooks():
        for key, value in book.as_text().items():
            if day and value == scenario.rules.as_text()[key]:
                continue
            spec = rulebook.SPECS[key]
            rows.append(
                f"<tr><td>{day + 1}</td><td>{html.escape(key)}</td><td>{html.escape(spec.zh)}</td>"
                f"<td class=num>{html.escape(value)}</td></tr>"
            )
    return f"<table><tr><th>起始日 from day</th><th>规则 rule</th><th></th><th>值 value</th></tr>{''.join(rows)}</table>"


def _behaviour_table(outcome: Outcome) -> str:
    s = outcome.scenario
    sections = {
        "population": {"consumers": s.consumers, "merchants": s.merchants},
        "growth": s.growth,
        "spending": s.spending,
        "merchants": s.merchant_behaviour,
        "selling": s.selling,
        "cash_model": s.cash_model,
    }
    rows = [
        f"<tr><td>{html.escape(section)}.{html.escape(key)}</td><td>{html.escape(str(value))}</td></tr>"
        for section, values in sections.items()
        for key, value in values.items()
    ]
    rows += [
        f"<tr><td>growth.shocks[{i}]</td><td>{html.escape(str(shock))}</td></tr>"
        for i, shock in enumerate(s.shocks)
    ]
    return f"<table><tr><th>参数 setting</th><th>值 value</th></tr>{''.join(rows)}</table>"


def write(outcome: Outcome, out: Path, plots: list[Path], sweep_plot: Path | None, files: list[str]) -> Path:
    s = outcome.scenario
    kpi_name = s.sweep.kpi if s.sweep else "redeemed_share"
    first = outcome.points[0]
    first_label = (
        "第一个网格点 first grid point: " + ", ".join(f"{k} = {v}" for k, v in first.overrides.items())
        if first.overrides
        else ""
    )
    parts = [
        "<!doctype html><html lang=zh><head><meta charset=utf-8>",
        f"<title>模拟报告 simulation report — {html.escape(s.name)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>经济模拟报告 · Economy simulation report: {html.escape(s.name)}</h1>",
        f"<p>{html.escape(s.description)}</p>" if s.description else "",
        f'<div class="notice"><strong>风险提示 · Risk notice</strong><p>{html.escape(NOTICE_ZH)}</p>'
        f"<p>{html.escape(NOTICE_EN)}</p><p>{html.escape(ABOUT_ZH)}<br>{html.escape(ABOUT_EN)}</p></div>",
        f"<p class=muted>{s.days} 个营业日 business days · 种子 seeds {', '.join(map(str, outcome.seeds))} · "
        f"{len(outcome.points)} 个参数组合 grid points · 生成于 generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC</p>",
        "<h2>关键指标 · KPIs</h2>",
        f"<p class=muted>{html.escape(first_label)}</p>" if first_label else "",
        _kpi_table(outcome),
        "<p class=muted>兑现上限 = 商家让利总额 ÷ 发放的共享值总额（乘数不变时为 1 ÷ (消费者倍数 + 商家倍数)），推导见 "
        "docs/simulator.md。· The ceiling is total concessions ÷ share value issued (1 ÷ (consumer + merchant "
        "multiplier) while the multipliers stay put); docs/simulator.md derives it.</p>",
    ]
    if outcome.grid:
        parts += ["<h2>参数扫描 · Sweep</h2>", _grid_table(outcome, kpi_name)]
        if sweep_plot is not None:
            parts.append(_img(sweep_plot))
    parts.append("<h2>图表 · Plots</h2>")
    parts += [_img(p) for p in plots]
    parts += [
        "<h2>规则 · Rulebook</h2>",
        _rules_table(outcome),
        "<h2>行为假设 · Behaviour assumed</h2>",
        _behaviour_table(outcome),
        "<h2>文件 · Files</h2><ul>",
        *(f"<li>{html.escape(name)}</li>" for name in files),
        "</ul></body></html>",
    ]
    path = out / "report.html"
    path.write_text("".join(parts), encoding="utf-8")
    return path
