"""The HTML pages over HTTP (no browser): CSRF on every form, who may open which page, the
language, one effect per form render, refusals next to their field, and no dead links."""

from __future__ import annotations

import re
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sharebuy.identity import service as identity
from sharebuy.kernel.clock import business_day
from sharebuy.members import service as members
from sharebuy.rewards import platform_service, purchase_service, settlement_service
from sharebuy.rewards import queries as reward_queries
from sharebuy.settings import Settings
from sharebuy.web.app import create_app

PASSWORD = "correct horse 42"


def token(html: str, name: str = "csrf_token") -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} in the page"
    return found.group(1)


def field_error(html: str, field: str) -> str:
    found = re.search(rf'id="f-{field}-error"[^>]*>([^<]+)<', html)
    return found.group(1) if found else ""


class Browser:
    """A cookie jar on the app, with the form steps a person takes."""

    def __init__(self, app: Any, lang: str = "zh-CN") -> None:
        self.client = TestClient(app, raise_server_exceptions=True, headers={"Accept-Language": lang})

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, follow_redirects=False, **kw)

    def submit(self, page_path: str, action: str, data: dict[str, str], **kw: Any) -> Any:
        page = self.client.get(page_path)
        assert page.status_code == 200, (page_path, page.status_code)
        html = page.text
        form = {"csrf_token": token(html), **data}
        key = re.search(r'name="idempotency_key" value="([^"]*)"', html)
        if key:
            form.setdefault("idempotency_key", key.group(1))
        return self.client.post(action, data=form, follow_redirects=False, **kw)

    def sign_in(self, login: str, password: str = PASSWORD) -> None:
        answer = self.submit("/login", "/login", {"login": login, "password": password})
        assert answer.status_code == 303, answer.text


@pytest.fixture
def world(engine: Engine) -> dict[str, Any]:
    """A consumer, a shop owned by another consumer (active, with points), an admin; one sale
    yesterday and that day settled."""
    today = business_day(datetime.now(UTC))
    platform_service.initialise(engine, start_day=today - timedelta(days=2))
    consumer = identity.register_consumer(engine, phone="13800000001", password=PASSWORD, name="张伟")
    owner = identity.register_consumer(engine, phone="13800000002", password=PASSWORD, name="李娜")
    identity.create_operator(engine, login="boss", password=PASSWORD, role="admin")
    shop = members.add_merchant(
        engine, name="莞带生活超市", owner_id=owner["member_id"], region="441900", rate="0.10"
    )
    members.approve_merchant(engine, shop)
    members.grant_points(engine, shop, "2000", reason="start-up")
    members.post_deposit(engine, shop)
    yesterday = today - timedelta(days=1)
    purchase_service.record_purchase(
        engine,
        merchant_id=shop,
        consumer_id=consumer["member_id"],
        amount="100",
        at=datetime.combine(yesterday, datetime.min.time()).replace(hour=2, tzinfo=UTC),
        key="seed-1",
    )
    settlement_service.settle(engine, through=yesterday)
    settings = Settings(
        environment="test", sign_in_rate_per_minute=10_000, log_json=False, log_level="WARNING"
    )
    app = create_app(settings, engine=engine, scheduler=False)
    return {"app": app, "engine": engine, "shop": shop, "consumer": consumer["member_id"]}


def test_forms_without_the_csrf_token_are_refused(world: dict[str, Any]) -> None:
    anonymous = Browser(world["app"])
    refused = anonymous.client.post("/login", data={"login": "boss", "password": PASSWORD})
    assert refused.status_code == 403
    assert "CSRF" in refused.text and "<html" in refused.text
    owner = Browser(world["app"])
    owner.sign_in("13800000002")
    shop = world["shop"]
    page = owner.get(f"/merchant/{shop}").text
    forged = owner.client.post(
        f"/merchant/{shop}/sale",
        data={
            "csrf_token": "forged",
            "idempotency_key": token(page, "idempotency_key"),
            "consumer": "C1",
            "amount": "5",
        },
    )
    assert forged.status_code == 403
    assert len(reward_queries.purchase_list(world["engine"], merchant_id=shop)) == 1


def test_who_may_open_which_page(world: dict[str, Any]) -> None:
    anonymous = Browser(world["app"])
    answer = anonymous.get("/wallet")
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=%2Fwallet"
    # A link in English leads to the sign-in page in English.
    english = anonymous.get("/collectibles?lang=en")
    assert english.headers["location"] == "/login?next=%2Fcollectibles%3Flang%3Den&lang=en"
    consumer = Browser(world["app"])
    consumer.sign_in("13800000001")
    assert consumer.get("/ops").status_code == 403
    assert consumer.get(f"/merchant/{world['shop']}").status_code == 403  # not the consumer's shop
    operator = Browser(world["app"], "en")
    operator.sign_in("boss")
    assert operator.get("/wallet").headers["location"] == "/ops"


def test_language_from_accept_language_then_the_switch(world: dict[str, Any]) -> None:
    reader = Browser(world["app"], "en-US,en;q=0.9")
    assert '<html lang="en">' in reader.get("/login").text
    switched = reader.get("/login?lang=zh")
    assert '<html lang="zh-CN">' in switched.text and "登录" in switched.text
    assert '<html lang="zh-CN">' in reader.get("/signup").text  # the choice is kept in a cookie
    assert '<html lang="zh-CN">' in Browser(world["app"], "fr").get("/login").text  # zh by default


def test_a_till_form_takes_effect_once_and_keeps_bad_input(world: dict[str, Any]) -> None:
    owner = Browser(world["app"])
    owner.sign_in("13800000002")
    shop = world["shop"]
    page = owner.get(f"/merchant/{shop}").text
    form = {"csrf_token": token(page), "idempotency_key": token(page, "idempotency_key")}
    bad = owner.client.post(
        f"/merchant/{shop}/sale", data={**form, "consumer": "13800000001", "amount": "abc"}
    )
    assert bad.status_code == 422
    assert field_error(bad.text, "amount")
    assert 'value="13800000001"' in bad.text  # nothing typed is lost
    sale = {**form, "consumer": "13800000001", "amount": "88.00"}
    first = owner.client.post(f"/merchant/{shop}/sale", data=sale, follow_redirects=False)
    again = owner.client.post(f"/merchant/{shop}/sale", data=sale, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert len(reward_queries.purchase_list(world["engine"], merchant_id=shop)) == 2  # the seed and this one
    unknown = owner.client.post(
        f"/merchant/{shop}/sale",
        data={**form, "idempotency_key": "k2", "consumer": "13900000000", "amount": "1"},
    )
    assert unknown.status_code == 404 and field_error(unknown.text, "consumer")


def _links(html: str) -> list[str]:
    found = re.findall(r'href="(/[^"#]*)', html)
    return [
        link.replace("&amp;", "&")
        for link in found
        if not link.startswith(("/static/", "/api/")) and "statement.csv" not in link
    ]


@pytest.mark.parametrize("who", ["13800000001", "13800000002", "boss"])
def test_no_dead_links(world: dict[str, Any], who: str) -> None:
    """Every link on every page a consumer, a shop owner and an operator can reach answers."""
    person = Browser(world["app"])
    person.sign_in(who)
    seen: set[str] = set()
    queue = deque(["/"])
    while queue and len(seen) < 80:
        path = queue.popleft()
        if path in seen:
            continue
        seen.add(path)
        answer = person.get(path)
        if answer.status_code in (302, 303):
            queue.append(answer.headers["location"])
            continue
        assert answer.status_code == 200, (path, answer.status_code)
        queue.extend(link for link in _links(answer.text) if link not in seen)
    assert len(seen) > 5


_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|javascript:", re.IGNORECASE)


@pytest.mark.parametrize("who", ["13800000001", "13800000002", "boss"])
def test_pages_allow_scripts_from_files_only(world: dict[str, Any], who: str) -> None:
    """Every page, error pages and the sign-in redirect included, forbids inline script by its
    Content-Security-Policy, and no page needs any: text that slipped past escaping cannot run."""
    from sharebuy.web.pages.common import PAGE_CSP

    assert "script-src 'self';" in PAGE_CSP and "frame-ancestors 'none'" in PAGE_CSP
    person = Browser(world["app"])
    assert person.get("/login").headers["content-security-policy"] == PAGE_CSP
    assert person.get("/wallet").headers["content-security-policy"] == PAGE_CSP  # 303 to /login
    person.sign_in(who)
    refused = person.get("/market/trades/999999")  # an error page
    assert refused.headers["content-security-policy"] == PAGE_CSP
    assert refused.status_code in (403, 404) and not _INLINE_SCRIPT.findall(refused.text)
    seen: set[str] = set()
    queue = deque(["/"])
    while queue and len(seen) < 60:
        path = queue.popleft()
        if path in seen:
            continue
        seen.add(path)
        answer = person.get(path)
        assert answer.headers.get("content-security-policy") == PAGE_CSP, path
        if answer.status_code in (302, 303):
            queue.append(answer.headers["location"])
            continue
        inline = _INLINE_SCRIPT.findall(answer.text)
        assert not inline, (path, inline)
        queue.extend(link for link in _links(answer.text) if link not in seen)
    assert len(seen) > 5


def test_the_rulebook_editor_shows_a_diff_before_saving(world: dict[str, Any]) -> None:
    operator = Browser(world["app"], "en")
    operator.sign_in("boss")
    page = operator.get("/ops/rules").text
    effective = (business_day(datetime.now(UTC)) + timedelta(days=1)).isoformat()
    form = {
        "csrf_token": token(page),
        "idempotency_key": token(page, "idempotency_key"),
        "rule_daily_airdrop": "600",
        "effective_from": effective,
        "note": "more points",
    }
    bad = operator.client.post("/ops/rules", data={**form, "rule_daily_airdrop": "-1"})
    assert bad.status_code == 422 and 'id="rule-daily_airdrop-error"' in bad.text
    review = operator.client.post("/ops/rules", data=form)
    assert review.status_code == 200
    assert 'class="diff-old">500.0000<' in review.text and 'class="diff-new">600<' in review.text
    assert platform_service.show_rules(world["engine"])["version"] == 1  # nothing saved yet
    saved = operator.client.post("/ops/rules", data={**form, "confirm": "1"}, follow_redirects=True)
    assert "Rule version 2 saved" in saved.text
    assert 'class="diff-new">600.0000<' in saved.text  # the version list shows what changed


def test_a_dispute_with_evidence_is_decided_by_an_operator(world: dict[str, Any]) -> None:
    from sharebuy.market import service as market
    from sharebuy.members.domain import id_check_character

    engine, seller, buyer = world["engine"], world["consumer"], world["consumer"] + 1
    for member, first17 in ((seller, "11010519900307123"), (buyer, "44190019880512456")):
        members.set_real_name(
            engine, member, "张伟" if member == seller else "李娜", first17 + id_check_character(first17)
        )
        market.accept_risk_notice(engine, member, version=1, actor="test")
    market.add_payment_method(engine, seller, kind="alipay", account_name="张伟", account_id="13800000001")
    listing = market.create_listing(
        engine, seller, quantity="10", price="1.0000", payment_kinds=["alipay"], actor="test"
    )
    trade = market.take_listing(engine, buyer, listing["id"], "10", actor="test")
    market.mark_paid(engine, trade["id"], buyer, "REF-1", actor="test")

    person = Browser(world["app"])
    person.sign_in("13800000001")
    path = f"/market/trades/{trade['id']}"
    assert person.submit(path, f"{path}/dispute", {"reason": ""}).status_code == 422  # a reason is needed
    assert person.submit(path, f"{path}/dispute", {"reason": "钱没有到账"}).status_code == 303
    note = person.submit(path, f"{path}/evidence", {"kind": "text", "text": "支付宝账单中没有这笔款项"})
    assert note.status_code == 303
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    page = person.get(path).text
    image = person.client.post(
        f"{path}/evidence",
        data={"csrf_token": token(page), "idempotency_key": token(page, "idempotency_key"), "kind": "image"},
        files={"file": ("bill.png", png, "image/png")},
        follow_redirects=False,
    )
    assert image.status_code in (303, 422), image.text  # a bare PNG header may be refused as unreadable

    operator = Browser(world["app"], "en")
    operator.sign_in("boss")
    queue = operator.get("/ops/disputes").text
    assert f'href="/ops/disputes/{trade["id"]}"' in queue
    detail = operator.get(f"/ops/disputes/{trade['id']}").text
    assert "支付宝账单中没有这笔款项" in detail
    decided = operator.submit(
        f"/ops/disputes/{trade['id']}",
        f"/ops/disputes/{trade['id']}/decide",
        {"decision": "return", "reason": "no payment on the seller's statement"},
    )
    assert decided.status_code == 303
    assert market.get_trade(engine, trade["id"], market.Viewer(operator=True))["status"] == "cancelled"
