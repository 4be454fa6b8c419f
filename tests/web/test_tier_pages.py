"""The tier, dividend and green pages over HTTP: the operator's forms take effect once, refusals
sit next to their field, the wallet and the console show the member's tier and green status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sharebuy.kernel.clock import business_day
from sharebuy.rewards import platform_service
from sharebuy.tiers import dividends
from tests.web.test_pages import Browser, field_error, token, world  # noqa: F401  (world: a fixture)


def test_operator_pages_and_member_cards(world: dict[str, Any]) -> None:  # noqa: F811
    operator = Browser(world["app"], "en")
    operator.sign_in("boss")
    page = operator.get("/ops/tiers")
    assert page.status_code == 200 and "Membership tiers" in page.text
    csrf = token(page.text)
    tier = {"code": "silver", "member_kind": "consumer", "name_zh": "银卡", "name_en": "Silver",
            "threshold": "50", "weight": "1"}  # fmt: skip
    bad = operator.client.post("/ops/tiers", data={"csrf_token": csrf, "idempotency_key": "t-0", **tier,
                                                   "code": "Silver Card"})  # fmt: skip
    assert bad.status_code == 422 and field_error(bad.text, "code")
    assert 'value="Silver Card"' in bad.text
    saved = operator.client.post(
        "/ops/tiers", data={"csrf_token": csrf, "idempotency_key": "t-1", **tier}, follow_redirects=False
    )
    assert saved.status_code == 303
    evaluated = operator.client.post(
        "/ops/tiers/evaluate", data={"csrf_token": csrf, "idempotency_key": "t-2"}, follow_redirects=False
    )
    assert evaluated.status_code == 303
    yesterday = (business_day(datetime.now(UTC)) - timedelta(days=1)).isoformat()
    form = {"csrf_token": csrf, "idempotency_key": "t-3", "period": yesterday}
    paid = operator.client.post("/ops/dividends", data=form, follow_redirects=False)
    again = operator.client.post("/ops/dividends", data=form, follow_redirects=False)
    assert paid.status_code == again.status_code == 303
    assert paid.headers["location"] == f"/ops/dividends/{yesterday}"
    report = operator.get(f"/ops/dividends/{yesterday}")
    assert report.status_code == 200 and "Per tier" in report.text
    assert len(dividends.periods(world["engine"])) == 1
    future = operator.client.post(
        "/ops/dividends", data={**form, "idempotency_key": "t-4", "period": "2999-01"}
    )
    assert future.status_code == 422 and field_error(future.text, "period")
    certified = operator.client.post(
        "/ops/green",
        data={"csrf_token": csrf, "idempotency_key": "t-5", "merchant_id": str(world["shop"]), "green": "1"},
        follow_redirects=False,
    )
    assert certified.status_code == 303
    assert operator.get("/ops/green").status_code == 200

    consumer = Browser(world["app"])
    consumer.sign_in("13800000001")
    wallet = consumer.get("/wallet").text
    assert "银卡" in wallet and "会员等级" in wallet
    assert consumer.get("/ops/tiers").status_code == 403
    owner = Browser(world["app"])
    owner.sign_in("13800000002")
    assert 'id="green-status"' in owner.get(f"/merchant/{world['shop']}").text
    assert platform_service.verify_platform(world["engine"]).ok
