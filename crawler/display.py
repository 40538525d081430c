"""What a person sees on a terminal: the live progress line, the scan summary, the check table."""

from __future__ import annotations

import time

import anyio
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from crawler.check import Report
from crawler.graph import ScanStats
from crawler.records import ScanSummary


def _line(stats: ScanStats, rate: float) -> Text:
    repositories = sum(c.repositories for c in stats.regions.values())
    images = sum(c.images for c in stats.regions.values())
    return Text.assemble(
        ("scanning ", "bold"),
        f"regions {stats.regions_done}/{stats.regions_total}  ",
        f"repositories {repositories:,}  images {images:,}  ",
        f"{rate:,.0f} calls/s  throttled {stats.calls.throttled:,}",
    )


async def show_progress(stats: ScanStats, console: Console) -> None:
    """Redraw the progress line until cancelled; logs printed meanwhile appear above it."""
    last_calls, last_time, rate = 0, time.monotonic(), 0.0
    live = Live(
        _line(stats, 0),
        console=console,
        transient=True,
        redirect_stderr=True,
        redirect_stdout=False,
    )
    with live:
        while True:
            await anyio.sleep(0.5)
            now = time.monotonic()
            rate = (stats.calls.api_calls - last_calls) / (now - last_time)
            last_calls, last_time = stats.calls.api_calls, now
            live.update(_line(stats, rate))


def print_summary(summary: ScanSummary, console: Console) -> None:
    table = Table(title=f"scan {summary.status}: {summary.scan_id}", title_justify="left")
    for column in ("region", "repositories", "images", "errors"):
        table.add_column(column, justify="left" if column == "region" else "right")
    for region, counts in sorted(summary.regions.items()):
        table.add_row(
            region, f"{counts.repositories:,}", f"{counts.images:,}", f"{counts.errors:,}"
        )
    seconds = (summary.finished_at - summary.started_at).total_seconds()
    console.print(table)
    console.print(
        f"account {summary.account_id}  {seconds:.1f} s  {summary.api_calls:,} API calls  "
        f"{summary.retries:,} retries  {summary.throttled:,} throttled"
        + (
            f"  skipped (not enabled): {', '.join(summary.regions_skipped)}"
            if summary.regions_skipped
            else ""
        )
    )


STATUS_STYLE = {
    "ok": "green",
    "denied": "bold red",
    "error": "red",
    "not enabled": "yellow",
    "skipped": "dim",
}


def print_check(report: Report, console: Console) -> None:
    table = Table(title=f"account {report.account_id}  {report.principal}", title_justify="left")
    table.add_column("action", no_wrap=True)
    for column in ("region", "needed", "result", "detail"):
        table.add_column(column, overflow="fold")
    for probe in report.probes:
        table.add_row(
            probe.action,
            probe.region,
            "required" if probe.required else "optional",
            Text(probe.status, style=STATUS_STYLE[probe.status]),
            probe.detail,
        )
    console.print(table)
    for warning in report.warnings:
        console.print(Text(f"warning: {warning}", style="yellow"))
    if report.missing_actions:
        console.print(
            f"missing: {', '.join(report.missing_actions)}. Add this statement to the "
            "crawler's IAM policy (or turn off the collect options that need it):"
        )
        console.print_json(data=report.policy_statement())
    elif report.exit_code == 0:
        console.print(Text("all actions the config needs work", style="green"))
