"""Market use cases (SPEC §6): each opens one unit of work, does the whole job, commits once.

- profile: the risk notice, payment methods, a member's limits, the operator's switch
- listings: sell listings and buy orders
- trading: taking a listing, filling a buy order, quick buy
- trades: payment, confirmation, cancellation, disputes and decisions, timeouts, evidence
"""

from sharebuy.market.service.listings import (
    cancel_buy_order,
    cancel_listing,
    create_buy_order,
    create_listing,
    set_listing_price,
    set_listing_status,
)
from sharebuy.market.service.profile import (
    accept_risk_notice,
    add_payment_method,
    list_payment_methods,
    market_status,
    profile,
    remove_payment_method,
    risk_notice,
    set_market_open,
)
from sharebuy.market.service.trades import (
    Viewer,
    add_evidence,
    cancel,
    confirm,
    decide,
    dispute,
    evidence_file,
    get_trade,
    list_evidence,
    mark_paid,
    sweep,
)
from sharebuy.market.service.trading import fill_buy_order, quick_buy, take_listing

__all__ = [
    "Viewer",
    "accept_risk_notice",
    "add_evidence",
    "add_payment_method",
    "cancel",
    "cancel_buy_order",
    "cancel_listing",
    "confirm",
    "create_buy_order",
    "create_listing",
    "decide",
    "dispute",
    "evidence_file",
    "fill_buy_order",
    "get_trade",
    "list_evidence",
    "list_payment_methods",
    "mark_paid",
    "market_status",
    "profile",
    "quick_buy",
    "remove_payment_method",
    "risk_notice",
    "set_listing_price",
    "set_listing_status",
    "set_market_open",
    "sweep",
    "take_listing",
]
