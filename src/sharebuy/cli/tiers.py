"""Operator commands for membership tiers, the dividend pool and green certification.

`sharebuy tiers ...` keeps the ladder, evaluates members and shows one member's tier;
`sharebuy dividends ...` runs a period (paid at most once: a second run answers with the first
report), lists periods and shows a period's report and lines.  Green certification lives under
`tiers green` / `tiers ungreen` because it is part of the same loyalty rules.
"""

from __future__ import annotations

from typing import Annotated

import typer

from sharebuy.cli.output import STATE, emit
from sharebuy.kernel.clock import parse_day
from sharebuy.tiers import dividends, green
from sharebuy.tiers import service as tiers

Json = Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象 · print one JSON object")]
Actor = Annotated[str, typer.Option("--actor", help="记录在案的操作人 · the operator on record")]
tiers_app = typer.Typer(
    help="会员等级与绿色商家 · membership tiers and green merchants", no_args_is_help=True
)
dividends_app = typer.Typer(help="分红池 · the dividend pool", no_args_is_help=True)


@tiers_app.command("list")
def list_(json_out: Json = False) -> None:
    """等级阶梯与各级人数 · the ladder and how many members hold each tier."""
    emit({"tiers": tiers.list_tiers(STATE.engine())}, json_out, "tiers")


@tiers_app.command("set")
def set_(
    code: str,
    kind: Annotated[str, typer.Option("--kind", help="consumer 或 merchant")],
    name_zh: Annotated[str, typer.Option("--name-zh", help="中文名称")],
    name_en: Annotated[str, typer.Option("--name-en", help="English name")],
    threshold: Annotated[str, typer.Option("--threshold", help="门槛（元）：本人消费或营业额")],
    weight: Annotated[int, typer.Option("--weight", help="分红权重 · dividend weight")],
    actor: Actor = "operator",
    json_out: Json = False,
) -> None:
    """新增或修改等级（下次评定起生效）· add or change a tier (counts from the next evaluation)."""
    result = tiers.set_tier(
        STATE.engine(),
        code=code,
        member_kind=kind,
        name_zh=name_zh,
        name_en=name_en,
        threshold=threshold,
        weight=weight,
        actor=actor,
    )
    emit(result, json_out, "tier")


@tiers_app.command("remove")
def remove(code: str, actor: Actor = "operator", json_out: Json = False) -> None:
    """删除无人持有的等级 · remove a tier nobody holds."""
    emit(tiers.remove_tier(STATE.engine(), code, actor=actor), json_out, "tier")


@tiers_app.command("evaluate")
def evaluate(
    date: Annotated[str | None, typer.Option("--date", help="已结算的营业日，默认最近一天")] = None,
    actor: Actor = "operator",
    json_out: Json = False,
) -> None:
    """按已结算营业日评定会员等级 · evaluate every member for a settled day."""
    emit(
        tiers.evaluate(STATE.engine(), parse_day(date) if date else None, actor=actor), json_out, "evaluation"
    )


@tiers_app.command("show")
def show(member_id: int, json_out: Json = False) -> None:
    """会员的等级、本人消费（营业额）与变更记录 · a member's tier, basis and history."""
    emit(tiers.member_tier(STATE.engine(), member_id), json_out, f"member {member_id}")


@tiers_app.command("green")
def certify(
    merchant_id: int,
    note: Annotated[str, typer.Option("--note", help="认证依据（记录在案）")] = "",
    actor: Actor = "operator",
    json_out: Json = False,
) -> None:
    """认证绿色商家 · certify a merchant green."""
    emit(green.set_green(STATE.engine(), merchant_id, True, actor=actor, note=note), json_out, "green")


@tiers_app.command("ungreen")
def revoke(
    merchant_id: int,
    note: Annotated[str, typer.Option("--note", help="撤销原因（记录在案）")] = "",
    actor: Actor = "operator",
    json_out: Json = False,
) -> None:
    """撤销绿色认证 · revoke a merchant's green certification."""
    emit(green.set_green(STATE.engine(), merchant_id, False, actor=actor, note=note), json_out, "green")


@dividends_app.command("run")
def run(
    period: Annotated[str, typer.Argument(help="YYYY-MM-DD（日）或 YYYY-MM（月）")],
    actor: Actor = "operator",
    json_out: Json = False,
) -> None:
    """发放一个周期的分红（每个周期至多一次）· pay one period's pool (at most once)."""
    emit(dividends.run_period(STATE.engine(), period, actor=actor), json_out, f"dividend {period}")


@dividends_app.command("list")
def periods(
    limit: Annotated[int, typer.Option("--limit")] = 50,
    offset: Annotated[int, typer.Option("--offset")] = 0,
    json_out: Json = False,
) -> None:
    """已发放的分红周期（最新在前）· paid periods, newest first."""
    emit({"periods": dividends.periods(STATE.engine(), limit=limit, offset=offset)}, json_out, "dividends")


@dividends_app.command("show")
def show_period(
    period: str,
    member: Annotated[int | None, typer.Option("--member", help="只看这位会员的明细")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 100,
    offset: Annotated[int, typer.Option("--offset")] = 0,
    json_out: Json = False,
) -> None:
    """一个周期的报告：奖池、封顶、各级人数与金额、每位会员明细 · one period's report."""
    engine = STATE.engine()
    found = dividends.report(engine, period)
    lines = dividends.lines(engine, period, member_id=member, limit=limit, offset=offset)
    emit({**found.__dict__, "lines": lines}, json_out, f"dividend {period}")


def register(app: typer.Typer) -> None:
    app.add_typer(tiers_app, name="tiers")
    app.add_typer(dividends_app, name="dividends")
