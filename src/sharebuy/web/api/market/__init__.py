"""The C2C points market over HTTP: listings, buy orders, quick buy, trades, disputes, the
K-line and the guide price.

Members act for themselves; a merchant acts through its owner or staff, naming `merchant_id`.
What takes points out of a merchant (listing them, filling a buy order, confirming receipt,
its payment accounts) is for its owner only.  POS keys have no business here.
"""

from __future__ import annotations

from fastapi import APIRouter

from sharebuy.web.api.common import ERROR_RESPONSES
from sharebuy.web.api.market import orders, standing, trades

router = APIRouter(prefix="/market", responses=ERROR_RESPONSES)
for part in (standing.router, orders.router, trades.router):
    router.include_router(part)
