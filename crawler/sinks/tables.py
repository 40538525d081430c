"""The tables of the records, derived from the record types; shared by every sink but JSON lines.

Every record type gets one table, named by its tag (`image` -> `images`, `scan_summary` ->
`scans`), with one column per field: scalars keep their type, datetimes are timestamps in UTC,
and nested values (structs, lists, dicts, anything else) are JSON, or nested types in Parquet.
A record type added later gets its table without a change here.

Keys decide what a table means:

- an *inventory* table (key without `scan_id`: repositories, images, ...) holds the current
  state: one row per key, updated by every scan that sees it (the database sinks store the
  scan_id as first and last seen, `crawler.sinks.sql`); what a complete scan did not see is
  marked deleted or pruned (`crawler.sinks.deletion`);
- an *event* table (key with `scan_id`: errors, scans) keeps what each scan reported.

A record type missing from `KEYS` is an event table keyed by (`scan_id`, `record_hash`): nothing
is ever merged or marked deleted by guesswork; add its natural key here to make it an inventory.
"""

from __future__ import annotations

import functools
import hashlib
import operator
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import msgspec
import msgspec.inspect as mi

from crawler.records import Record, ScanRecord, ScanSummary

# Natural keys, by record tag. `record_hash` is a digest of the record's content (its scan_id
# left out), for records whose identifying fields may be null.
KEYS: dict[str, tuple[str, ...]] = {
    "repository": ("account_id", "region", "repository_name"),
    "image": ("account_id", "region", "repository_name", "image_digest"),
    "image_manifest": ("account_id", "region", "repository_name", "image_digest"),
    "registry": ("account_id", "region", "registry_id"),
    "repository_creation_template": ("account_id", "region", "prefix"),
    "scan_finding": ("account_id", "region", "repository_name", "image_digest", "record_hash"),
    "finding": ("account_id", "region", "check_id", "resource", "record_hash"),
    "change": ("scan_id", "record_hash"),
    "error": ("scan_id", "record_hash"),
    "scan_summary": ("scan_id",),
}
FALLBACK_KEY = ("scan_id", "record_hash")
TABLE_NAMES = {"scan_summary": "scans"}
UNIT = ("account_id", "region")


class Kind(Enum):
    TEXT = "text"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"
    DATE = "date"
    JSON = "json"


_SCALARS: dict[type[mi.Type], Kind] = {
    mi.StrType: Kind.TEXT,
    mi.IntType: Kind.INTEGER,
    mi.FloatType: Kind.FLOAT,
    mi.BoolType: Kind.BOOLEAN,
    mi.DateTimeType: Kind.TIMESTAMP,
    mi.DateType: Kind.DATE,
}


def kind_of(info: mi.Type) -> Kind:
    """The column kind of a (non-optional) field type: a scalar, a string literal as text, or
    JSON for anything nested."""
    if isinstance(info, mi.LiteralType) and all(isinstance(v, str) for v in info.values):
        return Kind.TEXT
    return _SCALARS.get(type(info), Kind.JSON)


_JSON = msgspec.json.Encoder()
encode_json = _JSON.encode


def json_text(value: Any) -> str | None:
    """A JSON column's value as text; None stays NULL."""
    return None if value is None else _JSON.encode(value).decode()


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    # The field's type without None, for sinks with nested types (Parquet).
    type: mi.Type
    nullable: bool


def _column(name: str, info: mi.Type, required: bool) -> Column:
    nullable = not required
    if isinstance(info, mi.UnionType):
        rest = [t for t in info.types if not isinstance(t, mi.NoneType)]
        nullable = nullable or len(rest) < len(info.types)
        if len(rest) == 1:
            info = rest[0]
    kind = kind_of(info)
    if kind is Kind.TEXT and isinstance(info, mi.LiteralType):
        info = mi.StrType()
    return Column(name, kind, info, nullable)


@dataclass(frozen=True, eq=False)
class Table:
    name: str
    tag: str
    record: type[Record]
    # The record's fields in order (not the tag), plus `record_hash` when the key uses it.
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @functools.cached_property
    def hashed(self) -> bool:
        return "record_hash" in self.key

    @functools.cached_property
    def inventory(self) -> bool:
        """One row per key across scans, with first/last seen, rather than rows per scan."""
        return "scan_id" not in self.key

    @functools.cached_property
    def per_unit(self) -> bool:
        """An inventory of account-regions: what a complete scan did not see is deleted."""
        return self.inventory and all(c in self.key for c in UNIT)

    @functools.cached_property
    def stored(self) -> tuple[Column, ...]:
        """The record's columns as an inventory table stores them: scan_id becomes
        last_seen_scan_id."""
        if not self.inventory:
            return self.columns
        return tuple(c for c in self.columns if c.name != "scan_id")

    def values(self, record: Record) -> tuple[Any, ...]:
        """The record's column values in order; nested values as they are."""
        row: tuple[Any, ...] = self._fields(record)
        return (*row, _content_hash(record)) if self.hashed else row

    def rows(self, records: Iterable[Record]) -> list[tuple[Any, ...]]:
        """The records' values, one row per key, the last one winning (an upsert cannot touch
        a row twice)."""
        key = self._key
        return list({key(row): row for row in map(self.values, records)}.values())

    @functools.cached_property
    def _fields(self) -> Callable[[Record], tuple[Any, ...]]:
        names = [c.name for c in self.columns if c.name != "record_hash"]
        # attrgetter of two or more names returns a tuple; every record has scan_id and more.
        return operator.attrgetter(*names)

    @functools.cached_property
    def _key(self) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
        names = [c.name for c in self.columns]
        positions = [names.index(k) for k in self.key]
        get = operator.itemgetter(*positions)
        return get if len(positions) > 1 else lambda row: (get(row),)


_HASH_ENCODER = msgspec.json.Encoder(order="sorted")


def _content_hash(record: Record) -> str:
    """The same content gives the same hash in every scan: the scan_id is left out."""
    data = _HASH_ENCODER.encode(msgspec.structs.replace(record, scan_id=""))
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _plural(tag: str) -> str:
    if tag.endswith("y") and tag[-2:-1] not in "aeiou":
        return tag[:-1] + "ies"
    return tag + ("es" if tag.endswith(("s", "x", "ch", "sh")) else "s")


@functools.cache
def table_for(record: type[Record]) -> Table:
    """The table of a record type, derived from its fields."""
    info = mi.type_info(record)
    assert isinstance(info, mi.StructType)
    assert isinstance(info.tag, str)
    tag = info.tag
    columns = [_column(f.name, f.type, f.required) for f in info.fields]
    names = {c.name for c in columns}
    key = KEYS.get(tag, FALLBACK_KEY)
    if not set(key) <= names | {"record_hash"}:
        key = FALLBACK_KEY
    if "record_hash" in key:
        columns.append(Column("record_hash", Kind.TEXT, mi.StrType(), False))
    by_name = {c.name: c for c in columns}
    for name in key:  # a key column is never null
        by_name[name] = Column(name, by_name[name].kind, by_name[name].type, False)
    return Table(
        name=TABLE_NAMES.get(tag, _plural(tag)),
        tag=tag,
        record=record,
        columns=tuple(by_name[c.name] for c in columns),
        key=key,
    )


def known_tables() -> list[Table]:
    """The tables of every record type a scan produces (created up front, so a scan that saw
    none of one type still finds its table and marks its rows)."""
    return [table_for(t) for t in typing.get_args(ScanRecord)]


def group(batch: Iterable[Record]) -> tuple[dict[Table, list[Record]], ScanSummary | None]:
    """A batch's records by table; the summary, if the batch has it."""
    tables: dict[Table, list[Record]] = {}
    summary = None
    for record in batch:
        tables.setdefault(table_for(type(record)), []).append(record)
        if isinstance(record, ScanSummary):
            summary = record
    return tables, summary
