"""The consumer's pages: wallet, history, purchases and releases, profile, the risk notice.

Everything shown comes from the read models the API serves (`members.queries`,
`rewards.queries`, `settlement_service`) and is rendered as the API renders it (`plain`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Query, Response

from sharebuy.kernel.errors import SharebuyError
from sharebuy.market import queries as market_queries
from sharebuy.market import service as market
from sharebuy.members import queries as member_queries
from sharebuy.members import service as members
from sharebuy.rewards import queries as reward_queries
from sharebuy.rewards import settlement_service
from sharebuy.web.api.common import MAX_ID, plain
from sharebuy.web.pages import tiers as tier_pages
from sharebuy.web.pages.common import (
    FormDep,
    Page,
    PageDep,
    PageRoute,
    acting_for,
    field_errors,
    member_of,
    safe_next,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE_SIZE = 30
REAL_NAME_FIELDS = {
    "invalid_real_name": "real_name",
    "name_required": "real_name",
    "name_too_long": "real_name",
    "invalid_id_number": "id_number",
    "id_number_taken": "id_number",
    "real_name_already_set": "_form",
}
METHOD_FIELDS = {
    "invalid_payment_kind": "kind",
    "payment_kind_required": "kind",
    "invalid_account_name": "account_name",
    "invalid_account_id": "account_id",
    "payment_method_exists": "account_id",
    "bank_name_required": "bank_name",
    "too_many_payment_methods": "_form",
}


def qr_text(member_id: int) -> str:
    """What the consumer's QR code says; the till reads it back with `parse_member_code`."""
    return f"sharebuy:consumer:{member_id}"


def last_release(page: Page, member_id: int) -> dict[str, Any] | None:
    """The last settled day's report and this member's line of it (None: nothing settled yet)."""
    latest = reward_queries.settlement_list(page.engine, limit=1)
    if not latest:
        return None
    return release_of(page, member_id, latest[0]["date"])


def release_of(page: Page, member_id: int, day: date) -> dict[str, Any]:
    report = settlement_service.report(page.engine, day)
    lines = settlement_service.lines(page.engine, day, member_id=member_id, limit=1)
    return {"report": plain(report), "line": plain(lines[0]) if lines else None}


@router.get("/wallet")
def wallet(page: PageDep) -> Response:
    if page.user.is_operator:
        return page.redirect("/ops")
    me = member_of(page)
    return page.render(
        "consumer/wallet.html",
        title=page._("Wallet"),
        profile=plain(member_queries.consumer_profile(page.engine, me)),
        balance=plain(member_queries.consumer_balance(page.engine, me)),
        release=last_release(page, me),
        purchases=plain(reward_queries.purchase_list(page.engine, consumer_id=me, limit=5)),
        price=plain(market_queries.guide_price(page.engine)),
        qr=qr_text(me),
        shops=sorted(page.user.merchant_ids),
        tier=tier_pages.member_card(page, me),
    )


@router.get("/wallet/history")
def history(
    page: PageDep,
    kind: str = Query("", max_length=24, pattern=r"^[a-z0-9_.]*$"),
    before: int | None = Query(None, ge=1, le=MAX_ID),
) -> Response:
    me = member_of(page)
    items = member_queries.history(page.engine, me, kind=kind or None, before=before, limit=PAGE_SIZE)
    more = int(items[-1]["id"]) if len(items) == PAGE_SIZE else None
    return page.render(
        "consumer/history.html",
        title=page._("Account history"),
        items=plain(items),
        kind=kind,
        more=more,
        kinds=["purchase", "refund", "release", "market_escrow", "market_return", "market_release"],
    )


@router.get("/wallet/purchases")
def purchases(page: PageDep, before: int | None = Query(None, ge=1, le=MAX_ID)) -> Response:
    me = member_of(page)
    items = reward_queries.purchase_list(page.engine, consumer_id=me, before=before, limit=PAGE_SIZE)
    releases = member_queries.history(page.engine, me, kind="release", limit=PAGE_SIZE)
    return page.render(
        "consumer/purchases.html",
        title=page._("Purchases and releases"),
        items=plain(items),
        more=int(items[-1]["id"]) if len(items) == PAGE_SIZE else None,
        releases=[r for r in plain(releases) if r["asset"] == "points"],
    )


@router.get("/wallet/releases/{day}")
def release(page: PageDep, day: date) -> Response:
    me = member_of(page)
    return page.render(
        "consumer/release.html",
        title=page._("Release of %(day)s", day=day.isoformat()),
        release=release_of(page, me, day),
    )


# -- profile: real name, payment methods -----------------------------------------------------


def _profile(page: Page, status_code: int = 200, **context: Any) -> Response:
    me = member_of(page)
    owned = sorted(page.user.owned_merchant_ids)
    methods = {0: plain(market.list_payment_methods(page.engine, me))}
    for shop in owned:
        methods[shop] = plain(market.list_payment_methods(page.engine, shop))
    names = {shop: member_queries.merchant_profile(page.engine, shop)["name"] for shop in owned}
    return page.render(
        "consumer/profile.html",
        status_code=status_code,
        title=page._("Profile"),
        profile=plain(member_queries.consumer_profile(page.engine, me)),
        standing=plain(market.profile(page.engine, me)),
        methods=methods,
        shops=names,
        **context,
    )


@router.get("/profile")
def profile(page: PageDep) -> Response:
    return _profile(page)


@router.post("/profile/real-name")
def real_name(page: PageDep, form: FormDep) -> Response:
    me = member_of(page)
    name, number = form.get("real_name"), form.get("id_number")
    try:
        page.once(
            form.key,
            {"real_name": name, "id_number": number},
            lambda: members.set_real_name(page.engine, me, name, number),
        )
    except SharebuyError as error:
        return _profile(
            page,
            error.status,
            values=form.echo(),
            failed="real_name",
            errors=field_errors(page, error, REAL_NAME_FIELDS),
        )
    return page.redirect("/profile", page._("Your real name is on record."))


@router.post("/profile/payment-methods")
def add_method(page: PageDep, form: FormDep) -> Response:
    member = acting_for(page, form.get("as"), owner_only=True)
    payload = {
        "as": form.get("as"),
        "kind": form.get("kind"),
        "account_name": form.get("account_name"),
        "account_id": form.get("account_id"),
        "bank_name": form.get("bank_name"),
    }

    def effect() -> dict[str, Any]:
        return market.add_payment_method(
            page.engine,
            member,
            kind=payload["kind"],
            account_name=payload["account_name"],
            account_id=payload["account_id"],
            bank_name=payload["bank_name"],
        )

    try:
        page.once(form.key, payload, effect)
    except SharebuyError as error:
        return _profile(
            page,
            error.status,
            values=form.echo(),
            failed="payment_method",
            errors=field_errors(page, error, METHOD_FIELDS),
        )
    return page.redirect("/profile#payment-methods", page._("Payment method added."))


@router.post("/profile/payment-methods/{method_id}/remove")
def remove_method(page: PageDep, form: FormDep, method_id: int) -> Response:
    member = acting_for(page, form.get("as"), owner_only=True)
    market.remove_payment_method(page.engine, member, method_id)
    return page.redirect("/profile#payment-methods", page._("Payment method removed."))


# -- the risk notice ----------------------------------------------------------------------------


@router.get("/risk-notice")
def risk_notice(page: PageDep) -> Response:
    standing: dict[int, Any] = {}
    names: dict[int, str] = {}
    if page.principal is not None and page.principal.role == "consumer" and page.principal.member_id:
        me = page.principal.member_id
        standing[0] = plain(market.profile(page.engine, me))
        for shop in sorted(page.principal.owned_merchant_ids):
            standing[shop] = plain(market.profile(page.engine, shop))
            names[shop] = member_queries.merchant_profile(page.engine, shop)["name"]
    return page.render(
        "consumer/risk_notice.html",
        title=page._("Risk notice"),
        notice=market.risk_notice(),
        standing=standing,
        shops=names,
        next=page.request.query_params.get("next", ""),
    )


@router.post("/risk-notice/accept")
def accept_risk_notice(page: PageDep, form: FormDep) -> Response:
    member = acting_for(page, form.get("as"), owner_only=True)
    version_text = form.get("version")
    version = int(version_text) if version_text.isdigit() else 0
    page.once(
        form.key,
        {"as": form.get("as"), "version": version},
        lambda: market.accept_risk_notice(page.engine, member, version=version, actor=page.user.scope),
    )
    return page.redirect(
        safe_next(form.get("next"), "/risk-notice"), page._("Thank you: the risk notice is accepted.")
    )
