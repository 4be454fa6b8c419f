"""Operator commands for the C2C market: the book, a trade, dispute decisions, the timeout
sweep, the market switch and the K-line.

`market close` / `market open` flip the operator's switch, which acts at once and is logged
with who and why.  A rule change (`rules set c2c_market_open=off --from DAY`) is the other way
to close the market: it is versioned like every rule, but only takes effect from a later business
day, which is right for a planned closure and too slow for an incident; the market is open only
while both say so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from sharebuy.cli.output import STATE, emit
from sharebuy.kernel.clock import parse_day, parse_moment
from sharebuy.kernel.errors import InvalidInput
from sharebuy.market import queries
from sharebuy.market import service as market

Json = Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象 · print one JSON object")]
Actor = Annotated[str, typer.Option("--actor", help="记录在案的操作人 · the operator on record")]
At = Annotated[str | None, typer.Option("--at", help="ISO-8601 时间，默认现在 · default now")]
market_app = typer.Typer(help="C2C 积分市场 · the C2C points market", no_args_is_help=True)


def _at(at: str | None) -> datetime | None:
    return parse_moment(at) if at is not None else None


@market_app.command("list")
def list_(
    status: Annotated[str, typer.Option("--status", help="active、paused 或 closed")] = "active",
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    json_out: Json = False,
) -> None:
    """挂单列表（价格从低到高）· listings, best price first."""
    if status not in ("active", "paused", "closed"):
        raise InvalidInput(
            "invalid_status", "状态只能是 active、paused 或 closed", "status is active, paused or closed"
        )
    rows = queries.listing_book(STATE.engine(), status=status, offset=offset, limit=limit)
    emit({"status": status, "listings": rows}, json_out, "listings")


@market_app.command("trades")
def trades(
    status: Annotated[str | None, typer.Option("--status", help="按状态筛选，如 disputed")] = None,
    before: Annotated[int | None, typer.Option("--before", help="翻页：早于此交易 ID")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    json_out: Json = False,
) -> None:
    """交易列表（最新在前）· trades, newest first."""
    rows = queries.all_trades(STATE.engine(), status=status, before=before, limit=limit)
    emit({"trades": rows}, json_out, "trades")


@market_app.command("trade")
def trade(trade_id: int, json_out: Json = False) -> None:
    """查看一笔交易及其状态记录（到期的超时先生效）· one trade and its log."""
    found = market.get_trade(STATE.engine(), trade_id, market.Viewer(operator=True))
    evidence = market.list_evidence(STATE.engine(), trade_id, market.Viewer(operator=True))
    emit({**found, "evidence": evidence}, json_out, f"trade {trade_id}")


@market_app.command("decide")
def decide(
    trade_id: int,
    release: Annotated[bool, typer.Option("--release", help="放行：积分给买方")] = False,
    return_: Annotated[bool, typer.Option("--return", help="退回：积分回到挂单或卖方")] = False,
    reason: Annotated[str, typer.Option("--reason", help="裁决理由（记录在案）")] = "",
    actor: Actor = "operator",
    json_out: Json = False,
) -> None:
    """裁决申诉 · decide a dispute: --release or --return, with --reason."""
    if release == return_:
        raise InvalidInput(
            "decision_required",
            "请选择 --release 或 --return 之一",
            "choose exactly one of --release and --return",
        )
    decision = "release" if release else "return"
    emit(market.decide(STATE.engine(), trade_id, decision, reason=reason, actor=actor), json_out, "decision")


@market_app.command("sweep")
def sweep(at: At = None, json_out: Json = False) -> None:
    """处理到期的交易：未付款取消、未确认转申诉 · apply due timeouts once."""
    emit(market.sweep(STATE.engine(), _at(at)), json_out, "sweep")


@market_app.command("close")
def close(
    reason: Annotated[str, typer.Option("--reason", help="关闭原因（记录在案）")],
    actor: Actor = "operator",
    json_out: Json = False,
) -> None:
    """立即关闭市场：不再挂单与成交，进行中的交易可完成 · close the market now."""
    emit(market.set_market_open(STATE.engine(), False, reason=reason, actor=actor), json_out, "market")


@market_app.command("open")
def open_(
    reason: Annotated[str, typer.Option("--reason")] = "",
    actor: Actor = "operator",
    json_out: Json = False,
) -> None:
    """重新开放市场（规则 c2c_market_open 也须为 on）· reopen the market."""
    emit(market.set_market_open(STATE.engine(), True, reason=reason, actor=actor), json_out, "market")


@market_app.command("status")
def status(json_out: Json = False) -> None:
    """市场开关与指导价 · whether the market is open, and the guide price."""
    engine = STATE.engine()
    emit({**market.market_status(engine), **queries.guide_price(engine)}, json_out, "market")


@market_app.command("kline")
def kline(
    days: Annotated[int, typer.Option("--days", min=1, max=366, help="最近几天")] = 30,
    to: Annotated[str | None, typer.Option("--to", help="截至营业日 YYYY-MM-DD，默认今天")] = None,
    json_out: Json = False,
) -> None:
    """日 K 线：开高低收、成交量、成交额 · daily OHLC, volume and turnover."""
    emit(queries.kline(STATE.engine(), days=days, to=parse_day(to) if to else None), json_out, "kline")


def register(app: typer.Typer) -> None:
    app.add_typer(market_app, name="market")
