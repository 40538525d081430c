"""What a person sees on a terminal: a live progress line while scanning, a summary table after."""

from __future__ import annotations

import time

import anyio
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

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
