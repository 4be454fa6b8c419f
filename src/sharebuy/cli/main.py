"""The `sharebuy` command: global options, the command groups, and error handling."""

from __future__ import annotations

import contextlib
import sys
from typing import Annotated

import typer
from sqlalchemy.exc import DataError, DBAPIError, OperationalError, ProgrammingError

from sharebuy.cli import collectibles as collectibles_cli
from sharebuy.cli import mall as mall_cli
from sharebuy.cli import market as market_cli
from sharebuy.cli import members as members_cli
from sharebuy.cli import platform as platform_cli
from sharebuy.cli import rewards as rewards_cli
from sharebuy.cli import simulate as simulate_cli
from sharebuy.cli import tiers as tiers_cli
from sharebuy.cli import users as users_cli
from sharebuy.cli import webhooks as webhooks_cli
from sharebuy.cli.output import STATE, fail
from sharebuy.db.base import MAX_ID
from sharebuy.kernel.errors import SharebuyError
from sharebuy.ledger.service import seal_pending
from sharebuy.rewards.repository import not_initialised

app = typer.Typer(
    name="sharebuy",
    help="共享购平台运营命令行 · sharebuy operator CLI",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _global(
    db: Annotated[str | None, typer.Option("--db", help="数据库 URL（覆盖 SHAREBUY_DATABASE_URL）")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象")] = False,
    lang: Annotated[str | None, typer.Option("--lang", help="zh 或 en")] = None,
) -> None:
    STATE.db = db
    STATE.json = json_out
    if lang:
        STATE.lang = lang


platform_cli.register(app)
members_cli.register(app)
rewards_cli.register(app)
simulate_cli.register(app)
users_cli.register(app)
webhooks_cli.register(app)
market_cli.register(app)
tiers_cli.register(app)
collectibles_cli.register(app)
mall_cli.register(app)


def _missing_schema(error: DBAPIError) -> bool:
    text = str(error.orig).lower()
    return "no such table" in text or ("relation" in text and "does not exist" in text)


def _seal_before_exit() -> None:
    """A command leaves no entry unsealed behind it: the chain is whole when it exits."""
    engine = STATE._engine
    if engine is not None:
        # A database never initialised has no chain to seal.
        with contextlib.suppress(OperationalError, ProgrammingError):
            seal_pending(engine, wait=True)


NUMERIC_VALUE_OUT_OF_RANGE = "22003"  # PostgreSQL's SQLSTATE for an integer too wide for its column


def _out_of_range() -> SharebuyError:
    """An integer the database cannot hold: SQLite's driver raises OverflowError, PostgreSQL a DataError."""
    return SharebuyError(
        "number_out_of_range",
        f"输入的数字超出范围（编号最大为 {MAX_ID}）",
        f"a number in the input is out of range (ids go up to {MAX_ID})",
    )


def _database_error(error: DBAPIError) -> SharebuyError:
    return SharebuyError("database_error", f"数据库错误：{error.orig}", f"database error: {error.orig}")


def _usage(error: typer.TyperException, as_json: bool) -> None:
    message = error.format_message() if hasattr(error, "format_message") else str(error)
    if as_json:
        fail(SharebuyError("usage", f"命令用法错误：{message}", f"usage error: {message}"), True)
    elif hasattr(error, "show"):
        error.show()
    else:
        print(message, file=sys.stderr)


def main() -> None:
    as_json = "--json" in sys.argv[1:]
    try:
        # Outside standalone mode a command's `typer.Exit(n)` comes back as the return value.
        code = app(standalone_mode=False)
        _seal_before_exit()
    except SharebuyError as error:
        fail(error, as_json)
        sys.exit(1)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        sys.exit(130)
    except typer.TyperException as error:
        _usage(error, as_json)
        sys.exit(2)
    except OverflowError:
        fail(_out_of_range(), as_json)
        sys.exit(1)
    except DataError as error:
        if getattr(error.orig, "sqlstate", None) == NUMERIC_VALUE_OUT_OF_RANGE:
            fail(_out_of_range(), as_json)
        else:
            fail(_database_error(error), as_json)
        sys.exit(1)
    except (OperationalError, ProgrammingError) as error:
        if _missing_schema(error):
            fail(not_initialised(), as_json)
        else:
            fail(_database_error(error), as_json)
        sys.exit(1)
    if isinstance(code, int) and code != 0:
        sys.exit(code)
