"""Opening trades: taking a listing, filling a buy order, quick buy.

Invariant kept here (I6): a trade's quantity is reserved from its listing's remaining on the
locked listing row (the escrow does not move), or, filling a buy order, moved from the seller's
available into escrow in the same transaction that opens the trade.  32 buyers racing for a
10-point listing 1 point each therefore make exactly 10 trades.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from sharebuy.db.uow import UnitOfWork, transaction
from sharebuy.kernel.amounts import Cny, Points, Price
from sharebuy.kernel.errors import Refused
from sharebuy.ledger.service import seal_soon
from sharebuy.market import domain, escrow, machine, repository, views
from sharebuy.market.models import buy_orders, listings, trades
from sharebuy.market.service import common
from sharebuy.market.service.profile import method_view
from sharebuy.rewards.rules import Rulebook


def _open_trade(
    conn: Connection,
    *,
    source: dict[str, int],
    buyer_id: int,
    seller_id: int,
    quantity: Points,
    price: Price,
    kinds: Sequence[str],
    book: Rulebook,
    now: datetime,
    role: str,
    actor: str,
) -> Any:
    amount = domain.trade_amount(quantity, price)
    if not amount.is_positive():
        raise Refused(
            "amount_too_small", "成交金额不足 0.01 元", "the trade would be worth less than 0.01 CNY"
        )
    details = [method_view(m) for m in repository.methods_of(conn, seller_id, list(kinds))]
    if not details:
        raise Refused(
            "no_common_payment_method",
            "卖方没有买方可用的收款方式",
            "the seller has no payment method the buyer can pay with",
        )
    trade_id = repository.insert_row(
        conn,
        trades,
        {
            **source,
            "buyer_id": buyer_id,
            "seller_id": seller_id,
            "quantity": quantity.units,
            "price": price.units,
            "amount": amount.units,
            "fee": domain.trade_fee(quantity, book["c2c_fee_rate"]).units,
            "status": domain.AWAITING_PAYMENT,
            "payment_details": json.dumps(details, ensure_ascii=False),
            "opened_at": now,
            "pay_by": now + timedelta(minutes=int(book["c2c_payment_minutes"])),
            "rule_version": book.version,
        },
    )
    return trade_id


def _check_size(take: Points, row: Any, book: Rulebook) -> None:
    remaining = int(row["remaining"])
    if remaining == 0:
        raise Refused("sold_out", "已无剩余可买", "nothing is left to take")
    minimum: Points = book["c2c_min_order_points"]
    whole_rest = take.units == remaining
    if not domain.order_size_ok(take.units, remaining, int(row["min_order"]), int(row["max_order"])) or (
        take < minimum and not whole_rest
    ):
        raise Refused(
            "order_size",
            f"数量须在 {Points(int(row['min_order']))}–{Points(int(row['max_order']))} 之间且不超过剩余 "
            f"{Points(remaining)}",
            f"the quantity must lie in {Points(int(row['min_order']))}..{Points(int(row['max_order']))} "
            f"and not exceed the {Points(remaining)} remaining",
        )


def _counterparty_ok(conn: Connection, member_id: int, book: Rulebook, side_zh: str, side_en: str) -> None:
    if common.eligibility(conn, member_id, book):
        raise Refused(
            f"{side_en}_unavailable", f"{side_zh}目前不能交易", f"the {side_en} cannot trade at the moment"
        )


def take_listing(
    engine: Engine,
    buyer_id: int,
    listing_id: int,
    quantity: object,
    *,
    actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Buy part of a listing: the quantity is reserved from it and a trade awaits payment."""
    moment = common.utc_now(now)
    take = Points.parse(quantity)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        conn = uow.c
        book = common.rules(conn, moment)
        common.require_open(conn, book)
        common.require_can_trade(conn, buyer_id, book)
        repository.lock_profile(conn, buyer_id)  # this member's takes are counted one at a time
        common.require_may_take(conn, buyer_id, buyer_id, book, moment)
        row = repository.listing(conn, listing_id, lock=True)
        if row["status"] != "active":
            raise Refused(
                "listing_not_active", f"挂单 {listing_id} 不在售", f"listing {listing_id} is not on offer"
            )
        seller_id = int(row["seller_id"])
        common.require_unrelated(conn, buyer_id, seller_id)
        _counterparty_ok(conn, seller_id, book, "卖方", "seller")
        _check_size(take, row, book)
        price = Price(int(row["price"]))
        common.require_band(conn, book, price)
        repository.update_row(
            conn, listings, listing_id, remaining=int(row["remaining"]) - take.units, updated_at=moment
        )
        trade_id = _open_trade(
            conn,
            source={"listing_id": listing_id},
            buyer_id=buyer_id,
            seller_id=seller_id,
            quantity=take,
            price=price,
            kinds=row["payment_kinds"].split(","),
            book=book,
            now=moment,
            role=domain.BUYER,
            actor=actor,
        )
        view = views.trade(
            conn, machine.opened(conn, trade_id, role=domain.BUYER, actor=actor, now=moment), domain.BUYER
        )
        uow.commit()
        return view

    return transaction(engine, work)


def fill_buy_order(
    engine: Engine,
    seller_id: int,
    order_id: int,
    quantity: object,
    *,
    actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Sell into a buy order: the seller's points go to escrow and a trade awaits payment."""
    moment = common.utc_now(now)
    take = Points.parse(quantity)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        conn = uow.c
        book = common.rules(conn, moment)
        common.require_open(conn, book)
        common.require_can_trade(conn, seller_id, book)
        repository.lock_profile(conn, seller_id)
        row = repository.buy_order(conn, order_id, lock=True)
        if row["status"] != "active":
            raise Refused(
                "buy_order_not_active", f"求购单 {order_id} 已关闭", f"buy order {order_id} is closed"
            )
        buyer_id = int(row["buyer_id"])
        common.require_may_take(conn, seller_id, buyer_id, book, moment)
        common.require_unrelated(conn, buyer_id, seller_id)
        _counterparty_ok(conn, buyer_id, book, "买方", "buyer")
        _check_size(take, row, book)
        price = Price(int(row["price"]))
        common.require_band(conn, book, price)
        repository.update_row(
            conn, buy_orders, order_id, remaining=int(row["remaining"]) - take.units, updated_at=moment
        )
        trade_id = _open_trade(
            conn,
            source={"buy_order_id": order_id},
            buyer_id=buyer_id,
            seller_id=seller_id,
            quantity=take,
            price=price,
            kinds=row["payment_kinds"].split(","),
            book=book,
            now=moment,
            role=domain.SELLER,
            actor=actor,
        )
        escrow.hold(
            conn,
            seller_id,
            take,
            day=escrow.posting_day(conn, moment),
            reference=escrow.trade_ref(trade_id),
            actor=actor,
            reason=f"trade {trade_id} fills buy order {order_id}",
        )
        opened = machine.opened(conn, trade_id, role=domain.SELLER, actor=actor, now=moment)
        view = views.trade(conn, opened, domain.SELLER)
        uow.commit()
        return view

    result = transaction(engine, work)
    seal_soon(engine)
    return result


BOOK_BATCH = 50


def quick_buy(
    engine: Engine,
    buyer_id: int,
    quantity: object,
    max_price: object,
    *,
    payment_kinds: list[str] | str | None = None,
    allow_partial: bool = True,
    actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Buy up to `quantity` at up to `max_price` from the best listings (price, then age), as
    several trades opened together or, if nothing fits (or not all and `allow_partial` is
    off), none at all."""
    moment = common.utc_now(now)
    limit_price = common.price(max_price)
    wanted = None if payment_kinds is None else set(domain.parse_kinds(payment_kinds))

    def work(uow: UnitOfWork) -> dict[str, Any]:
        conn = uow.c
        book = common.rules(conn, moment)
        need = common.quantity(quantity, book)
        requested = need
        common.require_open(conn, book)
        common.require_can_trade(conn, buyer_id, book)
        repository.lock_profile(conn, buyer_id)
        common.require_may_take(conn, buyer_id, buyer_id, book, moment)
        room = int(book["c2c_max_open_trades_per_member"]) - repository.open_trades_taken(conn, buyer_id)
        mine = repository.people_behind(conn, buyer_id)
        sellers: dict[int, bool] = {}
        opened: list[int] = []
        cursor: tuple[int, int] | None = None
        while need.is_positive() and len(opened) < room:
            rows = repository.book(conn, limit_price.units, cursor, BOOK_BATCH, lock=True)
            if not rows:
                break
            for row in rows:
                cursor = (int(row["price"]), int(row["id"]))
                take = _fits(conn, row, need, book, mine, wanted, sellers)
                if take is None:
                    continue
                kinds = [k for k in row["payment_kinds"].split(",") if wanted is None or k in wanted]
                repository.update_row(
                    conn,
                    listings,
                    int(row["id"]),
                    remaining=int(row["remaining"]) - take.units,
                    updated_at=moment,
                )
                trade_id = _open_trade(
                    conn,
                    source={"listing_id": int(row["id"])},
                    buyer_id=buyer_id,
                    seller_id=int(row["seller_id"]),
                    quantity=take,
                    price=Price(int(row["price"])),
                    kinds=kinds,
                    book=book,
                    now=moment,
                    role=domain.BUYER,
                    actor=actor,
                )
                machine.opened(conn, trade_id, role=domain.BUYER, actor=actor, now=moment)
                opened.append(trade_id)
                need = need - take
                if not need.is_positive() or len(opened) >= room:
                    break
        if not opened:
            raise Refused(
                "no_matching_listings",
                f"没有价格不高于 {limit_price} 的可成交挂单",
                f"no listing at or below {limit_price} can be taken",
            )
        if need.is_positive() and not allow_partial:
            raise Refused(
                "not_enough_listings",
                f"只能买到 {requested - need}，不足 {requested}",
                f"only {requested - need} of {requested} can be bought",
                available=requested - need,
            )
        made = [views.trade(conn, repository.trade(conn, t), domain.BUYER) for t in opened]
        filled = requested - need
        notional = sum(t["quantity"].units * t["price"].units for t in made)
        uow.commit()
        return {
            "requested": requested,
            "filled": filled,
            "unfilled": need,
            "amount": Cny(sum(t["amount"].units for t in made)),
            "average_price": domain.vwap(notional, filled.units),
            "trades": made,
        }

    return transaction(engine, work)


def _fits(
    conn: Connection,
    row: Any,
    need: Points,
    book: Rulebook,
    mine: set[int],
    wanted: set[str] | None,
    sellers: dict[int, bool],
) -> Points | None:
    """How much of this listing a quick buy takes, or None to pass it by."""
    seller_id = int(row["seller_id"])
    if seller_id not in sellers:
        sellers[seller_id] = not domain.related(mine, repository.people_behind(conn, seller_id)) and not (
            common.eligibility(conn, seller_id, book)
        )
    if not sellers[seller_id]:
        return None
    kinds = [k for k in row["payment_kinds"].split(",") if wanted is None or k in wanted]
    if not kinds or not repository.methods_of(conn, seller_id, kinds):
        return None
    if not common.in_band(conn, book, Price(int(row["price"]))):
        return None
    remaining = int(row["remaining"])
    take = min(need.units, remaining, int(row["max_order"]))
    whole_rest = take == remaining
    if not domain.order_size_ok(take, remaining, int(row["min_order"]), int(row["max_order"])):
        return None
    if take < book["c2c_min_order_points"].units and not whole_rest:
        return None
    if not domain.trade_amount(Points(take), Price(int(row["price"]))).is_positive():
        return None
    return Points(take)
