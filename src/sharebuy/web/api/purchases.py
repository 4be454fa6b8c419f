"""Purchases recorded at the till (a POS key or the merchant's staff) and their refunds."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from sharebuy.identity.service import Principal
from sharebuy.kernel.errors import Forbidden, InvalidInput, not_found
from sharebuy.members import queries as member_queries
from sharebuy.rewards import purchase_service, queries
from sharebuy.web.api.common import (
    ERROR_RESPONSES,
    IDEMPOTENCY_RESPONSES,
    Id,
    IdQuery,
    RequiredIdempotencyKey,
    idempotent,
    next_before,
    plain,
)
from sharebuy.web.api.schemas import PurchaseIn, PurchaseOut, PurchasePage, RefundIn, RefundOut
from sharebuy.web.deps import (
    Credentials,
    CredentialsDep,
    EngineDep,
    PrincipalDep,
    may_act_for_merchant,
    may_read_member,
)
from sharebuy.web.observability import PURCHASES, REFUNDS

router = APIRouter(prefix="/purchases", tags=["purchases 消费"], responses=ERROR_RESPONSES)


def _merchant_of(principal: Principal, body: PurchaseIn) -> int:
    """A POS key speaks for its one merchant; staff name the merchant they are serving at."""
    if principal.role == "pos":
        (own,) = principal.merchant_ids
        if body.merchant_id not in (None, own):
            may_act_for_merchant(principal, body.merchant_id, pos=True)
        return own
    if body.merchant_id is None:
        raise InvalidInput("merchant_required", "请指定商家 merchant_id", "merchant_id is required")
    return body.merchant_id


def _consumer_of(engine: Any, body: PurchaseIn) -> int:
    if (body.consumer_id is None) == (body.consumer_phone is None):
        raise InvalidInput(
            "consumer_required",
            "请提供 consumer_id 或 consumer_phone 之一",
            "give exactly one of consumer_id and consumer_phone",
        )
    if body.consumer_id is not None:
        return body.consumer_id
    assert body.consumer_phone is not None
    return member_queries.consumer_id_by_phone(engine, body.consumer_phone)


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=PurchaseOut, responses=IDEMPOTENCY_RESPONSES
)
async def record(
    body: PurchaseIn,
    request: Request,
    engine: EngineDep,
    caller: CredentialsDep,
    key: RequiredIdempotencyKey,
) -> JSONResponse:
    """记录一笔消费（收银机密钥或店员）· record a purchase (POS key or staff); Idempotency-Key required."""
    # The tills' route: the key's check and the sale in one worker thread (one hand-off, not two).
    return await run_in_threadpool(_record, body, request, engine, caller, key)


def _record(
    body: PurchaseIn, request: Request, engine: Engine, caller: Credentials, key: str
) -> JSONResponse:
    principal = caller.principal(engine)
    merchant_id = _merchant_of(principal, body)
    may_act_for_merchant(principal, merchant_id, pos=True)
    consumer_id = _consumer_of(engine, body)
    actor = principal.scope

    def effect() -> purchase_service.PurchaseResult:
        result = purchase_service.record_purchase(
            engine,
            merchant_id=merchant_id,
            consumer_id=consumer_id,
            amount=body.amount,
            at=body.at,
            key=key,
            actor=actor,
        )
        if not result.replayed:
            PURCHASES.inc()
        return result

    # Optimistic: the sale writes only inside its transaction, where the key's record is
    # written too, and a retried key makes it replay or refuse; no read of the key first.
    return idempotent(request, engine, principal, key, body, effect, status_code=201, optimistic=True)


@router.get("", response_model=PurchasePage)
def purchase_list(
    engine: EngineDep,
    principal: PrincipalDep,
    merchant_id: IdQuery = None,
    consumer_id: IdQuery = None,
    day_from: Annotated[date | None, Query(alias="from")] = None,
    day_to: Annotated[date | None, Query(alias="to")] = None,
    before: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> object:
    """消费记录：消费者看自己的，商家看本店的，运营看全部 · purchases you may see, newest first."""
    if principal.role not in ("admin", "auditor"):
        if merchant_id is not None:
            may_act_for_merchant(principal, merchant_id, pos=True)
        elif consumer_id is not None:
            may_read_member(principal, consumer_id)
        elif principal.role == "pos":
            merchant_id = next(iter(principal.merchant_ids))
        else:
            consumer_id = principal.member_id
    items = queries.purchase_list(
        engine,
        consumer_id=consumer_id,
        merchant_id=merchant_id,
        day_from=day_from,
        day_to=day_to,
        before=before,
        limit=limit,
    )
    return {"items": plain(items), "next_before": next_before(items, limit)}


def _may_read_purchase(principal: Principal, found: dict[str, Any]) -> None:
    """Its consumer, its shop's people and tills, and the operators read a purchase.  Anybody else
    is answered as if it did not exist: another shop's purchase ids say nothing about its sales."""
    if principal.role in ("admin", "auditor") or principal.member_id == found["consumer_id"]:
        return
    try:
        may_act_for_merchant(principal, found["merchant_id"], pos=True)
    except Forbidden:
        raise not_found("消费记录", "purchase", found["id"]) from None


@router.get("/{purchase_id}", response_model=PurchaseOut)
def purchase(purchase_id: Id, engine: EngineDep, principal: PrincipalDep) -> object:
    found = queries.purchase(engine, purchase_id)
    _may_read_purchase(principal, found)
    return plain(found)


@router.post("/{purchase_id}/refund", response_model=RefundOut, responses=IDEMPOTENCY_RESPONSES)
def refund(
    purchase_id: Id,
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    key: RequiredIdempotencyKey,
    body: RefundIn | None = None,
) -> JSONResponse:
    """退款（收银机密钥或店员，退款期内）· refund within the refund window (POS key or staff)."""
    found = queries.purchase(engine, purchase_id)
    _may_read_purchase(principal, found)  # a stranger learns nothing: 404
    may_act_for_merchant(principal, found["merchant_id"], pos=True)  # a reader who is no till: 403
    at = body.at if body is not None else None

    def effect() -> purchase_service.RefundResult:
        result = purchase_service.refund_purchase(engine, purchase_id, at=at, actor=principal.scope)
        if not result.replayed:
            REFUNDS.inc()
        return result

    return idempotent(request, engine, principal, key, body, effect)
