"""Member use cases: registration, real names (实名), merchant applications and approval, deposits,
grants.

Each use case opens one unit of work, does the whole job and commits once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from sharebuy.db.uow import UnitOfWork, reading, transaction
from sharebuy.kernel.amounts import Points
from sharebuy.kernel.clock import business_day
from sharebuy.kernel.errors import Conflict, InvalidInput, NotFound, Refused
from sharebuy.ledger import repository as ledger
from sharebuy.ledger.domain import PT, Leg
from sharebuy.ledger.service import seal_soon
from sharebuy.members import domain, repository
from sharebuy.members.models import consumers, members, merchant_staff, merchants
from sharebuy.rewards import repository as rewards


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _sealed(engine: Engine, result: object) -> object:
    seal_soon(engine)
    return result


# -- consumers ---------------------------------------------------------------------------


def add_consumer(
    engine: Engine,
    *,
    phone: str,
    name: str = "",
    real_name: str | None = None,
    id_number: str | None = None,
    now: datetime | None = None,
) -> int:
    """Register a consumer; an operator may record the real name at once (both fields or none),
    under the same rules as the holder recording it later."""
    number = domain.normalise_phone(phone)
    display = domain.clean_name(name, "姓名", "name", required=False)
    moment = _now(now)
    identity = _real_name_given(real_name, id_number, moment)

    def work(uow: UnitOfWork) -> int:
        member_id = create_consumer(uow.c, phone=number, name=display, now=moment)
        if identity is not None:
            _record_real_name(uow.c, member_id, *identity, moment)
        uow.commit()
        return member_id

    try:
        return transaction(engine, work)
    except IntegrityError:
        # Two registrations of one phone (or one identity number) at once: a unique index let
        # only one through.
        if identity is not None and _id_number_holder(engine, identity[1]) is not None:
            raise id_number_taken() from None
        raise phone_taken(number) from None


def _real_name_given(
    real_name: str | None, id_number: str | None, moment: datetime
) -> tuple[str, str] | None:
    if real_name is None and id_number is None:
        return None
    if not real_name or not id_number:
        raise InvalidInput(
            "real_name_incomplete",
            "实名登记需要同时填写姓名和身份证号码",
            "a real name needs both the name and the identity number",
        )
    return domain.clean_real_name(real_name), domain.validate_id_number(id_number, business_day(moment))


def create_consumer(
    conn: Connection,
    *,
    phone: str,
    name: str = "",
    now: datetime | None = None,
) -> int:
    """Register a consumer on the caller's connection; the caller's unit of work commits, so a
    use case can create the member together with something else (a user, in identity)."""
    number = domain.normalise_phone(phone)
    display = domain.clean_name(name, "姓名", "name", required=False)
    rewards.start_day(conn)
    if repository.consumer_by_phone(conn, number) is not None:
        raise phone_taken(number)
    member_id = _insert_member(conn, "consumer", display, now)
    conn.execute(insert(consumers), {"member_id": member_id, "phone": number})
    ledger.open_member_accounts(conn, member_id)
    return member_id


def phone_taken(number: str) -> Conflict:
    return Conflict("phone_taken", f"手机号 {number} 已注册", f"phone {number} is already registered")


def _insert_member(conn: Connection, kind: str, name: str, now: datetime | None) -> int:
    return int(
        conn.execute(
            insert(members).returning(members.c.id),
            {"kind": kind, "name": name, "frozen": False, "created_at": _now(now)},
        ).scalar_one()
    )


def set_frozen(engine: Engine, member_id: int, frozen: bool) -> dict[str, object]:
    def work(uow: UnitOfWork) -> dict[str, object]:
        repository.member(uow.c, member_id)
        uow.c.execute(update(members).where(members.c.id == member_id).values(frozen=frozen))
        uow.commit()
        return {"id": member_id, "frozen": frozen}

    return transaction(engine, work)


def set_real_name(
    engine: Engine, consumer_id: int, real_name: str, id_number: str, now: datetime | None = None
) -> dict[str, object]:
    """Record a consumer's real name (实名, SPEC §10) once the ID number passes GB 11643.

    Set once: the same details again are answered as before, other details are refused.  One
    identity number belongs to one consumer, so two accounts of one person cannot trade with
    each other.  (A deployment would also check the pair against an identity service here.)
    """
    moment = _now(now)
    name = domain.clean_real_name(real_name)
    number = domain.validate_id_number(id_number, business_day(moment))

    def work(uow: UnitOfWork) -> dict[str, object]:
        repository.consumer(uow.c, consumer_id)
        verified_at = _record_real_name(uow.c, consumer_id, name, number, moment)
        uow.commit()
        return {
            "id": consumer_id,
            "real_name": name,
            "id_number": number[:3] + "*" * 11 + number[-4:],
            "verified_at": verified_at,
        }

    try:
        return transaction(engine, work)
    except IntegrityError:
        # Two accounts claiming one number at once: the unique index let only one through.
        raise id_number_taken() from None


def _record_real_name(conn: Connection, consumer_id: int, name: str, number: str, moment: datetime) -> Any:
    """Record the checked details once; answers when they were recorded."""
    row = conn.execute(select(consumers).where(consumers.c.member_id == consumer_id)).mappings().one()
    if row["real_name_verified_at"] is not None:
        if (row["real_name"], row["id_number"]) != (name, number):
            raise Conflict(
                "real_name_already_set",
                "实名信息已登记，不能自行修改，请联系客服",
                "the real name is already on record and cannot be changed by its holder",
            )
        return row["real_name_verified_at"]
    holder = _holder_of(conn, number)
    if holder is not None and holder != consumer_id:
        raise id_number_taken()
    conn.execute(
        update(consumers)
        .where(consumers.c.member_id == consumer_id)
        .values(real_name=name, id_number=number, real_name_verified_at=moment)
    )
    return moment


def _holder_of(conn: Connection, number: str) -> int | None:
    found = conn.execute(select(consumers.c.member_id).where(consumers.c.id_number == number)).first()
    return None if found is None else int(found[0])


def _id_number_holder(engine: Engine, number: str) -> int | None:
    with reading(engine) as conn:
        return _holder_of(conn, number)


def id_number_taken() -> Conflict:
    return Conflict(
        "id_number_taken",
        "该身份证号码已被另一账户实名登记",
        "this identity number is already registered to another account",
    )


# -- merchants ---------------------------------------------------------------------------


def add_merchant(
    engine: Engine,
    *,
    name: str,
    owner_id: int,
    region: str,
    rate: object,
    now: datetime | None = None,
) -> int:
    """A merchant application (status applied); the owner must be a registered consumer."""
    display = domain.clean_name(name, "商家名称", "merchant name")
    region_code = domain.validate_region(region)
    concession = domain.parse_rate(rate)

    def work(uow: UnitOfWork) -> int:
        rules = rewards.rules_for(uow.c, business_day(_now(now)))
        domain.check_rate_bounds(concession, *rules.concession_bounds)
        owner = repository.consumer(uow.c, owner_id)
        if owner["frozen"]:
            raise Refused("member_frozen", f"会员 {owner_id} 已冻结", f"member {owner_id} is frozen")
        member_id = _insert_member(uow.c, "merchant", display, now)
        uow.c.execute(
            insert(merchants),
            {
                "member_id": member_id,
                "owner_id": owner_id,
                "region_code": region_code,
                "concession_rate": domain.rate_to_units(concession),
                "status": "applied",
            },
        )
        ledger.open_member_accounts(uow.c, member_id)
        uow.commit()
        return member_id

    return transaction(engine, work)


@dataclass(frozen=True)
class MerchantState:
    id: int
    status: str
    suspension_reason: str | None
    deposit: Points
    deposit_required: Points
    available: Points
    moved: Points


def approve_merchant(
    engine: Engine, merchant_id: int, *, actor: str = "operator", now: datetime | None = None
) -> MerchantState:
    def work(uow: UnitOfWork) -> MerchantState:
        row = repository.merchant(uow.c, merchant_id, lock=True)
        domain.require_transition(row["status"], "approved")
        uow.c.execute(
            update(merchants)
            .where(merchants.c.member_id == merchant_id)
            .values(status="approved", approved_at=_now(now), approved_by=actor)
        )
        state = _activate_if_deposited(uow, merchant_id, "approved", None, Points(0))
        uow.commit()
        return state

    return transaction(engine, work)


def _deposit_required(uow: UnitOfWork, now: datetime | None = None) -> Points:
    return rewards.deposit_required(uow.c, business_day(_now(now)))


def _activate_if_deposited(
    uow: UnitOfWork, merchant_id: int, status: str, reason: str | None, moved: Points
) -> MerchantState:
    """approved, or suspended for a deposit shortfall, becomes active once the deposit suffices."""
    bal = ledger.balances(uow.c, str(merchant_id))
    required = _deposit_required(uow)
    deposit = Points(bal["deposit"])
    can_resume = status == "approved" or (status == "suspended" and reason == "deposit_shortfall")
    if can_resume and deposit >= required:
        uow.c.execute(
            update(merchants)
            .where(merchants.c.member_id == merchant_id)
            .values(status="active", suspension_reason=None)
        )
        status, reason = "active", None
    return MerchantState(merchant_id, status, reason, deposit, required, Points(bal["available"]), moved)


def post_deposit(
    engine: Engine, merchant_id: int, *, actor: str = "operator", now: datetime | None = None
) -> MerchantState:
    """Move from available points into the deposit exactly what brings it up to the requirement."""

    def work(uow: UnitOfWork) -> MerchantState:
        row = repository.merchant(uow.c, merchant_id, lock=True)
        if row["status"] in ("applied", "closed"):
            raise Refused(
                "merchant_not_approved",
                f"商家 {merchant_id} 尚未获批或已关闭，不能缴纳保证金",
                f"merchant {merchant_id} is not approved or is closed; no deposit can be posted",
            )
        all_locked = ledger.lock_member_accounts(uow.c, [merchant_id])
        locked = all_locked[merchant_id]
        required = _deposit_required(uow, now)
        missing = required - Points(locked["deposit"][1])
        moved = Points(0)
        if missing.is_positive():
            available = Points(locked["available"][1])
            if available < missing:
                raise Refused(
                    "insufficient_points",
                    f"可用积分 {available} 不足以补足保证金，还差 {missing - available}",
                    f"available points {available} cannot cover the deposit; {missing - available} more needed",
                    required=required,
                    missing=missing,
                    available=available,
                )
            ledger.post(
                uow.c,
                kind="deposit",
                business_day=_posting_day(uow, now),
                legs=[
                    Leg(locked["available"][0], PT, -missing.units),
                    Leg(locked["deposit"][0], PT, missing.units),
                ],
                reference=f"merchant:{merchant_id}",
                reason="deposit top-up",
                actor=actor,
                locked=all_locked.flat(),
            )
            moved = missing
        state = _activate_if_deposited(uow, merchant_id, row["status"], row["suspension_reason"], moved)
        uow.commit()
        return state

    return _sealed(engine, transaction(engine, work))  # type: ignore[return-value]


def _posting_day(uow: UnitOfWork, now: datetime | None) -> date:
    """Postings outside purchases land on today's business day, never before the start day or
    into a day whose settlement has begun (its snapshot must not move)."""
    day = max(business_day(_now(now)), rewards.start_day(uow.c))
    started = rewards.last_started_day(uow.c)
    if started is not None and day <= started:
        day = started + timedelta(days=1)
    return day


def grant_points(
    engine: Engine,
    merchant_id: int,
    amount: object,
    *,
    reason: str,
    actor: str = "operator",
    now: datetime | None = None,
    key: str | None = None,
) -> dict[str, object]:
    """Allocate points from the reserve to a merchant (SPEC §5 bootstrapping), on the record."""
    points = Points.parse(amount)
    if not points.is_positive():
        raise InvalidInput("non_positive_amount", "发放数量必须大于零", "the amount must be positive")
    text = domain.clean_name(reason, "发放原因", "reason")

    def work(uow: UnitOfWork) -> dict[str, object]:
        row = repository.merchant(uow.c, merchant_id)
        if row["status"] == "closed":
            raise Refused(
                "merchant_closed", f"商家 {merchant_id} 已关闭", f"merchant {merchant_id} is closed"
            )
        if key is not None:
            done = ledger.entry_by_key(uow.c, f"grant:{key}")
            if done is not None:
                _same_grant(uow, done, merchant_id, points, text, key)
                return {"merchant": merchant_id, "amount": points, "entry": int(done["id"]), "replayed": True}
        platform = ledger.platform_accounts(uow.c)
        target = ledger.member_accounts(uow.c, merchant_id)["available"]
        entry_id = ledger.post(
            uow.c,
            kind="grant",
            business_day=_posting_day(uow, now),
            legs=[Leg(platform["reserve"], PT, -points.units), Leg(target, PT, points.units)],
            reference=f"merchant:{merchant_id}",
            reason=text,
            actor=actor,
            idempotency_key=None if key is None else f"grant:{key}",
            platform_ids=platform.values(),
        )
        uow.commit()
        return {"merchant": merchant_id, "amount": points, "entry": entry_id, "replayed": False}

    try:
        return _sealed(engine, transaction(engine, work))  # type: ignore[return-value]
    except ledger.InsufficientBalance:
        raise Refused(
            "reserve_exhausted", "平台储备积分不足", "the platform reserve does not hold that many points"
        ) from None


def _same_grant(uow: UnitOfWork, done: Any, merchant_id: int, points: Points, reason: str, key: str) -> None:
    """A retried grant must be the same grant: same merchant, amount and reason."""
    target = ledger.member_accounts(uow.c, merchant_id)["available"]
    credited = (target, PT, points.units) in ledger.entry_legs(uow.c, int(done["id"]))
    if not credited or done["reason"] != reason:
        raise Conflict(
            "idempotency_key_reused",
            "该幂等键已用于另一笔不同的发放",
            "this idempotency key was already used for a different grant",
            key=key,
        )


def set_rate(
    engine: Engine, merchant_id: int, rate: object, *, now: datetime | None = None
) -> dict[str, object]:
    concession = domain.parse_rate(rate)

    def work(uow: UnitOfWork) -> dict[str, object]:
        row = repository.merchant(uow.c, merchant_id, lock=True)
        if row["status"] == "closed":
            raise Refused(
                "merchant_closed", f"商家 {merchant_id} 已关闭", f"merchant {merchant_id} is closed"
            )
        rules = rewards.rules_for(uow.c, business_day(_now(now)))
        domain.check_rate_bounds(concession, *rules.concession_bounds)
        uow.c.execute(
            update(merchants)
            .where(merchants.c.member_id == merchant_id)
            .values(concession_rate=domain.rate_to_units(concession))
        )
        uow.commit()
        return {"id": merchant_id, "concession_rate": concession}

    return transaction(engine, work)


def add_staff(engine: Engine, merchant_id: int, consumer_id: int, role: str = "cashier") -> dict[str, object]:
    if role not in ("cashier", "manager"):
        raise InvalidInput("invalid_role", "岗位只能是 cashier 或 manager", "role must be cashier or manager")

    def work(uow: UnitOfWork) -> dict[str, object]:
        repository.merchant(uow.c, merchant_id)
        repository.consumer(uow.c, consumer_id)
        if repository.is_staff(uow.c, merchant_id, consumer_id):
            raise Conflict("already_staff", "该消费者已是本店员工", "this consumer is already staff here")
        uow.c.execute(
            insert(merchant_staff), {"merchant_id": merchant_id, "consumer_id": consumer_id, "role": role}
        )
        uow.commit()
        return {"merchant": merchant_id, "consumer": consumer_id, "role": role}

    return transaction(engine, work)


def remove_staff(engine: Engine, merchant_id: int, consumer_id: int) -> dict[str, object]:
    """Take a consumer off a merchant's staff; its signed-in sessions lose the merchant at once."""

    def work(uow: UnitOfWork) -> dict[str, object]:
        repository.merchant(uow.c, merchant_id)
        gone = uow.c.execute(
            delete(merchant_staff).where(
                merchant_staff.c.merchant_id == merchant_id, merchant_staff.c.consumer_id == consumer_id
            )
        ).rowcount
        if not gone:
            raise NotFound(
                "staff_not_found",
                f"消费者 {consumer_id} 不是商家 {merchant_id} 的员工",
                f"consumer {consumer_id} is not staff of merchant {merchant_id}",
            )
        uow.commit()
        return {"merchant": merchant_id, "consumer": consumer_id, "removed": True}

    return transaction(engine, work)


def set_merchant_status(
    engine: Engine, merchant_id: int, target: str, *, reason: str = "operator"
) -> dict[str, object]:
    """Operator suspension, resumption or closure, along the status machine."""

    def work(uow: UnitOfWork) -> dict[str, object]:
        row = repository.merchant(uow.c, merchant_id, lock=True)
        domain.require_transition(row["status"], target)
        if target == "active":
            required = _deposit_required(uow)
            if Points(ledger.balances(uow.c, str(merchant_id))["deposit"]) < required:
                raise Refused(
                    "deposit_required",
                    f"保证金不足 {required}，请先补缴",
                    f"the deposit is below {required}; top it up first",
                )
        uow.c.execute(
            update(merchants)
            .where(merchants.c.member_id == merchant_id)
            .values(status=target, suspension_reason=reason if target == "suspended" else None)
        )
        uow.commit()
        return {"id": merchant_id, "status": target}

    return transaction(engine, work)


def rate_of(row: object) -> Decimal:
    return domain.rate_from_units(int(row["concession_rate"]))  # type: ignore[index]
