"""What must hold after the bank test, read straight from the database.

- every acknowledged operation took effect exactly once, and its recorded answer is the one
  the client was given;
- every operation refused outright left no trace: no answer recorded, no effect;
- every operation of unknown fate is wholly present (answer recorded, every effect there) or
  wholly absent (nothing of it anywhere): no effect exists without its recorded answer;
- no key, however often retried, took effect twice.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from sharebuy.idempotency.models import idempotency_records
from sharebuy.ledger.models import accounts, postings
from sharebuy.market.models import listings, trade_transitions, trades
from sharebuy.rewards.models import purchases, settlements
from tests.stress.history import History
from tests.stress.world import World


def check(conn: Connection, world: World, history: History) -> list[str]:
    problems: list[str] = []
    records = _records(conn)
    keys = Counter(r["key"] for r in records)
    problems += [f"key {k} recorded {n} times" for k, n in keys.items() if n > 1]
    by_key = {r["key"]: r for r in records}
    problems += _ops_against_records(history, by_key)
    problems += _purchases(conn, world, history, records)
    problems += _market(conn, world, history, records)
    problems += _settlements(conn, history)
    return problems


def _records(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(idempotency_records)).mappings().all()
    return [{**row, "body": json.loads(row["response"])} for row in rows]


def _ops_against_records(history: History, by_key: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    for op in history.ops:
        found = by_key.get(op.key)
        if op.outcome == "ok":
            if found is None:
                problems.append(f"{op.kind} {op.key} was acknowledged but no answer is recorded")
            elif found["body"] != op.answer or found["status_code"] != op.status:
                problems.append(f"{op.kind} {op.key}: the client got another answer than the one recorded")
        elif op.outcome == "failed" and found is not None:
            problems.append(f"{op.kind} {op.key} was refused ({op.status}) yet its answer is recorded")
    return problems


def _member_accounts(conn: Connection) -> dict[int, dict[str, int]]:
    found: dict[int, dict[str, int]] = defaultdict(dict)
    for member_id, kind, account_id in conn.execute(
        select(accounts.c.member_id, accounts.c.kind, accounts.c.id).where(accounts.c.member_id.is_not(None))
    ):
        found[int(member_id)][kind] = int(account_id)
    return found


def _legs(conn: Connection, entry_id: int) -> dict[int, int]:
    return {
        int(a): int(n)
        for a, n in conn.execute(
            select(postings.c.account_id, postings.c.amount).where(postings.c.entry_id == entry_id)
        )
    }


def _purchases(conn: Connection, world: World, history: History, records: list[dict[str, Any]]) -> list[str]:
    problems = []
    made = {
        int(row["id"]): row
        for row in conn.execute(select(purchases).where(purchases.c.id > world.purchases_before)).mappings()
    }
    answered = Counter(
        int(r["body"]["id"]) for r in records if r["path"] == "/api/v1/purchases" and r["status_code"] == 201
    )
    refunds = Counter(
        int(r["path"].split("/")[-2])
        for r in records
        if r["path"].endswith("/refund") and r["status_code"] == 200
    )
    owned = _member_accounts(conn)
    for purchase_id, row in made.items():
        # Wholly present: the answer recorded once, the entry with every leg the row promises.
        if answered[purchase_id] != 1:
            problems.append(f"purchase {purchase_id} has {answered[purchase_id]} recorded answers, not 1")
        legs = _legs(conn, int(row["entry_id"]))
        consumer, merchant = owned[int(row["consumer_id"])], owned[int(row["merchant_id"])]
        consumer_sv = legs.get(consumer["sv"], 0) + legs.get(consumer.get("sv_owed", -1), 0)
        merchant_sv = legs.get(merchant["sv"], 0) + legs.get(merchant.get("sv_owed", -1), 0)
        merchant_pt = legs.get(merchant["available"], 0) + legs.get(merchant["deposit"], 0)
        if consumer_sv != int(row["consumer_share_value"]) + int(row["registration_bonus"]):
            problems.append(f"purchase {purchase_id}: the consumer's share value legs say {consumer_sv}")
        if merchant_sv != int(row["merchant_share_value"]):
            problems.append(f"purchase {purchase_id}: the merchant's share value legs say {merchant_sv}")
        if merchant_pt != -int(row["points_deducted"]):
            problems.append(f"purchase {purchase_id}: the merchant's points legs say {merchant_pt}")
        refunded = row["status"] == "refunded"
        if refunded != (row["refund_entry_id"] is not None) or (refunded and refunds[purchase_id] < 1):
            problems.append(
                f"purchase {purchase_id} is {row['status']} with refund entry {row['refund_entry_id']}"
            )
        if not refunded and refunds[purchase_id]:
            problems.append(f"purchase {purchase_id} has a recorded refund but is not refunded")
    stored = {(int(r["merchant_id"]), r["idempotency_key"]): int(r["id"]) for r in made.values()}
    for op in history.ops:
        if op.kind == "purchase":
            present = stored.get((op.context["merchant_id"], op.key))
            if op.outcome == "ok":
                row = made.get(int(op.answer["id"]))
                if present != int(op.answer["id"]) or row is None:
                    problems.append(f"acknowledged purchase {op.key} is not stored as answered")
                elif row["consumer_id"] != op.context["consumer_id"] or int(row["amount"]) != int(
                    Decimal(op.context["amount"]) * 100
                ):
                    problems.append(f"acknowledged purchase {op.key} is stored with other parties or amount")
            elif op.outcome == "failed" and present is not None:
                problems.append(f"refused purchase {op.key} is stored as purchase {present}")
        elif op.kind == "refund" and op.outcome == "ok":
            row = made.get(op.context["purchase_id"])
            if row is None or row["status"] != "refunded":
                problems.append(f"acknowledged refund of purchase {op.context['purchase_id']} did not happen")
    return problems


def _market(conn: Connection, world: World, history: History, records: list[dict[str, Any]]) -> list[str]:
    problems = []
    created = Counter(
        int(r["body"]["id"])
        for r in records
        if r["path"] == "/api/v1/market/listings" and r["status_code"] == 201
    )
    for (listing_id,) in conn.execute(select(listings.c.id).where(listings.c.id > world.listings_before)):
        if created[int(listing_id)] != 1:
            problems.append(f"listing {listing_id} has {created[int(listing_id)]} recorded answers, not 1")
    taken = Counter(
        int(r["body"]["id"]) for r in records if r["path"].endswith("/take") and r["status_code"] == 201
    )
    for (trade_id,) in conn.execute(select(trades.c.id).where(trades.c.id > world.trades_before)):
        if taken[int(trade_id)] != 1:
            problems.append(f"trade {trade_id} has {taken[int(trade_id)]} recorded answers, not 1")
    # Each step of a trade the clients took is backed by a recorded answer for that step.
    steps = {"paid": "paid", "confirmed": "confirm", "cancelled": "cancel"}
    answered = Counter(
        (int(r["path"].split("/")[-2]), r["path"].split("/")[-1])
        for r in records
        if "/api/v1/market/trades/" in r["path"] and r["status_code"] == 200
    )
    happened = Counter(
        (int(trade_id), str(event))
        for trade_id, event in conn.execute(
            select(trade_transitions.c.trade_id, trade_transitions.c.event).where(
                trade_transitions.c.event.in_(list(steps))
            )
        )
    )
    for (trade_id, event), times in happened.items():
        if answered[(trade_id, steps[event])] < 1:
            problems.append(f"trade {trade_id} was {event} with no recorded answer")
        if times > 1:
            problems.append(f"trade {trade_id} was {event} {times} times")
    events = {step: event for event, step in steps.items()}
    for op in history.ops:
        if (
            op.kind in events
            and op.outcome == "ok"
            and not happened[(op.context["trade_id"], events[op.kind])]
        ):
            problems.append(f"acknowledged {op.kind} of trade {op.context['trade_id']} is not in its log")
    return problems


def _settlements(conn: Connection, history: History) -> list[str]:
    problems = []
    rows = {r["business_day"].isoformat(): r for r in conn.execute(select(settlements)).mappings()}
    for op in history.ops:
        if op.kind == "settle" and op.outcome == "ok":
            row = rows.get(op.context["day"])
            if row is None or row["status"] != "completed" or int(row["released"]) != int(row["airdrop"]):
                problems.append(f"acknowledged settlement of {op.context['day']} is not completed exactly")
    for day, row in rows.items():
        if row["status"] != "completed":
            problems.append(f"the settlement of {day} is left {row['status']}")
    return problems
