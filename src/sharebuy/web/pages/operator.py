"""The operator console (desktop): dashboard, merchant approvals and grants, the rulebook editor
with its diff, settlements and their reports, the dispute queue, verify, the audit log.

Admins act; auditors read everything and change nothing (the same split as the API).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Query, Response

from sharebuy.identity.service import Principal
from sharebuy.kernel.clock import business_day, parse_day
from sharebuy.kernel.errors import InvalidInput, SharebuyError
from sharebuy.ledger import journal
from sharebuy.market import queries as market_queries
from sharebuy.market import service as market
from sharebuy.members import queries as member_queries
from sharebuy.members import service as members
from sharebuy.rewards import platform_service, settlement_service
from sharebuy.rewards import queries as reward_queries
from sharebuy.rewards import rules as rulebook
from sharebuy.web.api.common import MAX_ID, plain
from sharebuy.web.observability import record_verify
from sharebuy.web.pages.common import FormDep, Page, PageDenied, PageDep, PageRoute, field_errors

router = APIRouter(prefix="/ops", route_class=PageRoute, include_in_schema=False)

MERCHANT_STATUSES = ("applied", "approved", "active", "suspended", "closed")
GRANT_FIELDS = {
    "invalid_decimal": "amount",
    "too_many_decimals": "amount",
    "non_positive_amount": "amount",
    "float_refused": "amount",
    "reserve_exhausted": "amount",
    "name_required": "reason",
    "name_too_long": "reason",
}
DECIDE_FIELDS = {"invalid_decision": "decision", "invalid_text": "reason", "text_required": "reason"}


def _denied() -> PageDenied:
    return PageDenied(
        "operators_only", "此页面仅供运营人员使用", "this page is for the platform's operators only"
    )


def operator_of(page: Page) -> Principal:
    principal = page.user
    if principal.role not in ("admin", "auditor"):
        raise _denied()
    return principal


def admin_of(page: Page) -> Principal:
    principal = operator_of(page)
    if principal.role != "admin":
        raise PageDenied(
            "forbidden", "审计员只能查看，不能修改", "auditors read; they cannot change anything"
        )
    return principal


def _today() -> date:
    return business_day(datetime.now(UTC))


# -- dashboard -------------------------------------------------------------------------------


@router.get("")
def dashboard(page: PageDep) -> Response:
    operator_of(page)
    latest = reward_queries.settlement_list(page.engine, limit=1)
    return page.render(
        "operator/dashboard.html",
        title=page._("Dashboard"),
        economy=plain(member_queries.platform_balance(page.engine)),
        turnover=plain(reward_queries.turnover(page.engine, _today())),
        by_status=member_queries.merchants_by_status(page.engine),
        statuses=MERCHANT_STATUSES,
        kline=plain(market_queries.kline(page.engine, days=60)),
        price=plain(market_queries.guide_price(page.engine)),
        market_status=plain(market.market_status(page.engine)),
        latest=plain(latest[0]) if latest else None,
        is_admin=page.user.role == "admin",
    )


@router.post("/market")
def switch_market(page: PageDep, form: FormDep) -> Response:
    principal = admin_of(page)
    open_ = form.get("open") == "1"
    reason = form.get("reason")
    try:
        page.once(
            form.key,
            {"open": open_, "reason": reason},
            lambda: market.set_market_open(page.engine, open_, reason=reason, actor=principal.scope),
        )
    except SharebuyError as error:
        return page.redirect("/ops", page.error_text(error), "error")
    return page.redirect("/ops", page._("Market opened.") if open_ else page._("Market closed."))


# -- merchants: approvals and start-up grants ------------------------------------------------------


def _merchants(page: Page, status: str, status_code: int = 200, **context: Any) -> Response:
    operator_of(page)
    rows = plain(member_queries.merchant_list(page.engine, status=status or None, limit=200))
    balances = {m["id"]: plain(member_queries.merchant_balance(page.engine, m["id"])) for m in rows}
    return page.render(
        "operator/merchants.html",
        status_code=status_code,
        title=page._("Merchants"),
        merchants=rows,
        balances=balances,
        status=status,
        statuses=MERCHANT_STATUSES,
        by_status=member_queries.merchants_by_status(page.engine),
        is_admin=page.user.role == "admin",
        **context,
    )


@router.get("/merchants")
def merchants_page(page: PageDep, status: str = Query("", pattern=r"^[a-z_]*$", max_length=10)) -> Response:
    return _merchants(page, status)


@router.post("/merchants/{merchant_id}/approve")
def approve(page: PageDep, form: FormDep, merchant_id: int) -> Response:
    principal = admin_of(page)
    actor = f"user:{principal.user_id}"
    page.once(form.key, {}, lambda: members.approve_merchant(page.engine, merchant_id, actor=actor))
    name = member_queries.merchant_profile(page.engine, merchant_id)["name"]
    return page.redirect(
        f"/ops/merchants?status={form.get('status')}", page._("Merchant %(name)s approved.", name=name)
    )


@router.post("/merchants/{merchant_id}/grant")
def grant(page: PageDep, form: FormDep, merchant_id: int) -> Response:
    principal = admin_of(page)
    actor = f"user:{principal.user_id}"
    amount, reason = form.get("amount"), form.get("reason")
    try:
        page.once(
            form.key,
            {"amount": amount, "reason": reason},
            lambda: members.grant_points(page.engine, merchant_id, amount, reason=reason, actor=actor),
        )
    except SharebuyError as error:
        return _merchants(
            page,
            form.get("status"),
            error.status,
            failed=merchant_id,
            values=form.echo(),
            errors=field_errors(page, error, GRANT_FIELDS),
        )
    return page.redirect(
        f"/ops/merchants?status={form.get('status')}",
        page._("%(amount)s points allocated from the reserve.", amount=amount),
    )


# -- the rulebook ------------------------------------------------------------------------------


def _versions_with_diffs(page: Page, versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each version beside what it changed from the one before it."""
    out: list[dict[str, Any]] = []
    previous: dict[str, str] | None = None
    for v in sorted(versions, key=lambda v: v["version"]):
        rules = platform_service.show_rules(page.engine, day=v["effective_from"])["rules"]
        changes = (
            []
            if previous is None
            else [(k, previous[k], rules[k]) for k in rules if previous.get(k) != rules[k]]
        )
        out.append({**plain(v), "changes": changes})
        previous = rules
    return list(reversed(out))


def _rules(page: Page, status_code: int = 200, **context: Any) -> Response:
    operator_of(page)
    shown = platform_service.show_rules(page.engine)
    return page.render(
        "operator/rules.html",
        status_code=status_code,
        title=page._("Rulebook"),
        current=plain(shown),
        specs=rulebook.SPECS,
        versions=_versions_with_diffs(page, shown["versions"]),
        tomorrow=(_today() + timedelta(days=1)).isoformat(),
        is_admin=page.user.role == "admin",
        **context,
    )


@router.get("/rules")
def rules_page(page: PageDep) -> Response:
    return _rules(page)


def _proposed(page: Page, form: Any) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(changes, field errors, current rules): the keys whose value the operator changed."""
    current = platform_service.show_rules(page.engine)["rules"]
    changes: dict[str, str] = {}
    errors: dict[str, str] = {}
    for key in rulebook.SPECS:
        given = form.get(f"rule_{key}")
        if given and given != current[key]:
            try:
                rulebook.parse_values({key: given})  # the rulebook's own parser, to name the field
            except SharebuyError as error:
                errors[f"rule_{key}"] = page.error_text(error)
            changes[key] = given
    return changes, errors, current


@router.post("/rules")
def change_rules(page: PageDep, form: FormDep) -> Response:
    principal = admin_of(page)
    changes, errors, current = _proposed(page, form)
    values = form.echo()
    diff = [(k, current[k], v) for k, v in changes.items()]
    if not errors and not changes:
        errors["_form"] = page._("Nothing was changed: edit at least one rule.")
    if errors:
        return _rules(page, 422, values=values, errors=errors, diff=diff)
    if form.get("confirm") != "1":
        return _rules(page, values=values, errors={}, diff=diff, confirming=True)
    try:
        day = parse_day(form.get("effective_from"))
    except SharebuyError as error:
        return _rules(page, 422, values=values, errors={"effective_from": page.error_text(error)}, diff=diff)
    note = form.get("note")
    try:
        done, _replayed = page.once(
            form.key,
            {"changes": changes, "effective_from": day.isoformat(), "note": note},
            lambda: platform_service.set_rules(
                page.engine, changes, effective_from=day, actor=principal.scope, note=note
            ),
        )
    except SharebuyError as error:
        target = "effective_from" if error.code in ("before_start", "rules_in_past") else "_form"
        return _rules(page, error.status, values=values, errors={target: page.error_text(error)}, diff=diff)
    return page.redirect(
        "/ops/rules",
        page._(
            "Rule version %(version)s saved; it takes effect on %(day)s.",
            version=done["version"],
            day=done["effective_from"],
        ),
    )


# -- settlements -------------------------------------------------------------------------------


def _settlements(page: Page, status_code: int = 200, **context: Any) -> Response:
    operator_of(page)
    return page.render(
        "operator/settlements.html",
        status_code=status_code,
        title=page._("Settlements"),
        items=plain(reward_queries.settlement_list(page.engine, limit=60)),
        yesterday=(_today() - timedelta(days=1)).isoformat(),
        is_admin=page.user.role == "admin",
        **context,
    )


@router.get("/settlements")
def settlements_page(page: PageDep) -> Response:
    return _settlements(page)


@router.post("/settlements")
def settle(page: PageDep, form: FormDep) -> Response:
    admin_of(page)
    text = form.get("date")
    try:
        through = parse_day(text) if text else None
        done, _replayed = page.once(
            form.key,
            {"date": text},
            lambda: settlement_service.settle(page.engine, through=through),
            atomic=False,  # a day is settled once by construction; the record follows the run
        )
    except SharebuyError as error:
        return _settlements(page, error.status, values=form.echo(), errors={"date": page.error_text(error)})
    days = [r["date"] for r in done]
    if not days:
        text = page._("Nothing to settle.")
    elif len(days) == 1:
        text = page._("Settled %(day)s.", day=days[0])
    else:
        text = page._("Settled %(first)s to %(last)s.", first=days[0], last=days[-1])
    return page.redirect(f"/ops/settlements/{days[-1]}" if days else "/ops/settlements", text)


@router.get("/settlements/{day}")
def settlement_report(page: PageDep, day: date, offset: int = Query(0, ge=0, le=MAX_ID)) -> Response:
    operator_of(page)
    limit = 100
    lines = settlement_service.lines(page.engine, day, limit=limit, offset=offset)
    return page.render(
        "operator/settlement.html",
        title=page._("Settlement of %(day)s", day=day.isoformat()),
        report=plain(settlement_service.report(page.engine, day)),
        lines=plain(lines),
        offset=offset,
        limit=limit,
        more=len(lines) == limit,
    )


# -- disputes ----------------------------------------------------------------------------------


@router.get("/disputes")
def disputes_page(page: PageDep, before: int | None = Query(None, ge=1, le=MAX_ID)) -> Response:
    operator_of(page)
    items = plain(market_queries.disputes(page.engine, before=before, limit=50))
    return page.render(
        "operator/disputes.html",
        title=page._("Disputes"),
        items=items,
        more=items[-1]["id"] if len(items) == 50 else None,
    )


def evidence_with_notes(page: Page, trade_id: int, viewer: market.Viewer) -> list[dict[str, Any]]:
    """The evidence of a trade, with written notes read out so that nobody has to download them."""
    items = plain(market.list_evidence(page.engine, trade_id, viewer))
    for item in items:
        if item["kind"] == "text":
            _type, body, _digest = market.evidence_file(page.engine, trade_id, item["id"], viewer)
            item["text"] = body.decode("utf-8", errors="replace")
    return items


def _dispute(page: Page, trade_id: int, status_code: int = 200, **context: Any) -> Response:
    operator_of(page)
    viewer = market.Viewer(operator=True)
    return page.render(
        "operator/dispute.html",
        status_code=status_code,
        title=page._("Trade %(id)s", id=trade_id),
        trade=plain(market.get_trade(page.engine, trade_id, viewer)),
        evidence=evidence_with_notes(page, trade_id, viewer),
        is_admin=page.user.role == "admin",
        **context,
    )


@router.get("/disputes/{trade_id}")
def dispute_page(page: PageDep, trade_id: int) -> Response:
    return _dispute(page, trade_id)


@router.post("/disputes/{trade_id}/decide")
def decide(page: PageDep, form: FormDep, trade_id: int) -> Response:
    principal = admin_of(page)
    decision, reason = form.get("decision"), form.get("reason")
    try:
        if decision not in ("release", "return"):
            raise InvalidInput(
                "invalid_decision",
                "请选择放行或退回",
                "choose to release to the buyer or return to the seller",
            )
        page.once(
            form.key,
            {"decision": decision, "reason": reason},
            lambda: market.decide(page.engine, trade_id, decision, reason=reason, actor=principal.scope),
        )
    except SharebuyError as error:
        return _dispute(
            page, trade_id, error.status, values=form.echo(), errors=field_errors(page, error, DECIDE_FIELDS)
        )
    return page.redirect(f"/ops/disputes/{trade_id}", page._("Decision recorded."))


# -- verify and the audit log ----------------------------------------------------------------------


@router.get("/verify")
def verify_page(page: PageDep) -> Response:
    operator_of(page)
    report = platform_service.verify_platform(page.engine)
    record_verify(report.ok)
    return page.render(
        "operator/verify.html",
        title=page._("Verify"),
        report=plain(report.as_dict()),
        chain=plain(journal.chain_state(page.engine)),
        economy=plain(member_queries.platform_balance(page.engine)),
        checked_at=datetime.now(UTC).isoformat(),
    )


@router.get("/journal")
def journal_page(
    page: PageDep,
    kind: str = Query("", max_length=24, pattern=r"^[a-z0-9_.]*$"),
    before: int | None = Query(None, ge=1, le=MAX_ID),
) -> Response:
    operator_of(page)
    items = plain(journal.entries_page(page.engine, kind=kind or None, before=before, limit=50))
    return page.render(
        "operator/journal.html",
        title=page._("Audit log"),
        items=items,
        kind=kind,
        kinds=journal.entry_kinds(page.engine),
        more=items[-1]["id"] if len(items) == 50 else None,
    )
