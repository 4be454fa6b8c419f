"""Operator pages for tiers, the dividend pool and green certification, and the tier cards the
wallet and the merchant console show.  Admins act; auditors read (the same split as the API)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response

from sharebuy.kernel.clock import parse_day
from sharebuy.kernel.errors import SharebuyError
from sharebuy.tiers import dividends, green
from sharebuy.tiers import service as tiers
from sharebuy.web.api.common import MAX_ID, plain
from sharebuy.web.pages.common import FormDep, Page, PageDep, PageRoute, field_errors
from sharebuy.web.pages.operator import admin_of, operator_of

router = APIRouter(prefix="/ops", route_class=PageRoute, include_in_schema=False)

TIER_FIELDS = {
    "invalid_tier_code": "code",
    "tier_kind_fixed": "member_kind",
    "invalid_member_kind": "member_kind",
    "invalid_tier_name": "name_zh",
    "invalid_decimal": "threshold",
    "too_many_decimals": "threshold",
    "float_refused": "threshold",
    "negative_threshold": "threshold",
    "tier_threshold_taken": "threshold",
    "invalid_weight": "weight",
}
PERIOD_FIELDS = {"invalid_period": "period", "period_not_settled": "period", "period_overlaps": "period"}
GREEN_FIELDS = {"merchant_not_found": "merchant_id", "note_too_long": "note"}


def member_card(page: Page, member_id: int) -> dict[str, Any]:
    """A member's tier, basis, next tier, history and dividends, for the wallet and the console."""
    found = tiers.member_tier(page.engine, member_id, history_limit=10)
    # The history names tiers by code; a member reads their names, in the page's language.
    names = {
        t["code"]: t["name_zh"] if page.lang == "zh" else t["name_en"] for t in tiers.list_tiers(page.engine)
    }
    return plain(
        {**found, "names": names, "dividends": dividends.member_dividends(page.engine, member_id, limit=6)}
    )


# -- the ladder -----------------------------------------------------------------------------------


def _tiers(page: Page, status_code: int = 200, **context: Any) -> Response:
    operator_of(page)
    return page.render(
        "operator/tiers.html",
        status_code=status_code,
        title=page._("Membership tiers"),
        ladder=plain(tiers.list_tiers(page.engine)),
        is_admin=page.user.role == "admin",
        **context,
    )


@router.get("/tiers")
def tiers_page(page: PageDep) -> Response:
    return _tiers(page)


@router.post("/tiers")
def set_tier(page: PageDep, form: FormDep) -> Response:
    principal = admin_of(page)
    fields = {k: form.get(k) for k in ("code", "member_kind", "name_zh", "name_en", "threshold", "weight")}
    try:
        weight = int(fields["weight"]) if fields["weight"].isdigit() else -1
        done, _replayed = page.once(
            form.key,
            fields,
            lambda: tiers.set_tier(
                page.engine,
                code=fields["code"],
                member_kind=fields["member_kind"],
                name_zh=fields["name_zh"],
                name_en=fields["name_en"],
                threshold=fields["threshold"],
                weight=weight,
                actor=principal.scope,
            ),
        )
    except SharebuyError as error:
        return _tiers(page, error.status, values=form.echo(), errors=field_errors(page, error, TIER_FIELDS))
    return page.redirect("/ops/tiers", page._("Tier %(code)s saved.", code=done["code"]))


@router.post("/tiers/{code}/remove")
def remove_tier(page: PageDep, form: FormDep, code: str) -> Response:
    principal = admin_of(page)
    try:
        page.once(
            form.key, {"code": code}, lambda: tiers.remove_tier(page.engine, code, actor=principal.scope)
        )
    except SharebuyError as error:
        return page.redirect("/ops/tiers", page.error_text(error), "error")
    return page.redirect("/ops/tiers", page._("Tier %(code)s removed.", code=code))


@router.post("/tiers/evaluate")
def evaluate(page: PageDep, form: FormDep) -> Response:
    principal = admin_of(page)
    text = form.get("date")
    try:
        day = parse_day(text) if text else None
        done, _replayed = page.once(
            form.key, {"date": text}, lambda: tiers.evaluate(page.engine, day, actor=principal.scope)
        )
    except SharebuyError as error:
        return page.redirect("/ops/tiers", page.error_text(error), "error")
    return page.redirect(
        "/ops/tiers",
        page._(
            "Tiers evaluated for %(day)s: %(up)s up, %(down)s down.",
            day=done["business_day"],
            up=done["upgraded"],
            down=done["downgraded"],
        ),
    )


# -- the dividend pool ---------------------------------------------------------------------------


def _dividends(page: Page, status_code: int = 200, **context: Any) -> Response:
    operator_of(page)
    return page.render(
        "operator/dividends.html",
        status_code=status_code,
        title=page._("Dividend pool"),
        items=plain(dividends.periods(page.engine, limit=60)),
        is_admin=page.user.role == "admin",
        **context,
    )


@router.get("/dividends")
def dividends_page(page: PageDep) -> Response:
    return _dividends(page)


@router.post("/dividends")
def run_period(page: PageDep, form: FormDep) -> Response:
    principal = admin_of(page)
    period = form.get("period")
    try:
        done, _replayed = page.once(
            form.key,
            {"period": period},
            lambda: dividends.run_period(page.engine, period, actor=principal.scope),
            atomic=False,  # a period is paid once by construction; the record follows the run
        )
    except SharebuyError as error:
        return _dividends(
            page, error.status, values=form.echo(), errors=field_errors(page, error, PERIOD_FIELDS)
        )
    if done["replayed"]:
        text = page._("Period %(period)s was already paid; this is its report.", period=done["period"])
    else:
        text = page._("Period %(period)s paid: %(pool)s points.", period=done["period"], pool=done["pool"])
    return page.redirect(f"/ops/dividends/{done['period']}", text)


@router.get("/dividends/{period}")
def period_report(
    page: PageDep,
    period: str,
    offset: int = Query(0, ge=0, le=MAX_ID),
) -> Response:
    operator_of(page)
    limit = 100
    report = dividends.report(page.engine, period)
    lines = dividends.lines(page.engine, period, limit=limit, offset=offset)
    return page.render(
        "operator/dividend.html",
        title=page._("Dividend period %(period)s", period=report.period),
        report=plain(report),
        lines=plain(lines),
        offset=offset,
        limit=limit,
        more=len(lines) == limit,
    )


# -- green certification --------------------------------------------------------------------------


def _green(page: Page, status_code: int = 200, **context: Any) -> Response:
    operator_of(page)
    return page.render(
        "operator/green.html",
        status_code=status_code,
        title=page._("Green merchants"),
        items=plain(green.green_merchants_list(page.engine)),
        is_admin=page.user.role == "admin",
        **context,
    )


@router.get("/green")
def green_page(page: PageDep) -> Response:
    return _green(page)


@router.post("/green")
def set_green(page: PageDep, form: FormDep) -> Response:
    principal = admin_of(page)
    merchant, note, certify = form.get("merchant_id"), form.get("note"), form.get("green") == "1"
    try:
        merchant_id = int(merchant) if merchant.isdigit() else 0
        done, _replayed = page.once(
            form.key,
            {"merchant_id": merchant, "green": certify, "note": note},
            lambda: green.set_green(page.engine, merchant_id, certify, actor=principal.scope, note=note),
        )
    except SharebuyError as error:
        return _green(page, error.status, values=form.echo(), errors=field_errors(page, error, GREEN_FIELDS))
    if done["green"]:
        text = page._("Merchant %(id)s is certified green.", id=done["merchant_id"])
    else:
        text = page._("Merchant %(id)s is no longer certified green.", id=done["merchant_id"])
    return page.redirect("/ops/green", text)
