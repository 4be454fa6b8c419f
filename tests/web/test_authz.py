"""The authorization matrix: every route of the app × every caller of the town, on both databases.

Each row names a route (method and path template, exactly as the app declares it), how to fill in
its path, query and body, and what each of the eleven callers gets: a 2xx, a business refusal
(a 4xx that is not 401/403, e.g. 422), 401 for the anonymous caller or 403 for a signed-in caller
without the right.  `test_the_table_covers_every_route` fails as soon as a route has no row.

Every state-changing request that is not answered with a 2xx must write nothing: the database is
compared, table by table and row by row, before and after it.  Refused requests carry an
Idempotency-Key too, so that not even an idempotency record may be left behind.

The town is built once per test function (it is the slow part); each function loops over many
(route, caller) cells and collects every mismatch before failing, naming route, method and caller.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher, Type
from fastapi.routing import iter_route_contexts
from sqlalchemy import Engine, create_engine, select

from sharebuy.collectibles import service as collectibles
from sharebuy.db.schema import metadata
from sharebuy.events import service as events
from sharebuy.identity import service as identity
from sharebuy.kernel.clock import business_day
from sharebuy.mall import service as mall
from sharebuy.market import service as market
from sharebuy.members import service as members
from sharebuy.rewards import purchase_service, settlement_service
from sharebuy.settings import Settings
from sharebuy.tiers import dividends
from sharebuy.tiers import service as tiers
from sharebuy.web.app import create_app
from tests.integration.collectibles_world import png
from tests.integration.market_world import fund, id_number, make_ready
from tests.web.conftest import PASSWORD, Town

CALLERS = ("anonymous", "A", "B", "O", "S", "P", "T", "posX", "posY", "admin", "auditor")
SIGNED_IN = CALLERS[1:]
CONSUMERS = ("A", "B", "O", "S", "P", "T")
PEOPLE = (*CONSUMERS, "admin", "auditor")  # signed-in users, not POS keys
OPERATORS = ("admin", "auditor")
X_READERS = ("O", "S", "posX", *OPERATORS)  # may read merchant X
Y_READERS = ("P", "T", "posY", *OPERATORS)
X_TILL = ("O", "S", "posX")  # may record and refund purchases at X
PHONE_A = "13800000000"  # the town registers A, B, O, S, P, T as 1380000000, ...01, ...
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Written by authentication itself (a POS key's last use), not by the request's action.
VOLATILE = {"api_keys": {"last_used_at"}}


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its cheapest: the matrix signs in and registers dozens of times."""
    monkeypatch.setattr(
        identity, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
    )


# -- expectations ------------------------------------------------------------------------------


def only(status: int, *allowed: str) -> dict[str, int]:
    """`allowed` get `status`; the anonymous caller 401; every other signed-in caller 403."""
    return {c: status if c in allowed else 401 if c == "anonymous" else 403 for c in CALLERS}


def anyone(status: int) -> dict[str, int]:
    """A public route: every caller, signed in or not, gets the same answer."""
    return dict.fromkeys(CALLERS, status)


# -- the town's extra objects each row points at ------------------------------------------------


@dataclass
class Ctx:
    town: Town
    ids: dict[str, Any] = field(default_factory=dict)
    refundable: dict[str, int] = field(default_factory=dict)  # caller -> a purchase at X to refund
    settled_day: str = ""

    def member(self, who: str) -> int:
        member_id = self.town[who].member_id
        assert member_id is not None
        return member_id


def prepare(town: Town) -> Ctx:
    """Objects for the rows to act on, made through the services (no HTTP, no rights needed)."""
    engine, x, y = town.engine, town.merchants["X"], town.merchants["Y"]
    ctx = Ctx(town)
    ctx.ids.update({name: town[name].member_id for name in CONSUMERS})
    ctx.ids.update(X=x, Y=y)
    # C: a consumer with no user, to be added as staff; Z: C's merchant, waiting for approval.
    c = members.add_consumer(engine, phone="13900000099", name="C")
    ctx.ids["Z"] = members.add_merchant(engine, name="商店Z", owner_id=c, region="441900", rate="0.10")
    ctx.ids["spare_key"] = identity.create_api_key(engine, x, name="spare", created_by=None)["id"]
    ctx.ids["hook"] = events.create_endpoint(engine, x, url="https://pos.example.cn/a")["id"]
    ctx.ids["hook2"] = events.create_endpoint(engine, x, url="https://pos.example.cn/b")["id"]

    def buy(merchant: int, consumer: str, amount: str, key: str, at: datetime | None = None) -> int:
        result = purchase_service.record_purchase(
            engine, merchant_id=merchant, consumer_id=ctx.member(consumer), amount=amount, key=key, at=at
        )
        return int(result.id)

    # Yesterday's purchase, then yesterday settled: a settlement with lines for A and merchant X.
    yesterday = datetime.now(UTC) - timedelta(days=1)
    buy(x, "A", "30.00", "yesterday", at=yesterday)
    settlement_service.settle(engine)
    ctx.settled_day = business_day(yesterday).isoformat()
    ctx.ids["p"] = buy(x, "A", "20.00", "seen")  # A's purchase at X
    buy(y, "B", "15.00", "at-y")  # B's purchase at Y
    for who in CALLERS:
        ctx.refundable[who] = buy(x, "B", "5.00", f"refund-{who}")
    prepare_market(ctx)
    prepare_tiers(ctx)
    prepare_collectibles(ctx)
    prepare_mall(ctx)
    return ctx


def prepare_market(ctx: Ctx) -> None:
    """The market's objects: A, B, O and merchant X (under O's real name) may trade; S, P, T not.
    Listings of A and X, buy orders of B and X, and trades between them in each state a row needs."""
    engine, x, now = ctx.town.engine, ctx.ids["X"], datetime.now(UTC)
    a, b, o = ctx.member("A"), ctx.member("B"), ctx.member("O")
    for member in (a, b, o):
        make_ready(engine, member, now=now)
    make_ready(engine, x, now=now, consumer=o)
    for member in (a, b, x):
        fund(engine, member, "200")

    def listing(seller: int) -> int:
        made = market.create_listing(
            engine, seller, quantity="50", price="1", payment_kinds=["alipay"], actor="test"
        )
        return int(made["id"])

    def buy_order(buyer: int) -> int:
        made = market.create_buy_order(engine, buyer, quantity="20", price="1", payment_kinds=["alipay"])
        return int(made["id"])

    def take(buyer: int, listing_id: int, *, paid: bool = False, disputed: bool = False) -> int:
        trade_id = int(market.take_listing(engine, buyer, listing_id, "2", actor="test")["id"])
        if paid or disputed:
            market.mark_paid(engine, trade_id, buyer, "REF-1", actor="test")
        if disputed:
            market.dispute(engine, trade_id, buyer, reason="no confirmation", actor="test")
        return trade_id

    la, lx = listing(a), listing(x)
    ctx.ids.update(listing_a=la, listing_x=lx, listing_x_to_cancel=listing(x))
    ctx.ids.update(order_b=buy_order(b), order_x=buy_order(x))
    ctx.ids["trade_ab"] = take(b, la)  # seller A, buyer B, awaiting payment
    # buyer X, awaiting payment: A fills X's buy order, so that they count against A's limit
    # of open trades (the taker's), not X's, which the rows that buy for X need
    for name in ("trade_x_buys", "trade_x_cancels"):  # to mark paid, to cancel
        ctx.ids[name] = int(market.fill_buy_order(engine, a, ctx.ids["order_x"], "2", actor="test")["id"])
    ctx.ids["trade_x_confirms"] = take(b, lx, paid=True)  # seller X, paid: to confirm
    ctx.ids["trade_x_disputes"] = take(b, lx, paid=True)  # seller X, paid: to dispute
    ctx.ids["trade_disputed"] = take(b, lx, disputed=True)  # seller X, buyer B: evidence, decision
    ctx.ids["evidence"] = market.add_evidence(
        engine,
        ctx.ids["trade_disputed"],
        market.Viewer(frozenset({b})),
        kind="text",
        text="流水号 77",
        actor="test",
    )["id"]
    # X's bank card, to retire (its listings need the Alipay account)
    ctx.ids["method_x"] = next(m["id"] for m in market.list_payment_methods(engine, x) if m["kind"] == "bank")


def prepare_tiers(ctx: Ctx) -> None:
    """A ladder (A's 30.00 of yesterday earns silver), a spare tier nobody holds, to remove, and
    yesterday's dividend period paid (the pool is off: its lines carry nothing, but exist)."""
    engine = ctx.town.engine
    tiers.set_tier(engine, code="silver", member_kind="consumer", name_zh="银卡", name_en="Silver",
                   threshold="10", weight=1)  # fmt: skip
    tiers.set_tier(engine, code="spare", member_kind="merchant", name_zh="备用", name_en="Spare",
                   threshold="999999", weight=1)  # fmt: skip
    tiers.evaluate(engine)
    dividends.run_period(engine, ctx.settled_day)


def own_dividend_lines(ctx: Ctx, who: str, answer: Any) -> None:
    members_seen = {line["member_id"] for line in _items(answer)}
    assert members_seen == ({ctx.member("A")} if who in ("A", *OPERATORS) else set()), members_seen


def prepare_collectibles(ctx: Ctx) -> None:
    """An open edition; A's two tokens, redeemed 200 days ago (past the holding period): one to
    read, one to give away.  O has a real name but no points; S, P and T have no real name."""
    engine, now = ctx.town.engine, datetime.now(UTC)
    made = collectibles.create_edition(
        engine,
        title_zh="矩阵藏品",
        description_zh="授权矩阵用",
        supply=20,
        price="5",
        opens_at=now - timedelta(days=400),
        closes_at=now + timedelta(days=30),
        image=png(),
        actor="test",
    )
    ctx.ids["edition"] = made["id"]
    past = now - timedelta(days=200)
    for name in ("token_a", "token_a_gift"):
        ctx.ids[name] = collectibles.redeem(engine, made["id"], ctx.member("A"), actor="test", now=past)[
            "token_id"
        ]


def prepare_mall(ctx: Ctx) -> None:
    """The mall's objects: a product of X and one of Y at 1 point; A's orders at X in each state a
    row needs.  A holds points from the market's funding; O and S hold none."""
    engine, x, y, a = ctx.town.engine, ctx.ids["X"], ctx.ids["Y"], ctx.member("A")

    def product(merchant: int) -> int:
        made = mall.create_product(engine, merchant, title_zh="矩阵商品", price="1", stock=100, actor="test")
        return int(made["id"])

    ctx.ids.update(product_x=product(x), product_y=product(y))

    def order() -> int:
        return int(mall.place_order(engine, a, ctx.ids["product_x"], 1, actor="test")["id"])

    ctx.ids.update(mall_view=order(), mall_ship=order(), mall_cancel=order(), mall_merchant_cancel=order())
    ctx.ids["mall_deliver"] = order()
    mall.ship(engine, ctx.ids["mall_deliver"], x, actor="test")


# -- the table ---------------------------------------------------------------------------------

Ref = str | int | Callable[[Ctx, str], Any]  # a key of ctx.ids, a literal, or computed per caller
Check = Callable[[Ctx, str, Any], None]


@dataclass(frozen=True)
class Row:
    method: str
    route: str  # the path template the app declares
    expect: Mapping[str, int]
    path: Mapping[str, Ref] = field(default_factory=dict)
    query: Mapping[str, Ref] = field(default_factory=dict)
    body: Any = None  # JSON, or Callable[[Ctx, caller], JSON]
    check: Check | None = None  # more to assert on an allowed answer
    form: Mapping[str, str] | None = None  # a multipart form instead of a JSON body
    files: Mapping[str, Any] | None = None  # files sent with the form

    def label(self) -> str:
        return f"{self.method} {self.route}"


def _value(ctx: Ctx, who: str, ref: Ref) -> Any:
    if callable(ref):
        return ref(ctx, who)
    if isinstance(ref, str) and ref in ctx.ids:
        return ctx.ids[ref]
    return ref


def _items(answer: Any) -> list[dict[str, Any]]:
    body = answer.json()
    return body["items"] if isinstance(body, dict) else body


def merchants_seen(ctx: Ctx, who: str, answer: Any) -> None:
    seen = {m["id"] for m in _items(answer)}
    x, y, z = ctx.ids["X"], ctx.ids["Y"], ctx.ids["Z"]
    expected = {"O": {x}, "S": {x}, "posX": {x}, "P": {y}, "T": {y}, "posY": {y}}
    assert seen == expected.get(who, {x, y, z} if who in OPERATORS else set()), seen


def own_purchases(ctx: Ctx, who: str, answer: Any) -> None:
    """Without filters everyone sees only their own: a consumer as buyer, a POS key its shop."""
    items = _items(answer)
    if who in OPERATORS:
        assert {p["merchant_id"] for p in items} == {ctx.ids["X"], ctx.ids["Y"]}
    elif who.startswith("pos"):
        assert items and {p["merchant_id"] for p in items} == {ctx.ids[who[3:]]}
    else:
        assert {p["consumer_id"] for p in items} <= {ctx.member(who)}
        assert bool(items) == (who in ("A", "B"))


def own_lines(ctx: Ctx, who: str, answer: Any) -> None:
    members_seen = {line["member_id"] for line in _items(answer)}
    if who in OPERATORS:
        assert {ctx.member("A"), ctx.ids["X"]} <= members_seen
    elif who == "A":
        assert members_seen == {ctx.member("A")}
    else:
        assert members_seen == set()


def _refresh_token(ctx: Ctx, who: str) -> dict[str, str]:
    tokens = identity.sign_in(ctx.town.engine, login=PHONE_A, password=PASSWORD)
    return {"refresh_token": tokens.refresh_token}


def _new_phone(ctx: Ctx, who: str) -> dict[str, str]:
    return {"phone": f"1390000{CALLERS.index(who):04d}", "password": PASSWORD, "name": who}


def for_x(**fields: Any) -> Callable[[Ctx, str], dict[str, Any]]:
    """A market body that acts for merchant X."""
    return lambda ctx, who: {"merchant_id": ctx.ids["X"], **fields}


def _real_name(ctx: Ctx, who: str) -> dict[str, str]:
    return {"real_name": "张三", "id_number": id_number()}


def hidden(status: int, *allowed: str) -> dict[str, int]:
    """A trade's parties and readers get `status`; anonymous 401; a POS key or a signed-in stranger
    404: the market does not tell a stranger that a trade exists."""
    return {c: status if c in allowed else 401 if c == "anonymous" else 404 for c in CALLERS}


SIGN_IN = {"login": PHONE_A, "password": PASSWORD}
# Taken when the module is collected: a week ahead, so that a run that crosses midnight in
# Asia/Shanghai (16:00 UTC) still asks for a day after the last one recorded.
NEXT_WEEK = (business_day(datetime.now(UTC)) + timedelta(days=7)).isoformat()

ROWS: tuple[Row, ...] = (
    # -- operations ---------------------------------------------------------------------------
    Row("GET", "/openapi.json", anyone(200)),
    Row("GET", "/healthz", anyone(200)),
    Row("GET", "/readyz", anyone(200)),
    Row("GET", "/metrics", anyone(200)),
    Row("GET", "/docs", anyone(200)),
    # -- auth: credential exchanges are public; the rest needs a caller -----------------------
    Row("POST", "/api/v1/auth/register", anyone(201), body=_new_phone),
    Row("POST", "/api/v1/auth/token", anyone(200), body=SIGN_IN),
    Row("POST", "/api/v1/auth/refresh", anyone(200), body=_refresh_token),
    Row("POST", "/api/v1/auth/sign-out", anyone(204), body=_refresh_token),
    Row("POST", "/api/v1/auth/session", anyone(200), body=SIGN_IN),
    Row("DELETE", "/api/v1/auth/session", only(204, *SIGNED_IN)),
    Row("GET", "/api/v1/auth/me", only(200, *SIGNED_IN)),
    Row("POST", "/api/v1/auth/totp", only(200, *PEOPLE)),
    # a wrong code (or TOTP never begun / not enabled) is a business refusal, 422
    Row("POST", "/api/v1/auth/totp/confirm", only(422, *PEOPLE), body={"code": "000000"}),
    Row("POST", "/api/v1/auth/totp/disable", only(422, *PEOPLE), body={"code": "000000"}),
    # -- consumers: themselves and the operators ----------------------------------------------
    Row("GET", "/api/v1/consumers/{consumer_id}", only(200, "A", *OPERATORS), path={"consumer_id": "A"}),
    Row("GET", "/api/v1/consumers/{consumer_id}", only(200, "O", *OPERATORS), path={"consumer_id": "O"}),
    Row(
        "GET",
        "/api/v1/consumers/{consumer_id}/balance",
        only(200, "A", *OPERATORS),
        path={"consumer_id": "A"},
    ),
    Row(
        "GET",
        "/api/v1/consumers/{consumer_id}/history",
        only(200, "B", *OPERATORS),
        path={"consumer_id": "B"},
    ),
    # -- merchants ----------------------------------------------------------------------------
    Row(
        "POST",
        "/api/v1/merchants",
        only(201, *CONSUMERS),
        body={"name": "新店", "region_code": "441900"},
    ),
    Row("GET", "/api/v1/merchants", only(200, *SIGNED_IN), check=merchants_seen),
    Row("GET", "/api/v1/merchants/{merchant_id}", only(200, *X_READERS), path={"merchant_id": "X"}),
    Row("GET", "/api/v1/merchants/{merchant_id}", only(200, *Y_READERS), path={"merchant_id": "Y"}),
    Row("GET", "/api/v1/merchants/{merchant_id}/balance", only(200, *X_READERS), path={"merchant_id": "X"}),
    Row("GET", "/api/v1/merchants/{merchant_id}/history", only(200, *Y_READERS), path={"merchant_id": "Y"}),
    Row("POST", "/api/v1/merchants/{merchant_id}/approve", only(200, "admin"), path={"merchant_id": "Z"}),
    Row("POST", "/api/v1/merchants/{merchant_id}/deposit", only(200, "O"), path={"merchant_id": "X"}),
    Row(
        "PUT",
        "/api/v1/merchants/{merchant_id}/rate",
        only(200, "O"),
        path={"merchant_id": "X"},
        body={"concession_rate": "0.12"},
    ),
    Row(
        "POST",
        "/api/v1/merchants/{merchant_id}/staff",
        only(201, "O"),
        path={"merchant_id": "X"},
        body={"phone": "13900000099"},
    ),
    Row(
        "POST",
        "/api/v1/merchants/{merchant_id}/grants",
        only(200, "admin"),
        path={"merchant_id": "X"},
        body={"amount": "10", "reason": "matrix"},
    ),
    # -- POS keys: the owner only -------------------------------------------------------------
    Row(
        "POST",
        "/api/v1/merchants/{merchant_id}/api-keys",
        only(201, "O"),
        path={"merchant_id": "X"},
        body={"name": "till 2"},
    ),
    Row("GET", "/api/v1/merchants/{merchant_id}/api-keys", only(200, "O"), path={"merchant_id": "X"}),
    Row("GET", "/api/v1/merchants/{merchant_id}/api-keys", only(200, "P"), path={"merchant_id": "Y"}),
    Row(
        "DELETE",
        "/api/v1/merchants/{merchant_id}/api-keys/{key_id}",
        only(200, "O"),
        path={"merchant_id": "X", "key_id": "spare_key"},
    ),
    # -- webhooks: the owner only -------------------------------------------------------------
    Row(
        "POST",
        "/api/v1/merchants/{merchant_id}/webhooks",
        only(201, "O"),
        path={"merchant_id": "X"},
        body={"url": "https://pos.example.cn/c"},
    ),
    Row("GET", "/api/v1/merchants/{merchant_id}/webhooks", only(200, "O"), path={"merchant_id": "X"}),
    Row(
        "GET",
        "/api/v1/merchants/{merchant_id}/webhooks/deliveries",
        only(200, "O"),
        path={"merchant_id": "X"},
    ),
    Row(
        "DELETE",
        "/api/v1/merchants/{merchant_id}/webhooks/{endpoint_id}",
        only(200, "O"),
        path={"merchant_id": "X", "endpoint_id": "hook"},
    ),
    Row(
        "POST",
        "/api/v1/merchants/{merchant_id}/webhooks/{endpoint_id}/secret",
        only(200, "O"),
        path={"merchant_id": "X", "endpoint_id": "hook2"},
    ),
    # -- purchases ----------------------------------------------------------------------------
    Row(
        "POST",
        "/api/v1/purchases",
        only(201, *X_TILL),
        body=lambda ctx, who: {"merchant_id": ctx.ids["X"], "consumer_id": ctx.ids["A"], "amount": "8.00"},
    ),
    # without merchant_id a POS key sells for its own shop; anyone else must name one (422)
    Row(
        "POST",
        "/api/v1/purchases",
        only(201, "posX", "posY") | dict.fromkeys(PEOPLE, 422),
        body=lambda ctx, who: {"consumer_id": ctx.ids["A"], "amount": "9.00"},
    ),
    Row("GET", "/api/v1/purchases", only(200, *SIGNED_IN), check=own_purchases),
    Row("GET", "/api/v1/purchases", only(200, *X_READERS), query={"merchant_id": "X"}),
    Row("GET", "/api/v1/purchases", only(200, "A", *OPERATORS), query={"consumer_id": "A"}),
    # A stranger to a purchase is told it does not exist; a reader who is no till (its consumer, an
    # operator) may not refund it.
    Row("GET", "/api/v1/purchases/{purchase_id}", hidden(200, "A", *X_READERS), path={"purchase_id": "p"}),
    Row(
        "POST",
        "/api/v1/purchases/{purchase_id}/refund",
        hidden(200, *X_TILL) | dict.fromkeys(("B", *OPERATORS), 403),  # B bought it
        path={"purchase_id": lambda ctx, who: ctx.refundable[who]},
    ),
    # -- rules, settlements, verify, economy --------------------------------------------------
    Row("GET", "/api/v1/rules", anyone(200)),
    Row(
        "POST",
        "/api/v1/rules",
        only(201, "admin"),
        body={"changes": {"daily_airdrop": "600"}, "effective_from": NEXT_WEEK},
    ),
    Row("GET", "/api/v1/settlements", only(200, *SIGNED_IN)),
    Row(
        "GET",
        "/api/v1/settlements/{day}",
        only(200, *SIGNED_IN),
        path={"day": lambda ctx, who: ctx.settled_day},
    ),
    Row(
        "GET",
        "/api/v1/settlements/{day}/lines",
        only(200, *SIGNED_IN),
        path={"day": lambda ctx, who: ctx.settled_day},
        check=own_lines,
    ),
    Row("POST", "/api/v1/settlements", only(200, "admin"), body={}),
    Row("GET", "/api/v1/verify", only(200, *OPERATORS)),
    Row("GET", "/api/v1/economy", anyone(200)),
    # -- market: public pages ------------------------------------------------------------------
    Row("GET", "/api/v1/market/risk-notice", anyone(200)),
    Row("GET", "/api/v1/market/guide-price", anyone(200)),
    Row("GET", "/api/v1/market/kline", anyone(200)),
    Row("GET", "/api/v1/market/status", anyone(200)),
    # -- market: a member's standing (a merchant's through its owner; staff may read its profile)
    # A, B and O registered their real names already: a second one is a business refusal
    Row(
        "POST",
        "/api/v1/market/real-name",
        only(200, *CONSUMERS) | dict.fromkeys(("A", "B", "O"), 409),
        body=_real_name,
    ),
    Row("POST", "/api/v1/market/risk-notice/accept", only(200, "O"), body=for_x(version=1)),
    Row("GET", "/api/v1/market/profile", only(200, *CONSUMERS)),
    Row("GET", "/api/v1/market/profile", only(200, "O", "S"), query={"merchant_id": "X"}),
    Row("GET", "/api/v1/market/payment-methods", only(200, *CONSUMERS)),
    Row("GET", "/api/v1/market/payment-methods", only(200, "O"), query={"merchant_id": "X"}),
    Row(
        "POST",
        "/api/v1/market/payment-methods",
        only(201, "O"),
        body=for_x(kind="wechat", account_name="张三", account_id="wx-matrix"),
    ),
    Row(
        "DELETE",
        "/api/v1/market/payment-methods/{method_id}",
        only(200, "O"),
        path={"method_id": "method_x"},
        query={"merchant_id": "X"},
    ),
    # -- market: listings (selling X's points is for its owner alone) -------------------------
    Row("GET", "/api/v1/market/listings", only(200, *SIGNED_IN)),
    Row(
        "GET",
        "/api/v1/market/listings/{listing_id}",
        only(200, *SIGNED_IN),
        path={"listing_id": "listing_x"},
    ),
    Row("GET", "/api/v1/market/my/listings", only(200, *CONSUMERS)),
    Row("GET", "/api/v1/market/my/listings", only(200, "O", "S"), query={"merchant_id": "X"}),
    Row(
        "POST",
        "/api/v1/market/listings",
        only(201, "O"),
        body=for_x(quantity="1", price="1", payment_kinds=["alipay"]),
    ),
    # for oneself: a consumer (operators and POS keys are no members); S, P and T have no real
    # name yet, O no points of its own
    Row(
        "POST",
        "/api/v1/market/listings",
        only(201, "A", "B") | dict.fromkeys(("O", "S", "P", "T"), 422),
        body={"quantity": "1", "price": "1", "payment_kinds": ["alipay"]},
    ),
    Row(
        "POST",
        "/api/v1/market/listings/{listing_id}/pause",
        only(200, "O"),
        path={"listing_id": "listing_x"},
        body=for_x(),
    ),
    Row(
        "POST",
        "/api/v1/market/listings/{listing_id}/resume",
        only(200, "O"),
        path={"listing_id": "listing_x"},
        body=for_x(),
    ),
    Row(
        "PUT",
        "/api/v1/market/listings/{listing_id}/price",
        only(200, "O"),
        path={"listing_id": "listing_x"},
        body=for_x(price="1.1"),
    ),
    Row(
        "POST",
        "/api/v1/market/listings/{listing_id}/cancel",
        only(200, "O"),
        path={"listing_id": "listing_x_to_cancel"},
        body=for_x(),
    ),
    # buying for X is for its owner and staff
    Row(
        "POST",
        "/api/v1/market/listings/{listing_id}/take",
        only(201, "O", "S"),
        path={"listing_id": "listing_a"},
        body=for_x(quantity="1"),
    ),
    # for oneself, from X: A and B may; O and S not (self-trade), P and T have no real name
    Row(
        "POST",
        "/api/v1/market/listings/{listing_id}/take",
        only(201, "A", "B") | dict.fromkeys(("O", "S", "P", "T"), 422),
        path={"listing_id": "listing_x"},
        body={"quantity": "1"},
    ),
    Row("POST", "/api/v1/market/quick-buy", only(201, "O", "S"), body=for_x(quantity="1", max_price="1")),
    # -- market: buy orders -------------------------------------------------------------------
    Row("GET", "/api/v1/market/buy-orders", only(200, *SIGNED_IN)),
    Row(
        "GET",
        "/api/v1/market/buy-orders/{order_id}",
        only(200, *SIGNED_IN),
        path={"order_id": "order_b"},
    ),
    Row("GET", "/api/v1/market/my/buy-orders", only(200, *CONSUMERS)),
    Row("GET", "/api/v1/market/my/buy-orders", only(200, "O", "S"), query={"merchant_id": "X"}),
    Row(
        "POST",
        "/api/v1/market/buy-orders",
        only(201, "O", "S"),
        body=for_x(quantity="5", price="1", payment_kinds=["alipay"]),
    ),
    # O withdraws it first; for S, next, it is closed already
    Row(
        "POST",
        "/api/v1/market/buy-orders/{order_id}/cancel",
        only(200, "O") | {"S": 422},
        path={"order_id": "order_x"},
        body=for_x(),
    ),
    Row(
        "POST",
        "/api/v1/market/buy-orders/{order_id}/fill",
        only(201, "O"),
        path={"order_id": "order_b"},
        body=for_x(quantity="1"),
    ),
    # -- market: trades -----------------------------------------------------------------------
    Row("GET", "/api/v1/market/my/trades", only(200, *CONSUMERS)),
    Row("GET", "/api/v1/market/my/trades", only(200, "O", "S"), query={"merchant_id": "X"}),
    Row(
        "GET",
        "/api/v1/market/trades/{trade_id}",
        hidden(200, "A", "B", *OPERATORS),
        path={"trade_id": "trade_ab"},
    ),
    Row(
        "POST",
        "/api/v1/market/trades/{trade_id}/paid",
        only(200, "O") | {"S": 409},
        path={"trade_id": "trade_x_buys"},
        body=for_x(reference="ALIPAY-0001"),
    ),
    Row(
        "POST",
        "/api/v1/market/trades/{trade_id}/confirm",
        only(200, "O"),
        path={"trade_id": "trade_x_confirms"},
        body=for_x(),
    ),
    Row(
        "POST",
        "/api/v1/market/trades/{trade_id}/cancel",
        only(200, "O") | {"S": 409},
        path={"trade_id": "trade_x_cancels"},
        body=for_x(reason="changed my mind"),
    ),
    Row(
        "POST",
        "/api/v1/market/trades/{trade_id}/dispute",
        only(200, "O") | {"S": 409},
        path={"trade_id": "trade_x_disputes"},
        body=for_x(reason="no money arrived"),
    ),
    Row(
        "POST",
        "/api/v1/market/trades/{trade_id}/evidence",
        hidden(201, "B", "O", "S", "admin") | {"posX": 403, "posY": 403},
        path={"trade_id": "trade_disputed"},
        form={"kind": "text", "text": "截图稍后补"},
    ),
    Row(
        "GET",
        "/api/v1/market/trades/{trade_id}/evidence",
        hidden(200, "B", "O", "S", *OPERATORS),
        path={"trade_id": "trade_disputed"},
    ),
    Row(
        "GET",
        "/api/v1/market/trades/{trade_id}/evidence/{evidence_id}",
        hidden(200, "B", "O", "S", *OPERATORS),
        path={"trade_id": "trade_disputed", "evidence_id": "evidence"},
    ),
    # -- market: the operators ----------------------------------------------------------------
    Row("GET", "/api/v1/market/disputes", only(200, *OPERATORS)),
    Row(
        "POST",
        "/api/v1/market/trades/{trade_id}/decide",
        only(200, "admin"),
        path={"trade_id": "trade_disputed"},
        body={"decision": "release", "reason": "the statement matches"},
    ),
    Row("POST", "/api/v1/market/close", only(200, "admin"), body={"reason": "矩阵 · matrix"}),
    Row("POST", "/api/v1/market/open", only(200, "admin"), body={"reason": ""}),
    # -- tiers, the dividend pool, green merchants ----------------------------------------------
    Row("GET", "/api/v1/tiers", only(200, *SIGNED_IN)),
    Row(
        "POST",
        "/api/v1/tiers",
        only(200, "admin"),
        body={
            "code": "bronze",
            "member_kind": "consumer",
            "name_zh": "铜卡",
            "name_en": "Bronze",
            "threshold": "5",
            "weight": 1,
        },
    ),
    Row("DELETE", "/api/v1/tiers/{code}", only(200, "admin"), path={"code": "spare"}),
    Row("POST", "/api/v1/tiers/evaluate", only(200, "admin"), body={}),
    Row("GET", "/api/v1/members/{member_id}/tier", only(200, "A", *OPERATORS), path={"member_id": "A"}),
    Row("GET", "/api/v1/members/{member_id}/tier", only(200, *X_READERS), path={"member_id": "X"}),
    Row("GET", "/api/v1/dividends", only(200, *OPERATORS)),
    Row(
        "POST",
        "/api/v1/dividends",
        only(201, "admin"),
        body=lambda ctx, who: {"period": ctx.settled_day},
    ),
    Row(
        "GET",
        "/api/v1/dividends/{period}",
        only(200, *OPERATORS),
        path={"period": lambda ctx, who: ctx.settled_day},
    ),
    Row(
        "GET",
        "/api/v1/dividends/{period}/lines",
        only(200, *SIGNED_IN),
        path={"period": lambda ctx, who: ctx.settled_day},
        check=own_dividend_lines,
    ),
    Row("GET", "/api/v1/merchants/{merchant_id}/green", only(200, *X_READERS), path={"merchant_id": "X"}),
    Row(
        "POST",
        "/api/v1/merchants/{merchant_id}/green",
        only(200, "admin"),
        path={"merchant_id": "X"},
        body={"green": True, "note": "节能认证"},
    ),
    Row("GET", "/api/v1/green-merchants", only(200, *OPERATORS)),
    # -- collectibles: editions and metadata are public; tokens are their owner's ---------------
    Row("GET", "/api/v1/collectibles/editions", anyone(200)),
    Row(
        "POST",
        "/api/v1/collectibles/editions",
        only(201, "admin"),
        form={
            "title_zh": "新系列",
            "description_zh": "矩阵",
            "supply": "5",
            "price": "10",
            "opens_at": "2026-01-01T00:00:00+08:00",
            "closes_at": "2030-01-01T00:00:00+08:00",
        },
        files={"image": ("a.png", png(3), "image/png")},
    ),
    Row("GET", "/api/v1/collectibles/editions/{edition_id}", anyone(200), path={"edition_id": "edition"}),
    Row(
        "GET", "/api/v1/collectibles/editions/{edition_id}/image", anyone(200), path={"edition_id": "edition"}
    ),
    Row(
        "GET",
        "/api/v1/collectibles/editions/{edition_id}/metadata",
        anyone(200),
        path={"edition_id": "edition"},
    ),
    # O has no points, S, P and T no real name: refused by the rules, not by their role
    Row(
        "POST",
        "/api/v1/collectibles/editions/{edition_id}/redeem",
        only(201, "A", "B") | {"O": 422, "S": 422, "P": 422, "T": 422},
        path={"edition_id": "edition"},
    ),
    Row("GET", "/api/v1/collectibles/my/tokens", only(200, *CONSUMERS)),
    Row(
        "GET",
        "/api/v1/collectibles/tokens/{token_id}",
        hidden(200, "A", *OPERATORS),
        path={"token_id": "token_a"},
    ),
    Row("GET", "/api/v1/collectibles/tokens/{token_id}/metadata", anyone(200), path={"token_id": "token_a"}),
    # A gives it to B; then B holds it, and B's own holding period has only begun
    Row(
        "POST",
        "/api/v1/collectibles/tokens/{token_id}/gift",
        only(200, "A") | {"B": 422, "O": 404, "S": 404, "P": 404, "T": 404},
        path={"token_id": "token_a_gift"},
        body={"to_phone": "13800000001"},
    ),
    # -- mall: browsing for people, products for their merchant's people, orders for their parties -
    Row("GET", "/api/v1/mall/products", only(200, *PEOPLE)),
    Row("GET", "/api/v1/mall/products/{product_id}", only(200, *PEOPLE), path={"product_id": "product_x"}),
    Row(
        "POST",
        "/api/v1/mall/products",
        only(201, "O", "S"),
        body=for_x(title_zh="矩阵新品", price="2", stock=5),
    ),
    Row(
        "POST",
        "/api/v1/mall/products/{product_id}/edit",
        only(200, "O", "S"),
        path={"product_id": "product_x"},
        body=for_x(price="1.5"),
    ),
    Row(
        "POST",
        "/api/v1/mall/products/{product_id}/stock",
        only(200, "O", "S"),
        path={"product_id": "product_x"},
        body=for_x(quantity=1),
    ),
    Row(
        "POST",
        "/api/v1/mall/products/{product_id}/green",
        only(200, "admin"),
        path={"product_id": "product_x"},
        body={"green": True},
    ),
    # A and B hold points; O and S none (422); P and T are Y's own people (422, self-dealing).
    Row(
        "POST",
        "/api/v1/mall/orders",
        only(201, "A", "B") | dict.fromkeys(("O", "S", "P", "T"), 422),
        body=lambda ctx, who: {"product_id": ctx.ids["product_y"], "quantity": 1},
    ),
    Row("GET", "/api/v1/mall/orders", only(200, *CONSUMERS)),
    Row("GET", "/api/v1/mall/orders", only(200, "O", "S"), query={"merchant_id": "X"}),
    Row(
        "GET",
        "/api/v1/mall/orders/{order_id}",
        only(200, "A", "O", "S", *OPERATORS) | dict.fromkeys(("B", "P", "T"), 404),
        path={"order_id": "mall_view"},
    ),
    Row(
        "POST",
        "/api/v1/mall/orders/{order_id}/ship",
        only(200, "O") | {"S": 409},
        path={"order_id": "mall_ship"},
        body=for_x(note="SF 1"),
    ),
    Row(
        "POST",
        "/api/v1/mall/orders/{order_id}/deliver",
        only(200, "A") | dict.fromkeys(("B", "O", "S", "P", "T"), 404),
        path={"order_id": "mall_deliver"},
    ),
    Row(
        "POST",
        "/api/v1/mall/orders/{order_id}/cancel",
        only(200, "A") | dict.fromkeys(("B", "O", "S", "P", "T"), 404),
        path={"order_id": "mall_cancel"},
        body={"reason": "不要了"},
    ),
    Row(
        "POST",
        "/api/v1/mall/orders/{order_id}/cancel",
        only(200, "O") | {"S": 409},
        path={"order_id": "mall_merchant_cancel"},
        body=for_x(reason="缺货"),
    ),
    Row("GET", "/api/v1/mall/overview", only(200, *OPERATORS)),
)


# -- running the table -------------------------------------------------------------------------


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (but columns authentication itself writes), in a stable order."""
    with engine.connect() as conn:
        state = {}
        for table in metadata.sorted_tables:
            columns = [c for c in table.c if c.name not in VOLATILE.get(table.name, ())]
            state[table.name] = sorted((tuple(r) for r in conn.execute(select(*columns))), key=repr)
        return state


def _diff(before: Mapping[str, list[Any]], after: Mapping[str, list[Any]]) -> str:
    changed = []
    for name in before:
        gone = [r for r in before[name] if r not in after[name]]
        new = [r for r in after[name] if r not in before[name]]
        if gone or new:
            changed.append(f"{name}: -{gone[:2]} +{new[:2]}")
    return "; ".join(changed)


def _check_refusal(answer: Any, status: int) -> str | None:
    if not answer.headers.get("content-type", "").startswith("application/problem+json"):
        return f"refusal is not problem+json: {answer.headers.get('content-type')}"
    code = answer.json().get("code")
    if status == 401 and (code != "not_signed_in" or "www-authenticate" not in answer.headers):
        return f"401 without code not_signed_in and a challenge: {code}"
    if status == 403 and code != "forbidden":
        return f"403 with code {code}, expected forbidden"
    return None


def run(ctx: Ctx, rows: Iterator[Row]) -> tuple[int, list[str]]:
    """Send every (row, caller) cell; the mismatches, each naming route, method and caller."""
    client, engine = ctx.town.client, ctx.town.engine
    problems: list[str] = []
    cells = 0
    state = snapshot(engine)
    for index, row in enumerate(rows):
        assert set(row.expect) == set(CALLERS), f"{row.label()}: the row must name every caller"
        for who in CALLERS:
            cells += 1
            expected = row.expect[who]
            path = row.route.format(**{k: _value(ctx, who, v) for k, v in row.path.items()})
            query = {k: _value(ctx, who, v) for k, v in row.query.items()}
            headers = dict(ctx.town[who].headers)
            kwargs: dict[str, Any] = {"params": query, "headers": headers}
            if row.method in UNSAFE:
                headers["Idempotency-Key"] = f"authz-{index}-{who}"
            if row.body is not None:
                kwargs["json"] = row.body(ctx, who) if callable(row.body) else row.body
            if row.form is not None:
                kwargs["data"] = row.form
            if row.files is not None:
                kwargs["files"] = row.files
            answer = client.request(row.method, path, **kwargs)
            client.cookies.clear()  # a session cookie set by one cell must not sign in the next
            where = f"{row.method} {path} (route {row.route}) as {who}"
            if answer.status_code != expected:
                problems.append(f"{where}: {answer.status_code}, expected {expected}: {answer.text[:300]}")
            elif expected in (401, 403):
                wrong = _check_refusal(answer, expected)
                if wrong:
                    problems.append(f"{where}: {wrong}")
            elif row.check is not None and 200 <= expected < 300:
                try:
                    row.check(ctx, who, answer)
                except AssertionError as error:
                    problems.append(f"{where}: wrong content: {error}")
            if row.method not in UNSAFE:
                continue
            after = snapshot(engine)
            if not 200 <= answer.status_code < 300:
                changed = _diff(state, after)
                if changed:
                    problems.append(f"{where}: refused with {answer.status_code} but wrote {changed}")
            state = after
    return cells, problems


def _report(problems: list[str]) -> str:
    return f"{len(problems)} cells of the matrix are wrong:\n" + "\n".join(problems)


def test_the_table_covers_every_route() -> None:
    """Every /api/v1 route, with every method, has at least one row (and no row is stale).  The
    HTML pages are not the API: they answer with redirects and pages, not 401/403."""
    settings = Settings(environment="test", log_json=False, log_level="WARNING")
    app = create_app(settings, engine=create_engine("sqlite://"), scheduler=False)
    served = {
        (method, route.path)
        for route in iter_route_contexts(app.routes)  # routers included in the app, flattened
        if route.path and route.methods
        for method in route.methods - {"HEAD", "OPTIONS"}
    }
    api = {(method, path) for method, path in served if path.startswith("/api/v1/")}
    assert len(api) > 40
    table = {(row.method, row.route) for row in ROWS}
    assert not api - table, f"API routes without a row in the matrix: {sorted(api - table)}"
    assert not table - served, f"rows for routes the app does not serve: {sorted(table - served)}"


def test_reads(town: Town) -> None:
    """Every read, by every caller; reading writes nothing either."""
    ctx = prepare(town)
    before = snapshot(town.engine)
    cells, problems = run(ctx, (row for row in ROWS if row.method not in UNSAFE))
    assert not problems, _report(problems)
    assert cells > 250
    changed = _diff(before, snapshot(town.engine))
    assert not changed, f"reads wrote to the database: {changed}"


def test_writes(town: Town) -> None:
    """Every state-changing route, by every caller; whatever is refused leaves no trace."""
    ctx = prepare(town)
    cells, problems = run(ctx, (row for row in ROWS if row.method in UNSAFE))
    assert not problems, _report(problems)
    assert cells > 250
    town.assert_verified()
