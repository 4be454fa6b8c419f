"""Webhook commands: a merchant's endpoints, its delivery log, and one dispatcher run."""

from __future__ import annotations

from typing import Annotated

import typer

from sharebuy.cli.output import STATE, emit
from sharebuy.events import domain, service

Json = Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象 · print one JSON object")]
Merchant = Annotated[int, typer.Option("--merchant", help="商家 ID")]
webhooks_app = typer.Typer(help="商家 Webhook · merchants' webhooks", no_args_is_help=True)


@webhooks_app.command("add")
def add(
    merchant: Merchant,
    url: Annotated[str, typer.Option("--url", help="接收事件的 http(s) 网址")],
    topics: Annotated[
        str, typer.Option("--topics", help=f"逗号分隔，或 * 表示全部：{', '.join(domain.TOPICS)}")
    ] = domain.ALL,
    json_out: Json = False,
) -> None:
    """添加端点（签名密钥只显示这一次）· add an endpoint (its secret is shown only now)."""
    emit(service.create_endpoint(STATE.engine(), merchant, url=url, topics=topics), json_out, "webhook")


@webhooks_app.command("list")
def list_(merchant: Merchant, json_out: Json = False) -> None:
    """商家的端点 · a merchant's endpoints."""
    emit({"endpoints": service.list_endpoints(STATE.engine(), merchant)}, json_out, "webhooks")


@webhooks_app.command("disable")
def disable(merchant: Merchant, endpoint_id: int, json_out: Json = False) -> None:
    """停用端点 · disable an endpoint."""
    emit(service.disable_endpoint(STATE.engine(), merchant, endpoint_id), json_out, "webhook")


@webhooks_app.command("rotate-secret")
def rotate(merchant: Merchant, endpoint_id: int, json_out: Json = False) -> None:
    """更换签名密钥（新密钥只显示这一次）· rotate an endpoint's signing secret."""
    emit(service.rotate_secret(STATE.engine(), merchant, endpoint_id), json_out, "webhook")


@webhooks_app.command("deliveries")
def deliveries(
    merchant: Merchant,
    endpoint: Annotated[int | None, typer.Option("--endpoint", help="只看此端点")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    before: Annotated[int | None, typer.Option("--before", help="翻页：早于此投递 ID")] = None,
    json_out: Json = False,
) -> None:
    """投递记录（最新在前）· the delivery log, newest first."""
    rows = service.deliveries(STATE.engine(), merchant, endpoint_id=endpoint, limit=limit, before_id=before)
    emit({"deliveries": rows}, json_out, "deliveries")


@webhooks_app.command("dispatch")
def dispatch(json_out: Json = False) -> None:
    """入队新事件并投递到期的记录一次 · enqueue new events and deliver what is due, once."""
    emit(service.run_once(STATE.engine()), json_out, "dispatch")


def register(app: typer.Typer) -> None:
    app.add_typer(webhooks_app, name="webhooks")
