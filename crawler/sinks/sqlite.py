"""SQLite: the inventory in one file for querying on one machine (`sqlite:PATH`).

One table per record type (`crawler.sinks.tables`), upserted by natural key (the SQL is
`crawler.sinks.sql`'s); the file is created owner-only (`crawler.sinks.files`); timestamps are
ISO 8601 text in UTC (`2026-11-28T06:00:00.000000Z`, so they sort and SQLite's date functions
read them), nested values JSON text for `json_extract` and `json_each`. WAL mode, one
transaction per batch: a reader sees whole batches, and another scan may write at the same time
(writers wait their turn for up to `BUSY_SECONDS`).

The stdlib's sqlite3 runs in a worker thread (anyio.to_thread), one hop per batch: the sink is
the only user of its connection, so the thread-per-connection machinery of aiosqlite would add
a dependency and a hop per statement for nothing.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import anyio.to_thread

from crawler.errors import ConfigError, SinkError
from crawler.records import Record, ScanRecord
from crawler.sinks.deletion import Tally
from crawler.sinks.files import create_private, need_directory
from crawler.sinks.sql import Dialect, Statements, quote
from crawler.sinks.tables import Kind, Table, group, json_text, known_tables

BUSY_SECONDS = 60.0
SQLITE = Dialect(
    types={
        Kind.TEXT: "TEXT",
        Kind.INTEGER: "INTEGER",
        Kind.FLOAT: "REAL",
        Kind.BOOLEAN: "INTEGER",
        # Not "TIMESTAMP" or "JSON": those names get numeric affinity, which would turn the
        # JSON text "1" into the number 1.
        Kind.TIMESTAMP: "TEXT",
        Kind.DATE: "TEXT",
        Kind.JSON: "TEXT",
    },
    placeholder="?{}",
    # No clock: the sink stamps writes with its own, in the fixed-width format of `iso`.
)

# Shown by `ecr-crawler demo` and docs/sinks.md; tests run them against a real scan.
EXAMPLE_QUERIES = [
    (
        "Images and bytes per repository",
        "SELECT region, repository_name, count(*) AS images, sum(image_size_in_bytes) AS bytes "
        "FROM images WHERE deleted_at IS NULL "
        "GROUP BY region, repository_name ORDER BY bytes DESC;",
    ),
    (
        "Untagged images, oldest first (candidates for a lifecycle policy)",
        "SELECT region, repository_name, image_digest, image_pushed_at FROM images "
        "WHERE deleted_at IS NULL AND json_array_length(image_tags) = 0 "
        "ORDER BY image_pushed_at;",
    ),
    (
        "Where the tag 'latest' points",
        "SELECT i.region, i.repository_name, i.image_digest FROM images AS i, "
        "json_each(i.image_tags) AS t WHERE t.value = 'latest' AND i.deleted_at IS NULL;",
    ),
]


def examples(path: str) -> str:
    """The example queries as commands to paste, for `ecr-crawler demo`."""
    lines = ["try:"]
    for title, sql in EXAMPLE_QUERIES:
        # Double quotes read better around SQL's single quotes, where the shell allows them.
        quoted = shlex.quote(sql) if set(sql) & set('"$`\\!') else f'"{sql}"'
        lines += [
            f"  # {title}",
            f"  sqlite3 -header -column {shlex.quote(path)} {quoted}",
        ]
    return "\n".join(lines)


def iso(value: datetime) -> str:
    """A fixed-width ISO 8601 UTC timestamp, so text order is time order."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def _timestamp(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


def _date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


# How values of these kinds are stored: as text.
_ENCODE: dict[Kind, Callable[[Any], Any]] = {
    Kind.JSON: json_text,
    Kind.TIMESTAMP: _timestamp,
    Kind.DATE: _date,
}


class _Writer:
    """One table's statements and how its rows become parameters, decided once."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.sql = Statements(SQLITE, table, quote(table.name))
        self.encoders = [
            (i, _ENCODE[c.kind]) for i, c in enumerate(table.columns) if c.kind in _ENCODE
        ]

    def rows(self, records: Sequence[Record], now: str) -> list[list[Any]]:
        encoders = self.encoders
        # The time of the write is the last parameter of an inventory's upsert.
        stamp = [now] if self.table.inventory else []
        out = []
        for row in self.table.rows(records):
            values = [*row, *stamp]
            for i, encode in encoders:
                values[i] = encode(values[i])
            out.append(values)
        return out


def _create(db: sqlite3.Connection, sql: Statements) -> None:
    """Create the table, or add the columns a newer record type has (never drops any)."""
    db.execute(sql.create)
    have = {row[1] for row in db.execute(f"PRAGMA table_info({sql.target})")}
    for statement in sql.migrate(have):
        db.execute(statement)


class SqliteSink:
    def __init__(self, path: str | os.PathLike[str], *, prune: bool = False) -> None:
        self.path = Path(path)
        # Once closed: the database, unless this sink created it and never wrote to it.
        self.kept: Path | None = None
        self._prune = prune
        self._tally = Tally()
        self._since: str | None = None
        self._writers: dict[Table, _Writer] = {}
        self._written = False
        need_directory(self.path, f"sqlite:{self.path}", "database")
        self._created = not self.path.exists()
        try:
            # SQLite gives its -wal and -shm files the database file's mode.
            os.close(create_private(self.path, truncate=False))
            self._db = sqlite3.connect(
                self.path, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._transaction(lambda: [self._prepare(t) for t in known_tables()])
        except (OSError, sqlite3.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else exc
            raise ConfigError(
                f"sink 'sqlite:{self.path}': cannot open database: {reason}"
            ) from None

    def _prepare(self, table: Table) -> _Writer:
        writer = self._writers.get(table)
        if writer is None:
            writer = _Writer(table)
            _create(self._db, writer.sql)
            self._writers[table] = writer
        return writer

    def _transaction(self, work: Callable[[], object]) -> None:
        # IMMEDIATE takes the write lock up front: two writers never deadlock upgrading.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            work()
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    async def write(self, batch: Sequence[ScanRecord]) -> None:
        self._written = True  # the scan got as far as records
        try:
            await anyio.to_thread.run_sync(self._write, batch)
        except sqlite3.Error as exc:
            raise SinkError(f"cannot write to sqlite:{self.path}: {exc}") from None

    def _write(self, batch: Sequence[Record]) -> None:
        now = iso(datetime.now(UTC))
        if self._since is None:
            self._since = now  # rows last seen before this are not this scan's
        tables, summary = group(batch)
        self._tally.add(tables)

        def work() -> None:
            for table, records in tables.items():
                writer = self._prepare(table)
                self._db.executemany(writer.sql.upsert, writer.rows(records, now))
            if summary is None:
                return
            for table, account, region in self._tally.deletions(summary, self._writers):
                sql = self._writers[table].sql
                unseen = (account, region, summary.scan_id, self._since)
                if self._prune:
                    self._db.execute(sql.prune, unseen)
                else:
                    self._db.execute(sql.mark, (*unseen, now))

        self._transaction(work)

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(self._close)

    def _close(self) -> None:
        self._db.close()
        if self._created and not self._written:
            # The scan failed before its first record (no credentials): an empty database of
            # our own making is not worth leaving behind.
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        elif self._written and self.path.exists():
            self.kept = self.path
