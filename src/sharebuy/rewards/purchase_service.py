"""Purchases and refunds (SPEC §3): one balanced journal entry each, exactly once per key.

A purchase mints share value for the consumer and the merchant and takes the concession from
the merchant in points (available first, then the deposit, which suspends the merchant).  A
refund is a new reversing entry; the purchase row is never edited except for its status.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from sharebuy.db.prepared import Prepared
from sharebuy.db.uow import UnitOfWork, transaction
from sharebuy.events import repository as events
from sharebuy.kernel.amounts import Cny, Points, Price, ShareValue
from sharebuy.kernel.clock import as_utc, business_day
from sharebuy.kernel.errors import Conflict, InvalidInput, Refused, not_found
from sharebuy.ledger import repository as ledger
from sharebuy.ledger.domain import PT, SV, Leg
from sharebuy.ledger.models import entries
from sharebuy.ledger.service import seal_soon
from sharebuy.members import domain as member_rules
from sharebuy.members import repository as member_repo
from sharebuy.members.models import members, merchants
from sharebuy.rewards import domain, repository
from sharebuy.rewards.models import purchases
from sharebuy.rewards.rules import Rulebook
from sharebuy.tiers import domain as green_domain
from sharebuy.tiers import repository as tier_repository


@dataclass(frozen=True)
class PurchaseResult:
    id: int
    merchant_id: int
    consumer_id: int
    amount: Cny
    business_day: date
    concession_rate: Decimal
    guide_price: Price
    rule_version: int
    consumer_share_value: ShareValue
    merchant_share_value: ShareValue
    registration_bonus: ShareValue
    points_deducted: Points
    from_available: Points
    from_deposit: Points
    merchant_suspended: bool
    status: str
    green_bonus: ShareValue
    replayed: bool = False


@dataclass(frozen=True)
class RefundResult:
    purchase_id: int
    business_day: date
    consumer_share_value_taken: ShareValue
    consumer_clawback_owed: ShareValue
    merchant_share_value_taken: ShareValue
    merchant_clawback_owed: ShareValue
    points_returned: Points
    merchant_status: str
    replayed: bool = False


def fingerprint(merchant_id: int, consumer_id: int, amount: Cny, at: datetime | None) -> str:
    """What a retry must repeat: the same key with another body is a different request."""
    text = f"{merchant_id}|{consumer_id}|{amount.units}|{at.isoformat() if at else ''}"
    return hashlib.sha256(text.encode()).hexdigest()


def record_purchase(
    engine: Engine,
    *,
    merchant_id: int,
    consumer_id: int,
    amount: object,
    at: datetime | None = None,
    key: str | None = None,
    actor: str = "pos",
    now: datetime | None = None,
    seal: bool = True,
) -> PurchaseResult:
    cny = Cny.parse(amount)
    if not cny.is_positive():
        raise InvalidInput("non_positive_amount", "消费金额必须大于零", "the amount must be positive")
    if key is not None and not (0 < len(key) <= 128):
        raise InvalidInput("invalid_key", "幂等键长度应为 1–128", "idempotency key must be 1–128 characters")
    request_key = key or uuid.uuid4().hex
    print_ = fingerprint(merchant_id, consumer_id, cny, at)
    # In UTC: SQLite stores no offset, and every reader takes a stored moment for UTC.
    moment = as_utc(at or now or datetime.now(UTC))

    def work(uow: UnitOfWork) -> PurchaseResult:
        sale = _sale_row(uow.c, business_day(moment), merchant_id, consumer_id, request_key)
        if sale["existing"] is not None:
            earlier = _replay(uow.c, merchant_id, request_key, print_)
            assert earlier is not None
            return earlier
        result = _record(uow.c, sale, merchant_id, consumer_id, cny, moment, request_key, print_, actor)
        uow.commit()
        return result

    try:
        result = transaction(engine, work)
    except IntegrityError:
        # A concurrent request with the same key won the unique index: answer with its result.
        with UnitOfWork(engine, readonly=True) as uow:
            earlier = _replay(uow.c, merchant_id, request_key, print_)
        if earlier is None:
            raise
        return earlier
    if seal:
        seal_soon(engine)
    return result


def _replay(conn: Connection, merchant_id: int, key: str, print_: str) -> PurchaseResult | None:
    row = (
        conn.execute(
            select(purchases).where(
                purchases.c.merchant_id == merchant_id, purchases.c.idempotency_key == key
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    if row["fingerprint"] != print_:
        raise Conflict(
            "idempotency_key_reused",
            "该幂等键已用于另一笔不同的消费",
            "this idempotency key was already used for a different purchase",
            key=key,
        )
    # A sale suspends its merchant exactly when it dipped into the deposit (SPEC §3), so the
    # first answer can be rebuilt from the stored row.
    return replace(_result(row, suspended=int(row["from_deposit"]) > 0), replayed=True)


def _result(row: Any, *, suspended: bool) -> PurchaseResult:
    return PurchaseResult(
        id=int(row["id"]),
        merchant_id=int(row["merchant_id"]),
        consumer_id=int(row["consumer_id"]),
        amount=Cny(int(row["amount"])),
        business_day=row["business_day"],
        concession_rate=member_rules.rate_from_units(int(row["concession_rate"])),
        guide_price=Price(int(row["guide_price"])),
        rule_version=int(row["rule_version"]),
        consumer_share_value=ShareValue(int(row["consumer_share_value"])),
        merchant_share_value=ShareValue(int(row["merchant_share_value"])),
        registration_bonus=ShareValue(int(row["registration_bonus"])),
        points_deducted=Points(int(row["points_deducted"])),
        from_available=Points(int(row["from_available"])),
        from_deposit=Points(int(row["from_deposit"])),
        merchant_suspended=suspended,
        status=str(row["status"]),
        green_bonus=ShareValue(int(row["green_bonus"])),
    )


def require_open_day(conn: Connection, day: date) -> None:
    """Refuse writes dated before the start or into a day whose settlement has begun."""
    check_open_day(day, repository.start_day(conn), repository.last_started_day(conn))


def check_open_day(day: date, start: date, started: date | None) -> None:
    if day < start:
        raise Refused(
            "before_start",
            f"{day} 早于平台开始营业日 {start}",
            f"{day} is before the platform's first business day {start}",
        )
    if started is not None and day <= started:
        raise Refused(
            "day_settled",
            f"营业日 {day} 已结算，不能再记入",
            f"business day {day} is already settled; nothing more can be recorded in it",
            day=day,
        )


# The first statement of a sale, one round trip: lock the merchant, read the consumer, whether
# the merchant is green and the platform's context (rules, price, settled days, the key's use).
_sale = Prepared(
    member_repo.sale_statement(
        tier_repository.green_column(bindparam("merchant")),
        *repository.context_columns,
        repository.next_purchase_id,
    )
)


def _sale_row(conn: Connection, day: date, merchant_id: int, consumer_id: int, key: str) -> Any:
    found = _sale.run(
        conn, {"merchant": merchant_id, "consumer": consumer_id, "day": day, "key": key}
    ).mapping()
    if found is None or found["start_day"] is None:
        # Say why: an uninitialised platform before an unknown merchant.
        repository.purchase_context(conn, day, merchant_id, key)
        member_repo.sale_parties(found, merchant_id, consumer_id)
    assert found is not None
    return found


def _parties(sale: Any, merchant_id: int, consumer_id: int) -> tuple[Any, Any]:
    # Locking the merchant row first makes status and balances one decision: a sale that waits
    # behind the sale that suspended the merchant sees the suspension and is refused.
    merchant, consumer = member_repo.sale_parties(sale, merchant_id, consumer_id)
    if merchant["frozen"] or merchant["status"] == "closed":
        raise Refused(
            "merchant_frozen",
            f"商家 {merchant_id} 已冻结或关闭",
            f"merchant {merchant_id} is frozen or closed",
        )
    if merchant["status"] == "suspended":
        raise Refused(
            "merchant_suspended",
            f"商家 {merchant_id} 暂停接单：请先补足保证金",
            f"merchant {merchant_id} is suspended: top up the deposit first",
            reason=merchant["suspension_reason"],
        )
    if merchant["status"] != "active":
        raise Refused(
            "merchant_not_active", f"商家 {merchant_id} 尚未开业", f"merchant {merchant_id} is not active yet"
        )
    if consumer["frozen"]:
        raise Refused("consumer_frozen", f"消费者 {consumer_id} 已冻结", f"consumer {consumer_id} is frozen")
    if consumer_id == merchant["owner_id"] or consumer["is_staff"]:
        raise Refused(
            "self_dealing",
            "商家店主或员工不能在本店消费获取共享值（刷单）",
            "a merchant's owner or staff cannot earn share value at that merchant (self-dealing)",
        )
    return merchant, consumer


def _effective_rate(merchant: Any, rules: Rulebook) -> Decimal:
    """The merchant's rate, held inside the bounds in force that day."""
    low, high = rules.concession_bounds
    return min(max(member_rules.rate_from_units(int(merchant["concession_rate"])), low), high)


def _record(
    conn: Connection,
    sale: Any,
    merchant_id: int,
    consumer_id: int,
    cny: Cny,
    moment: datetime,
    key: str,
    print_: str,
    actor: str,
) -> PurchaseResult:
    day = business_day(moment)
    check_open_day(day, sale["start_day"], sale["last_started"])
    merchant, consumer = _parties(sale, merchant_id, consumer_id)
    version_id = int(sale["version_id"])
    rules = repository.version(conn, version_id)
    if cny > rules["max_purchase_cny"]:
        raise Refused(
            "amount_over_limit",
            f"单笔消费不能超过 {rules['max_purchase_cny']} 元",
            f"a single purchase cannot exceed {rules['max_purchase_cny']} CNY",
        )
    rate = _effective_rate(merchant, rules)
    price = repository.guide_price_from(rules, sale["last_price"])
    consumer_sv = domain.consumer_share_value(cny, rate, rules["consumer_multiplier"])
    merchant_sv = domain.merchant_share_value(cny, rate, rules["merchant_multiplier"])
    bonus = rules["registration_bonus_sv"] if consumer["activated_day"] is None else ShareValue(0)
    green = (
        green_domain.green_bonus(consumer_sv, rules["green_bonus_rate"])
        if merchant["green"]
        else ShareValue(0)
    )
    owed = domain.concession_points(cny, rate, price)

    locked = ledger.lock_member_accounts(conn, [merchant_id, consumer_id])
    m_acc, c_acc = locked[merchant_id], locked[consumer_id]
    deduction = domain.split_deduction(owed, Points(m_acc["available"][1]), Points(m_acc["deposit"][1]))
    platform = ledger.platform_accounts(conn)
    legs = [
        *_credit_share_value(c_acc, (consumer_sv + bonus + green).units),
        *_credit_share_value(m_acc, merchant_sv.units),
        Leg(platform["sv_issued"], SV, -(consumer_sv + bonus + green + merchant_sv).units),
        Leg(m_acc["available"][0], PT, -deduction.from_available.units),
        Leg(m_acc["deposit"][0], PT, -deduction.from_deposit.units),
        Leg(platform[_destination(rules)], PT, owed.units),
    ]
    entry_id, shared = ledger.post_deferring_shared(
        conn,
        kind="purchase",
        business_day=day,
        legs=[leg for leg in legs if leg.amount],
        reference=f"merchant:{merchant_id}:consumer:{consumer_id}",
        reason="purchase",
        actor=actor,
        idempotency_key=f"purchase:{merchant_id}:{key}",
        rule_version=version_id,
        platform_ids=platform.values(),
        locked=locked.flat(),
    )
    row = {
        "merchant_id": merchant_id,
        "consumer_id": consumer_id,
        "amount": cny.units,
        "concession_rate": member_rules.rate_to_units(rate),
        "guide_price": price.units,
        "rule_version": version_id,
        "business_day": day,
        "occurred_at": moment,
        "consumer_share_value": consumer_sv.units,
        "merchant_share_value": merchant_sv.units,
        "registration_bonus": bonus.units,
        "green_bonus": green.units,
        "points_deducted": owed.units,
        "from_available": deduction.from_available.units,
        "from_deposit": deduction.from_deposit.units,
        "idempotency_key": key,
        "fingerprint": print_,
        "entry_id": entry_id,
        "status": "recorded",
    }
    row["id"] = int(sale["next_purchase_id"])
    _mark_activated(conn, day, (consumer_id, consumer), (merchant_id, merchant))
    if deduction.suspends:
        conn.execute(
            update(merchants)
            .where(merchants.c.member_id == merchant_id)
            .values(status="suspended", suspension_reason="deposit_shortfall")
        )
    result = _result(row, suspended=deduction.suspends)
    event = events.event_row(
        "purchase.recorded",
        merchant_id,
        {
            "purchase_id": result.id,
            "merchant_id": merchant_id,
            "consumer_id": consumer_id,
            "amount": cny,
            "business_day": day,
            "consumer_share_value": consumer_sv,
            "merchant_share_value": merchant_sv,
            "points_deducted": owed,
            "from_deposit": deduction.from_deposit,
            "merchant_suspended": deduction.suspends,
        },
    )
    # Last, so that the platform rows every writer updates stay locked only until the commit.
    repository.insert_purchase(conn, row, event, shared)
    return result


def _destination(rules: Rulebook) -> str:
    return "burned" if rules["deduction_destination"] == "burn" else "reserve"


def _credit_share_value(acc: dict[str, tuple[int, int]], amount: int) -> list[Leg]:
    """A share-value credit repays any clawback owed first (SPEC §3 refunds)."""
    repay, rest = domain.net_against_owed(amount, acc["sv_owed"][1])
    return [Leg(acc["sv_owed"][0], SV, repay), Leg(acc["sv"][0], SV, rest)]


_activate = Prepared(
    update(members).where(members.c.id == bindparam("member")).values(activated_day=bindparam("day"))
)


def _mark_activated(conn: Connection, day: date, *parties: tuple[int, Any]) -> None:
    """A member takes part in the daily release from the day of its first purchase on."""
    for member_id, row in parties:
        if row["activated_day"] is None or row["activated_day"] > day:
            _activate.run(conn, {"member": member_id, "day": day})


# -- refunds ------------------------------------------------------------------------------


def refund_purchase(
    engine: Engine,
    purchase_id: int,
    *,
    at: datetime | None = None,
    actor: str = "pos",
    now: datetime | None = None,
) -> RefundResult:
    moment = as_utc(at or now or datetime.now(UTC))  # as for a sale: stored in UTC

    def work(uow: UnitOfWork) -> RefundResult:
        result = _refund(uow.c, purchase_id, moment, actor)
        if not result.replayed:
            uow.commit()
        return result

    result = transaction(engine, work)
    seal_soon(engine)
    return result


def _refund(conn: Connection, purchase_id: int, moment: datetime, actor: str) -> RefundResult:
    row = (
        conn.execute(select(purchases).where(purchases.c.id == purchase_id).with_for_update())
        .mappings()
        .first()
    )
    if row is None:
        raise not_found("消费记录", "purchase", purchase_id)
    merchant_id, consumer_id = int(row["merchant_id"]), int(row["consumer_id"])
    if row["status"] == "refunded":
        return _refund_replay(conn, row)
    day = business_day(moment)
    require_open_day(conn, day)
    rules = repository.rules_for(conn, day)
    age = (day - row["business_day"]).days
    if age < 0:
        raise Refused(
            "refund_before_purchase",
            f"退货日 {day} 早于消费营业日 {row['business_day']}",
            f"a refund on {day} cannot precede its purchase's business day {row['business_day']}",
        )
    if age > rules["refund_window_days"]:
        raise Refused(
            "refund_window_closed",
            f"已超过 {rules['refund_window_days']} 天退货期限",
            f"the {rules['refund_window_days']}-day refund window has closed",
        )
    merchant = member_repo.merchant(conn, merchant_id, lock=True)
    locked = ledger.lock_member_accounts(conn, [merchant_id, consumer_id])
    c_acc, m_acc = locked[consumer_id], locked[merchant_id]
    consumer_total = (
        int(row["consumer_share_value"]) + int(row["registration_bonus"]) + int(row["green_bonus"])
    )
    merchant_total = int(row["merchant_share_value"])
    c_taken, c_owed = domain.take_back(consumer_total, c_acc["sv"][1])
    m_taken, m_owed = domain.take_back(merchant_total, m_acc["sv"][1])
    platform = ledger.platform_accounts(conn)
    used = repository.version(conn, int(row["rule_version"]))
    legs = [
        Leg(c_acc["sv"][0], SV, -c_taken),
        Leg(c_acc["sv_owed"][0], SV, -c_owed),
        Leg(m_acc["sv"][0], SV, -m_taken),
        Leg(m_acc["sv_owed"][0], SV, -m_owed),
        Leg(platform["sv_issued"], SV, consumer_total + merchant_total),
        Leg(platform[_destination(used)], PT, -int(row["points_deducted"])),
        Leg(m_acc["available"][0], PT, int(row["from_available"])),
        Leg(m_acc["deposit"][0], PT, int(row["from_deposit"])),
    ]
    entry_id = ledger.post(
        conn,
        kind="refund",
        business_day=day,
        legs=[leg for leg in legs if leg.amount],
        reference=f"purchase:{purchase_id}",
        reason="refund",
        actor=actor,
        idempotency_key=f"refund:{purchase_id}",
        reverses_id=int(row["entry_id"]),
        rule_version=int(row["rule_version"]),
        platform_ids=platform.values(),
        locked=locked.flat(),
    )
    conn.execute(
        update(purchases)
        .where(purchases.c.id == purchase_id)
        .values(status="refunded", refund_entry_id=entry_id, refunded_at=moment)
    )
    status = _resume_after_refund(conn, merchant, m_acc, int(row["from_deposit"]))
    result = RefundResult(
        purchase_id,
        day,
        ShareValue(c_taken),
        ShareValue(c_owed),
        ShareValue(m_taken),
        ShareValue(m_owed),
        Points(int(row["points_deducted"])),
        status,
    )
    events.emit(
        conn,
        "purchase.refunded",
        merchant_id,
        {
            "purchase_id": purchase_id,
            "merchant_id": merchant_id,
            "consumer_id": consumer_id,
            "amount": Cny(int(row["amount"])),
            "business_day": day,
            "consumer_share_value_taken": result.consumer_share_value_taken,
            "consumer_clawback_owed": result.consumer_clawback_owed,
            "merchant_share_value_taken": result.merchant_share_value_taken,
            "merchant_clawback_owed": result.merchant_clawback_owed,
            "points_returned": result.points_returned,
        },
    )
    return result


def _resume_after_refund(
    conn: Connection, merchant: Any, m_acc: dict[str, tuple[int, int]], returned: int
) -> str:
    """A merchant suspended for a deposit shortfall resumes once the deposit suffices again."""
    if merchant["status"] != "suspended" or merchant["suspension_reason"] != "deposit_shortfall":
        return str(merchant["status"])
    rules = repository.rules_for(conn, repository.start_day(conn))
    required = domain.deposit_required(rules["merchant_deposit_cny"], repository.current_guide_price(conn))
    if m_acc["deposit"][1] + returned >= required.units:
        conn.execute(
            update(merchants)
            .where(merchants.c.member_id == merchant["id"])
            .values(status="active", suspension_reason=None)
        )
        return "active"
    return "suspended"


def _refund_replay(conn: Connection, row: Any) -> RefundResult:
    """A second refund of the same purchase answers with what the first one did."""
    legs = {acc: amt for acc, _asset, amt in ledger.entry_legs(conn, int(row["refund_entry_id"]))}
    c_acc = ledger.member_accounts(conn, int(row["consumer_id"]))
    m_acc = ledger.member_accounts(conn, int(row["merchant_id"]))
    status = member_repo.merchant(conn, int(row["merchant_id"]))["status"]
    return RefundResult(
        int(row["id"]),
        conn.execute(
            select(entries.c.business_day).where(entries.c.id == row["refund_entry_id"])
        ).scalar_one(),
        ShareValue(-legs.get(c_acc["sv"], 0)),
        ShareValue(-legs.get(c_acc["sv_owed"], 0)),
        ShareValue(-legs.get(m_acc["sv"], 0)),
        ShareValue(-legs.get(m_acc["sv_owed"], 0)),
        Points(int(row["points_deducted"])),
        str(status),
        replayed=True,
    )
