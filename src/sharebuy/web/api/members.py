"""Consumers and merchants: balances, history, applying, approval, deposit, rate, staff, POS keys."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse

from sharebuy.identity import service as identity
from sharebuy.members import queries
from sharebuy.members import service as members
from sharebuy.web.api.common import (
    ERROR_RESPONSES,
    IDEMPOTENCY_RESPONSES,
    MAX_ID,
    Id,
    IdempotencyKey,
    RequiredIdempotencyKey,
    idempotent,
    next_before,
    plain,
    problems,
)
from sharebuy.web.api.schemas import (
    ApiKeyCreatedOut,
    ApiKeyIn,
    ApiKeyOut,
    ConsumerBalanceOut,
    ConsumerOut,
    GrantIn,
    GrantOut,
    HistoryPage,
    MerchantApplyIn,
    MerchantBalanceOut,
    MerchantOut,
    MerchantStateOut,
    RateIn,
    RateOut,
    StaffIn,
    StaffOut,
)
from sharebuy.web.deps import (
    AdminDep,
    ConsumerDep,
    EngineDep,
    PrincipalDep,
    UserDep,
    may_act_for_merchant,
    may_read_member,
    may_read_merchant,
)

router = APIRouter(tags=["members 会员与商家"], responses=ERROR_RESPONSES)

Limit = Annotated[int, Query(ge=1, le=200)]
Kind = Annotated[str | None, Query(max_length=24, pattern=r"^[a-z0-9_.]+$", examples=["purchase"])]
Before = Annotated[int | None, Query(ge=1, le=MAX_ID, description="id of the last item already seen")]


def _history(
    engine: Any,
    member_id: int,
    kind: str | None,
    day_from: date | None,
    day_to: date | None,
    before: int | None,
    limit: int,
) -> dict[str, Any]:
    items = queries.history(
        engine, member_id, kind=kind, day_from=day_from, day_to=day_to, before=before, limit=limit
    )
    return {"items": plain(items), "next_before": next_before(items, limit)}


# -- consumers ---------------------------------------------------------------------------------


@router.get("/consumers/{consumer_id}", response_model=ConsumerOut)
def consumer(consumer_id: Id, engine: EngineDep, principal: PrincipalDep) -> object:
    """消费者资料（本人或运营）· a consumer's profile (self or operator)."""
    may_read_member(principal, consumer_id)
    return plain(queries.consumer_profile(engine, consumer_id))


@router.get("/consumers/{consumer_id}/balance", response_model=ConsumerBalanceOut)
def consumer_balance(consumer_id: Id, engine: EngineDep, principal: PrincipalDep) -> object:
    """共享值与积分余额 · share value and points."""
    may_read_member(principal, consumer_id)
    return plain(queries.consumer_balance(engine, consumer_id))


@router.get("/consumers/{consumer_id}/history", response_model=HistoryPage)
def consumer_history(
    consumer_id: Id,
    engine: EngineDep,
    principal: PrincipalDep,
    kind: Kind = None,
    day_from: Annotated[date | None, Query(alias="from")] = None,
    day_to: Annotated[date | None, Query(alias="to")] = None,
    before: Before = None,
    limit: Limit = 50,
) -> object:
    """账户流水（分页，可按日期与类型筛选）· ledger history, newest first."""
    may_read_member(principal, consumer_id)
    return _history(engine, consumer_id, kind, day_from, day_to, before, limit)


# -- merchants ---------------------------------------------------------------------------------


@router.post(
    "/merchants",
    status_code=status.HTTP_201_CREATED,
    response_model=MerchantOut,
    responses=IDEMPOTENCY_RESPONSES,
)
def apply(
    body: MerchantApplyIn,
    request: Request,
    engine: EngineDep,
    principal: ConsumerDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """申请开店（本人为店主，待运营审批）· apply to open a merchant, owned by you."""
    assert principal.member_id is not None
    owner = principal.member_id

    def effect() -> dict[str, Any]:
        merchant_id = members.add_merchant(
            engine, name=body.name, owner_id=owner, region=body.region_code, rate=body.concession_rate
        )
        return queries.merchant_profile(engine, merchant_id)

    return idempotent(request, engine, principal, key, body, effect, status_code=201, atomic=False)


@router.get("/merchants", response_model=list[MerchantOut])
def merchant_list(
    engine: EngineDep,
    principal: PrincipalDep,
    status_: Annotated[str | None, Query(alias="status", max_length=10, pattern=r"^[a-z_]+$")] = None,
    before: Before = None,
    limit: Limit = 50,
) -> object:
    """商家列表：运营看全部，其他人看自己名下的 · operators see all; others their own."""
    ids = None if principal.role in ("admin", "auditor") else principal.merchant_ids
    return plain(queries.merchant_list(engine, status=status_, ids=ids, before=before, limit=limit))


@router.get("/merchants/{merchant_id}", response_model=MerchantOut)
def merchant(merchant_id: Id, engine: EngineDep, principal: PrincipalDep) -> object:
    may_read_merchant(principal, merchant_id)
    return plain(queries.merchant_profile(engine, merchant_id))


@router.get("/merchants/{merchant_id}/balance", response_model=MerchantBalanceOut)
def merchant_balance(merchant_id: Id, engine: EngineDep, principal: PrincipalDep) -> object:
    """商家积分、保证金与状态 · a merchant's points, deposit and status."""
    may_read_merchant(principal, merchant_id)
    return plain(queries.merchant_balance(engine, merchant_id))


@router.get("/merchants/{merchant_id}/history", response_model=HistoryPage)
def merchant_history(
    merchant_id: Id,
    engine: EngineDep,
    principal: PrincipalDep,
    kind: Kind = None,
    day_from: Annotated[date | None, Query(alias="from")] = None,
    day_to: Annotated[date | None, Query(alias="to")] = None,
    before: Before = None,
    limit: Limit = 50,
) -> object:
    may_read_merchant(principal, merchant_id)
    return _history(engine, merchant_id, kind, day_from, day_to, before, limit)


@router.post(
    "/merchants/{merchant_id}/approve", response_model=MerchantStateOut, responses=IDEMPOTENCY_RESPONSES
)
def approve(
    merchant_id: Id, request: Request, engine: EngineDep, principal: AdminDep, key: IdempotencyKey = None
) -> JSONResponse:
    """审批商家（运营）· approve a merchant (admin)."""
    actor = f"user:{principal.user_id}"
    return idempotent(
        request,
        engine,
        principal,
        key,
        None,
        lambda: members.approve_merchant(engine, merchant_id, actor=actor),
    )


@router.post(
    "/merchants/{merchant_id}/deposit", response_model=MerchantStateOut, responses=IDEMPOTENCY_RESPONSES
)
def deposit(
    merchant_id: Id, request: Request, engine: EngineDep, principal: UserDep, key: RequiredIdempotencyKey
) -> JSONResponse:
    """缴纳或补足保证金（店主）· post or top up the deposit from available points (owner)."""
    may_act_for_merchant(principal, merchant_id, owner_only=True)
    actor = f"user:{principal.user_id}"
    return idempotent(
        request,
        engine,
        principal,
        key,
        None,
        lambda: members.post_deposit(engine, merchant_id, actor=actor),
    )


@router.put("/merchants/{merchant_id}/rate", response_model=RateOut)
def set_rate(merchant_id: Id, body: RateIn, engine: EngineDep, principal: UserDep) -> object:
    """修改让利比例（须在规则上下限内）· change the concession rate within the rulebook's bounds."""
    may_act_for_merchant(principal, merchant_id, owner_only=True)
    return plain(members.set_rate(engine, merchant_id, body.concession_rate))


@router.post(
    "/merchants/{merchant_id}/staff",
    status_code=status.HTTP_201_CREATED,
    response_model=StaffOut,
    responses=problems({409: "the consumer is already staff here"}),
)
def add_staff(merchant_id: Id, body: StaffIn, engine: EngineDep, principal: UserDep) -> object:
    """添加店员（按手机号）· add a staff member by phone (owner)."""
    may_act_for_merchant(principal, merchant_id, owner_only=True)
    consumer_id = queries.consumer_id_by_phone(engine, body.phone)
    return plain(members.add_staff(engine, merchant_id, consumer_id))


@router.post("/merchants/{merchant_id}/grants", response_model=GrantOut, responses=IDEMPOTENCY_RESPONSES)
def grant(
    merchant_id: Id,
    body: GrantIn,
    request: Request,
    engine: EngineDep,
    principal: AdminDep,
    key: RequiredIdempotencyKey,
) -> JSONResponse:
    """从储备发放积分（运营，启动期）· allocate points from the reserve (admin, bootstrapping)."""
    actor = f"user:{principal.user_id}"
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: members.grant_points(engine, merchant_id, body.amount, reason=body.reason, actor=actor),
    )


# -- POS keys ----------------------------------------------------------------------------------


@router.post(
    "/merchants/{merchant_id}/api-keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreatedOut
)
def create_key(merchant_id: Id, body: ApiKeyIn, engine: EngineDep, principal: UserDep) -> object:
    """创建收银机密钥（只显示一次）· create a POS key (shown once)."""
    may_act_for_merchant(principal, merchant_id, owner_only=True)
    return plain(identity.create_api_key(engine, merchant_id, name=body.name, created_by=principal.user_id))


@router.get("/merchants/{merchant_id}/api-keys", response_model=list[ApiKeyOut])
def list_keys(merchant_id: Id, engine: EngineDep, principal: UserDep) -> object:
    may_act_for_merchant(principal, merchant_id, owner_only=True)
    return plain(identity.list_api_keys(engine, merchant_id))


@router.delete("/merchants/{merchant_id}/api-keys/{key_id}", response_model=ApiKeyOut)
def revoke_key(merchant_id: Id, key_id: Id, engine: EngineDep, principal: UserDep) -> object:
    """吊销收银机密钥 · revoke a POS key."""
    may_act_for_merchant(principal, merchant_id, owner_only=True)
    return plain(identity.revoke_api_key(engine, merchant_id, key_id))
