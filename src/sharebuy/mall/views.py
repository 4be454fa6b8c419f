"""Rows into JSON-ready views: products and redemption orders (amounts as exact types)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, select

from sharebuy.events.repository import utc
from sharebuy.kernel.amounts import Points, Price, ShareValue
from sharebuy.mall import repository
from sharebuy.mall.models import products
from sharebuy.members.models import members

Row = Mapping[Any, Any]


def _names(conn: Connection, ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = conn.execute(select(members.c.id, members.c.name).where(members.c.id.in_(sorted(set(ids)))))
    return {int(i): str(n) for i, n in rows}


def products_of(conn: Connection, rows: Sequence[Row]) -> list[dict[str, Any]]:
    names = _names(conn, [int(r["merchant_id"]) for r in rows])
    return [_product(r, names.get(int(r["merchant_id"]), "")) for r in rows]


def product(conn: Connection, row: Row) -> dict[str, Any]:
    return products_of(conn, [row])[0]


def _product(r: Row, merchant_name: str) -> dict[str, Any]:
    return {
        "id": int(r["id"]),
        "merchant_id": int(r["merchant_id"]),
        "merchant_name": merchant_name,
        "region_code": r["region_code"],
        "title_zh": r["title_zh"],
        "title_en": r["title_en"],
        "description_zh": r["description_zh"],
        "description_en": r["description_en"],
        "picture_url": r["picture_url"],
        "price": Points(int(r["price"])),
        "stock": int(r["stock"]),
        "status": r["status"],
        "green": bool(r["green"]),
        "created_at": utc(r["created_at"]),
        "updated_at": utc(r["updated_at"]),
    }


def orders_of(conn: Connection, rows: Sequence[Row]) -> list[dict[str, Any]]:
    ids = sorted({int(r["product_id"]) for r in rows})
    titles = {
        int(i): (str(zh), str(en))
        for i, zh, en in conn.execute(
            select(products.c.id, products.c.title_zh, products.c.title_en).where(products.c.id.in_(ids))
        )
    }
    names = _names(conn, [int(r["merchant_id"]) for r in rows])
    return [
        _order(r, titles.get(int(r["product_id"]), ("", "")), names.get(int(r["merchant_id"]), ""))
        for r in rows
    ]


def order(conn: Connection, row: Row, *, log: bool = True) -> dict[str, Any]:
    view = orders_of(conn, [row])[0]
    if log:
        view["transitions"] = [
            {
                "event": t["event"],
                "from_status": t["from_status"],
                "to_status": t["to_status"],
                "role": t["role"],
                "at": utc(t["at"]),
                "reason": t["reason"],
            }
            for t in repository.transitions_of(conn, int(row["id"]))
        ]
    return view


def _order(r: Row, title: tuple[str, str], merchant_name: str) -> dict[str, Any]:
    return {
        "id": int(r["id"]),
        "product_id": int(r["product_id"]),
        "title_zh": title[0],
        "title_en": title[1],
        "merchant_id": int(r["merchant_id"]),
        "merchant_name": merchant_name,
        "consumer_id": int(r["consumer_id"]),
        "quantity": int(r["quantity"]),
        "unit_price": Points(int(r["unit_price"])),
        "points": Points(int(r["points"])),
        "fee": Points(int(r["fee"])),
        "green": bool(r["green"]),
        "green_share_value": ShareValue(int(r["green_share_value"])),
        "guide_price": None if r["guide_price"] is None else Price(int(r["guide_price"])),
        "status": r["status"],
        "shipping_note": r["shipping_note"],
        "placed_at": utc(r["placed_at"]),
        "shipped_at": utc(r["shipped_at"]),
        "deliver_by": utc(r["deliver_by"]),
        "closed_at": utc(r["closed_at"]),
        "rule_version": int(r["rule_version"]),
    }
