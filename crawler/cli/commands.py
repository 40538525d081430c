"""The commands: each declares its options and does its work in a few lines. Each imports what
it needs when it runs, not at start-up: `--help`, `regions` and `policy` never load botocore,
rich, the sinks or the compliance checks."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from crawler.cli.parser import (
    CONFIG,
    DEMO_SINK,
    EXAMPLES,
    EXIT_OK,
    EXIT_USAGE,
    FAIL_ON,
    OUTPUT,
    REGIONS,
    command,
    config_flags,
    option,
    sink_option,
)

if TYPE_CHECKING:
    from rich.console import Console

    from crawler.config import Config


@command(
    "scan",
    help="scan the account's ECR and stream the inventory to a sink",
    description="Scan every repository and image (tagged, untagged, archived) of the account in "
    "the chosen regions. Flags override the config file, which overrides the defaults. Records "
    "go to the sink, logs to stderr.",
    epilog=EXAMPLES,
    options=(
        sink_option("the config's sink:, else '-'"),
        *OUTPUT,
        CONFIG,
        REGIONS,
        option(
            "--concurrency",
            key="concurrency.api_calls",
            type=int,
            metavar="N",
            help="ECR calls in flight per region (16)",
        ),
        option(
            "--shard",
            key="shard",
            metavar="K/N",
            help="only the (account, region) units of shard K of N",
        ),
        option(
            "--since",
            key="since",
            metavar="WHEN",
            help="only images pushed since: 36h, 7d, or a timestamp",
        ),
        option(
            "--emit-changes",
            action="store_true",
            help="also write change records against the previous scan in the jsonl:PATH or "
            "sqlite:PATH sink",
        ),
        option(
            "--checks",
            action="store_true",
            help="run the compliance checks (compliance: in the config) and add finding records "
            "before the summary (docs/compliance.md); --fail-on implies it",
        ),
        FAIL_ON,
        option(
            "--prune",
            key="sink_options.prune",
            action="store_true",
            default=None,  # not given: the config file's prune holds
            help="after a complete scan, delete what it no longer saw from the sink's database "
            "or dataset, instead of marking it deleted",
        ),
    ),
)
def scan(args: argparse.Namespace) -> int:
    from crawler.cli.scan import scan_command

    return scan_command(_load_config(args), args)


@command(
    "demo",
    help="scan a sample registry in an embedded ECR emulator (no AWS account needed)",
    description="Start a moto ECR emulator on 127.0.0.1, seed a sample registry in three "
    "regions, scan it with the real scan code and print the summary.",
    options=(sink_option(DEMO_SINK), *OUTPUT),
)
def demo(args: argparse.Namespace) -> int:
    from crawler.cli.scan import demo_command

    return demo_command(args)


@command(
    "policy",
    help="print the least-privilege IAM policy for a config",
    description="Print the IAM policy JSON with exactly the actions the config needs: the base "
    "read actions plus those of each enabled collect option. With accounts: or organization:, "
    "print three documents: the policy of the identity the crawler runs as (assume the member "
    "roles, discover accounts), and the policy and trust policy of the role in each member "
    "account.",
    epilog="example:\n  ecr-crawler policy -c config.yaml > ecr-crawler-policy.json",
    options=(CONFIG,),
)
def policy(args: argparse.Namespace) -> int:
    from crawler.policy import multi_account_policies, policy_document

    config = _load_config(args)
    many = config.accounts or config.organization
    _print_json(multi_account_policies(config) if many else policy_document(config))
    return EXIT_OK


@command(
    "permissions",
    help="test credentials and every IAM action the config needs, region by region",
    description="Prove the credentials (sts:GetCallerIdentity), then try each ECR action the "
    "config needs once in every configured region, and print what is missing with the policy "
    "statement to add.",
    epilog="examples:\n  ecr-crawler permissions --regions us-east-1,eu-west-1\n"
    "  ecr-crawler permissions -c config.yaml --format json | jq .missing_actions\n\n"
    "exit codes: 0 everything works, 1 some action is denied or failed,\n"
    "            2 bad usage or config, 3 credentials missing or rejected",
    options=(CONFIG, REGIONS, option("--format", choices=["table", "json"], default="table")),
)
def permissions(args: argparse.Namespace) -> int:
    import anyio
    import msgspec

    from crawler.log import Redactor, configure
    from crawler.permissions import probe_permissions

    config = _load_config(args)
    configure(config.log.level if config.log.level != "info" else "warning", "auto", Redactor())
    report = anyio.run(probe_permissions, config)
    if args.format == "json":
        data = msgspec.to_builtins(report)
        data["policy_statement"] = report.policy_statement()
        data["exit_code"] = report.exit_code
        _print_json(data)
    else:
        from crawler.display import print_permissions

        print_permissions(report, _wide_console())
    return report.exit_code


@command(
    "plan",
    help="print the scan's (account, region) units and their shards; no ECR calls",
    description="List every (account, region) unit of the scan (discovering accounts in "
    "organization mode) and the shard K/N each falls in, as tab-separated lines.",
    epilog="example:\n  ecr-crawler plan -c org.yaml --regions all --shards 4 | cut -f3 | "
    "sort | uniq -c",
    options=(
        CONFIG,
        REGIONS,
        option("--shards", type=int, default=1, metavar="N", help="number of shards"),
    ),
)
def plan(args: argparse.Namespace) -> int:
    import anyio

    from crawler.log import Redactor, configure
    from crawler.plan import plan_units, shard_of

    config = _load_config(args)
    configure("warning", "auto", Redactor())
    for account, region in anyio.run(plan_units, config):
        print(f"{account}\t{region}\t{shard_of(account, region, args.shards)}/{args.shards}")
    return EXIT_OK


@command(
    "diff",
    help="change records between two saved scans (JSON lines or SQLite)",
    description="Compare two finished scans, each saved by the JSON lines sink (.jsonl, "
    ".jsonl.gz) or the SQLite sink (its database's last scan), and print change records: "
    "repository_added/removed/changed, image_added/removed, tag_moved. Removals are reported "
    "only for (account, region) units both scans completed; a setting one scan did not "
    "collect (null) is never a change.",
    epilog="examples:\n  ecr-crawler diff monday.jsonl.gz tuesday.jsonl.gz | "
    "jq -c 'select(.change==\"tag_moved\")'\n"
    "  ecr-crawler diff monday.jsonl.gz inventory.db",
    options=(
        option("old", metavar="OLD", help="the earlier scan: a .jsonl[.gz] file or a database"),
        option("new", metavar="NEW", help="the later scan: a .jsonl[.gz] file or a database"),
    ),
)
def diff(args: argparse.Namespace) -> int:
    import msgspec

    from crawler import changes

    old, new = changes.read_state(args.old), changes.read_state(args.new)
    sys.stdout.buffer.write(msgspec.json.Encoder().encode_lines(list(changes.diff(old, new))))
    return EXIT_OK


@command(
    "checks",
    help="run the compliance checks over a saved scan (no AWS call)",
    description="Run the compliance checks over a scan saved as JSON lines (.jsonl, .jsonl.gz, "
    "- for stdin) or by the SQLite sink, and report the findings. The config's compliance: "
    "section selects checks, thresholds and suppressions.",
    epilog="examples:\n  ecr-crawler checks inventory.jsonl.gz\n"
    "  ecr-crawler checks inventory.db --format sarif --output ecr.sarif --fail-on HIGH\n"
    "  ecr-crawler checks --list\n\n"
    "exit codes: 0 no finding at or above --fail-on, 2 bad usage, config or input,\n"
    "            4 an unsuppressed finding at or above --fail-on",
    options=(
        option("input", nargs="?", metavar="INPUT", help="a saved scan"),
        CONFIG,
        option("--format", choices=["table", "json", "sarif", "html"], default="table"),
        option("--output", metavar="PATH", help="write the report here (stdout)"),
        FAIL_ON,
        option("--list", action="store_true", help="list the checks and exit"),
    ),
)
def checks(args: argparse.Namespace) -> int:
    from crawler.compliance.command import check_saved, list_checks

    if args.list:
        list_checks(_wide_console())
        return EXIT_OK
    if args.input is None:
        print("ecr-crawler checks: error: give INPUT, a saved scan (or --list)", file=sys.stderr)
        return EXIT_USAGE
    config = _load_config(args)
    return check_saved(
        args.input,
        config.compliance,
        output_format=args.format,
        output=args.output,
        fail_on=args.fail_on,
        lifecycle=config.lifecycle,
    )


@command(
    "lifecycle",
    help="what lifecycle policies would expire or archive in a saved scan, and the cost saved",
    description="Evaluate each repository's lifecycle policy (or, with --policy, a proposed one "
    "for every repository) over a scan saved as JSON lines or by the SQLite sink, as ECR would "
    "at the scan's start: images and bytes expired or archived per repository and in total, "
    "the storage that saves a month at the config's prices (lifecycle:), and the danger list: "
    "images in use, carrying a protected tag, or the newest of their repository. No AWS call "
    "(docs/lifecycle.md).",
    epilog="examples:\n  ecr-crawler lifecycle inventory.db\n"
    "  ecr-crawler lifecycle inventory.jsonl.gz --policy keep-10.json --repositories 'web/*'\n"
    "  ecr-crawler lifecycle inventory.db --format json | jq .totals\n\n"
    "exit codes: 0 evaluated, 2 bad usage, config, input or policy (one line per invalid rule),\n"
    "            4 an image on the danger list, with --fail-on-danger",
    options=(
        option("input", metavar="INPUT", help="a saved scan"),
        CONFIG,
        option(
            "--policy",
            metavar="FILE",
            help="a proposed lifecycle policy (JSON) for every "
            "repository, instead of each one's own",
        ),
        option(
            "--repositories",
            metavar="GLOB",
            help="only repositories whose name matches (* and ? are wildcards)",
        ),
        option("--format", choices=["table", "json"], default="table"),
        option("--output", metavar="PATH", help="write the report here (stdout)"),
        option(
            "--fail-on-danger",
            action="store_true",
            help="exit 4 when the danger list is not empty (a CI gate on a proposed policy)",
        ),
    ),
)
def lifecycle(args: argparse.Namespace) -> int:
    from crawler.lifecycle.command import gate, run_saved, write_dry_run

    settings = _load_config(args).lifecycle
    run = run_saved(args.input, settings, policy_file=args.policy, repositories=args.repositories)
    write_dry_run(run, args.format, args.output)
    return gate(run, fail_on_danger=args.fail_on_danger)


@command(
    "regions",
    help="list the regions that --regions all expands to (no AWS call)",
    description="List every region where ECR is offered in the partition, from botocore's "
    "endpoint data: what --regions all scans.",
    options=(option("--partition", choices=["aws", "aws-cn", "aws-us-gov"], default="aws"),),
)
def regions(args: argparse.Namespace) -> int:
    from crawler.aws.regions import partition_regions

    print("\n".join(partition_regions(args.partition)))
    return EXIT_OK


def _load_config(args: argparse.Namespace) -> Config:
    """The config file given with -c, overridden by the command's flags, each named in the
    error when its value is wrong."""
    from crawler.config import load_config

    values, flags = config_flags(args)
    return load_config(args.config, flags=flags, **values)


def _print_json(data: Any) -> None:
    import json

    print(json.dumps(data, indent=2))


def _wide_console() -> Console:
    """Wide enough off a terminal (CI logs) that action and check names stay on one line."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 160)
