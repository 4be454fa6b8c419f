"""Regressions from hand-made attacks on the API (docs/security.md, "Hand-made attacks"), on
both databases: each test is a request that once answered wrongly, and the answer it gets now."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher, Type

from sharebuy.identity import service as identity
from sharebuy.kernel.clock import business_day
from sharebuy.web.observability import JsonFormatter
from tests.integration.collectibles_world import png
from tests.integration.market_world import fund
from tests.web.conftest import Town
from tests.web.test_market_api import post, ready

# A right-to-left override and a zero-width space make "gnp.exe" read as "exe.png"; U+0000
# cannot be stored in PostgreSQL; a bell is a control character.
HIDDEN = ["\u202egnp.exe", "zero\u200bwidth", "bell\x07", "nul\x00"]


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        identity, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
    )


def _problem(answer: Any, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["code"] == code and body["message_zh"] and body["message_en"], body


def test_a_nul_in_an_evidence_note_is_a_refusal_not_an_error(town: Town) -> None:
    """The multipart form's text went into a body model that refuses U+0000 inside the route,
    where the refusal was an unexpected error (500); the service now judges it like any text."""
    ready(town, "A", account="13900000011")
    ready(town, "B", account="13900000012")
    fund(town.engine, town["A"].member_id, "20")  # type: ignore[arg-type]
    listing = post(
        town, "A", "/market/listings", {"quantity": "10", "price": "1", "payment_kinds": ["alipay"]}
    )
    trade_id = post(town, "B", f"/market/listings/{listing.json()['id']}/take", {"quantity": "5"}).json()[
        "id"
    ]
    path = f"/market/trades/{trade_id}/evidence"
    for text in ("paid\x00", *HIDDEN):
        _problem(post(town, "B", path, None, data={"kind": "text", "text": text}), 422, "invalid_text")
    assert town.call("B", "GET", path).json() == []
    assert post(town, "B", path, None, data={"kind": "text", "text": "流水号 77"}).status_code == 201


def test_labels_others_read_refuse_characters_that_cannot_be_displayed(town: Town) -> None:
    """A POS key's name (read by the merchant's staff), a tier's names (by its members), a green
    certification's note and a rule version's note (by operators) took any character."""
    shop = town.merchants["X"]
    keys = f"/merchants/{shop}/api-keys"
    before = town.call("O", "GET", keys).json()
    tomorrow = (business_day(datetime.now(UTC)) + timedelta(days=1)).isoformat()
    gold = {"code": "gold", "member_kind": "consumer", "name_zh": "金卡", "name_en": "Gold",
            "threshold": "100", "weight": 2}  # fmt: skip
    for text in HIDDEN:
        # U+0000 is refused by every JSON body before any service sees it
        nul = "\x00" in text
        _problem(
            post(town, "O", keys, {"name": "till " + text}),
            422,
            "invalid_request" if nul else "invalid_key_name",
        )
        for field in ("name_zh", "name_en"):
            refused = post(town, "admin", "/tiers", {**gold, field: text})
            _problem(refused, 422, "invalid_request" if nul else "invalid_tier_name")
        note = "invalid_request" if nul else "note_not_printable"
        green = {"green": True, "note": "checked " + text}
        _problem(post(town, "admin", f"/merchants/{shop}/green", green), 422, note)
        change = {"changes": {"daily_airdrop": "600"}, "effective_from": tomorrow, "note": text}
        _problem(post(town, "admin", "/rules", change), 422, note)
    assert town.call("O", "GET", keys).json() == before
    assert town.call("admin", "GET", "/tiers").json() == []
    assert town.call("admin", "GET", f"/merchants/{shop}/green").json()["green"] is False
    # what a person types, line breaks in a note included, still passes
    assert post(town, "O", keys, {"name": "前台收银机 2"}).status_code == 201
    assert post(town, "admin", "/tiers", gold).status_code == 200
    green = {"green": True, "note": "节能认证\n2025 年复核"}
    assert post(town, "admin", f"/merchants/{shop}/green", green).status_code == 200
    change = {"changes": {"daily_airdrop": "600"}, "effective_from": tomorrow, "note": "春节\n调整"}
    assert post(town, "admin", "/rules", change).status_code == 201


def test_an_unexpected_error_is_logged_with_the_request_id_it_answers(
    town: Town, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer to a 500 asks the client to quote its request id, but it was made outside all
    middleware: no X-Request-ID, none of the security headers, and the traceback logged with
    `request_id: null`."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(JsonFormatter().format(record))

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("a fault no request should see")

    monkeypatch.setattr(identity, "register_consumer", broken)
    keeper = Keep(level=logging.ERROR)
    logger = logging.getLogger("sharebuy")
    logger.addHandler(keeper)
    try:
        answer = town.client.post(
            "/api/v1/auth/register", json={"phone": "13800000077", "password": "correct horse 42"}
        )
    finally:
        logger.removeHandler(keeper)
    _problem(answer, 500, "internal_error")
    assert "a fault no request should see" not in answer.text and "Traceback" not in answer.text
    quoted = answer.json()["request_id"]
    assert quoted and quoted == answer.headers["x-request-id"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    errors = [json.loads(line) for line in lines if '"unhandled error"' in line]
    assert len(errors) == 1 and errors[0]["request_id"] == quoted
    assert "a fault no request should see" in errors[0]["error"]


@pytest.mark.parametrize(
    "body", [b'{"consumer_id": 1,', b"{'amount': '1.00'}", b'{"amount": "1.00",}', b"\xef\xbb\xbf{"]
)
def test_a_body_that_is_not_json_cannot_be_parsed(town: Town, body: bytes) -> None:
    """JSON cut short answered 422 "the request is not valid: 17", the character offset standing
    for a field; it is the 400 the document promises for a body that cannot be parsed."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": "not-json"}
    answer = town.call("posX", "POST", "/purchases", content=body, headers=headers)
    _problem(answer, 400, "malformed_request")
    assert town.call("posX", "GET", "/purchases").json()["items"] == []


def test_metadata_links_follow_the_public_address_not_the_host_header(town: Town) -> None:
    """A client's own Host header went into the image link of the public ERC-721 metadata
    ("http://evil.example/..."); with SHAREBUY_PUBLIC_URL set, the links name that address."""
    now = datetime.now(UTC)
    form = {"title_zh": "南城夜色", "description_zh": "凭积分兑换", "supply": "3", "price": "1",
            "opens_at": (now - timedelta(hours=1)).isoformat(),
            "closes_at": (now + timedelta(days=1)).isoformat()}  # fmt: skip
    made = town.call(
        "admin", "POST", "/collectibles/editions", data=form, files={"image": ("x.png", png(), "image/png")}
    )
    assert made.status_code == 201, made.text
    path = f"/collectibles/editions/{made.json()['id']}/metadata"
    image = f"/api/v1/collectibles/editions/{made.json()['id']}/image"
    settings = town.client.app.state.settings  # type: ignore[attr-defined]
    assert settings.public_url == ""  # unset: the request's own address, as before
    assert town.call("anonymous", "GET", path).json()["image"] == "http://testserver" + image
    settings.public_url = "https://sharebuy.example.cn"
    try:
        forged = town.call("anonymous", "GET", path, headers={"Host": "evil.example"})
    finally:
        settings.public_url = ""
    assert forged.json()["image"] == "https://sharebuy.example.cn" + image
