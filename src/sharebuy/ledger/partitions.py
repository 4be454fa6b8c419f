"""The journal partitioned by month on PostgreSQL (`sharebuy db partition-journal`, opt-in).

journal_entries and postings are the two tables that grow without bound.  Partitioned by RANGE
on business_day, one partition per calendar month, old months can be detached and archived
without a DELETE, and the daily queries that filter on a day range read only their months.

The application code is the same on a partitioned and a plain journal (and on SQLite, which
stays unpartitioned); what PostgreSQL's rules for partitioned tables force is kept here:

- a primary key or unique constraint must contain the partition key: the keys become
  (id, business_day).  Ids still come from one sequence, so they stay unique in practice;
- the idempotency key must stay unique across all months (I5: a second use fails at the
  database).  A unique index per partition cannot promise that, so the keys are also kept in
  journal_entry_keys, a small unpartitioned table with the key as its primary key, filled by a
  trigger in the inserting transaction: a duplicate still aborts it with an IntegrityError;
- the chain position `seq` loses its unique constraint: only the sealer writes it, under the
  lock on the chain head, and verify's I7 check names any gap or repeat;
- a foreign key to a partitioned table must name its whole key: postings carry their entry's
  business_day (migration 0008) and refer to (id, business_day).  Other tables that name an
  entry (purchases.entry_id, journal_entries.reverses_id, ...) lose their foreign key: verify's
  entry_references_exist check takes its place;
- a row whose month has no partition is refused, so months are created ahead of time
  (`ensure_ahead`: by the command, and by every settlement for the months to come).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, text

from sharebuy.db.uow import UnitOfWork
from sharebuy.kernel.errors import Refused

TABLES = ("journal_entries", "postings")
KEYS_TABLE = "journal_entry_keys"
DEFAULT_AHEAD = 3  # months created beyond the current one

_BOUND = re.compile(r"FROM \('(\d{4}-\d{2}-\d{2})'\) TO \('(\d{4}-\d{2}-\d{2})'\)")


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def partition_name(table: str, month: date) -> str:
    return f"{table}_{month.year:04d}_{month.month:02d}"


def is_partitioned(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    found = conn.execute(
        text(
            "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "WHERE c.oid = to_regclass('journal_entries')"
        )
    ).first()
    return found is not None


def partitions(conn: Connection) -> list[dict[str, Any]]:
    """The attached monthly partitions of both tables, oldest first, with their bounds."""
    if not is_partitioned(conn):
        return []
    rows = conn.execute(
        text(
            "SELECT parent.relname, child.relname, pg_get_expr(child.relpartbound, child.oid) "
            "FROM pg_inherits i JOIN pg_class parent ON parent.oid = i.inhparent "
            "JOIN pg_class child ON child.oid = i.inhrelid "
            "WHERE i.inhparent IN (to_regclass('journal_entries'), to_regclass('postings'))"
        )
    ).all()
    found = []
    for parent, child, bound in rows:
        match = _BOUND.search(str(bound))
        if match is None:
            continue  # not a monthly range (a DEFAULT partition made by hand): listed nowhere
        found.append(
            {
                "table": str(parent),
                "partition": str(child),
                "from": date.fromisoformat(match.group(1)),
                "to": date.fromisoformat(match.group(2)),
            }
        )
    return sorted(found, key=lambda p: (p["from"], p["table"]))


def _missing_months(conn: Connection, first: date, last: date) -> list[tuple[str, date]]:
    have = {(p["table"], p["from"]) for p in partitions(conn)}
    wanted = []
    month = month_start(first)
    while month <= month_start(last):
        wanted += [(table, month) for table in TABLES if (table, month) not in have]
        month = add_months(month, 1)
    return wanted


def _create(conn: Connection, table: str, month: date) -> str:
    name = partition_name(table, month)
    conn.exec_driver_sql(
        f"CREATE TABLE {name} PARTITION OF {table} "
        f"FOR VALUES FROM ('{month.isoformat()}') TO ('{add_months(month, 1).isoformat()}')"
    )
    return name


def ensure_months(conn: Connection, first: date, last: date) -> list[str]:
    """Create the partitions of every month from `first` to `last` that does not have one yet.

    Creating a partition takes a lock on the parent table that waits for every transaction
    using it, so nothing is done (not even a lock asked for) when every month exists already.
    """
    return [_create(conn, table, month) for table, month in _missing_months(conn, first, last)]


def ensure_ahead(engine: Engine, today: date, ahead: int = DEFAULT_AHEAD) -> list[str]:
    """On a partitioned journal: the current month and the `ahead` after it exist. Else nothing.

    In its own short transaction with a lock timeout: a long report holding the parent would
    otherwise queue every purchase behind this DDL.  A missed run is harmless while a month
    remains ahead, and the next settlement tries again.
    """
    with UnitOfWork(engine) as uow:
        if not is_partitioned(uow.c):
            return []
        uow.c.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
        created = ensure_months(uow.c, today, add_months(today, ahead))
        uow.commit()
    return created


def _foreign_keys_to_entries(conn: Connection) -> list[tuple[str, str]]:
    rows = conn.execute(
        text(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint "
            "WHERE contype = 'f' AND confrelid = to_regclass('journal_entries') ORDER BY 1, 2"
        )
    ).all()
    return [(str(table), str(name)) for table, name in rows]


_KEY_TRIGGER = f"""
CREATE FUNCTION journal_entry_keys_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.idempotency_key IS NOT NULL THEN
        DELETE FROM {KEYS_TABLE} WHERE idempotency_key = OLD.idempotency_key AND entry_id = OLD.id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.idempotency_key IS NOT NULL THEN
        INSERT INTO {KEYS_TABLE} (idempotency_key, entry_id, business_day)
        VALUES (NEW.idempotency_key, NEW.id, NEW.business_day);
    END IF;
    RETURN NULL;
END $$
"""
_KEY_TRIGGER_ON = """
CREATE TRIGGER journal_entry_keys_sync
    AFTER INSERT OR DELETE OR UPDATE OF idempotency_key, id, business_day ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION journal_entry_keys_sync()
"""


def partition_journal(
    conn: Connection, today: date, ahead: int = DEFAULT_AHEAD, since: date | None = None
) -> dict[str, Any]:
    """Turn journal_entries and postings into monthly partitioned tables, in this transaction.

    Every row is copied once, under an exclusive lock on both tables: nothing can write the
    journal meanwhile (plan a maintenance window; the copy runs at COPY-like speed).  Running
    it again on a partitioned journal only adds missing months.  Months start at the first
    entry's, or at `since` when that is earlier (a journal partitioned before `init` whose
    start day lies in the past).
    """
    if conn.dialect.name != "postgresql":
        raise Refused(
            "postgresql_only",
            "日记账分区仅支持 PostgreSQL（SQLite 不分区）",
            "partitioning the journal needs PostgreSQL (SQLite stays unpartitioned)",
        )
    if is_partitioned(conn):
        created = ensure_months(conn, min(today, since or today), add_months(today, ahead))
        return {"partitioned": True, "converted": False, "created": created, "rows": {}}
    conn.exec_driver_sql("LOCK TABLE journal_entries, postings IN ACCESS EXCLUSIVE MODE")
    dropped = _foreign_keys_to_entries(conn)
    for table, name in dropped:
        conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    span = conn.execute(text("SELECT min(business_day), max(business_day) FROM journal_entries")).one()
    first = min(span[0] or today, since or today)
    last = add_months(max(today, span[1] or today), ahead)
    for table in TABLES:
        # LIKE keeps the columns in order, their defaults (the id sequences) and CHECKs.
        conn.exec_driver_sql(
            f"CREATE TABLE {table}_partitioned (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
            "PARTITION BY RANGE (business_day)"
        )
    month = month_start(first)
    while month <= month_start(last):
        for table in TABLES:
            name = partition_name(table, month)
            conn.exec_driver_sql(
                f"CREATE TABLE {name} PARTITION OF {table}_partitioned "
                f"FOR VALUES FROM ('{month.isoformat()}') TO ('{add_months(month, 1).isoformat()}')"
            )
        month = add_months(month, 1)
    rows = {}
    for table in TABLES:
        rows[table] = conn.exec_driver_sql(f"INSERT INTO {table}_partitioned SELECT * FROM {table}").rowcount
        conn.exec_driver_sql(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}_partitioned.id")
    conn.exec_driver_sql("DROP TABLE postings")
    conn.exec_driver_sql("DROP TABLE journal_entries")
    for table in TABLES:
        conn.exec_driver_sql(f"ALTER TABLE {table}_partitioned RENAME TO {table}")
    # Indexes after the copy: one sort per index instead of a btree insert per row.
    for statement in (
        "ALTER TABLE journal_entries ADD CONSTRAINT pk_journal_entries PRIMARY KEY (id, business_day)",
        "CREATE INDEX ix_journal_entries_day ON journal_entries (business_day)",
        "CREATE INDEX ix_journal_entries_unsealed ON journal_entries (id) WHERE seq IS NULL",
        # entry_by_key looks a key up in every month: one small index probe per partition.
        "CREATE INDEX ix_journal_entries_idempotency_key ON journal_entries (idempotency_key)",
        "ALTER TABLE postings ADD CONSTRAINT pk_postings PRIMARY KEY (id, business_day)",
        "CREATE INDEX ix_postings_entry ON postings (entry_id)",
        "CREATE INDEX ix_postings_account ON postings (account_id)",
        "ALTER TABLE postings ADD CONSTRAINT fk_postings_entry_id_journal_entries "
        "FOREIGN KEY (entry_id, business_day) REFERENCES journal_entries (id, business_day)",
        "ALTER TABLE postings ADD CONSTRAINT fk_postings_account_id_ledger_accounts "
        "FOREIGN KEY (account_id) REFERENCES ledger_accounts (id)",
        f"CREATE TABLE {KEYS_TABLE} (idempotency_key VARCHAR(160) PRIMARY KEY, "
        "entry_id BIGINT NOT NULL, business_day DATE NOT NULL)",
        f"INSERT INTO {KEYS_TABLE} (idempotency_key, entry_id, business_day) "
        "SELECT idempotency_key, id, business_day FROM journal_entries WHERE idempotency_key IS NOT NULL",
        _KEY_TRIGGER,
        _KEY_TRIGGER_ON,
        "ANALYZE journal_entries",
        "ANALYZE postings",
    ):
        conn.exec_driver_sql(statement)
    return {
        "partitioned": True,
        "converted": True,
        "created": [p["partition"] for p in partitions(conn)],
        "rows": rows,
        # Those of other tables, now guarded by verify (the journal's own are recreated above).
        "foreign_keys_dropped": [f"{table}.{name}" for table, name in dropped if table not in TABLES],
    }


def convert(
    engine: Engine, today: date, ahead: int = DEFAULT_AHEAD, since: date | None = None
) -> dict[str, Any]:
    """`partition_journal` in a transaction of its own: the whole copy commits or nothing does."""
    with UnitOfWork(engine) as uow:
        result = partition_journal(uow.c, today, ahead, since)
        uow.commit()
    return result


def status(engine: Engine) -> dict[str, Any]:
    with UnitOfWork(engine, readonly=True) as uow:
        found = partitions(uow.c)
        partitioned = is_partitioned(uow.c)
    months = sorted({p["from"] for p in found})
    return {
        "partitioned": partitioned,
        "months": len(months),
        "first": months[0] if months else None,
        "last": months[-1] if months else None,
        "partitions": [p["partition"] for p in found],
    }
