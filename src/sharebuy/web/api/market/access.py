"""Who a market request acts for and who reads a trade; the query parameters the routes share."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query

from sharebuy.identity.service import Principal
from sharebuy.kernel.errors import Forbidden
from sharebuy.market import service as market
from sharebuy.web.api.common import IDEMPOTENCY_RESPONSES, MAX_ID
from sharebuy.web.deps import may_act_for_merchant

CHANGES = IDEMPOTENCY_RESPONSES

Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=100_000)]
Before = Annotated[int | None, Query(ge=1, le=MAX_ID, description="id of the last item already seen")]
TradeStatus = Literal["awaiting_payment", "paid", "disputed", "completed", "cancelled"]
PriceQuery = Annotated[str | None, Query(pattern=r"^[0-9]{1,5}(\.[0-9]{1,4})?$")]


def acting(principal: Principal, merchant_id: int | None, *, owner_only: bool = False) -> int:
    """The member a request acts for: the caller itself, or a merchant it may act for."""
    if merchant_id is not None:
        may_act_for_merchant(principal, merchant_id, owner_only=owner_only)
        return merchant_id
    if principal.role != "consumer" or principal.member_id is None:
        raise Forbidden("forbidden", "无权执行此操作或访问此对象", "you may not do this or see this")
    return principal.member_id


def viewer(principal: Principal, *, write: bool = False) -> market.Viewer:
    """Everyone a signed-in person stands for; operators (admins alone, to write) see all."""
    if principal.role == "pos":
        return market.Viewer()
    mine = set(principal.merchant_ids)
    if principal.member_id is not None:
        mine.add(principal.member_id)
    operator = principal.role == "admin" if write else principal.role in ("admin", "auditor")
    return market.Viewer(frozenset(mine), operator)
