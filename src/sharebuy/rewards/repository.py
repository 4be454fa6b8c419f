"""Rewards queries: platform state, rule versions, guide prices, settled days."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from sharebuy.db.prepared import Prepared
from sharebuy.events.models import outbox_events
from sharebuy.kernel import caches
from sharebuy.kernel.amounts import Points, Price
from sharebuy.kernel.errors import Refused
from sharebuy.ledger import repository as ledger
from sharebuy.rewards import domain
from sharebuy.rewards import rules as rulebook
from sharebuy.rewards.models import platform_state, purchases, rule_versions, settlements


def not_initialised() -> Refused:
    return Refused(
        "not_initialised",
        "平台尚未初始化，请先运行 sharebuy init --start-date YYYY-MM-DD",
        "the platform is not initialised; run sharebuy init --start-date YYYY-MM-DD first",
    )


def start_day(conn: Connection) -> date:
    found = conn.execute(select(platform_state.c.start_day).where(platform_state.c.id == 1)).scalar()
    if found is None:
        raise not_initialised()
    return found


def is_initialised(conn: Connection) -> bool:
    return conn.execute(select(platform_state.c.id)).first() is not None


def insert_version(
    conn: Connection, book: rulebook.Rulebook, effective_from: date, actor: str, note: str
) -> int:
    return int(
        conn.execute(
            insert(rule_versions).returning(rule_versions.c.id),
            {
                "effective_from": effective_from,
                "rules_json": json.dumps(book.as_text(), sort_keys=True),
                "actor": actor,
                "note": note,
                "created_at": datetime.now(UTC),
            },
        ).scalar_one()
    )


# Versions are immutable once written, so a loaded version can be cached by id for good.
_version_cache: dict[tuple[str, int], rulebook.Rulebook] = {}
caches.register(_version_cache.clear)


def version(conn: Connection, version_id: int) -> rulebook.Rulebook:
    key = (conn.engine.url.render_as_string(hide_password=True), version_id)
    book = _version_cache.get(key)
    if book is None:
        text = conn.execute(
            select(rule_versions.c.rules_json).where(rule_versions.c.id == version_id)
        ).scalar_one()
        book = rulebook.from_text(json.loads(text), version_id)
        _version_cache[key] = book
    return book


def version_id_for(conn: Connection, day: date) -> int:
    """The version in force on `day`: the latest written among those effective by then."""
    found = conn.execute(
        select(rule_versions.c.id)
        .where(rule_versions.c.effective_from <= day)
        .order_by(rule_versions.c.effective_from.desc(), rule_versions.c.id.desc())
        .limit(1)
    ).scalar()
    if found is None:
        raise not_initialised()
    return int(found)


def rules_for(conn: Connection, day: date) -> rulebook.Rulebook:
    return version(conn, version_id_for(conn, day))


def versions(conn: Connection) -> list[dict[str, object]]:
    rows = conn.execute(select(rule_versions).order_by(rule_versions.c.id)).mappings()
    return [dict(row) for row in rows]


def last_settlement(conn: Connection) -> tuple[date, Price] | None:
    """The latest completed day and its guide price."""
    row = conn.execute(
        select(settlements.c.business_day, settlements.c.guide_price)
        .where(settlements.c.status == "completed")
        .order_by(settlements.c.business_day.desc())
        .limit(1)
    ).first()
    return None if row is None else (row[0], Price(int(row[1])))


def last_started_day(conn: Connection) -> date | None:
    """The latest day with a settlement row in any status: purchases into it are refused."""
    return conn.execute(select(func.max(settlements.c.business_day))).scalar()


def deposit_required(conn: Connection, day: date) -> Points:
    """The deposit a merchant must hold on `day`: the rules in force then at the current price."""
    rules = rules_for(conn, max(day, start_day(conn)))
    return domain.deposit_required(rules["merchant_deposit_cny"], current_guide_price(conn))


def current_guide_price(conn: Connection) -> Price:
    """P used by purchases and deposits: the last settled day's, else the initial price."""
    last = last_settlement(conn)
    if last is not None:
        return last[1]
    first = version(conn, version_id_for(conn, start_day(conn)))
    price: Price = first["initial_price"]
    return price


# Everything a purchase needs to know about the platform, as columns of one query.
context_columns = (
    select(platform_state.c.start_day).where(platform_state.c.id == 1).scalar_subquery().label("start_day"),
    select(func.max(settlements.c.business_day)).scalar_subquery().label("last_started"),
    select(settlements.c.guide_price)
    .where(settlements.c.status == "completed")
    .order_by(settlements.c.business_day.desc())
    .limit(1)
    .scalar_subquery()
    .label("last_price"),
    select(rule_versions.c.id)
    .where(rule_versions.c.effective_from <= bindparam("day"))
    .order_by(rule_versions.c.effective_from.desc(), rule_versions.c.id.desc())
    .limit(1)
    .scalar_subquery()
    .label("version_id"),
    select(purchases.c.id)
    .where(purchases.c.merchant_id == bindparam("merchant"), purchases.c.idempotency_key == bindparam("key"))
    .scalar_subquery()
    .label("existing"),
)
_context = select(*context_columns)


class _NextPurchaseId(FunctionElement[int]):
    """The id the next purchase row takes, known before it is written, so that its event (which
    names it) can go to the database with it: the sequence on PostgreSQL; on SQLite the next
    rowid, which nobody else can take while this transaction holds the write lock."""

    type = BigInteger()
    inherit_cache = True


@compiles(_NextPurchaseId, "postgresql")
def _next_id_pg(element: _NextPurchaseId, compiler: SQLCompiler, **kw: Any) -> str:
    return "nextval('purchases_id_seq')"


@compiles(_NextPurchaseId, "sqlite")
def _next_id_sqlite(element: _NextPurchaseId, compiler: SQLCompiler, **kw: Any) -> str:
    return "(SELECT coalesce(max(id), 0) + 1 FROM purchases)"


next_purchase_id = _NextPurchaseId().label("next_purchase_id")


def _prefixed(table: Any, prefix: str, columns: Any) -> dict[str, Any]:
    # Both tables have a merchant_id: prefixed names keep their parameters apart.
    return {c.name: bindparam(f"{prefix}{c.name}", type_=c.type) for c in columns}


_insert_purchase = insert(purchases).values(_prefixed(purchases, "p_", purchases.c))
_insert_event = insert(outbox_events).values(
    _prefixed(outbox_events, "e_", [c for c in outbox_events.c if c.name != "id"])
)
# On PostgreSQL the purchase's last statement: both rows, and the shared platform accounts'
# legs (see ledger.repository.shared_update_pg), in one round trip.
_purchase_event_and_shared = ledger.shared_update_pg.add_cte(
    _insert_purchase.cte("purchase"), _insert_event.cte("event")
)
_purchase_params = [(c.name, f"p_{c.name}") for c in purchases.c]
_insert_purchase_alone = Prepared(_insert_purchase)
_insert_event_alone = Prepared(_insert_event)
_purchase_event_and_shared_pg = Prepared(_purchase_event_and_shared)


def insert_purchase(
    conn: Connection, row: dict[str, Any], event: dict[str, Any], shared: ledger.SharedLegs
) -> None:
    """Write a purchase row (its id from `next_purchase_id`) and its outbox event, and apply the
    `shared` legs its entry left (`ledger.post_deferring_shared`), last."""
    params = {name: row.get(column) for column, name in _purchase_params}
    params.update({f"e_{k}": v for k, v in event.items()})
    if conn.dialect.name != "postgresql":
        _insert_purchase_alone.run(conn, params)
        _insert_event_alone.run(conn, params)
        ledger.apply_shared(conn, shared)
        return
    try:
        _purchase_event_and_shared_pg.run(conn, params | ledger.shared_params(shared))
    except IntegrityError as error:
        ledger.raise_if_insufficient(error)
        raise


def purchase_context(conn: Connection, day: date, merchant_id: int, key: str) -> Any:
    """start_day, last_started, last_price (units or None), version_id, existing purchase id."""
    row = conn.execute(_context, {"day": day, "merchant": merchant_id, "key": key}).one()
    if row.start_day is None:
        raise not_initialised()
    return row


def guide_price_from(rules: rulebook.Rulebook, last_price: int | None) -> Price:
    """The last settled day's price, or the initial price (fixed at init) before any settlement."""
    if last_price is not None:
        return Price(int(last_price))
    initial: Price = rules["initial_price"]
    return initial
