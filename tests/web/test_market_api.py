"""The market over HTTP, used as new members and operators would, on both databases: who may
do what to a trade, who sees the seller's accounts, idempotent retries, evidence, disputes."""

from __future__ import annotations

from typing import Any

import pytest
from argon2 import PasswordHasher, Type

from sharebuy.identity import service as identity
from tests.integration.market_world import fund, id_number
from tests.web.conftest import Town

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        identity, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
    )


_keys = iter(range(10**6))


def post(town: Town, who: str, path: str, body: Any = None, *, key: bool = True, **kw: Any) -> Any:
    headers = {"Idempotency-Key": f"k-{next(_keys)}"} if key else {}
    return town.call(who, "POST", path, json=body, headers=headers, **kw)


def ready(town: Town, who: str, merchant: str | None = None, *, account: str = "13900000000") -> None:
    """Real name (the person's), the risk notice and an Alipay account (for the member acted for)."""
    acting = {} if merchant is None else {"merchant_id": town.merchants[merchant]}
    if merchant is None:
        named = post(town, who, "/market/real-name", {"real_name": "张三", "id_number": id_number()})
        assert named.status_code == 200, named.text
        assert "*" in named.json()["id_number"]
    notice = town.call(who, "GET", "/market/risk-notice").json()
    accepted = post(town, who, "/market/risk-notice/accept", {**acting, "version": notice["version"]})
    assert accepted.status_code == 200, accepted.text
    method = {**acting, "kind": "alipay", "account_name": "张三", "account_id": account}
    assert post(town, who, "/market/payment-methods", method).status_code == 201


def test_public_market_pages(town: Town) -> None:
    for path in ("/market/risk-notice", "/market/guide-price", "/market/kline?days=7", "/market/status"):
        answer = town.call("anonymous", "GET", path)
        assert answer.status_code == 200, (path, answer.text)
    assert town.call("anonymous", "GET", "/market/guide-price").json()["guide_price"] == "1.0000"
    assert "不承诺任何收益" in town.call("anonymous", "GET", "/market/risk-notice").json()["zh"]
    assert town.call("anonymous", "GET", "/market/listings").status_code == 401


def test_a_trade_between_two_consumers(town: Town) -> None:
    ready(town, "A", account="13900000001")
    ready(town, "B", account="13900000002")
    fund(town.engine, town["A"].member_id, "50")  # type: ignore[arg-type]
    body = {"quantity": "10", "price": "2", "payment_kinds": ["alipay"]}
    assert post(town, "A", "/market/listings", body, key=False).json()["code"] == "idempotency_key_required"
    listed = post(town, "A", "/market/listings", body)
    assert listed.status_code == 201, listed.text
    listing_id = listed.json()["id"]
    book = town.call("B", "GET", "/market/listings?max_price=2&payment_kind=alipay").json()
    assert [row["id"] for row in book] == [listing_id]
    # A retried take answers the first trade; it does not make a second one.
    headers = {"Idempotency-Key": "take-once"}
    first = town.call(
        "B", "POST", f"/market/listings/{listing_id}/take", json={"quantity": "4"}, headers=headers
    )
    again = town.call(
        "B", "POST", f"/market/listings/{listing_id}/take", json={"quantity": "4"}, headers=headers
    )
    assert first.status_code == again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true" and again.json()["id"] == first.json()["id"]
    trade_id = first.json()["id"]
    assert town.call("A", "GET", f"/market/listings/{listing_id}").json()["remaining"] == "6.0000"
    # the seller's account: the buyer sees it, the seller's view and a stranger do not
    assert town.call("B", "GET", f"/market/trades/{trade_id}").json()["seller_payment_methods"][0][
        "account_id"
    ] == ("13900000001")
    assert town.call("A", "GET", f"/market/trades/{trade_id}").json()["seller_payment_methods"] is None
    for stranger in ("P", "S", "posX"):
        assert town.call(stranger, "GET", f"/market/trades/{trade_id}").status_code in (403, 404)
    masked = town.call("auditor", "GET", f"/market/trades/{trade_id}").json()["seller_payment_methods"]
    assert masked[0]["account_id"] == "****0001"
    # a seller cannot mark paid, a buyer cannot confirm
    assert post(town, "A", f"/market/trades/{trade_id}/paid", {"reference": "x"}).status_code == 403
    paid = post(town, "B", f"/market/trades/{trade_id}/paid", {"reference": "ALIPAY-2025-0001"})
    assert paid.status_code == 200 and paid.json()["status"] == "paid"
    assert post(town, "B", f"/market/trades/{trade_id}/confirm").status_code == 403
    done = post(town, "A", f"/market/trades/{trade_id}/confirm")
    assert done.status_code == 200 and done.json()["status"] == "completed"
    balance = town.call("B", "GET", f"/consumers/{town['B'].member_id}/balance").json()
    assert balance["points"]["available"] == "4.0000"
    mine = town.call("B", "GET", "/market/my/trades?status=completed").json()
    assert [t["id"] for t in mine] == [trade_id]
    assert town.call("anonymous", "GET", "/market/kline").json()["candles"][0]["close"] == "2.0000"
    town.assert_verified()


def test_merchants_trade_through_their_owner_and_staff(town: Town) -> None:
    x = town.merchants["X"]
    ready(town, "O", account="13900000003")  # O's own real name; X trades under it
    ready(town, "O", "X", account="13900000004")
    ready(town, "B", account="13900000005")
    listing = {"merchant_id": x, "quantity": "20", "price": "1.5", "payment_kinds": ["alipay"]}
    assert (
        post(town, "S", "/market/listings", listing).status_code == 403
    )  # staff may not sell the shop's points
    assert post(town, "P", "/market/listings", listing).status_code == 403  # another shop's owner
    assert post(town, "posX", "/market/listings", listing).status_code == 403  # a till has no business here
    listed = post(town, "O", "/market/listings", listing)
    assert listed.status_code == 201, listed.text
    # X's owner and staff cannot buy from X (self-trade), B can
    ready(town, "S", account="13900000010")
    inside = post(town, "S", f"/market/listings/{listed.json()['id']}/take", {"quantity": "1"})
    assert inside.status_code == 422 and inside.json()["code"] == "self_trade"
    taken = post(town, "B", f"/market/listings/{listed.json()['id']}/take", {"quantity": "5"})
    assert taken.status_code == 201, taken.text
    # staff may buy for the shop (once the shop may trade), the owner may see its profile
    assert town.call("S", "GET", f"/market/profile?merchant_id={x}").json()["can_trade"] is True
    assert town.call("T", "GET", f"/market/profile?merchant_id={x}").status_code == 403
    town.assert_verified()


def test_disputes_evidence_and_decisions(town: Town) -> None:
    ready(town, "A", account="13900000006")
    ready(town, "B", account="13900000007")
    fund(town.engine, town["A"].member_id, "30")  # type: ignore[arg-type]
    listing_id = post(
        town, "A", "/market/listings", {"quantity": "10", "price": "1", "payment_kinds": ["alipay"]}
    ).json()["id"]
    trades = [
        post(town, "B", f"/market/listings/{listing_id}/take", {"quantity": "3"}).json()["id"]
        for _ in range(2)
    ]
    for trade_id in trades:
        post(town, "B", f"/market/trades/{trade_id}/paid", {"reference": "r"})
    opened = post(town, "B", f"/market/trades/{trades[0]}/dispute", {"reason": "paid, no confirmation"})
    assert opened.status_code == 200 and opened.json()["status"] == "disputed"
    post(town, "A", f"/market/trades/{trades[1]}/dispute", {"reason": "nothing arrived"})
    # evidence: a note and a screenshot, from a party; a stranger may not add or read any
    note = post(
        town, "B", f"/market/trades/{trades[0]}/evidence", None, data={"kind": "text", "text": "流水号 77"}
    )
    assert note.status_code == 201, note.text
    shot = post(
        town,
        "B",
        f"/market/trades/{trades[0]}/evidence",
        None,
        data={"kind": "image"},
        files={"file": ("pay.png", PNG, "image/png")},
    )
    assert shot.status_code == 201 and shot.json()["content_type"] == "image/png"
    fake = post(
        town,
        "B",
        f"/market/trades/{trades[0]}/evidence",
        None,
        data={"kind": "image"},
        files={"file": ("pay.png", b"<html>", "image/png")},
    )
    assert fake.status_code == 422 and fake.json()["code"] == "unsupported_image"
    assert (
        post(
            town, "P", f"/market/trades/{trades[0]}/evidence", None, data={"kind": "text", "text": "x"}
        ).status_code
        == 404
    )
    file = town.call("admin", "GET", f"/market/trades/{trades[0]}/evidence/{shot.json()['id']}")
    assert file.status_code == 200 and file.content == PNG
    assert (
        file.headers["x-content-type-options"] == "nosniff"
        and "attachment" in file.headers["content-disposition"]
    )
    assert town.call("P", "GET", f"/market/trades/{trades[0]}/evidence").status_code == 404
    # the operators' queue; only an admin decides, with a reason
    queue = town.call("auditor", "GET", "/market/disputes").json()
    assert {t["id"] for t in queue} == set(trades)
    assert town.call("A", "GET", "/market/disputes").status_code == 403
    decision = {"decision": "release", "reason": "screenshot and statement match"}
    assert post(town, "auditor", f"/market/trades/{trades[0]}/decide", decision).status_code == 403
    released = post(town, "admin", f"/market/trades/{trades[0]}/decide", decision)
    assert released.status_code == 200 and released.json()["decision"] == "release"
    returned = post(
        town, "admin", f"/market/trades/{trades[1]}/decide", {"decision": "return", "reason": "no money"}
    )
    assert returned.json()["status"] == "cancelled"
    assert town.call("A", "GET", f"/market/listings/{listing_id}").json()["remaining"] == "7.0000"
    town.assert_verified()


def test_the_operator_closes_the_market(town: Town) -> None:
    ready(town, "A", account="13900000008")
    fund(town.engine, town["A"].member_id, "30")  # type: ignore[arg-type]
    assert post(town, "A", "/market/close", {"reason": "x"}).status_code == 403
    closed = post(town, "admin", "/market/close", {"reason": "监管通知 · regulator notice"})
    assert closed.status_code == 200 and closed.json()["open"] is False
    assert town.call("anonymous", "GET", "/market/status").json()["open"] is False
    refused = post(
        town, "A", "/market/listings", {"quantity": "1", "price": "1", "payment_kinds": ["alipay"]}
    )
    assert refused.status_code == 422 and refused.json()["code"] == "market_closed"
    assert post(town, "admin", "/market/open", {"reason": ""}).json()["open"] is True
    town.assert_verified()


def test_bad_input_is_refused(town: Town) -> None:
    ready(town, "A", account="13900000009")
    cases = [
        ("/market/listings", {"quantity": "1.00001", "price": "1", "payment_kinds": ["alipay"]}),
        ("/market/listings", {"quantity": "1", "price": "-1", "payment_kinds": ["alipay"]}),
        ("/market/listings", {"quantity": "1", "price": "1", "payment_kinds": []}),
        ("/market/listings", {"quantity": "1", "price": "1", "payment_kinds": ["paypal"]}),
        ("/market/real-name", {"real_name": "张三", "id_number": "110105194912310021"}),
        ("/market/quick-buy", {"quantity": "1", "max_price": "1.00001"}),
    ]
    for path, body in cases:
        answer = post(town, "A", path, body)
        assert answer.status_code == 422, (path, body, answer.text)
