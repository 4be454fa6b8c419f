"""Names people read for the codes the services use (statuses, kinds, accounts), in English;
the catalogue translates them.  Unknown codes are shown as they are."""

from __future__ import annotations

from sharebuy.web.pages.text import N_, gettext_for

LABELS: dict[str, dict[str, str]] = {
    "merchant_status": {
        "applied": N_("Applied, awaiting approval"),
        "approved": N_("Approved, deposit not posted"),
        "active": N_("Active"),
        "suspended": N_("Suspended"),
        "closed": N_("Closed"),
    },
    "trade_status": {
        "awaiting_payment": N_("Awaiting payment"),
        "paid": N_("Paid, awaiting confirmation"),
        "disputed": N_("In dispute"),
        "completed": N_("Completed"),
        "cancelled": N_("Cancelled"),
    },
    "mall_order_status": {
        "placed": N_("Awaiting shipping"),
        "shipped": N_("Shipped"),
        "delivered": N_("Delivered"),
        "cancelled": N_("Cancelled"),
    },
    "listing_status": {
        "active": N_("On sale"),
        "paused": N_("Paused"),
        "closed": N_("Closed"),
    },
    "role": {
        "buyer": N_("Buyer"),
        "seller": N_("Seller"),
        "operator": N_("Operator"),
        "system": N_("System"),
    },
    "entry": {
        "genesis": N_("Total issue placed in the reserve"),
        "purchase": N_("Purchase"),
        "refund": N_("Refund"),
        "release": N_("Daily release"),
        "grant": N_("Points allocated by the operator"),
        "deposit": N_("Deposit"),
        "market_escrow": N_("Market: points into escrow"),
        "market_return": N_("Market: points back from escrow"),
        "market_release": N_("Market: points released to the buyer"),
    },
    "account": {
        "sv": N_("Share value"),
        "sv_owed": N_("Clawback owed"),
        "available": N_("Available points"),
        "escrow": N_("Points in escrow"),
        "deposit": N_("Deposit"),
        "issue": N_("Total issue"),
        "reserve": N_("Reserve"),
        "burned": N_("Burned"),
        "fees": N_("Fee account"),
        "sv_issued": N_("Share value issued"),
        "sv_retired": N_("Share value retired"),
    },
    "payment": {
        "alipay": N_("Alipay"),
        "wechat": N_("WeChat Pay"),
        "bank": N_("Bank card"),
    },
    "settlement_status": {
        "completed": N_("Completed"),
        "running": N_("Running"),
        "started": N_("Started"),
    },
    "decision": {
        "release": N_("Released to the buyer"),
        "return": N_("Returned to the seller"),
    },
    "event": {
        "opened": N_("opened"),
        "paid": N_("marked paid"),
        "confirmed": N_("confirmed receipt"),
        "cancelled": N_("cancelled"),
        "expired": N_("expired (not paid in time)"),
        "disputed": N_("disputed"),
        "escalated": N_("sent to dispute (no confirmation in time)"),
        "released": N_("released to the buyer by an operator"),
        "returned": N_("returned to the seller by an operator"),
    },
    "suspension": {
        "deposit_shortfall": N_("A sale had to use the deposit: top it up to take orders again."),
    },
    "asset": {
        "points": N_("points"),
        "share_value": N_("share value"),
    },
}


def label(lang: str, group: str, code: object) -> str:
    text = LABELS.get(group, {}).get(str(code))
    return str(code) if text is None else gettext_for(lang, text)
