"""Database plumbing: engine, unit of work, column types. One code path for SQLite and PostgreSQL."""
