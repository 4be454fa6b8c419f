"""The rulebook: defaults, parsing, cross-key validation."""

import pytest

from sharebuy.kernel.amounts import Points, Price
from sharebuy.kernel.errors import InvalidInput
from sharebuy.rewards import rules


def test_defaults_are_the_seeds() -> None:
    book = rules.build(rules.defaults(), {})
    assert book["total_issue"] == Points.parse("390000")
    assert book["daily_airdrop"] == Points.parse("500")
    assert book["initial_price"] == Price.parse("1")
    assert book["deduction_destination"] == "burn"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"nope": "1"}, "unknown_rule"),
        ({"concession_rate_min": "0.6"}, "invalid_concession_bounds"),
        ({"price_floor": "2"}, "initial_below_floor"),
        ({"daily_airdrop": "-1"}, "negative_rule"),
        ({"deduction_destination": "void"}, "invalid_destination"),
        ({"c2c_fee_rate": "1.5"}, "rate_out_of_range"),
        ({"activity_window_days": "2.5"}, "invalid_days"),
    ],
)
def test_bad_rules_are_refused(changes: dict[str, str], code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        rules.build(rules.defaults(), changes)
    assert caught.value.code == code


def test_round_trip_through_text() -> None:
    book = rules.build(rules.defaults(), {"daily_airdrop": "750.5", "activity_window_days": "7"})
    assert rules.from_text(book.as_text(), 2).as_text() == book.as_text()
