"""`scan --checks`: a sink around the real one that shows every record to the checker and writes
the findings just before the scan summary, which stays the last record."""

from __future__ import annotations

from collections.abc import Sequence

from crawler.compliance.checker import Checker
from crawler.records import ScanRecord, ScanSummary
from crawler.sinks import Sink


class CheckingSink:
    def __init__(self, inner: Sink, checker: Checker) -> None:
        self.inner = inner
        self.checker = checker

    async def write(self, batch: Sequence[ScanRecord]) -> None:
        for record in batch:
            self.checker.observe(record)
        at = next((i for i, r in enumerate(batch) if isinstance(r, ScanSummary)), None)
        if at is None:
            await self.inner.write(batch)
            return
        findings = self.checker.finish().findings
        await self.inner.write([*batch[:at], *findings, *batch[at:]])

    async def aclose(self) -> None:
        await self.inner.aclose()
