"""Tier and dividend invariants for `verify`.

- dividends: each period is paid once (one row per key, no two periods share a day, one journal
  entry per period and none without a period); the period's lines sum to its pool, its per-tier
  totals too; its entry takes exactly the pool from the fee account and gives each member exactly
  its line; the pool never exceeds what the rate asked nor the fee balance it found.
- tiers: each member's current tier is the `to` of its latest history row (no row: no tier),
  and each history row starts where the previous one ended.
"""

from __future__ import annotations

import re
from collections import defaultdict

from sqlalchemy import Connection, Executable, func, select

from sharebuy.ledger.models import accounts, entries, postings
from sharebuy.ledger.verify import Check, Report
from sharebuy.tiers.models import dividend_lines, dividend_periods, dividend_tiers, member_tiers, tier_history

_REF = re.compile(r"^dividend:(.+)$")


def dividends_paid_once(conn: Connection, report: Report) -> Check:
    check = Check("dividends_paid_once")
    periods = conn.execute(select(dividend_periods).order_by(dividend_periods.c.first_day)).mappings().all()
    seen: set[str] = set()
    last_day = None
    for row in periods:
        if row["period"] in seen:
            check.fail(f"dividend period {row['period']} was paid twice")
        seen.add(row["period"])
        if last_day is not None and row["first_day"] <= last_day:
            check.fail(f"dividend period {row['period']} overlaps the period before it")
        last_day = row["last_day"]
        if int(row["pool"]) > min(int(row["pool_wanted"]), int(row["fee_balance"])):
            check.fail(f"dividend period {row['period']} paid more than its rate or the fee balance allowed")
    lines = _by_period(
        conn, select(dividend_lines.c.period_id, dividend_lines.c.member_id, dividend_lines.c.points)
    )
    tier_totals = dict(
        conn.execute(
            select(dividend_tiers.c.period_id, func.sum(dividend_tiers.c.amount)).group_by(
                dividend_tiers.c.period_id
            )
        ).all()
    )
    posted: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    entry_of: dict[str, set[int]] = defaultdict(set)
    for reference, entry_id, kind, member_id, amount in conn.execute(
        select(entries.c.reference, entries.c.id, accounts.c.kind, accounts.c.member_id, postings.c.amount)
        .join(postings, postings.c.entry_id == entries.c.id)
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(entries.c.kind == "dividend")
    ):
        match = _REF.match(reference)
        key = match.group(1) if match else reference
        entry_of[key].add(int(entry_id))
        where = "fees" if member_id is None and kind == "fees" else f"{kind}:{member_id}"
        posted[key][where] += int(amount)
    for row in periods:
        key, pool, period_id = row["period"], int(row["pool"]), int(row["id"])
        mine = lines.get(period_id, {})
        if sum(mine.values()) != pool:
            check.fail(f"dividend period {key}: lines sum to {sum(mine.values())}, the pool is {pool}")
        if int(tier_totals.get(period_id, 0) or 0) != pool:
            check.fail(f"dividend period {key}: the per-tier totals do not sum to the pool {pool}")
        if len(mine) != int(row["members"]):
            check.fail(f"dividend period {key}: {len(mine)} lines for {row['members']} members")
        entries_found = entry_of.pop(key, set())
        legs = posted.pop(key, {})
        if pool == 0:
            if entries_found:
                check.fail(f"dividend period {key} paid nothing but has a journal entry", min(entries_found))
            continue
        if entries_found != {row["entry_id"]}:
            check.fail(f"dividend period {key} is not exactly its one journal entry {row['entry_id']}")
        if legs.get("fees", 0) != -pool:
            check.fail(
                f"dividend period {key}: the fee account paid {-legs.get('fees', 0)}, not {pool}",
                row["entry_id"],
            )
        paid = {m: v for m, v in mine.items() if v}
        credited = {int(w.split(":")[1]): v for w, v in legs.items() if w.startswith("available:")}
        if paid != credited or len(legs) != len(credited) + 1:
            check.fail(f"dividend period {key}: the entry's credits differ from its lines", row["entry_id"])
    for key, found in entry_of.items():
        check.fail(f"dividend entry for {key} has no dividend period", min(found))
    report.facts["dividend_periods"] = len(periods)
    return check


def _by_period(conn: Connection, stmt: Executable) -> dict[int, dict[int, int]]:
    found: dict[int, dict[int, int]] = defaultdict(dict)
    for period_id, member_id, points in conn.execute(stmt):
        found[int(period_id)][int(member_id)] = int(points)
    return found


def tier_history_consistent(conn: Connection, report: Report) -> Check:
    check = Check("tier_history_consistent")
    current = dict(conn.execute(select(member_tiers.c.member_id, member_tiers.c.tier_code)).all())
    last: dict[int, str | None] = {}
    for member_id, from_code, to_code, day in conn.execute(
        select(
            tier_history.c.member_id,
            tier_history.c.from_code,
            tier_history.c.to_code,
            tier_history.c.business_day,
        ).order_by(tier_history.c.member_id, tier_history.c.id)
    ):
        before = last.get(member_id)
        if from_code != before:
            check.fail(f"member {member_id}: the change on {day} starts from {from_code}, not {before}")
        if from_code == to_code:
            check.fail(f"member {member_id}: the change on {day} changes nothing")
        last[member_id] = to_code
    for member_id in set(last) | set(current):
        if last.get(member_id) != current.get(member_id):
            check.fail(
                f"member {member_id} holds {current.get(member_id)} but its history ends at {last.get(member_id)}"
            )
    report.facts["members_with_tier"] = len(current)
    return check


CHECKS = (dividends_paid_once, tier_history_consistent)
