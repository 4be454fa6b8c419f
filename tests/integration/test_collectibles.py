"""Digital collectibles (SPEC §7, §10) on SQLite and PostgreSQL: editions and their images,
redemption by real-name consumers through the ledger, serials, gifts after the holding period,
the provenance chain, ERC-721 metadata, and what verify says when something is tampered with."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from sharebuy.collectibles import domain
from sharebuy.collectibles import service as collectibles
from sharebuy.collectibles.models import editions, provenance, tokens
from sharebuy.db.schema import metadata
from sharebuy.db.uow import UnitOfWork
from sharebuy.kernel.amounts import Points
from sharebuy.kernel.errors import SharebuyError
from sharebuy.ledger import repository as ledger
from sharebuy.ledger.verify import verify
from sharebuy.members.models import consumers
from sharebuy.rewards import checks
from tests.integration.collectibles_world import GIF, JPEG, WEBP, collector, edition, png
from tests.integration.market_world import Clock, assert_verified, available
from tests.integration.world import build


def _refused(call: Any) -> SharebuyError:
    with pytest.raises(SharebuyError) as caught:
        call()
    return caught.value


def _rows(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: len(conn.execute(select(t)).all()) for t in metadata.sorted_tables}


def _platform(engine: Engine, kind: str) -> Points:
    with UnitOfWork(engine, readonly=True) as uow:
        return Points(ledger.balances(uow.c, "platform")[kind])


def test_redeeming_pays_points_to_burn_and_mints_serial_one(engine: Engine) -> None:
    build(engine, consumers=0)
    clock = Clock()
    made = edition(engine, now=clock(), supply=3, price="5")
    assert made["status"] == "open" and made["remaining"] == 3
    assert made["image_sha256"] == hashlib.sha256(png()).hexdigest()
    buyer = collector(engine, now=clock(), points="12")
    burned = _platform(engine, "burned")
    token = collectibles.redeem(engine, made["id"], buyer, actor="t", now=clock())
    assert token["serial"] == 1 and token["supply"] == 3 and token["owner_id"] == buyer
    assert token["token_id"] == domain.token_id(made["id"], 1, made["image_sha256"])
    assert available(engine, buyer) == Points.parse("7")
    assert _platform(engine, "burned") - burned == Points.parse("5")
    [mint] = token["provenance"]
    assert mint["kind"] == "mint" and mint["to_member"] == buyer and mint["prev_hash"] == domain.GENESIS_HASH
    second = collectibles.redeem(engine, made["id"], buyer, actor="t", now=clock())
    assert second["serial"] == 2
    assert collectibles.get_edition(engine, made["id"], now=clock())["minted"] == 2
    assert [t["serial"] for t in collectibles.tokens_of(engine, buyer, now=clock())] == [2, 1]
    assert_verified(engine)


def test_points_may_go_back_to_the_reserve(engine: Engine) -> None:
    build(engine, consumers=0, rules={"collectible_points_destination": "reserve"})
    clock = Clock()
    made = edition(engine, now=clock(), price="2.5")
    buyer = collector(engine, now=clock(), points="3")
    reserve = _platform(engine, "reserve")
    collectibles.redeem(engine, made["id"], buyer, actor="t", now=clock())
    assert _platform(engine, "reserve") - reserve == Points.parse("2.5")
    assert available(engine, buyer) == Points.parse("0.5")
    assert_verified(engine)


def test_refusals_write_nothing(engine: Engine) -> None:
    build(engine, consumers=0)
    clock = Clock()
    made = edition(engine, now=clock(), supply=1, price="5")
    nameless = collector(engine, now=clock(), points="10", real_name=False)
    poor = collector(engine, now=clock(), points="4")
    rich = collector(engine, now=clock(), points="10")
    before = _rows(engine)
    assert _refused(
        lambda: collectibles.redeem(engine, made["id"], nameless, actor="t", now=clock())
    ).code == ("real_name_required")
    assert _refused(lambda: collectibles.redeem(engine, made["id"], poor, actor="t", now=clock())).code == (
        "insufficient_points"
    )
    early = clock() - timedelta(days=2)
    assert _refused(lambda: collectibles.redeem(engine, made["id"], rich, actor="t", now=early)).code == (
        "redemption_not_open"
    )
    late = clock() + timedelta(days=401)
    assert _refused(lambda: collectibles.redeem(engine, made["id"], rich, actor="t", now=late)).code == (
        "redemption_closed"
    )
    assert _rows(engine) == before
    collectibles.redeem(engine, made["id"], rich, actor="t", now=clock())
    assert (
        _refused(lambda: collectibles.redeem(engine, made["id"], rich, actor="t", now=clock())).code
        == "sold_out"
    )
    assert available(engine, rich) == Points.parse("5")
    assert_verified(engine)


@pytest.mark.parametrize(
    ("image", "code"),
    [
        (GIF, "unsupported_image"),  # an image, but not a type we accept
        (b"<script>alert(1)</script>", "unsupported_image"),  # not an image at all
        (b"\x89PNG\r\n\x1a\n" + b"#!/bin/sh echo", "unsupported_image"),  # a PNG signature, no PNG
        (b"", "empty_image"),
        (png() + b"\x00" * domain.MAX_IMAGE_BYTES, "image_too_large"),
    ],
)
def test_bad_images_are_refused(engine: Engine, image: bytes, code: str) -> None:
    build(engine, consumers=0)
    clock = Clock()
    before = _rows(engine)
    assert _refused(lambda: edition(engine, now=clock(), image=image)).code == code
    assert _rows(engine) == before


def test_png_jpeg_and_webp_are_accepted(engine: Engine) -> None:
    build(engine, consumers=0)
    clock = Clock()
    for image, kind in ((png(), "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp")):
        made = edition(engine, now=clock(), image=image)
        content_type, body, digest = collectibles.edition_image(engine, made["id"])
        assert (content_type, body, digest) == (kind, image, hashlib.sha256(image).hexdigest())


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"supply": 0}, "invalid_supply"),
        ({"supply": "1.5"}, "invalid_supply"),
        ({"price": "0"}, "invalid_price"),
        ({"price": "1.00001"}, "too_many_decimals"),
        ({"title_zh": " "}, "text_required"),
        ({"opens_at": "2025-03-05T00:00", "closes_at": "2025-03-04T00:00"}, "invalid_window"),
    ],
)
def test_edition_fields_are_checked(engine: Engine, change: dict[str, Any], code: str) -> None:
    build(engine, consumers=0)
    assert _refused(lambda: edition(engine, now=Clock()(), **change)).code == code


def test_gifts_wait_for_the_holding_period_and_a_real_name(engine: Engine) -> None:
    build(engine, consumers=0)
    clock = Clock()
    made = edition(engine, now=clock())
    giver = collector(engine, now=clock(), points="5")
    friend = collector(engine, now=clock())
    nameless = collector(engine, now=clock(), real_name=False)
    token = collectibles.redeem(engine, made["id"], giver, actor="t", now=clock())["token_id"]

    def give(to: int, by: int = giver) -> Any:
        return collectibles.gift(engine, token, by, to_member=to, actor="t", now=clock())

    clock.advance(days=179, hours=23)
    assert _refused(lambda: give(friend)).code == "holding_period"
    clock.advance(hours=1)
    assert _refused(lambda: give(nameless)).code == "recipient_real_name_required"
    assert _refused(lambda: give(giver)).code == "gift_to_self"
    assert _refused(lambda: give(giver, by=friend)).code == "token_not_found"  # not the owner's
    given = give(friend)
    assert given["owner_id"] == friend
    mint, gift = given["provenance"]
    assert gift["kind"] == "gift" and gift["from_member"] == giver and gift["prev_hash"] == mint["hash"]
    assert gift["hash"] == domain.record_hash(
        mint["hash"],
        domain.canonical_record({**gift, "token_id": token, "actor": "t"}),
    )
    # the new owner's own holding period starts now
    assert _refused(
        lambda: collectibles.gift(engine, token, friend, to_member=giver, actor="t", now=clock())
    ).code == ("holding_period")
    assert collectibles.tokens_of(engine, giver, now=clock()) == []
    assert_verified(engine)


def test_the_holding_period_is_a_rule(engine: Engine) -> None:
    build(engine, consumers=0, rules={"collectible_hold_days": "0"})
    clock = Clock()
    made = edition(engine, now=clock())
    giver, friend = collector(engine, now=clock(), points="5"), collector(engine, now=clock())
    token = collectibles.redeem(engine, made["id"], giver, actor="t", now=clock())["token_id"]
    with engine.connect() as conn:
        phone = conn.execute(select(consumers.c.phone).where(consumers.c.member_id == friend)).scalar_one()
    assert (
        collectibles.gift(engine, token, giver, to_phone=phone, actor="t", now=clock())["owner_id"] == friend
    )
    assert _refused(
        lambda: collectibles.gift(engine, token, friend, to_phone="13000000000", actor="t", now=clock())
    ).code == ("recipient_unknown")


def test_metadata_is_erc721_json(engine: Engine) -> None:
    build(engine, consumers=0)
    clock = Clock()
    made = edition(engine, now=clock(), supply=5)
    buyer = collector(engine, now=clock(), points="5")
    token = collectibles.redeem(engine, made["id"], buyer, actor="t", now=clock())["token_id"]
    found = collectibles.token_metadata(engine, token)
    assert found["name"] == "莞城骑楼 #1/5"
    assert found["image"] == f"sha256:{made['image_sha256']}"
    traits = {a["trait_type"]: a["value"] for a in found["attributes"]}
    assert traits == {
        "edition": made["id"],
        "serial": 1,
        "supply": 5,
        "content_hash": f"sha256:{made['image_sha256']}",
    }
    assert found["localization"]["en"]["name"] == "Arcades of Guancheng"
    url = collectibles.token_metadata(engine, token, base_url="https://shop.example.cn/")["image"]
    assert url == f"https://shop.example.cn/api/v1/collectibles/editions/{made['id']}/image"
    whole = collectibles.edition_metadata(engine, made["id"])
    assert {a["trait_type"] for a in whole["attributes"]} == {"edition", "supply", "content_hash"}


def _gifted_world(engine: Engine) -> tuple[str, int, int]:
    build(engine, consumers=0, rules={"collectible_hold_days": "0"})
    clock = Clock()
    made = edition(engine, now=clock(), supply=4)
    giver, friend = collector(engine, now=clock(), points="10"), collector(engine, now=clock())
    token = collectibles.redeem(engine, made["id"], giver, actor="t", now=clock())["token_id"]
    collectibles.redeem(engine, made["id"], giver, actor="t", now=clock())
    collectibles.gift(engine, token, giver, to_member=friend, actor="t", now=clock())
    assert_verified(engine)
    return token, giver, friend


def _failed(engine: Engine) -> dict[str, Any]:
    report = verify(engine, checks.CHECKS).as_dict()
    assert not report["ok"]
    return {name: c for name, c in report["checks"].items() if not c["ok"]}


def test_verify_names_a_tampered_provenance_record(engine: Engine) -> None:
    token, giver, _friend = _gifted_world(engine)
    with engine.begin() as conn:
        record = conn.execute(
            select(provenance.c.id).where(provenance.c.token_id == token, provenance.c.seq == 2)
        ).scalar_one()
        # someone rewrites history: the gift went to the giver's other account instead
        conn.execute(update(provenance).where(provenance.c.id == record).values(to_member=giver))
        conn.execute(update(tokens).where(tokens.c.token_id == token).values(owner_id=giver))
    failed = _failed(engine)
    assert set(failed) == {"collectibles_provenance"}
    assert f"provenance record {record}" in failed["collectibles_provenance"]["detail"]
    assert token in failed["collectibles_provenance"]["detail"]


def test_verify_sees_an_owner_changed_behind_the_chain(engine: Engine) -> None:
    token, giver, _friend = _gifted_world(engine)
    with engine.begin() as conn:
        conn.execute(update(tokens).where(tokens.c.token_id == token).values(owner_id=giver))
    failed = _failed(engine)
    assert set(failed) == {"collectibles_provenance"}
    assert "is not the last record's recipient" in failed["collectibles_provenance"]["detail"]


def test_verify_sees_supply_and_serial_tampering(engine: Engine) -> None:
    token, _giver, _friend = _gifted_world(engine)
    with engine.begin() as conn:
        conn.execute(update(tokens).where(tokens.c.token_id == token).values(serial=3))
    failed = _failed(engine)
    assert "collectibles_supply" in failed
    assert "are not 1..2" in failed["collectibles_supply"]["detail"]


def test_verify_sees_a_swapped_image(engine: Engine) -> None:
    _gifted_world(engine)
    with engine.begin() as conn:
        conn.execute(update(editions).values(image=png(7)))
    failed = _failed(engine)
    assert "no longer matches its SHA-256" in failed["collectibles_supply"]["detail"]
