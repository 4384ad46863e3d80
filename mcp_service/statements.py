"""Core statements for the per-call hot path, run straight on pysqlite's cursor.

Every tool call runs one SELECT and (alone or in a group commit) one INSERT and
two UPDATEs. Through `Connection.execute`, SQLAlchemy's per-execution work —
cache-key lookup, parameter bookkeeping, events, result wrapping — costs about
25 µs a statement, five times what SQLite itself takes, and it holds the GIL
the event loop needs. A `Prepared` statement is compiled once per dialect by
SQLAlchemy and, on a pysqlite connection, executed on the DBAPI cursor; values
still go through each column type's own bind and result processors
(`TypeEngine.dialect_impl(dialect).bind_processor(dialect)`, what Core applies),
so a row is stored and read exactly as `Connection.execute` would. On any
other driver `Prepared` simply calls `Connection.execute`: one statement
definition, one caller, whatever the engine.

Statements run this way bypass SQLAlchemy's logging (`MCP_ECHO_SQL`) and events.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Insert, Update
from sqlalchemy.sql.selectable import Select

_FAST_DRIVER = "pysqlite"

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    # Per positional parameter: (name of a caller's value, processor) or (None, constant).
    binds: tuple[tuple[str | None, Any], ...]
    results: tuple[Processor, ...]


class Prepared:
    """A Core statement and its compiled forms, one per dialect."""

    def __init__(
        self, statement: Select[Any] | Insert | Update, *, column_keys: Sequence[str] | None = None
    ) -> None:
        self.statement = statement
        self._column_keys = list(column_keys) if column_keys is not None else None
        # Filled on first use; threads racing here compute the same value.
        self._by_dialect: dict[tuple[str, str], _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        key = (dialect.name, dialect.driver)
        found = self._by_dialect.get(key)
        if found is None:
            found = self._by_dialect[key] = self._compile(dialect)
        return found

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect, column_keys=self._column_keys)
        if not compiled.positional or compiled.positiontup is None:
            raise ValueError(f"{dialect.name} does not use positional parameters")
        binds: list[tuple[str | None, Any]] = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if bind.required:
                binds.append((name, process))
            else:  # a literal in the statement, such as status = 'open'
                value = bind.effective_value
                binds.append((None, process(value) if process else value))
        results: tuple[Processor, ...] = ()
        if isinstance(self.statement, Select):
            results = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in self.statement.selected_columns
            )
        return _Compiled(compiled.string, tuple(binds), results)

    def _parameters(self, compiled: _Compiled, values: Mapping[str, Any]) -> tuple[Any, ...]:
        out = []
        for name, process in compiled.binds:
            if name is None:
                out.append(process)  # the constant, processed once
            else:
                value = values[name]
                # None goes through too: JSON stores it as 'null', as Core does.
                out.append(process(value) if process is not None else value)
        return tuple(out)

    def execute_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per row (one executemany)."""
        if conn.dialect.driver != _FAST_DRIVER:
            conn.execute(self.statement, list(rows))
            return
        compiled = self._compiled(conn.dialect)
        parameters = [self._parameters(compiled, row) for row in rows]
        with _cursor(conn, compiled.sql) as cursor:
            cursor.executemany(compiled.sql, parameters)

    def first(self, conn: Connection, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row of a SELECT, its values converted by the column types, or None."""
        if conn.dialect.driver != _FAST_DRIVER:
            row = conn.execute(self.statement, dict(values)).first()
            return None if row is None else tuple(row)
        compiled = self._compiled(conn.dialect)
        with _cursor(conn, compiled.sql) as cursor:
            raw = cursor.execute(compiled.sql, self._parameters(compiled, values)).fetchone()
        if raw is None:
            return None
        return tuple(
            process(value) if process is not None else value
            for process, value in zip(compiled.results, raw, strict=True)
        )


@contextlib.contextmanager
def _cursor(conn: Connection, sql: str) -> Iterator[Any]:
    """A DBAPI cursor, closed after use; driver errors are raised as SQLAlchemy's.

    Wrapped the way `Connection.execute` wraps them (`sqlalchemy.exc.OperationalError`,
    `IntegrityError`, …, with the driver's error as `.orig`), so callers catch one
    family of errors whichever path ran. Parameters are left out of the message.
    """
    dialect = conn.dialect
    base = dialect.loaded_dbapi.Error
    cursor = conn.connection.cursor()  # the pool's proxy: the driver's own cursor
    try:
        yield cursor
    except base as exc:
        raise DBAPIError.instance(
            sql, None, exc, base, hide_parameters=True, dialect=dialect
        ) from exc
    finally:
        cursor.close()
