"""The async engine, its SQLite pragmas, and read/write transaction scopes.

SQLite allows one writer. Two connections that both read and then write under a
plain (deferred) BEGIN deadlock into "database is locked", so write scopes start
with BEGIN IMMEDIATE and take the write lock up front. Inside one process the
writers also queue on an asyncio lock, so they wait in order instead of in
SQLite's sleeping busy handler; busy_timeout covers writers in other processes.

The per-call work of the tool pipeline (one admission read, one batch of
execution rows) is written once, as plain sync functions of a SQLAlchemy
`Connection`, and run with `read_now` / `run_read` / `run_write`. On other
engines these run the function through the async engine with `run_sync`. On
SQLite they use pysqlite connections of their own, each used by one thread for
its whole life, because aiosqlite costs a thread hop per cursor operation (four
per statement, ~27 hops per tool call):

- writes run in one writer thread, one hop per batch, queued on the same
  asyncio lock as `write()`;
- `read_now` runs a point read on the event loop thread's own connection: a
  SELECT by primary key takes microseconds of SQLite time, less than a hop. That
  connection has busy_timeout 0, so it never sleeps on the loop: when SQLite is
  busy (WAL recovery, another process holding an exclusive lock) the read is
  retried in a reader thread, which waits with the configured busy_timeout;
- `run_read` runs any other read in a reader thread.

Reads on these connections send no BEGIN: one statement is one consistent
snapshot, and no connection keeps a snapshot open between calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool
from sqlalchemy.util import await_

from mcp_service import schema
from mcp_service.config import Settings
from mcp_service.deadlines import CURRENT, PROGRESS_STEPS, DeadlineCell
from mcp_service.errors import DatabaseUnavailableError, ValidationError
from mcp_service.failures import describe_failure
from mcp_service.retries import retrying
from mcp_service.sqlite_busy import enter_wal, is_busy

P = ParamSpec("P")
T = TypeVar("T")

_BEGIN_OPTION = "mcp_sqlite_begin"
# Reader threads send no BEGIN: each SELECT is its own consistent, implicit transaction,
# and nothing holds a read snapshot (or blocks a checkpoint) between calls.
_NO_BEGIN = "none"
# SQLite readers never block each other or the writer (WAL); a few threads are plenty
# for point lookups that release the GIL while SQLite works.
SQLITE_READER_THREADS = 2
# Commits on the loop's writer connection between two checkpoints by the writer thread.
CHECKPOINT_EVERY = 500
_DEADLINE_CELL = "mcp_deadline"

log = logging.getLogger(__name__)


def sqlite_file(database_url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other engines."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:" or url.database.startswith("file::memory"):
        raise ValidationError("in-memory SQLite is not supported: other processes cannot see it")
    return Path(url.database)


class FileIdentity:
    """The SQLite file a service opened, so it notices the file being deleted or replaced.

    A deleted file stays writable through the descriptors already open on it: a
    service would go on acknowledging writes that no later process can see. So
    every write transaction checks, once it has committed and before anyone is
    told, that the path still names the same file (device and inode, one stat,
    ~2 µs); once that fails, every later call fails too (before writing, on the
    aiosqlite path), and `on_lost` tells the server to stop.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._identity: tuple[int, int] | None = None
        self.lost = False
        self.on_lost: list[Callable[[], object]] = []

    def remember(self) -> None:
        st = os.stat(self.path)
        self._identity = (st.st_dev, st.st_ino)

    def check(self) -> None:
        if self._identity is None:
            return
        if not self.lost:
            try:
                st = os.stat(self.path)
                same = (st.st_dev, st.st_ino) == self._identity
            except OSError:
                same = False
            if same:
                return
            self.lost = True
            log.critical(
                "the database file %s was deleted or replaced while the service ran: "
                "refusing every call from now on",
                self.path,
            )
            for callback in self.on_lost:
                callback()
        raise DatabaseUnavailableError(
            "the service's database file was deleted or replaced; the service is stopping"
        )


class Database:
    """One engine and its session factories; create it inside the running event loop."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.database_url
        self.file = sqlite_file(self.url)
        self.is_sqlite = self.file is not None
        # hide_parameters: an error's text never carries a statement's values (key ids, input).
        options: dict[str, Any] = {
            "echo": settings.echo_sql,
            "pool_pre_ping": False,
            "hide_parameters": True,
        }
        self.identity: FileIdentity | None = None
        if self.file is not None:
            if not self.file.parent.is_dir():
                raise ValidationError(
                    f"the directory of the database file {self.file} does not exist"
                )
            self.identity = FileIdentity(self.file)
            options["connect_args"] = {"timeout": settings.sqlite_busy_timeout_ms / 1000}
        options["pool_size"] = settings.pool_size
        options["max_overflow"] = settings.pool_size
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        if self.is_sqlite:
            _configure_sqlite(self.engine.sync_engine, settings.sqlite_busy_timeout_ms)
            _stop_statements_at_deadline(self.engine.sync_engine)
            writer = self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        else:
            _time_out_statements_at_deadline(self.engine.sync_engine)
            writer = self.engine
        self._read = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write = async_sessionmaker(writer, expire_on_commit=False)
        self._write_lock = asyncio.Lock()
        self.dialect: str = self.engine.dialect.name
        self.has_fts = False  # set by prepare_schema: full-text search, not LIKE
        # Called after each committed write transaction (change_feed.py publishes them).
        self.on_commit: list[Callable[[], None]] = []
        self._threads: _SQLiteThreads | None = None
        if self.is_sqlite:
            self._threads = _SQLiteThreads(
                make_url(self.url).set(drivername="sqlite"), settings, self.identity
            )

    async def prepare_schema(self) -> None:
        """Refuse a database not at the schema head; migrate a new SQLite file first.

        See schema.py. The check is one read; only a new file takes the write
        lock, re-reads under it (another process may have just migrated it) and
        migrates.
        """
        async with self.engine.connect() as conn:
            state, has_fts5 = await conn.run_sync(_schema_and_fts5)
        if state.is_empty and self.is_sqlite:
            async with self._migration_scope() as conn:
                await conn.run_sync(_migrate_if_empty)
                state, has_fts5 = await conn.run_sync(_schema_and_fts5)
        if not state.is_current:
            raise schema.refusal(state, schema.describe(self.url))
        self.has_fts = not self.is_sqlite or has_fts5
        if self.identity is not None:
            self.identity.remember()

    async def migrate(self, target: str = "head") -> tuple[str | None, str | None]:
        """Bring the database to `target` (`mcp-service db upgrade`): (revision before, after)."""
        async with self._migration_scope() as conn:
            await conn.run_sync(schema.lock_for_migration)
            before = await conn.run_sync(schema.upgrade, target)
            after = (await conn.run_sync(schema.read_state)).revision
        return before, after

    async def schema_state(self) -> schema.SchemaState:
        async with self.engine.connect() as conn:
            return await conn.run_sync(schema.read_state)

    @contextlib.asynccontextmanager
    async def _migration_scope(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that holds the write lock (SQLite: BEGIN IMMEDIATE); commits on success."""
        engine = self.engine
        if self.is_sqlite:
            engine = engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        async with engine.begin() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; it takes no write lock.

        It connects on first use. One that never did has nothing to release, so
        it is dropped without `close()` (a greenlet round trip per tool call).
        """
        session = self._read()
        try:
            yield session
        except BaseException:
            await _abandon(session)
            raise
        open_work = session.in_transaction() or len(session.sync_session.identity_map)
        if open_work and await _see_through(session.close()):
            raise asyncio.CancelledError  # closed cleanly first (see _abandon)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that holds the write lock from its start; commits on success.

        Not retried: prefer `transaction`, which reruns a transaction PostgreSQL aborted.
        """
        lock = self._write_lock if self.identity is not None else contextlib.nullcontext()
        async with lock:
            if self.identity is not None:
                self.identity.check()
            session = self._write()
            try:
                await session.begin()
                yield session
                # Seen through to the end: a cancellation arriving during the commit or the
                # close is dropped, since what committed (the call's own row among it) stands,
                # and a "cancelled" row on top of it would count the call twice (see _abandon).
                await _see_through(session.commit())
            except BaseException as exc:
                await _abandon(session)
                if self.identity is not None and isinstance(exc, DBAPIError):
                    self.identity.check()  # a lost file is the error to report
                raise
            await _see_through(session.close())
            if self.identity is not None:
                self.identity.check()  # committed to the file others see, or not acknowledged
            self._committed()

    def _committed(self) -> None:
        for callback in self.on_commit:
            callback()

    async def transaction(
        self,
        fn: Callable[Concatenate[AsyncSession, P], Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`await fn(session, *args)` in one write transaction, committed before this returns.

        A transaction PostgreSQL aborts as a serialization failure or deadlock is
        rolled back and `fn` runs again from the start (retries.py), so `fn` must
        have no effect outside the session it is given.
        """

        async def attempt() -> T:
            async with self.write() as session:
                return await fn(session, *args, **kwargs)

        return await retrying(attempt)

    async def lift_deadline(self, session: AsyncSession) -> None:
        """The rest of `session`'s transaction runs without the deadline it began under."""
        if not session.in_transaction():
            return
        conn = await session.connection()
        if self.is_sqlite:
            cell = conn.info.get(_DEADLINE_CELL)
            if cell is not None:
                cell.deadline = None
        else:
            await conn.exec_driver_sql("SELECT set_config('statement_timeout', '0', true)")

    async def read_now(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(connection, *args)` for a short read: a few rows found through an index.

        On SQLite it runs on the event loop thread without waiting for any lock,
        falling back to `run_read` when SQLite is busy (see the module docstring).
        Statements run without BEGIN: read with one statement for one snapshot.
        """
        if self._threads is not None:
            return await self._threads.read_now(fn, *args, **kwargs)
        return await self.run_read(fn, *args, **kwargs)

    async def run_read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(connection, *args)` on a connection no other task is using; one thread hop on SQLite.

        On SQLite the statements run without BEGIN, so `fn` should read with one
        statement when it needs one consistent snapshot.
        """
        if self._threads is not None:
            return await self._threads.read(fn, *args, **kwargs)
        async with self.engine.connect() as conn:
            return await conn.run_sync(fn, *args, **kwargs)

    async def run_write(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(connection, *args)` in one write transaction, committed before this returns.

        On SQLite it queues on the same asyncio lock as `write()` and then runs in
        the writer thread under BEGIN IMMEDIATE. Elsewhere it is retried like
        `transaction`.
        """
        if self._threads is None:

            async def attempt() -> T:
                async with self.engine.begin() as conn:
                    return await conn.run_sync(fn, *args, **kwargs)

            result = await retrying(attempt)
        else:
            async with self._write_lock:
                result = await self._threads.write(fn, args, kwargs, inline=False)
        self._committed()
        return result

    async def run_small_write(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`run_write` for a transaction of a few rows: on SQLite it may commit on the loop.

        When SQLite's write lock is free it runs on the event loop thread (~0.1 ms
        of SQLite time, less than the two thread hops it saves); otherwise in the
        writer thread, as `run_write`. A larger batch belongs in `run_write`: the
        writer thread then works while the loop serves other calls.
        """
        if self._threads is None:
            return await self.run_write(fn, *args, **kwargs)
        async with self._write_lock:
            result = await self._threads.write(fn, args, kwargs, inline=True)
        self._committed()
        return result

    async def dispose(self) -> None:
        try:
            if self._threads is not None:
                await self._threads.close()
        finally:
            await self.engine.dispose()


class _SQLiteThreads:
    """Pysqlite connections for the writer thread, the reader threads and the loop thread.

    Each connection is used by one thread only (the loop's is opened for it by a
    reader thread, then never touched there again); `close()` closes them after
    every thread has finished. The loop thread's connection is used only by
    synchronous code between two awaits, so no two tasks ever share it.
    """

    def __init__(self, url: Any, settings: Settings, identity: FileIdentity | None) -> None:
        self._identity = identity
        self._engine: Engine = create_engine(
            url,
            echo=settings.echo_sql,
            hide_parameters=True,
            poolclass=NullPool,  # every connection is held by its thread until close()
            # Closed by close() from another thread, once the owner thread has exited.
            connect_args={
                "timeout": settings.sqlite_busy_timeout_ms / 1000,
                "check_same_thread": False,
            },
        )
        _configure_sqlite(self._engine, settings.sqlite_busy_timeout_ms)
        self._readers = ThreadPoolExecutor(SQLITE_READER_THREADS, "mcp-sqlite-reader")
        self._writer = ThreadPoolExecutor(1, "mcp-sqlite-writer")
        self._local = threading.local()
        self._opened: list[Connection] = []
        self._opened_lock = threading.Lock()
        self._loop_thread = threading.get_ident()
        self._inline: Connection | None = None
        self._inline_writer: Connection | None = None
        self._inline_commits = 0
        self._checkpoints: set[asyncio.Future[None]] = set()

    async def read_now(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if threading.get_ident() != self._loop_thread:
            return await self.read(fn, *args, **kwargs)
        conn = self._inline
        if conn is None:
            # Opened in a reader thread: connecting may wait for a lock; using it never does.
            loop = asyncio.get_running_loop()
            opened = await loop.run_in_executor(self._readers, self._open_inline)
            conn = self._inline = self._inline or opened
        try:
            return fn(conn, *args, **kwargs)
        except (OperationalError, sqlite3.OperationalError) as exc:
            if not _is_busy(exc):
                raise
        finally:
            conn.rollback()
        return await self.read(fn, *args, **kwargs)

    def _open_inline(self) -> Connection:
        conn = self._open(_NO_BEGIN)
        conn.exec_driver_sql("PRAGMA busy_timeout=0")  # a busy database fails at once
        conn.rollback()
        return conn

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read_job, fn, args, kwargs)

    async def write(
        self,
        fn: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        inline: bool,
    ) -> T:
        """`fn` in a write transaction in the writer thread; with `inline`, on the loop thread
        when SQLite's write lock is free at once.

        WAL with synchronous=NORMAL does not sync on commit, so a small
        transaction costs ~0.1 ms of SQLite time. The loop's writer connection
        never checkpoints (that could take milliseconds): the writer thread does,
        every CHECKPOINT_EVERY inline commits.
        """
        loop = asyncio.get_running_loop()
        if inline and threading.get_ident() == self._loop_thread:
            conn = self._inline_writer
            if conn is None:
                opened = await loop.run_in_executor(self._readers, self._open_inline_writer)
                conn = self._inline_writer = self._inline_writer or opened
            written, result = self._write_now(conn, fn, args, kwargs)
            if written:
                return cast(T, result)
        job = loop.run_in_executor(self._writer, self._write_job, fn, args, kwargs)
        return await _outlast_cancellation(job)

    def _open_inline_writer(self) -> Connection:
        conn = self._open("IMMEDIATE")
        # On the driver's connection: through SQLAlchemy they would begin a transaction.
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        dbapi.execute("PRAGMA busy_timeout=0").close()  # a held lock fails at once: a thread waits
        dbapi.execute("PRAGMA wal_autocheckpoint=0").close()
        return conn

    def _write_now(
        self, conn: Connection, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[bool, T | None]:
        """(True, result) once committed; (False, None) when SQLite is busy (nothing written)."""
        try:
            with conn.begin():
                result = fn(conn, *args, **kwargs)
        except (DBAPIError, sqlite3.OperationalError) as exc:
            if _is_busy(exc):
                return False, None
            self._blame_lost_file()
            raise
        if self._identity is not None:
            self._identity.check()  # committed to the file others see, or not acknowledged
        self._inline_commits += 1
        if self._inline_commits % CHECKPOINT_EVERY == 0:
            checkpoint = asyncio.get_running_loop().run_in_executor(self._writer, self._checkpoint)
            self._checkpoints.add(checkpoint)
            checkpoint.add_done_callback(self._checkpoints.discard)
        return True, result

    def _blame_lost_file(self) -> None:
        """A write failed: if the file is gone, that is the error to report (its I/O errors
        follow from it)."""
        if self._identity is not None:
            self._identity.check()

    def _checkpoint(self) -> None:
        """Move the WAL into the database without waiting for readers (PASSIVE).

        Outside any transaction (a checkpoint cannot run inside one); a failure is
        only logged: the next one, or any other connection's, catches up.
        """
        conn = self._connection("IMMEDIATE")
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        try:
            dbapi.execute("PRAGMA wal_checkpoint(PASSIVE)").close()
        except sqlite3.Error as exc:
            log.info("WAL checkpoint skipped: %s", describe_failure(exc))

    def _open(self, begin: str) -> Connection:
        conn = self._engine.connect().execution_options(**{_BEGIN_OPTION: begin})
        with self._opened_lock:
            self._opened.append(conn)
        return conn

    def _connection(self, begin: str) -> Connection:
        """The calling thread's own connection, opened on its first job."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._local.conn = self._open(begin)
        return conn

    def _read_job(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        conn = self._connection(_NO_BEGIN)
        try:
            return fn(conn, *args, **kwargs)
        finally:
            # Ends SQLAlchemy's bookkeeping transaction; SQLite has none open.
            conn.rollback()

    def _write_job(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        conn = self._connection("IMMEDIATE")
        try:
            with conn.begin():
                result = fn(conn, *args, **kwargs)
        except DBAPIError:
            self._blame_lost_file()
            raise
        if self._identity is not None:
            self._identity.check()  # committed to the file others see, or not acknowledged
        return result

    async def close(self) -> None:
        """Let queued jobs finish, stop the threads, then close their connections."""
        for executor in (self._readers, self._writer):
            await asyncio.to_thread(executor.shutdown, wait=True)
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()
        self._engine.dispose()


async def _abandon(session: AsyncSession) -> None:
    """End a session whose work failed or was cancelled, never hiding why it ended.

    Rolling back can itself fail: a cancelled asyncpg query leaves its
    connection busy ("another operation is in progress"), and that error would
    replace the cancellation. Then the connection is invalidated, not reused.

    The rollback is seen through to its end even if the caller is cancelled
    again meanwhile: anyio (the MCP SDK's task groups) cancels a task at every
    await while its scope is cancelled, so a client that hung up mid-call once
    cut every rollback short. The connection was then dropped mid-transaction to
    the garbage collector: a traceback per call in the log ("Exception during
    reset"), "Task was destroyed but it is pending!" for its close, and another
    client's echo at 22x its idle p99 while SQLite's lock waited for them.
    """
    await _see_through(_close_or_invalidate(session))


async def _see_through(work: Awaitable[None]) -> bool:
    """Await `work` to its end even if this task is cancelled meanwhile (any number of times).

    Returns whether a cancellation came; `work`'s own failure is raised.
    """
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    task.result()
    return cancelled


async def _close_or_invalidate(session: AsyncSession) -> None:
    try:
        await session.close()
    except Exception as exc:
        log.debug("discarding a failed session's connection: %s", type(exc).__name__)
        with contextlib.suppress(Exception):
            await session.invalidate()


def _is_busy(exc: DBAPIError | sqlite3.Error) -> bool:
    """SQLite's busy or locked, raised through SQLAlchemy or straight from the driver (our
    "begin" listener runs BEGIN on the driver's connection)."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    return isinstance(orig, sqlite3.Error) and is_busy(orig)


async def _outlast_cancellation(job: asyncio.Future[T]) -> T:
    """Await a thread's job; if cancelled, still wait for it before re-raising.

    The thread cannot be interrupted and holds SQLite's write lock until it is
    done, so the caller keeps the asyncio write lock until then too.
    """
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        if not job.done():
            await asyncio.wait([job])
        raise


def _schema_and_fts5(conn: Connection) -> tuple[schema.SchemaState, bool]:
    """The revision, and whether SQLite's FTS5 table exists: the migration skips it on a
    build without FTS5, and search falls back to LIKE."""
    fts5 = conn.dialect.name == "sqlite" and conn.dialect.has_table(conn, "documents_fts")
    return schema.read_state(conn), fts5


def _migrate_if_empty(conn: Connection) -> None:
    if schema.read_state(conn).is_empty:
        schema.upgrade(conn)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        enter_wal(cursor, busy_timeout_ms)
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        cell = conn.info.get(_DEADLINE_CELL)
        if cell is not None:  # the service engine's connections: this transaction's deadline
            cell.deadline = CURRENT.get()
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        if mode == _NO_BEGIN:
            return
        if conn.dialect.driver == "pysqlite":  # our own threads: skip SQLAlchemy's execute path
            conn.connection.dbapi_connection.execute(f"BEGIN {mode}")
        else:
            conn.exec_driver_sql(f"BEGIN {mode}")


def _stop_statements_at_deadline(engine: Engine) -> None:
    """SQLite: a progress handler on each connection aborts a statement past its deadline.

    The handler runs in the driver's thread every PROGRESS_STEPS virtual-machine
    steps and reads the connection's `DeadlineCell`, which the "begin" listener
    sets from `deadlines.CURRENT` (deadlines.py).
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        cell = DeadlineCell()
        record.info[_DEADLINE_CELL] = cell
        # aiosqlite runs the call in its own thread, the one that owns the connection.
        await_(
            dbapi_connection.driver_connection.set_progress_handler(cell.expired, PROGRESS_STEPS)
        )


def _time_out_statements_at_deadline(engine: Engine) -> None:
    """PostgreSQL: a transaction begun under a deadline gets `statement_timeout` for its rest."""

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        deadline = CURRENT.get()
        if deadline is not None:
            # 0 would mean "no timeout": a deadline already passed gets 1 ms.
            ms = max(1, int(deadline.remaining() * 1000))
            conn.exec_driver_sql(f"SELECT set_config('statement_timeout', '{ms}', true)")
