"""What a person sees on a terminal: the live progress line, the scan summary, the table of
`ecr-crawler permissions`, and where a report command writes (stdout or --output)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from crawler.errors import ConfigError

if TYPE_CHECKING:  # each command imports only what it shows
    from crawler.graph import ScanStats
    from crawler.permissions import Report
    from crawler.records import ScanSummary


def _line(stats: ScanStats, rate: float) -> Text:
    return Text.assemble(
        ("scanning ", "bold"),
        f"regions {stats.regions_done}/{stats.regions_total}  ",
        f"repositories {stats.total('repositories'):,}  images {stats.total('images'):,}  ",
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
    many = len(summary.accounts) > 1
    for column in ("account", "region", "repositories", "images", "errors")[0 if many else 1 :]:
        table.add_column(column, justify="left" if column in ("account", "region") else "right")
    for account, regions in sorted(summary.accounts.items()):
        for region, counts in sorted(regions.items()):
            cells = [f"{counts.repositories:,}", f"{counts.images:,}", f"{counts.errors:,}"]
            table.add_row(*([account, region] if many else [region]), *cells)
    seconds = (summary.finished_at - summary.started_at).total_seconds()
    console.print(table)
    who = f"{len(summary.accounts)} accounts" if many else f"account {summary.account_id}"
    console.print(
        f"{who}  {seconds:.1f} s  {summary.api_calls:,} API calls  "
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


def print_permissions(report: Report, console: Console) -> None:
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


def write_text(text: str, output: str | None) -> None:
    """A report's text to stdout, or to the file `output` (a ConfigError when it cannot be)."""
    if output is None:
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{output}: cannot write the report: {exc.strerror}") from None


def print_to(show: Callable[[Console], None], output: str | None) -> None:
    """A report's tables on stdout (160 columns off a terminal), or in the file `output`,
    uncoloured."""
    if output is None:
        show(Console(width=None if sys.stdout.isatty() else 160))
        return
    with open(output, "w", encoding="utf-8") as file:
        show(Console(file=file, width=160, color_system=None))
