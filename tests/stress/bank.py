"""The bank test's clients and nemesis: random operations over HTTP while the server and the
database are crashed and restarted under them.

Each client thread picks operations at random (purchases with a shop's POS key, refunds, market
listings, taking a listing, marking paid, confirming, cancelling, settling the next day) and
records them in the history; the nemesis kills the server with SIGKILL or stops PostgreSQL with
`pg_ctl stop -m immediate`, and starts it again, several times per run; or it freezes the
server (SIGSTOP) for longer than a client waits, so that requests given up on still happen.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx

from tests.stress.cluster import PrivateCluster
from tests.stress.history import History, Op, perform
from tests.stress.server import AppServer
from tests.stress.world import HISTORY_DAYS, World

# How long an operation is still retried with its key after the run's end, while everything is up.
GRACE_SECONDS = 60.0
CLIENT_TIMEOUT = 5.0
WEIGHTS = {
    "purchase": 30,
    "refund": 6,
    "list": 12,
    "take": 14,
    "paid": 12,
    "confirm": 10,
    "cancel": 4,
    "settle": 3,
}


@dataclass
class Shared:
    """What the clients know from acknowledged answers (an op of unknown fate leaves things out)."""

    purchases: list[tuple[int, int]] = field(default_factory=list)  # (purchase id, shop index)
    trades: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> buyer, seller, status
    next_day: date = date.min
    highest_day_asked: date | None = None
    settling: threading.Lock = field(default_factory=threading.Lock)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Fault:
    kind: str
    at: float
    down_seconds: float


class Run:
    def __init__(
        self,
        world: World,
        server: AppServer,
        cluster: PrivateCluster,
        seed: int,
        seconds: float,
        clients: int,
    ) -> None:
        self.world = world
        self.server = server
        self.cluster = cluster
        self.seed = seed
        self.seconds = seconds
        self.clients = clients
        self.history = History()
        self.shared = Shared(next_day=world.settled_through + timedelta(days=1))
        self.faults: list[Fault] = []
        self.today = world.start + timedelta(days=HISTORY_DAYS)
        self._serial = 0
        self._serial_lock = threading.Lock()
        self.started = 0.0
        self.end = 0.0
        self.errors: list[BaseException] = []

    # -- keys and people -----------------------------------------------------------------------
    def key(self, kind: str) -> str:
        with self._serial_lock:
            self._serial += 1
            return f"s{self.seed}-{kind}-{self._serial}"

    def token(self, index: int) -> str:
        return self.world.consumers[index].token

    # -- running -------------------------------------------------------------------------------
    def go(self) -> None:
        self.started = time.monotonic()
        self.end = self.started + self.seconds
        threads = [
            threading.Thread(target=self._guard(self._client, n), name=f"client-{n}", daemon=True)
            for n in range(self.clients)
        ]
        nemesis = threading.Thread(target=self._guard(self._nemesis), name="nemesis", daemon=True)
        for t in [*threads, nemesis]:
            t.start()
        nemesis.join(timeout=self.seconds + 180)
        for t in threads:
            t.join(timeout=self.seconds + GRACE_SECONDS + 120)
        if any(t.is_alive() for t in [*threads, nemesis]):
            raise AssertionError("a client or the nemesis did not finish in time")
        if self.errors:
            raise self.errors[0]

    def _guard(self, target: Any, *args: Any) -> Any:
        def run() -> None:
            try:
                target(*args)
            except BaseException as error:
                self.errors.append(error)

        return run

    def _client(self, number: int) -> None:
        rng = random.Random(self.seed * 1000 + number)
        kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
        transport = httpx.HTTPTransport(retries=0)
        with httpx.Client(base_url=self.server.base, timeout=CLIENT_TIMEOUT, transport=transport) as client:
            count = 0
            # Bounded in time and in count: a client that runs too fast stops at its quota.
            while time.monotonic() < self.end and count < 20_000:
                op = getattr(self, f"_{rng.choices(kinds, weights)[0]}")(client, rng)
                if op is None:
                    time.sleep(0.01)
                    continue
                count += 1
                self.history.add(op)
                perform(client, op, rng, give_up_at=self.end + GRACE_SECONDS)
                self._learn(op)

    # -- the operations ------------------------------------------------------------------------
    def _purchase(self, client: httpx.Client, rng: random.Random) -> Op:
        shop_index = rng.randrange(len(self.world.shops))
        shop = self.world.shops[shop_index]
        buyer = rng.choice([i for i in range(len(self.world.consumers)) if i != shop.owner])
        amount = f"{rng.randint(100, 30000) / 100:.2f}"
        body = {"consumer_id": self.world.consumers[buyer].member_id, "amount": amount}
        return Op(
            "purchase",
            self.key("p"),
            "POST",
            "/api/v1/purchases",
            shop.pos_key,
            body,
            {
                "shop": shop_index,
                "merchant_id": shop.merchant_id,
                "consumer_id": body["consumer_id"],
                "amount": amount,
            },
        )

    def _refund(self, client: httpx.Client, rng: random.Random) -> Op | None:
        with self.shared.lock:
            if not self.shared.purchases:
                return None
            purchase_id, shop_index = self.shared.purchases.pop(rng.randrange(len(self.shared.purchases)))
        shop = self.world.shops[shop_index]
        return Op(
            "refund",
            self.key("r"),
            "POST",
            f"/api/v1/purchases/{purchase_id}/refund",
            shop.pos_key,
            None,
            {"purchase_id": purchase_id},
        )

    def _list(self, client: httpx.Client, rng: random.Random) -> Op:
        seller = rng.randrange(len(self.world.consumers))
        body = {
            "quantity": f"{rng.randint(1, 4)}.{rng.randint(0, 9999):04d}",
            "price": f"1.{rng.randint(0, 5000):04d}",
            "payment_kinds": ["alipay", "bank"],
            "min_order": "1",
        }
        return Op(
            "list",
            self.key("l"),
            "POST",
            "/api/v1/market/listings",
            self.token(seller),
            body,
            {"seller": seller},
        )

    def _take(self, client: httpx.Client, rng: random.Random) -> Op | None:
        buyer = rng.randrange(len(self.world.consumers))
        try:
            answer = client.get(
                "/api/v1/market/listings",
                params={"limit": 50, "min_quantity": "1"},
                headers={"Authorization": f"Bearer {self.token(buyer)}"},
            )
        except httpx.HTTPError:
            return None
        if answer.status_code != 200:
            return None
        me = self.world.consumers[buyer].member_id
        offers = [row for row in answer.json() if int(row["seller_id"]) != me]
        if not offers:
            return None
        listing = rng.choice(offers)
        return Op(
            "take",
            self.key("t"),
            "POST",
            f"/api/v1/market/listings/{listing['id']}/take",
            self.token(buyer),
            {"quantity": "1"},
            {"buyer": buyer, "listing_id": int(listing["id"])},
        )

    def _pick_trade(self, rng: random.Random, status: str) -> tuple[int, dict[str, Any]] | None:
        with self.shared.lock:
            open_ = [(i, t) for i, t in self.shared.trades.items() if t["status"] == status and not t["busy"]]
            if not open_:
                return None
            found = rng.choice(open_)
            found[1]["busy"] = True  # one client acts on a trade at a time: no self-made conflicts
            return found

    def _paid(self, client: httpx.Client, rng: random.Random) -> Op | None:
        found = self._pick_trade(rng, "awaiting_payment")
        if found is None:
            return None
        trade_id, trade = found
        body = {"reference": f"pay-{trade_id}-{rng.randrange(10**9)}"}
        return Op(
            "paid",
            self.key("y"),
            "POST",
            f"/api/v1/market/trades/{trade_id}/paid",
            self.token(trade["buyer"]),
            body,
            {"trade_id": trade_id},
        )

    def _confirm(self, client: httpx.Client, rng: random.Random) -> Op | None:
        found = self._pick_trade(rng, "paid")
        if found is None:
            return None
        trade_id, trade = found
        return Op(
            "confirm",
            self.key("c"),
            "POST",
            f"/api/v1/market/trades/{trade_id}/confirm",
            self.token(trade["seller"]),
            None,
            {"trade_id": trade_id},
        )

    def _cancel(self, client: httpx.Client, rng: random.Random) -> Op | None:
        found = self._pick_trade(rng, "awaiting_payment")
        if found is None:
            return None
        trade_id, trade = found
        return Op(
            "cancel",
            self.key("x"),
            "POST",
            f"/api/v1/market/trades/{trade_id}/cancel",
            self.token(trade["buyer"]),
            {"reason": "压测取消"},
            {"trade_id": trade_id},
        )

    def _settle(self, client: httpx.Client, rng: random.Random) -> Op | None:
        # One settlement request at a time: a second would only be told another one is running.
        if not self.shared.settling.acquire(blocking=False):
            return None
        with self.shared.lock:
            day = self.shared.next_day
        if day >= self.today:
            self.shared.settling.release()
            return None
        with self.shared.lock:
            if self.shared.highest_day_asked is None or day > self.shared.highest_day_asked:
                self.shared.highest_day_asked = day
        assert self.world.admin is not None
        return Op(
            "settle",
            self.key("d"),
            "POST",
            "/api/v1/settlements",
            self.world.admin.token,
            {"date": day.isoformat()},
            {"day": day.isoformat()},
        )

    def _learn(self, op: Op) -> None:
        with self.shared.lock:
            if op.kind == "settle":
                if op.outcome == "ok":
                    self.shared.next_day = max(
                        self.shared.next_day, date.fromisoformat(op.context["day"]) + timedelta(days=1)
                    )
                self.shared.settling.release()
            elif op.kind == "purchase" and op.outcome == "ok":
                self.shared.purchases.append((int(op.answer["id"]), op.context["shop"]))
            elif op.kind == "take" and op.outcome == "ok":
                ans = op.answer
                buyer = op.context["buyer"]
                seller = next(
                    i for i, p in enumerate(self.world.consumers) if p.member_id == int(ans["seller_id"])
                )
                self.shared.trades[int(ans["id"])] = {
                    "buyer": buyer,
                    "seller": seller,
                    "status": ans["status"],
                    "busy": False,
                }
            elif op.kind in ("paid", "confirm", "cancel"):
                trade = self.shared.trades[op.context["trade_id"]]
                trade["busy"] = False
                if op.outcome == "ok":
                    trade["status"] = op.answer["status"]
                elif op.outcome == "unknown":
                    trade["status"] = "uncertain"  # left alone from now on

    # -- the nemesis ---------------------------------------------------------------------------
    def _nemesis(self) -> None:
        rng = random.Random(self.seed * 7919)
        # Several faults per run however long the restarts take on a busy machine: the pause
        # between faults is short, and only the run's end stops the nemesis.
        target = max(4, int(self.seconds // 8))
        gap = min(5.0, self.seconds / (target + 1))
        kinds = ["kill-server", "crash-database", "both", "pause-server"]
        n = 0
        while True:
            time.sleep(rng.uniform(0.5, 1.5) * gap)
            if time.monotonic() > self.end - 2 or n >= 3 * target:
                break
            kind = kinds[n] if n < len(kinds) else rng.choice(kinds)
            n += 1
            began = time.monotonic()
            if kind == "pause-server":
                self.server.pause(rng.uniform(1.2, 1.6) * CLIENT_TIMEOUT)
                self.faults.append(Fault(kind, began - self.started, time.monotonic() - began))
                continue
            if kind in ("crash-database", "both"):
                self.cluster.crash()
            if kind in ("kill-server", "both"):
                self.server.kill()
            time.sleep(rng.uniform(0.1, 2.0))
            if kind in ("crash-database", "both"):
                self.cluster.start()
            if kind in ("kill-server", "both"):
                self.server.start()
                self.server.wait_ready()
            self.faults.append(Fault(kind, began - self.started, time.monotonic() - began))
        if not self.cluster.is_up():
            self.cluster.start()
        self.server.wait_database()
