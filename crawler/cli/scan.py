"""`ecr-crawler scan` and `demo` once the arguments are parsed: the config from flags, the sink
(wrapped to add change records or findings), signals, the live progress line and the summary."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import msgspec
import structlog
from anyio.abc import TaskStatus
from rich.console import Console

from crawler.aws.credentials import Session, new_session, read_credentials
from crawler.changes import ChangeSink, previous_scan
from crawler.cli.parser import EXIT_ERRORS, EXIT_INTERRUPTED, EXIT_OK, config_flags
from crawler.compliance import Checker, CheckingSink
from crawler.compliance.command import after_scan
from crawler.config import Config, load_config, plaintext_secrets
from crawler.display import print_summary, show_progress
from crawler.errors import ConfigError, CrawlerError, InterruptedScanError
from crawler.graph import ScanStats, scan
from crawler.log import Redactor, configure
from crawler.records import ScanSummary
from crawler.sinks import Sink, describe, open_sink

EXIT_FOR_STATUS = {"complete": EXIT_OK, "partial": EXIT_ERRORS, "interrupted": EXIT_INTERRUPTED}

log = structlog.get_logger(__name__)


def scan_command(config: Config, args: argparse.Namespace) -> int:
    checker = Checker(config.compliance) if args.checks or args.fail_on else None
    _check_directory("--summary-json", args.summary_json)
    warnings = plaintext_secrets(args.config)
    previous = previous_scan(config.sink) if args.emit_changes else None
    sink: Sink | None = None
    try:
        with _signals_held():  # a signal now must find the sink in `sink`, to close it
            sink = open_sink(config.sink, config.sink_options)
            if previous is not None:
                sink = ChangeSink(sink, previous)
            if checker is not None:
                sink = CheckingSink(sink, checker)
        code = run_scan(config, sink, summary_json=args.summary_json, warnings=warnings)
    except KeyboardInterrupt:
        if sink is not None:  # interrupted before the scan could close it
            with contextlib.suppress(OSError):  # already closed, as far as it got
                anyio.run(sink.aclose)
        raise
    if checker is None:
        return code
    return after_scan(checker, code, args.fail_on, show=config.log.level != "error")


def demo_command(args: argparse.Namespace) -> int:
    from crawler.demo import DEMO_REGIONS, demo_session, start_emulator

    values, flags = config_flags(args)
    with start_emulator() as endpoint:
        config = load_config(
            None,
            flags=flags,
            regions=DEMO_REGIONS,
            endpoint_url=endpoint,
            **{
                **values,
                "sink": values["sink"] or "sqlite:demo-inventory.db",
                # The emulator answers ECR operations it lacks with 500s: no point waiting.
                "retry.max_attempts": 3,
                "collect.referrers": True,
                "collect.scan_findings": "full",
                "collect.registry": True,
                "collect.policies": True,
                "collect.tags": True,
            },
        )
        sink = open_sink(config.sink, config.sink_options)
        code = run_scan(config, sink, demo_session(), summary_json=args.summary_json)
    print(f"records written to {describe(config.sink)}", file=sys.stderr)
    if config.sink.startswith("sqlite:"):
        from crawler.sinks.sqlite import examples

        print(examples(config.sink.removeprefix("sqlite:")), file=sys.stderr)
    return code


def run_scan(
    config: Config,
    sink: Sink,
    session: Session | None = None,
    *,
    summary_json: str | None = None,
    warnings: list[str] | None = None,
) -> int:
    """Scan into `sink` and close it; the exit code of the scan's status."""
    redactor = Redactor()
    configure(config.log.level, config.log.format, redactor)
    for warning in warnings or ():
        log.warning(f"config file holds a secret in plain text: {warning}")
    summary = anyio.run(_scan, config, sink, session or new_session(), redactor)
    if summary_json:
        try:
            Path(summary_json).write_bytes(msgspec.json.format(msgspec.json.encode(summary)))
        except OSError as exc:
            raise CrawlerError(f"--summary-json {summary_json}: {exc.strerror}") from None
    return EXIT_FOR_STATUS[summary.status]


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait (and are delivered on exit) while the block runs."""
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _check_directory(flag: str, path: str | None) -> None:
    """Before the scan, not after it: a file nobody can write must not cost a whole scan."""
    if path and not Path(path).resolve().parent.is_dir():
        raise ConfigError(f"{flag} {path}: no such directory")


async def _scan(config: Config, sink: Sink, session: Session, redactor: Redactor) -> ScanSummary:
    console = Console(stderr=True)
    # Records on a terminal's stdout would interleave with the progress line.
    records_on_terminal = config.sink in ("-", "jsonl:-") and sys.stdout.isatty()
    interactive = console.is_terminal and not records_on_terminal and config.log.level != "error"
    stats = ScanStats()
    stop = anyio.Event()
    credentials = await read_credentials(session)
    if credentials is not None:
        redactor.add(credentials.secret_key, credentials.token)
    summary: ScanSummary | None = None
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(_on_signals, stop, tg.cancel_scope)
            if interactive:
                tg.start_soon(show_progress, stats, console)
            summary = await scan(config, sink, session=session, stop=stop, stats=stats)
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await sink.aclose()
    if summary is None:
        raise InterruptedScanError("interrupted twice: stopped without a summary")
    if interactive:
        print_summary(summary, console)
    else:
        log.info("scan finished", **_summary_fields(summary))
    return summary


def _summary_fields(summary: ScanSummary) -> dict[str, Any]:
    return {
        "scan_id": summary.scan_id,
        "status": summary.status,
        "repositories": sum(c.repositories for c in summary.regions.values()),
        "images": sum(c.images for c in summary.regions.values()),
        "errors": sum(c.errors for c in summary.regions.values()),
        "api_calls": summary.api_calls,
        "retries": summary.retries,
        "throttled": summary.throttled,
        "regions_skipped": summary.regions_skipped,
    }


async def _on_signals(
    stop: anyio.Event, scope: anyio.CancelScope, *, task_status: TaskStatus[None]
) -> None:
    """First SIGINT/SIGTERM: stop the scan and keep what was collected; second: stop now."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for _ in signals:
            if stop.is_set():
                scope.cancel()
                return
            stop.set()
