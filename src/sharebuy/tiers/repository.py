"""Tier, dividend and green queries on a connection inside a service's unit of work.

The basis of a tier and the turnover of a dividend period are both "purchases of these days
still standing at the end of day D": a purchase refunded on a later day still counted on D,
so evaluating or paying a past day gives the same answer whenever it runs.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, func, literal, or_, select, union_all

from sharebuy.kernel.amounts import Cny
from sharebuy.ledger.models import accounts, entries
from sharebuy.members.models import members, merchants
from sharebuy.rewards.models import platform_state, purchases
from sharebuy.tiers.domain import Tier
from sharebuy.tiers.models import green_merchants, member_tiers, tier_history, tiers


def ladder(conn: Connection, member_kind: str | None = None) -> list[Tier]:
    stmt = select(tiers).order_by(tiers.c.member_kind, tiers.c.threshold, tiers.c.code)
    if member_kind is not None:
        stmt = stmt.where(tiers.c.member_kind == member_kind)
    return [
        Tier(r.code, r.member_kind, r.name_zh, r.name_en, Cny(int(r.threshold)), int(r.weight))
        for r in conn.execute(stmt)
    ]


def has_tiers(conn: Connection) -> bool:
    return conn.execute(select(tiers.c.code).limit(1)).first() is not None


def serialise(conn: Connection) -> None:
    """Take the platform row's lock: tier evaluations and dividend runs happen one at a time.

    Nothing else locks that row (purchases only read it), so this queues no sale.
    """
    conn.execute(select(platform_state.c.id).where(platform_state.c.id == 1).with_for_update()).first()


def _standing_at_end_of(day: date) -> Any:
    """Purchases not refunded by the end of `day` (a refund on a later day does not count yet)."""
    refund_day = select(entries.c.business_day).where(entries.c.id == purchases.c.refund_entry_id)
    return or_(purchases.c.refund_entry_id.is_(None), refund_day.scalar_subquery() > day)


def _in_days(first: date | None, last: date) -> Any:
    during = purchases.c.business_day <= last
    return during if first is None else and_(purchases.c.business_day >= first, during)


def basis_amounts(first: date | None, last: date) -> Any:
    """(member_id, basis) for every member with standing purchases in the window: a consumer's
    own consumption, a merchant's own turnover.  Consumers and merchants are distinct members,
    so one UNION ALL keyed by member answers both."""
    standing = and_(_in_days(first, last), _standing_at_end_of(last))
    spent = select(purchases.c.consumer_id.label("member_id"), purchases.c.amount).where(standing)
    sold = select(purchases.c.merchant_id.label("member_id"), purchases.c.amount).where(standing)
    both = union_all(spent, sold).subquery()
    return (
        select(both.c.member_id, func.sum(both.c.amount).label("basis")).group_by(both.c.member_id).subquery()
    )


def basis_of(conn: Connection, member_id: int, first: date | None, last: date) -> int:
    sums = basis_amounts(first, last)
    found = conn.execute(select(sums.c.basis).where(sums.c.member_id == member_id)).scalar()
    return int(found or 0)


def tier_changes(conn: Connection, first: date | None, last: date) -> list[Any]:
    """Members whose earned tier differs from the one they hold, in one set-based query:
    (member_id, kind, basis, current code, target code), by member id.

    The target is the highest threshold the basis reaches on the member's own ladder.  Members
    with neither a basis nor a tier are considered only when a ladder starts at zero.
    """
    sums = basis_amounts(first, last)
    basis = func.coalesce(sums.c.basis, 0)
    target = (
        select(tiers.c.code)
        .where(tiers.c.member_kind == members.c.kind, tiers.c.threshold <= basis)
        .order_by(tiers.c.threshold.desc(), tiers.c.code.desc())
        .limit(1)
        .scalar_subquery()
    )
    zero_kinds = select(tiers.c.member_kind).where(tiers.c.threshold == 0)
    inner = (
        select(
            members.c.id.label("member_id"),
            members.c.kind.label("kind"),
            basis.label("basis"),
            member_tiers.c.tier_code.label("current"),
            target.label("target"),
        )
        .select_from(members)
        .outerjoin(sums, sums.c.member_id == members.c.id)
        .outerjoin(member_tiers, member_tiers.c.member_id == members.c.id)
        .where(
            or_(
                sums.c.member_id.is_not(None),
                member_tiers.c.member_id.is_not(None),
                members.c.kind.in_(zero_kinds),
            )
        )
        .subquery()
    )
    stmt = select(inner).where(inner.c.current.is_distinct_from(inner.c.target)).order_by(inner.c.member_id)
    return list(conn.execute(stmt))


def last_evaluated_day(conn: Connection) -> date | None:
    found: date | None = conn.execute(select(func.max(tier_history.c.business_day))).scalar()
    return found


def tiers_at_end_of(day: date) -> Any:
    """(member_id, tier_code) held at the end of `day`, from the history: the latest change on
    or before it.  A member whose latest change took its tier away has to_code NULL."""
    latest = (
        select(tier_history.c.member_id, func.max(tier_history.c.id).label("id"))
        .where(tier_history.c.business_day <= day)
        .group_by(tier_history.c.member_id)
        .subquery()
    )
    return (
        select(tier_history.c.member_id, tier_history.c.to_code.label("tier_code"))
        .join(latest, latest.c.id == tier_history.c.id)
        .where(tier_history.c.to_code.is_not(None))
        .subquery()
    )


def dividend_members(conn: Connection, day: date) -> list[Any]:
    """(member_id, tier_code, weight, available account id) of every member paid a dividend for
    a period ending on `day`: a tier at the end of the day with a positive weight, not frozen,
    not a closed merchant.  Ordered by member id, the order the split breaks ties in."""
    held = tiers_at_end_of(day)
    stmt = (
        select(held.c.member_id, held.c.tier_code, tiers.c.weight, accounts.c.id.label("account_id"))
        .join(tiers, tiers.c.code == held.c.tier_code)
        .join(members, members.c.id == held.c.member_id)
        .outerjoin(merchants, merchants.c.member_id == members.c.id)
        .join(accounts, and_(accounts.c.member_id == members.c.id, accounts.c.kind == "available"))
        .where(
            tiers.c.weight > 0,
            members.c.frozen.is_(False),
            func.coalesce(merchants.c.status, literal("consumer")) != "closed",
        )
        .order_by(held.c.member_id)
    )
    return list(conn.execute(stmt))


def turnover(conn: Connection, first: date, last: date) -> Cny:
    total = conn.execute(
        select(func.coalesce(func.sum(purchases.c.amount), 0)).where(
            _in_days(first, last), _standing_at_end_of(last)
        )
    ).scalar_one()
    return Cny(int(total))


def green_column(merchant: Any) -> Any:
    """Whether the merchant (a bind parameter or column) is certified green, as a column that
    a caller's own query can carry (see members.repository.sale_statement)."""
    return (
        select(green_merchants.c.green)
        .where(green_merchants.c.merchant_id == merchant)
        .scalar_subquery()
        .label("green")
    )


def is_green(conn: Connection, merchant_id: int) -> bool:
    found = conn.execute(
        select(green_merchants.c.green).where(green_merchants.c.merchant_id == merchant_id)
    ).scalar()
    return bool(found)
