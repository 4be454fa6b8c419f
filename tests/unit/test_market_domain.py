"""Pure market rules: the transition table, money maths, the band, VWAP, candles, image sniffing,
identity numbers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharebuy.events import domain as events
from sharebuy.kernel.amounts import Cny, Points, Price
from sharebuy.kernel.errors import Conflict, Forbidden, InvalidInput
from sharebuy.market import domain
from sharebuy.members import domain as members


def test_worked_example() -> None:
    """10 points at 2.00 with a 1% fee: 20.00 CNY, 0.1000 points fee, 9.9000 to the buyer."""
    quantity, price = Points.parse("10"), Price.parse("2")
    assert domain.trade_amount(quantity, price) == Cny.parse("20.00")
    assert domain.trade_fee(quantity, Decimal("0.01")) == Points.parse("0.1")


def test_fee_and_amount_round_half_up() -> None:
    assert domain.trade_fee(Points.parse("0.0005"), Decimal("0.1")) == Points(1)  # 0.00005 -> 0.0001
    assert domain.trade_fee(Points.parse("0.0004"), Decimal("0.1")) == Points(0)
    assert domain.trade_amount(Points.parse("0.0025"), Price.parse("2")) == Cny.parse("0.01")  # 0.005 -> 0.01


def test_the_table_names_who_may_do_what() -> None:
    assert domain.step("awaiting_payment", "paid", "buyer").target == "paid"
    assert domain.step("paid", "confirmed", "seller").effect == domain.RELEASE
    assert domain.step("paid", "escalated", "system").target == "disputed"
    assert domain.step("disputed", "returned", "operator").effect == domain.RETURN
    with pytest.raises(Forbidden) as caught:
        domain.step("paid", "confirmed", "buyer")  # a buyer cannot confirm
    assert caught.value.code == "trade_role_forbidden"
    with pytest.raises(Forbidden):
        domain.step("awaiting_payment", "paid", "seller")  # a seller cannot mark paid
    with pytest.raises(Conflict) as refused:
        domain.step("completed", "cancelled", "buyer")
    assert refused.value.code == "invalid_trade_transition"


def test_no_timeout_ever_releases() -> None:
    """The platform cannot see cash: the system never moves points to a buyer."""
    for transition in domain.TRANSITIONS.values():
        if domain.SYSTEM in transition.roles:
            assert transition.effect != domain.RELEASE
        if transition.effect == domain.RELEASE:
            assert transition.roles <= {domain.SELLER, domain.OPERATOR}


def test_every_event_has_a_webhook_topic() -> None:
    assert set(domain.TOPICS) <= set(events.TOPICS)
    assert events.parse_topics(["market.trade.paid"]) == "market.trade.paid"


def test_terminal_states_have_no_way_out() -> None:
    sources = {source for source, _ in domain.TRANSITIONS}
    assert not sources & {domain.COMPLETED, domain.CANCELLED}
    assert set(domain.OPEN_STATES) <= sources


def test_price_band() -> None:
    assert domain.price_band(Price.parse("2"), Decimal(0)) is None
    assert domain.price_band(Price.parse("2"), Decimal("0.1")) == (Price.parse("1.8"), Price.parse("2.2"))
    low, high = domain.price_band(Price.parse("1.0003"), Decimal("0.1"))  # type: ignore[misc]
    assert low == Price.parse("0.9003") and high == Price.parse("1.1003")  # 0.90027 up, 1.10033 down


@given(st.lists(st.tuples(st.integers(1, 10**8), st.integers(1, 10**9)), min_size=1, max_size=30))
def test_vwap_lies_between_the_prices_and_is_exact(fills: list[tuple[int, int]]) -> None:
    notional = sum(p * q for p, q in fills)
    volume = sum(q for _, q in fills)
    found = domain.vwap(notional, volume)
    assert found is not None
    assert min(p for p, _ in fills) <= found.units <= max(p for p, _ in fills)
    exact = Decimal(notional) / Decimal(volume)
    assert abs(Decimal(found.units) - exact) <= Decimal("0.5")


def test_vwap_of_nothing_is_none() -> None:
    assert domain.vwap(0, 0) is None


def test_candles() -> None:
    d1, d2 = date(2025, 3, 1), date(2025, 3, 2)
    rows = [
        (d1, 20000, 10000, 200),
        (d1, 30000, 30000, 900),
        (d1, 10000, 10000, 100),
        (d2, 25000, 10000, 250),
    ]
    first, second = domain.candles(rows)
    assert (first.open, first.high, first.low, first.close) == tuple(
        Price.parse(x) for x in ("2", "3", "1", "1")
    )
    assert first.volume == Points.parse("5") and first.turnover == Cny.parse("12.00") and first.trades == 3
    assert first.vwap == Price.parse("2.4")  # (2 + 9 + 1) / 5
    assert second.open == second.close == Price.parse("2.5")


def test_order_size() -> None:
    assert domain.order_size_ok(5, 10, 2, 8)
    assert not domain.order_size_ok(9, 10, 2, 8)
    assert not domain.order_size_ok(1, 10, 2, 8)
    assert domain.order_size_ok(1, 1, 2, 8)  # the last crumb below the minimum may be taken whole
    assert not domain.order_size_ok(0, 10, 2, 8)


def test_related_parties() -> None:
    assert domain.related({7}, {7})
    assert domain.related({9, 3, 4}, {4})  # a merchant and one of its staff
    assert not domain.related({1}, {2, 3})


def test_images_are_recognised_by_their_bytes() -> None:
    assert domain.sniff_image(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert domain.sniff_image(b"\xff\xd8\xff\xe0...") == "image/jpeg"
    assert domain.sniff_image(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    with pytest.raises(InvalidInput):
        domain.sniff_image(b"<script>alert(1)</script>")
    with pytest.raises(InvalidInput):
        domain.check_image_size(domain.MAX_IMAGE_BYTES + 1)


def test_payment_accounts() -> None:
    assert domain.parse_kinds("bank, alipay,alipay") == ("alipay", "bank")
    with pytest.raises(InvalidInput):
        domain.parse_kinds(["paypal"])
    assert domain.clean_account("bank", " 张 三 ", "6222 0200 0000 1234", "工商银行") == (
        "张 三",
        "6222020000001234",
        "工商银行",
    )
    with pytest.raises(InvalidInput):
        domain.clean_account("bank", "张三", "12ab", "工商银行")
    assert domain.mask("6222020000001234") == "****1234"


def test_the_risk_notice_promises_nothing() -> None:
    assert "不承诺任何收益" in domain.RISK_NOTICE_ZH and "从不经手" in domain.RISK_NOTICE_ZH
    assert "promises no return" in domain.RISK_NOTICE_EN and "never handles" in domain.RISK_NOTICE_EN


@pytest.mark.parametrize(
    "number",
    ["11010519491231002X", "11010519491231002x", "440524198001010013"],
)
def test_valid_identity_numbers(number: str) -> None:
    assert members.validate_id_number(number) == number.upper()


@pytest.mark.parametrize(
    "number",
    [
        "110105194912310021",  # wrong check character
        "11010519491331002X",  # month 13
        "99010519491231002X",  # no such province
        "1101051949123100",  # too short
        "A1010519491231002X",
    ],
)
def test_invalid_identity_numbers(number: str) -> None:
    with pytest.raises(InvalidInput):
        members.validate_id_number(number)


def test_identity_number_in_the_future() -> None:
    first17 = "11010520990101001"
    number = first17 + members.id_check_character(first17)
    with pytest.raises(InvalidInput):
        members.validate_id_number(number, date(2025, 3, 1))
