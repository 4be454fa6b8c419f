"""How every command answers: one JSON object with --json, a readable table otherwise.

Errors follow the same split: {"error": {"code", "message", ...}} and a non-zero exit.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.exc import ArgumentError

from sharebuy.db.engine import make_engine
from sharebuy.kernel.errors import InvalidInput, SharebuyError
from sharebuy.kernel.views import plain


@dataclass
class State:
    db: str | None = None
    json: bool = False
    lang: str = field(default_factory=lambda: os.environ.get("SHAREBUY_LANG", "zh"))
    _engine: Engine | None = None

    def engine(self) -> Engine:
        if self._engine is None:
            try:
                self._engine = make_engine(self.db)
            except (ArgumentError, ImportError):
                # Not echoed: a URL may carry a password.
                raise InvalidInput(
                    "invalid_database_url",
                    "数据库地址无效或不受支持（应为 sqlite:///路径 或 postgresql://…）",
                    "the database URL is invalid or not supported (sqlite:///path or postgresql://...)",
                ) from None
        return self._engine


STATE = State()
console = Console(stderr=False)
err_console = Console(stderr=True)


def wants_json(flag: bool) -> bool:
    return flag or STATE.json


def emit(result: Any, as_json: bool, title: str = "") -> None:
    data = plain(result)
    if wants_json(as_json):
        sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
        return
    if isinstance(data, dict):
        table = Table(title=title or None, show_header=False, box=None)
        for key, value in data.items():
            table.add_row(
                f"[bold]{key}[/]",
                json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value),
            )
        console.print(table)
    else:
        console.print(data)


def fail(error: SharebuyError, as_json: bool) -> None:
    if wants_json(as_json):
        sys.stdout.write(json.dumps({"error": error.to_dict(STATE.lang)}, ensure_ascii=False) + "\n")
    else:
        err_console.print(f"[red]✗ {error.code}[/] {error.message(STATE.lang)}")
