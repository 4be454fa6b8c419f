"""Tier use cases: the operator's ladder, evaluating members against it, reading one's tier.

Evaluation is set-based: one query finds every member whose earned tier differs from the one
held (repository.tier_changes); the downgrade policy is applied to those few rows only, and each
change writes a history row (member, from, to, day, basis).  Invariant kept (checked by verify):
a member's current tier is the `to` of its latest history row, and each row's `from` is the
previous row's `to`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, bindparam, delete, func, insert, select, update

from sharebuy.db.uow import UnitOfWork, reading, transaction
from sharebuy.kernel.amounts import Cny
from sharebuy.kernel.errors import Conflict, Refused, not_found
from sharebuy.members.models import members
from sharebuy.rewards import repository as rewards
from sharebuy.tiers import domain
from sharebuy.tiers import repository as repo
from sharebuy.tiers.domain import Tier
from sharebuy.tiers.models import member_tiers, tier_history, tiers


def _view(tier: Tier) -> dict[str, Any]:
    return {
        "code": tier.code,
        "member_kind": tier.member_kind,
        "name_zh": tier.name_zh,
        "name_en": tier.name_en,
        "threshold": tier.threshold,
        "weight": tier.weight,
    }


def list_tiers(engine: Engine) -> list[dict[str, Any]]:
    with reading(engine) as conn:
        ladder = repo.ladder(conn)
        counted = conn.execute(
            select(member_tiers.c.tier_code, func.count()).group_by(member_tiers.c.tier_code)
        ).all()
        held: dict[str, int] = {str(code): int(n) for code, n in counted}
    return [{**_view(t), "members": held.get(t.code, 0)} for t in ladder]


def set_tier(
    engine: Engine,
    *,
    code: str,
    member_kind: str,
    name_zh: str,
    name_en: str,
    threshold: object,
    weight: int,
    actor: str = "operator",
) -> dict[str, Any]:
    """Add a tier or change one; it counts from the next evaluation on (nobody moves now)."""
    tier = domain.check_tier(
        Tier(code.strip(), member_kind, name_zh.strip(), name_en.strip(), Cny.parse(threshold), int(weight))
    )

    def work(uow: UnitOfWork) -> dict[str, Any]:
        repo.serialise(uow.c)
        found = uow.c.execute(select(tiers.c.member_kind).where(tiers.c.code == tier.code)).scalar()
        if found is not None and found != tier.member_kind:
            raise Conflict(
                "tier_kind_fixed",
                f"等级 {tier.code} 已属于 {found}，不能改为另一类会员",
                f"tier {tier.code} belongs to {found} members and cannot move to another kind",
            )
        clash = uow.c.execute(
            select(tiers.c.code).where(
                tiers.c.member_kind == tier.member_kind,
                tiers.c.threshold == tier.threshold.units,
                tiers.c.code != tier.code,
            )
        ).scalar()
        if clash is not None:
            raise Conflict(
                "tier_threshold_taken",
                f"等级 {clash} 已使用相同门槛",
                f"tier {clash} already has this threshold",
            )
        values = {
            "member_kind": tier.member_kind,
            "name_zh": tier.name_zh,
            "name_en": tier.name_en,
            "threshold": tier.threshold.units,
            "weight": tier.weight,
            "updated_by": actor,
            "updated_at": datetime.now(UTC),
        }
        if found is None:
            uow.c.execute(insert(tiers), {"code": tier.code, **values})
        else:
            uow.c.execute(update(tiers).where(tiers.c.code == tier.code).values(**values))
        uow.commit()
        return {**_view(tier), "created": found is None}

    return transaction(engine, work)


def remove_tier(engine: Engine, code: str, *, actor: str = "operator") -> dict[str, Any]:
    """Remove a tier nobody holds; a held tier is given up at an evaluation first."""

    def work(uow: UnitOfWork) -> dict[str, Any]:
        repo.serialise(uow.c)
        if uow.c.execute(select(tiers.c.code).where(tiers.c.code == code)).first() is None:
            raise not_found("会员等级", "tier", code)
        held = uow.c.execute(
            select(func.count()).select_from(member_tiers).where(member_tiers.c.tier_code == code)
        ).scalar_one()
        if held:
            raise Refused(
                "tier_held",
                f"仍有 {held} 位会员持有等级 {code}，请先调整门槛并重新评定",
                f"{held} members still hold tier {code}; change its threshold and evaluate first",
            )
        uow.c.execute(delete(tiers).where(tiers.c.code == code))
        uow.commit()
        return {"code": code, "removed": True, "actor": actor}

    return transaction(engine, work)


@dataclass(frozen=True)
class Evaluation:
    business_day: date
    basis_from: date | None
    downgrade: str
    evaluated: int
    upgraded: int
    downgraded: int
    kept: int


def evaluate(engine: Engine, day: date | None = None, *, actor: str = "operator") -> Evaluation:
    """Evaluate every member for the end of a settled business day (default: the last one).

    Days are evaluated in order: a day before the latest evaluated one is refused, so the
    history reads forwards.  Evaluating the same day again changes nothing.
    """

    def work(uow: UnitOfWork) -> Evaluation:
        conn = uow.c
        repo.serialise(conn)
        settled = rewards.last_settlement(conn)
        on = day if day is not None else (settled[0] if settled else None)
        if on is None or settled is None or on > settled[0]:
            raise Refused(
                "day_not_settled",
                f"营业日 {on} 尚未结算，不能评定会员等级",
                f"business day {on} is not settled yet; tiers are evaluated on settled days",
            )
        latest = repo.last_evaluated_day(conn)
        if latest is not None and on < latest:
            raise Refused(
                "tiers_evaluated_later",
                f"会员等级已按 {latest} 评定，不能回到更早的 {on}",
                f"tiers were evaluated for {latest} already; {on} is earlier",
            )
        rules = rewards.rules_for(conn, on)
        first = domain.window(on, rules["tier_basis_days"])
        ladder = repo.ladder(conn)
        changes, kept = [], 0
        for row in repo.tier_changes(conn, first, on):
            after = domain.next_tier(row.current, row.target, ladder, rules["tier_downgrade"])
            if after == row.current:
                kept += 1
                continue
            changes.append((row, after))
        up = sum(1 for row, after in changes if domain.rank(after, ladder) > domain.rank(row.current, ladder))
        _write_changes(conn, changes, on, actor)
        uow.commit()
        return Evaluation(
            on, first, rules["tier_downgrade"], len(changes) + kept, up, len(changes) - up, kept
        )

    return transaction(engine, work)


def _write_changes(conn: Any, changes: list[tuple[Any, str | None]], day: date, actor: str) -> None:
    if not changes:
        return
    now = datetime.now(UTC)
    conn.execute(
        insert(tier_history),
        [
            {
                "member_id": int(row.member_id),
                "from_code": row.current,
                "to_code": after,
                "business_day": day,
                "basis": int(row.basis),
                "actor": actor,
                "created_at": now,
            }
            for row, after in changes
        ],
    )
    conn.execute(
        delete(member_tiers).where(member_tiers.c.member_id == bindparam("m")),
        [{"m": int(row.member_id)} for row, _after in changes],
    )
    kept = [(row, after) for row, after in changes if after is not None]
    if kept:
        conn.execute(
            insert(member_tiers),
            [
                {
                    "member_id": int(row.member_id),
                    "tier_code": after,
                    "since_day": day,
                    "basis": int(row.basis),
                }
                for row, after in kept
            ],
        )


def member_tier(engine: Engine, member_id: int, *, history_limit: int = 50) -> dict[str, Any]:
    """A member's tier, its own basis amount now, the next tier up and the history of changes."""
    with reading(engine) as conn:
        kind = conn.execute(select(members.c.kind).where(members.c.id == member_id)).scalar()
        if kind is None:
            raise not_found("会员", "member", member_id)
        held = (
            conn.execute(select(member_tiers).where(member_tiers.c.member_id == member_id)).mappings().first()
        )
        ladder = repo.ladder(conn, kind)
        settled = rewards.last_settlement(conn)
        basis = None
        if settled is not None:
            rules = rewards.rules_for(conn, settled[0])
            first = domain.window(settled[0], rules["tier_basis_days"])
            basis = Cny(repo.basis_of(conn, member_id, first, settled[0]))
        history = conn.execute(
            select(tier_history)
            .where(tier_history.c.member_id == member_id)
            .order_by(tier_history.c.id.desc())
            .limit(history_limit)
        ).mappings()
        lines = [
            {
                "business_day": h["business_day"],
                "from_code": h["from_code"],
                "to_code": h["to_code"],
                "basis": Cny(int(h["basis"])),
            }
            for h in history
        ]
    current = next((t for t in ladder if held is not None and t.code == held["tier_code"]), None)
    above = [t for t in ladder if current is None or t.threshold.units > current.threshold.units]
    return {
        "member_id": member_id,
        "member_kind": kind,
        "tier": _view(current) if current is not None else None,
        "since": held["since_day"] if held is not None else None,
        "basis": basis,
        "basis_day": settled[0] if settled is not None else None,
        "next_tier": _view(above[0]) if above else None,
        "history": lines,
    }
