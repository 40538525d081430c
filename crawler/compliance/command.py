"""What `ecr-crawler checks` and `ecr-crawler scan --checks` do once the arguments are parsed."""

from __future__ import annotations

import json
import sys
from typing import Literal

import structlog
from rich.console import Console
from rich.table import Table

from crawler.compliance.checker import Checker, Report, select
from crawler.compliance.checks import RULES
from crawler.compliance.formats import print_table, severity_line, to_json, to_sarif
from crawler.compliance.html import to_html
from crawler.config import Compliance, Lifecycle
from crawler.display import print_to, write_text
from crawler.lifecycle.report import DryRun, dry_run
from crawler.sinks.saved import open_saved

Format = Literal["table", "json", "sarif", "html"]
log = structlog.get_logger(__name__)


def list_checks(console: Console) -> None:
    table = Table(title="compliance checks (docs/compliance.md)", title_justify="left")
    for column in ("check", "severity", "needs", "title"):
        table.add_column(column, no_wrap=column == "check", overflow="fold")
    for rule in RULES:
        table.add_row(rule.id, rule.severity, rule.needs or "-", rule.title)
    console.print(table)


def check_saved(
    location: str,
    settings: Compliance,
    *,
    output_format: Format = "table",
    output: str | None = None,
    fail_on: str | None = None,
    lifecycle: Lifecycle | None = None,
) -> int:
    """Run the checks over a saved scan, write the report, and return the exit code: 4 when
    an unsuppressed finding at or above `fail_on` remains, else 0. The lifecycle check, and the
    HTML report's dry run of the repositories' own policies, use `lifecycle`'s settings."""
    select(settings)  # a bad selection fails before the input is read
    saved = open_saved(location)
    # Ages are measured at the scan's start, so a saved scan always gives the same findings.
    checker = Checker(
        settings,
        lifecycle=lifecycle,
        as_of=saved.summary.started_at if saved.summary else None,
    )
    for record in saved.records:
        checker.observe(record)
    report = checker.finish()
    run = None
    if output_format == "html":
        run = dry_run(checker.inventory.lifecycle, checker.lifecycle, checker.as_of)
    write_report(report, output_format, output, run)
    return gate(report, fail_on)


def write_report(
    report: Report, output_format: Format, output: str | None, lifecycle: DryRun | None = None
) -> None:
    if output_format == "table":
        print_to(lambda console: print_table(report, console), output)
    elif output_format == "html":
        write_text(to_html(report, lifecycle), output)
    else:
        data = to_sarif(report) if output_format == "sarif" else to_json(report)
        write_text(json.dumps(data, indent=2, default=str) + "\n", output)


def gate(report: Report, fail_on: str | None) -> int:
    failing = report.failing(fail_on)
    if failing:
        print(
            f"ecr-crawler: {len(failing)} open findings at or above {fail_on} (exit 4)",
            file=sys.stderr,
        )
    return report.exit_code(fail_on)


def after_scan(checker: Checker, code: int, fail_on: str | None, *, show: bool) -> int:
    """`scan --checks`: say what the checks found (a table on a terminal, one log event
    otherwise) and return the exit code: the scan's own when it is not 0 (the gate needs a
    complete inventory), else the gate's."""
    report = checker.report
    if report is None:  # the scan ended without a summary: nothing was checked
        return code
    if show:
        console = Console(stderr=True)
        if console.is_terminal:
            print_table(report, console, findings=False)
        else:
            log.info(
                "checks finished",
                findings=len(report.open),
                suppressed=len(report.findings) - len(report.open),
                **{k.lower(): v for k, v in report.counts().items()},
                skipped=[o.rule.id for o in report.outcomes if o.status == "skipped"],
                summary=severity_line(report),
            )
    return code or gate(report, fail_on)
