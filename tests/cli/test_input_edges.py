"""Input at the edges of the operator CLI: each is a JSON refusal that writes nothing, or is read exactly.

A world of consumer a (1), owner (2) and active merchant x (3, rate 0.10, grant 1,000 → available
500.0000, deposit 500.0000); every refusal leaves the platform's balances and the journal as they were.
"""

from __future__ import annotations

from tests.cli.harness import D1, Cli, at

BIGGER_THAN_ANY_ID = str(2**63)


def _world(cli: Cli) -> tuple[int, int]:
    cli.init(D1)
    a, owner = cli.consumer("A"), cli.consumer("店主")
    return a, cli.open_merchant(owner, grant="1000")


def _books(cli: Cli) -> tuple[dict[str, object], int]:
    return cli.platform(), int(cli.ok("verify")["entries"])


def _refused_all(cli: Cli, cases: list[tuple[list[str], str]]) -> list[tuple[str, ...]]:
    """Each case refused with its code, as one JSON object, and not a unit written."""
    before = _books(cli)
    wrong = []
    for args, code in cases:
        result = cli.run(*args)
        got = result.data.get("error", {}).get("code")
        if result.exit_code == 0 or set(result.data) != {"error"} or got != code:
            wrong.append((*args, str(result.data)))
    assert _books(cli) == before
    return wrong


def test_an_id_beyond_any_row_is_a_refusal(cli: Cli) -> None:
    """2**63 fits no id column: a JSON refusal (once a traceback) on SQLite and PostgreSQL alike."""
    a, x = _world(cli)
    big = BIGGER_THAN_ANY_ID
    buy = ["purchase", "--amount", "1", "--at", at(D1)]
    cases = [
        ["balance", "--consumer", big],
        ["refund", big],
        ["merchant", "approve", big],
        ["consumer", "freeze", big],
        ["points", "grant", "--merchant", big, "--amount", "1", "--reason", "r"],
        ["merchant", "add", "--name", "新店", "--owner", big, "--region", "441900"],
        [*buy, "--merchant", str(x), "--consumer", big],
        [*buy, "--merchant", big, "--consumer", str(a)],
    ]
    assert not _refused_all(cli, [(args, "number_out_of_range") for args in cases])
    error = cli.refused("--lang", "en", "refund", big, code="number_out_of_range")
    assert "9223372036854775807" in error["message"]


def test_misplaced_thousands_separators_are_refused(cli: Cli) -> None:
    """ "1,50" is 1.50 to half the world and 150.00 once its comma is dropped: neither is guessed."""
    a, x = _world(cli)
    buy = ["purchase", "--merchant", str(x), "--consumer", str(a), "--at", at(D1), "--amount"]
    amounts = ["1,5", "1,50", "10,00", "1,0000", ",100", "100,", "1,,000", "1_0", "1,000_000", "1,000.0,0"]
    assert not _refused_all(cli, [([*buy, amount], "invalid_decimal") for amount in amounts])
    grant = ["points", "grant", "--merchant", str(x), "--reason", "r", "--amount", "1,5"]
    assert not _refused_all(cli, [(grant, "invalid_decimal")])


def test_thousands_separators_in_their_places_are_read(cli: Cli) -> None:
    """1,000 + 1,000.50 + 1,234.5 + 1_000 = 4,235.00 CNY at 0.10 → 4,235.00 SV, 423.5000 points burned."""
    a, x = _world(cli)
    buy = ["purchase", "--merchant", str(x), "--consumer", str(a), "--at", at(D1), "--amount"]
    recorded = [cli.ok(*buy, amount)["amount"] for amount in ("1,000", "1,000.50", "1,234.5", "1_000")]
    assert recorded == ["1000.00", "1000.50", "1234.50", "1000.00"]
    assert cli.consumer_view(a)["share_value"] == "4235.00"
    assert cli.platform()["burned"] == "423.5000"
    cli.assert_verified()


def test_an_empty_date_is_refused_not_read_as_today(cli: Cli) -> None:
    """An empty --date (an unset shell variable) once settled every day up to yesterday, and an
    empty --at recorded the sale or the refund now: both are malformed input, refused."""
    a, x = _world(cli)
    cli.buy(x, a, "100", D1)
    buy = ["purchase", "--merchant", str(x), "--consumer", str(a), "--amount", "1"]
    cases = [
        (["settle", "--date", ""], "invalid_date"),
        (["settle", "--through", " "], "invalid_date"),
        ([*buy, "--at", ""], "invalid_datetime"),
        (["refund", "1", "--at", ""], "invalid_datetime"),
    ]
    assert not _refused_all(cli, cases)
    cli.refused("settlement", "show", D1, code="not_settled")


def test_a_refund_cannot_precede_its_purchase(cli: Cli) -> None:
    """A sale on D2 (100.00 → A 100.00 SV, X 20.00 SV, 10.0000 burned): a refund dated D1 is refused
    as earlier than the sale (once "the 7-day refund window has closed"); on D2 it reverses the sale."""
    a, x = _world(cli)
    d2 = "2025-01-02"
    cli.buy(x, a, "100", d2)
    cases = [
        (["refund", "1", "--at", at(D1, "10:00")], "refund_before_purchase"),
        (
            ["refund", "1", "--at", "2025-01-01T15:59:59Z"],
            "refund_before_purchase",
        ),  # 23:59:59 on D1 in Shanghai
    ]
    assert not _refused_all(cli, cases)
    error = cli.refused("--lang", "en", "refund", "1", "--at", at(D1), code="refund_before_purchase")
    assert error["message"] == "a refund on 2025-01-01 cannot precede its purchase's business day 2025-01-02"
    done = cli.ok("refund", "1", "--at", at(d2, "10:30"))
    assert (done["consumer_share_value_taken"], done["points_returned"]) == ("100.00", "10.0000")
    assert cli.platform()["burned"] == "0.0000"
    cli.assert_verified()


def test_a_negative_page_is_a_usage_error(cli: Cli) -> None:
    """--limit below 1 or --offset below 0 is refused before the database sees it (PostgreSQL once
    answered a database_error, and SQLite read LIMIT -1 as "no limit")."""
    a, x = _world(cli)
    cli.buy(x, a, "100", D1)
    cli.settle("--date", D1)
    for args in (["--limit", "-1"], ["--limit", "0"], ["--offset", "-5"]):
        for command in (["settlement", "show", D1], ["market", "list"]):
            result = cli.run(*command, *args)
            assert (result.exit_code, result.error["code"]) == (2, "usage"), result.data
    result = cli.run("market", "trades", "--limit", "0")
    assert (result.exit_code, result.error["code"]) == (2, "usage"), result.data
    assert [line["member_id"] for line in cli.ok("settlement", "show", D1, "--limit", "1")["lines"]] == [a]
    assert [line["member_id"] for line in cli.ok("settlement", "show", D1, "--offset", "1")["lines"]] == [x]


def test_a_rule_change_is_echoed_as_stored_and_given_once(cli: Cli) -> None:
    """daily_airdrop=1e3 is 1,000.0000 points: the answer says so at full precision, as `rules show`
    does; a rule given twice in one change is refused rather than the last one silently winning."""
    cli.init(D1)
    changed = cli.ok("rules", "set", "daily_airdrop=1e3", "consumer_multiplier=8", "--from", "2025-01-02")
    assert changed["changes"] == {"daily_airdrop": "1000.0000", "consumer_multiplier": "8"}
    assert cli.ok("rules", "show", "--date", "2025-01-02")["rules"]["daily_airdrop"] == "1000.0000"
    twice = ["rules", "set", "daily_airdrop=5", "daily_airdrop=6", "--from", "2025-01-03"]
    assert not _refused_all(cli, [(twice, "duplicate_rule")])
    assert cli.ok("rules", "show", "--date", "2025-01-03")["version"] == 2


def test_a_database_url_that_names_no_database_is_a_refusal(cli: Cli) -> None:
    """--db notaurl and --db mysql://... once ended in a traceback (ArgumentError, no MySQLdb)."""
    for url in ("notaurl", "mysql://user:secret@host/db", "oracle://x@y/z"):
        result = cli.run("balance", "--platform", db=url)
        assert (result.exit_code, result.error["code"]) == (1, "invalid_database_url"), result.data
        assert "secret" not in result.stdout
