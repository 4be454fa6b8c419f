"""The points mall's use cases, in one place for the adapters (web, CLI, scheduler)."""

from __future__ import annotations

from sharebuy.mall.orders import (
    Viewer,
    cancel,
    confirm_delivery,
    get_order,
    list_orders,
    overview,
    place_order,
    ship,
    sweep,
)
from sharebuy.mall.products import (
    add_stock,
    browse,
    certify_green,
    create_product,
    get_product,
    update_product,
)

__all__ = [
    "Viewer",
    "add_stock",
    "browse",
    "cancel",
    "certify_green",
    "confirm_delivery",
    "create_product",
    "get_order",
    "get_product",
    "list_orders",
    "overview",
    "place_order",
    "ship",
    "sweep",
    "update_product",
]
