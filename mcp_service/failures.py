"""Failures described without their internals: for clients, for logs, for execution rows.

A database error's text carries the statement, sometimes its values (a key id, a
client's input) and a documentation URL; a driver's message can name tables and
columns. None of that may reach a client or a log line. `describe_failure` says
what happened in the service's own words (the database is full, busy,
unreachable) plus the exception's class; `SafeFormatter` applies the same rule to
every traceback a log handler prints.
"""

from __future__ import annotations

import logging
import sqlite3
import traceback
from types import TracebackType

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

# SQLite primary result codes (sqlite3 exposes them from Python 3.11).
_SQLITE_WORDS = {
    sqlite3.SQLITE_FULL: "the database is full",
    sqlite3.SQLITE_BUSY: "the database is busy",
    sqlite3.SQLITE_LOCKED: "the database is busy",
    sqlite3.SQLITE_INTERRUPT: "the statement was stopped",
    sqlite3.SQLITE_CORRUPT: "the database file is damaged",
    sqlite3.SQLITE_NOTADB: "the database file is damaged",
    sqlite3.SQLITE_IOERR: "the database file cannot be read or written",
    sqlite3.SQLITE_CANTOPEN: "the database file cannot be opened",
    sqlite3.SQLITE_READONLY: "the database is read-only",
    sqlite3.SQLITE_CONSTRAINT: "a database constraint was violated",
}
# PostgreSQL SQLSTATE classes and codes.
_SQLSTATE_WORDS = {
    "57014": "the statement ran out of time",
    "53100": "the database is full",
    "40001": "the database could not serialize the transaction",
    "40P01": "the database detected a deadlock",
    "23": "a database constraint was violated",
    "08": "the database connection was lost",
    "57P": "the database is shutting down",
    "53": "the database is out of resources",
}
# The modules whose exceptions describe database internals.
_DATABASE_MODULES = ("sqlalchemy", "sqlite3", "aiosqlite", "asyncpg", "psycopg")
_MESSAGE_LIMIT = 200


def is_database_error(exc: BaseException) -> bool:
    module = type(exc).__module__ or ""
    return isinstance(exc, SQLAlchemyError | sqlite3.Error) or module.startswith(_DATABASE_MODULES)


def database_words(exc: BaseException) -> str:
    """What a database error means, in the service's own words."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in _SQLITE_WORDS:
            return _SQLITE_WORDS[code & 0xFF]
    sqlstate = _sqlstate(orig)
    if sqlstate:
        for prefix in (sqlstate, sqlstate[:3], sqlstate[:2]):
            if prefix in _SQLSTATE_WORDS:
                return _SQLSTATE_WORDS[prefix]
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return "the database connection was lost"
    if isinstance(orig, ConnectionError | OSError):
        return "the database cannot be reached"
    return "a database error occurred"


def _sqlstate(exc: object) -> str:
    """asyncpg and psycopg both name it `sqlstate` (asyncpg through SQLAlchemy's adapter too)."""
    for candidate in (exc, getattr(exc, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(state, str) and state:
            return state
    return ""


def describe_failure(exc: BaseException) -> str:
    """One line for a client or a log: never SQL, parameters, driver text or URLs."""
    if is_database_error(exc):
        return f"{database_words(exc)} ({type(exc).__name__})"
    text = str(exc).splitlines()[0] if str(exc) else ""
    if len(text) > _MESSAGE_LIMIT:
        text = text[:_MESSAGE_LIMIT] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class SafeFormatter(logging.Formatter):
    """A formatter whose tracebacks keep their frames but lose database error text.

    Frames show source lines, never values; an exception message is where SQL
    and parameters would appear, so a database exception's message (and each
    one chained to it) is replaced by `describe_failure`.
    """

    def formatException(
        self,
        ei: tuple[type[BaseException], BaseException, TracebackType | None]
        | tuple[None, None, None],
    ) -> str:
        _type, value, tb = ei
        if value is None:
            return ""
        return "".join(_safe_lines(value, tb, set())).rstrip("\n")


def _safe_lines(exc: BaseException, tb: TracebackType | None, seen: set[int]) -> list[str]:
    seen.add(id(exc))
    lines: list[str] = []
    chained = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if chained is not None and id(chained) not in seen:
        lines += _safe_lines(chained, chained.__traceback__, seen)
        lines.append("\nThe above exception led to the next one:\n\n")
    lines.append("Traceback (most recent call last):\n")
    lines += traceback.format_tb(tb)
    if is_database_error(exc):
        lines.append(f"{type(exc).__module__}.{describe_failure(exc)}\n")
    else:
        lines += traceback.format_exception_only(type(exc), exc)
    return lines
