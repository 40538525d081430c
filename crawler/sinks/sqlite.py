"""SQLite: the inventory in one file for querying on one machine (`sqlite:PATH`).

One table per record type (see `crawler.sinks._tables`), upserted by natural key; timestamps are
ISO 8601 text in UTC (`2026-11-28T06:00:00.000000Z`, so they sort and SQLite's date functions
read them), nested values JSON text for `json_extract` and `json_each`. WAL mode, one
transaction per batch: a reader sees whole batches, and another scan may write at the same time
(writers wait their turn for up to `BUSY_SECONDS`).

The stdlib's sqlite3 runs in a worker thread (anyio.to_thread), one hop per batch: the sink is
the only user of its connection, so the thread-per-connection machinery of aiosqlite would add
a dependency and a hop per statement for nothing.
"""

from __future__ import annotations

import operator
import os
import shlex
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
import msgspec

from crawler.errors import ConfigError, SinkError
from crawler.records import Record, ScanRecord
from crawler.sinks._tables import DELETED, SEEN, Kind, Table, Tally, dedupe, group, known_tables

BUSY_SECONDS = 60.0
SQL_TYPES = {
    Kind.TEXT: "TEXT",
    Kind.INTEGER: "INTEGER",
    Kind.FLOAT: "REAL",
    Kind.BOOLEAN: "INTEGER",
    # Not "TIMESTAMP" or "JSON": those names get numeric affinity, which would turn the JSON
    # text "1" into the number 1.
    Kind.TIMESTAMP: "TEXT",
    Kind.DATE: "TEXT",
    Kind.JSON: "TEXT",
}

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


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def iso(value: datetime) -> str:
    """A fixed-width ISO 8601 UTC timestamp, so text order is time order."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


_JSON = msgspec.json.Encoder()


def _json(value: Any) -> str | None:
    return None if value is None else _JSON.encode(value).decode()


def _timestamp(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


def _date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


_CONVERT: dict[Kind, Callable[[Any], Any]] = {
    Kind.JSON: _json,
    Kind.TIMESTAMP: _timestamp,
    Kind.DATE: _date,
}


class _Statements:
    """The SQL of one table, built once."""

    def __init__(self, table: Table) -> None:
        self.table = table
        stored = table.stored
        names = [c.name for c in table.columns]
        self.pick = operator.itemgetter(*(names.index(c.name) for c in stored))
        self.scan_id = names.index("scan_id")
        self.converters = [
            (i, _CONVERT[c.kind]) for i, c in enumerate(stored) if c.kind in _CONVERT
        ]
        columns = [c.name for c in stored]
        update = [c for c in columns if c not in table.key]
        if table.inventory:
            columns += SEEN
            update += SEEN[1:]
        sets = [f"{_q(c)} = excluded.{_q(c)}" for c in update]
        if table.inventory:
            sets += [f"{_q(c)} = NULL" for c in DELETED]
        conflict = f"DO UPDATE SET {', '.join(sets)}" if sets else "DO NOTHING"
        self.upsert = (
            f"INSERT INTO {_q(table.name)} ({', '.join(map(_q, columns))}) "
            f"VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT ({', '.join(map(_q, table.key))}) {conflict}"
        )
        unseen = (
            "WHERE account_id = ? AND region = ? AND last_seen_scan_id <> ? AND last_seen_at < ?"
        )
        self.mark = (
            f"UPDATE {_q(table.name)} SET deleted_at = ?, deleted_scan_id = ? "
            f"{unseen} AND deleted_at IS NULL"
        )
        self.prune = f"DELETE FROM {_q(table.name)} {unseen}"

    def rows(self, records: Sequence[Record], now: str) -> list[tuple[Any, ...]]:
        table = self.table
        pick = self.pick
        converters = self.converters
        scan_id = self.scan_id
        out = []
        for row in dedupe(table, (table.values(r) for r in records)):
            values = list(pick(row))
            for i, convert in converters:
                values[i] = convert(values[i])
            if table.inventory:
                values += (row[scan_id], row[scan_id], now)  # first and last seen
            out.append(tuple(values))
        return out


def _create(db: sqlite3.Connection, table: Table) -> None:
    """Create the table, or add the columns a newer record type has (never drops any)."""
    columns = [(c.name, SQL_TYPES[c.kind], c.name in table.key) for c in table.stored]
    if table.inventory:
        columns += [(n, "TEXT", True) for n in SEEN]
        columns += [(n, "TEXT", False) for n in DELETED]
    defs = [f"{_q(n)} {t}{' NOT NULL' if nn else ''}" for n, t, nn in columns]
    db.execute(
        f"CREATE TABLE IF NOT EXISTS {_q(table.name)} "
        f"({', '.join(defs)}, PRIMARY KEY ({', '.join(map(_q, table.key))}))"
    )
    have = {row[1] for row in db.execute(f"PRAGMA table_info({_q(table.name)})")}
    for name, sql_type, _ in columns:
        if name not in have:
            db.execute(f"ALTER TABLE {_q(table.name)} ADD COLUMN {_q(name)} {sql_type}")


class SqliteSink:
    def __init__(self, path: str | os.PathLike[str], *, prune: bool = False) -> None:
        self.path = Path(path)
        self._prune = prune
        self._tally = Tally()
        self._since: str | None = None
        try:
            # Owner-only, like the JSON lines sink's files: it may hold IAM policies. SQLite
            # gives its -wal and -shm files the database file's mode.
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
            self._db = sqlite3.connect(
                self.path, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._statements: dict[Table, _Statements] = {}
            self._transaction(lambda: [self._prepare(t) for t in known_tables()])
        except (OSError, sqlite3.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else exc
            raise ConfigError(
                f"sink 'sqlite:{self.path}': cannot open database: {reason}"
            ) from None

    def _prepare(self, table: Table) -> _Statements:
        statements = self._statements.get(table)
        if statements is None:
            _create(self._db, table)
            statements = self._statements[table] = _Statements(table)
        return statements

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
        try:
            await anyio.to_thread.run_sync(self._write, batch)
        except sqlite3.Error as exc:
            raise SinkError(f"cannot write to sqlite:{self.path}: {exc}") from None

    def _write(self, batch: Sequence[Record]) -> None:
        now = iso(datetime.now(UTC))
        if self._since is None:
            self._since = now  # rows last seen before this are not this scan's
        tables, summary = group(batch, self._tally)

        def work() -> None:
            for table, records in tables.items():
                statements = self._prepare(table)
                self._db.executemany(statements.upsert, statements.rows(records, now))
            if summary is None:
                return
            for table, account, region in self._tally.deletions(summary, self._statements):
                statements = self._statements[table]
                unseen = (account, region, summary.scan_id, self._since)
                if self._prune:
                    self._db.execute(statements.prune, unseen)
                else:
                    self._db.execute(statements.mark, (now, summary.scan_id, *unseen))

        self._transaction(work)

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(self._db.close)
