"""PostgreSQL (asyncpg): the inventory in a shared database (`postgresql://USER@HOST:PORT/DB`).

The tables of `crawler.sinks.tables` live in one schema (`sink_options.postgres_schema`),
created and migrated (new columns added) on connect, under an advisory lock so that two scans
starting at once do not race. Timestamps are timestamptz, nested values jsonb.

The first connection is made when the sink is opened, before the scan: a server that is not
running, a wrong host or port, bad credentials or a missing database stop the run at once
(SinkError, exit 1), naming the host and port; a bad URI is a ConfigError (exit 2).

Each batch is one transaction: its rows are COPied into temporary staging tables, then upserted
with one INSERT ... SELECT ... ON CONFLICT per table (`crawler.sinks.sql`), in key order (two
scans upserting the same rows lock them in the same order, so they never deadlock). A batch that
fails on a lost connection, a restarting server or a transaction conflict (the server was there
when the sink opened) is retried on a new connection, with backoff, for `retry_seconds`: batches
are idempotent (the same rows upserted again), so a batch whose COMMIT was sent but not
acknowledged is safe to repeat. When the server
does not come back, the scan stops with a SinkError (exit 1); what was committed is true, the
failed batch is not half there, and rerunning the scan converges to exactly the rows of a clean
run.

The summary's batch also marks deleted (or, with prune, deletes) the rows of every complete
account-region that this scan did not see and no scan wrote since this one started, in the same
transaction as the scan's row in `scans`: a partial or interrupted scan marks nothing.

Credentials come from the URI, the PG* environment variables (PGPASSWORD, PGPASSFILE, ...) or
~/.pgpass, as libpq reads them; messages show the URI with its password redacted.
"""

from __future__ import annotations

import errno
import queue
import re
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import anyio
import asyncpg
import msgspec
import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_delay,
    wait_random_exponential,
)

from crawler.errors import ConfigError, CrawlerError, SinkError
from crawler.records import ScanRecord, ScanSummary
from crawler.secrets import REDACTED
from crawler.sinks.deletion import Tally
from crawler.sinks.postgres_uri import address, describe_postgres
from crawler.sinks.sql import Dialect, Statements, quote
from crawler.sinks.tables import Kind, Table, encode_json, group, known_tables

log = structlog.get_logger(__name__)

POSTGRES = Dialect(
    types={
        Kind.TEXT: "text",
        Kind.INTEGER: "bigint",
        Kind.FLOAT: "double precision",
        Kind.BOOLEAN: "boolean",
        Kind.TIMESTAMP: "timestamptz",
        Kind.DATE: "date",
        Kind.JSON: "jsonb",
    },
    placeholder="${}",
    # The server's clock: the transaction's start, comparable across every scan that writes.
    now="now()",
)
SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Any constant shared by every ecr-crawler: serialises schema changes across processes.
DDL_LOCK = 0x6563725F63726177
CONNECT_SECONDS = 10.0
COMMAND_SECONDS = 300.0


class ConnectionLostError(Exception):
    """asyncpg's "connection is closed": the server went away while the connection was idle."""


# Worth another try on a new connection: the connection or server went away, the server is
# starting or shutting down, a deadlock or serialisation conflict, too many connections.
TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TransactionRollbackError,
    asyncpg.exceptions.InsufficientResourcesError,
    # What asyncpg raises on a connection the server closed while it was idle.
    asyncpg.InternalClientError,
    ConnectionLostError,
)


def _encode_jsonb(value: Any) -> bytes:
    return b"\x01" + encode_json(value)  # jsonb's binary format: version 1, then the text


def _decode_jsonb(data: bytes) -> Any:
    return msgspec.json.decode(data[1:])


class _Writer:
    """One table's statements in one schema, and its staging table, built once."""

    def __init__(self, table: Table, schema: str) -> None:
        self.stage = f"_stage_{table.name}"
        self.sql = Statements(
            POSTGRES,
            table,
            f"{quote(schema)}.{quote(table.name)}",
            staged=f"pg_temp.{quote(self.stage)}",
        )
        self.columns = [c.name for c in table.columns]
        definitions = ", ".join(POSTGRES.column(c.name, c.kind) for c in table.columns)
        self.stage_ddl = (
            f"CREATE TEMP TABLE IF NOT EXISTS {quote(self.stage)} ({definitions}) "
            "ON COMMIT DELETE ROWS"
        )


class PostgresSink:
    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "ecr_inventory",
        prune: bool = False,
        retry_seconds: float = 120.0,
    ) -> None:
        self.target = describe_postgres(dsn)
        if not SCHEMA_NAME.match(schema):
            raise ConfigError(f"postgres schema '{schema}': use lowercase letters, digits and _")
        self._dsn = dsn
        try:
            self._secret = urlsplit(dsn).password
        except ValueError as exc:  # a malformed host part, such as an unclosed [
            raise ConfigError(f"sink '{self.target}': {exc}") from None
        self._schema = schema
        self._prune = prune
        self._retry_seconds = retry_seconds
        self._tally = Tally()
        self._conn: asyncpg.Connection | None = None
        self._ready: set[Table] = set()  # tables with a staging table on this connection
        self._writers: dict[Table, _Writer] = {}
        self._since: datetime | None = None
        self._connect_first()

    def _connect_first(self) -> None:
        """Connect (and create or migrate the tables) now, before the scan: retrying is for a
        connection that worked and then broke, not for a server that was never there."""

        async def connect() -> None:
            await self._connection()
            await self.aclose()  # this event loop ends here; writes connect again in the scan's

        # In a thread with its own event loop: the caller may be running one already. A daemon
        # thread, so that Ctrl-C while a server never answers ends the process at once.
        outcome: queue.Queue[Exception | None] = queue.Queue(1)

        def run() -> None:
            try:
                anyio.run(connect)
            except Exception as exc:  # handed to the caller's thread
                outcome.put(exc)
            else:
                outcome.put(None)

        threading.Thread(target=run, name="postgres-connect", daemon=True).start()
        if (failure := outcome.get()) is not None:
            raise self._first_failure(failure) from None

    def _first_failure(self, exc: Exception) -> CrawlerError:
        where = address(self._dsn)
        running = f"is the server running? (host {where.host}, port {where.port})"
        if isinstance(exc, socket.gaierror):
            reason = f"unknown host {where.host} ({exc.strerror}); is the host name right?"
        elif isinstance(exc, TimeoutError):
            reason = f"no answer within {CONNECT_SECONDS:.0f} s; {running}"
        elif isinstance(exc, OSError):
            # Several addresses tried (localhost: ::1 and 127.0.0.1) fail as one plain OSError.
            refused = exc.errno == errno.ECONNREFUSED or f"[Errno {errno.ECONNREFUSED}]" in str(exc)
            reason = f"{'connection refused' if refused else self._describe(exc)}; {running}"
        elif isinstance(exc, asyncpg.ClientConfigurationError | ValueError):
            return ConfigError(f"sink '{self.target}': {self._describe(exc)}")
        else:
            reason = self._describe(exc)
        return SinkError(f"PostgreSQL at {self.target}: {reason}")

    async def write(self, batch: Sequence[ScanRecord]) -> None:
        tables, summary = group(batch)
        self._tally.add(tables)
        rows = {t: t.rows(records) for t, records in tables.items()}
        await self._retrying(lambda: self._apply(rows, summary))

    async def _apply(
        self, rows: dict[Table, list[tuple[Any, ...]]], summary: ScanSummary | None
    ) -> None:
        conn = await self._connection()
        for table in rows:
            if table not in self._ready:
                await self._prepare(conn, [table])
        async with conn.transaction():
            for table, table_rows in rows.items():
                writer = self._writers[table]
                await conn.copy_records_to_table(
                    writer.stage, schema_name="pg_temp", records=table_rows, columns=writer.columns
                )
                await conn.execute(writer.sql.upsert)
            if summary is not None:
                await self._mark(conn, summary)

    async def _mark(self, conn: asyncpg.Connection, summary: ScanSummary) -> None:
        for table, account, region in self._tally.deletions(summary, self._writers):
            sql = self._writers[table].sql
            statement = sql.prune if self._prune else sql.mark
            await conn.execute(statement, account, region, summary.scan_id, self._since)

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        self._drop()
        conn = await asyncpg.connect(
            self._dsn, timeout=CONNECT_SECONDS, command_timeout=COMMAND_SECONDS
        )
        try:
            await conn.set_type_codec(
                "jsonb",
                schema="pg_catalog",
                encoder=_encode_jsonb,
                decoder=_decode_jsonb,
                format="binary",
            )
            if await conn.fetchval("SHOW synchronous_commit") == "off":
                # A committed batch must survive a server crash: the retry logic relies on it.
                await conn.execute("SET synchronous_commit = local")
            if self._since is None:
                # Rows written before this instant, and not by this scan, were not seen by it.
                self._since = await conn.fetchval("SELECT now()")
            self._ready = set()
            await self._prepare(conn, [*known_tables(), *self._writers])
        except BaseException:
            conn.terminate()
            raise
        self._conn = conn
        return conn

    async def _prepare(self, conn: asyncpg.Connection, tables: Sequence[Table]) -> None:
        """Create or migrate the tables, and their staging tables on this connection."""
        for table in tables:
            if table not in self._writers:
                self._writers[table] = _Writer(table, self._schema)
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", DDL_LOCK)
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self._schema)}")
            for table in dict.fromkeys(tables):
                writer = self._writers[table]
                await conn.execute(writer.sql.create)
                have = {
                    r["column_name"]
                    for r in await conn.fetch(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = $1 AND table_name = $2",
                        self._schema,
                        table.name,
                    )
                }
                for statement in writer.sql.migrate(have):
                    await conn.execute(statement)
                await conn.execute(writer.stage_ddl)
        self._ready.update(tables)

    async def _retrying(self, work: Callable[[], Awaitable[None]]) -> None:
        started = time.monotonic()
        attempts = 0
        retrying = AsyncRetrying(
            stop=stop_after_delay(self._retry_seconds),
            wait=wait_random_exponential(multiplier=0.1, max=5.0),
            retry=retry_if_exception(lambda exc: isinstance(exc, TRANSIENT)),
            before_sleep=self._log_retry,
            sleep=anyio.sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    try:
                        await work()
                    except asyncpg.InterfaceError as exc:
                        lost = self._conn is not None and self._conn.is_closed()
                        self._drop()
                        if lost:  # the server closed it between two batches
                            raise ConnectionLostError(str(exc)) from exc
                        raise
                    except BaseException:
                        self._drop()  # a failed or cancelled batch leaves nothing half-done
                        raise
        except TRANSIENT as exc:
            raise SinkError(
                f"PostgreSQL at {self.target}: {self._describe(exc)}; gave up after "
                f"{attempts} attempts in {time.monotonic() - started:.0f} s. The batch that "
                "failed was not committed; rerun the scan."
            ) from None
        except asyncpg.PostgresError as exc:
            raise SinkError(f"PostgreSQL at {self.target}: {self._describe(exc)}") from None

    def _describe(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}".strip()
        return text.replace(self._secret, REDACTED) if self._secret else text

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "sink write failed; retrying on a new connection",
            sink=self.target,
            error=self._describe(exc) if exc else None,
            attempt=state.attempt_number,
        )

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close(timeout=5)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                conn.terminate()
