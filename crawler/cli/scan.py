"""`ecr-crawler scan` and `demo` once the arguments are parsed: the config from flags, the sink
(wrapped to add change records or findings), signals, the live progress line and the summary,
which says where the records went; a scan that did not finish says where what it collected
was kept."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

import anyio
import msgspec
import structlog
from anyio.abc import TaskStatus
from rich.console import Console

from crawler.aws.credentials import Session, new_session, read_credentials
from crawler.changes import ChangeSink, previous_scan
from crawler.cli.opening import SinkOpening
from crawler.cli.parser import DEMO_SINK, EXIT_ERRORS, EXIT_INTERRUPTED, EXIT_OK, config_flags
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
    checker = (
        Checker(config.compliance, lifecycle=config.lifecycle)
        if args.checks or args.fail_on
        else None
    )
    _check_directory("--summary-json", args.summary_json)
    # Said before the sink opens: a sink that fails to open must not hide them.
    redactor = start_logging(config, plaintext_secrets(args.config))
    previous = previous_scan(config.sink) if args.emit_changes else None
    # The sink as opened, before any wrapper: it holds `kept` once closed.
    opening = SinkOpening()
    try:
        sink = opening.open(config.sink, config.sink_options)
        if previous is not None:
            sink = ChangeSink(sink, previous)
        if checker is not None:
            sink = CheckingSink(sink, checker)
        code = run_scan(
            config, sink, redactor=redactor, summary_json=args.summary_json, where=config.sink
        )
    except KeyboardInterrupt as exc:
        opening.abandon()  # whether or not the scan got to close it
        _note_kept(exc, opening.sink)
        raise
    except Exception as exc:
        _note_kept(exc, opening.sink)  # the scan closed the sink on its way out
        raise
    if code == EXIT_INTERRUPTED and (kept := _kept(opening.sink)):
        print(f"ecr-crawler: interrupted; what was collected is kept in {kept}", file=sys.stderr)
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
                "sink": values["sink"] or DEMO_SINK,
                # The emulator answers ECR operations it lacks with 500s: no point waiting.
                "retry.max_attempts": 3,
                "collect.referrers": True,
                "collect.scan_findings": "full",
                "collect.registry": True,
                "collect.policies": True,
                "collect.tags": True,
                "collect.signing": True,
                "collect.replication": True,
            },
        )
        redactor = start_logging(config)
        sink = open_sink(config.sink, config.sink_options)
        code = run_scan(
            config, sink, demo_session(), redactor=redactor, summary_json=args.summary_json
        )
    print(f"records written to {describe(config.sink)}", file=sys.stderr)
    if config.sink.startswith("sqlite:"):
        from crawler.sinks.sqlite import examples

        print(examples(config.sink.removeprefix("sqlite:")), file=sys.stderr)
    return code


def start_logging(config: Config, warnings: list[str] | None = None) -> Redactor:
    """Logging as the config says, and the config file's warnings said at once; the redactor
    that the scan adds the credentials it resolves to."""
    redactor = Redactor()
    configure(config.log.level, config.log.format, redactor)
    for warning in warnings or ():
        log.warning(f"config file holds a secret in plain text: {warning}")
    return redactor


def run_scan(
    config: Config,
    sink: Sink,
    session: Session | None = None,
    *,
    redactor: Redactor,
    summary_json: str | None = None,
    where: str | None = None,
) -> int:
    """Scan into `sink` and close it; the exit code of the scan's status. `where`: the sink URI
    the summary names as where the records went (None: the caller says it)."""
    summary = anyio.run(_scan, config, sink, session or new_session(), redactor, where)
    if summary_json:
        try:
            Path(summary_json).write_bytes(msgspec.json.format(msgspec.json.encode(summary)))
        except OSError as exc:
            raise CrawlerError(f"--summary-json {summary_json}: {exc.strerror}") from None
    return EXIT_FOR_STATUS[summary.status]


def _kept(sink: Sink | None) -> str | None:
    """Where a closed file sink kept the records (its `kept`); None for the other sinks, or a
    file sink that wrote nothing."""
    kept = getattr(sink, "kept", None)
    return None if kept is None else str(kept)


def _note_kept(exc: BaseException, sink: Sink | None) -> None:
    """The line that reports a failed or interrupted scan also says where its records are."""
    if kept := _kept(sink):
        exc.add_note(f"what was collected is kept in {kept}")


def _check_directory(flag: str, path: str | None) -> None:
    """Before the scan, not after it: a file nobody can write must not cost a whole scan."""
    if path and not Path(path).resolve().parent.is_dir():
        raise ConfigError(f"{flag} {path}: no such directory")


async def _scan(
    config: Config, sink: Sink, session: Session, redactor: Redactor, where: str | None
) -> ScanSummary:
    console = Console(stderr=True)
    # Records on a terminal's stdout would interleave with the progress line.
    records_on_terminal = config.sink in ("-", "jsonl:-") and sys.stdout.isatty()
    interactive = console.is_terminal and not records_on_terminal and config.log.level != "error"
    stats = ScanStats()
    stop = anyio.Event()
    summary: ScanSummary | None = None
    try:
        credentials = await read_credentials(session)
        if credentials is not None:
            redactor.add(credentials.secret_key, credentials.token)
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
    # An interrupted scan's records are not where a finished one's go: the caller says where.
    records = describe(where) if where and summary.status != "interrupted" else None
    if interactive:
        print_summary(summary, console)
        if records:
            console.print(f"records written to {records}")
    else:
        log.info("scan finished", **_summary_fields(summary, records))
    return summary


def _summary_fields(summary: ScanSummary, records: str | None) -> dict[str, Any]:
    where = {"records": records} if records else {}
    return {
        **where,
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
