"""The outbox and merchants' webhooks, on SQLite and PostgreSQL.

Events commit or roll back with the change they describe; the dispatcher delivers them signed,
retries by the backoff schedule, and never sends one merchant's events to another.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, func, select

from sharebuy.events import domain, service
from sharebuy.events import repository as events
from sharebuy.events.models import outbox_events, webhook_deliveries, webhook_endpoints
from sharebuy.kernel.errors import InvalidInput, NotFound, Refused
from sharebuy.rewards import purchase_service, settlement_service
from sharebuy.settings import Settings
from tests.integration.world import LATER, START, at, build, new_consumer, open_merchant

# -- helpers ----------------------------------------------------------------------------------


def outbox(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(outbox_events).order_by(outbox_events.c.id)).mappings().all()
    return [{**row, "payload": json.loads(row["payload"])} for row in rows]


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@dataclass
class Sent:
    url: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.body)
        return document


@dataclass
class Recorder:
    """An injectable sender: remembers every request and answers with `status`."""

    status: int = 200
    sent: list[Sent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, url: str, headers: Mapping[str, str], body: bytes) -> int:
        with self.lock:
            self.sent.append(Sent(url, dict(headers), body))
        return self.status

    def topics_for(self, url: str) -> list[str]:
        return [s.event["topic"] for s in self.sent if s.url == url]


class Receiver:
    """A merchant's server on 127.0.0.1: checks the signature as a merchant would, then answers."""

    def __init__(self) -> None:
        self.secret = ""
        self.status = 200
        self.clock: int | None = None  # the receiver's unix time; None reads the real clock
        self.requests: list[tuple[dict[str, str], bytes, bool]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                genuine = domain.verify_signature(
                    receiver.secret,
                    self.headers.get("Sharebuy-Signature", ""),
                    body,
                    now=int(time.time()) if receiver.clock is None else receiver.clock,
                )
                receiver.requests.append((dict(self.headers.items()), body, genuine))
                self.send_response(receiver.status if genuine else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def now() -> datetime:
    return datetime.now(UTC)


# -- the outbox -------------------------------------------------------------------------------


def test_a_purchase_emits_one_event_and_a_replay_none(engine: Engine) -> None:
    world = build(engine)
    c = world.consumers[0]
    first = world.buy(c, "100", key="till-1")
    again = world.buy(c, "100", key="till-1")
    assert again.replayed
    [event] = outbox(engine)
    assert event["topic"] == "purchase.recorded" and event["merchant_id"] == world.merchant
    assert event["payload"] == {
        "purchase_id": first.id,
        "merchant_id": world.merchant,
        "consumer_id": c,
        "amount": "100.00",
        "business_day": START.isoformat(),
        "consumer_share_value": "100.00",
        "merchant_share_value": "20.00",
        "points_deducted": "10.0000",
        "from_deposit": "0.0000",
        "merchant_suspended": False,
    }


def test_a_refused_purchase_emits_nothing(engine: Engine) -> None:
    world = build(engine, grant="500")
    with pytest.raises(Refused) as caught:
        world.buy(world.consumers[0], "6000")  # 600 points due, 0 available, 500 deposit
    assert caught.value.code == "insufficient_points"
    assert outbox(engine) == []


def test_a_refund_emits_one_event_and_its_replay_none(engine: Engine) -> None:
    world = build(engine)
    c = world.consumers[0]
    bought = world.buy(c, "100")
    refund = purchase_service.refund_purchase(engine, bought.id, at=at(START + timedelta(days=1)))
    again = purchase_service.refund_purchase(engine, bought.id, at=at(START + timedelta(days=1)))
    assert again.replayed
    recorded, refunded = outbox(engine)
    assert recorded["topic"] == "purchase.recorded"
    assert refunded["topic"] == "purchase.refunded" and refunded["merchant_id"] == world.merchant
    assert refunded["payload"]["purchase_id"] == bought.id
    assert refunded["payload"]["amount"] == "100.00"
    assert refunded["payload"]["consumer_share_value_taken"] == str(refund.consumer_share_value_taken)
    assert refunded["payload"]["merchant_share_value_taken"] == "20.00"
    assert refunded["payload"]["points_returned"] == "10.0000"


def test_settlement_completed_is_emitted_once(engine: Engine) -> None:
    world = build(engine)
    world.buy(world.consumers[0], "100")
    [report] = settlement_service.settle(engine, through=START, now=LATER)
    settlement_service.settle(engine, through=START, now=LATER)  # replayed: no second event
    [event] = [e for e in outbox(engine) if e["topic"] == "settlement.completed"]
    assert event["merchant_id"] is None
    assert event["payload"] == {
        "business_day": START.isoformat(),
        "released": str(report.released),
        "network_share_value": str(report.network_share_value),
        "holders": report.holders,
        "guide_price": str(report.guide_price),
    }


# -- endpoints --------------------------------------------------------------------------------


def test_an_endpoint_shows_its_secret_once_and_stores_none(engine: Engine) -> None:
    world = build(engine)
    created = service.create_endpoint(engine, world.merchant, url="https://shop.example.com/hooks")
    assert created["topics"] == ["*"] and len(created["secret"]) == 64
    [listed] = service.list_endpoints(engine, world.merchant)
    assert "secret" not in listed and listed["active"] and listed["id"] == created["id"]
    with engine.connect() as conn:
        row = conn.execute(select(webhook_endpoints)).mappings().one()
    assert created["secret"] not in {str(v) for v in row.values()}
    rotated = service.rotate_secret(engine, world.merchant, created["id"])
    assert rotated["secret"] != created["secret"] and len(rotated["secret"]) == 64


def test_endpoint_refusals(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    world = build(engine)
    other = open_merchant(engine, new_consumer(engine))
    with pytest.raises(InvalidInput):
        service.create_endpoint(engine, world.merchant, url="ftp://shop.example.com/")
    with pytest.raises(InvalidInput):
        service.create_endpoint(engine, world.merchant, url="https://x.example/", topics="market.trade")
    with pytest.raises(NotFound):
        service.create_endpoint(engine, world.consumers[0], url="https://x.example/")
    mine = service.create_endpoint(engine, world.merchant, url="https://x.example/")
    with pytest.raises(NotFound):
        service.disable_endpoint(engine, other, mine["id"])
    with pytest.raises(NotFound):
        service.rotate_secret(engine, other, mine["id"])
    with pytest.raises(NotFound):
        service.deliveries(engine, other, endpoint_id=mine["id"])
    production = Settings(environment="production", secret_key=SecretStr("p" * 40))
    monkeypatch.setattr(service, "get_settings", lambda: production)
    with pytest.raises(InvalidInput):
        service.create_endpoint(engine, world.merchant, url="http://x.example/")
    assert service.create_endpoint(engine, world.merchant, url="https://x.example/")["id"]


# -- enqueue ----------------------------------------------------------------------------------


def test_enqueue_is_idempotent_and_skips_events_before_the_endpoint(engine: Engine) -> None:
    world = build(engine)
    c = world.consumers[0]
    world.buy(c, "10")  # before the endpoint: never delivered to it
    service.create_endpoint(engine, world.merchant, url="https://x.example/")
    world.buy(c, "20")
    t0 = now()
    assert service.enqueue(engine, now=t0) == 1
    assert service.enqueue(engine, now=t0) == 0
    # Much later the cursor moves past what was enqueued; new events still arrive, once.
    assert service.enqueue(engine, now=t0 + timedelta(hours=1)) == 0
    world.buy(c, "30")
    assert service.enqueue(engine, now=t0 + timedelta(hours=1)) == 1
    assert service.enqueue(engine, now=t0 + timedelta(hours=2)) == 0
    assert count(engine, webhook_deliveries) == 2
    amounts = [
        json.loads(s.body)["data"]["amount"] for s in _dispatch_all(engine, t0 + timedelta(hours=2)).sent
    ]
    assert sorted(amounts) == ["20.00", "30.00"]


def _dispatch_all(engine: Engine, at: datetime) -> Recorder:
    recorder = Recorder()
    service.dispatch_due(engine, now=at, send=recorder)
    return recorder


# -- delivery ---------------------------------------------------------------------------------


def test_delivery_to_a_real_server_is_signed(engine: Engine, receiver: Receiver) -> None:
    world = build(engine)
    endpoint = service.create_endpoint(engine, world.merchant, url=receiver.url, topics="purchase.recorded")
    receiver.secret = endpoint["secret"]
    bought = world.buy(world.consumers[0], "100")
    result = service.run_once(engine)
    assert result == {"enqueued": 1, "claimed": 1, "delivered": 1, "retrying": 0, "failed": 0}
    [(headers, body, genuine)] = receiver.requests
    assert genuine
    lowered = {k.lower(): v for k, v in headers.items()}
    [event] = outbox(engine)
    assert lowered["sharebuy-event-id"] == str(event["id"])
    assert lowered["sharebuy-topic"] == "purchase.recorded"
    assert lowered["content-type"].startswith("application/json")
    document = json.loads(body)
    assert document["id"] == event["id"] and document["topic"] == "purchase.recorded"
    assert document["data"]["purchase_id"] == bought.id and document["data"]["amount"] == "100.00"
    assert datetime.fromisoformat(document["created_at"]).tzinfo is not None
    [log] = service.deliveries(engine, world.merchant)
    assert (log["status"], log["attempts"], log["last_status_code"]) == ("delivered", 1, 200)
    assert log["topic"] == "purchase.recorded" and log["delivered_at"] is not None
    assert service.run_once(engine) == {
        "enqueued": 0,
        "claimed": 0,
        "delivered": 0,
        "retrying": 0,
        "failed": 0,
    }


def test_a_rotated_secret_signs_the_next_delivery(engine: Engine, receiver: Receiver) -> None:
    world = build(engine)
    endpoint = service.create_endpoint(engine, world.merchant, url=receiver.url)
    receiver.secret = endpoint["secret"]
    receiver.secret = service.rotate_secret(engine, world.merchant, endpoint["id"])["secret"]
    world.buy(world.consumers[0], "100")
    assert service.run_once(engine)["delivered"] == 1
    assert [genuine for _h, _b, genuine in receiver.requests] == [True]


def test_a_failing_receiver_is_retried_by_the_backoff_then_given_up(
    engine: Engine, receiver: Receiver
) -> None:
    world = build(engine)
    endpoint = service.create_endpoint(engine, world.merchant, url=receiver.url)
    receiver.secret, receiver.status = endpoint["secret"], 500
    world.buy(world.consumers[0], "100")
    moment = now()
    assert service.enqueue(engine, now=moment) == 1
    for attempt, wait in enumerate(domain.BACKOFF, start=1):
        receiver.clock = int(moment.timestamp())
        assert service.dispatch_due(engine, now=moment)["retrying"] == 1
        [log] = service.deliveries(engine, world.merchant)
        assert (log["status"], log["attempts"], log["last_status_code"]) == ("pending", attempt, 500)
        assert log["next_attempt_at"] == moment + wait
        # Not due a second before the wait is over.
        assert service.dispatch_due(engine, now=moment + wait - timedelta(seconds=1))["claimed"] == 0
        moment += wait
    receiver.clock = moment.timestamp()
    assert service.dispatch_due(engine, now=moment) == {
        "claimed": 1,
        "delivered": 0,
        "retrying": 0,
        "failed": 1,
    }
    assert service.dispatch_due(engine, now=moment + timedelta(days=30))["claimed"] == 0
    [log] = service.deliveries(engine, world.merchant)
    assert (log["status"], log["attempts"], log["last_error"]) == ("failed", domain.MAX_ATTEMPTS, "HTTP 500")
    assert log["next_attempt_at"] is None
    # Every attempt reached the receiver, signed with the dispatcher's clock of that attempt.
    assert [genuine for _h, _b, genuine in receiver.requests] == [True] * domain.MAX_ATTEMPTS


def test_a_network_error_is_recorded_and_retried(engine: Engine) -> None:
    world = build(engine)
    service.create_endpoint(engine, world.merchant, url="https://x.example/")
    world.buy(world.consumers[0], "100")
    moment = now()

    def unreachable(_url: str, _headers: Mapping[str, str], _body: bytes) -> int:
        raise TimeoutError("timed out after 5 s")

    result = service.run_once(engine, now=moment, send=unreachable)
    assert result["retrying"] == 1
    [log] = service.deliveries(engine, world.merchant)
    assert log["last_status_code"] is None and "TimeoutError" in log["last_error"]
    recorder = Recorder()
    assert service.run_once(engine, now=moment + timedelta(seconds=30), send=recorder)["delivered"] == 1
    [log] = service.deliveries(engine, world.merchant)
    assert (log["status"], log["attempts"], log["last_error"]) == ("delivered", 2, None)


def test_a_claimed_delivery_is_not_sent_twice_at_once(engine: Engine) -> None:
    world = build(engine)
    service.create_endpoint(engine, world.merchant, url="https://x.example/")
    world.buy(world.consumers[0], "100")
    moment = now()
    assert service.enqueue(engine, now=moment) == 1
    rival: list[dict[str, int]] = []

    def send(url: str, headers: Mapping[str, str], body: bytes) -> int:
        # A second dispatcher running while this one is on the network finds nothing due, and
        # can write: the first one holds no transaction open while sending.
        rival.append(service.dispatch_due(engine, now=moment, send=Recorder()))
        return 200

    assert service.dispatch_due(engine, now=moment, send=send)["delivered"] == 1
    assert rival == [{"claimed": 0, "delivered": 0, "retrying": 0, "failed": 0}]


class Crash(BaseException):
    """The dispatcher's process dying mid-send."""


def test_a_lease_lets_a_crashed_claim_be_sent_again_later(engine: Engine) -> None:
    world = build(engine)
    service.create_endpoint(engine, world.merchant, url="https://x.example/")
    world.buy(world.consumers[0], "100")
    moment = now()
    assert service.enqueue(engine, now=moment) == 1

    def crash(_url: str, _headers: Mapping[str, str], _body: bytes) -> int:
        raise Crash

    with pytest.raises(Crash):
        service.dispatch_due(engine, now=moment, send=crash)
    assert service.dispatch_due(engine, now=moment + timedelta(seconds=30))["claimed"] == 0
    recorder = Recorder()
    assert service.dispatch_due(engine, now=moment + timedelta(minutes=2), send=recorder)["delivered"] == 1
    assert len(recorder.sent) == 1


def test_concurrent_dispatchers_send_each_delivery_once(engine: Engine) -> None:
    world = build(engine)
    service.create_endpoint(engine, world.merchant, url="https://x.example/")
    with engine.begin() as conn:
        for n in range(25):
            events.emit(conn, "purchase.recorded", world.merchant, {"n": n})
    moment = now()
    assert service.enqueue(engine, now=moment) == 25

    recorder = Recorder()

    def slow(url: str, headers: Mapping[str, str], body: bytes) -> int:
        time.sleep(0.01)
        return recorder(url, headers, body)

    results: list[dict[str, int]] = []
    threads = [
        threading.Thread(target=lambda: results.append(service.dispatch_due(engine, now=moment, send=slow)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    sent = sorted(s.event["data"]["n"] for s in recorder.sent)
    assert sent == list(range(25))
    assert sum(r["delivered"] for r in results) == 25


# -- who receives what ------------------------------------------------------------------------


def test_merchants_receive_only_their_own_purchase_events(engine: Engine) -> None:
    world = build(engine)
    other = open_merchant(engine, new_consumer(engine))
    mine = service.create_endpoint(engine, world.merchant, url="https://x.example/")
    theirs = service.create_endpoint(engine, other, url="https://y.example/")
    world.buy(world.consumers[0], "100", merchant=other)
    world.buy(world.consumers[1], "200", merchant=other)
    recorder = Recorder()
    service.run_once(engine, send=recorder)
    assert recorder.topics_for(mine["url"]) == []
    assert recorder.topics_for(theirs["url"]) == ["purchase.recorded", "purchase.recorded"]
    assert {s.event["data"]["merchant_id"] for s in recorder.sent} == {other}
    assert service.deliveries(engine, world.merchant) == []
    assert len(service.deliveries(engine, other)) == 2


def test_settlement_completed_goes_to_every_subscribed_endpoint(engine: Engine) -> None:
    world = build(engine)
    other = open_merchant(engine, new_consumer(engine))
    a = service.create_endpoint(
        engine, world.merchant, url="https://a.example/", topics="settlement.completed"
    )
    b = service.create_endpoint(engine, other, url="https://b.example/")
    c = service.create_endpoint(engine, other, url="https://c.example/", topics="purchase.recorded")
    d = service.create_endpoint(engine, world.merchant, url="https://d.example/")
    service.disable_endpoint(engine, world.merchant, d["id"])
    world.buy(world.consumers[0], "100")
    settlement_service.settle(engine, through=START, now=LATER)
    recorder = Recorder()
    service.run_once(engine, send=recorder)
    assert recorder.topics_for(a["url"]) == ["settlement.completed"]
    assert recorder.topics_for(b["url"]) == ["settlement.completed"]
    assert recorder.topics_for(c["url"]) == []
    assert recorder.topics_for(d["url"]) == []
    [event] = [s.event for s in recorder.sent if s.url == b["url"]]
    assert event["data"]["business_day"] == START.isoformat()


def test_a_disabled_endpoint_receives_nothing(engine: Engine) -> None:
    world = build(engine)
    endpoint = service.create_endpoint(engine, world.merchant, url="https://x.example/")
    world.buy(world.consumers[0], "100")
    moment = now()
    assert service.enqueue(engine, now=moment) == 1  # pending when the endpoint is disabled
    disabled = service.disable_endpoint(engine, world.merchant, endpoint["id"])
    assert not disabled["active"] and disabled["disabled_at"] is not None
    assert service.disable_endpoint(engine, world.merchant, endpoint["id"])["active"] is False
    world.buy(world.consumers[0], "50")
    recorder = Recorder()
    assert service.run_once(engine, now=moment, send=recorder)["claimed"] == 0
    assert recorder.sent == []
    [log] = service.deliveries(engine, world.merchant)
    assert (log["status"], log["last_error"]) == ("failed", "endpoint disabled")
    with pytest.raises(Refused):
        service.rotate_secret(engine, world.merchant, endpoint["id"])


def test_the_delivery_log_pages_newest_first(engine: Engine) -> None:
    world = build(engine)
    endpoint = service.create_endpoint(engine, world.merchant, url="https://x.example/")
    for amount in ("1", "2", "3"):
        world.buy(world.consumers[0], amount)
    service.run_once(engine, send=Recorder())
    log = service.deliveries(engine, world.merchant, endpoint_id=endpoint["id"])
    assert [r["id"] for r in log] == sorted((r["id"] for r in log), reverse=True)
    page = service.deliveries(engine, world.merchant, limit=2)
    rest = service.deliveries(engine, world.merchant, before_id=page[-1]["id"])
    assert [r["id"] for r in page + rest] == [r["id"] for r in log]
    with pytest.raises(InvalidInput):
        service.deliveries(engine, world.merchant, limit=0)


# -- in production a delivery never reaches the platform's own network -------------------------


@pytest.mark.parametrize(
    ("addresses", "sent"),
    [
        (["127.0.0.1"], False),
        (["169.254.169.254"], False),  # cloud metadata
        (["10.1.2.3"], False),
        (["::1"], False),
        (["fe80::1%eth0"], False),
        (["93.184.215.14", "192.168.0.9"], False),  # one internal address is enough to refuse
        (["93.184.215.14"], True),
    ],
)
def test_a_name_that_resolves_inside_is_not_sent_in_production(
    monkeypatch: pytest.MonkeyPatch, addresses: list[str], sent: bool
) -> None:
    production = Settings(environment="production", secret_key=SecretStr("p" * 40))
    monkeypatch.setattr(service, "get_settings", lambda: production)
    monkeypatch.setattr(
        service.socket, "getaddrinfo", lambda host, port, **kw: [(0, 0, 0, "", (a, port)) for a in addresses]
    )
    posted: list[str] = []

    class Answer:
        status_code = 204

    def fake_post(url: str, **kwargs: Any) -> Answer:
        posted.append(url)
        return Answer()

    monkeypatch.setattr(service.httpx, "post", fake_post)
    if sent:
        assert service.post_json("https://hooks.example.cn/x", {}, b"{}") == 204
        assert posted == ["https://hooks.example.cn/x"]
    else:
        with pytest.raises(service.InternalAddress):
            service.post_json("https://hooks.example.cn/x", {}, b"{}")
        assert posted == []
