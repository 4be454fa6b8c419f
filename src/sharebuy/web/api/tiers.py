"""Membership tiers, the dividend pool and green certification (SPEC §7).

Reading the ladder is open to everyone signed in; a member's tier and dividends to the member
(and the owner and staff of a merchant), and to the operators; changing the ladder, evaluating,
paying a period and certifying merchants to the admin; reports to the admin and the auditor.
"""

from __future__ import annotations

from datetime import date, datetime
from datetime import date as Day  # `date` is also a field name below
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from sharebuy.tiers import dividends, green
from sharebuy.tiers import service as tiers
from sharebuy.web.api.common import (
    ERROR_RESPONSES,
    IDEMPOTENCY_RESPONSES,
    Id,
    IdempotencyKey,
    idempotent,
    plain,
)
from sharebuy.web.api.schemas import Body, CnyText
from sharebuy.web.deps import (
    AdminDep,
    EngineDep,
    OperatorDep,
    PrincipalDep,
    may_read_member,
    may_read_merchant,
)

router = APIRouter(tags=["tiers 会员等级与分红"], responses=ERROR_RESPONSES)

TierCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,15}$"), Field(examples=["gold"])]
PeriodText = Annotated[
    str,
    StringConstraints(pattern=r"^\d{4}-\d{2}(-\d{2})?$"),
    Field(description="YYYY-MM-DD (a day) or YYYY-MM (a month)", examples=["2025-03"]),
]
PeriodPath = Annotated[str, Path(pattern=r"^\d{4}-\d{2}(-\d{2})?$", examples=["2025-03"])]
Short = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class TierIn(Body):
    code: TierCode
    member_kind: Literal["consumer", "merchant"]
    name_zh: Short
    name_en: Short
    threshold: CnyText = Field(description="CNY of the member's own consumption (or turnover)")
    weight: int = Field(ge=0, le=10_000, description="dividend weight of each member of the tier")


class TierOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    code: str
    member_kind: str
    name_zh: str
    name_en: str
    threshold: str
    weight: int


class EvaluateIn(Body):
    date: Day | None = Field(default=None, description="a settled business day (default: the last one)")


class EvaluationOut(BaseModel):
    business_day: date
    basis_from: date | None
    downgrade: str
    evaluated: int
    upgraded: int
    downgraded: int
    kept: int


class TierChangeOut(BaseModel):
    business_day: date
    from_code: str | None
    to_code: str | None
    basis: str


class DividendLineOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    member_id: int
    tier_code: str
    points: str


class MemberDividendOut(BaseModel):
    period: str
    tier_code: str
    points: str


class MemberTierOut(BaseModel):
    member_id: int
    member_kind: str
    tier: TierOut | None
    since: date | None
    basis: str | None
    basis_day: date | None
    next_tier: TierOut | None
    history: list[TierChangeOut]
    dividends: list[MemberDividendOut]


class RunIn(Body):
    period: PeriodText


class PeriodTierOut(BaseModel):
    tier_code: str
    name_zh: str
    name_en: str
    weight: int
    members: int
    amount: str


class PeriodOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    period: str
    kind: str
    first_day: date
    last_day: date
    turnover: str
    pool_wanted: str
    pool: str
    capped: bool
    members: int


class PeriodReportOut(PeriodOut):
    rule_version: int
    pool_rate: str
    guide_price: str
    fee_balance: str
    leftover_units: int
    entry_id: int | None
    actor: str
    tiers: list[PeriodTierOut]
    replayed: bool = False


class LinesPage(BaseModel):
    items: list[DividendLineOut]
    next_offset: int | None


class GreenIn(Body):
    green: bool
    note: Annotated[str, StringConstraints(max_length=500)] = ""


class GreenOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    merchant_id: int
    green: bool
    changed_at: datetime | None = None


# -- the ladder -----------------------------------------------------------------------------


@router.get("/tiers", response_model=list[TierOut])
def list_tiers(engine: EngineDep, principal: PrincipalDep) -> object:
    """会员等级阶梯（登录可读；人数仅运营可见）· the ladder; member counts for operators only."""
    found = tiers.list_tiers(engine)
    if principal.role not in ("admin", "auditor"):
        found = [{k: v for k, v in t.items() if k != "members"} for t in found]
    return plain(found)


@router.post("/tiers", response_model=TierOut, responses=IDEMPOTENCY_RESPONSES)
def set_tier(
    body: TierIn, request: Request, engine: EngineDep, principal: AdminDep, key: IdempotencyKey = None
) -> JSONResponse:
    """新增或修改等级（下次评定起生效，运营）· add or change a tier (admin)."""
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: tiers.set_tier(
            engine,
            code=body.code,
            member_kind=body.member_kind,
            name_zh=body.name_zh,
            name_en=body.name_en,
            threshold=body.threshold,
            weight=body.weight,
            actor=principal.scope,
        ),
    )


@router.delete("/tiers/{code}", responses=IDEMPOTENCY_RESPONSES)
def remove_tier(
    code: Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,15}$")],
    request: Request,
    engine: EngineDep,
    principal: AdminDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """删除无人持有的等级（运营）· remove a tier nobody holds (admin)."""
    return idempotent(
        request, engine, principal, key, None, lambda: tiers.remove_tier(engine, code, actor=principal.scope)
    )


@router.post("/tiers/evaluate", response_model=EvaluationOut, responses=IDEMPOTENCY_RESPONSES)
def evaluate(
    body: EvaluateIn, request: Request, engine: EngineDep, principal: AdminDep, key: IdempotencyKey = None
) -> JSONResponse:
    """按已结算营业日评定会员等级（运营）· evaluate every member for a settled day (admin)."""
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: tiers.evaluate(engine, body.date, actor=principal.scope),
    )


@router.get("/members/{member_id}/tier", response_model=MemberTierOut)
def member_tier(member_id: Id, engine: EngineDep, principal: PrincipalDep) -> object:
    """会员本人的等级、本人消费（或营业额）、变更记录与分红 · a member's tier, history, dividends."""
    may_read_member(principal, member_id)
    found = tiers.member_tier(engine, member_id)
    return plain({**found, "dividends": dividends.member_dividends(engine, member_id)})


# -- the dividend pool ----------------------------------------------------------------------


@router.get("/dividends", response_model=list[PeriodOut])
def periods(
    engine: EngineDep,
    principal: OperatorDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**6)] = 0,
) -> object:
    """已发放的分红周期（运营、审计）· paid dividend periods, newest first (admin, auditor)."""
    return plain(dividends.periods(engine, limit=limit, offset=offset))


@router.post(
    "/dividends",
    response_model=PeriodReportOut,
    status_code=status.HTTP_201_CREATED,
    responses=IDEMPOTENCY_RESPONSES,
)
def run_period(
    body: RunIn, request: Request, engine: EngineDep, principal: AdminDep, key: IdempotencyKey = None
) -> JSONResponse:
    """发放一个周期的分红（每个周期至多一次，运营）· pay one period (at most once, admin)."""
    # A period is paid once by construction (its unique key), so the record follows (atomic=False).
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: dividends.run_period(engine, body.period, actor=principal.scope),
        status_code=201,
        atomic=False,
    )


@router.get("/dividends/{period}", response_model=PeriodReportOut)
def period_report(period: PeriodPath, engine: EngineDep, principal: OperatorDep) -> object:
    """一个周期的报告：奖池、封顶、各级人数与金额 · one period's report (admin, auditor)."""
    return plain(dividends.report(engine, period))


@router.get("/dividends/{period}/lines", response_model=LinesPage)
def period_lines(
    period: PeriodPath,
    engine: EngineDep,
    principal: PrincipalDep,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> object:
    """每位会员的分红明细：运营看全部，会员只看自己的 · per-member lines; members see their own."""
    member_id = None
    if principal.role not in ("admin", "auditor"):
        member_id = principal.member_id if principal.member_id is not None else -1
    items = dividends.lines(engine, period, member_id=member_id, limit=limit, offset=offset)
    return {"items": plain(items), "next_offset": offset + limit if len(items) == limit else None}


# -- green certification --------------------------------------------------------------------


@router.get("/merchants/{merchant_id}/green", response_model=GreenOut)
def green_status(merchant_id: Id, engine: EngineDep, principal: PrincipalDep) -> object:
    """商家的绿色认证状态与记录 · a merchant's green status and its log."""
    may_read_merchant(principal, merchant_id)
    return plain(green.status(engine, merchant_id))


@router.post("/merchants/{merchant_id}/green", response_model=GreenOut, responses=IDEMPOTENCY_RESPONSES)
def set_green(
    merchant_id: Id,
    body: GreenIn,
    request: Request,
    engine: EngineDep,
    principal: AdminDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """认证或撤销绿色商家（运营）· certify a merchant green, or revoke (admin)."""
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: green.set_green(engine, merchant_id, body.green, actor=principal.scope, note=body.note),
    )


@router.get("/green-merchants", response_model=list[GreenOut])
def green_merchants(engine: EngineDep, principal: OperatorDep) -> object:
    """认证过的商家（运营、审计）· merchants ever certified (admin, auditor)."""
    return plain(green.green_merchants_list(engine))
