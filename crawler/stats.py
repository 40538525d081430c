"""The live counts of one scan, counted from the records as they reach the sink: the progress
display reads them while the scan runs, and the summary record is made from them at the end."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from crawler.aws.call import CallStats
from crawler.records import (
    Error,
    Image,
    RegionCounts,
    Repository,
    ScanRecord,
    ScanStatus,
    ScanSummary,
)

# The region of an error that concerns a whole account (its role could not be assumed).
ALL_REGIONS = "*"


@dataclass
class ScanStats:
    calls: CallStats = field(default_factory=CallStats)
    # By (account, region), counts named as RegionCounts' fields; region "*" holds an
    # account's own failure.
    units: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    regions_done: int = 0
    regions_total: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def open(self, account_id: str, region: str) -> None:
        """A unit is in the summary even when it holds nothing."""
        self.units.setdefault((account_id, region), Counter())

    def skip(self, account_id: str, region: str) -> None:
        """A region the account has not enabled, with --regions all: not scanned, not failed."""
        self.units.pop((account_id, region), None)
        self.skipped.append((account_id, region))

    def count(self, records: Sequence[ScanRecord]) -> None:
        for record in records:
            match record:
                case Image():
                    name = "images"
                case Repository():
                    name = "repositories"
                case Error(optional=True):
                    name = "optional_errors"
                case Error():
                    name = "errors"
                case _:
                    continue
            unit = (record.account_id, record.region)
            self.units.setdefault(unit, Counter())[name] += 1

    def total(self, name: str) -> int:
        return sum(c[name] for c in self.units.values())

    def summary(
        self,
        *,
        scan_id: str,
        account_id: str,
        started_at: datetime,
        interrupted: bool,
        shard: str | None,
    ) -> ScanSummary:
        # Credentials that stop working stop everything: what is unfinished is not "partial"
        # (which means "the rest is complete") but interrupted.
        status: ScanStatus = "partial" if self.total("errors") else "complete"
        if interrupted:
            status = "interrupted"
        accounts: dict[str, dict[str, RegionCounts]] = {}
        regions: dict[str, Counter[str]] = {}
        for (account, region), counts in sorted(self.units.items()):
            accounts.setdefault(account, {})[region] = RegionCounts(**counts)
            regions.setdefault(region, Counter()).update(counts)
        return ScanSummary(
            scan_id=scan_id,
            account_id=account_id,
            started_at=started_at,
            finished_at=datetime.now(UTC),
            status=status,
            regions={region: RegionCounts(**c) for region, c in regions.items()},
            regions_skipped=sorted({region for _, region in self.skipped}),
            accounts=accounts,
            shard=shard,
            api_calls=self.calls.api_calls,
            retries=self.calls.retries,
            throttled=self.calls.throttled,
        )
