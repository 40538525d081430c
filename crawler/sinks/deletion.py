"""The deletion policy: which rows the end of a scan may mark deleted (or prune), never guessed.

A sink counts every batch in a `Tally`; when the summary comes, `Tally.deletions` names the
(table, account, region) whose rows the scan did not see are gone. How they go is the sink's
part: the database sinks mark or delete rows (`crawler.sinks.sql`), the Parquet sink removes
older files.
"""

from __future__ import annotations

import functools
import operator
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import msgspec

from crawler.records import Error, Record, RegionCounts, ScanSummary
from crawler.sinks.tables import UNIT, Table, known_tables

_unit = operator.attrgetter(*UNIT)


@functools.cache
def _counted_tables() -> frozenset[str]:
    """The inventory tables whose rows the summary counts per region: repositories, images."""
    counted = {f.name for f in msgspec.structs.fields(RegionCounts)}
    return frozenset(t.name for t in known_tables() if t.per_unit and t.name in counted)


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

    def add(self, tables: Mapping[Table, Sequence[Record]]) -> None:
        """Count a batch, grouped by table (`crawler.sinks.tables.group`)."""
        for table, records in tables.items():
            if table.tag == "error":
                for error in records:
                    assert isinstance(error, Error)
                    unit = (error.account_id, error.region)
                    (self.optional_errors if error.optional else self.errors).add(unit)
            elif table.per_unit:
                name = table.name
                self.counts.update((name, *_unit(r)) for r in records)
                self.tables[name] += len(records)

    def deletions(
        self, summary: ScanSummary, tables: Iterable[Table]
    ) -> list[tuple[Table, str, str]]:
        """(table, account, region): where rows the scan did not see are marked deleted."""
        if summary.status != "complete":
            return []
        units: dict[str, dict[str, RegionCounts]] = dict(summary.accounts)
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
                optional_failed = counts.optional_errors > 0 or unit in self.optional_errors
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
