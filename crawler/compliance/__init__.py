"""Compliance checks over the inventory, where the data already is: no AWS call of their own.

    records (stream order, summary last)
      -> Checker.observe        folds them into per-repository / per-registry state (inventory)
      -> Checker.finish         runs each selected check (checks), applies suppressions
      -> Report                 outcomes per check, `finding` records, the exit code for a gate
      -> table / JSON / SARIF 2.1.0 / HTML (formats, html)

`ecr-crawler scan --checks` wraps the sink in a `CheckingSink`, which writes the findings just
before the summary, and reports them with `after_scan`; `ecr-crawler checks INPUT` is
`check_saved`, over a saved scan read by `crawler.sinks.saved.open_saved`. Each check
registers itself with its rule (`crawler.compliance.checks`); `RULES` lists them, and so does
docs/compliance.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from crawler.compliance.checker import EXIT_FINDINGS, Checker, Outcome, Report
from crawler.compliance.checks import RULES
from crawler.compliance.command import after_scan, check_saved, list_checks
from crawler.compliance.rules import SEVERITIES, Rule
from crawler.compliance.sink import CheckingSink
from crawler.config import Compliance, Lifecycle
from crawler.records import ScanRecord
from crawler.sinks.saved import Saved, open_saved

__all__ = [
    "EXIT_FINDINGS",
    "RULES",
    "SEVERITIES",
    "Checker",
    "CheckingSink",
    "Outcome",
    "Report",
    "Rule",
    "Saved",
    "after_scan",
    "check_saved",
    "list_checks",
    "open_saved",
    "run_checks",
]


def run_checks(
    records: Iterable[ScanRecord],
    settings: Compliance | None = None,
    *,
    lifecycle: Lifecycle | None = None,
    as_of: datetime | None = None,
    today: date | None = None,
) -> Report:
    """Every selected check over `records` (in stream order), the lifecycle check with
    `lifecycle`'s settings (default: the config's defaults)."""
    checker = Checker(settings or Compliance(), lifecycle=lifecycle, as_of=as_of, today=today)
    for record in records:
        checker.observe(record)
    return checker.finish()
