"""verify (SPEC §8): a clean ledger passes; any hand edit of the journal is named."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, text

from sharebuy.ledger.models import entries
from sharebuy.ledger.verify import verify
from sharebuy.rewards import checks, settlement_service
from tests.integration.world import LATER, START, build


def _populated(engine: Engine) -> int:
    """A small history; returns the id of the first purchase entry."""
    world = build(engine)
    bought = [world.buy(c, f"{n + 1}00") for n, c in enumerate(world.consumers)]
    settlement_service.settle(engine, through=START, now=LATER)
    with engine.connect() as conn:
        return int(
            conn.execute(select(entries.c.id).where(entries.c.kind == "purchase").order_by(entries.c.id))
            .scalars()
            .first()
        )  # type: ignore[arg-type]
    del bought


def _run(engine: Engine) -> dict[str, object]:
    return verify(engine, checks.CHECKS).as_dict()


def _tamper(engine: Engine, sql: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql), params)


def test_clean_ledger_verifies(engine: Engine) -> None:
    _populated(engine)
    report = _run(engine)
    assert report["ok"] and report["first_bad_entry"] is None
    assert report["chain"]["unsealed"] == 0  # type: ignore[index]


def test_changed_posting_amount_is_named(engine: Engine) -> None:
    entry = _populated(engine)
    _tamper(
        engine,
        "UPDATE postings SET amount = amount + 1 WHERE id = (SELECT min(id) FROM postings WHERE entry_id = :e)",
        e=entry,
    )
    report = _run(engine)
    assert not report["ok"]
    assert report["first_bad_entry"] == entry
    assert not report["checks"]["I1_balanced"]["ok"]  # type: ignore[index]
    assert not report["checks"]["I7_hash_chain"]["ok"]  # type: ignore[index]


def test_balanced_rewrite_is_still_caught_by_the_chain(engine: Engine) -> None:
    """Moving value between two postings of one entry keeps I1, but not the hash."""
    entry = _populated(engine)
    _tamper(engine, "UPDATE postings SET account_id = account_id WHERE entry_id = :e", e=entry)
    assert _run(engine)["ok"]  # a no-op edit changes nothing
    _tamper(engine, "UPDATE journal_entries SET reason = 'edited' WHERE id = :e", e=entry)
    report = _run(engine)
    assert not report["ok"] and report["first_bad_entry"] == entry
    assert not report["checks"]["I7_hash_chain"]["ok"]  # type: ignore[index]


def test_changed_balance_is_named(engine: Engine) -> None:
    _populated(engine)
    _tamper(
        engine,
        "UPDATE ledger_accounts SET balance = balance + 10000 WHERE kind = 'available' AND owner <> 'platform' AND balance > 0",
    )
    report = _run(engine)
    assert not report["checks"]["balances_match_postings"]["ok"]  # type: ignore[index]
    assert not report["checks"]["I2_points_conserved"]["ok"]  # type: ignore[index]


def test_changed_settlement_record_is_named(engine: Engine) -> None:
    _populated(engine)
    _tamper(engine, "UPDATE settlements SET released = released - 1")
    assert not _run(engine)["checks"]["I4_settled_once_exactly"]["ok"]  # type: ignore[index]


@pytest.mark.parametrize("column", ["hash", "prev_hash"])
def test_changed_hash_is_named(engine: Engine, column: str) -> None:
    entry = _populated(engine)
    _tamper(engine, f"UPDATE journal_entries SET {column} = :h WHERE id = :e", h="f" * 64, e=entry)
    report = _run(engine)
    assert report["first_bad_entry"] == entry


# -- any single row of the journal or the postings, changed by hand, is named -----------------

ENTRY_EDITS: dict[str, object] = {
    "kind": "grant",
    "business_day": LATER.date(),
    "reference": "edited",
    "reason": "edited",
    "actor": "intruder",
    "idempotency_key": "edited-key",
    "rule_version": 99,
    "created_at": LATER,
    "seq": 10**9,
}


def _middle_entry(engine: Engine) -> dict[str, object]:
    with engine.connect() as conn:
        rows = conn.execute(select(entries).order_by(entries.c.id)).mappings().all()
    return dict(rows[len(rows) // 2])


@pytest.mark.parametrize("column", [*ENTRY_EDITS, "reverses_id"])
def test_any_changed_entry_field_is_named(engine: Engine, column: str) -> None:
    _populated(engine)
    row = _middle_entry(engine)
    value = ENTRY_EDITS.get(column, 1)  # reverses_id: point it at the first entry
    assert row[column] != value
    with engine.begin() as conn:
        conn.execute(entries.update().where(entries.c.id == row["id"]).values({column: value}))
    report = _run(engine)
    assert not report["ok"]
    assert report["first_bad_entry"] == row["id"], report


POSTING_EDITS = {
    "amount": "UPDATE postings SET amount = amount * 2 WHERE id = :p",
    "asset": "UPDATE postings SET asset = CASE WHEN asset = 'PT' THEN 'SV' ELSE 'PT' END WHERE id = :p",
    "account_id": "UPDATE postings SET account_id = (SELECT min(id) FROM ledger_accounts "
    "WHERE id <> :a AND asset = (SELECT asset FROM postings WHERE id = :p)) WHERE id = :p",
    "entry_id": "UPDATE postings SET entry_id = :other WHERE id = :p",
    "deleted": "DELETE FROM postings WHERE id = :p",
    "business_day": "UPDATE postings SET business_day = '2000-01-01' WHERE id = :p",
    "added": "INSERT INTO postings (entry_id, account_id, asset, amount, business_day) "
    "SELECT entry_id, account_id, asset, 1, business_day FROM postings WHERE id = :p",
}


@pytest.mark.parametrize("edit", POSTING_EDITS)
def test_any_changed_posting_is_named(engine: Engine, edit: str) -> None:
    _populated(engine)
    entry = _middle_entry(engine)
    with engine.connect() as conn:
        posting, account = conn.execute(
            text("SELECT id, account_id FROM postings WHERE entry_id = :e ORDER BY id LIMIT 1"),
            {"e": entry["id"]},
        ).one()
        last = int(conn.execute(text("SELECT max(id) FROM journal_entries")).scalar_one())
    _tamper(engine, POSTING_EDITS[edit], p=posting, a=account, other=last)
    report = _run(engine)
    assert not report["ok"]
    # a posting moved to a later entry spoils both; the earlier one is named first
    assert report["first_bad_entry"] == entry["id"], report
