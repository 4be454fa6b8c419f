"""Market invariants for `verify`: I6, escrow recomputed from the journal.

- each listing's escrow (the escrow postings of its own entries and of its trades' entries)
  equals its remaining quantity plus the quantities of its open trades;
- each buy-order fill's escrow equals its quantity while the trade is open, zero after;
- each member's escrow account equals what its listings and fills hold, and no escrow posting
  belongs to nothing the market knows;
- listings and trades are consistent with themselves: closed listings hold no remaining,
  completed trades carry their completion day.
"""

from __future__ import annotations

import re
from collections import defaultdict

from sqlalchemy import Connection, func, select

from sharebuy.kernel.amounts import Points
from sharebuy.ledger.models import accounts, entries, postings
from sharebuy.ledger.verify import Check, Report
from sharebuy.market import domain
from sharebuy.market.models import listings, trades

_REF = re.compile(r"^market:(listing|trade):(\d+)$")


def escrow_matches(conn: Connection, report: Report) -> Check:
    check = Check("I6_escrow")
    posted = conn.execute(
        select(entries.c.reference, accounts.c.member_id, func.sum(postings.c.amount), func.max(entries.c.id))
        .join(postings, postings.c.entry_id == entries.c.id)
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(accounts.c.kind == "escrow")
        .group_by(entries.c.reference, accounts.c.member_id)
    ).all()
    trade_rows = {
        int(r.id): r
        for r in conn.execute(
            select(
                trades.c.id,
                trades.c.listing_id,
                trades.c.seller_id,
                trades.c.quantity,
                trades.c.status,
                trades.c.completed_day,
            )
        )
    }
    listing_rows = {
        int(r.id): r
        for r in conn.execute(
            select(
                listings.c.id,
                listings.c.seller_id,
                listings.c.quantity,
                listings.c.remaining,
                listings.c.status,
            )
        )
    }
    # What the journal says each listing and each fill holds in escrow.
    by_listing: dict[int, int] = defaultdict(int)
    by_fill: dict[int, int] = defaultdict(int)
    by_member_journal: dict[int, int] = defaultdict(int)
    for reference, member_id, amount, last_entry in posted:
        by_member_journal[int(member_id)] += int(amount)
        found = _REF.match(reference or "")
        if found is None:
            check.fail(f"escrow moved by entry {last_entry} under reference {reference!r}", int(last_entry))
            continue
        kind, ident = found.group(1), int(found.group(2))
        owner = listing_rows.get(ident) if kind == "listing" else trade_rows.get(ident)
        if owner is None or int(owner.seller_id) != int(member_id):
            check.fail(f"escrow of member {member_id} booked to unknown {reference}", int(last_entry))
            continue
        if kind == "listing":
            by_listing[ident] += int(amount)
        elif owner.listing_id is not None:
            by_listing[int(owner.listing_id)] += int(amount)
        else:
            by_fill[ident] += int(amount)
    # What the market's own tables say.
    open_by_listing: dict[int, int] = defaultdict(int)
    expected_by_member: dict[int, int] = defaultdict(int)
    for trade in trade_rows.values():
        is_open = trade.status in domain.OPEN_STATES
        if trade.status == domain.COMPLETED and trade.completed_day is None:
            check.fail(f"completed trade {trade.id} has no completion day")
        if trade.listing_id is not None:
            if is_open:
                open_by_listing[int(trade.listing_id)] += int(trade.quantity)
            continue
        held = int(trade.quantity) if is_open else 0
        expected_by_member[int(trade.seller_id)] += held
        if by_fill.get(int(trade.id), 0) != held:
            check.fail(
                f"fill trade {trade.id} ({trade.status}) holds {by_fill.get(int(trade.id), 0)} in escrow, not {held}"
            )
    for listing_id, row in listing_rows.items():
        expected = int(row.remaining) + open_by_listing.get(listing_id, 0)
        expected_by_member[int(row.seller_id)] += expected
        if row.status == "closed" and int(row.remaining) != 0:
            check.fail(f"closed listing {listing_id} still has {row.remaining} remaining")
        if expected > int(row.quantity):
            check.fail(
                f"listing {listing_id} holds {expected} in remaining and open trades, more than its {row.quantity}"
            )
        if by_listing.get(listing_id, 0) != expected:
            check.fail(
                f"listing {listing_id}: its escrow is {by_listing.get(listing_id, 0)} but remaining + open trades "
                f"= {expected}"
            )
    balances = dict(
        conn.execute(
            select(accounts.c.member_id, accounts.c.balance).where(accounts.c.kind == "escrow")
        ).all()
    )
    for member_id, balance in sorted((int(m), int(b)) for m, b in balances.items()):
        if balance != expected_by_member.get(member_id, 0) or balance != by_member_journal.get(member_id, 0):
            check.fail(
                f"member {member_id}: escrow balance {balance}, its listings and fills hold "
                f"{expected_by_member.get(member_id, 0)}, its escrow postings sum to "
                f"{by_member_journal.get(member_id, 0)}"
            )
    report.facts["market"] = {
        "listings": len(listing_rows),
        "trades": len(trade_rows),
        "escrow": str(Points(sum(expected_by_member.values()))),
    }
    return check


CHECKS = (escrow_matches,)
