"""`make bench`: each scenario on its own simulator subprocess, the tools one after the other,
one table per scenario, and bench/RESULTS.md.

    python -m bench.run                      # every scenario; writes bench/RESULTS.md
    python -m bench.run --scenario memory    # one scenario (repeatable); prints only
    python -m bench.run --quick              # a small smoke run of every tool; prints only
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shlex
import sys
import tempfile
import time
from datetime import UTC, datetime
from functools import cache, partial
from pathlib import Path

from bench import compare, throughput
from bench.calls import baseline_calls, cartography_calls
from bench.measure import machine
from bench.multi_account import run_accounts
from bench.plans import PLANS, QUICK, Plan, Row
from bench.report import ScenarioResult, document, section
from bench.simulator import (
    Bound,
    Registry,
    Scenario,
    SimulatorHandle,
    load_scenario,
    lower_bound,
    run_simulator,
)
from bench.tools import (
    MANIFESTS_OFF,
    ROOT,
    Context,
    Run,
    announce,
    run_baseline,
    run_cartography,
    run_crawler,
)

SCENARIOS = ROOT / "bench" / "scenarios"
RESULTS = ROOT / "bench" / "RESULTS.md"


def run_plan(
    plan: Plan, *, peers: bool | None, peer_cap: float | None, crawler_config: Path | None
) -> ScenarioResult:
    scenario = load_scenario(SCENARIOS / f"{plan.scenario}.yaml")
    registry = Registry(scenario)
    account = scenario.accounts[0]
    with_peers = plan.peers if peers is None else peers
    print(f"== {plan.scenario}: starting the simulator", flush=True)
    with tempfile.TemporaryDirectory(prefix=f"bench-{plan.scenario}-") as tmp:
        workdir = Path(tmp)
        with run_simulator(SCENARIOS / f"{plan.scenario}.yaml", subprocess=True) as sim:
            ctx = _context(plan, sim, registry, workdir)
            runs = [_crawler(plan, row, ctx, crawler_config) for row in plan.rows if not row.derive]
            if with_peers:
                runs += _peers(_home(ctx, "peers"), peer_cap or plan.peer_cap)
        runs += [
            _derived(plan, row, scenario, workdir, crawler_config)
            for row in plan.rows
            if row.derive
        ]
    notes = []
    if len(scenario.accounts) > 1:
        notes.append(f"multi-account scenario: only the first account ({account}) is scanned.")
    if not with_peers:
        notes.append(
            "the boto3 baseline and cartography run in latency-bound (and --quick) only, to "
            "keep `make bench` short; `--peers` runs them here too."
        )
    result = _result(plan, registry, runs, notes)
    result.figures.extend(plan.figures(result))
    return result


def _context(plan: Plan, sim: SimulatorHandle, registry: Registry, workdir: Path) -> Context:
    account = registry.scenario.accounts[0]
    return Context(
        sim=sim,
        registry=registry,
        account=account,
        regions=list(registry.scenario.regions),
        workdir=workdir,
        expected=cache(lambda: compare.expected(registry, account)),
        scan_results=plan.check_scans,
    )


def _home(ctx: Context, name: str) -> Context:
    """`ctx` with a directory of its own under the scenario's (for the crawler: its cache)."""
    home = ctx.workdir / re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    home.mkdir(exist_ok=True)
    return dataclasses.replace(ctx, workdir=home)


def _crawler(plan: Plan, row: Row, ctx: Context, config: Path | None) -> Run:
    """One crawler row, from its own cold cache directory, or warm from an earlier row's."""
    home = _home(ctx, row.warm_from or row.label)
    run = announce(row.label, partial(run_crawler, home, plan.crawler_cap, row.config or config))
    run.tool = row.label
    if row.warm_from:
        run.scope += f"; warm: the cache directory of the `{row.warm_from}` run"
    return run


def _peers(ctx: Context, cap: float) -> list[Run]:
    registry, account = ctx.registry, ctx.account
    return [
        announce(
            "boto3 baseline", lambda: run_baseline(ctx, cap, baseline_calls(registry, account))
        ),
        announce(
            "cartography", lambda: run_cartography(ctx, cap, cartography_calls(registry, account))
        ),
    ]


def _derived(plan: Plan, row: Row, scenario: Scenario, workdir: Path, config: Path | None) -> Run:
    """A row on a scenario derived from the plan's, on a simulator of its own, bound by its
    own."""
    assert row.derive is not None
    registry = Registry(row.derive(scenario))
    with run_simulator(registry.scenario, subprocess=True) as sim:
        run = _crawler(plan, row, _context(plan, sim, registry, workdir), config)
    inventory, with_manifests = _bounds(registry)
    run.bounds = (inventory.seconds, with_manifests.seconds)
    return run


def _bounds(registry: Registry) -> tuple[Bound, Bound]:
    """The first account's lower bounds, of the inventory and with every manifest; both with
    the calls of the crawler's default scan results (collect.scan_findings: summary)."""
    account = [registry.scenario.accounts[0]]
    return (
        lower_bound(registry, account, scan_results=True),
        lower_bound(registry, account, manifests=True, scan_results=True),
    )


def _result(plan: Plan, registry: Registry, runs: list[Run], notes: list[str]) -> ScenarioResult:
    account = [registry.scenario.accounts[0]]
    repositories = [
        r
        for a, reg in registry.account_regions()
        if a in account
        for r in registry.repositories(a, reg)
    ]
    bound, with_manifests = _bounds(registry)
    return ScenarioResult(
        name=plan.scenario,
        description=plan.description,
        images=sum(r.image_count for r in repositories),
        repositories=len(repositories),
        bound=bound.seconds,
        bound_with_manifests=with_manifests.seconds,
        bound_limit=f"{bound.limit.kind} {bound.limit.detail} in {bound.limit.region}",
        runs=runs,
        figures=[],
        notes=notes,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--scenario", action="append", choices=sorted(PLANS), help="repeatable; default: all"
    )
    parser.add_argument("--quick", action="store_true", help="the small smoke scenario only")
    peers = parser.add_mutually_exclusive_group()
    peers.add_argument(
        "--peers", action="store_true", default=None, help="the peers in every scenario too"
    )
    peers.add_argument("--no-peers", dest="peers", action="store_false", help="the crawler only")
    parser.add_argument("--peer-cap", type=float, help="seconds before a peer is stopped")
    parser.add_argument(
        "--crawler-config",
        help="the -c file of the rows that run the crawler's defaults (default: none, its "
        f"defaults); the manifests-off rows keep {MANIFESTS_OFF.relative_to(ROOT)}",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help=f"write the results here (a full run writes {RESULTS.relative_to(ROOT)})",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    given = args.crawler_config
    crawler_config = None if given in (None, "none") else Path(given).resolve()
    started = time.perf_counter()
    load = os.getloadavg()[0]
    plans = [QUICK] if args.quick else [PLANS[name] for name in args.scenario or PLANS]
    print("simulator raw throughput ...", end=" ", flush=True)
    raw = throughput.measure(seconds=3.0 if args.quick else 5.0).line()
    print(raw, flush=True)
    results = []
    for plan in plans:
        if plan.accounts:
            result = run_accounts(
                SCENARIOS / f"{plan.scenario}.yaml",
                plan.accounts,
                description=plan.description,
                cap=plan.crawler_cap,
                config=crawler_config,
                off=MANIFESTS_OFF,
                again=plan.again,
            )
            result.figures.extend(plan.figures(result))
        else:
            result = run_plan(
                plan, peers=args.peers, peer_cap=args.peer_cap, crawler_config=crawler_config
            )
        print("\n" + section(result), flush=True)
        results.append(result)
    elapsed = time.perf_counter() - started
    print(f"bench took {elapsed:.0f} s", flush=True)
    full = not args.quick and not args.scenario
    output = args.output or (RESULTS if full else None)
    if output is not None:
        command = f"`python -m bench.run {shlex.join(argv)}`"
        if not argv:
            command = "`make bench` (its recipe, `.venv/bin/python -m bench.run`)"
        header = _header(command, raw, elapsed, load, crawler_config)
        output.write_text(document(header, results, FOOTER))
        print(f"written to {output}")
    return 0


def _header(
    command: str, raw: str, elapsed: float, load: float, crawler_config: Path | None
) -> list[str]:
    info = machine()
    config = (
        "its defaults" if crawler_config is None else f"`-c {crawler_config.relative_to(ROOT)}`"
    )
    return [
        "# Benchmark results",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {info['nproc']} cores, {info['memory']}, {info['cpu']}; load average "
        f"{load:.2f} at the start (other work on the machine shares its cores)",
        f"- command: {command}, {elapsed:.0f} s in all",
        f"- the crawler ran with {config} (rows `ecr-crawler`, cold: a cache directory of "
        "their own, so every manifest is read), and with "
        f"`-c {MANIFESTS_OFF.relative_to(ROOT)}` (its defaults but `collect.manifests: off`) "
        "in the rows `..., manifests off`; `..., warm` scans again from the cache directory "
        "of the cold default scan",
        f"- simulator raw throughput (`python -m bench.throughput`): {raw}",
        "",
        "Columns: wall = the tool process's wall time (≈: extrapolated from a capped run by the "
        "share of calls made); scan = the crawler's own started_at..finished_at; bound = the "
        "lower bound of a complete scan with the calls of the crawler's default scan results "
        "(bench/README.md; * = including every manifest, for a run that read them all); API "
        "calls, throttled and retries = the crawler's scan_summary, "
        "or the simulator's count for the peers (which report none; boto3 retries each "
        "throttled call); peak RSS and CPU s = the tool process's own (its VmHWM, os.wait4); "
        "images/s = "
        "images listed / wall; exact = its inventory equals the simulator's exact inventory of "
        "the scanned account (repositories, and images by digest with their sorted tags).",
    ]


FOOTER = [
    "Generated by `make bench` (`python -m bench.run`); bench/README.md describes the "
    "simulator, the scenarios and the lower bound. No figure here is asserted by a test.",
]


if __name__ == "__main__":
    sys.exit(main())
