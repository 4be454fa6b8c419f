"""Drive the real `sharebuy` entry point in-process: one call, one JSON object, one exit code.

`sharebuy.cli.main.main()` runs with `sys.argv` patched and stdout captured; a `SystemExit`
gives the exit code.  Anything else escaping `main()` (a traceback) fails the test as it is.
`sharebuy.cli.output.STATE` holds the chosen db/json/lang and a cached engine across calls in a
process, so it is reset (and the engine disposed) around every call.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

import pytest

from sharebuy.cli import output
from sharebuy.cli.main import main

D1, D2, D3 = "2025-01-01", "2025-01-02", "2025-01-03"
_USE_OWN_DB = object()


def at(day: str, clock: str = "10:00") -> str:
    """A moment on a business day, Asia/Shanghai local time (the CLI's reading of a naive time)."""
    return f"{day}T{clock}"


def phone(n: int) -> str:
    return f"138{n:08d}"


def one_json_object(stdout: str) -> dict[str, Any]:
    """The contract: exactly one line on stdout, and it is a JSON object."""
    lines = stdout.splitlines()
    assert len(lines) == 1 and stdout.endswith("\n"), f"expected one line of JSON, got {stdout!r}"
    data = json.loads(lines[0])
    assert isinstance(data, dict), f"expected a JSON object, got {data!r}"
    return data


def reset_state() -> None:
    state = output.STATE
    if state._engine is not None:
        state._engine.dispose()
    fresh = output.State()
    state.db, state.json, state.lang, state._engine = fresh.db, fresh.json, fresh.lang, None


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


@dataclass(frozen=True)
class Outcome:
    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str
    data: dict[str, Any]

    @property
    def error(self) -> dict[str, Any]:
        return self.data["error"]  # type: ignore[no-any-return]


class Cli:
    """The operator CLI against one database, with the platform's everyday steps as helpers."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str) -> None:
        self.monkeypatch = monkeypatch
        self.capsys = capsys
        self.url = url
        self._phones = 0

    # -- raw calls -------------------------------------------------------------------------
    def run(self, *args: str, db: object = _USE_OWN_DB, json_flag: bool = True) -> Outcome:
        """`sharebuy [--db URL] ARGS [--json]`; db=None leaves the choice to SHAREBUY_DATABASE_URL."""
        url = self.url if db is _USE_OWN_DB else db
        argv = ["sharebuy", *(["--db", str(url)] if url else []), *args, *(["--json"] if json_flag else [])]
        reset_state()
        self.monkeypatch.setattr(sys, "argv", argv)
        self.capsys.readouterr()
        code = 0
        try:
            main()
        except SystemExit as done:
            code = _exit_code(done.code)
        finally:
            reset_state()
        captured = self.capsys.readouterr()
        return Outcome(argv, code, captured.out, captured.err, one_json_object(captured.out))

    def ok(self, *args: str, **kw: Any) -> dict[str, Any]:
        result = self.run(*args, **kw)
        assert result.exit_code == 0 and "error" not in result.data, (result.argv, result.data)
        return result.data

    def refused(self, *args: str, code: str, **kw: Any) -> dict[str, Any]:
        """A refusal: non-zero exit and {"error": {"code", "message", "message_zh", "message_en"}}."""
        result = self.run(*args, **kw)
        assert result.exit_code != 0, (result.argv, result.data)
        assert set(result.data) == {"error"}, result.data
        error = result.error
        assert error["code"] == code, (result.argv, error)
        assert error["message"] and error["message_zh"] and error["message_en"], error
        assert error["message"] in (error["message_zh"], error["message_en"])
        return error

    # -- the platform's everyday steps ------------------------------------------------------
    def init(self, start: str = D1, *extra: str) -> dict[str, Any]:
        return self.ok("init", "--start-date", start, *extra)

    def consumer(self, name: str = "") -> int:
        self._phones += 1
        return int(self.ok("consumer", "add", "--phone", phone(self._phones), "--name", name)["id"])

    def open_merchant(self, owner: int, *, grant: str, rate: str = "0.10") -> int:
        """Apply, approve, grant `grant` points from the reserve, post the deposit: active."""
        merchant = int(
            self.ok("merchant", "add", "--name", "莞带生活超市", "--owner", str(owner), "--region", "441900",
                    "--rate", rate)["id"]
        )  # fmt: skip
        assert self.ok("merchant", "approve", str(merchant))["status"] == "approved"
        self.grant(merchant, grant)
        assert self.ok("merchant", "deposit", str(merchant))["status"] == "active"
        return merchant

    def grant(self, merchant: int, amount: str) -> dict[str, Any]:
        return self.ok(
            "points", "grant", "--merchant", str(merchant), "--amount", amount, "--reason", "启动积分"
        )

    def buy(
        self, merchant: int, consumer: int, amount: str, day: str, *, key: str | None = None
    ) -> dict[str, Any]:
        extra = ["--key", key] if key else []
        return self.ok(
            "purchase", "--merchant", str(merchant), "--consumer", str(consumer), "--amount", amount,
            "--at", at(day), *extra,
        )  # fmt: skip

    def settle(self, *how: str) -> dict[str, Any]:
        return self.ok("settle", *how)

    def consumer_view(self, member: int) -> dict[str, Any]:
        return self.ok("balance", "--consumer", str(member))

    def merchant_view(self, member: int) -> dict[str, Any]:
        return self.ok("balance", "--merchant", str(member))

    def platform(self) -> dict[str, Any]:
        return self.ok("balance", "--platform")

    def line(self, day: str, member: int) -> dict[str, Any]:
        [found] = self.ok("settlement", "show", day, "--member", str(member))["lines"]
        return found  # type: ignore[no-any-return]

    def assert_verified(self) -> dict[str, Any]:
        """`sharebuy verify --json`: ok true, every check ok, exit 0."""
        report = self.ok("verify")
        assert report["ok"] is True, report
        assert all(check["ok"] for check in report["checks"].values()), report
        return report


def money(view: dict[str, Any]) -> dict[str, Any]:
    """The amounts of a member's balance view (what a refund must put back exactly)."""
    return {"share_value": view["share_value"], "clawback_owed": view["clawback_owed"], **view["points"]}
