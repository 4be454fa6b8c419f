"""`sharebuy db partitions` and `db partition-journal` from the command line.

Converting a database is tested in tests/integration/test_journal_partitions.py, in a schema of
its own: here the PostgreSQL database is shared with the other tests and stays unpartitioned.
"""

from __future__ import annotations

from sqlalchemy import Engine

from tests.cli.harness import Cli


def test_partitions_on_a_plain_journal_create_nothing(cli: Cli) -> None:
    cli.init()
    found = cli.ok("db", "partitions", "--ahead", "2")
    assert found["partitioned"] is False
    assert found["created"] == [] and found["partitions"] == []


def test_partition_journal_is_postgresql_only(cli: Cli, engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        return  # converting the shared test database would change it under the other tests
    cli.init()
    cli.refused("db", "partition-journal", code="postgresql_only")
    assert cli.ok("db", "partitions")["partitioned"] is False
