"""The migrations build the schema the models describe, on both databases: a table, column, type,
index or constraint changed in one place and not the other would pass every other test.  (Alembic
compares an index's columns, not a partial index's WHERE clause.)"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from sharebuy.db.schema import metadata


def test_migrated_database_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []
