"""Platform commands: init, rules, verify, demo, serve, db."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from sharebuy.cli.output import STATE, emit, wants_json
from sharebuy.db import migrate
from sharebuy.kernel.clock import parse_day
from sharebuy.kernel.errors import InvalidInput, SharebuyError
from sharebuy.rewards import platform_service

Json = Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象 · print one JSON object")]
rules_app = typer.Typer(help="运营规则 · the rulebook", no_args_is_help=True)
db_app = typer.Typer(help="数据库 · database", no_args_is_help=True)


def _load_rules_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            # Decimal keeps 0.1 as 0.1: a TOML float never becomes a binary float here.
            data = tomllib.load(handle, parse_float=Decimal)
    except FileNotFoundError:
        raise InvalidInput("file_not_found", f"找不到文件 {path}", f"file not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise InvalidInput("invalid_toml", f"TOML 格式错误：{error}", f"invalid TOML: {error}") from None
    rules = data.get("rules", data)
    if not isinstance(rules, dict):
        raise InvalidInput("invalid_toml", "rules 必须是表", "rules must be a table")
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in rules.items()}


def init(
    start_date: Annotated[str, typer.Option("--start-date", help="第一个营业日 YYYY-MM-DD")],
    rules: Annotated[Path | None, typer.Option("--rules", help="规则 TOML 文件")] = None,
    json_out: Json = False,
) -> None:
    """初始化平台：建表、规则第 1 版、积分总量进入储备 · initialise the platform."""
    day = parse_day(start_date)
    overrides = _load_rules_file(rules) if rules else {}
    engine = STATE.engine()
    migrate.upgrade(engine)
    emit(platform_service.initialise(engine, start_day=day, overrides=overrides), json_out, "init")


@rules_app.command("show")
def rules_show(
    date: Annotated[str | None, typer.Option("--date", help="查看某日生效的规则")] = None,
    json_out: Json = False,
) -> None:
    """显示生效中的规则 · show the rules in force."""
    day = parse_day(date) if date else None
    emit(platform_service.show_rules(STATE.engine(), day=day), json_out, "rules")


@rules_app.command("set")
def rules_set(
    pairs: Annotated[list[str], typer.Argument(help="KEY=VALUE ...")],
    from_: Annotated[str, typer.Option("--from", help="生效营业日 YYYY-MM-DD")],
    note: Annotated[str, typer.Option("--note")] = "",
    json_out: Json = False,
) -> None:
    """新建规则版本，自某营业日起生效 · a new rule version effective from a business day."""
    changes: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput("invalid_pair", f"应为 KEY=VALUE：{pair}", f"expected KEY=VALUE: {pair}")
        if key.strip() in changes:
            # Two values for one rule: which one the operator meant is not ours to guess.
            raise InvalidInput(
                "duplicate_rule", f"规则 {key.strip()} 给了两次", f"rule {key.strip()} is given twice"
            )
        changes[key.strip()] = value.strip()
    result = platform_service.set_rules(STATE.engine(), changes, effective_from=parse_day(from_), note=note)
    emit(result, json_out, "rules")


def verify_cmd(json_out: Json = False) -> None:
    """校验账本不变量 I1–I7 及各业务模块的核对 · check the ledger invariants I1–I7 and the
    market's, mall's, tiers' and collectibles' reconciliations; exits non-zero on any violation."""
    report = platform_service.verify_platform(STATE.engine())
    emit(report.as_dict(), json_out, "verify")
    if not report.ok:
        raise typer.Exit(3)


def demo(json_out: Json = False) -> None:
    """载入演示数据 · load demo data (idempotent)."""
    from sharebuy import demo as demo_data

    engine = STATE.engine()
    migrate.upgrade(engine)
    result = demo_data.load(engine)
    saved = demo_data.saved_accounts()
    if wants_json(json_out):  # `sharebuy --json demo` as well as `sharebuy demo --json`
        emit({**result, "sign_in": saved}, True, "demo")
        return
    emit(result, False, "demo")
    _print_accounts(saved)


def _print_accounts(saved: dict[str, Any] | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not saved:
        console.print("演示账户文件不存在（数据不是在本机载入的）· no demo sign-ins saved on this machine")
        return
    table = Table(title=f"演示账户 · demo sign-ins ({demo_accounts_path()})")
    for column in ("角色 role", "登录名 login", "密码 password", "姓名 name"):
        table.add_column(column)
    for account in saved["accounts"]:
        table.add_row(account["role"], account["login"], account["password"], account["name"])
    console.print(table)
    pos = saved.get("pos_key") or {}
    if pos:
        console.print(f"收银机密钥 · POS key of merchant {pos['merchant_id']}: {pos['key']}")
    console.print("API 文档 · API docs: http://127.0.0.1:8000/docs")
    from sharebuy.demo import WHERE_TO_LOOK

    guide = Table(title="看看这里 · where to look (http://127.0.0.1:8000)")
    for column in ("登录名 login", "页面 pages", "内容 what you find"):
        guide.add_column(column, overflow="fold")
    for login, pages, what in WHERE_TO_LOOK:
        guide.add_row(login, pages, what)
    console.print(guide)


def demo_accounts_path() -> str:
    from sharebuy import demo as demo_data

    return str(demo_data.accounts_file())


def serve(
    host: Annotated[str, typer.Option("--host", help="监听地址 · bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="端口 · port")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="进程数 · worker processes")] = 1,
    scheduler: Annotated[
        bool,
        typer.Option(
            "--scheduler", help="在本进程运行每日释放与定时任务 · run the daily release and jobs here"
        ),
    ] = False,
) -> None:
    """启动 HTTP 服务 · serve the app (JSON API, /docs, /healthz, /readyz, /metrics)."""
    import os

    import uvicorn

    if STATE.db:
        os.environ["SHAREBUY_DATABASE_URL"] = STATE.db
    if scheduler:
        # With several workers only the first would need it, but every worker runs the same
        # factory; the settlement's advisory lock (PostgreSQL) and SQLite's single writer keep
        # the release to one run, so running it in each is safe, only redundant.
        os.environ["SHAREBUY_SCHEDULER"] = "1"
    uvicorn.run(
        "sharebuy.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        server_header=False,
        log_config=None,
        http="sharebuy.web.transport:NoDelayHttpToolsProtocol",
    )


@db_app.command("upgrade")
def db_upgrade(json_out: Json = False) -> None:
    """应用数据库迁移 · apply migrations."""
    engine = STATE.engine()
    migrate.upgrade(engine)
    emit({"migrated": True, "current": migrate.is_current(engine)}, json_out, "db")


@db_app.command("partition-journal")
def db_partition_journal(
    ahead: Annotated[int, typer.Option("--ahead", min=1, help="预建未来几个月的分区 · months ahead")] = 3,
    since: Annotated[
        str | None, typer.Option("--since", help="最早月份的任一天 YYYY-MM-DD · first month to create")
    ] = None,
    json_out: Json = False,
) -> None:
    """把日记账按月分区（仅 PostgreSQL，复制全部分录，需停写）· partition the journal by month."""
    from sharebuy.kernel.clock import business_day, utcnow
    from sharebuy.ledger import partitions

    first = parse_day(since) if since else None
    emit(partitions.convert(STATE.engine(), business_day(utcnow()), ahead, first), json_out, "db")


@db_app.command("partitions")
def db_partitions(
    ahead: Annotated[int, typer.Option("--ahead", min=1, help="预建未来几个月的分区 · months ahead")] = 3,
    json_out: Json = False,
) -> None:
    """确保未来几个月的分区已建立并列出分区 · create the coming months' partitions, list them."""
    from sharebuy.kernel.clock import business_day, utcnow
    from sharebuy.ledger import partitions

    engine = STATE.engine()
    created = partitions.ensure_ahead(engine, business_day(utcnow()), ahead)
    emit({"created": created, **partitions.status(engine)}, json_out, "db")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.add_typer(rules_app, name="rules")
    app.command("verify")(verify_cmd)
    app.command("demo")(demo)
    app.command("serve")(serve)
    app.add_typer(db_app, name="db")


__all__ = ["SharebuyError", "register"]
