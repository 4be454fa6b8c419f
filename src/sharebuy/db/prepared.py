"""Statements of the hottest paths, compiled once per dialect and run on the driver's cursor.

`Connection.execute` spends some 18 µs of Python per statement (compiled-cache lookup, execution
context, result wrapping) around a SQLite statement that itself takes 2 µs: on the purchase path
that was most of a purchase's cost.  A `Prepared` statement is still written with SQLAlchemy Core
(one text for both databases); it is compiled once per dialect and key set, and each execution
only converts the parameters with the column types' own processors, runs the driver's cursor and
converts the result columns back.  It runs inside the connection's transaction like any other
statement.  Driver errors come back as SQLAlchemy's exceptions (`IntegrityError`,
`OperationalError`, ...) as `Connection.execute` raises them, a lost connection is invalidated,
and `before_cursor_execute` listeners still see every statement.

Not for every statement: only for those with fixed parameters (no expanding IN lists) on paths
where the overhead matters.  A `text()` statement that returns rows must name them with
`.columns(...)`: rows of a statement that declares no columns are not fetched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, NoReturn

from sqlalchemy import Connection, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ClauseElement

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Form:
    sql: str
    positional: bool
    names: tuple[str, ...]  # parameter names, in order for positional drivers
    defaults: Mapping[str, Any]  # values fixed in the statement (literals bound as parameters)
    binds: tuple[tuple[str, Processor], ...]  # names with a processor to apply
    keys: tuple[str, ...]  # result column names
    results: tuple[Processor, ...] | None  # per result column, None when no column needs one
    # The positional values in order, in one C call (a generator was a tenth of a purchase's
    # Python on SQLite, where every statement is positional).
    ordered: Callable[[Mapping[str, Any]], Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = self.names
        if not names:
            ordered: Callable[[Mapping[str, Any]], Any] = lambda _values: ()  # noqa: E731
        elif len(names) == 1:
            ordered = lambda values: (values[names[0]],)  # noqa: E731
        else:
            ordered = itemgetter(*names)
        object.__setattr__(self, "ordered", ordered)

    def parameters(self, given: Mapping[str, Any]) -> Any:
        if self.defaults:
            values = {**self.defaults, **given}
        elif self.binds or not self.positional:
            values = dict(given)
        else:
            return self.ordered(given)  # nothing to add or convert: no copy
        for name, process in self.binds:
            values[name] = process(values[name])  # type: ignore[misc]
        return self.ordered(values) if self.positional else values


class Rows:
    """The rows a prepared statement returned, already converted to Python values."""

    __slots__ = ("keys", "rows")

    def __init__(self, keys: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        self.keys = keys
        self.rows = rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)

    def first(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def mappings(self) -> list[dict[str, Any]]:
        """Every row by column name."""
        return [dict(zip(self.keys, row, strict=True)) for row in self.rows]

    def mapping(self) -> dict[str, Any] | None:
        """The first row by column name, or None."""
        return dict(zip(self.keys, self.rows[0], strict=True)) if self.rows else None

    def scalar_one(self) -> Any:
        if len(self.rows) != 1:
            raise exc.NoResultFound("no row") if not self.rows else exc.MultipleResultsFound("rows")
        return self.rows[0][0]


class Prepared:
    """One Core statement; `run` and `run_many` execute it on a connection's driver cursor."""

    __slots__ = ("_forms", "statement")

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._forms: dict[tuple[str, frozenset[str] | None], _Form] = {}

    def run(self, conn: Connection, params: Mapping[str, Any] | None = None, *, insert: bool = False) -> Rows:
        """Execute once.  `insert` compiles an INSERT for exactly the keys given, so columns
        left out take their defaults (the keys must then be the same on every call site)."""
        given = params or {}
        form = self._form(conn.dialect, frozenset(given) if insert else None)
        return _execute(conn, form, form.parameters(given), many=False)

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]], *, insert: bool = False) -> None:
        """Execute once per parameter set, in one driver call (no rows come back)."""
        if not rows:
            return
        form = self._form(conn.dialect, frozenset(rows[0]) if insert else None)
        _execute(conn, form, [form.parameters(r) for r in rows], many=True)

    def _form(self, dialect: Dialect, keys: frozenset[str] | None) -> _Form:
        slot = (dialect.name, keys)
        form = self._forms.get(slot)
        if form is None:
            form = self._forms[slot] = _compile(self.statement, dialect, keys)
        return form


def _compile(statement: ClauseElement, dialect: Dialect, keys: frozenset[str] | None) -> _Form:
    compiled: Any = statement.compile(dialect=dialect, column_keys=sorted(keys) if keys else None)
    if compiled.literal_execute_params or compiled.post_compile_params:
        raise ValueError("a prepared statement cannot expand parameters at execution time")
    defaults: dict[str, Any] = {}
    binds: list[tuple[str, Processor]] = []
    for bind, name in compiled.bind_names.items():
        if not bind.required and name not in defaults:
            defaults[name] = bind.effective_value
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None and all(name != n for n, _ in binds):
            binds.append((name, process))
    positional = bool(compiled.positional)
    names = tuple(compiled.positiontup) if positional else tuple(compiled.bind_names.values())
    columns = list(getattr(statement, "selected_columns", None) or getattr(statement, "exported_columns", []))
    results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
    return _Form(
        sql=compiled.string,
        positional=positional,
        names=names,
        defaults=defaults,
        binds=tuple(binds),
        keys=tuple(str(c.key) for c in columns),
        results=results if any(results) else None,
    )


def _execute(conn: Connection, form: _Form, params: Any, *, many: bool) -> Rows:
    fairy = conn.connection
    cursor = fairy.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        listeners = conn.dispatch.before_cursor_execute
        if listeners:
            for listener in listeners:
                listener(conn, cursor, form.sql, params, None, many)
        if many:
            cursor.executemany(form.sql, params)
            return Rows(form.keys, [])
        cursor.execute(form.sql, params)
        # The statement's own columns say whether rows come back: psycopg builds a new
        # `description` on every access, some 40 µs for a wide row.
        fetched = list(cursor.fetchall()) if form.keys else []
    except conn.dialect.loaded_dbapi.Error as error:
        _raise(conn, form, params, error, cursor)
    finally:
        cursor.close()
    if form.results is None:
        return Rows(form.keys, fetched)
    processors = form.results
    return Rows(
        form.keys,
        [tuple(p(v) if p else v for p, v in zip(processors, row, strict=True)) for row in fetched],
    )


def _raise(conn: Connection, form: _Form, params: Any, error: Any, cursor: Any) -> NoReturn:
    dialect = conn.dialect
    lost = dialect.is_disconnect(error, conn.connection.dbapi_connection, cursor)
    if lost:
        conn.invalidate(error)
    raise exc.DBAPIError.instance(
        form.sql,
        params,
        error,
        dialect.loaded_dbapi.Error,
        connection_invalidated=lost,
        dialect=dialect,
    ) from error
