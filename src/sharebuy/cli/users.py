"""User commands: operator accounts (admins and auditors), listing, disabling, unlocking.

A password never goes on the command line, where `ps` and shell history would keep it: it is
read as one line from stdin (`--password-stdin`) or typed twice, hidden, at a terminal.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from sharebuy.cli.output import STATE, emit
from sharebuy.identity import service
from sharebuy.kernel.errors import InvalidInput

Json = Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象 · print one JSON object")]
user_app = typer.Typer(help="运营账户 · operator users", no_args_is_help=True)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        # Prompts go to stderr: with --json, stdout carries the one JSON object and nothing else.
        password = typer.prompt(
            "密码 · password",
            hide_input=True,
            confirmation_prompt="再次输入密码 · repeat the password",
            err=True,
        )
    else:
        raise InvalidInput(
            "password_required",
            "请用 --password-stdin 从标准输入提供密码，或在终端中运行以输入密码",
            "give the password on stdin with --password-stdin, or run at a terminal to type it",
        )
    if not password:
        raise InvalidInput("password_required", "密码不能为空", "the password is empty")
    return password


@user_app.command("add")
def user_add(
    login: Annotated[str, typer.Option("--login", help="登录名")],
    role: Annotated[str, typer.Option("--role", help="admin 或 auditor")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="从标准输入读取一行作为密码")
    ] = False,
    json_out: Json = False,
) -> None:
    """新建运营账户 · create an admin or auditor."""
    password = _read_password(password_stdin)
    emit(service.create_operator(STATE.engine(), login=login, password=password, role=role), json_out)


@user_app.command("list")
def user_list(json_out: Json = False) -> None:
    """列出账户 · list users."""
    emit({"users": service.list_users(STATE.engine())}, json_out)


@user_app.command("disable")
def user_disable(login: str, json_out: Json = False) -> None:
    """停用账户并注销其登录 · disable a user and end its sign-ins."""
    emit(service.disable_user(STATE.engine(), login), json_out)


@user_app.command("unlock")
def user_unlock(login: str, json_out: Json = False) -> None:
    """解除登录锁定 · lift a sign-in lock-out."""
    emit(service.unlock_user(STATE.engine(), login), json_out)


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
