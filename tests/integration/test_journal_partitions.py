"""The journal partitioned by month (PostgreSQL): the same code writes into monthly partitions,
rows land in their month, verify passes and still names a hand edit made inside a partition.

The partitioned journal lives in a schema of its own in the test database, so the other tests
keep the plain (unpartitioned) schema they were migrated with.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError

from sharebuy.db import migrate
from sharebuy.db.engine import make_engine
from sharebuy.db.uow import UnitOfWork
from sharebuy.kernel import caches
from sharebuy.kernel.errors import Refused
from sharebuy.ledger import partitions
from sharebuy.ledger.models import entries
from sharebuy.ledger.service import seal_pending
from sharebuy.ledger.verify import verify
from sharebuy.market import service as market
from sharebuy.rewards import checks, purchase_service, settlement_service
from tests.integration.market_world import Clock, trader
from tests.integration.world import START, at, build

SCHEMA = "journal_partitioned"
MARCH, APRIL = date(2025, 3, 28), date(2025, 4, 2)


@pytest.fixture
def partitioned(pg_engine: Engine) -> Iterator[Engine]:
    with pg_engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    # The search path in the URL: a URL of its own also keeps per-database caches apart.
    url = pg_engine.url.update_query_dict({"options": f"-csearch_path={SCHEMA}"})
    engine = make_engine(url.render_as_string(hide_password=False))
    caches.clear()
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
    caches.clear()
    with pg_engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {SCHEMA} CASCADE"))


def _rows_by_partition(engine: Engine, table: str) -> dict[str, set[date]]:
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT tableoid::regclass::text, business_day FROM {table}")).all()
    found: dict[str, set[date]] = {}
    for partition, day in rows:
        found.setdefault(partition.split(".")[-1], set()).add(day)
    return found


def _verified(engine: Engine) -> dict[str, object]:
    seal_pending(engine, wait=True)
    report = verify(engine, checks.CHECKS).as_dict()
    assert report["ok"], report
    return report


@pytest.mark.postgres
def test_a_partitioned_journal_across_two_months(partitioned: Engine) -> None:
    engine = partitioned
    world = build(engine, consumers=2)
    converted = partitions.convert(engine, START, ahead=1)
    assert converted["converted"] and converted["rows"]["journal_entries"] >= 1
    # Every other table's reference to an entry (purchases, dividends, collectibles, ...) is
    # dropped and left to verify's entry_references_exist, which reads the same metadata.
    assert sorted(converted["foreign_keys_dropped"]) == sorted(
        f"{fk.parent.table.name}.fk_{fk.parent.table.name}_{fk.parent.name}_journal_entries"
        for table in entries.metadata.tables.values()
        for fk in table.foreign_keys
        if fk.column is entries.c.id and table.name not in ("journal_entries", "postings")
    )
    assert "purchases.fk_purchases_entry_id_journal_entries" in converted["foreign_keys_dropped"]
    # from the first entry's month to the last one's (the setup above runs on today's date) + 1
    status = partitions.status(engine)
    assert status["partitions"][:4] == [
        "journal_entries_2025_03",
        "postings_2025_03",
        "journal_entries_2025_04",
        "postings_2025_04",
    ]
    assert status["months"] * 2 == len(status["partitions"])
    again = partitions.convert(engine, START, ahead=1)
    assert not again["converted"] and again["created"] == []

    # purchases and a refund in two months, every day up to April 2 settled
    first, second = world.consumers
    march = world.buy(first, "200", MARCH)
    world.buy(second, "100", MARCH)
    april = world.buy(second, "300", APRIL)
    purchase_service.refund_purchase(engine, march.id, at=at(APRIL))
    reports = settlement_service.settle(engine, through=APRIL, now=at(date(2025, 4, 3), 1))
    assert reports[-1].date == APRIL and reports[-1].holders > 0
    # the settlement made sure the coming months exist (April 3 + 3 months: through July)
    assert {"journal_entries_2025_07", "postings_2025_07"} <= set(partitions.status(engine)["partitions"])

    # a market trade in April
    clock = Clock(at(date(2025, 4, 3), 10))
    seller = trader(engine, now=clock(), points="50")
    buyer = trader(engine, now=clock())
    listing = market.create_listing(
        engine, seller, quantity="10", price="2", actor="t", now=clock(), payment_kinds=["alipay"]
    )
    trade = market.take_listing(engine, buyer, int(listing["id"]), "4", actor="t", now=clock())
    market.mark_paid(engine, trade["id"], buyer, "ALIPAY-1", actor="t", now=clock.advance(minutes=2))
    done = market.confirm(engine, trade["id"], seller, actor="t", now=clock.advance(minutes=2))
    assert done["status"] == "completed"

    report = _verified(engine)
    assert report["checks"]["entry_references_exist"] == {"ok": True}  # type: ignore[index]

    # every row sits in the partition of its own month, and both months hold rows
    for table in partitions.TABLES:
        found = _rows_by_partition(engine, table)
        for partition, days in found.items():
            assert {partitions.partition_name(table, d.replace(day=1)) for d in days} == {partition}
        assert {f"{table}_2025_03", f"{table}_2025_04"} <= set(found)
    with engine.connect() as conn:
        purchase_entry = conn.execute(
            text(
                "SELECT tableoid::regclass::text FROM journal_entries "
                "WHERE id = (SELECT entry_id FROM purchases WHERE id = :p)"
            ),
            {"p": april.id},
        ).scalar_one()
    assert purchase_entry == "journal_entries_2025_04"

    # I5 across months: a key used in March is refused in April, by the database
    with engine.connect() as conn:
        key = conn.execute(
            select(entries.c.idempotency_key)
            .where(entries.c.idempotency_key.is_not(None), entries.c.business_day < APRIL)
            .limit(1)
        ).scalar_one()
    with pytest.raises(IntegrityError), UnitOfWork(engine) as uow:
        uow.c.execute(
            entries.insert().values(
                kind="test",
                business_day=APRIL,
                reference="dup",
                reason="a key used twice",
                actor="test",
                idempotency_key=key,
                created_at=datetime.now(UTC),
            )
        )

    # a hand edit inside a partition is still named by verify
    with engine.connect() as conn:
        posting, entry_id = conn.execute(
            text("SELECT id, entry_id FROM postings_2025_04 ORDER BY id LIMIT 1")
        ).one()
    with engine.begin() as conn:
        conn.execute(text("UPDATE postings_2025_04 SET amount = amount * 2 WHERE id = :p"), {"p": posting})
    tampered = verify(engine, checks.CHECKS).as_dict()
    assert not tampered["ok"] and tampered["first_bad_entry"] == entry_id, tampered


@pytest.mark.postgres
def test_a_reason_edited_in_a_march_partition_is_named(partitioned: Engine) -> None:
    world = build(partitioned, consumers=1)
    partitions.convert(partitioned, START, ahead=1)
    world.buy(world.consumers[0], "100", MARCH)
    _verified(partitioned)
    with partitioned.begin() as conn:
        entry_id = conn.execute(
            text("SELECT max(id) FROM journal_entries_2025_03 WHERE kind <> 'genesis'")
        ).scalar_one()
        conn.execute(
            text("UPDATE journal_entries_2025_03 SET reason = 'edited' WHERE id = :e"), {"e": entry_id}
        )
    report = verify(partitioned, checks.CHECKS).as_dict()
    assert not report["ok"] and report["first_bad_entry"] == entry_id, report


def test_partitioning_is_refused_on_sqlite_and_idle_on_a_plain_journal(engine: Engine) -> None:
    build(engine, consumers=0)
    assert partitions.status(engine)["partitioned"] is False
    assert partitions.ensure_ahead(engine, START) == []
    if engine.dialect.name == "sqlite":
        with pytest.raises(Refused) as refused:
            partitions.convert(engine, START)
        assert refused.value.code == "postgresql_only"


def test_month_arithmetic() -> None:
    assert partitions.add_months(date(2025, 11, 15), 3) == date(2026, 2, 1)
    assert partitions.add_months(date(2025, 1, 31), -1) == date(2024, 12, 1)
    assert partitions.partition_name("postings", date(2026, 2, 1)) == "postings_2026_02"
