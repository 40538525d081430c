"""Parquet (pyarrow): one dataset per record type for DuckDB, Spark, Athena (`parquet:DIR`).

    DIR/images/account_id=123456789012/region=us-east-1/part-<scan_id>-0000.parquet
    DIR/repositories/...   DIR/errors/...   DIR/scans/account_id=.../part-<scan_id>-0000.parquet

Datasets are named like the SQL tables (`crawler.sinks.tables`) and partitioned hive-style by
account_id and region, which are then not repeated inside the files. Types are Arrow's own:
timestamp[us, UTC], list<...>, struct<...>, map<string, ...>; a value of no fixed type (a
policy document) is JSON text.

Files are owner-only (`crawler.sinks.files`). Every file is written under a hidden temporary name
(`.part-...tmp`, which readers skip) and renamed when the scan ends, so a reader never sees half
a file. A scan without a finished summary (interrupted, or failed) keeps its files as
`_interrupted-<scan_id>-<n>.parquet`, hidden from readers too. Each scan adds its own files;
with prune, a complete scan then removes the older scans' files of the account-regions it
covered completely, so the datasets hold the current inventory only (errors and scans are kept).

Rows are buffered per partition (as Arrow tables, at most `BUFFERED_ROWS` in all) and written in
row groups of up to `ROW_GROUP_ROWS`, in a worker thread.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio.to_thread
import msgspec
import msgspec.inspect as mi
import pyarrow as pa
import pyarrow.parquet as pq

from crawler.errors import ConfigError, SinkError
from crawler.records import Record, ScanRecord, ScanSummary
from crawler.sinks.deletion import Tally
from crawler.sinks.files import create_private, need_directory
from crawler.sinks.tables import Kind, Table, group, json_text, kind_of, known_tables, table_for

ROW_GROUP_ROWS = 50_000
BUFFERED_ROWS = 100_000
FILE_ROWS = 2_000_000
PARTITION_BY = ("account_id", "region")
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
TIMESTAMP = pa.timestamp("us", tz="UTC")
_SCALARS: dict[Kind, pa.DataType] = {
    Kind.TEXT: pa.string(),
    Kind.INTEGER: pa.int64(),
    Kind.FLOAT: pa.float64(),
    Kind.BOOLEAN: pa.bool_(),
    Kind.TIMESTAMP: TIMESTAMP,
    Kind.DATE: pa.date32(),
}


def arrow_type(info: mi.Type) -> pa.DataType | None:
    """Arrow's type for a field's type, or None when it has no fixed one (then: JSON text)."""
    kind = kind_of(info)
    if kind is not Kind.JSON:
        return _SCALARS[kind]
    if isinstance(info, mi.UnionType):
        rest = [t for t in info.types if not isinstance(t, mi.NoneType)]
        return arrow_type(rest[0]) if len(rest) == 1 else None
    if isinstance(info, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        item = arrow_type(info.item_type)
        return None if item is None else pa.list_(item)
    if isinstance(info, mi.DictType) and isinstance(info.key_type, mi.StrType):
        value = arrow_type(info.value_type)
        return None if value is None else pa.map_(pa.string(), value)
    if isinstance(info, mi.StructType):
        fields = [(f.name, arrow_type(f.type)) for f in info.fields]
        if any(t is None for _, t in fields):
            return None
        return pa.struct(fields)
    return None


def _nested(value: Any) -> Any:
    return msgspec.to_builtins(value, builtin_types=(datetime, date))


def _segment(value: str | None) -> str:
    return quote(value, safe="") if value else NULL_PARTITION


class _Layout:
    """How one table's records become Arrow tables in partitions, decided once."""

    def __init__(self, table: Table) -> None:
        self.table = table
        names = {c.name for c in table.columns}
        self.partition_by = [p for p in PARTITION_BY if p in names]
        fields = []
        # Each column's name, its place in `Table.values` (which adds record_hash), and how its
        # values convert.
        self.columns: list[tuple[str, int, Callable[[Any], Any] | None]] = []
        for place, column in enumerate(table.columns):
            if column.name in self.partition_by:
                continue
            arrow = arrow_type(column.type)
            convert = None if column.kind is not Kind.JSON else _nested
            if arrow is None:
                arrow, convert = pa.string(), json_text
            fields.append(pa.field(column.name, arrow, nullable=True))
            self.columns.append((column.name, place, convert))
        self.schema = pa.schema(fields)

    def partition(self, record: Record) -> str:
        return "/".join(f"{n}={_segment(getattr(record, n))}" for n in self.partition_by)

    def to_arrow(self, records: Sequence[Record]) -> pa.Table:
        rows = list(map(self.table.values, records))
        data: dict[str, list[Any]] = {}
        for name, place, convert in self.columns:
            values = [row[place] for row in rows]
            data[name] = values if convert is None else [convert(v) for v in values]
        return pa.Table.from_pydict(data, schema=self.schema)


@dataclass
class _Part:
    """One partition of one dataset in this scan: its buffer and its current file."""

    directory: Path
    schema: pa.Schema
    buffered: list[pa.Table] = field(default_factory=list)
    rows: int = 0
    writer: pq.ParquetWriter | None = None
    file_rows: int = 0
    files: list[Path] = field(default_factory=list)  # temporary names, in order


class ParquetSink:
    def __init__(self, directory: str | os.PathLike[str], *, prune: bool = False) -> None:
        self.directory = Path(directory)
        # Once closed: the directory, if this scan wrote files into it.
        self.kept: Path | None = None
        self._prune = prune
        need_directory(self.directory, f"parquet:{directory}", "directory")
        self._created = not self.directory.exists()
        try:
            self.directory.mkdir(exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"sink 'parquet:{directory}': cannot create directory: {exc.strerror}"
            ) from None
        self._tally = Tally()
        self._layouts: dict[Table, _Layout] = {}
        self._parts: dict[tuple[str, str], _Part] = {}
        self._buffered = 0
        self._scan_id: str | None = None
        self._summary: ScanSummary | None = None
        self._started = datetime.now(UTC).timestamp()

    async def write(self, batch: Sequence[ScanRecord]) -> None:
        try:
            await anyio.to_thread.run_sync(self._write, batch)
        except OSError as exc:
            raise SinkError(f"cannot write to parquet:{self.directory}: {exc}") from None

    def _write(self, batch: Sequence[Record]) -> None:
        tables, summary = group(batch)
        self._tally.add(tables)
        for table, records in tables.items():
            layout = self._layouts.get(table) or self._layouts.setdefault(table, _Layout(table))
            self._scan_id = self._scan_id or records[0].scan_id
            by_partition: dict[str, list[Record]] = {}
            for record in records:
                by_partition.setdefault(layout.partition(record), []).append(record)
            for partition, rows in by_partition.items():
                part = self._parts.get((table.name, partition))
                if part is None:
                    directory = self.directory / table.name / partition
                    part = self._parts[(table.name, partition)] = _Part(directory, layout.schema)
                part.buffered.append(layout.to_arrow(rows))
                part.rows += len(rows)
                self._buffered += len(rows)
                if part.rows >= ROW_GROUP_ROWS:
                    self._flush(part)
        if self._buffered >= BUFFERED_ROWS:
            for part in self._parts.values():
                self._flush(part)
        self._summary = summary or self._summary

    def _flush(self, part: _Part) -> None:
        if not part.rows:
            return
        if part.writer is None:
            part.directory.mkdir(parents=True, exist_ok=True)
            tmp = part.directory / f".part-{self._scan_id}-{len(part.files):04d}.parquet.tmp"
            os.close(create_private(tmp))
            part.writer = pq.ParquetWriter(tmp, part.schema, compression="zstd")
            part.files.append(tmp)
        part.writer.write_table(pa.concat_tables(part.buffered), row_group_size=ROW_GROUP_ROWS)
        part.file_rows += part.rows
        self._buffered -= part.rows
        part.buffered, part.rows = [], 0
        if part.file_rows >= FILE_ROWS:
            part.writer.close()
            part.writer, part.file_rows = None, 0

    async def aclose(self) -> None:
        try:
            await anyio.to_thread.run_sync(self._close)
        except OSError as exc:
            raise SinkError(f"cannot write to parquet:{self.directory}: {exc}") from None

    def _close(self) -> None:
        finished = self._summary is not None and self._summary.status != "interrupted"
        for part in self._parts.values():
            self._flush(part)
            if part.writer is not None:
                part.writer.close()
                part.writer = None
            for n, tmp in enumerate(part.files):
                name = (
                    f"part-{self._scan_id}-{n:04d}"
                    if finished
                    else (f"_interrupted-{self._scan_id}-{n:04d}")
                )
                tmp.replace(tmp.with_name(f"{name}.parquet"))
        if any(part.files for part in self._parts.values()):
            self.kept = self.directory
        elif self._created:
            # The scan failed before its first record (no credentials): no empty directory left.
            with contextlib.suppress(OSError):
                self.directory.rmdir()
        if finished and self._prune and self._summary is not None:
            self._remove_older(self._summary)

    def _remove_older(self, summary: ScanSummary) -> None:
        """The files of earlier scans in the account-regions this complete scan covered."""
        mine = f"part-{summary.scan_id}-"
        tables = dict.fromkeys([*known_tables(), *self._layouts])
        for table, account, region in self._tally.deletions(summary, tables):
            partition = f"account_id={_segment(account)}/region={_segment(region)}"
            for path in (self.directory / table.name / partition).glob("part-*.parquet"):
                # A file finished after this scan started is a concurrent scan's.
                if not path.name.startswith(mine) and path.stat().st_mtime < self._started:
                    path.unlink()


def table_schema(record: type[Record]) -> pa.Schema:
    """The Arrow schema of a record type's files (without the partition columns)."""
    return _Layout(table_for(record)).schema
