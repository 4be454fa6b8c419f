"""Request and response bodies of the JSON API.

Amounts travel as decimal strings at full precision ("25.0000" points, "4975.00" share value,
"88.00" CNY), never as JSON numbers, so no client ever rounds them through a float.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from datetime import date as Day  # `date` is also a field name below
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from sharebuy.db.base import MAX_ID
from sharebuy.kernel.clock import BUSINESS_TZ

CnyText = Annotated[
    str, StringConstraints(pattern=r"^[0-9]{1,10}(\.[0-9]{1,2})?$"), Field(examples=["88.00"])
]
PointsText = Annotated[
    str, StringConstraints(pattern=r"^[0-9]{1,12}(\.[0-9]{1,4})?$"), Field(examples=["600"])
]
RateText = Annotated[str, StringConstraints(pattern=r"^0?\.[0-9]{1,4}$|^[01]$"), Field(examples=["0.10"])]
Phone = Annotated[str, StringConstraints(min_length=5, max_length=20), Field(examples=["13800000001"])]
Password = Annotated[
    str, StringConstraints(min_length=8, max_length=128), Field(examples=["correct horse 42"])
]
Name = Annotated[str, StringConstraints(max_length=100)]
BodyId = Annotated[int, Field(ge=1, le=MAX_ID)]
CLOCK_SKEW = timedelta(minutes=5)


def _till_moment(value: datetime) -> datetime:
    """When a sale or a refund happened, by the till's clock.  Without an offset it is business
    time (Asia/Shanghai), as everywhere in sharebuy, so that it is stored as the same instant its
    business day is counted from; it cannot be in the future (a few minutes of skew aside)."""
    moment = value if value.tzinfo is not None else value.replace(tzinfo=BUSINESS_TZ)
    try:
        moment.astimezone(BUSINESS_TZ)
        future = moment > datetime.now(UTC) + CLOCK_SKEW
    except OverflowError:  # e.g. 9999-12-31T23:59:59Z has no business day
        raise ValueError("the moment is out of range") from None
    if future:
        raise ValueError("the moment is in the future")
    return moment


TillMoment = Annotated[datetime, AfterValidator(_till_moment)]


def _refuse_nul(value: object) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain the character U+0000")
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_nul(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key)
            _refuse_nul(item)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a protected field sent by a client is an error, not ignored

    @field_validator("*")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        """PostgreSQL cannot store U+0000 in text: refuse it here (422), not in the driver (500)."""
        _refuse_nul(value)
        return value


# -- identity ---------------------------------------------------------------------------------


class RegisterIn(Body):
    phone: Phone
    password: Password
    name: Name = Field(default="", examples=["张伟"])


class SignInIn(Body):
    login: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(examples=["13800000001"])
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    totp_code: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")] | None = None


class RefreshIn(Body):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class TotpCodeIn(Body):
    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")] = Field(examples=["123456"])


class TokensOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int


class SessionOut(BaseModel):
    csrf_token: str
    expires_at: datetime


class RegisteredOut(BaseModel):
    user_id: int
    member_id: int
    phone: str


class TotpSetupOut(BaseModel):
    secret: str
    otpauth_uri: str


class MeOut(BaseModel):
    user_id: int | None
    role: str
    member_id: int | None
    merchant_ids: list[int]
    owned_merchant_ids: list[int]


# -- balances and history -----------------------------------------------------------------------


class PointsBalances(BaseModel):
    available: str
    escrow: str
    deposit: str


class ConsumerBalanceOut(BaseModel):
    id: int
    share_value: str
    clawback_owed: str
    points: PointsBalances
    frozen: bool
    activated_day: date | None


class MerchantBalanceOut(BaseModel):
    id: int
    share_value: str
    clawback_owed: str
    points: PointsBalances
    status: str
    suspension_reason: str | None
    concession_rate: str
    deposit_required: str
    guide_price: str


class HistoryItem(BaseModel):
    id: int
    entry_id: int
    kind: str
    business_day: date
    created_at: datetime
    reference: str
    reason: str
    account: str
    asset: Literal["points", "share_value"]
    amount: str


class HistoryPage(BaseModel):
    items: list[HistoryItem]
    next_before: int | None = Field(description="pass as `before` for the next page; null at the end")


class ConsumerOut(BaseModel):
    id: int
    name: str
    phone: str
    real_name: str | None
    frozen: bool
    activated_day: date | None
    created_at: datetime


# -- merchants ---------------------------------------------------------------------------------


class MerchantApplyIn(Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)] = Field(examples=["莞带生活超市"])
    region_code: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")] = Field(examples=["441900"])
    concession_rate: RateText = "0.10"


class RateIn(Body):
    concession_rate: RateText


class StaffIn(Body):
    phone: Phone


class MerchantOut(BaseModel):
    id: int
    name: str
    owner_id: int
    region_code: str
    concession_rate: str
    status: str
    suspension_reason: str | None
    created_at: datetime | None


class MerchantStateOut(BaseModel):
    id: int
    status: str
    suspension_reason: str | None
    deposit: str
    deposit_required: str
    available: str
    moved: str


class RateOut(BaseModel):
    id: int
    concession_rate: str


class StaffOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    merchant: int
    consumer: int


class ApiKeyIn(Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(examples=["前台收银机 1"])


class ApiKeyCreatedOut(BaseModel):
    id: int
    prefix: str
    key: str = Field(description="shown once: store it in the till now")
    name: str
    created_at: datetime


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: int
    prefix: str
    name: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class GrantIn(Body):
    amount: PointsText
    reason: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(examples=["启动积分"])


class GrantOut(BaseModel):
    merchant: int
    amount: str
    entry: int
    replayed: bool


# -- purchases ---------------------------------------------------------------------------------


class PurchaseIn(Body):
    merchant_id: BodyId | None = Field(default=None, description="required for staff; implied by a POS key")
    consumer_id: BodyId | None = Field(
        default=None, description="the consumer's id, or give `consumer_phone`"
    )
    consumer_phone: Phone | None = None
    amount: CnyText
    at: TillMoment | None = Field(
        default=None, description="when the sale happened (default: now); without an offset, Beijing time"
    )


class RefundIn(Body):
    at: TillMoment | None = Field(
        default=None, description="when (default: now); without an offset, Beijing time"
    )


class PurchaseOut(BaseModel):
    id: int
    merchant_id: int
    consumer_id: int
    amount: str
    business_day: date
    concession_rate: str
    guide_price: str
    rule_version: int
    consumer_share_value: str
    merchant_share_value: str
    registration_bonus: str
    points_deducted: str
    from_available: str
    from_deposit: str
    status: str
    merchant_suspended: bool | None = None
    occurred_at: datetime | None = None
    refunded_at: datetime | None = None
    green_bonus: str = "0.00"


class PurchasePage(BaseModel):
    items: list[PurchaseOut]
    next_before: int | None


class RefundOut(BaseModel):
    purchase_id: int
    business_day: date
    consumer_share_value_taken: str
    consumer_clawback_owed: str
    merchant_share_value_taken: str
    merchant_clawback_owed: str
    points_returned: str
    merchant_status: str
    replayed: bool


# -- rules, settlements, platform --------------------------------------------------------------

RuleKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,64}$")]
# A plain decimal ("600", "0.05"; no exponent, which could overflow) or a word ("on", "burn").
RuleValue = Annotated[
    str, StringConstraints(pattern=r"^-?([0-9]{1,20}(\.[0-9]{1,12})?|\.[0-9]{1,12})$|^[a-z_]{1,16}$")
]


class RulesChangeIn(Body):
    changes: dict[RuleKey, RuleValue] = Field(
        examples=[{"daily_airdrop": "600", "concession_rate_min": "0.05"}]
    )
    effective_from: date
    note: Annotated[str, StringConstraints(max_length=500)] = ""


class SettleIn(Body):
    date: Day | None = Field(default=None, description="settle up to this business day (default: yesterday)")


class SettlementOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    date: date
    status: str
    airdrop: str
    released: str
    network_share_value: str
    holders: int
    guide_price: str
    share_value_consumed: str


class SettlementLineOut(BaseModel):
    member_id: int
    share_value: str
    points: str
    share_value_consumed: str


class SettlementLinesPage(BaseModel):
    items: list[SettlementLineOut]
    next_offset: int | None


class CheckOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    ok: bool


class VerifyOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    ok: bool


class EconomyOut(BaseModel):
    total_issue: str
    reserve: str
    released: str
    burned: str
    fees: str
    held_by_members: str
    share_value_issued: str
    share_value_retired: str
    share_value_outstanding: str
    guide_price: str
    turnover_amount: str
    turnover_purchases: int
    merchants_by_status: dict[str, int]
    notice_zh: str
    notice_en: str
