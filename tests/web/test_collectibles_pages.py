"""The collectibles pages: an admin uploads an edition (a bad file is refused next to its field),
a real-name consumer redeems once per form, sees the token with its provenance, and the gift
form waits for the holding period."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from sharebuy.collectibles import service as collectibles
from sharebuy.identity import service as identity
from sharebuy.kernel.clock import business_day
from sharebuy.members import service as members
from sharebuy.rewards import platform_service
from sharebuy.settings import Settings
from sharebuy.web.app import create_app
from tests.integration.collectibles_world import GIF, png
from tests.integration.market_world import fund, id_number
from tests.web.test_pages import PASSWORD, Browser, field_error, token


@pytest.fixture
def world(engine: Engine) -> dict[str, Any]:
    platform_service.initialise(engine, start_day=business_day(datetime.now(UTC)) - timedelta(days=2))
    consumer = identity.register_consumer(engine, phone="13800000001", password=PASSWORD, name="张伟")
    friend = identity.register_consumer(engine, phone="13800000002", password=PASSWORD, name="李娜")
    identity.create_operator(engine, login="boss", password=PASSWORD, role="admin")
    identity.create_operator(engine, login="eyes", password=PASSWORD, role="auditor")
    settings = Settings(
        environment="test", sign_in_rate_per_minute=10_000, log_json=False, log_level="WARNING"
    )
    app = create_app(settings, engine=engine, scheduler=False)
    return {"app": app, "consumer": consumer["member_id"], "friend": friend["member_id"]}


def _upload(admin: Browser, image: bytes, **change: str) -> Any:
    page = admin.get("/ops/collectibles").text
    now = datetime.now(UTC) + timedelta(hours=8)  # the form's times are Beijing time
    form = {
        "csrf_token": token(page),
        "idempotency_key": token(page, "idempotency_key") if "idempotency_key" in page else "auditor",
        "title_zh": "东江纵队",
        "description_zh": "纪念藏品，仅可兑换与转赠。",
        "supply": "2",
        "price": "3",
        "opens_at": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "closes_at": (now + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M"),
        **change,
    }
    files = {"image": ("art.png", image, "image/png")}
    return admin.client.post("/ops/collectibles", data=form, files=files, follow_redirects=False)


def test_an_edition_is_uploaded_redeemed_and_shown_with_its_provenance(
    world: dict[str, Any], engine: Engine
) -> None:
    admin = Browser(world["app"])
    admin.sign_in("boss")
    refused = _upload(admin, GIF)
    assert refused.status_code == 422 and field_error(refused.text, "image")
    assert _upload(admin, png(), price="x").status_code == 422
    made = _upload(admin, png())
    assert made.status_code == 303, made.text
    assert "东江纵队" in admin.get("/ops/collectibles").text
    auditor = Browser(world["app"])
    auditor.sign_in("eyes")
    seen = auditor.get("/ops/collectibles").text
    assert "东江纵队" in seen and 'action="/ops/collectibles"' not in seen  # auditors read only
    assert _upload(auditor, png()).status_code == 403

    edition_id = collectibles.list_editions(engine)[0]["id"]
    consumer = Browser(world["app"])
    consumer.sign_in("13800000001")
    gallery = consumer.get("/collectibles").text
    assert "不能出售" in gallery and f'action="/collectibles/{edition_id}/redeem"' in gallery
    nameless = consumer.submit("/collectibles", f"/collectibles/{edition_id}/redeem", {})
    assert nameless.status_code == 422 and "实名" in nameless.text
    members.set_real_name(engine, world["consumer"], "张伟", id_number())
    fund(engine, world["consumer"], "10")
    page = consumer.get("/collectibles").text
    form = {"csrf_token": token(page), "idempotency_key": token(page, "idempotency_key")}
    first = consumer.client.post(f"/collectibles/{edition_id}/redeem", data=form, follow_redirects=False)
    again = consumer.client.post(f"/collectibles/{edition_id}/redeem", data=form, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    [held] = collectibles.tokens_of(engine, world["consumer"])
    assert held["serial"] == 1  # the second submit of the same form took no effect
    mine = consumer.get("/collectibles/my").text
    assert held["token_id"] in mine and "流转记录" in mine and held["provenance"][0]["hash"][:12] in mine
    assert "起可以转赠" in mine and "/gift" not in mine  # the holding period has only begun
    forged = consumer.client.post(
        f"/collectibles/tokens/{held['token_id']}/gift",
        data={"csrf_token": token(mine), "to_phone": "13800000002"},
        follow_redirects=False,
    )
    assert forged.status_code == 422 and "持有满" in forged.text
    assert consumer.get("/ops/collectibles").status_code == 403
    assert re.search(r'href="/collectibles"[^>]*aria-current="page"', consumer.get("/collectibles").text)


def test_a_token_held_long_enough_is_given_from_its_page(world: dict[str, Any], engine: Engine) -> None:
    now = datetime.now(UTC)
    made = collectibles.create_edition(
        engine,
        title_zh="旧藏",
        description_zh="早已兑换",
        supply=1,
        price="1",
        opens_at=now - timedelta(days=300),
        closes_at=now + timedelta(days=1),
        image=png(),
        actor="test",
    )
    members.set_real_name(engine, world["consumer"], "张伟", id_number())
    fund(engine, world["consumer"], "1")
    held = collectibles.redeem(
        engine, made["id"], world["consumer"], actor="t", now=now - timedelta(days=181)
    )
    consumer = Browser(world["app"])
    consumer.sign_in("13800000001")
    action = f"/collectibles/tokens/{held['token_id']}/gift"
    assert f'action="{action}"' in consumer.get("/collectibles/my").text
    refused = consumer.submit("/collectibles/my", action, {"to_phone": "13800000002"})  # no real name yet
    assert refused.status_code == 422 and "实名" in field_error(refused.text, "to_phone")
    members.set_real_name(engine, world["friend"], "李娜", id_number())
    given = consumer.submit("/collectibles/my", action, {"to_phone": "13800000002"})
    assert given.status_code == 303
    assert collectibles.tokens_of(engine, world["consumer"]) == []
    assert [r["kind"] for r in collectibles.tokens_of(engine, world["friend"])[0]["provenance"]] == [
        "mint",
        "gift",
    ]
