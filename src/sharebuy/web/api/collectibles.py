"""数字藏品 over HTTP (SPEC §7, §10): editions and their images, redemption, a member's tokens
with their provenance, gifts, and ERC-721 metadata.

Who may do what: editions, their images and all metadata are public (they name nobody); only an
admin creates an edition; only a consumer redeems (and the service asks for a verified real
name); a token with its provenance is shown to its owner and to operators, and to anyone else
it does not exist; only its owner gives it away.  There is no route that sells, prices or lists
a token: a continuous exchange for collectibles is out of scope by design.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from sharebuy.collectibles import domain
from sharebuy.collectibles import service as collectibles
from sharebuy.kernel.errors import InvalidInput
from sharebuy.web.api.common import (
    IDEMPOTENCY_RESPONSES,
    INVALID,
    MAX_ID,
    SIGNED_IN,
    Id,
    IdempotencyKey,
    RequiredIdempotencyKey,
    idempotent,
    plain,
    problems,
)
from sharebuy.web.api.schemas import Body, Phone
from sharebuy.web.deps import AdminDep, ConsumerDep, EngineDep, PrincipalDep

router = APIRouter(prefix="/collectibles", tags=["collectibles 数字藏品"], responses=INVALID)

NOT_FOUND = problems({404: "no such edition or token (or not yours)"})
TokenId = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="the derived token id, 64 hex digits")]
Limit = Annotated[int, Query(ge=1, le=200)]
Before = Annotated[int | None, Query(ge=1, le=MAX_ID, description="id of the last edition already seen")]
PointsForm = Annotated[str, Form(pattern=r"^\d{1,7}(\.\d{1,4})?$", examples=["50"])]


# -- bodies --------------------------------------------------------------------------------------


class EditionOut(BaseModel):
    id: int
    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    supply: int
    minted: int
    remaining: int
    price: str = Field(description="points per token")
    opens_at: datetime
    closes_at: datetime
    status: str = Field(description="upcoming | open | closed | sold_out")
    image_type: str
    image_size: int
    image_sha256: str
    created_at: datetime


class RecordOut(BaseModel):
    seq: int
    kind: str = Field(description="mint | gift")
    from_member: int | None
    to_member: int
    entry_id: int | None = Field(description="the journal entry that paid for the mint")
    at: datetime
    prev_hash: str
    hash: str = Field(description="SHA-256(prev_hash ‖ canonical record)")


class TokenOut(BaseModel):
    token_id: str
    edition_id: int
    serial: int
    supply: int
    title_zh: str
    title_en: str
    content_hash: str
    owner_id: int
    minted_at: datetime
    acquired_at: datetime
    giftable_from: datetime
    provenance: list[RecordOut]


class GiftIn(Body):
    to_phone: Phone = Field(description="the recipient, a consumer with a verified real name")


class _NewEdition(BaseModel):
    """What identifies a creation request for its Idempotency-Key: the fields and the image hash."""

    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    supply: int
    price: str
    opens_at: datetime
    closes_at: datetime
    image_sha256: str


# -- editions ------------------------------------------------------------------------------------


@router.get("/editions", response_model=list[EditionOut])
def editions(engine: EngineDep, before: Before = None, limit: Limit = 50) -> object:
    """藏品系列（最新在前，公开）· editions, newest first (public)."""
    return plain(collectibles.list_editions(engine, before=before, limit=limit))


@router.post(
    "/editions",
    status_code=status.HTTP_201_CREATED,
    response_model=EditionOut,
    responses={**SIGNED_IN, **IDEMPOTENCY_RESPONSES},
)
def create_edition(
    request: Request,
    engine: EngineDep,
    principal: AdminDep,
    title_zh: Annotated[str, Form(min_length=1, max_length=100)],
    description_zh: Annotated[str, Form(min_length=1, max_length=2000)],
    supply: Annotated[int, Form(ge=1, le=domain.MAX_SUPPLY)],
    price: PointsForm,
    opens_at: Annotated[datetime, Form()],
    closes_at: Annotated[datetime, Form()],
    image: Annotated[UploadFile, File(description="PNG, JPEG or WebP, at most 2 MB")],
    title_en: Annotated[str, Form(max_length=100)] = "",
    description_en: Annotated[str, Form(max_length=2000)] = "",
    key: IdempotencyKey = None,
) -> JSONResponse:
    """新建藏品系列并上传图片（管理员）· create an edition with its image (admins)."""
    data = image.file.read(domain.MAX_IMAGE_BYTES + 1)
    domain.check_image(data)  # refused before anything is claimed: a bad file is not a request
    for moment in (opens_at, closes_at):
        if moment.tzinfo is None:
            raise InvalidInput(
                "offset_required",
                "时间须带时区，例如 2026-01-01T10:00:00+08:00",
                "times need an offset, e.g. 2026-01-01T10:00:00+08:00",
            )
    fingerprint = _NewEdition(
        title_zh=title_zh,
        title_en=title_en,
        description_zh=description_zh,
        description_en=description_en,
        supply=supply,
        price=price,
        opens_at=opens_at,
        closes_at=closes_at,
        image_sha256=hashlib.sha256(data).hexdigest(),
    )

    def effect() -> dict[str, Any]:
        return collectibles.create_edition(
            engine,
            title_zh=title_zh,
            title_en=title_en,
            description_zh=description_zh,
            description_en=description_en,
            supply=supply,
            price=price,
            opens_at=opens_at,
            closes_at=closes_at,
            image=data,
            actor=principal.scope,
        )

    return idempotent(request, engine, principal, key, fingerprint, effect, status_code=201)


@router.get("/editions/{edition_id}", response_model=EditionOut, responses=NOT_FOUND)
def edition(edition_id: Id, engine: EngineDep) -> object:
    """一个藏品系列（公开）· one edition (public)."""
    return plain(collectibles.get_edition(engine, edition_id))


_IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")


@router.get(
    "/editions/{edition_id}/image",
    response_class=Response,
    responses={
        200: {"description": "the image itself", "content": {t: {} for t in _IMAGE_TYPES}},
        **NOT_FOUND,
    },
)
def edition_image(edition_id: Id, engine: EngineDep) -> Response:
    """藏品图片（公开；内容哈希见 ETag）· an edition's image (public; its SHA-256 is the ETag)."""
    content_type, body, digest = collectibles.edition_image(engine, edition_id)
    headers = {
        "ETag": f'"{digest}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "public, max-age=31536000, immutable",  # the bytes never change
    }
    return Response(body, media_type=content_type, headers=headers)


def _public_url(request: Request) -> str:
    """Where the metadata's links point: the configured public address, else the request's own
    (built from a Host header that the client writes, so set SHAREBUY_PUBLIC_URL in production)."""
    configured: str = request.app.state.settings.public_url
    return configured or str(request.base_url)


@router.get("/editions/{edition_id}/metadata", response_model=dict[str, Any], responses=NOT_FOUND)
def edition_metadata(edition_id: Id, request: Request, engine: EngineDep) -> object:
    """系列的 ERC-721 元数据 JSON（公开）· the edition's ERC-721 metadata JSON (public)."""
    return collectibles.edition_metadata(engine, edition_id, base_url=_public_url(request))


@router.post(
    "/editions/{edition_id}/redeem",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenOut,
    responses={**SIGNED_IN, **NOT_FOUND, **IDEMPOTENCY_RESPONSES},
)
def redeem(
    edition_id: Id, request: Request, engine: EngineDep, principal: ConsumerDep, key: RequiredIdempotencyKey
) -> JSONResponse:
    """用积分兑换一枚藏品（须实名）· redeem one token for points (real name needed). Key required."""
    member = principal.member_id
    assert member is not None  # ConsumerDep guarantees it

    def effect() -> dict[str, Any]:
        return collectibles.redeem(engine, edition_id, member, actor=principal.scope)

    return idempotent(request, engine, principal, key, None, effect, status_code=201)


# -- tokens --------------------------------------------------------------------------------------


@router.get("/my/tokens", response_model=list[TokenOut], responses=SIGNED_IN)
def my_tokens(engine: EngineDep, principal: ConsumerDep) -> object:
    """我的藏品及其流转记录 · your tokens, each with its provenance."""
    assert principal.member_id is not None
    return plain(collectibles.tokens_of(engine, principal.member_id))


@router.get("/tokens/{token_id}", response_model=TokenOut, responses={**SIGNED_IN, **NOT_FOUND})
def token(token_id: TokenId, engine: EngineDep, principal: PrincipalDep) -> object:
    """一枚藏品及其流转记录（持有人与运营）· a token and its provenance (its owner, operators)."""
    mine = (
        frozenset({principal.member_id})
        if principal.role == "consumer" and principal.member_id
        else frozenset()
    )
    operator = principal.role in ("admin", "auditor")
    return plain(collectibles.get_token(engine, token_id, members=mine, operator=operator))


@router.get("/tokens/{token_id}/metadata", response_model=dict[str, Any], responses=NOT_FOUND)
def token_metadata(token_id: TokenId, request: Request, engine: EngineDep) -> object:
    """藏品的 ERC-721 元数据 JSON（公开，不含持有人）· a token's ERC-721 JSON (public, names no owner)."""
    return collectibles.token_metadata(engine, token_id, base_url=_public_url(request))


@router.post(
    "/tokens/{token_id}/gift",
    response_model=TokenOut,
    responses={**SIGNED_IN, **NOT_FOUND, **IDEMPOTENCY_RESPONSES},
)
def gift(
    token_id: TokenId,
    body: GiftIn,
    request: Request,
    engine: EngineDep,
    principal: ConsumerDep,
    key: RequiredIdempotencyKey,
) -> JSONResponse:
    """转赠给另一位实名会员（持有期满后；不收任何费用）· give a token away after the holding period.
    Idempotency-Key required."""
    member = principal.member_id
    assert member is not None

    def effect() -> dict[str, Any]:
        return collectibles.gift(engine, token_id, member, to_phone=body.to_phone, actor=principal.scope)

    return idempotent(request, engine, principal, key, body, effect)
