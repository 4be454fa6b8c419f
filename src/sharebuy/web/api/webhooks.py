"""Merchants' webhook endpoints and their delivery log (owner only).

Creating an endpoint or rotating its secret answers the signing secret once; those answers are
deliberately not kept as idempotency records, so the secret is never stored anywhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field, StringConstraints

from sharebuy.events import service as events
from sharebuy.web.api.common import ERROR_RESPONSES, Id, IdQuery, plain
from sharebuy.web.api.schemas import Body
from sharebuy.web.deps import EngineDep, UserDep, may_act_for_merchant

router = APIRouter(
    prefix="/merchants/{merchant_id}/webhooks", tags=["webhooks 回调"], responses=ERROR_RESPONSES
)


class EndpointIn(Body):
    url: Annotated[str, StringConstraints(min_length=8, max_length=512)] = Field(
        examples=["https://pos.example.cn/sharebuy/events"]
    )
    topics: list[Annotated[str, StringConstraints(max_length=48)]] = Field(
        default_factory=lambda: ["*"], examples=[["purchase.recorded", "purchase.refunded"]]
    )


class EndpointOut(BaseModel):
    id: int
    url: str
    topics: list[str]
    active: bool
    created_at: datetime
    disabled_at: datetime | None


class EndpointCreatedOut(BaseModel):
    id: int
    url: str
    topics: list[str]
    secret: str = Field(description="signing secret, shown once")
    created_at: datetime


class SecretOut(BaseModel):
    id: int
    secret: str


class DeliveryOut(BaseModel):
    id: int
    endpoint_id: int
    event_id: int
    topic: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


@router.post("", status_code=status.HTTP_201_CREATED, response_model=EndpointCreatedOut)
def create(merchant_id: Id, body: EndpointIn, engine: EngineDep, principal: UserDep) -> object:
    """登记回调地址（签名密钥只显示一次）· register an endpoint; its signing secret is shown once."""
    may_act_for_merchant(principal, merchant_id, owner_only=True)
    topics = "*" if body.topics == ["*"] else body.topics
    return plain(events.create_endpoint(engine, merchant_id, url=body.url, topics=topics))


@router.get("", response_model=list[EndpointOut])
def endpoints(merchant_id: Id, engine: EngineDep, principal: UserDep) -> object:
    may_act_for_merchant(principal, merchant_id, owner_only=True)
    return plain(events.list_endpoints(engine, merchant_id))


@router.delete("/{endpoint_id}", response_model=EndpointOut)
def disable(merchant_id: Id, endpoint_id: Id, engine: EngineDep, principal: UserDep) -> object:
    """停用回调地址 · disable an endpoint."""
    may_act_for_merchant(principal, merchant_id, owner_only=True)
    return plain(events.disable_endpoint(engine, merchant_id, endpoint_id))


@router.post("/{endpoint_id}/secret", response_model=SecretOut)
def rotate(merchant_id: Id, endpoint_id: Id, engine: EngineDep, principal: UserDep) -> object:
    """更换签名密钥（只显示一次）· rotate the signing secret (shown once)."""
    may_act_for_merchant(principal, merchant_id, owner_only=True)
    return plain(events.rotate_secret(engine, merchant_id, endpoint_id))


@router.get("/deliveries", response_model=list[DeliveryOut])
def delivery_log(
    merchant_id: Id,
    engine: EngineDep,
    principal: UserDep,
    endpoint_id: IdQuery = None,
    before: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> object:
    """投递记录 · the delivery log, newest first."""
    may_act_for_merchant(principal, merchant_id, owner_only=True)
    return plain(
        events.deliveries(engine, merchant_id, endpoint_id=endpoint_id, limit=limit, before_id=before)
    )
