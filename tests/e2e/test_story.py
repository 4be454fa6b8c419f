"""The whole story in a real browser, as the people who use the platform would walk it:

a consumer signs up (phone, 简体中文) → a shop owner applies (desktop, 简体中文) → the operator
approves and allocates start-up points (desktop, English) → the owner posts the deposit and
records a sale at the till → the operator settles the day → the consumer sees the points and how
they were computed → lists some on the market → the owner buys them for the shop → marks paid →
the consumer confirms → every page's balances agree with each other, with the API and with
`verify`.  Both languages, a phone-sized and a desktop viewport; a screenshot at each step.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sharebuy.kernel.clock import business_day
from sharebuy.members.domain import id_check_character
from tests.e2e.conftest import DESKTOP, OPERATOR_PASSWORD, PHONE, Server

PASSWORD = "correct horse 42"
CONSUMER_PHONE = "13800000001"
OWNER_PHONE = "13800000002"
README_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = pytest.mark.e2e


def id_number(first17: str) -> str:
    return first17 + id_check_character(first17)


@dataclass
class Actor:
    """One person: a browser context of their own (cookies, language, screen)."""

    name: str
    page: Any
    base: str
    shots: Path
    taken: list[str] = field(default_factory=list)

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def shot(self, step: str) -> Path:
        lang = self.page.locator("html").get_attribute("lang")
        size = self.page.viewport_size
        path = (
            self.shots
            / f"{len(list(self.shots.iterdir())) + 1:02d}-{self.name}-{step}-{lang}-{size['width']}x{size['height']}.png"
        )
        self.page.screenshot(path=str(path), full_page=True)
        self.taken.append(path.name)
        return path

    def value(self, stat_id: str) -> Decimal:
        return Decimal(self.page.locator(f"#{stat_id} .stat-value").get_attribute("data-value"))

    def flash(self) -> str:
        return str(self.page.locator(".flash").inner_text())

    def submit(self, form_selector: str) -> None:
        self.page.locator(f"{form_selector} button[type=submit]").first.click()
        self.page.wait_for_load_state()

    def no_console_errors(self) -> None:
        assert not self.errors, self.errors

    errors: list[str] = field(default_factory=list)


def actor(
    browser: Any, server: Server, shots: Path, name: str, locale: str, viewport: dict[str, int]
) -> Actor:
    context = browser.new_context(locale=locale, viewport=viewport, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    person = Actor(name, page, server.url, shots)
    page.on("pageerror", lambda error: person.errors.append(str(error)))
    return person


def sign_up(person: Actor, phone: str, name: str) -> None:
    person.go("/signup")
    page = person.page
    page.fill("#f-phone", phone)
    page.fill("#f-name", name)
    page.fill("#f-password", PASSWORD)
    page.fill("#f-password_again", PASSWORD)
    page.check("input[name=accept_terms]")
    person.submit("form[action='/signup']")
    assert page.url.endswith("/wallet"), page.url


def sign_in(person: Actor, login: str, password: str) -> None:
    person.go("/login")
    person.page.fill("#f-login", login)
    person.page.fill("#f-password", password)
    person.submit("form[action='/login']")


def test_the_whole_story(browser: Any, server: Server, artifacts: Path) -> None:
    yesterday = (business_day(datetime.now(UTC)) - timedelta(days=1)).isoformat()
    consumer = actor(browser, server, artifacts, "consumer", "zh-CN", PHONE)
    owner = actor(browser, server, artifacts, "merchant", "zh-CN", DESKTOP)
    operator = actor(browser, server, artifacts, "operator", "en-US", DESKTOP)

    # -- a consumer signs up on a phone; a mistake first: nothing typed is lost ----------------
    consumer.go("/")
    assert consumer.page.locator("html").get_attribute("lang") == "zh-CN"
    consumer.shot("landing")
    consumer.go("/signup")
    consumer.page.fill("#f-phone", CONSUMER_PHONE)
    consumer.page.fill("#f-name", "张伟")
    consumer.page.fill("#f-password", PASSWORD)
    consumer.page.fill("#f-password_again", "something else")
    consumer.page.check("input[name=accept_terms]")
    consumer.submit("form[action='/signup']")
    assert "两次输入的密码不一致" in consumer.page.locator("#f-password_again-error").inner_text()
    assert consumer.page.input_value("#f-phone") == CONSUMER_PHONE
    assert consumer.page.input_value("#f-name") == "张伟"
    consumer.shot("signup-error")
    sign_up(consumer, CONSUMER_PHONE, "张伟")
    assert "欢迎" in consumer.flash()
    member_code = consumer.page.locator("[data-testid=member-code]").inner_text()
    consumer.page.wait_for_selector(".qr-code svg")  # the member QR code is drawn
    consumer.shot("wallet-new")

    # -- a shop owner applies on a desktop -------------------------------------------------------
    sign_up(owner, OWNER_PHONE, "李娜")
    owner.go("/merchant")
    owner.page.fill("#f-name", "莞带生活超市")
    owner.page.fill("#f-region_code", "441900")
    owner.submit("form[action='/merchant/apply']")
    assert "等待审批" in owner.page.locator(".banner").inner_text()
    shop = owner.page.url.rstrip("/").rsplit("/", 1)[1]
    owner.shot("applied")

    # -- the operator approves it and allocates start-up points (English, desktop) ----------------
    sign_in(operator, "boss", OPERATOR_PASSWORD)
    assert operator.page.url.endswith("/ops")
    assert operator.page.locator("html").get_attribute("lang") == "en"
    operator.go("/ops/merchants?status=applied")
    row = operator.page.locator(f"#merchant-{shop}")
    row.get_by_role("button", name="Approve").click()
    operator.page.wait_for_load_state()
    assert "approved" in operator.flash()
    operator.go("/ops/merchants")
    row = operator.page.locator(f"#merchant-{shop}")
    row.locator("summary").click()
    row.locator(f"#grant-amount-{shop}").fill("2000")
    row.get_by_role("button", name="Allocate").click()
    operator.page.wait_for_load_state()
    assert "2000 points allocated" in operator.flash()
    operator.shot("merchants")

    # -- the owner posts the deposit and records a sale at the till ----------------------------
    owner.go(f"/merchant/{shop}")
    owner.submit(f"form[action='/merchant/{shop}/deposit']")
    assert "保证金已缴纳" in owner.flash()
    assert owner.value("merchant-deposit") == Decimal("500.0000")
    till = f"form[action='/merchant/{shop}/sale']"
    owner.page.fill("#f-consumer", CONSUMER_PHONE)
    owner.page.locator("#f-consumer").dispatch_event("change")
    owner.page.wait_for_selector(f"#consumer-lookup >> text={member_code}")
    owner.page.fill("#f-amount", "12.345")  # bad input: refused next to the field, nothing lost
    owner.submit(till)
    assert owner.page.locator("#f-amount-error").is_visible()
    assert owner.page.input_value("#f-consumer") == CONSUMER_PHONE
    owner.shot("till-error")
    owner.page.fill("#f-consumer", member_code)  # what scanning the member QR code fills in
    owner.page.fill("#f-amount", "5000")
    owner.page.locator("summary").first.click()
    owner.page.fill("#f-at", f"{yesterday}T10:00")  # a sale taken while the till was offline
    owner.submit(till)
    assert "已记录消费" in owner.flash()
    assert owner.page.locator("[data-testid=receipt-amount]").inner_text() == "5000.00"
    owner.shot("receipt")

    # -- the operator settles the day ---------------------------------------------------------
    operator.go("/ops/settlements")
    operator.page.fill("#f-date", yesterday)
    operator.submit("form[action='/ops/settlements']")
    assert "Settled" in operator.flash() and yesterday in operator.flash()
    operator.shot("settlement")

    # -- the consumer sees the points, and how they were computed ----------------------------
    consumer.go("/wallet")
    assert consumer.page.locator("[data-testid=release-points]").inner_text() == "416.6667"
    assert consumer.value("wallet-points-available") == Decimal("416.6667")
    assert consumer.value("wallet-share-value") == Decimal("4583.33")
    assert "500.0000 × 5000.00 ÷ 6000.00" in consumer.page.locator(".formula").inner_text()
    consumer.shot("wallet-released")

    # -- real name, a payment method, the risk notice, then a listing ----------------------------
    consumer.go("/profile")
    consumer.page.fill("#f-real_name", "张伟")
    consumer.page.fill("#f-id_number", "110105199003071230")  # wrong check character
    consumer.submit("form[action='/profile/real-name']")
    assert consumer.page.locator("#f-id_number-error").is_visible()
    consumer.page.fill("#f-id_number", id_number("11010519900307123"))
    consumer.submit("form[action='/profile/real-name']")
    consumer.page.select_option("#f-kind", "alipay")
    consumer.page.fill("#f-account_name", "张伟")
    consumer.page.fill("#f-account_id", CONSUMER_PHONE)
    consumer.submit("form[action='/profile/payment-methods']")
    assert "收款方式已添加" in consumer.flash()
    consumer.shot("profile")
    consumer.go("/market/sell")
    assert consumer.page.locator(".banner").count() == 1  # the risk notice is still to accept
    consumer.page.get_by_role("link", name="去阅读").click()
    consumer.submit("form[action='/risk-notice/accept']")
    assert consumer.page.url.endswith("/market/sell")
    consumer.page.fill("#f-quantity", "100")
    consumer.submit("form[action='/market/sell']")
    assert "已挂卖 100.0000 积分" in consumer.flash()
    assert consumer.page.locator("#trades").count() == 1
    consumer.shot("listed")

    # -- the owner buys them for the shop and pays the consumer ---------------------------------
    owner.go("/profile")
    owner.page.fill("#f-real_name", "李娜")
    owner.page.fill("#f-id_number", id_number("44190019880512456"))
    owner.submit("form[action='/profile/real-name']")
    owner.go("/risk-notice")
    while owner.page.locator("form[action='/risk-notice/accept']").count():
        owner.submit("form[action='/risk-notice/accept']")
    owner.go(f"/market?as={shop}")
    owner.shot("market")
    owner.page.fill("#f-quantity", "100")
    owner.page.fill("#f-max_price", "1.0000")
    owner.submit("form[action='/market/quick-buy']")
    assert "/market/trades/" in owner.page.url
    trade = owner.page.url.split("/market/trades/")[1].split("?")[0]
    assert owner.page.locator("[data-testid=trade-amount]").inner_text() == "100.00"
    assert owner.page.locator(".countdown").first.inner_text() != ""
    owner.shot("trade-to-pay")
    owner.page.fill("#f-reference", "2025ALIPAY0001")
    owner.submit(f"form[action='/market/trades/{trade}/paid']")
    assert "已标记为已付款" in owner.flash()

    # -- the consumer confirms the money arrived ----------------------------------------------------
    consumer.go("/market/my")
    consumer.page.locator(f"a[href='/market/trades/{trade}']").click()
    consumer.shot("trade-to-confirm")
    consumer.submit(f"form[action='/market/trades/{trade}/confirm']")
    assert "交易完成" in consumer.flash()
    assert "已完成" in consumer.page.locator("#trade-card").inner_text()
    consumer.shot("trade-completed")

    # -- every page agrees: wallet, console, dashboard, the API and verify --------------------------
    consumer.go("/wallet")
    wallet = {k: consumer.value(f"wallet-{k}") for k in ("points-available", "points-escrow", "share-value")}
    assert wallet == {
        "points-available": Decimal("316.6667"),
        "points-escrow": Decimal("0.0000"),
        "share-value": Decimal("4583.33"),
    }
    consumer.shot("wallet-final")
    api = consumer.page.request.get(f"{server.url}/api/v1/consumers/{member_code[1:]}/balance").json()
    assert Decimal(api["points"]["available"]) == wallet["points-available"]
    assert Decimal(api["share_value"]) == wallet["share-value"]

    owner.go(f"/merchant/{shop}")
    shop_points = owner.value("merchant-points-available")
    shop_deposit = owner.value("merchant-deposit")
    assert shop_points == Decimal("1183.3333")  # 2000 − 500 deposit − 500 concession + 83.3333 + 100
    assert owner.value("today-turnover") == Decimal("0.00")  # the sale was yesterday's
    owner.shot("console-final")

    operator.go("/ops")
    ops = {
        k: operator.value(f"ops-{k}")
        for k in (
            "reserve",
            "released",
            "burned",
            "held",
            "fees",
            "total-issue",
            "sv-outstanding",
            "sv-returned",
        )
    }
    assert ops["held"] == wallet["points-available"] + shop_points + shop_deposit
    assert ops["reserve"] + ops["held"] + ops["fees"] + ops["burned"] == ops["total-issue"]
    assert ops["released"] == Decimal("500.0000")
    assert ops["sv-returned"] == Decimal("500.00")  # 416.67 + 83.33 used up by the release
    assert ops["sv-outstanding"] == wallet["share-value"] + Decimal("916.67")
    operator.page.wait_for_selector(".chart svg")  # the K-line is drawn from the vendored ECharts
    operator.shot("dashboard")
    operator.go("/ops/verify")
    assert "flash-ok" in (operator.page.locator("#verify-status").get_attribute("class") or "")
    conservation = operator.page.locator("#conservation").inner_text()
    for figure in (ops["reserve"], ops["held"], ops["burned"], ops["total-issue"]):
        assert str(figure) in conservation
    operator.shot("verify")
    operator.go("/ops/journal")
    operator.shot("journal")

    # -- the other language, and the other screen size ------------------------------------------------
    consumer.page.get_by_role("link", name="English").click()
    assert consumer.page.locator("html").get_attribute("lang") == "en"
    assert "Wallet" in consumer.page.locator("h1").inner_text()
    consumer.shot("wallet-final")
    consumer.page.set_viewport_size(DESKTOP)
    consumer.shot("wallet-final")
    operator.go("/ops")
    operator.page.get_by_role("link", name="中文").click()
    assert "总览" in operator.page.locator("h1").inner_text()
    operator.page.wait_for_selector(".chart svg")
    operator.shot("dashboard")
    owner.page.get_by_role("link", name="English").click()
    assert "Till: record a sale" in owner.page.content()
    owner.shot("console-final")
    owner.page.set_viewport_size(PHONE)
    owner.shot("console-final")

    for person in (consumer, owner, operator):
        person.no_console_errors()
        person.page.context.close()

    if os.environ.get("SHAREBUY_UPDATE_SCREENSHOTS") == "1" and "sqlite" in str(artifacts):
        _update_readme_shots(artifacts)


def _update_readme_shots(artifacts: Path) -> None:
    """Copy the three consoles' pictures for the README (`make screenshots`)."""
    README_SHOTS.mkdir(parents=True, exist_ok=True)
    wanted = {
        "consumer-wallet.png": "consumer-wallet-released-zh-CN-390x844",
        "merchant-console.png": "merchant-console-final-zh-CN-1440x900",
        "operator-dashboard.png": "operator-dashboard-en-1440x900",
    }
    for target, stem in wanted.items():
        found = sorted(p for p in artifacts.iterdir() if stem in p.name)
        assert found, stem
        shutil.copyfile(found[0], README_SHOTS / target)
