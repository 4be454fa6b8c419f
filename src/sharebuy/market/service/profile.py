"""A member's standing on the market: the risk notice, payment methods, limits; and the
operator's switch that closes the market (SPEC §10)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from sharebuy.db.uow import UnitOfWork, reading, transaction
from sharebuy.events.repository import utc
from sharebuy.kernel.clock import business_day
from sharebuy.kernel.errors import Conflict, InvalidInput
from sharebuy.kernel.text import clean_text
from sharebuy.market import domain, repository
from sharebuy.market.models import payment_methods
from sharebuy.market.service.common import eligibility, is_open, rules, utc_now


def risk_notice() -> dict[str, Any]:
    return {"version": domain.RISK_NOTICE_VERSION, "zh": domain.RISK_NOTICE_ZH, "en": domain.RISK_NOTICE_EN}


def accept_risk_notice(
    engine: Engine, member_id: int, *, version: int, actor: str, now: datetime | None = None
) -> dict[str, Any]:
    """Record that the member (or the person acting for a merchant) accepted the current notice."""
    moment = utc_now(now)
    if version != domain.RISK_NOTICE_VERSION:
        raise InvalidInput(
            "risk_notice_outdated",
            f"请阅读并接受最新的风险提示（第 {domain.RISK_NOTICE_VERSION} 版）",
            f"read and accept the current risk notice (version {domain.RISK_NOTICE_VERSION})",
        )

    def work(uow: UnitOfWork) -> dict[str, Any]:
        repository.party(uow.c, member_id)
        repository.upsert_profile(
            uow.c,
            member_id,
            moment,
            risk_accepted_at=moment,
            risk_notice_version=version,
            risk_accepted_by=actor,
        )
        view = _profile(uow, member_id, moment)
        uow.commit()
        return view

    return transaction(engine, work)


def profile(engine: Engine, member_id: int, now: datetime | None = None) -> dict[str, Any]:
    with UnitOfWork(engine, readonly=True) as uow:
        return _profile(uow, member_id, utc_now(now))


def _profile(uow: UnitOfWork, member_id: int, now: datetime) -> dict[str, Any]:
    conn = uow.c
    party = repository.party(conn, member_id)
    book = rules(conn, now)
    reasons = eligibility(conn, member_id, book)
    cancelled = repository.cancellations(conn, member_id, business_day(now))
    return {
        "member_id": member_id,
        "kind": party["kind"],
        "real_name_verified": party["real_name_verified_at"] is not None,
        "real_name_required": bool(book["c2c_real_name_required"]),
        "risk_notice_accepted_at": utc(party["risk_accepted_at"]),
        "risk_notice_version": party["risk_notice_version"],
        "risk_notice_current": domain.RISK_NOTICE_VERSION,
        "can_trade": not reasons,
        "refusals": [code for code, _, _ in reasons],
        "market_open": is_open(conn, book),
        "open_trades": repository.open_trades_taken(conn, member_id),
        "open_trades_limit": int(book["c2c_max_open_trades_per_member"]),
        "cancellations_today": cancelled,
        "may_buy_today": cancelled < domain.CANCELS_PER_DAY,
    }


# -- payment methods ----------------------------------------------------------------------------


def method_view(row: Any, *, full: bool = True) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "kind": row["kind"],
        "account_name": row["account_name"],
        "account_id": row["account_id"] if full else domain.mask(row["account_id"]),
        "bank_name": row["bank_name"],
    }


MAX_METHODS = 10


def add_payment_method(
    engine: Engine,
    member_id: int,
    *,
    kind: str,
    account_name: str,
    account_id: str,
    bank_name: str = "",
    now: datetime | None = None,
) -> dict[str, Any]:
    moment = utc_now(now)
    (clean_kind,) = domain.parse_kinds([kind])
    name, ident, bank = domain.clean_account(clean_kind, account_name, account_id, bank_name)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        repository.party(uow.c, member_id)
        existing = repository.methods_of(uow.c, member_id)
        if any(m["kind"] == clean_kind and m["account_id"] == ident for m in existing):
            raise Conflict(
                "payment_method_exists", "该收款方式已添加", "this payment method is already on file"
            )
        if len(existing) >= MAX_METHODS:
            raise Conflict(
                "too_many_payment_methods",
                f"最多保存 {MAX_METHODS} 个收款方式",
                f"at most {MAX_METHODS} payment methods",
            )
        method_id = repository.insert_row(
            uow.c,
            payment_methods,
            {
                "member_id": member_id,
                "kind": clean_kind,
                "account_name": name,
                "account_id": ident,
                "bank_name": bank,
                "active": True,
                "created_at": moment,
            },
        )
        view = method_view(repository.method(uow.c, member_id, method_id))
        uow.commit()
        return view

    return transaction(engine, work)


def list_payment_methods(engine: Engine, member_id: int) -> list[dict[str, Any]]:
    with reading(engine) as conn:
        repository.party(conn, member_id)
        return [method_view(m) for m in repository.methods_of(conn, member_id)]


def remove_payment_method(engine: Engine, member_id: int, method_id: int) -> dict[str, Any]:
    """Retire a method; trades already open keep the details they showed their buyer."""

    def work(uow: UnitOfWork) -> dict[str, Any]:
        row = repository.method(uow.c, member_id, method_id)
        repository.update_row(uow.c, payment_methods, method_id, active=False)
        uow.commit()
        return {**method_view(row), "removed": True}

    return transaction(engine, work)


# -- the operator's switch ----------------------------------------------------------------------


def set_market_open(
    engine: Engine, open_: bool, *, reason: str, actor: str, now: datetime | None = None
) -> dict[str, Any]:
    """Open or close the market at once.  Closed: no new listings, buy orders or trades; open
    trades finish, and listings can still be cancelled (their escrow returns)."""
    moment = utc_now(now)
    text = clean_text(reason, "原因", "reason", required=not open_)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        repository.set_switch(uow.c, open_=open_, reason=text, actor=actor, now=moment)
        view = _status(uow, moment)
        uow.commit()
        return view

    return transaction(engine, work)


def market_status(engine: Engine, now: datetime | None = None) -> dict[str, Any]:
    with UnitOfWork(engine, readonly=True) as uow:
        return _status(uow, utc_now(now))


def _status(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
    book = rules(uow.c, now)
    switch = repository.switch(uow.c)
    return {
        "open": is_open(uow.c, book),
        "switch_open": True if switch is None else bool(switch["open"]),
        "rule_open": bool(book["c2c_market_open"]),
        "reason": "" if switch is None else switch["reason"],
        "changed_by": None if switch is None else switch["actor"],
        "changed_at": None if switch is None else utc(switch["changed_at"]),
    }
