"""python -m bench.simulator serve|inventory|bound|scans SCENARIO: see bench/README.md."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import signal
import sys
from itertools import islice
from pathlib import Path

import msgspec

from bench.simulator.bound import lower_bound
from bench.simulator.inventory import check_scan_results, inventory
from bench.simulator.registry import Registry, access_key
from bench.simulator.scenario import ScenarioError, load_scenario
from bench.simulator.server import Simulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.simulator")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve ECR and STS on 127.0.0.1; prints its URL")
    serve.add_argument("scenario")
    serve.add_argument("--port", type=int, default=0, help="default: any free port")
    for name, text in (
        ("inventory", "print the exact inventory as JSON lines"),
        ("bound", "print the lower bound of a complete scan's wall time"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("scenario")
        sub.add_argument("--accounts", help="comma-separated; default: every account")
    bound = commands.choices["bound"]
    bound.add_argument("--json", action="store_true", help="every term, as JSON")
    bound.add_argument(
        "--manifests", action="store_true", help="the scan also reads every manifest"
    )
    bound.add_argument(
        "--roles", action="store_true", help="each account is scanned through a role"
    )
    bound.add_argument(
        "--scan-results",
        action="store_true",
        help="the scan also reads scan results (DescribeImageScanFindings where needed)",
    )
    scans = commands.add_parser(
        "scans", help="check a scan's image scan results (JSON lines) against the truth"
    )
    scans.add_argument("scenario")
    scans.add_argument("records", help="the crawler's JSON lines output")
    scans.add_argument("--accounts", help="comma-separated; default: every account")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        scenario = load_scenario(args.scenario)
    except (OSError, ScenarioError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        asyncio.run(_serve(Simulator(scenario), args.port))
        return 0
    accounts = args.accounts.split(",") if args.accounts else None
    registry = Registry(scenario)
    if args.command == "inventory":
        encoder = msgspec.json.Encoder()
        entries = inventory(registry, accounts)
        while batch := list(islice(entries, 10_000)):
            sys.stdout.buffer.write(encoder.encode_lines(batch))
        return 0
    if args.command == "scans":
        check = check_scan_results(registry, Path(args.records), accounts)
        print(json.dumps({**dataclasses.asdict(check), "exact": check.exact}))
        return 0 if check.exact else 1
    result = lower_bound(
        registry,
        accounts,
        manifests=args.manifests,
        roles=args.roles,
        scan_results=args.scan_results,
    )
    if args.json:
        print(msgspec.json.format(msgspec.json.encode(result).decode()))
        return 0
    limit = result.limit
    print(f"lower bound: {result.seconds:.3f} s")
    print(f"set by: {limit.kind} {limit.detail} in {limit.account}/{limit.region}")
    for account in accounts or scenario.accounts:
        print(f"access key of {account}: {access_key(account)}")
    return 0


async def _serve(simulator: Simulator, port: int) -> None:
    runner, url = await simulator.start(port)
    print(url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    sys.exit(main())
