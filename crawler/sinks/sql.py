"""The SQL of the database sinks, written once for SQLite and PostgreSQL: create and migrate a
table, upsert rows, and mark deleted (or prune) the rows a complete scan did not see.

A `Dialect` holds what differs between the two: column types, parameter placeholders, and
whose clock stamps a write. Inventory tables (`crawler.sinks.tables`) store the scan_id as
`first_seen_scan_id` and `last_seen_scan_id`, with `last_seen_at` (when a sink last wrote the
row), `deleted_at` and `deleted_scan_id`; an upsert undeletes a row that comes back.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from crawler.sinks.tables import Kind, Table

# The columns the database sinks add to inventory tables; SEEN are set on every upsert.
SEEN = (
    ("first_seen_scan_id", Kind.TEXT),
    ("last_seen_scan_id", Kind.TEXT),
    ("last_seen_at", Kind.TIMESTAMP),
)
DELETED = (("deleted_at", Kind.TIMESTAMP), ("deleted_scan_id", Kind.TEXT))


def quote(name: str) -> str:
    """An identifier, quoted for both dialects."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True, kw_only=True)
class Dialect:
    types: Mapping[Kind, str]
    # A parameter by its number from 1: "?{}" (SQLite), "${}" (PostgreSQL).
    placeholder: str
    # The SQL that stamps a write with the server's clock; None: the sink passes the time as
    # the statement's last parameter.
    now: str | None = None

    def param(self, number: int) -> str:
        return self.placeholder.format(number)

    def column(self, name: str, kind: Kind, not_null: bool = False) -> str:
        """A column's definition."""
        return f"{quote(name)} {self.types[kind]}{' NOT NULL' if not_null else ''}"

    def clock(self, number: int) -> str:
        """The time of a write, as SQL: the server's clock, or parameter `number`."""
        return self.now or self.param(number)


def columns(table: Table) -> list[tuple[str, Kind, bool]]:
    """The columns of a table as a database stores it: name, kind, NOT NULL."""
    out = [(c.name, c.kind, c.name in table.key) for c in table.stored]
    if table.inventory:
        out += [(name, kind, True) for name, kind in SEEN]
        out += [(name, kind, False) for name, kind in DELETED]
    return out


class Statements:
    """The SQL of one table, built once.

    `target` is the table's name as SQL (qualified or not). Rows come either as parameters, in
    the order of `table.columns` followed by the time of the write when the dialect has no
    clock, one execution per row; or, with `staged`, from a table holding `table.columns`,
    upserted in key order (two writers lock the same rows in the same order).

    `mark` takes (account, region, scan_id, since) and the time when the dialect has no clock;
    `prune` takes the first four. Both touch the rows of that account-region that the scan did
    not write, and that no other scan wrote after `since`, the instant the scan started writing.
    """

    def __init__(
        self, dialect: Dialect, table: Table, target: str, staged: str | None = None
    ) -> None:
        self.dialect = dialect
        self.target = target
        self.columns = columns(table)
        key = ", ".join(map(quote, table.key))
        definitions = ", ".join(dialect.column(*c) for c in self.columns)
        self.create = f"CREATE TABLE IF NOT EXISTS {target} ({definitions}, PRIMARY KEY ({key}))"
        self.upsert = _upsert(dialect, table, target, staged)
        unseen = (
            f"WHERE account_id = {dialect.param(1)} AND region = {dialect.param(2)} "
            f"AND last_seen_scan_id <> {dialect.param(3)} AND last_seen_at < {dialect.param(4)}"
        )
        self.mark = (
            f"UPDATE {target} SET deleted_at = {dialect.clock(5)}, "
            f"deleted_scan_id = {dialect.param(3)} {unseen} AND deleted_at IS NULL"
        )
        self.prune = f"DELETE FROM {target} {unseen}"

    def migrate(self, have: Collection[str]) -> list[str]:
        """What adds the columns of a newer record type to a table that has only `have` (never
        NOT NULL: the table has rows already; nothing is ever dropped or retyped)."""
        return [
            f"ALTER TABLE {self.target} ADD COLUMN {self.dialect.column(name, kind)}"
            for name, kind, _ in self.columns
            if name not in have
        ]


def _upsert(dialect: Dialect, table: Table, target: str, staged: str | None) -> str:
    names = [c.name for c in table.columns]

    def ref(name: str) -> str:
        return quote(name) if staged else dialect.param(names.index(name) + 1)

    stored = [c.name for c in table.stored]
    into, select = list(stored), [ref(c) for c in stored]
    update = [c for c in stored if c not in table.key]
    if table.inventory:
        into += [name for name, _ in SEEN]
        select += [ref("scan_id"), ref("scan_id"), dialect.clock(len(names) + 1)]
        update += [name for name, _ in SEEN[1:]]
    sets = [f"{quote(c)} = excluded.{quote(c)}" for c in update]
    if table.inventory:
        sets += [f"{quote(name)} = NULL" for name, _ in DELETED]
    key = ", ".join(map(quote, table.key))
    source = (
        f"SELECT {', '.join(select)} FROM {staged} ORDER BY {key}"
        if staged
        else f"VALUES ({', '.join(select)})"
    )
    conflict = f"DO UPDATE SET {', '.join(sets)}" if sets else "DO NOTHING"
    return (
        f"INSERT INTO {target} ({', '.join(map(quote, into))}) {source} "
        f"ON CONFLICT ({key}) {conflict}"
    )
