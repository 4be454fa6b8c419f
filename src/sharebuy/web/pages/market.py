"""The market pages (SPEC §6): listings by price, quick buy, selling, my listings and trades
with live countdowns, paying, confirming, cancelling, disputing with evidence.

A consumer acts for itself; a shop's owner or staff act for the shop with `as=<merchant id>`
(the API's `merchant_id`), with the same owner-only steps as the API: listing points,
confirming receipt and the shop's payment accounts.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Response

from sharebuy.kernel.errors import InvalidInput, SharebuyError
from sharebuy.market import domain
from sharebuy.market import queries as market_queries
from sharebuy.market import service as market
from sharebuy.members import queries as member_queries
from sharebuy.web.api.common import plain
from sharebuy.web.pages.common import (
    Form,
    FormDep,
    Page,
    PageDenied,
    PageDep,
    PageRoute,
    acting_for,
    field_errors,
    member_of,
)

router = APIRouter(prefix="/market", route_class=PageRoute, include_in_schema=False)

AS = Query("", max_length=20, pattern=r"^[0-9]*$", alias="as")
TRADE_LIMIT = 30
QUANTITY_CODES = (
    "invalid_decimal",
    "too_many_decimals",
    "non_positive_amount",
    "float_refused",
    "insufficient_points",
    "below_min_order",
    "order_size",
    "amount_too_small",
    "not_enough_listings",
    "sold_out",
)
BUY_FIELDS = {
    **{code: "quantity" for code in QUANTITY_CODES},
    "invalid_price": "max_price",
    "no_matching_listings": "max_price",
    "price_out_of_band": "max_price",
}
SELL_FIELDS = {
    **{code: "quantity" for code in QUANTITY_CODES},
    "invalid_price": "price",
    "price_out_of_band": "price",
    "invalid_payment_kind": "payment_kinds",
    "payment_kind_required": "payment_kinds",
    "payment_method_missing": "payment_kinds",
    "invalid_order_bounds": "min_order",
}
TAKE_FIELDS = {code: "quantity" for code in (*QUANTITY_CODES, "no_common_payment_method")}
PAID_FIELDS = {"invalid_text": "reference", "text_required": "reference"}
DISPUTE_FIELDS = {"invalid_text": "reason", "text_required": "reason"}
EVIDENCE_FIELDS = {
    "invalid_evidence_kind": "kind",
    "text_required": "text",
    "invalid_text": "text",
    "empty_evidence": "file",
    "file_required": "file",
    "evidence_too_large": "file",
    "unsupported_image": "file",
}


def _as_query(merchant: str) -> str:
    return f"?{urlencode({'as': merchant})}" if merchant else ""


def _acting_context(page: Page, merchant: str) -> dict[str, Any]:
    """Who the page acts for, and the shops it could act for instead (to switch)."""
    member = acting_for(page, merchant)
    shops = {
        shop: member_queries.merchant_profile(page.engine, shop)["name"]
        for shop in sorted(page.user.merchant_ids)
    }
    return {
        "member": member,
        "as_id": merchant,
        "as_query": _as_query(merchant),
        "shops": shops,
        "is_owner": not merchant or int(merchant) in page.user.owned_merchant_ids,
        "standing": plain(market.profile(page.engine, member)),
    }


def _viewer(page: Page) -> market.Viewer:
    principal = page.user
    mine = set(principal.merchant_ids)
    if principal.member_id is not None:
        mine.add(principal.member_id)
    return market.Viewer(frozenset(mine))


# -- the book and quick buy ------------------------------------------------------------------------


def _book(page: Page, merchant: str, status_code: int = 200, **context: Any) -> Response:
    acting = _acting_context(page, merchant)
    listings = plain(market_queries.listing_book(page.engine, limit=50))
    return page.render(
        "market/book.html",
        status_code=status_code,
        title=page._("Market"),
        listings=listings,
        price=plain(market_queries.guide_price(page.engine)),
        status=plain(market.market_status(page.engine)),
        **acting,
        **context,
    )


@router.get("")
def book(page: PageDep, merchant: str = AS) -> Response:
    if page.user.is_operator:
        return page.redirect("/ops")
    return _book(page, merchant)


@router.post("/quick-buy")
def quick_buy(page: PageDep, form: FormDep) -> Response:
    merchant = form.get("as")
    buyer = acting_for(page, merchant)
    allow_partial = form.get("allow_partial") == "1"
    payload = {
        "as": merchant,
        "quantity": form.get("quantity"),
        "max_price": form.get("max_price"),
        "allow_partial": allow_partial,
    }

    def effect() -> dict[str, Any]:
        return market.quick_buy(
            page.engine,
            buyer,
            payload["quantity"],
            payload["max_price"],
            allow_partial=allow_partial,
            actor=page.user.scope,
        )

    try:
        done, _replayed = page.once(form.key, payload, effect)
    except SharebuyError as error:
        return _book(
            page, merchant, error.status, values=form.echo(), errors=field_errors(page, error, BUY_FIELDS)
        )
    trades = done["trades"]
    text = page._(
        "Bought %(filled)s points in %(n)s trade(s), %(amount)s CNY to pay. Pay each seller before the deadline.",
        filled=done["filled"],
        n=len(trades),
        amount=done["amount"],
    )
    if len(trades) == 1:
        return page.redirect(f"/market/trades/{trades[0]['id']}{_as_query(merchant)}", text)
    return page.redirect(f"/market/my{_as_query(merchant)}", text)


# -- one listing ------------------------------------------------------------------------------------


def _listing(page: Page, listing_id: int, merchant: str, status_code: int = 200, **context: Any) -> Response:
    acting = _acting_context(page, merchant)
    return page.render(
        "market/listing.html",
        status_code=status_code,
        title=page._("Listing %(id)s", id=listing_id),
        listing=plain(market_queries.listing(page.engine, listing_id)),
        **acting,
        **context,
    )


@router.get("/listings/{listing_id}")
def listing(page: PageDep, listing_id: int, merchant: str = AS) -> Response:
    return _listing(page, listing_id, merchant)


@router.post("/listings/{listing_id}/take")
def take(page: PageDep, form: FormDep, listing_id: int) -> Response:
    merchant = form.get("as")
    buyer = acting_for(page, merchant)
    quantity = form.get("quantity")
    try:
        trade, _replayed = page.once(
            form.key,
            {"as": merchant, "quantity": quantity},
            lambda: market.take_listing(page.engine, buyer, listing_id, quantity, actor=page.user.scope),
        )
    except SharebuyError as error:
        return _listing(
            page,
            listing_id,
            merchant,
            error.status,
            values=form.echo(),
            errors=field_errors(page, error, TAKE_FIELDS),
        )
    return page.redirect(
        f"/market/trades/{trade['id']}{_as_query(merchant)}",
        page._("Trade opened: pay the seller %(amount)s CNY before the deadline.", amount=trade["amount"]),
    )


@router.post("/listings/{listing_id}/cancel")
def cancel_listing(page: PageDep, form: FormDep, listing_id: int) -> Response:
    merchant = form.get("as")
    seller = acting_for(page, merchant, owner_only=True)
    page.once(
        form.key,
        {"as": merchant},
        lambda: market.cancel_listing(page.engine, seller, listing_id, actor=page.user.scope),
    )
    return page.redirect(
        f"/market/my{_as_query(merchant)}",
        page._("Listing withdrawn; its remaining points are available again."),
    )


# -- selling ----------------------------------------------------------------------------------------


def _sell(page: Page, merchant: str, status_code: int = 200, **context: Any) -> Response:
    acting = _acting_context(page, merchant)
    member = acting["member"]
    if member == page.user.member_id:
        balance = member_queries.consumer_balance(page.engine, member)
    else:
        balance = member_queries.merchant_balance(page.engine, member)
    methods = plain(market.list_payment_methods(page.engine, member)) if acting["is_owner"] else []
    return page.render(
        "market/sell.html",
        status_code=status_code,
        title=page._("Sell points"),
        balance=plain(balance),
        methods=methods,
        kinds=domain.PAYMENT_KINDS,
        price=plain(market_queries.guide_price(page.engine)),
        **acting,
        **context,
    )


@router.get("/sell")
def sell_form(page: PageDep, merchant: str = AS) -> Response:
    return _sell(page, merchant)


@router.post("/sell")
def sell(page: PageDep, form: FormDep) -> Response:
    merchant = form.get("as")
    seller = acting_for(page, merchant, owner_only=True)
    kinds = sorted(form.many("payment_kinds"))
    payload = {
        "as": merchant,
        "quantity": form.get("quantity"),
        "price": form.get("price"),
        "payment_kinds": kinds,
        "min_order": form.get("min_order") or None,
        "max_order": form.get("max_order") or None,
    }

    def effect() -> dict[str, Any]:
        return market.create_listing(
            page.engine,
            seller,
            quantity=payload["quantity"],
            price=payload["price"],
            payment_kinds=kinds,
            min_order=payload["min_order"],
            max_order=payload["max_order"],
            actor=page.user.scope,
        )

    try:
        if not kinds:
            raise InvalidInput(
                "payment_kind_required",
                "请至少选择一种收款方式",
                "choose at least one way to be paid",
            )
        made, _replayed = page.once(form.key, payload, effect)
    except SharebuyError as error:
        values = form.echo()
        values["payment_kinds"] = kinds
        return _sell(
            page, merchant, error.status, values=values, errors=field_errors(page, error, SELL_FIELDS)
        )
    return page.redirect(
        f"/market/my{_as_query(merchant)}",
        page._(
            "Listed %(q)s points at %(p)s CNY each; they are held in escrow.",
            q=made["quantity"],
            p=made["price"],
        ),
    )


# -- my listings and trades ------------------------------------------------------------------------


def _my(page: Page, merchant: str) -> dict[str, Any]:
    acting = _acting_context(page, merchant)
    member = acting["member"]
    viewer = market.Viewer(frozenset({member}))
    trades = plain(market_queries.trades_of(page.engine, viewer, member_ids=[member], limit=TRADE_LIMIT))
    listings = plain(market_queries.listings_of(page.engine, member, limit=20))
    return {**acting, "trades": trades, "my_listings": listings}


@router.get("/my")
def my(page: PageDep, merchant: str = AS) -> Response:
    if page.user.is_operator:
        return page.redirect("/ops/disputes")
    return page.render("market/my.html", title=page._("My trades"), **_my(page, merchant))


@router.get("/my/trades")
def my_trades_fragment(page: PageDep, merchant: str = AS) -> Response:
    """HTMX: the trades table, refreshed while the page is open (statuses and deadlines move)."""
    return page.render("market/_trades.html", **_my(page, merchant))


# -- one trade ----------------------------------------------------------------------------------------


def _trade_context(page: Page, trade_id: int) -> dict[str, Any]:
    member_of(page)
    trade = plain(market.get_trade(page.engine, trade_id, _viewer(page)))
    role = trade["your_role"]
    me = page.user.member_id
    party = trade["buyer_id"] if role == domain.BUYER else trade["seller_id"]
    as_id = "" if party == me else str(party)
    return {
        "trade": trade,
        "role": role,
        "as_id": as_id,
        "as_query": _as_query(as_id),
        "is_owner": party == me or party in page.user.owned_merchant_ids,
        "evidence": plain(market.list_evidence(page.engine, trade_id, _viewer(page))),
    }


def _trade(page: Page, trade_id: int, status_code: int = 200, **context: Any) -> Response:
    found = _trade_context(page, trade_id)
    return page.render(
        "market/trade.html",
        status_code=status_code,
        title=page._("Trade %(id)s", id=trade_id),
        failed=context.pop("failed", ""),
        **found,
        **context,
    )


@router.get("/trades/{trade_id}")
def trade_page(page: PageDep, trade_id: int) -> Response:
    return _trade(page, trade_id)


@router.get("/trades/{trade_id}/card")
def trade_card(page: PageDep, trade_id: int) -> Response:
    """HTMX: the trade's facts, refreshed while the page is open."""
    return page.render("market/_trade_card.html", **_trade_context(page, trade_id))


def _party(page: Page, trade_id: int, *, owner_only: bool = False) -> tuple[int, str]:
    """The member the caller acts for in this trade (buyer or seller side)."""
    found = _trade_context(page, trade_id)
    if found["role"] not in (domain.BUYER, domain.SELLER):
        raise PageDenied("forbidden", "无权执行此操作或访问此对象", "you may not do this or see this")
    return acting_for(page, found["as_id"], owner_only=owner_only), found["as_id"]


def _step(
    page: Page,
    form: Form,
    trade_id: int,
    effect: Any,
    payload: dict[str, Any],
    done_text: str,
    failed: str,
    fields: dict[str, str],
) -> Response:
    try:
        page.once(form.key, payload, effect)
    except SharebuyError as error:
        return _trade(
            page,
            trade_id,
            error.status,
            failed=failed,
            values=form.echo(),
            errors=field_errors(page, error, fields),
        )
    return page.redirect(f"/market/trades/{trade_id}", done_text)


@router.post("/trades/{trade_id}/paid")
def mark_paid(page: PageDep, form: FormDep, trade_id: int) -> Response:
    buyer, _as = _party(page, trade_id)
    reference = form.get("reference")
    return _step(
        page,
        form,
        trade_id,
        lambda: market.mark_paid(page.engine, trade_id, buyer, reference, actor=page.user.scope),
        {"reference": reference},
        page._("Marked as paid. The seller now confirms the money has arrived."),
        "paid",
        PAID_FIELDS,
    )


@router.post("/trades/{trade_id}/confirm")
def confirm(page: PageDep, form: FormDep, trade_id: int) -> Response:
    seller, _as = _party(page, trade_id, owner_only=True)
    return _step(
        page,
        form,
        trade_id,
        lambda: market.confirm(page.engine, trade_id, seller, actor=page.user.scope),
        {},
        page._("Receipt confirmed: the points went to the buyer. The trade is complete."),
        "confirm",
        {},
    )


@router.post("/trades/{trade_id}/cancel")
def cancel(page: PageDep, form: FormDep, trade_id: int) -> Response:
    buyer, _as = _party(page, trade_id)
    reason = form.get("reason")
    return _step(
        page,
        form,
        trade_id,
        lambda: market.cancel(page.engine, trade_id, buyer, reason=reason, actor=page.user.scope),
        {"reason": reason},
        page._("Trade cancelled; the points went back to the listing."),
        "cancel",
        {},
    )


@router.post("/trades/{trade_id}/dispute")
def dispute(page: PageDep, form: FormDep, trade_id: int) -> Response:
    member, _as = _party(page, trade_id)
    reason = form.get("reason")
    return _step(
        page,
        form,
        trade_id,
        lambda: market.dispute(page.engine, trade_id, member, reason=reason, actor=page.user.scope),
        {"reason": reason},
        page._("Dispute opened. An operator will decide on the evidence; add what you have below."),
        "dispute",
        DISPUTE_FIELDS,
    )


@router.post("/trades/{trade_id}/evidence")
def evidence(page: PageDep, form: FormDep, trade_id: int) -> Response:
    _party(page, trade_id)
    kind = form.get("kind")
    text = form.get("text") or None
    upload = form.files.get("file")
    data: bytes | None = None
    if kind == "image" and upload is not None and upload.filename:
        data = upload.file.read(domain.MAX_IMAGE_BYTES + 1)
    viewer = _viewer(page)

    def effect() -> dict[str, Any]:
        if kind == "image" and data is None:
            raise InvalidInput("file_required", "请上传图片文件", "upload an image file")
        if data is not None:
            domain.check_image_size(len(data))
        return market.add_evidence(
            page.engine, trade_id, viewer, kind=kind, text=text, data=data, actor=page.user.scope
        )

    digest = None if data is None else hashlib.sha256(data).hexdigest()
    return _step(
        page,
        form,
        trade_id,
        effect,
        {"kind": kind, "text": text, "sha256": digest},
        page._("Evidence added."),
        "evidence",
        EVIDENCE_FIELDS,
    )
