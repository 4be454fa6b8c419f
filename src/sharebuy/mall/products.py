"""Product use cases: a merchant lists, edits, pauses and restocks its own products; an
operator certifies products green; signed-in members browse by region.

Only an active merchant lists or restocks (a suspended or closed one keeps what it listed but
cannot add more).  Who acts for a merchant (its owner or staff) is decided by the adapter; the
service checks that the product belongs to the merchant named.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from sharebuy.db.uow import UnitOfWork, reading, transaction
from sharebuy.kernel.errors import Forbidden, Refused, not_found
from sharebuy.kernel.text import clean_text
from sharebuy.mall import domain, repository, views
from sharebuy.mall.models import products
from sharebuy.members import domain as member_domain
from sharebuy.members import repository as members

Row = Mapping[Any, Any]
EDITABLE = ("title_zh", "title_en", "description_zh", "description_en", "picture_url", "price", "status")


def utc_now(now: datetime | None) -> datetime:
    moment = now or datetime.now(UTC)
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).astimezone(UTC)


def _require_active_merchant(conn: Connection, merchant_id: int) -> Row:
    row = members.merchant(conn, merchant_id)
    if row["frozen"] or row["status"] != "active":
        raise Refused(
            "merchant_not_active",
            f"商家 {merchant_id} 未在营业（未开业、暂停、冻结或已关闭），不能上架或补货",
            f"merchant {merchant_id} is not active (not open, suspended, frozen or closed): no listing or restocking",
        )
    return row


def _fields(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Validated column values for the fields present in `changes`."""
    out: dict[str, Any] = {}
    if "title_zh" in changes:
        out["title_zh"] = clean_text(changes["title_zh"], "中文标题", "Chinese title", limit=100)
    if "title_en" in changes:
        out["title_en"] = clean_text(
            changes["title_en"], "英文标题", "English title", limit=100, required=False
        )
    for key, zh, en in (
        ("description_zh", "中文描述", "Chinese description"),
        ("description_en", "英文描述", "English description"),
    ):
        if key in changes:
            out[key] = clean_text(changes[key], zh, en, limit=2000, required=False)
    if "picture_url" in changes:
        out["picture_url"] = domain.picture_url(changes["picture_url"])
    if "price" in changes:
        out["price"] = domain.price(changes["price"]).units
    if "status" in changes:
        out["status"] = domain.product_status(changes["status"])
    return out


def create_product(
    engine: Engine,
    merchant_id: int,
    *,
    title_zh: str,
    price: object,
    stock: object,
    title_en: str = "",
    description_zh: str = "",
    description_en: str = "",
    picture_url: str | None = None,
    region: str | None = None,
    actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """List a product (active at once) in the merchant's region unless another is named."""
    moment = utc_now(now)
    values = _fields(
        {
            "title_zh": title_zh,
            "title_en": title_en,
            "description_zh": description_zh,
            "description_en": description_en,
            "picture_url": picture_url,
            "price": price,
        }
    )
    count = domain.stock(stock)
    code = member_domain.validate_region(region) if region else None

    def work(uow: UnitOfWork) -> dict[str, Any]:
        merchant = _require_active_merchant(uow.c, merchant_id)
        product_id = repository.insert_row(
            uow.c,
            products,
            {
                **values,
                "merchant_id": merchant_id,
                "region_code": code or merchant["region_code"],
                "initial_stock": count,
                "added_stock": 0,
                "stock": count,
                "status": domain.PRODUCT_ACTIVE,
                "green": False,
                "created_by": actor,
                "created_at": moment,
                "updated_at": moment,
            },
        )
        view = views.product(uow.c, repository.product(uow.c, product_id))
        uow.commit()
        return view

    return transaction(engine, work)


def _own(conn: Connection, merchant_id: int, product_id: int) -> Row:
    row = repository.product(conn, product_id, lock=True)
    if int(row["merchant_id"]) != merchant_id:
        # Another merchant's product: it is not for this merchant to see or touch.
        raise not_found("商品", "product", product_id)
    return row


def update_product(
    engine: Engine,
    merchant_id: int,
    product_id: int,
    changes: Mapping[str, Any],
    *,
    actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Edit the fields named in `changes`; pausing takes the product off the shelf at once."""
    moment = utc_now(now)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise Forbidden(
            "field_not_editable", "这些字段不能修改", f"these fields cannot be changed: {sorted(unknown)}"
        )
    values = _fields(changes)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        _own(uow.c, merchant_id, product_id)
        if values.get("status") == domain.PRODUCT_ACTIVE:
            _require_active_merchant(uow.c, merchant_id)
        if values:
            repository.update_row(uow.c, products, product_id, **values, updated_at=moment)
        view = views.product(uow.c, repository.product(uow.c, product_id))
        uow.commit()
        return view

    return transaction(engine, work)


def add_stock(
    engine: Engine,
    merchant_id: int,
    product_id: int,
    count: object,
    *,
    actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Restock: the addition is counted apart, so verify can account for every item."""
    moment = utc_now(now)
    more = domain.stock(count, low=1)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        row = _own(uow.c, merchant_id, product_id)
        _require_active_merchant(uow.c, merchant_id)
        if int(row["stock"]) + more > domain.MAX_STOCK:
            raise Refused(
                "stock_too_large",
                f"库存不能超过 {domain.MAX_STOCK}",
                f"stock cannot exceed {domain.MAX_STOCK}",
            )
        repository.add_stock(uow.c, product_id, more, moment)
        view = views.product(uow.c, repository.product(uow.c, product_id))
        uow.commit()
        return view

    return transaction(engine, work)


def certify_green(
    engine: Engine, product_id: int, green: bool, *, actor: str, now: datetime | None = None
) -> dict[str, Any]:
    """An operator certifies a product green (or withdraws it); orders keep what they were placed with."""
    moment = utc_now(now)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        repository.product(uow.c, product_id, lock=True)
        repository.update_row(
            uow.c,
            products,
            product_id,
            green=bool(green),
            green_by=actor if green else None,
            green_at=moment if green else None,
            updated_at=moment,
        )
        view = views.product(uow.c, repository.product(uow.c, product_id))
        uow.commit()
        return view

    return transaction(engine, work)


def get_product(
    engine: Engine, product_id: int, *, members_: frozenset[int] = frozenset(), operator: bool = False
) -> dict[str, Any]:
    """An active product for anyone signed in; a paused one only for its merchant and operators."""
    with reading(engine) as conn:
        row = repository.product(conn, product_id)
        if (
            row["status"] != domain.PRODUCT_ACTIVE
            and not operator
            and int(row["merchant_id"]) not in members_
        ):
            raise not_found("商品", "product", product_id)
        return views.product(conn, row)


def browse(
    engine: Engine,
    *,
    region: str | None = None,
    merchant_id: int | None = None,
    green: bool | None = None,
    include_paused: bool = False,
    before: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    prefix = domain.region_prefix(region) if region else None
    with reading(engine) as conn:
        rows = repository.browse(
            conn,
            region=prefix,
            merchant_id=merchant_id,
            include_paused=include_paused,
            green=green,
            before=before,
            limit=limit,
        )
        return views.products_of(conn, rows)
