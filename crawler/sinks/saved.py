"""Read a saved scan back as records: JSON lines (`.jsonl`, `.jsonl.gz`, `-` for stdin) or a
SQLite database written by the sqlite sink. Nothing here calls AWS; `ecr-crawler checks` and
`ecr-crawler diff` read through `open_saved`.

A JSON lines file is read twice, streaming: once for its scan summary (ages are measured at the
scan's start, so the same file always gives the same findings), once for the records. A SQLite
database holds the current inventory (rows not marked deleted), the errors of the scans that
wrote it and the summary of the latest scan; rows are turned back into records generically,
from the tables the record types define.
"""

from __future__ import annotations

import gzip
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec

from crawler.errors import ConfigError
from crawler.records import (
    Error,
    Image,
    ImageManifest,
    Record,
    Registry,
    Repository,
    RepositoryCreationTemplate,
    ScanRecord,
    ScanSummary,
)
from crawler.sinks.sql import quote
from crawler.sinks.tables import Kind, Table, table_for

SQLITE_MAGIC = b"SQLite format 3\x00"
# The record types the checks read, in stream order, and for each the columns beyond the
# required ones that they need (None: all).
SQLITE_READ: tuple[tuple[type[Record], frozenset[str] | None], ...] = (
    (Repository, None),
    (Registry, None),
    (RepositoryCreationTemplate, None),
    (ImageManifest, frozenset({"children"})),
    (Image, None),
)

_decoder = msgspec.json.Decoder(ScanRecord)


@dataclass
class Saved:
    """A saved scan: its summary (None when the scan never finished) and its records in
    stream order, the summary last."""

    source: str
    summary: ScanSummary | None
    records: Iterator[ScanRecord]


def open_saved(location: str) -> Saved:
    """The scan saved at `location`: a path, `-`, or a sink URI (jsonl:PATH, sqlite:PATH)."""
    scheme, sep, rest = location.partition(":")
    if sep and scheme in ("jsonl", "sqlite") and rest:
        kind, path = scheme, rest
    else:
        path = location
        kind = "sqlite" if path != "-" and _is_sqlite(path) else "jsonl"
    if kind == "sqlite":
        return _open_sqlite(path)
    if path == "-":
        return Saved("stdin", None, _records(sys.stdin.buffer, "stdin"))
    summary = None
    with _open(path) as stream:
        for line in _lines(stream, path):
            if b'"scan_summary"' in line:
                record = _decode(line, path, 0)
                if isinstance(record, ScanSummary):
                    summary = record
    return Saved(path, summary, _jsonl(path))


def _is_sqlite(path: str) -> bool:
    try:
        with open(path, "rb") as file:
            return file.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def _open(path: str) -> IO[bytes] | gzip.GzipFile:
    try:
        if path.endswith(".gz"):
            return gzip.open(path, "rb")
        return open(path, "rb")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def _jsonl(path: str) -> Iterator[ScanRecord]:
    with _open(path) as stream:
        yield from _records(stream, path)


def _lines(stream: IO[bytes] | gzip.GzipFile, source: str) -> Iterator[bytes]:
    try:
        yield from stream
    except (gzip.BadGzipFile, EOFError) as exc:
        raise ConfigError(f"{source}: not a whole gzip file: {exc}") from None


def _records(stream: IO[bytes] | gzip.GzipFile, source: str) -> Iterator[ScanRecord]:
    for number, line in enumerate(_lines(stream, source), 1):
        if line.strip():
            record = _decode(line, source, number)
            if record is not None:
                yield record


def _decode(line: bytes, source: str, number: int) -> ScanRecord | None:
    """One record; None for a record type this version does not know (a newer crawler's)."""
    where = f"{source}:{number}" if number else source
    try:
        record: ScanRecord = _decoder.decode(line)
    except msgspec.ValidationError as exc:
        if str(exc).endswith("`$.type`") and "Invalid value" in str(exc):
            return None
        raise ConfigError(f"{where}: not an ecr-crawler record: {exc}") from None
    except msgspec.DecodeError:
        raise ConfigError(f"{where}: not JSON lines (is it a scan's output?)") from None
    return record


def _open_sqlite(path: str) -> Saved:
    if not Path(path).is_file():
        raise ConfigError(f"{path}: no such database")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        scans = table_for(ScanSummary)
        summary = None
        if scans.name in tables:
            cursor = db.execute(
                f"SELECT * FROM {quote(scans.name)} ORDER BY finished_at DESC LIMIT 1"
            )
            row = cursor.fetchone()
            if row is not None:
                summary = _record(scans, _names(cursor), row)
    except sqlite3.Error as exc:
        raise ConfigError(f"{path}: cannot read the database: {exc}") from None
    if scans.name not in tables:
        raise ConfigError(f"{path}: not a database written by the sqlite sink")
    return Saved(path, summary, _sqlite_records(db, tables, summary))


def _names(cursor: sqlite3.Cursor) -> list[str]:
    return [d[0] for d in cursor.description]


def _sqlite_records(
    db: sqlite3.Connection, tables: set[str], summary: ScanSummary | None
) -> Iterator[ScanRecord]:
    try:
        for record_type, wanted in SQLITE_READ:
            table = table_for(record_type)
            if table.name in tables:
                yield from _select(db, table, wanted)
        if summary is not None:
            yield from _sqlite_errors(db, tables, summary)
            yield summary
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot read the database: {exc}") from None
    finally:
        db.close()


def _select(
    db: sqlite3.Connection,
    table: Table,
    wanted: frozenset[str] | None,
    where: str | None = None,
    parameters: tuple[Any, ...] = (),
) -> Iterator[Any]:
    """The records of a table (those not marked deleted, where rows can be) that match `where`:
    their required fields and the `wanted` others (None: all)."""
    have = {row[1] for row in db.execute(f"PRAGMA table_info({quote(table.name)})")}
    columns = [
        c.name
        for c in table.stored
        if c.name in have
        and c.name != "record_hash"
        and (wanted is None or not c.nullable or c.name in wanted)
    ]
    if table.inventory:
        columns.append("last_seen_scan_id")
    conditions = [c for c in (where, "deleted_at IS NULL" if "deleted_at" in have else None) if c]
    query = f"SELECT {', '.join(map(quote, columns))} FROM {quote(table.name)}"
    if conditions:
        query += " WHERE " + " AND ".join(conditions)
    cursor = db.execute(query, parameters)
    names = _names(cursor)
    for row in cursor:
        yield _record(table, names, row)


def _sqlite_errors(
    db: sqlite3.Connection, tables: set[str], summary: ScanSummary
) -> Iterator[Error]:
    """The `error` records that go with the inventory, as a live scan streams them (the checks
    tell "not collected" from "none" by them): for each account-region, those of the latest
    scan that covered it (two jobs may each write their regions into one database), else the
    latest scan's."""
    errors, scans = table_for(Error), table_for(ScanSummary)
    if errors.name not in tables:
        return
    owner: dict[tuple[str, str], str] = {}
    query = f"SELECT scan_id, accounts FROM {quote(scans.name)} ORDER BY finished_at DESC"
    for scan_id, accounts in db.execute(query):
        for account, regions in msgspec.json.decode(accounts or "{}").items():
            for region in regions:
                owner.setdefault((account, region), scan_id)
    for scan_id in sorted({*owner.values(), summary.scan_id}):
        for error in _select(db, errors, None, "scan_id = ?", (scan_id,)):
            if owner.get((error.account_id, error.region), summary.scan_id) == scan_id:
                yield error


def _record(table: Table, names: list[str], row: tuple[Any, ...]) -> Any:
    kinds = {c.name: c.kind for c in table.columns}
    data: dict[str, Any] = {}
    for name, value in zip(names, row, strict=True):
        kind = kinds.get(name)
        if name == "last_seen_scan_id":
            data["scan_id"] = value
        elif kind is None or value is None:
            continue
        elif kind is Kind.JSON:
            data[name] = msgspec.json.decode(value)
        elif kind is Kind.BOOLEAN:
            data[name] = bool(value)
        else:
            data[name] = value
    return msgspec.convert(data, table.record)
