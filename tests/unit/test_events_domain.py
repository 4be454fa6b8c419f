"""Webhook rules without a database: signatures, the retry schedule, topics and URLs."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharebuy.events import domain
from sharebuy.kernel.errors import InvalidInput

SECRET = "a" * 64
T = 1_740_000_000


def test_signature_round_trip() -> None:
    body = b'{"id":1,"topic":"purchase.recorded"}'
    header = domain.sign(SECRET, body, T)
    assert header.startswith(f"t={T},v1=")
    assert domain.verify_signature(SECRET, header, body, now=T)
    assert domain.verify_signature(SECRET, header, body.decode(), now=T + 10)


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    """The documented recipe, computed independently: merchants rebuild it in any language."""
    body = '{"amount":"100.00"}'
    expected = hmac.new(SECRET.encode(), f"{T}.{body}".encode(), hashlib.sha256).hexdigest()
    assert domain.sign(SECRET, body, T) == f"t={T},v1={expected}"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b.replace(b"100.00", b"900.00")),  # the body changed
        lambda h, b: (h.replace(f"t={T}", f"t={T + 1}"), b),  # the timestamp changed
        lambda h, b: (h[:-1] + ("0" if h[-1] != "0" else "1"), b),  # the digest changed
        lambda h, b: ("v1=" + h.split("v1=")[1], b),  # no timestamp
        lambda h, b: (h.split(",")[0], b),  # no digest
        lambda h, b: ("", b),
        lambda h, b: ("garbage", b),
    ],
)
def test_tampering_is_detected(tamper: object) -> None:
    body = b'{"amount":"100.00"}'
    header, changed = tamper(domain.sign(SECRET, body, T), body)  # type: ignore[operator]
    assert not domain.verify_signature(SECRET, header, changed, now=T)


def test_another_secret_does_not_verify() -> None:
    body = b"{}"
    assert not domain.verify_signature("b" * 64, domain.sign(SECRET, body, T), body, now=T)


def test_tolerance_both_ways() -> None:
    body = b"{}"
    header = domain.sign(SECRET, body, T)
    assert domain.verify_signature(SECRET, header, body, now=T + 300)
    assert domain.verify_signature(SECRET, header, body, now=T - 300)
    assert not domain.verify_signature(SECRET, header, body, now=T + 301)
    assert not domain.verify_signature(SECRET, header, body, now=T - 301)
    assert domain.verify_signature(SECRET, header, body, now=T + 3600, tolerance=3600)


def test_any_of_several_v1_values_may_match() -> None:
    body = b"{}"
    ours = domain.sign(SECRET, body, T).split(",")[1]
    header = f"t={T},v1={'0' * 64},{ours}"
    assert domain.verify_signature(SECRET, header, body, now=T)


@given(st.binary(max_size=200), st.integers(min_value=0, max_value=2**40))
def test_any_body_round_trips(body: bytes, timestamp: int) -> None:
    assert domain.verify_signature(SECRET, domain.sign(SECRET, body, timestamp), body, now=timestamp)


def test_derived_secret_depends_on_key_endpoint_and_salt() -> None:
    base = domain.derive_secret("k" * 32, 1, "s1")
    assert len(base) == 64 and int(base, 16) >= 0
    assert base == domain.derive_secret("k" * 32, 1, "s1")
    assert base != domain.derive_secret("j" * 32, 1, "s1")
    assert base != domain.derive_secret("k" * 32, 2, "s1")
    assert base != domain.derive_secret("k" * 32, 1, "s2")


def test_backoff_schedule_then_give_up() -> None:
    waits = [domain.retry_delay(n) for n in range(1, domain.MAX_ATTEMPTS + 1)]
    assert waits == [
        timedelta(seconds=30),
        timedelta(minutes=2),
        timedelta(minutes=10),
        timedelta(hours=1),
        timedelta(hours=6),
        timedelta(hours=24),
        None,
    ]
    assert domain.MAX_ATTEMPTS == 7
    with pytest.raises(ValueError):
        domain.retry_delay(0)


@pytest.mark.parametrize(("code", "ok"), [(200, True), (204, True), (299, True), (301, False), (500, False)])
def test_only_2xx_is_delivered(code: int, ok: bool) -> None:
    assert domain.delivered(code) is ok


def test_topics_are_stored_in_a_canonical_form() -> None:
    assert domain.parse_topics("*") == "*"
    assert domain.parse_topics(["purchase.recorded", "*"]) == "*"
    assert domain.parse_topics(" settlement.completed , purchase.recorded ") == (
        "purchase.recorded,settlement.completed"
    )
    assert domain.topic_list("purchase.recorded,settlement.completed") == [
        "purchase.recorded",
        "settlement.completed",
    ]
    assert domain.subscribed("*", "purchase.refunded")
    assert domain.subscribed("purchase.recorded", "purchase.recorded")
    assert not domain.subscribed("purchase.recorded", "purchase.refunded")


@pytest.mark.parametrize(
    ("topics", "code"),
    [
        ("", "no_topics"),
        (" , ", "no_topics"),
        ("purchase.made", "unknown_topic"),
        ("market.trade", "topic_reserved"),
    ],
)
def test_bad_topics_are_refused(topics: str, code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        domain.parse_topics(topics)
    assert caught.value.code == code


@pytest.mark.parametrize(
    "url", ["https://shop.example.com/hooks", "http://127.0.0.1:8080/x", "http://localhost/cb?a=1"]
)
def test_urls_accepted_outside_production(url: str) -> None:
    assert domain.validate_url(url, production=False) == url


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://example.com/x",
        "example.com/hooks",
        "https://",
        "https://user:pw@example.com/",
        "https://example.com/a b",
        "https://example.com:port/",
        "https://example.com/" + "x" * 500,
    ],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        domain.validate_url(url, production=False)
    assert caught.value.code == "invalid_webhook_url"


@pytest.mark.parametrize(
    "url", ["http://shop.example.com/hooks", "https://localhost/x", "https://10.0.0.5/x", "https://[::1]/x"]
)
def test_production_wants_https_to_a_public_host(url: str) -> None:
    with pytest.raises(InvalidInput):
        domain.validate_url(url, production=True)
    assert domain.validate_url("https://shop.example.com/hooks", production=True)


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",  # 127.0.0.1 as one decimal number
        "0x7f.0.0.1",  # hexadecimal part
        "0177.0.0.1",  # octal part
        "017700000001",  # octal, whole
        "127.1",  # short form
        "10.1",  # 10.0.0.1, private
        "0",  # 0.0.0.0
        "localhost.",  # the root label
        "LOCALHOST.",
        "api.localhost.",
    ],
)
def test_other_spellings_of_an_inside_address_are_refused_in_production(host: str) -> None:
    """The C resolver reads these as loopback or private addresses, though `ipaddress` does not:
    the check at registration must read them as a connection would."""
    with pytest.raises(InvalidInput) as caught:
        domain.validate_url(f"https://{host}/hooks", production=True)
    assert caught.value.code == "invalid_webhook_url"
    assert domain.validate_url(f"https://{host}/hooks", production=False)


@pytest.mark.parametrize("host", ["134744072", "8.8.8.8", "1.2.3.4.5", "0x", "123abc.example"])
def test_numbers_that_are_public_or_names_pass_to_the_delivery_check(host: str) -> None:
    assert domain.validate_url(f"https://{host}/hooks", production=True)


def test_body_is_compact_json_with_the_event_fields() -> None:
    created = datetime(2025, 3, 1, 4, 0, tzinfo=UTC)
    raw = domain.body(7, "purchase.recorded", created, {"amount": "100.00", "名称": "店"})
    assert json.loads(raw) == {
        "id": 7,
        "topic": "purchase.recorded",
        "created_at": "2025-03-01T04:00:00+00:00",
        "data": {"amount": "100.00", "名称": "店"},
    }
    assert b" " not in raw
    headers = domain.headers(7, "purchase.recorded", "t=1,v1=ab")
    assert headers["Sharebuy-Event-Id"] == "7" and headers["Sharebuy-Topic"] == "purchase.recorded"
    assert headers["Sharebuy-Signature"] == "t=1,v1=ab"
    assert headers["Content-Type"].startswith("application/json")
