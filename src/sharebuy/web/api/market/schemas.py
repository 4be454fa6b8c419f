"""Request and response bodies of the market routes (web/api/market.py).

Amounts are decimal strings: points and prices with up to 4 decimals, CNY with 2.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from sharebuy.web.api.common import MAX_ID
from sharebuy.web.api.schemas import Body

PointsText = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,9}(\.[0-9]{1,4})?$"), Field(examples=["10"])]
PriceText = Annotated[
    str, StringConstraints(pattern=r"^[0-9]{1,5}(\.[0-9]{1,4})?$"), Field(examples=["2.0000"])
]
Kind = Literal["alipay", "wechat", "bank"]
Kinds = Annotated[list[Kind], Field(min_length=1, max_length=3, examples=[["alipay", "bank"]])]
Text = Annotated[str, StringConstraints(max_length=1000)]
ActingFor = Annotated[
    int | None,
    Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="act for this merchant (its owner or staff); omit to act for yourself",
    ),
]


class ActingIn(Body):
    merchant_id: ActingFor = None


class OrderIn(Body):
    """A sell listing or a buy order: how much, at what price, paid how."""

    merchant_id: ActingFor = None
    quantity: PointsText
    price: PriceText
    payment_kinds: Kinds
    min_order: PointsText | None = Field(default=None, description="default: the rulebook's minimum")
    max_order: PointsText | None = Field(default=None, description="default: the whole quantity")


class PriceIn(Body):
    merchant_id: ActingFor = None
    price: PriceText


class TakeIn(Body):
    merchant_id: ActingFor = None
    quantity: PointsText


class QuickBuyIn(Body):
    merchant_id: ActingFor = None
    quantity: PointsText
    max_price: PriceText
    payment_kinds: Kinds | None = None
    allow_partial: bool = Field(default=True, description="false: all of the quantity or nothing")


class PaidIn(Body):
    merchant_id: ActingFor = None
    reference: Annotated[str, StringConstraints(min_length=1, max_length=100)] = Field(
        examples=["2025030122001400001234567890"]
    )


class ReasonIn(Body):
    merchant_id: ActingFor = None
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class CancelIn(Body):
    merchant_id: ActingFor = None
    reason: Text = ""


class DecideIn(Body):
    decision: Literal["release", "return"]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class SwitchIn(Body):
    reason: Text = ""


class RealNameIn(Body):
    real_name: Annotated[str, StringConstraints(min_length=2, max_length=50)] = Field(examples=["张三"])
    id_number: Annotated[str, StringConstraints(pattern=r"^[0-9]{17}[0-9Xx]$")] = Field(
        examples=["11010519491231002X"]
    )


class RiskAcceptIn(Body):
    merchant_id: ActingFor = None
    version: int = Field(ge=1, le=1000, description="the version of the notice you read")


class PaymentMethodIn(Body):
    merchant_id: ActingFor = None
    kind: Kind
    account_name: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    account_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    bank_name: Annotated[str, StringConstraints(max_length=50)] = ""


# -- answers ------------------------------------------------------------------------------------


class PaymentMethodOut(BaseModel):
    id: int
    kind: str
    account_name: str
    account_id: str
    bank_name: str
    removed: bool | None = None


class OrderOut(BaseModel):
    id: int
    quantity: str
    remaining: str
    in_trades: str
    price: str
    min_order: str
    max_order: str
    payment_kinds: list[str]
    status: str
    closed_reason: str | None
    created_at: datetime
    updated_at: datetime


class ListingOut(OrderOut):
    seller_id: int
    returned: str | None = None


class BuyOrderOut(OrderOut):
    buyer_id: int


class TransitionOut(BaseModel):
    event: str
    from_status: str | None
    to_status: str
    role: str
    at: datetime
    reason: str


class TradeOut(BaseModel):
    id: int
    listing_id: int | None
    buy_order_id: int | None
    buyer_id: int
    seller_id: int
    your_role: str | None
    quantity: str
    price: str
    amount: str
    fee: str
    buyer_receives: str
    status: str
    payment_reference: str | None
    seller_payment_methods: list[PaymentMethodOut] | None = Field(
        description="the seller's accounts: only for the buyer of an open trade (masked for operators)"
    )
    opened_at: datetime
    pay_by: datetime
    paid_at: datetime | None
    confirm_by: datetime | None
    disputed_at: datetime | None
    closed_at: datetime | None
    completed_day: date | None
    decision: str | None
    decision_reason: str | None
    transitions: list[TransitionOut]


class QuickBuyOut(BaseModel):
    requested: str
    filled: str
    unfilled: str
    amount: str
    average_price: str | None
    trades: list[TradeOut]


class EvidenceOut(BaseModel):
    id: int
    trade_id: int
    role: str
    kind: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime


class ProfileOut(BaseModel):
    member_id: int
    kind: str
    real_name_verified: bool
    real_name_required: bool
    risk_notice_accepted_at: datetime | None
    risk_notice_version: int | None
    risk_notice_current: int
    can_trade: bool
    refusals: list[str]
    market_open: bool
    open_trades: int
    open_trades_limit: int
    cancellations_today: int
    may_buy_today: bool


class RiskNoticeOut(BaseModel):
    version: int
    zh: str
    en: str


class RealNameOut(BaseModel):
    id: int
    real_name: str
    id_number: str = Field(description="masked")
    verified_at: datetime


class MarketStatusOut(BaseModel):
    open: bool
    switch_open: bool
    rule_open: bool
    reason: str
    changed_by: str | None
    changed_at: datetime | None


class GuidePriceOut(BaseModel):
    guide_price: str
    as_of: date | None = Field(description="the settled business day it comes from; null before the first")
    price_floor: str
    band_low: str | None
    band_high: str | None
    today: date
    today_market_price: str | None = Field(
        description="volume-weighted price of today's completed trades so far"
    )
    notice_zh: str
    notice_en: str


class CandleOut(BaseModel):
    day: date
    open: str
    high: str
    low: str
    close: str
    volume: str
    turnover: str
    trades: int
    vwap: str


class KlineOut(BaseModel):
    days: int
    from_: date = Field(alias="from")
    to: date
    candles: list[CandleOut]
