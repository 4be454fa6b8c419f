"""Rewards invariants for `verify`: I4 (each day settled once, exactly A_D released) and the
settlement records' chain heads (I7); the market's I6 (market.checks) joins the list here."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from sharebuy.collectibles import checks as collectibles_checks
from sharebuy.ledger.models import accounts, entries, postings
from sharebuy.ledger.verify import Check, Extra, Report
from sharebuy.mall import checks as mall_checks
from sharebuy.market import checks as market_checks
from sharebuy.rewards.models import settlement_lines, settlements
from sharebuy.tiers import checks as tiers_checks


def settlements_exact(conn: Connection, report: Report) -> Check:
    check = Check("I4_settled_once_exactly")
    released_by_day = dict(
        conn.execute(
            select(entries.c.business_day, -func.sum(postings.c.amount))
            .join(postings, postings.c.entry_id == entries.c.id)
            .join(accounts, accounts.c.id == postings.c.account_id)
            .where(entries.c.kind == "release", accounts.c.kind == "reserve")
            .group_by(entries.c.business_day)
        ).all()
    )
    lines_by_day = dict(
        conn.execute(
            select(settlement_lines.c.business_day, func.sum(settlement_lines.c.points)).group_by(
                settlement_lines.c.business_day
            )
        ).all()
    )
    rows = conn.execute(select(settlements).order_by(settlements.c.business_day)).mappings().all()
    for row in rows:
        day, airdrop, released = row["business_day"], int(row["airdrop"]), int(row["released"])
        posted = int(released_by_day.pop(day, 0) or 0)
        if posted != released:
            check.fail(f"{day}: the journal released {posted}, the settlement says {released}")
        if row["status"] == "completed" and released != airdrop:
            check.fail(f"{day}: released {released} but A_D is {airdrop}")
        if int(lines_by_day.get(day, 0) or 0) != airdrop:
            check.fail(f"{day}: the per-holder lines sum to {lines_by_day.get(day, 0)}, not A_D {airdrop}")
    for day, amount in released_by_day.items():
        check.fail(f"{day}: {amount} points were released with no settlement record")
    report.facts["settled_days"] = len(rows)
    return check


def settlement_heads(conn: Connection, report: Report) -> Check:
    """I7: each completed settlement carries a chain head that the chain itself confirms."""
    check = Check("I7_settlement_heads")
    rows = conn.execute(
        select(settlements.c.business_day, settlements.c.journal_head_seq, settlements.c.journal_head_hash)
        .where(settlements.c.status == "completed")
        .order_by(settlements.c.business_day)
    ).all()
    for day, seq, digest in rows:
        if seq is None:
            check.fail(f"{day}: the completed settlement carries no chain head")
        elif report.chain_hashes.get(int(seq)) != digest:
            check.fail(f"{day}: its head hash does not match chain position {seq}")
    return check


CHECKS: tuple[Extra, ...] = (
    settlements_exact,
    settlement_heads,
    *market_checks.CHECKS,
    *tiers_checks.CHECKS,
    *collectibles_checks.CHECKS,
    *mall_checks.CHECKS,
)
