"""Member commands: consumers, merchants, grants, balances."""

from __future__ import annotations

from typing import Annotated

import typer

from sharebuy.cli.output import STATE, emit
from sharebuy.kernel.errors import InvalidInput
from sharebuy.members import queries, service

Json = Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象 · print one JSON object")]
consumer_app = typer.Typer(help="消费者 · consumers", no_args_is_help=True)
merchant_app = typer.Typer(help="商家 · merchants", no_args_is_help=True)
points_app = typer.Typer(help="积分 · points", no_args_is_help=True)


@consumer_app.command("add")
def consumer_add(
    phone: Annotated[str, typer.Option("--phone")],
    name: Annotated[str, typer.Option("--name")] = "",
    real_name: Annotated[str | None, typer.Option("--real-name")] = None,
    id_number: Annotated[str | None, typer.Option("--id-number")] = None,
    json_out: Json = False,
) -> None:
    """注册消费者 · register a consumer."""
    member_id = service.add_consumer(
        STATE.engine(), phone=phone, name=name, real_name=real_name, id_number=id_number
    )
    emit({"id": member_id}, json_out)


@consumer_app.command("freeze")
def consumer_freeze(member_id: int, json_out: Json = False) -> None:
    """冻结会员 · freeze a member (consumer or merchant)."""
    emit(service.set_frozen(STATE.engine(), member_id, True), json_out)


@consumer_app.command("unfreeze")
def consumer_unfreeze(member_id: int, json_out: Json = False) -> None:
    """解冻会员 · unfreeze a member."""
    emit(service.set_frozen(STATE.engine(), member_id, False), json_out)


@merchant_app.command("add")
def merchant_add(
    name: Annotated[str, typer.Option("--name")],
    owner: Annotated[int, typer.Option("--owner", help="店主的消费者 ID")],
    region: Annotated[str, typer.Option("--region", help="GB/T 2260 地区代码")],
    rate: Annotated[str, typer.Option("--rate", help="让利比例，如 0.10")] = "0.10",
    json_out: Json = False,
) -> None:
    """商家入驻申请 · a merchant application."""
    emit(
        {"id": service.add_merchant(STATE.engine(), name=name, owner_id=owner, region=region, rate=rate)},
        json_out,
    )


@merchant_app.command("approve")
def merchant_approve(merchant_id: int, json_out: Json = False) -> None:
    """批准商家 · approve a merchant."""
    emit(service.approve_merchant(STATE.engine(), merchant_id), json_out)


@merchant_app.command("deposit")
def merchant_deposit(merchant_id: int, json_out: Json = False) -> None:
    """缴纳或补足保证金（从可用积分）· post or top up the deposit from available points."""
    emit(service.post_deposit(STATE.engine(), merchant_id), json_out)


@merchant_app.command("rate")
def merchant_rate(merchant_id: int, rate: str, json_out: Json = False) -> None:
    """修改让利比例 · change the concession rate within the bounds."""
    emit(service.set_rate(STATE.engine(), merchant_id, rate), json_out)


@merchant_app.command("staff")
def merchant_staff(
    merchant_id: int,
    consumer: Annotated[int, typer.Option("--consumer")],
    role: Annotated[str, typer.Option("--role")] = "cashier",
    json_out: Json = False,
) -> None:
    """添加员工 · add a staff member."""
    emit(service.add_staff(STATE.engine(), merchant_id, consumer, role), json_out)


@merchant_app.command("suspend")
def merchant_suspend(merchant_id: int, json_out: Json = False) -> None:
    """暂停商家 · suspend a merchant."""
    emit(service.set_merchant_status(STATE.engine(), merchant_id, "suspended"), json_out)


@merchant_app.command("resume")
def merchant_resume(merchant_id: int, json_out: Json = False) -> None:
    """恢复商家 · resume a suspended merchant."""
    emit(service.set_merchant_status(STATE.engine(), merchant_id, "active"), json_out)


@merchant_app.command("close")
def merchant_close(merchant_id: int, json_out: Json = False) -> None:
    """关闭商家 · close a merchant."""
    emit(service.set_merchant_status(STATE.engine(), merchant_id, "closed", reason="closed"), json_out)


@points_app.command("grant")
def points_grant(
    merchant: Annotated[int, typer.Option("--merchant")],
    amount: Annotated[str, typer.Option("--amount")],
    reason: Annotated[str, typer.Option("--reason")],
    actor: Annotated[str, typer.Option("--actor", help="操作员")] = "operator",
    key: Annotated[str | None, typer.Option("--key", help="幂等键")] = None,
    json_out: Json = False,
) -> None:
    """从储备向商家发放积分 · allocate reserve points to a merchant."""
    emit(
        service.grant_points(STATE.engine(), merchant, amount, reason=reason, actor=actor, key=key), json_out
    )


def balance(
    consumer: Annotated[int | None, typer.Option("--consumer")] = None,
    merchant: Annotated[int | None, typer.Option("--merchant")] = None,
    platform: Annotated[bool, typer.Option("--platform")] = False,
    json_out: Json = False,
) -> None:
    """余额 · balances of a consumer, a merchant or the platform."""
    chosen = [x for x in (consumer, merchant, platform or None) if x is not None]
    if len(chosen) != 1:
        raise InvalidInput(
            "choose_one",
            "请指定且只指定 --consumer、--merchant 或 --platform 之一",
            "give exactly one of --consumer, --merchant or --platform",
        )
    engine = STATE.engine()
    if consumer is not None:
        emit(queries.consumer_balance(engine, consumer), json_out)
    elif merchant is not None:
        emit(queries.merchant_balance(engine, merchant), json_out)
    else:
        emit(queries.platform_balance(engine), json_out)


def register(app: typer.Typer) -> None:
    app.add_typer(consumer_app, name="consumer")
    app.add_typer(merchant_app, name="merchant")
    app.add_typer(points_app, name="points")
    app.command("balance")(balance)
