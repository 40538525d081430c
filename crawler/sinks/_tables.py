"""Tables derived from the record types, shared by the database and Parquet sinks.

Every record type gets one table, named by its tag (`image` -> `images`, `scan_summary` ->
`scans`), with one column per field: scalars keep their type, datetimes are timestamps in UTC,
and nested values (structs, lists, dicts, anything else) are JSON, or nested types in Parquet.
A record type added later gets its table without a change here.

Keys decide what a table means:

- an *inventory* table (key without `scan_id`: repositories, images, ...) holds the current
  state: one row per key, updated by every scan that sees it, with `first_seen_scan_id`,
  `last_seen_scan_id`, `last_seen_at`, `deleted_at` and `deleted_scan_id`. Rows of an
  account-region that a complete scan did not see are marked deleted (or pruned);
- an *event* table (key with `scan_id`: errors, scans) keeps what each scan reported.

A record type missing from `KEYS` is an event table keyed by (`scan_id`, `record_hash`): nothing
is ever merged or marked deleted by guesswork; add its natural key here to make it an inventory.
"""

from __future__ import annotations

import functools
import hashlib
import operator
import typing
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import msgspec
import msgspec.inspect as mi

from crawler.records import Record, RegionCounts, ScanRecord, ScanSummary

# Natural keys, by record tag. `record_hash` is a digest of the record's content (its scan_id
# left out), for records whose identifying fields may be null.
KEYS: dict[str, tuple[str, ...]] = {
    "repository": ("account_id", "region", "repository_name"),
    "image": ("account_id", "region", "repository_name", "image_digest"),
    "image_manifest": ("account_id", "region", "repository_name", "image_digest"),
    "registry": ("account_id", "region", "registry_id"),
    "scan_finding": ("account_id", "region", "repository_name", "image_digest", "record_hash"),
    "finding": ("account_id", "region", "check_id", "resource", "record_hash"),
    "change": ("scan_id", "record_hash"),
    "error": ("scan_id", "record_hash"),
    "scan_summary": ("scan_id",),
}
FALLBACK_KEY = ("scan_id", "record_hash")
TABLE_NAMES = {"scan_summary": "scans"}
UNIT = ("account_id", "region")
# The columns a sink adds to inventory tables; the first three are set on every upsert.
SEEN = ("first_seen_scan_id", "last_seen_scan_id", "last_seen_at")
DELETED = ("deleted_at", "deleted_scan_id")


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
    if isinstance(info, mi.LiteralType) and all(isinstance(v, str) for v in info.values):
        return Column(name, Kind.TEXT, mi.StrType(), nullable)
    return Column(name, _SCALARS.get(type(info), Kind.JSON), info, nullable)


@dataclass(frozen=True, eq=False)
class Table:
    name: str
    tag: str
    record: type[Record]
    # The record's fields in order (not the tag), plus `record_hash` when the key uses it.
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    _hasher: Callable[[Record], str] = field(repr=False, compare=False)

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
        return (*row, self._hasher(record)) if self.hashed else row

    def key_of(self, row: Sequence[Any]) -> tuple[Any, ...]:
        key: tuple[Any, ...] = self._key(row)
        return key

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
        _hasher=_content_hash,
    )


def known_tables() -> list[Table]:
    """The tables of every record type a scan produces (created up front, so a scan that saw
    none of one type still finds its table and marks its rows)."""
    return [table_for(t) for t in typing.get_args(ScanRecord)]


@functools.cache
def _counted_tables() -> frozenset[str]:
    """The inventory tables whose rows the summary counts per region: repositories, images."""
    counted = {f.name for f in msgspec.structs.fields(RegionCounts)}
    return frozenset(t.name for t in known_tables() if t.per_unit and t.name in counted)


def group(
    batch: Iterable[Record], tally: Tally
) -> tuple[dict[Table, list[Record]], ScanSummary | None]:
    """A batch's records by table, counted in `tally`; the summary, if the batch has it."""
    tables: dict[Table, list[Record]] = {}
    summary = None
    for record in batch:
        table = table_for(type(record))
        tables.setdefault(table, []).append(record)
        tally.add(table, record)
        if isinstance(record, ScanSummary):
            summary = record
    return tables, summary


def dedupe(table: Table, rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """One row per key, the last one winning (an upsert cannot touch a row twice)."""
    return list({table.key_of(row): row for row in rows}.values())


class Tally:
    """What a sink saw of one scan, to decide which rows the scan's end may mark deleted.

    An account-region is complete when the summary says the scan was complete, lists it (per
    account, or for the scan's own account) with no errors, no error record of it came through,
    and the sink received as many records of each table the summary counts (repositories,
    images) as the summary says. In a complete account-region, the tables the summary counts are
    always marked; another inventory table (manifests, findings, ...) only if the scan delivered
    records of it at all and no optional enrichment failed there, since a scan that did not
    collect a kind of record has not seen it vanish.
    """

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.tables: Counter[str] = Counter()
        self.errors: set[tuple[str, str]] = set()
        self.optional_errors: set[tuple[str, str]] = set()

    def add(self, table: Table, record: Any) -> None:
        if table.tag == "error":
            unit = (record.account_id, record.region)
            (self.optional_errors if getattr(record, "optional", False) else self.errors).add(unit)
        elif table.per_unit:
            self.counts[(table.name, record.account_id, record.region)] += 1
            self.tables[table.name] += 1

    def deletions(
        self, summary: ScanSummary, tables: Iterable[Table]
    ) -> list[tuple[Table, str, str]]:
        """(table, account, region): where rows the scan did not see are marked deleted."""
        if summary.status != "complete":
            return []
        units: dict[str, dict[str, RegionCounts]] = dict(getattr(summary, "accounts", {}) or {})
        if not units and summary.account_id is not None:
            units = {summary.account_id: summary.regions}
        tables = [t for t in tables if t.per_unit]
        counted = _counted_tables()
        out = []
        for account, regions in units.items():
            for region, counts in regions.items():
                unit = (account, region)
                if counts.errors or unit in self.errors or not self._all_received(unit, counts):
                    continue
                failed: int = getattr(counts, "optional_errors", 0)
                optional_failed = failed > 0 or unit in self.optional_errors
                out += [
                    (t, account, region)
                    for t in tables
                    if t.name in counted or (self.tables[t.name] and not optional_failed)
                ]
        return out

    def _all_received(self, unit: tuple[str, str], counts: RegionCounts) -> bool:
        numbers = msgspec.structs.asdict(counts)
        return all(
            self.counts[(name, *unit)] == numbers[name]
            for name in _counted_tables() & numbers.keys()
        )
