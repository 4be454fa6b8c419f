"""Rewards commands: purchase, refund, settle, settlement."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from sharebuy.cli.output import STATE, emit, err_console
from sharebuy.kernel.clock import parse_day, parse_moment
from sharebuy.kernel.errors import InvalidInput
from sharebuy.kernel.views import plain
from sharebuy.rewards import purchase_service, settlement_service
from sharebuy.rewards.settlement_service import Progress as ProgressFn

Json = Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象 · print one JSON object")]
settlement_app = typer.Typer(help="日结记录 · settlement records", no_args_is_help=True)


def purchase(
    merchant: Annotated[int, typer.Option("--merchant")],
    consumer: Annotated[int, typer.Option("--consumer")],
    amount: Annotated[str, typer.Option("--amount", help="消费金额（元）")],
    at: Annotated[str | None, typer.Option("--at", help="ISO-8601 时间，默认现在")] = None,
    key: Annotated[str | None, typer.Option("--key", help="幂等键")] = None,
    json_out: Json = False,
) -> None:
    """记录一笔消费 · record a purchase."""
    result = purchase_service.record_purchase(
        STATE.engine(),
        merchant_id=merchant,
        consumer_id=consumer,
        amount=amount,
        at=parse_moment(at) if at is not None else None,
        key=key,
        actor="operator",
    )
    emit(result, json_out, "purchase")


def refund(
    purchase_id: int,
    at: Annotated[str | None, typer.Option("--at", help="ISO-8601 时间，默认现在")] = None,
    json_out: Json = False,
) -> None:
    """退货：冲回一笔消费 · refund a purchase."""
    result = purchase_service.refund_purchase(
        STATE.engine(), purchase_id, at=parse_moment(at) if at is not None else None, actor="operator"
    )
    emit(result, json_out, "refund")


@contextmanager
def _progress_bar() -> Iterator[ProgressFn]:
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
        tasks: dict[str, TaskID] = {}

        def update(phase: str, done: int, total: int) -> None:
            label = {"compute": "计算份额 compute", "post": "记账 post"}.get(phase, phase)
            if phase not in tasks:
                tasks[phase] = bar.add_task(label, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update


def settle(
    date: Annotated[str | None, typer.Option("--date", help="结算这一天（并补结之前未结的日子）")] = None,
    through: Annotated[str | None, typer.Option("--through", help="结算至这一天为止")] = None,
    json_out: Json = False,
) -> None:
    """日结：每日空投 · run the daily release (catching up missed days in order)."""
    if date is not None and through is not None:
        raise InvalidInput(
            "choose_one", "--date 与 --through 只能选一个", "give --date or --through, not both"
        )
    # An empty --date is malformed, not "up to yesterday": it would close every day since the last.
    chosen = date if date is not None else through
    target = parse_day(chosen) if chosen is not None else None
    with _progress_bar() as progress:
        reports = settlement_service.settle(STATE.engine(), through=target, progress=progress)
    last = reports[-1]
    result = plain(last)
    result["days"] = [plain(r) for r in reports]
    emit(result, json_out, "settlement")


@settlement_app.command("show")
def settlement_show(
    date: str,
    member: Annotated[int | None, typer.Option("--member")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    json_out: Json = False,
) -> None:
    """日结详情及每位持有人的明细 · a settlement with its per-holder lines."""
    day = parse_day(date)
    engine = STATE.engine()
    result = plain(settlement_service.report(engine, day))
    result["lines"] = plain(
        settlement_service.lines(engine, day, member_id=member, limit=limit, offset=offset)
    )
    emit(result, json_out, "settlement")


def register(app: typer.Typer) -> None:
    app.command("purchase")(purchase)
    app.command("refund")(refund)
    app.command("settle")(settle)
    app.add_typer(settlement_app, name="settlement")
