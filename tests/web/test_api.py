"""The JSON API used as a till, a consumer and an operator would, on both databases."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import anyio.to_thread
from fastapi.testclient import TestClient

from sharebuy.kernel.clock import business_day
from sharebuy.web.app import WORKER_THREADS
from tests.web.conftest import PASSWORD, Town


def test_problem_json_for_unknown_route_in_both_languages(app_client: TestClient) -> None:
    zh = app_client.get("/api/v1/nowhere")
    assert zh.status_code == 404
    assert zh.headers["content-type"].startswith("application/problem+json")
    body = zh.json()
    assert body["code"] == "not_found" and body["status"] == 404
    assert body["detail"] == body["message_zh"] == "请求的资源不存在"
    assert body["request_id"] == zh.headers["x-request-id"]
    en = app_client.get("/api/v1/nowhere", headers={"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"})
    assert en.json()["detail"] == "the requested resource does not exist"


def test_validation_error_is_a_problem(app_client: TestClient) -> None:
    answer = app_client.post("/api/v1/auth/register", json={"phone": "1", "password": "x"})
    assert answer.status_code == 422
    body = answer.json()
    assert body["code"] == "invalid_request" and body["errors"]
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_unauthenticated_is_401_with_challenge(app_client: TestClient) -> None:
    answer = app_client.get("/api/v1/auth/me")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.json()["code"] == "not_signed_in"
    forged = app_client.get("/api/v1/auth/me", headers={"Authorization": "Bearer not.a.token"})
    assert forged.status_code == 401


def test_oversized_bodies_are_refused_unread(app_client: TestClient) -> None:
    """413 as a problem, whether the size is declared or only found while reading; nothing
    is registered by a refused request."""
    big = {"phone": "13900000001", "password": "p" * 12, "name": "x" * 300_000}
    declared = app_client.post("/api/v1/auth/register", json=big, headers={"Accept-Language": "en"})
    assert declared.status_code == 413
    assert declared.headers["content-type"].startswith("application/problem+json")
    assert declared.json()["code"] == "payload_too_large"
    assert declared.json()["detail"] == "the request body is too large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"phone": "13900000001", "password": "pppppppppppp", "name": "'
        for _ in range(40):
            yield b"y" * 10_000
        yield b'"}'

    streamed = app_client.post(
        "/api/v1/auth/register", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    small = app_client.post("/api/v1/auth/token", json={"login": "13900000001", "password": "p" * 12})
    assert small.status_code == 401  # the refused registrations created nobody


def test_register_sign_in_refresh_and_me(town: Town) -> None:
    me = town.call("A", "GET", "/auth/me").json()
    assert me["role"] == "consumer" and me["member_id"] == town["A"].member_id
    tokens = town.client.post(
        "/api/v1/auth/token", json={"login": "13800000000", "password": PASSWORD}
    ).json()
    rotated = town.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert rotated.status_code == 200
    # a refresh token works once; its reuse is refused (and revokes the rotation too)
    again = town.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401
    after = town.client.post("/api/v1/auth/refresh", json={"refresh_token": rotated.json()["refresh_token"]})
    assert after.status_code == 401
    wrong = town.client.post(
        "/api/v1/auth/token", json={"login": "13800000000", "password": "wrong password"}
    )
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_credentials"


def test_protected_fields_cannot_be_sent(town: Town) -> None:
    answer = town.call(
        "A",
        "POST",
        "/merchants",
        json={"name": "店", "region_code": "441900", "status": "active", "owner_id": 1},
    )
    assert answer.status_code == 422
    out_of_bounds = town.call(
        "O", "PUT", f"/merchants/{town.merchants['X']}/rate", json={"concession_rate": "0.9"}
    )
    assert out_of_bounds.status_code == 422


def test_purchase_by_pos_key_is_idempotent(town: Town) -> None:
    consumer = town["A"].member_id
    body = {"consumer_id": consumer, "amount": "100.00"}
    first = town.call("posX", "POST", "/purchases", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201, first.text
    got = first.json()
    assert got["consumer_share_value"] == "100.00" and got["merchant_share_value"] == "20.00"
    assert got["points_deducted"] == "10.0000" and got["merchant_id"] == town.merchants["X"]
    replay = town.call("posX", "POST", "/purchases", json=body, headers={"Idempotency-Key": "k-1"})
    assert replay.status_code == 201 and replay.json() == got
    assert replay.headers["idempotent-replayed"] == "true"
    other = town.call(
        "posX", "POST", "/purchases", json={**body, "amount": "101.00"}, headers={"Idempotency-Key": "k-1"}
    )
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    missing = town.call("posX", "POST", "/purchases", json=body)
    assert missing.status_code == 400 and missing.json()["code"] == "idempotency_key_required"
    balance = town.call("A", "GET", f"/consumers/{consumer}/balance").json()
    assert balance["share_value"] == "100.00"  # once, not twice
    town.assert_verified()


# Where moving money, points or stock must never happen twice the key is required (README, "Exactly
# once"); the document must say so, for a client generated from it sends one.
KEY_REQUIRED = {
    "POST /api/v1/purchases",
    "POST /api/v1/purchases/{purchase_id}/refund",
    "POST /api/v1/merchants/{merchant_id}/deposit",
    "POST /api/v1/merchants/{merchant_id}/grants",
    "POST /api/v1/market/listings",
    "POST /api/v1/market/listings/{listing_id}/cancel",
    "POST /api/v1/market/listings/{listing_id}/take",
    "POST /api/v1/market/quick-buy",
    "POST /api/v1/market/buy-orders/{order_id}/fill",
    "POST /api/v1/market/trades/{trade_id}/confirm",
    "POST /api/v1/market/trades/{trade_id}/cancel",
    "POST /api/v1/market/trades/{trade_id}/decide",
    "POST /api/v1/mall/orders",
    "POST /api/v1/collectibles/editions/{edition_id}/redeem",
    "POST /api/v1/collectibles/tokens/{token_id}/gift",
}


def test_the_document_marks_the_key_required_where_it_is(app_client: TestClient) -> None:
    document = app_client.get("/openapi.json").json()
    marked = {
        f"{method.upper()} {path}": bool(parameter.get("required"))
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "header" and parameter["name"] == "Idempotency-Key"
    }
    assert {operation for operation, required in marked.items() if required} == KEY_REQUIRED
    assert len(marked) > len(KEY_REQUIRED)  # the others take one and do not insist


def test_a_missing_key_is_said_before_anything_else_the_request_lacks(town: Town) -> None:
    missing = town.call("posX", "POST", "/purchases", json={"amount": "-1"})
    assert missing.status_code == 400, missing.text
    assert missing.json()["code"] == "idempotency_key_required"
    refund = town.call("posX", "POST", "/purchases/1/refund", json={})
    assert refund.status_code == 400 and refund.json()["code"] == "idempotency_key_required"
    anonymous = town.client.post("/api/v1/purchases", json={"amount": "1.00"})
    assert anonymous.status_code == 401  # who is asking comes first


def test_purchase_by_phone_staff_and_refund(town: Town) -> None:
    x = town.merchants["X"]
    answer = town.call(
        "S",
        "POST",
        "/purchases",
        json={"merchant_id": x, "consumer_phone": "13800000001", "amount": "50.00"},
        headers={"Idempotency-Key": "s-1"},
    )
    assert answer.status_code == 201, answer.text
    purchase_id = answer.json()["id"]
    assert answer.json()["consumer_id"] == town["B"].member_id
    seen = town.call("B", "GET", f"/purchases/{purchase_id}")
    assert seen.status_code == 200 and seen.json()["amount"] == "50.00"
    refund = town.call("posX", "POST", f"/purchases/{purchase_id}/refund", headers={"Idempotency-Key": "r-1"})
    assert refund.status_code == 200, refund.text
    assert refund.json()["points_returned"] == "5.0000"
    assert town.call("B", "GET", f"/consumers/{town['B'].member_id}/balance").json()["share_value"] == "0.00"
    listed = town.call("B", "GET", "/purchases").json()
    assert [p["status"] for p in listed["items"]] == ["refunded"]
    town.assert_verified()


def test_history_is_paginated_and_filtered(town: Town) -> None:
    for n in range(3):
        assert town.buy("posX", "X", "A", "10.00", f"h-{n}").status_code == 201
    a = town["A"].member_id
    page = town.call("A", "GET", f"/consumers/{a}/history", params={"limit": 2}).json()
    assert len(page["items"]) == 2 and page["next_before"] is not None
    rest = town.call(
        "A", "GET", f"/consumers/{a}/history", params={"limit": 2, "before": page["next_before"]}
    ).json()
    ids = [i["id"] for i in page["items"] + rest["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    only = town.call("A", "GET", f"/consumers/{a}/history", params={"kind": "grant"}).json()
    assert only["items"] == []


def test_settlement_run_and_lines(town: Town) -> None:
    yesterday = business_day(datetime.now(UTC)) - timedelta(days=1)
    refused = town.call("A", "POST", "/settlements", json={})
    assert refused.status_code == 403
    run = town.call(
        "admin",
        "POST",
        "/settlements",
        json={"date": yesterday.isoformat()},
        headers={"Idempotency-Key": "s1"},
    )
    assert run.status_code == 200, run.text
    assert {r["date"] for r in run.json()} >= {yesterday.isoformat()}
    lines = town.call("admin", "GET", f"/settlements/{yesterday.isoformat()}/lines").json()
    assert lines["items"] == []  # nobody bought anything before today
    listed = town.call("A", "GET", "/settlements").json()
    assert listed[0]["date"] == yesterday.isoformat()
    town.assert_verified()


def test_rules_read_by_all_changed_by_admin(town: Town) -> None:
    assert town.call("anonymous", "GET", "/rules").status_code == 200
    tomorrow = (business_day(datetime.now(UTC)) + timedelta(days=1)).isoformat()
    change = {"changes": {"daily_airdrop": "600"}, "effective_from": tomorrow}
    assert town.call("auditor", "POST", "/rules", json=change).status_code == 403
    made = town.call("admin", "POST", "/rules", json=change, headers={"Idempotency-Key": "r1"})
    assert made.status_code == 201, made.text
    shown = town.call("A", "GET", "/rules", params={"date": tomorrow}).json()
    assert shown["rules"]["daily_airdrop"] == "600.0000"


def test_verify_and_economy(town: Town) -> None:
    town.buy("posX", "X", "A", "100.00", "e1")
    assert town.call("A", "GET", "/verify").status_code == 403
    report = town.call("auditor", "GET", "/verify")
    assert report.status_code == 200 and report.json()["ok"] is True
    economy = town.call("anonymous", "GET", "/economy").json()
    assert economy["turnover_amount"] == "100.00" and economy["turnover_purchases"] == 1
    assert "不承诺任何收益" in economy["notice_zh"]
    assert economy["merchants_by_status"] == {"active": 2}


def test_concurrent_duplicates_make_one_purchase(town: Town) -> None:
    """Eight identical requests at once: one effect; every answer is the purchase or a 409."""
    body = {"consumer_id": town["A"].member_id, "amount": "88.00"}
    answers: list[int] = []

    def send() -> None:
        r = town.call("posX", "POST", "/purchases", json=body, headers={"Idempotency-Key": "race"})
        answers.append(r.status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(answers) <= {201, 409} and 201 in answers
    listed = town.call("admin", "GET", "/purchases", params={"merchant_id": town.merchants["X"]}).json()
    assert len(listed["items"]) == 1
    town.assert_verified()


def test_health_ready_metrics(app_client: TestClient, town: Town) -> None:
    assert app_client.get("/healthz").json() == {"status": "ok"}
    ready = app_client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["migrations_current"] is True
    town.buy("posX", "X", "A", "10.00", "m1")
    metrics = app_client.get("/metrics").text
    assert "sharebuy_http_requests_total" in metrics and "sharebuy_purchases_total" in metrics
    # Labels are whole route templates, prefixes of included routers and all, never raw paths.
    app_client.get("/api/v1/market/listings/999999")
    metrics = app_client.get("/metrics").text
    assert 'route="/api/v1/market/listings/{listing_id}"' in metrics
    assert 'route="/api/v1/purchases"' in metrics and 'listings/999999"' not in metrics
    assert app_client.get("/healthz").headers["x-content-type-options"] == "nosniff"


def test_no_secret_reaches_the_logs(town: Town) -> None:
    """Passwords, tokens, POS keys, webhook secrets and CSRF tokens pass through requests and
    answers; none of them may appear in what the server logs, errors included."""
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(self.format(record) + " " + repr(record.__dict__))

    keeper = Keep(level=logging.DEBUG)
    logger = logging.getLogger("sharebuy")
    logger.addHandler(keeper)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        signed = town.client.post("/api/v1/auth/token", json={"login": "13800000000", "password": PASSWORD})
        tokens = signed.json()
        session = town.client.post("/api/v1/auth/session", json={"login": "admin", "password": PASSWORD})
        wrong = town.client.post(
            "/api/v1/auth/token", json={"login": "admin", "password": "Wrong-" + PASSWORD}
        )
        key = town.call("O", "POST", f"/merchants/{town.merchants['X']}/api-keys", json={"name": "spare"})
        hook = town.call(
            "O",
            "POST",
            f"/merchants/{town.merchants['X']}/webhooks",
            json={"url": "https://pos.example.cn/hook", "topics": ["*"]},
        )
        town.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        town.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}x"})
    finally:
        logger.removeHandler(keeper)
        logger.setLevel(old_level)
    assert signed.status_code == 200 and session.status_code == 200 and wrong.status_code == 401
    assert key.status_code == 201 and hook.status_code == 201
    secrets = [
        PASSWORD,
        tokens["access_token"],
        tokens["refresh_token"],
        session.json()["csrf_token"],
        key.json()["key"],
        hook.json()["secret"],
        *[c.split("=", 1)[1].split(";", 1)[0] for c in session.headers.get_list("set-cookie")],
    ]
    assert seen, "the server logged nothing: the check would prove nothing"
    text = "\n".join(seen)
    leaked = [s[:12] + "…" for s in secrets if s and s in text]
    assert not leaked, leaked


def test_a_purchase_retried_with_another_body_for_the_same_sale_is_refused(town: Town) -> None:
    """The second body names the same consumer by phone: the sale itself would replay, but the
    request is not the same one, and the key's record says so (422), with one purchase made."""
    first = town.call(
        "posX",
        "POST",
        "/purchases",
        json={"consumer_id": town["A"].member_id, "amount": "30.00"},
        headers={"Idempotency-Key": "twice"},
    )
    assert first.status_code == 201, first.text
    other = town.call(
        "posX",
        "POST",
        "/purchases",
        json={"consumer_phone": "13800000000", "amount": "30.00"},
        headers={"Idempotency-Key": "twice"},
    )
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    listed = town.call("posX", "GET", "/purchases").json()
    assert [p["id"] for p in listed["items"]] == [first.json()["id"]]
    town.assert_verified()


def test_a_till_is_refused_as_soon_as_its_key_is_revoked(town: Town) -> None:
    """The purchase route checks the key in the sale's own worker thread: still on every
    request, so a revocation counts from the next sale; no credential at all is refused before
    the body is even read."""
    shop = town.merchants["X"]
    body = {"consumer_id": town["A"].member_id, "amount": "20.00"}
    sold = town.call("posX", "POST", "/purchases", json=body, headers={"Idempotency-Key": "before"})
    assert sold.status_code == 201, sold.text
    anonymous = town.call("anonymous", "POST", "/purchases", json={"amount": "x"})
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "not_signed_in"
    forged = town.call(
        "anonymous",
        "POST",
        "/purchases",
        json=body,
        headers={"Authorization": f"Bearer {town.keys['X'][:-4]}abcd", "Idempotency-Key": "forged"},
    )
    assert forged.status_code == 401 and forged.json()["code"] == "invalid_api_key"
    (till,) = [k for k in town.call("O", "GET", f"/merchants/{shop}/api-keys").json() if k["name"] == "till"]
    assert town.call("O", "DELETE", f"/merchants/{shop}/api-keys/{till['id']}").status_code == 200
    after = town.call("posX", "POST", "/purchases", json=body, headers={"Idempotency-Key": "after"})
    assert after.status_code == 401 and after.json()["code"] == "api_key_revoked"
    retried = town.call("posX", "POST", "/purchases", json=body, headers={"Idempotency-Key": "before"})
    assert retried.status_code == 401  # not even the replay of an answer given before
    listed = town.call("O", "GET", "/purchases", params={"merchant_id": shop}).json()
    assert [p["id"] for p in listed["items"]] == [sold.json()["id"]]


def test_the_server_runs_blocking_work_on_a_few_threads(app_client: TestClient) -> None:
    """Not anyio's 40: threads beyond a few only take turns on the interpreter (see web.app)."""
    assert app_client.portal is not None
    tokens = app_client.portal.call(_limiter_tokens)
    assert tokens == WORKER_THREADS


async def _limiter_tokens() -> float:
    return anyio.to_thread.current_default_thread_limiter().total_tokens
