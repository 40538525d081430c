"""The command line: arguments, exit codes, what a person sees; nothing else.

Exit codes: 0 complete, 1 completed with errors (or failed), 2 bad usage or config,
3 credentials missing or rejected, 4 a compliance finding at or above --fail-on, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import anyio
import msgspec
import structlog
from aiobotocore.session import AioSession
from anyio.abc import TaskStatus
from rich.console import Console

from crawler import __version__
from crawler.aws.errors import translate
from crawler.aws.session import resolve_regions
from crawler.changes import ChangeSink, diff, previous_scan, read_state
from crawler.permissions import check
from crawler.compliance import SEVERITIES, Checker, CheckingSink
from crawler.compliance.command import after_scan, check_saved, list_checks
from crawler.config import Config, load_config, plaintext_secrets
from crawler.display import print_check, print_summary, show_progress
from crawler.errors import ConfigError, CrawlerError, InterruptedScanError
from crawler.graph import ScanStats, scan
from crawler.log import Redactor, configure
from crawler.plan import plan_units, shard_of
from crawler.policy import multi_account_policies, policy_document
from crawler.records import ScanSummary
from crawler.sinks import Sink, describe, open_sink

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_CREDENTIALS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_FOR_STATUS = {"complete": EXIT_OK, "partial": EXIT_ERRORS, "interrupted": EXIT_INTERRUPTED}

EXAMPLES = """\
examples:
  ecr-crawler demo
  ecr-crawler scan --regions us-east-1,eu-west-1 --sink jsonl:inventory.jsonl
  ecr-crawler scan --regions all --sink - | jq -r 'select(.type=="image") | .image_uri'
  ecr-crawler scan -c config.yaml --log-format json 2> scan.log

exit codes: 0 complete, 1 completed with errors, 2 bad usage or config,
            3 credentials missing or rejected, 4 findings at or above --fail-on,
            130 interrupted
"""

log = structlog.get_logger(__name__)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ecr-crawler",
        description="Inventory every repository and image of AWS ECR, as typed records.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ecr-crawler {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    common = _Parser(add_help=False)
    common.add_argument(
        "--sink",
        metavar="URI",
        help="'-' (stdout, default), jsonl:PATH[.gz], sqlite:PATH, "
        "postgresql://USER@HOST:PORT/DB, parquet:DIR (docs/sinks.md)",
    )
    common.add_argument("--log-format", choices=["auto", "console", "json"])
    common.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    common.add_argument(
        "-q", "--quiet", action="store_true", help="only errors on stderr, no progress display"
    )
    common.add_argument(
        "--summary-json", metavar="PATH", help="also write the scan_summary record here, for CI"
    )
    scan_cmd = commands.add_parser(
        "scan",
        parents=[common],
        help="scan the account's ECR and stream the inventory to a sink",
        description="Scan every repository and image (tagged, untagged, archived) of the "
        "account in the chosen regions. Flags override the config file, which overrides "
        "the defaults. Records go to the sink, logs to stderr.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scan_cmd.add_argument("-c", "--config", metavar="PATH", help="YAML config (see config.yaml)")
    scan_cmd.add_argument(
        "--regions", metavar="LIST", help="comma-separated regions, or 'all' (ECR's regions)"
    )
    scan_cmd.add_argument(
        "--concurrency", type=int, metavar="N", help="ECR calls in flight per region (16)"
    )
    scan_cmd.add_argument(
        "--shard", metavar="K/N", help="only the (account, region) units of shard K of N"
    )
    scan_cmd.add_argument(
        "--since", metavar="WHEN", help="only images pushed since: 36h, 7d, or a timestamp"
    )
    scan_cmd.add_argument(
        "--emit-changes",
        action="store_true",
        help="also write change records against the previous scan in the jsonl:PATH sink",
    )
    scan_cmd.add_argument(
        "--checks",
        action="store_true",
        help="run the compliance checks (compliance: in the config) and add finding records "
        "before the summary (docs/compliance.md)",
    )
    scan_cmd.add_argument(
        "--fail-on",
        type=str.upper,
        choices=SEVERITIES,
        metavar="SEVERITY",
        help="exit 4 when a finding at or above SEVERITY (CRITICAL, HIGH, MEDIUM, LOW, "
        "INFORMATIONAL) remains unsuppressed; implies --checks",
    )
    scan_cmd.add_argument(
        "--prune",
        action="store_true",
        help="after a complete scan, delete what it no longer saw from the sink's database "
        "or dataset, instead of marking it deleted",
    )
    commands.add_parser(
        "demo",
        parents=[common],
        help="scan a sample registry in an embedded ECR emulator (no AWS account needed)",
        description="Start a moto ECR emulator on 127.0.0.1, seed a sample registry in three "
        "regions, scan it with the real scan code and print the summary.",
    )
    policy_cmd = commands.add_parser(
        "policy",
        help="print the least-privilege IAM policy for a config",
        description="Print the IAM policy JSON with exactly the actions the config needs: the "
        "base read actions plus those of each enabled collect option. With accounts: or "
        "organization:, print three documents: the policy of the identity the crawler runs "
        "as (assume the member roles, discover accounts), and the policy and trust policy of "
        "the role in each member account.",
        epilog="example:\n  ecr-crawler policy -c config.yaml > ecr-crawler-policy.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    policy_cmd.add_argument("-c", "--config", metavar="PATH", help="YAML config")
    check_cmd = commands.add_parser(
        "check",
        help="test credentials and every IAM action the config needs, region by region",
        description="Prove the credentials (sts:GetCallerIdentity), then try each ECR action "
        "the config needs once in every configured region, and print what is missing with "
        "the policy statement to add.",
        epilog="examples:\n  ecr-crawler check --regions us-east-1,eu-west-1\n"
        "  ecr-crawler check -c config.yaml --format json | jq .missing_actions\n\n"
        "exit codes: 0 everything works, 1 some action is denied or failed,\n"
        "            2 bad usage or config, 3 credentials missing or rejected",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check_cmd.add_argument("-c", "--config", metavar="PATH", help="YAML config")
    check_cmd.add_argument("--regions", metavar="LIST", help="comma-separated regions, or 'all'")
    check_cmd.add_argument("--format", choices=["table", "json"], default="table")
    plan_cmd = commands.add_parser(
        "plan",
        help="print the scan's (account, region) units and their shards; no ECR calls",
        description="List every (account, region) unit of the scan (discovering accounts in "
        "organization mode) and the shard K/N each falls in, as tab-separated lines.",
        epilog="example:\n  ecr-crawler plan -c org.yaml --regions all --shards 4 | cut -f3 | "
        "sort | uniq -c",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    plan_cmd.add_argument("-c", "--config", metavar="PATH", help="YAML config")
    plan_cmd.add_argument("--regions", metavar="LIST", help="comma-separated regions, or 'all'")
    plan_cmd.add_argument("--shards", type=int, default=1, metavar="N", help="number of shards")
    diff_cmd = commands.add_parser(
        "diff",
        help="change records between two scan outputs (JSON lines)",
        description="Compare two finished scans written by the JSON lines sink and print "
        "change records: repository_added/removed/changed, image_added/removed, tag_moved. "
        "Removals are reported only for (account, region) units both scans completed.",
        epilog="example:\n  ecr-crawler diff monday.jsonl.gz tuesday.jsonl.gz | "
        "jq -c 'select(.change==\"tag_moved\")'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    diff_cmd.add_argument("old", metavar="OLD")
    diff_cmd.add_argument("new", metavar="NEW")
    checks_cmd = commands.add_parser(
        "checks",
        help="run the compliance checks over a saved scan (no AWS call)",
        description="Run the compliance checks over a scan saved as JSON lines (.jsonl, "
        ".jsonl.gz, - for stdin) or by the SQLite sink, and report the findings. The config's "
        "compliance: section selects checks, thresholds and suppressions.",
        epilog="examples:\n  ecr-crawler checks inventory.jsonl.gz\n"
        "  ecr-crawler checks inventory.db --format sarif --output ecr.sarif --fail-on HIGH\n"
        "  ecr-crawler checks --list\n\n"
        "exit codes: 0 no finding at or above --fail-on, 2 bad usage, config or input,\n"
        "            4 an unsuppressed finding at or above --fail-on",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    checks_cmd.add_argument("input", nargs="?", metavar="INPUT", help="a saved scan")
    checks_cmd.add_argument("-c", "--config", metavar="PATH", help="YAML config")
    checks_cmd.add_argument("--format", choices=["table", "json", "sarif", "html"], default="table")
    checks_cmd.add_argument("--output", metavar="PATH", help="write the report here (stdout)")
    checks_cmd.add_argument(
        "--fail-on",
        type=str.upper,
        choices=SEVERITIES,
        metavar="SEVERITY",
        help="exit 4 when an unsuppressed finding at or above SEVERITY remains",
    )
    checks_cmd.add_argument("--list", action="store_true", help="list the checks and exit")
    regions_cmd = commands.add_parser(
        "regions",
        help="list the regions that --regions all expands to (no AWS call)",
        description="List every region where ECR is offered in the partition, from botocore's "
        "endpoint data: what --regions all scans.",
    )
    regions_cmd.add_argument("--partition", choices=["aws", "aws-cn", "aws-us-gov"], default="aws")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    debug = getattr(args, "log_level", None) == "debug"
    # Until the scan's own signal receiver runs, SIGTERM stops us as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sink: Sink | None = None
    try:
        if args.command == "demo":
            return _demo(args)
        if args.command == "policy":
            config = load_config(args.config)
            many = config.accounts or config.organization
            policies = multi_account_policies(config) if many else policy_document(config)
            print(json.dumps(policies, indent=2))
            return EXIT_OK
        if args.command == "check":
            return _check(load_config(args.config, regions=args.regions), args.format)
        if args.command == "plan":
            return _plan(load_config(args.config, regions=args.regions), args.shards)
        if args.command == "diff":
            old, new = read_state(args.old), read_state(args.new)
            sys.stdout.buffer.write(msgspec.json.Encoder().encode_lines(list(diff(old, new))))
            return EXIT_OK
        if args.command == "checks":
            return _compliance(args)
        if args.command == "regions":
            config = load_config(partition=args.partition, regions="all")
            print("\n".join(anyio.run(resolve_regions, config, AioSession())[0]))
            return EXIT_OK
        config = load_config(
            args.config,
            regions=args.regions,
            sink=args.sink,
            **{
                "concurrency.api_calls": args.concurrency,
                "shard": args.shard,
                "since": args.since,
                "sink_options.prune": args.prune or None,
                "log.format": args.log_format,
                "log.level": "error" if args.quiet else args.log_level,
            },
        )
        checker = Checker(config.compliance) if args.checks or args.fail_on else None
        _check_directory("--summary-json", args.summary_json)
        warnings = plaintext_secrets(args.config)
        previous = previous_scan(config.sink) if args.emit_changes else None
        with _signals_held():  # a signal now must find the sink in `sink`, to close it
            sink = open_sink(config.sink, config.sink_options)
            if previous is not None:
                sink = ChangeSink(sink, previous)
            if checker is not None:
                sink = CheckingSink(sink, checker)
        code = _run(config, sink, AioSession(), args.summary_json, warnings)
        if checker is None:
            return code
        return after_scan(checker, code, args.fail_on, show=config.log.level != "error")
    except KeyboardInterrupt:
        if sink is not None:  # interrupted before the scan could close it
            with contextlib.suppress(OSError):  # already closed, as far as it got
                anyio.run(sink.aclose)
        print("ecr-crawler: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            raise
        exc = translate(_cause(exc))
        if isinstance(exc, CrawlerError):
            print(f"ecr-crawler: error: {Redactor().redact(str(exc))}", file=sys.stderr)
            return exc.exit_code
        print(
            f"ecr-crawler: internal error: {type(exc).__name__}: {exc} "
            "(rerun with --log-level debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_ERRORS


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


def _cause(exc: Exception) -> Exception:
    """The error a person needs to see: task groups wrap it in exception groups."""
    while isinstance(exc, ExceptionGroup):
        ours = [e for e in exc.exceptions if isinstance(e, CrawlerError | ExceptionGroup)]
        exc = (ours or list(exc.exceptions))[0]
    return exc


def _run(
    config: Config,
    sink: Sink,
    session: AioSession,
    summary_json: str | None = None,
    warnings: list[str] | None = None,
) -> int:
    redactor = Redactor()
    configure(config.log.level, config.log.format, redactor)
    for warning in warnings or ():
        log.warning(f"config file holds a secret in plain text: {warning}")
    summary = anyio.run(_scan, config, sink, session, redactor)
    if summary_json:
        try:
            Path(summary_json).write_bytes(msgspec.json.format(msgspec.json.encode(summary)))
        except OSError as exc:
            raise CrawlerError(f"--summary-json {summary_json}: {exc.strerror}") from None
    return EXIT_FOR_STATUS[summary.status]


async def _scan(config: Config, sink: Sink, session: AioSession, redactor: Redactor) -> ScanSummary:
    console = Console(stderr=True)
    # Records on a terminal's stdout would interleave with the progress line.
    records_on_terminal = config.sink in ("-", "jsonl:-") and sys.stdout.isatty()
    interactive = console.is_terminal and not records_on_terminal and config.log.level != "error"
    stats = ScanStats()
    stop = anyio.Event()
    credentials = await session.get_credentials()
    if credentials is not None:
        frozen = await credentials.get_frozen_credentials()
        redactor.add(frozen.secret_key, frozen.token)
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


def _compliance(args: argparse.Namespace) -> int:
    if args.list:
        list_checks(Console(width=None if sys.stdout.isatty() else 160))
        return EXIT_OK
    if args.input is None:
        print("ecr-crawler checks: error: give INPUT, a saved scan (or --list)", file=sys.stderr)
        return EXIT_USAGE
    settings = load_config(args.config).compliance
    return check_saved(
        args.input, settings, output_format=args.format, output=args.output, fail_on=args.fail_on
    )


def _plan(config: Config, shards: int) -> int:
    configure("warning", "auto", Redactor())
    for account, region in anyio.run(plan_units, config, AioSession()):
        print(f"{account}\t{region}\t{shard_of(account, region, shards)}/{shards}")
    return EXIT_OK


def _check(config: Config, output: str) -> int:
    configure(config.log.level if config.log.level != "info" else "warning", "auto", Redactor())
    report = anyio.run(check, config, AioSession())
    if output == "json":
        data = msgspec.to_builtins(report)
        data["policy_statement"] = report.policy_statement()
        data["exit_code"] = report.exit_code
        print(json.dumps(data, indent=2))
    else:
        # Wide enough off a terminal (CI logs) that action names stay on one line.
        print_check(report, Console(width=None if sys.stdout.isatty() else 160))
    return report.exit_code


def _demo(args: argparse.Namespace) -> int:
    from crawler.demo import DEMO_REGIONS, demo_session, start_emulator

    with start_emulator() as endpoint:
        config = load_config(
            None,
            regions=DEMO_REGIONS,
            endpoint_url=endpoint,
            sink=args.sink or "sqlite:demo-inventory.db",
            # The emulator answers ECR operations it lacks with 500s: no point waiting on them.
            **{
                "log.format": args.log_format,
                "log.level": "error" if args.quiet else args.log_level,
                "retry.max_attempts": 3,
                "collect.referrers": True,
                "collect.scan_findings": "full",
                "collect.registry": True,
                "collect.policies": True,
                "collect.tags": True,
            },
        )
        sink = open_sink(config.sink, config.sink_options)
        code = _run(config, sink, demo_session(), args.summary_json)
    print(f"records written to {describe(config.sink)}", file=sys.stderr)
    if config.sink.startswith("sqlite:"):
        from crawler.sinks.sqlite import examples

        print(examples(config.sink.removeprefix("sqlite:")), file=sys.stderr)
    return code
