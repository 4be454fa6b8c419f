"""Alembic environment: the schema is sharebuy's metadata, the URL sharebuy's setting."""

from __future__ import annotations

from alembic import context

from sharebuy.db.engine import make_engine
from sharebuy.db.schema import metadata

config = context.config


def run_migrations_offline() -> None:
    from sharebuy.db.engine import database_url, normalise_url

    context.configure(url=normalise_url(database_url()), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine()
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
