"""Every parser of user input, fed anything: it answers with a valid value or a clear refusal.

A refusal is an InvalidInput (422 over HTTP, an error object in the CLI) with a stable code and a
message in 简体中文 and English; any other exception would reach a user as a 500.  Where a
parser accepts, the value satisfies the parser's own contract (ASCII digits only, in range, exact).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sharebuy.events import domain as events
from sharebuy.identity import domain as identity
from sharebuy.kernel.amounts import Amount, Cny, Points, Price, ShareValue
from sharebuy.kernel.clock import parse_day, parse_moment
from sharebuy.kernel.errors import InvalidInput, SharebuyError
from sharebuy.market import domain as market
from sharebuy.members import domain as members
from sharebuy.rewards import rules
from sharebuy.simulation import scenario
from sharebuy.web.pages.merchant import parse_member_code

# Text as people and attackers send it: any Unicode, plus the digits and signs that look like ASCII.
LOOKALIKES = "0123456789０１２３４５６７８９٠١٢٣٤٥٦٧٨٩߀१२+-.,eE_ \t\n\x00＋－．"
anything = st.one_of(st.text(max_size=60), st.text(alphabet=LOOKALIKES, max_size=40))
# What a JSON or TOML document can put where a value is expected.
values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.decimals(),
        st.text(max_size=20),
        st.text(alphabet=LOOKALIKES, max_size=20),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
AMOUNTS: tuple[type[Amount], ...] = (Points, ShareValue, Cny, Price)
ASCII_DIGITS = re.compile(r"[0-9]+", re.ASCII)


def refuses_clearly(parse: Callable[[], Any]) -> Any:
    """Run a parser; a refusal must be an InvalidInput in both languages. None when refused."""
    try:
        return parse()
    except InvalidInput as refusal:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", refusal.code), refusal.code
        assert refusal.message_zh.strip() and refusal.message_en.strip()
        assert refusal.message_zh != refusal.message_en
        return None


# -- amounts ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", AMOUNTS, ids=lambda k: k.__name__)
@given(value=st.one_of(anything, values))
@example(value="1e999999999")  # once a decimal-context overflow: a 500
@example(value="1e-999999999")  # once flushed to zero instead of refused
@example(value="1.00000000000000000000000000001")  # once rounded to 28 digits and accepted
@example(value="1e400000")  # once a 400,000-digit integer
def test_amounts_are_exact_or_refused(kind: type[Amount], value: object) -> None:
    parsed = refuses_clearly(lambda: kind.parse(value))
    if parsed is None:
        return
    assert abs(parsed.units) < 10**18, "fits the 64-bit column"
    # Accepted means exact: the text it prints parses back to the same amount and the same number.
    assert kind.parse(str(parsed)) == parsed
    if isinstance(value, str | int | Decimal) and not isinstance(value, bool):
        written = value if not isinstance(value, str) else value.strip().replace(",", "").replace("_", "")
        assert parsed.to_decimal() == Decimal(written)


@pytest.mark.parametrize("kind", AMOUNTS, ids=lambda k: k.__name__)
@given(units=st.integers(min_value=-(10**18) + 1, max_value=10**18 - 1), padding=st.integers(0, 8))
def test_every_storable_amount_is_written_and_read_back(kind: type[Amount], units: int, padding: int) -> None:
    text = str(kind(units)) + ("0" * padding if kind.PLACES else "")
    assert kind.parse(text).units == units


@pytest.mark.parametrize("kind", AMOUNTS, ids=lambda k: k.__name__)
@given(value=st.floats())
def test_floats_are_never_amounts(kind: type[Amount], value: float) -> None:
    with pytest.raises(InvalidInput) as refused:
        kind.parse(value)
    assert refused.value.code == "float_refused"


# -- dates and times ----------------------------------------------------------------------------


@given(text=anything)
def test_days(text: str) -> None:
    day = refuses_clearly(lambda: parse_day(text))
    if day is not None:
        assert isinstance(day, date)


@given(day=st.dates())
def test_every_day_round_trips(day: date) -> None:
    assert parse_day(f" {day.isoformat()} ") == day


@given(text=anything)
def test_moments_come_back_in_utc(text: str) -> None:
    moment = refuses_clearly(lambda: parse_moment(text))
    if moment is not None:
        assert moment.utcoffset() == timedelta(0)


@given(
    moment=st.datetimes(
        min_value=datetime(2000, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    )
)
def test_every_utc_moment_round_trips(moment: datetime) -> None:
    assert parse_moment(moment.isoformat()) == moment


# -- members: phones, regions, identity numbers, names, rates -------------------------------------


@given(text=anything)
@example(text="13８00138000")  # full-width digits typed by an input method: read as ASCII
@example(text="1٣800138000")  # Arabic-Indic digits: once stored as they came
def test_phones_are_ascii_mainland_numbers(text: str) -> None:
    phone = refuses_clearly(lambda: members.normalise_phone(text))
    if phone is not None:
        assert re.fullmatch(r"1[3-9][0-9]{9}", phone, re.ASCII)


@given(
    number=st.from_regex(re.compile(r"1[3-9][0-9]{9}", re.ASCII), fullmatch=True),
    prefix=st.sampled_from(["", "+86", "0086", "+86 ", "＋８６"]),
    wide=st.booleans(),
)
def test_real_phones_are_accepted_however_written(number: str, prefix: str, wide: bool) -> None:
    written = number.translate(str.maketrans("0123456789", "０１２３４５６７８９")) if wide else number
    spaced = f"{prefix}{written[:3]} {written[3:7]}-{written[7:]}"
    assert members.normalise_phone(spaced) == number


@given(text=anything)
@example(text="４４1900")
@example(text="٤٤1900")
def test_regions_are_six_ascii_digits(text: str) -> None:
    region = refuses_clearly(lambda: members.validate_region(text))
    if region is not None:
        assert ASCII_DIGITS.fullmatch(region) and len(region) == 6


def _id_number(region: str, born: date, sequence: int) -> str:
    first17 = f"{region}{born:%Y%m%d}{sequence:03d}"
    return first17 + members.id_check_character(first17)


@given(text=anything)
def test_identity_numbers_are_ascii_with_a_valid_checksum(text: str) -> None:
    number = refuses_clearly(lambda: members.validate_id_number(text))
    if number is not None:
        assert re.fullmatch(r"[0-9]{17}[0-9X]", number, re.ASCII)
        assert members.id_check_character(number[:17]) == number[17]


@given(born=st.dates(min_value=date(1900, 1, 1), max_value=date(2026, 1, 1)), sequence=st.integers(0, 999))
def test_real_identity_numbers_are_accepted_and_one_changed_digit_is_not(born: date, sequence: int) -> None:
    number = _id_number("441900", born, sequence)
    assert members.validate_id_number(number.lower()) == number
    changed = number[:16] + str((int(number[16]) + 1) % 10) + number[17]
    with pytest.raises(InvalidInput):
        members.validate_id_number(changed)


@given(text=anything)
def test_real_names(text: str) -> None:
    name = refuses_clearly(lambda: members.clean_real_name(text))
    if name is not None:
        assert 2 <= len(name) <= 50 and not any(ch.isdigit() for ch in name)


@given(text=anything)
def test_merchant_names(text: str) -> None:
    name = refuses_clearly(lambda: members.clean_name(text, "商户名称", "merchant name"))
    if name is not None:
        assert 0 < len(name) <= 100 and name == name.strip() and name.isprintable()


@given(value=st.one_of(anything, values))
def test_concession_rates(value: object) -> None:
    rate = refuses_clearly(lambda: members.parse_rate(value))
    if rate is not None:
        assert (
            rate.is_finite() and isinstance(rate.as_tuple().exponent, int) and rate.as_tuple().exponent >= -4
        )


# -- identity -------------------------------------------------------------------------------------


@given(text=anything)
def test_operator_logins(text: str) -> None:
    login = refuses_clearly(lambda: identity.normalise_operator_login(text))
    if login is not None:
        assert re.fullmatch(r"[a-z][a-z0-9._-]{2,63}", login, re.ASCII)


@given(password=st.text(max_size=80), login=st.text(max_size=20))
def test_password_policy_only_ever_refuses_clearly(password: str, login: str) -> None:
    refuses_clearly(lambda: identity.check_password(password, login))


# -- the rulebook ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(rules.SPECS))
@given(value=st.one_of(anything, values))
def test_every_rule_value(key: str, value: object) -> None:
    parsed = refuses_clearly(lambda: rules.parse_values({key: value}))
    if parsed is not None:
        # What is stored is the text form; it must read back as the same value.
        assert rules.parse_values({key: str(parsed[key])})[key] == parsed[key]


@given(key=st.text(max_size=30))
def test_unknown_rule_keys_are_named(key: str) -> None:
    if key not in rules.SPECS:
        with pytest.raises(InvalidInput) as refused:
            rules.parse_values({key: "1"})
        assert refused.value.code == "unknown_rule"


# -- webhooks, market details, the till ----------------------------------------------------------


@given(text=st.one_of(anything, st.lists(st.sampled_from([*events.TOPICS, "*", "market.x", ""]), max_size=4)))
def test_webhook_topics(text: str | list[str]) -> None:
    stored = refuses_clearly(lambda: events.parse_topics(text))
    if stored is not None:
        assert stored == "*" or all(topic in events.TOPICS for topic in stored.split(","))


@pytest.mark.parametrize("production", [False, True])
@given(url=st.one_of(anything, st.from_regex(r"https?://[^/\s]{0,30}(/[^\s]{0,20})?", fullmatch=True)))
def test_webhook_urls(url: str, production: bool) -> None:
    accepted = refuses_clearly(lambda: events.validate_url(url, production=production))
    if accepted is not None:
        assert accepted.startswith(("https://" if production else "http", "https://"))
        assert not any(ch.isspace() for ch in accepted)


@given(value=st.one_of(anything, st.lists(st.text(max_size=8), max_size=4)))
def test_payment_kinds(value: str | list[str]) -> None:
    kinds = refuses_clearly(lambda: market.parse_kinds(value))
    if kinds is not None:
        assert kinds and set(kinds) <= set(market.PAYMENT_KINDS)


@pytest.mark.parametrize("kind", market.PAYMENT_KINDS)
@given(holder=anything, account=anything, bank=anything)
@example(holder="\u202egnaW", account="6222020200112233445", bank="ICBC")  # right-to-left override
@example(holder="张三", account="a\x1b@b.cn", bank="")  # an escape inside an e-mail
def test_payment_details(kind: str, holder: str, account: str, bank: str) -> None:
    cleaned = refuses_clearly(lambda: market.clean_account(kind, holder, account, bank))
    if cleaned is not None:
        # Shown to the other side of a trade: nothing invisible or reordering may hide in it.
        assert all(part.isprintable() for part in cleaned)
        if kind == "bank":
            assert ASCII_DIGITS.fullmatch(cleaned[1])


@given(text=anything)
def test_member_codes_at_the_till(text: str) -> None:
    consumer_id, phone = parse_member_code(text)
    if consumer_id is not None:
        assert phone is None and 0 <= consumer_id < 10**18
    else:
        assert phone == text


# -- the simulator's scenario files ---------------------------------------------------------------

BASELINE = tomllib.loads(Path("scenarios/baseline.toml").read_text(encoding="utf-8"))
LEAVES = [
    (section, key)
    for section, table in scenario.SCHEMA.items()
    for key in table
    if not (section == "scenario" and key in ("name", "description"))
]


@settings(max_examples=300)
@given(leaf=st.sampled_from(LEAVES), value=values)
def test_any_scenario_setting(leaf: tuple[str, str], value: object) -> None:
    section, key = leaf
    data: dict[str, Any] = {name: dict(table) for name, table in BASELINE.items() if isinstance(table, dict)}
    data.setdefault(section, {})[key] = value
    refuses_clearly(lambda: scenario.parse(data))


@given(document=st.dictionaries(st.text(max_size=12), values, max_size=4))
def test_any_scenario_document(document: dict[str, Any]) -> None:
    try:
        scenario.parse(document)
    except SharebuyError as refusal:
        assert isinstance(refusal, InvalidInput) and refusal.message_zh and refusal.message_en


@given(items=st.lists(anything, max_size=3))
def test_sweep_options(items: list[str]) -> None:
    refuses_clearly(lambda: scenario.parse_cli_sweep(items))
