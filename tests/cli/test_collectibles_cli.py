"""`sharebuy collectibles ...` as a scripting contract: an edition from an image file, a
redemption, a gift after the holding period, metadata, refusals as errors, `verify` ok."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import select

from sharebuy.collectibles import domain
from sharebuy.db.engine import make_engine
from sharebuy.kernel import caches
from sharebuy.members.models import consumers
from tests.cli.harness import D1, Cli
from tests.integration.collectibles_world import GIF, collector, png
from tests.integration.market_world import Clock
from tests.integration.world import at


def test_operator_commands(cli: Cli, tmp_path: Path) -> None:
    cli.init(D1)
    engine = make_engine(cli.url)
    caches.clear()
    clock = Clock(at(date.fromisoformat(D1), 10))
    giver, friend = collector(engine, now=clock(), points="20"), collector(engine, now=clock())
    nameless = collector(engine, now=clock(), points="20", real_name=False)
    with engine.connect() as conn:
        friend_phone = conn.execute(
            select(consumers.c.phone).where(consumers.c.member_id == friend)
        ).scalar_one()
    engine.dispose()
    image, gif = tmp_path / "a.png", tmp_path / "b.png"
    image.write_bytes(png())
    gif.write_bytes(GIF)
    window = ["--opens", "2025-01-01T00:00", "--closes", "2026-01-01T00:00"]
    edition = [
        "--title-zh",
        "虎门销烟",
        "--description-zh",
        "纪念",
        "--supply",
        "2",
        "--price",
        "7.5",
        *window,
    ]
    cli.refused("collectibles", "create", *edition, "--image", str(gif), code="unsupported_image")
    cli.refused(
        "collectibles", "create", *edition, "--image", str(tmp_path / "none"), code="image_unreadable"
    )
    made = cli.ok("collectibles", "create", *edition, "--image", str(image), "--title-en", "Humen")
    assert made["supply"] == 2 and made["price"] == "7.5000" and made["title_en"] == "Humen"
    assert [e["id"] for e in cli.ok("collectibles", "list")["editions"]] == [made["id"]]
    assert cli.ok("collectibles", "show", str(made["id"]))["minted"] == 0
    redeem_at = ["--at", f"{D1}T11:00"]
    cli.refused(
        "collectibles",
        "redeem",
        str(made["id"]),
        "--consumer",
        str(nameless),
        *redeem_at,
        code="real_name_required",
    )
    token = cli.ok("collectibles", "redeem", str(made["id"]), "--consumer", str(giver), *redeem_at)
    assert token["serial"] == 1 and token["token_id"] == domain.token_id(made["id"], 1, made["image_sha256"])
    tid = token["token_id"]
    gift = ["collectibles", "gift", tid, "--from", str(giver), "--to-phone", friend_phone]
    cli.refused(*gift, "--at", "2025-06-29T11:00", code="holding_period")  # 179 days
    given = cli.ok(*gift, "--at", "2025-06-30T11:00")
    assert given["owner_id"] == friend and [r["kind"] for r in given["provenance"]] == ["mint", "gift"]
    assert cli.ok("collectibles", "tokens", "--member", str(friend))["tokens"][0]["token_id"] == tid
    assert cli.ok("collectibles", "token", tid)["owner_id"] == friend
    meta = cli.ok("collectibles", "metadata", "--token", tid)
    assert meta["name"] == "虎门销烟 #1/2" and meta["image"] == f"sha256:{made['image_sha256']}"
    assert cli.ok("collectibles", "metadata", "--edition", str(made["id"]))["name"] == "虎门销烟"
    cli.refused("collectibles", "metadata", code="token_or_edition")
    report = cli.assert_verified()
    assert report["checks"]["collectibles_provenance"]["ok"] and report["collectibles"]["tokens"] == 1
