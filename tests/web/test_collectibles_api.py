"""Collectibles over HTTP: an admin uploads an edition (and bad files are refused as problems),
a real-name consumer redeems exactly once per Idempotency-Key, tokens and their provenance,
gifts, images and ERC-721 metadata."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from sharebuy.collectibles import domain
from tests.integration.collectibles_world import GIF, png
from tests.integration.market_world import fund, id_number
from tests.web.conftest import Town

PROBLEM = "application/problem+json"


def _form(**change: str) -> dict[str, str]:
    now = datetime.now(UTC)
    form = {
        "title_zh": "南城夜色",
        "title_en": "Nancheng at night",
        "description_zh": "凭积分兑换，不可买卖。",
        "supply": "3",
        "price": "4.5",
        "opens_at": (now - timedelta(hours=1)).isoformat(),
        "closes_at": (now + timedelta(days=10)).isoformat(),
    }
    form.update(change)
    return form


def _create(town: Town, image: bytes = b"", **change: str) -> Any:
    return town.call(
        "admin",
        "POST",
        "/collectibles/editions",
        data=_form(**change),
        files={"image": ("x.png", image or png(), "image/png")},
    )


def test_an_admin_creates_an_edition_and_bad_files_are_refused(town: Town) -> None:
    for image, code in (
        (GIF, "unsupported_image"),
        (b"just some text, named .png", "unsupported_image"),
        (png() + b"\0" * domain.MAX_IMAGE_BYTES, "image_too_large"),
    ):
        answer = _create(town, image)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith(PROBLEM)
        body = answer.json()
        assert body["code"] == code and body["message_zh"] and body["message_en"]
    assert town.call("anonymous", "GET", "/collectibles/editions").json() == []
    made = _create(town)
    assert made.status_code == 201, made.text
    edition = made.json()
    assert edition["status"] == "open" and edition["price"] == "4.5000"
    assert edition["image_sha256"] == hashlib.sha256(png()).hexdigest()
    image = town.call("anonymous", "GET", f"/collectibles/editions/{edition['id']}/image")
    assert image.content == png() and image.headers["content-type"] == "image/png"
    assert image.headers["etag"] == f'"{edition["image_sha256"]}"'
    assert image.headers["x-content-type-options"] == "nosniff"
    naive = _create(town, opens_at="2026-01-01T00:00:00")
    assert naive.status_code == 422 and naive.json()["code"] == "offset_required"
    assert _create(town, supply="0").status_code == 422
    refused = town.call(
        "A", "POST", "/collectibles/editions", data=_form(), files={"image": ("x", png(), "x")}
    )
    assert refused.status_code == 403


def test_a_real_name_consumer_redeems_once_per_key(town: Town) -> None:
    edition = _create(town).json()
    path = f"/collectibles/editions/{edition['id']}/redeem"
    a = town["A"].member_id
    assert a is not None
    fund(town.engine, a, "10")
    nameless = town.call("A", "POST", path, headers={"Idempotency-Key": "r-0"})
    assert nameless.status_code == 422 and nameless.json()["code"] == "real_name_required"
    named = town.call("A", "POST", "/market/real-name", json={"real_name": "王五", "id_number": id_number()})
    assert named.status_code == 200, named.text
    assert town.call("A", "POST", path).status_code == 400  # no key: a retry could redeem twice
    first = town.call("A", "POST", path, headers={"Idempotency-Key": "r-1"})
    assert first.status_code == 201, first.text
    again = town.call("A", "POST", path, headers={"Idempotency-Key": "r-1"})
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    token = first.json()
    assert token["serial"] == 1 and token["supply"] == 3 and token["owner_id"] == a
    assert [r["kind"] for r in token["provenance"]] == ["mint"]
    mine = town.call("A", "GET", "/collectibles/my/tokens").json()
    assert [t["token_id"] for t in mine] == [token["token_id"]]
    assert town.call("B", "GET", "/collectibles/my/tokens").json() == []
    assert town.call("B", "GET", f"/collectibles/tokens/{token['token_id']}").status_code == 404
    assert town.call("auditor", "GET", f"/collectibles/tokens/{token['token_id']}").status_code == 200
    meta = town.call("anonymous", "GET", f"/collectibles/tokens/{token['token_id']}/metadata").json()
    assert meta["name"] == "南城夜色 #1/3"
    assert meta["image"].endswith(f"/api/v1/collectibles/editions/{edition['id']}/image")
    assert {"trait_type": "content_hash", "value": f"sha256:{edition['image_sha256']}"} in meta["attributes"]
    balance = town.call("A", "GET", f"/consumers/{a}/balance").json()
    assert balance["points"]["available"] == "5.5000"
    gift = town.call(
        "A",
        "POST",
        f"/collectibles/tokens/{token['token_id']}/gift",
        json={"to_phone": "13800000001"},
        headers={"Idempotency-Key": "g-1"},
    )
    assert gift.status_code == 422 and gift.json()["code"] == "holding_period"
    assert "giftable_from" in gift.json()["details"]
    town.assert_verified()


def test_nothing_sells_a_token() -> None:
    """SPEC §10: no sale, no price, no listing of a token for money — there is no such route."""
    from sharebuy.web.api.collectibles import router

    served = {(method, route.path) for route in router.routes for method in getattr(route, "methods", ())}
    assert served == {
        ("GET", "/collectibles/editions"),
        ("POST", "/collectibles/editions"),
        ("GET", "/collectibles/editions/{edition_id}"),
        ("GET", "/collectibles/editions/{edition_id}/image"),
        ("GET", "/collectibles/editions/{edition_id}/metadata"),
        ("POST", "/collectibles/editions/{edition_id}/redeem"),
        ("GET", "/collectibles/my/tokens"),
        ("GET", "/collectibles/tokens/{token_id}"),
        ("GET", "/collectibles/tokens/{token_id}/metadata"),
        ("POST", "/collectibles/tokens/{token_id}/gift"),
    }
