"""`sharebuy market ...` as a scripting contract: one JSON object per call, refusals as errors,
`verify` ok at the end.  Members trade through the services (there is no CLI for members);
the operator's side is all CLI."""

from __future__ import annotations

from datetime import date

from sharebuy.db.engine import make_engine
from sharebuy.kernel import caches
from sharebuy.market import service as market
from tests.cli.harness import D1, D2, Cli
from tests.integration.market_world import Clock, trader
from tests.integration.world import at


def test_operator_commands(cli: Cli) -> None:
    cli.init(D1)
    engine = make_engine(cli.url)
    caches.clear()
    clock = Clock(at(date.fromisoformat(D1), 10))
    seller, buyer = trader(engine, now=clock(), points="50"), trader(engine, now=clock())
    listing = market.create_listing(
        engine, seller, quantity="10", price="2", payment_kinds="alipay", actor="t", now=clock()
    )
    done = market.take_listing(engine, buyer, listing["id"], "4", actor="t", now=clock())["id"]
    market.mark_paid(engine, done, buyer, "r1", actor="t", now=clock())
    market.confirm(engine, done, seller, actor="t", now=clock())
    unpaid = market.take_listing(engine, buyer, listing["id"], "1", actor="t", now=clock())["id"]
    stuck = market.take_listing(engine, buyer, listing["id"], "2", actor="t", now=clock())["id"]
    market.mark_paid(engine, stuck, buyer, "r2", actor="t", now=clock())
    engine.dispose()

    listed = cli.ok("market", "list")
    assert [row["remaining"] for row in listed["listings"]] == ["3.0000"]
    assert cli.ok("market", "list", "--status", "closed")["listings"] == []
    cli.refused("market", "list", "--status", "gone", code="invalid_status")
    swept = cli.ok("market", "sweep", "--at", f"{D2}T12:00")
    assert (swept["expired"], swept["escalated"]) == (1, 1)
    shown = cli.ok("market", "trade", str(stuck))
    assert shown["status"] == "disputed" and shown["your_role"] == "operator" and shown["evidence"] == []
    assert [t["event"] for t in shown["transitions"]] == ["opened", "paid", "escalated"]
    assert [t["id"] for t in cli.ok("market", "trades", "--status", "disputed")["trades"]] == [stuck]
    cli.refused("market", "decide", str(stuck), "--reason", "x", code="decision_required")
    cli.refused("market", "decide", str(stuck), "--release", code="text_required")
    decided = cli.ok(
        "market", "decide", str(stuck), "--release", "--reason", "银行流水已核实", "--actor", "ops:li"
    )
    assert decided["status"] == "completed" and decided["decision"] == "release"
    cli.refused("market", "decide", str(unpaid), "--return", "--reason", "x", code="invalid_trade_transition")
    kline = cli.ok("market", "kline", "--days", "3", "--to", D2)
    # the decision was taken today, so its trade counts today, not on D1
    assert [(c["day"], c["volume"], c["vwap"]) for c in kline["candles"]] == [(D1, "4.0000", "2.0000")]
    closed = cli.ok("market", "close", "--reason", "系统维护 · maintenance")
    assert closed["open"] is False and closed["reason"].startswith("系统维护")
    assert cli.ok("market", "status")["open"] is False
    assert cli.ok("market", "open")["open"] is True
    report = cli.assert_verified()
    assert (
        report["checks"]["I6_escrow"]["ok"] and report["market"]["escrow"] == "4.0000"
    )  # 10 - 4 - 2 sold; the unpaid 1 came back
