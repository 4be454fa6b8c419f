"""Trades: reading, paying, confirming, cancelling, disputing, evidence; the operators' dispute
queue, decisions and the market switch."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from sharebuy.identity.service import Principal
from sharebuy.kernel.errors import InvalidInput
from sharebuy.market import domain, queries
from sharebuy.market import service as market
from sharebuy.web.api.common import (
    ERROR_RESPONSES,
    Id,
    IdempotencyKey,
    IdQuery,
    RequiredIdempotencyKey,
    idempotent,
    plain,
)
from sharebuy.web.api.market.access import (
    CHANGES,
    Before,
    Limit,
    TradeStatus,
    acting,
    viewer,
)
from sharebuy.web.api.market.schemas import (
    ActingIn,
    CancelIn,
    DecideIn,
    EvidenceOut,
    MarketStatusOut,
    PaidIn,
    ReasonIn,
    SwitchIn,
    TradeOut,
)
from sharebuy.web.deps import (
    AdminDep,
    EngineDep,
    OperatorDep,
    PrincipalDep,
    UserDep,
)

router = APIRouter(tags=["market C2C 市场"], responses=ERROR_RESPONSES)


# -- trades -------------------------------------------------------------------------------------


@router.get("/my/trades", response_model=list[TradeOut])
def my_trades(
    engine: EngineDep,
    principal: UserDep,
    merchant_id: IdQuery = None,
    status_: Annotated[TradeStatus | None, Query(alias="status")] = None,
    before: Before = None,
    limit: Limit = 50,
) -> object:
    """我的交易（最新在前）· your trades, newest first."""
    member = acting(principal, merchant_id)
    viewer = market.Viewer(frozenset({member}))
    rows = queries.trades_of(engine, viewer, member_ids=[member], status=status_, before=before, limit=limit)
    return plain(rows)


@router.get("/trades/{trade_id}", response_model=TradeOut)
def trade(trade_id: Id, engine: EngineDep, principal: PrincipalDep) -> object:
    """一笔交易（卖方收款信息只给进行中交易的买方）· a trade; the seller's accounts only for its buyer."""
    return plain(market.get_trade(engine, trade_id, viewer(principal)))


@router.post("/trades/{trade_id}/paid", response_model=TradeOut, responses=CHANGES)
def mark_paid(
    trade_id: Id,
    body: PaidIn,
    request: Request,
    engine: EngineDep,
    principal: UserDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """买方：已付款（附付款凭证号）· the buyer has paid, with the payment's reference."""
    buyer = acting(principal, body.merchant_id)
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: market.mark_paid(engine, trade_id, buyer, body.reference, actor=principal.scope),
    )


@router.post("/trades/{trade_id}/confirm", response_model=TradeOut, responses=CHANGES)
def confirm(
    trade_id: Id,
    request: Request,
    engine: EngineDep,
    principal: UserDep,
    key: RequiredIdempotencyKey,
    body: ActingIn | None = None,
) -> JSONResponse:
    """卖方：确认收款，积分放给买方 · the seller confirms the money; points go to the buyer. Key required."""
    seller = acting(principal, body.merchant_id if body else None, owner_only=True)
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: market.confirm(engine, trade_id, seller, actor=principal.scope),
    )


@router.post("/trades/{trade_id}/cancel", response_model=TradeOut, responses=CHANGES)
def cancel(
    trade_id: Id,
    body: CancelIn,
    request: Request,
    engine: EngineDep,
    principal: UserDep,
    key: RequiredIdempotencyKey,
) -> JSONResponse:
    """买方：取消未付款的交易 · the buyer cancels before paying. Key required."""
    buyer = acting(principal, body.merchant_id)
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: market.cancel(engine, trade_id, buyer, reason=body.reason, actor=principal.scope),
    )


@router.post("/trades/{trade_id}/dispute", response_model=TradeOut, responses=CHANGES)
def dispute(
    trade_id: Id,
    body: ReasonIn,
    request: Request,
    engine: EngineDep,
    principal: UserDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """申诉（付款后任一方）· open a dispute after payment (either side)."""
    member = acting(principal, body.merchant_id)
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: market.dispute(engine, trade_id, member, reason=body.reason, actor=principal.scope),
    )


class _Upload(BaseModel):
    """What identifies an upload for its Idempotency-Key: the fields and the file's digest.

    Not a `Body`: the form's text is judged by the service (a refusal with its code), so a
    character a body refuses (U+0000) must not fail here, where it would be an unexpected error."""

    kind: str
    text: str | None
    sha256: str | None


@router.post(
    "/trades/{trade_id}/evidence",
    status_code=status.HTTP_201_CREATED,
    response_model=EvidenceOut,
    responses=CHANGES,
)
def upload_evidence(
    trade_id: Id,
    request: Request,
    engine: EngineDep,
    principal: UserDep,
    kind: Annotated[Literal["text", "image"], Form()],
    text: Annotated[str | None, Form(max_length=domain.MAX_TEXT_CHARS)] = None,
    file: Annotated[UploadFile | None, File(description="PNG, JPEG, GIF or WebP, at most 2 MB")] = None,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """提交证据：文字说明或付款截图 · add evidence to an open trade: a note or a screenshot."""
    data = None
    if kind == "image":
        if file is None:
            raise InvalidInput("file_required", "请上传图片文件", "upload an image file")
        data = file.file.read(domain.MAX_IMAGE_BYTES + 1)
        domain.check_image_size(len(data))
    fingerprint = _Upload(
        kind=kind, text=text, sha256=None if data is None else hashlib.sha256(data).hexdigest()
    )
    uploader = viewer(principal, write=True)

    def effect() -> dict[str, Any]:
        return market.add_evidence(
            engine, trade_id, uploader, kind=kind, text=text, data=data, actor=principal.scope
        )

    return idempotent(request, engine, principal, key, fingerprint, effect, status_code=201)


@router.get("/trades/{trade_id}/evidence", response_model=list[EvidenceOut])
def evidence(trade_id: Id, engine: EngineDep, principal: PrincipalDep) -> object:
    """交易的证据清单（双方与运营）· the evidence on a trade (its parties and operators)."""
    return plain(market.list_evidence(engine, trade_id, viewer(principal)))


_FILE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "text/plain")


@router.get(
    "/trades/{trade_id}/evidence/{evidence_id}",
    response_class=Response,
    responses={200: {"description": "the file itself", "content": {t: {} for t in _FILE_TYPES}}},
)
def evidence_file(trade_id: Id, evidence_id: Id, engine: EngineDep, principal: PrincipalDep) -> Response:
    """下载一份证据（作为附件，不在浏览器中执行）· one piece of evidence, as an attachment."""
    content_type, body, digest = market.evidence_file(engine, trade_id, evidence_id, viewer(principal))
    headers = {
        "Content-Disposition": f'attachment; filename="evidence-{evidence_id}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Digest": f"sha-256={digest}",
    }
    return Response(body, media_type=content_type, headers=headers)


# -- operators ----------------------------------------------------------------------------------


@router.get("/disputes", response_model=list[TradeOut])
def disputes(engine: EngineDep, principal: OperatorDep, before: Before = None, limit: Limit = 50) -> object:
    """申诉队列（运营）· disputed trades waiting for a decision (operators)."""
    return plain(queries.disputes(engine, before=before, limit=limit))


@router.post("/trades/{trade_id}/decide", response_model=TradeOut, responses=CHANGES)
def decide(
    trade_id: Id,
    body: DecideIn,
    request: Request,
    engine: EngineDep,
    principal: AdminDep,
    key: RequiredIdempotencyKey,
) -> JSONResponse:
    """裁决申诉：放行给买方或退回卖方，理由记录在案（运营）· decide a dispute. Key required."""
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: market.decide(engine, trade_id, body.decision, reason=body.reason, actor=principal.scope),
    )


def _switch(
    open_: bool, body: SwitchIn | None, request: Request, engine: Any, principal: Principal, key: str | None
) -> JSONResponse:
    reason = body.reason if body else ""
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: market.set_market_open(engine, open_, reason=reason, actor=principal.scope),
    )


@router.post("/close", response_model=MarketStatusOut, responses=CHANGES)
def close_market(
    request: Request,
    engine: EngineDep,
    principal: AdminDep,
    body: SwitchIn | None = None,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """立即关闭市场（须写明原因；进行中的交易可完成）· close the market now (admin)."""
    return _switch(False, body, request, engine, principal, key)


@router.post("/open", response_model=MarketStatusOut, responses=CHANGES)
def open_market(
    request: Request,
    engine: EngineDep,
    principal: AdminDep,
    body: SwitchIn | None = None,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """重新开放市场（运营）· reopen the market (admin)."""
    return _switch(True, body, request, engine, principal, key)
