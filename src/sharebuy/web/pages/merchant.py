"""The merchant console: the till (POS form), today's turnover, points and deposit, the
concession rate, statements as CSV; applying to open a shop.

Owners and staff use it (`may_read_merchant` / `may_act_for_merchant`, as the API does); the
deposit and the rate are the owner's.  A sale is recorded by `purchase_service.record_purchase`
under the Idempotency-Key drawn when the till form was rendered.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Query, Response

from sharebuy.kernel.amounts import parse_decimal
from sharebuy.kernel.clock import business_day, parse_moment
from sharebuy.kernel.errors import InvalidInput, SharebuyError
from sharebuy.members import queries as member_queries
from sharebuy.members import service as members
from sharebuy.rewards import platform_service, purchase_service, statements
from sharebuy.rewards import queries as reward_queries
from sharebuy.tiers import green
from sharebuy.web.api.common import plain
from sharebuy.web.deps import may_act_for_merchant, may_read_merchant
from sharebuy.web.observability import PURCHASES, REFUNDS
from sharebuy.web.pages import tiers as tier_pages
from sharebuy.web.pages.common import (
    FormDep,
    Page,
    PageDep,
    PageRoute,
    field_errors,
    member_of,
)
from sharebuy.web.pages.text import local_time

router = APIRouter(route_class=PageRoute, include_in_schema=False)

SALE_FIELDS = {
    "invalid_phone": "consumer",
    "consumer_with_phone_not_found": "consumer",
    "consumer_not_found": "consumer",
    "member_not_found": "consumer",
    "consumer_frozen": "consumer",
    "self_dealing": "consumer",
    "invalid_member_code": "consumer",
    "invalid_decimal": "amount",
    "float_refused": "amount",
    "too_many_decimals": "amount",
    "non_positive_amount": "amount",
    "amount_over_limit": "amount",
    "invalid_datetime": "at",
    "before_start": "at",
    "day_settled": "at",
}
APPLY_FIELDS = {
    "name_required": "name",
    "name_too_long": "name",
    "invalid_region": "region_code",
    "invalid_decimal": "rate",
    "too_many_decimals": "rate",
    "rate_out_of_bounds": "rate",
    "rate_out_of_range": "rate",
}
RATE_FIELDS = {k: "rate" for k in ("invalid_decimal", "too_many_decimals", "rate_out_of_bounds")}
_CODE = re.compile(r"^(?:sharebuy:consumer:|[Cc])([0-9]{1,18})$")


def parse_member_code(text: str) -> tuple[int | None, str | None]:
    """(consumer id, None) for a scanned QR or a typed member code "C12"; (None, phone) otherwise."""
    found = _CODE.match(text.strip())
    if found:
        return int(found.group(1)), None
    return None, text


def consumer_for_sale(page: Page, text: str) -> int:
    if not text.strip():
        raise InvalidInput(
            "consumer_required",
            "请输入消费者手机号或会员码，或扫描会员二维码",
            "enter the consumer's phone number or member code, or scan the member QR code",
        )
    consumer_id, phone = parse_member_code(text)
    if consumer_id is not None:
        member_queries.consumer_profile(page.engine, consumer_id)  # refuses an unknown member
        return consumer_id
    assert phone is not None
    return member_queries.consumer_id_by_phone(page.engine, phone)


def rate_from_percent(text: str) -> Decimal:
    """A percentage typed by a person ("10") as the rate the services take (0.10), exactly."""
    return parse_decimal(text, "concession_rate") / 100


def _bounds(page: Page) -> tuple[str, str]:
    rules = platform_service.show_rules(page.engine)["rules"]
    return rules["concession_rate_min"], rules["concession_rate_max"]


# -- shops and applying ---------------------------------------------------------------------------


def _shops(page: Page, status_code: int = 200, **context: Any) -> Response:
    member_of(page)
    mine = sorted(page.user.merchant_ids)
    shops = plain(member_queries.merchant_list(page.engine, ids=mine)) if mine else []
    low, high = _bounds(page)
    return page.render(
        "merchant/shops.html",
        status_code=status_code,
        title=page._("My shop"),
        shops=shops,
        owned=page.user.owned_merchant_ids,
        low=low,
        high=high,
        **context,
    )


@router.get("/merchant")
def shops(page: PageDep) -> Response:
    if page.user.is_operator:
        return page.redirect("/ops/merchants")
    return _shops(page)


@router.post("/merchant/apply")
def apply(page: PageDep, form: FormDep) -> Response:
    owner = member_of(page)
    payload = {"name": form.get("name"), "region_code": form.get("region_code"), "rate": form.get("rate")}

    def effect() -> dict[str, Any]:
        rate = rate_from_percent(payload["rate"] or "10")
        merchant_id = members.add_merchant(
            page.engine, name=payload["name"], owner_id=owner, region=payload["region_code"], rate=rate
        )
        return member_queries.merchant_profile(page.engine, merchant_id)

    try:
        made, _replayed = page.once(form.key, payload, effect, atomic=False)
    except SharebuyError as error:
        return _shops(page, error.status, values=form.echo(), errors=field_errors(page, error, APPLY_FIELDS))
    return page.redirect(
        f"/merchant/{made['id']}",
        page._("Application sent. The operator will review it; you can follow its status here."),
    )


# -- the console -------------------------------------------------------------------------------


def _console(page: Page, merchant_id: int, status_code: int = 200, **context: Any) -> Response:
    principal = page.user
    may_read_merchant(principal, merchant_id)
    today = business_day(datetime.now(UTC))
    low, high = _bounds(page)
    return page.render(
        "merchant/console.html",
        status_code=status_code,
        title=page._("Merchant console"),
        shop=plain(member_queries.merchant_profile(page.engine, merchant_id)),
        balance=plain(member_queries.merchant_balance(page.engine, merchant_id)),
        today=plain(statements.merchant_day(page.engine, merchant_id, today)),
        recent=plain(reward_queries.purchase_list(page.engine, merchant_id=merchant_id, limit=10)),
        is_owner=merchant_id in principal.owned_merchant_ids,
        low=low,
        high=high,
        month_start=today.replace(day=1).isoformat(),
        today_text=today.isoformat(),
        tier=tier_pages.member_card(page, merchant_id),
        green=plain(green.status(page.engine, merchant_id)),
        **context,
    )


@router.get("/merchant/{merchant_id}")
def console(page: PageDep, merchant_id: int) -> Response:
    return _console(page, merchant_id)


@router.get("/merchant/{merchant_id}/lookup")
def lookup(page: PageDep, merchant_id: int, consumer: str = Query("", max_length=64)) -> Response:
    """HTMX: who the till is about to credit, so the cashier can check before submitting."""
    may_act_for_merchant(page.user, merchant_id, pos=True)
    try:
        consumer_id = consumer_for_sale(page, consumer)
        found = member_queries.consumer_profile(page.engine, consumer_id)
    except SharebuyError as error:
        return page.render("merchant/_lookup.html", error=page.error_text(error), found=None)
    name = str(found["name"] or "")
    masked = (name[0] + "*" * (len(name) - 1)) if name else ""
    phone = str(found["phone"])
    return page.render(
        "merchant/_lookup.html",
        error=None,
        found={"id": consumer_id, "name": masked, "phone": phone[:3] + "****" + phone[-4:]},
    )


@router.post("/merchant/{merchant_id}/sale")
def sale(page: PageDep, form: FormDep, merchant_id: int) -> Response:
    principal = page.user
    may_act_for_merchant(principal, merchant_id, pos=True)
    payload = {"consumer": form.get("consumer"), "amount": form.get("amount"), "at": form.get("at")}

    def effect() -> purchase_service.PurchaseResult:
        consumer_id = consumer_for_sale(page, payload["consumer"])
        at = parse_moment(payload["at"]) if payload["at"] else None
        result = purchase_service.record_purchase(
            page.engine,
            merchant_id=merchant_id,
            consumer_id=consumer_id,
            amount=payload["amount"],
            at=at,
            key=form.key,
            actor=principal.scope,
        )
        if not result.replayed:
            PURCHASES.inc()
        return result

    try:
        done, _replayed = page.once(form.key, payload, effect)
    except SharebuyError as error:
        errors = field_errors(page, error, {**SALE_FIELDS, "consumer_required": "consumer"})
        return _console(page, merchant_id, error.status, values=form.echo(), errors=errors)
    flash = page._("Sale recorded: %(amount)s CNY.", amount=done["amount"])
    kind = "ok"
    if done.get("merchant_suspended"):
        kind = "warn"
        flash += " " + page._(
            "The concession used the deposit: your shop is now suspended until you top it up."
        )
    return page.redirect(f"/merchant/{merchant_id}/purchases/{done['id']}", flash, kind)


@router.get("/merchant/{merchant_id}/purchases/{purchase_id}")
def receipt(page: PageDep, merchant_id: int, purchase_id: int) -> Response:
    may_read_merchant(page.user, merchant_id)
    found = reward_queries.purchase(page.engine, purchase_id)
    if found["merchant_id"] != merchant_id:
        may_read_merchant(page.user, found["merchant_id"])
    return page.render(
        "merchant/receipt.html",
        title=page._("Purchase %(id)s", id=purchase_id),
        shop=plain(member_queries.merchant_profile(page.engine, merchant_id)),
        purchase=plain(found),
    )


@router.post("/merchant/{merchant_id}/purchases/{purchase_id}/refund")
def refund(page: PageDep, form: FormDep, merchant_id: int, purchase_id: int) -> Response:
    found = reward_queries.purchase(page.engine, purchase_id)
    may_act_for_merchant(page.user, found["merchant_id"], pos=True)

    def effect() -> purchase_service.RefundResult:
        result = purchase_service.refund_purchase(page.engine, purchase_id, actor=page.user.scope)
        if not result.replayed:
            REFUNDS.inc()
        return result

    page.once(form.key, {"purchase": purchase_id}, effect)
    return page.redirect(f"/merchant/{merchant_id}/purchases/{purchase_id}", page._("Purchase refunded."))


@router.post("/merchant/{merchant_id}/deposit")
def deposit(page: PageDep, form: FormDep, merchant_id: int) -> Response:
    principal = page.user
    may_act_for_merchant(principal, merchant_id, owner_only=True)
    actor = f"user:{principal.user_id}"
    try:
        state, _replayed = page.once(
            form.key, {}, lambda: members.post_deposit(page.engine, merchant_id, actor=actor)
        )
    except SharebuyError as error:
        return _console(page, merchant_id, error.status, deposit_error=page.error_text(error))
    if state["status"] == "active":
        text = page._("Deposit posted (%(moved)s points). Your shop is open.", moved=state["moved"])
    else:
        text = page._("Deposit posted (%(moved)s points).", moved=state["moved"])
    return page.redirect(f"/merchant/{merchant_id}", text)


@router.post("/merchant/{merchant_id}/rate")
def set_rate(page: PageDep, form: FormDep, merchant_id: int) -> Response:
    may_act_for_merchant(page.user, merchant_id, owner_only=True)
    try:
        members.set_rate(page.engine, merchant_id, rate_from_percent(form.get("rate")))
    except SharebuyError as error:
        return _console(
            page,
            merchant_id,
            error.status,
            rate_values=form.echo(),
            rate_errors=field_errors(page, error, RATE_FIELDS),
        )
    return page.redirect(f"/merchant/{merchant_id}", page._("Concession rate changed."))


# -- statements ---------------------------------------------------------------------------------


@router.get("/merchant/{merchant_id}/statement.csv")
def statement(
    page: PageDep, merchant_id: int, day_from: date = Query(alias="from"), day_to: date = Query(alias="to")
) -> Response:
    may_read_merchant(page.user, merchant_id)
    if day_to < day_from or day_to - day_from > timedelta(days=statements.STATEMENT_MAX_DAYS):
        raise InvalidInput(
            "invalid_period",
            f"对账期间须为开始日不晚于结束日、最长 {statements.STATEMENT_MAX_DAYS} 天",
            f"the period must start no later than it ends and span at most {statements.STATEMENT_MAX_DAYS} days",
        )
    _ = page._
    header = [
        _("Purchase"),
        _("Business day"),
        _("Time (Beijing)"),
        _("Consumer"),
        _("Amount (CNY)"),
        _("Concession rate"),
        _("Guide price"),
        _("Points deducted"),
        _("From available points"),
        _("From deposit"),
        _("Merchant share value"),
        _("Consumer share value"),
        _("Status"),
        _("Refunded at"),
    ]
    out = io.StringIO()
    out.write("\ufeff")  # spreadsheet programs then read the file as UTF-8
    writer = csv.writer(out)
    writer.writerow(header)
    for p in statements.merchant_purchases(page.engine, merchant_id, day_from, day_to):
        row = plain(p)
        writer.writerow(
            [
                row["id"],
                row["business_day"],
                local_time(row["occurred_at"], seconds=True),
                row["consumer_id"],
                row["amount"],
                row["concession_rate"],
                row["guide_price"],
                row["points_deducted"],
                row["from_available"],
                row["from_deposit"],
                row["merchant_share_value"],
                row["consumer_share_value"],
                row["status"],
                local_time(row["refunded_at"], seconds=True) if row["refunded_at"] else "",
            ]
        )
    name = f"statement-{merchant_id}-{day_from.isoformat()}-{day_to.isoformat()}.csv"
    return Response(
        out.getvalue().encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
