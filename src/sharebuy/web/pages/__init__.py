"""Server-rendered pages (Jinja2 + HTMX) for consumers, merchants and operators.

One module per part (auth, consumer, merchant, market, operator), each an APIRouter whose
routes answer in HTML; `router` gathers them for the app to include.
"""

from __future__ import annotations

from fastapi import APIRouter

from sharebuy.web.pages import auth, consumer, mall, market, merchant, operator
from sharebuy.web.pages import collectibles as collectibles_pages
from sharebuy.web.pages import tiers as tier_pages

router = APIRouter(include_in_schema=False)
for part in (auth, consumer, merchant, market, operator, mall):
    router.include_router(part.router)
router.include_router(tier_pages.router)
router.include_router(collectibles_pages.router)
