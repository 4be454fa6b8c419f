"""The rulebook, settlements, verify and the economy summary."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse

from sharebuy.kernel.clock import business_day
from sharebuy.members import queries as member_queries
from sharebuy.rewards import platform_service, queries, settlement_service
from sharebuy.web.api.common import (
    IDEMPOTENCY_RESPONSES,
    INVALID,
    MAX_ID,
    SIGNED_IN,
    IdempotencyKey,
    idempotent,
    plain,
)
from sharebuy.web.api.schemas import (
    EconomyOut,
    RulesChangeIn,
    SettleIn,
    SettlementLinesPage,
    SettlementOut,
    VerifyOut,
)
from sharebuy.web.deps import AdminDep, EngineDep, OperatorDep, PrincipalDep
from sharebuy.web.observability import SETTLEMENT_SECONDS, record_verify

router = APIRouter(tags=["platform 平台"], responses=INVALID)

NOTICE_ZH = (
    "共享积分的价格由会员之间的交易决定，可能下跌；本平台不承诺任何收益，也不保证积分可以按任何价格售出。"
)
NOTICE_EN = (
    "The price of shared points is set by trades between members and can fall; the platform promises no "
    "return and does not guarantee that points can be sold at any price."
)


@router.get("/rules")
def rules(engine: EngineDep, on: Annotated[date | None, Query(alias="date")] = None) -> Any:
    """运营规则（任何人可读）· the rulebook in force on a day, and its versions."""
    return plain(platform_service.show_rules(engine, day=on))


@router.post("/rules", status_code=status.HTTP_201_CREATED, responses={**SIGNED_IN, **IDEMPOTENCY_RESPONSES})
def change_rules(
    body: RulesChangeIn, request: Request, engine: EngineDep, principal: AdminDep, key: IdempotencyKey = None
) -> JSONResponse:
    """新规则版本，自某营业日起生效（运营）· a new rule version from a business day on (admin)."""
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: platform_service.set_rules(
            engine, body.changes, effective_from=body.effective_from, actor=principal.scope, note=body.note
        ),
        status_code=201,
    )


@router.get("/settlements", response_model=list[SettlementOut], responses=SIGNED_IN)
def settlements(
    engine: EngineDep,
    principal: PrincipalDep,
    before: Annotated[date | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 30,
) -> object:
    """每日释放记录 · daily releases, newest first."""
    return plain(queries.settlement_list(engine, before=before, limit=limit))


@router.get("/settlements/{day}", response_model=SettlementOut, responses=SIGNED_IN)
def settlement(day: date, engine: EngineDep, principal: PrincipalDep) -> object:
    return plain(settlement_service.report(engine, day))


@router.get("/settlements/{day}/lines", response_model=SettlementLinesPage, responses=SIGNED_IN)
def settlement_lines(
    day: date,
    engine: EngineDep,
    principal: PrincipalDep,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> object:
    """每位持有人的释放明细：运营看全部，会员只看自己的 · per-holder lines; members see their own."""
    member_id = None
    if principal.role not in ("admin", "auditor"):
        member_id = principal.member_id if principal.member_id is not None else -1
    items = settlement_service.lines(engine, day, member_id=member_id, limit=limit, offset=offset)
    return {"items": plain(items), "next_offset": offset + limit if len(items) == limit else None}


@router.post(
    "/settlements", response_model=list[SettlementOut], responses={**SIGNED_IN, **IDEMPOTENCY_RESPONSES}
)
def settle(
    body: SettleIn, request: Request, engine: EngineDep, principal: AdminDep, key: IdempotencyKey = None
) -> JSONResponse:
    """结算到某营业日（默认昨天；已结算的日子不会重复释放）· settle through a day (admin)."""

    def effect() -> list[Any]:
        started = time.perf_counter()
        reports = settlement_service.settle(engine, through=body.date)
        if any(not r.replayed for r in reports):
            SETTLEMENT_SECONDS.observe((time.perf_counter() - started) / max(1, len(reports)))
        return reports

    # A day is settled once by construction, so the record follows the run (atomic=False).
    return idempotent(request, engine, principal, key, body, effect, atomic=False)


@router.get("/verify", response_model=VerifyOut, responses=SIGNED_IN)
def verify(engine: EngineDep, principal: OperatorDep) -> object:
    """校验账本不变量（运营、审计）· check every ledger invariant (admin, auditor)."""
    report = platform_service.verify_platform(engine)
    record_verify(report.ok)
    return plain(report.as_dict())


@router.get("/economy", response_model=EconomyOut)
def economy(engine: EngineDep) -> object:
    """平台经济概况（公开）· the economy in figures (public), with the risk notice."""
    balance = member_queries.platform_balance(engine)
    totals = queries.turnover(engine, business_day(datetime.now(UTC)))
    return plain(
        {
            "total_issue": balance["total_issue"],
            "reserve": balance["reserve"],
            "released": balance["released"],
            "burned": balance["burned"],
            "fees": balance["fees"],
            "held_by_members": balance["held_by_members"],
            "share_value_issued": balance["share_value_issued"],
            "share_value_retired": balance["share_value_retired"],
            "share_value_outstanding": balance["share_value_outstanding"],
            "guide_price": balance["guide_price"],
            "turnover_amount": totals["amount"],
            "turnover_purchases": totals["purchases"],
            "merchants_by_status": member_queries.merchants_by_status(engine),
            "notice_zh": NOTICE_ZH,
            "notice_en": NOTICE_EN,
        }
    )
