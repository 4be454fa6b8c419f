"""`sharebuy mall ...` as a scripting contract: one JSON object per call, refusals as errors
with a stable code, `verify` ok at the end.  Consumers get points from the reserve through the
test helper (as a daily release would give them)."""

from __future__ import annotations

from sharebuy.db.engine import make_engine
from sharebuy.kernel import caches
from tests.cli.harness import D1, Cli
from tests.integration.market_world import fund


def test_mall_commands(cli: Cli) -> None:
    cli.init(D1)
    owner, buyer = cli.consumer("店主"), cli.consumer("买家")
    merchant = cli.open_merchant(owner, grant="1000")
    engine = make_engine(cli.url)
    caches.clear()
    fund(engine, buyer, "500")
    engine.dispose()

    made = cli.ok(
        "mall", "add", "--merchant", str(merchant), "--title", "荔枝礼盒", "--price", "150", "--stock", "3",
        "--picture", "https://img.example.cn/l.jpg",
    )  # fmt: skip
    product = str(made["id"])
    assert (made["region_code"], made["price"], made["stock"]) == ("441900", "150.0000", 3)
    cli.refused("mall", "add", "--merchant", str(merchant), "--title", "x", "--price", "1", "--stock", "1",
                "--picture", "http://img.example.cn/a.jpg", code="invalid_picture_url")  # fmt: skip
    assert [p["id"] for p in cli.ok("mall", "products", "--region", "4419")["products"]] == [made["id"]]
    assert cli.ok("mall", "products", "--region", "11")["products"] == []
    assert cli.ok("mall", "green", product)["green"] is True

    first = cli.ok("mall", "redeem", "--consumer", str(buyer), "--product", product, "--quantity", "2")
    assert (first["status"], first["points"]) == ("placed", "300.0000")
    cli.refused("mall", "redeem", "--consumer", str(buyer), "--product", product, "--quantity", "0",
                code="invalid_quantity")  # fmt: skip
    cli.refused("mall", "redeem", "--consumer", str(buyer), "--product", product, "--quantity", "2",
                code="out_of_stock")  # fmt: skip
    assert cli.ok("mall", "ship", str(first["id"]), "--note", "SF 1")["status"] == "shipped"
    done = cli.ok("mall", "deliver", str(first["id"]))
    assert (done["status"], done["fee"], done["green_share_value"]) == ("delivered", "6.0000", "15.00")

    second = cli.ok("mall", "redeem", "--consumer", str(buyer), "--product", product)
    assert cli.ok("mall", "cancel", str(second["id"]), "--by", "merchant", "--reason", "缺货")["status"] == (
        "cancelled"
    )
    assert cli.ok("mall", "restock", product, "5")["stock"] == 6
    assert cli.ok("mall", "status", product, "paused")["status"] == "paused"
    cli.refused("mall", "redeem", "--consumer", str(buyer), "--product", product, code="product_paused")
    listed = cli.ok("mall", "orders", "--consumer", str(buyer))["orders"]
    assert [o["status"] for o in listed] == ["cancelled", "delivered"]
    overview = cli.ok("mall", "overview")
    assert overview["escrow"] == "0.0000" and overview["fees"] == "6.0000"
    assert cli.ok("mall", "sweep")["delivered"] == 0
    assert cli.ok("verify")["ok"] is True
