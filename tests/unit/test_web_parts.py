"""Pure parts of the web layer: settings, language choice, the sign-in window."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sharebuy.settings import DEV_SECRET, Settings
from sharebuy.web.i18n import language
from sharebuy.web.ratelimit import SlidingWindow


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ValidationError, match="SHAREBUY_SECRET_KEY"):
        Settings(environment="production")
    with pytest.raises(ValidationError):
        Settings(environment="production", secret_key="short")
    ok = Settings(environment="production", secret_key="x" * 40)
    assert ok.secret_key.get_secret_value() != DEV_SECRET
    assert "x" * 40 not in repr(ok)  # a secret never shows in logs or tracebacks


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "zh"),
        ("", "zh"),
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("fr-FR,en;q=0.5", "en"),
        ("de", "zh"),
        ("en;q=0.2,zh;q=0.8", "zh"),
        ("en;q=abc", "zh"),
        # Weights are exact decimals of at most three places (RFC 9110); others are not weights.
        ("zh;q=0.333,en;q=0.334", "en"),
        ("zh;q=0.5,en;q=1e0", "zh"),
        ("zh;q=0.5,en;q=nan", "zh"),
        ("zh;q=0.5,en;q=2", "zh"),
        ("zh;q=0.5,en;Q=1.000", "en"),
    ],
)
def test_language_from_accept_language(header: str | None, expected: str) -> None:
    assert language(header) == expected


def test_sliding_window_counts_per_client_and_forgets() -> None:
    window = SlidingWindow(limit=3, seconds=60)
    second = 1_000_000_000
    assert all(window.hit("a", now_ns=t * second) for t in (0, 1, 2))
    assert not window.hit("a", now_ns=3 * second)
    assert window.hit("b", now_ns=3 * second)  # another client is not affected
    assert window.hit("a", now_ns=61 * second)  # the first attempt has left the window
