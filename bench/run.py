"""`make bench`: each scenario on its own simulator subprocess, the tools one after the other,
one table per scenario, and bench/RESULTS.md.

    python -m bench.run                      # every scenario; writes bench/RESULTS.md
    python -m bench.run --scenario memory    # one scenario (repeatable); prints only
    python -m bench.run --quick              # a small smoke run of every tool; prints only
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, partial
from pathlib import Path

import msgspec

from bench import compare, figures, throughput
from bench.calls import baseline_calls, cartography_calls
from bench.measure import machine
from bench.multi_account import run_accounts
from bench.report import Figure, ScenarioResult, document, section
from bench.simulator import (
    Registry,
    Scenario,
    SimulatorHandle,
    load_scenario,
    lower_bound,
    run_simulator,
)
from bench.simulator.scenario import Faults, Scanning
from bench.tools import ROOT, Context, Run, run_baseline, run_cartography, run_crawler

SCENARIOS = ROOT / "bench" / "scenarios"
RESULTS = ROOT / "bench" / "RESULTS.md"
CRAWLER_CONFIG = ROOT / "bench" / "crawler-inventory.yaml"

Figures = Callable[[ScenarioResult], list[Figure]]
# A second scenario the crawler also scans, for comparison: its label and how it is derived.
Variant = tuple[str, Callable[[Scenario], Scenario]]


@dataclass(frozen=True)
class Plan:
    scenario: str
    description: str
    figures: Figures
    peers: bool = False  # run the boto3 baseline and cartography too
    crawler_cap: float = 300.0  # seconds before the crawler is stopped
    peer_cap: float = 35.0  # seconds before a peer is stopped and extrapolated
    accounts: tuple[int, ...] = ()  # scan this many accounts through roles, a run each
    again: bool = False  # and the most accounts once more, from the rates learned
    variant: Variant | None = None
    config: str | None = None  # the crawler's -c file, unless --crawler-config says
    scan_results: bool = False  # the crawler reads scan results: bound and check them


def _without_faults(scenario: Scenario) -> Scenario:
    return msgspec.structs.replace(scenario, name=f"{scenario.name}-clean", faults=Faults())


def _clair(scenario: Scenario) -> Scenario:
    return msgspec.structs.replace(scenario, name=f"{scenario.name}-clair", scanning=Scanning())


PLANS = {
    plan.scenario: plan
    for plan in (
        Plan(
            "quota-bound",
            "Tight quotas the crawler is not told (DescribeImages 20/s per region), 40 ms.",
            lambda r: [figures.ratio_to_bound(r, at_most=1.10), figures.throttled_share(r)],
        ),
        Plan(
            "latency-bound",
            "The same registry with generous quotas (500 calls/s), 40 ms per call.",
            lambda r: [
                figures.speedup(r, "boto3 baseline", 20),
                figures.speedup(r, "cartography", 5),
                figures.ratio_to_bound(r),
            ],
            peers=True,
        ),
        Plan(
            "huge-repo",
            "A few repositories of 50,000+ images: each one's pages are a chain.",
            lambda r: [figures.ratio_to_bound(r)],
        ),
        Plan(
            "background-throttle",
            "No quota reached, but 8% of calls throttled at random (others draining the "
            "account's quotas), 1% 5xx, 0.5% resets; 5 ms a call. Also scanned without faults.",
            lambda r: [figures.relative(r, "without faults", at_most=1.5)],
            variant=("without faults", _without_faults),
        ),
        Plan(
            "shared-quota",
            "DescribeImages 20/s per region, of which another client steadily takes 10/s; "
            "40 ms. The bound assumes the 10/s left.",
            lambda r: [
                figures.ratio_to_bound(r, at_most=1.2),
                figures.throttled_share(r, at_most=5),
                figures.neighbour(r),
            ],
        ),
        Plan(
            "multi-account",
            "20 accounts x 4 regions, quotas per account-region (DescribeImages 2/s), 40 ms, "
            "each account through a role; 1, 5 and 20 accounts scanned.",
            lambda r: [],  # bench/multi_account.py computes its figures
            crawler_cap=120.0,
            accounts=(1, 5, 20),
        ),
        Plan(
            "org",
            "60 accounts x 3 regions through roles, all at once, 400 images per "
            "account-region, DescribeImages 2/s and DescribeRepositories 1/s per "
            "account-region; 40 ms. The 60 accounts are scanned twice: cold, and again from "
            "the rates the first scan learned.",
            figures.organisation,
            crawler_cap=180.0,
            accounts=(1, 60),
            again=True,
        ),
        Plan(
            "aws-native",
            "50,000 images on AWS-native basic scanning: one DescribeImageScanFindings per "
            "image that can have a result (500/s per region, never told); the crawler's "
            "default scan_findings (summary). Also scanned in legacy (Clair) mode.",
            figures.scan_results,
            variant=("Clair mode", _clair),
            config="bench/crawler-scan-results.yaml",
            scan_results=True,
        ),
        Plan("memory", "1,000,000 images, no latency, no quotas.", figures.memory),
    )
}
QUICK = Plan(
    "quick",
    "Smoke run: 2 regions, every tool, small caps.",
    lambda r: [
        figures.ratio_to_bound(r),
        figures.speedup(r, "boto3 baseline", 20),
        figures.speedup(r, "cartography", 5),
    ],
    peers=True,
    crawler_cap=120.0,
    peer_cap=20.0,
)


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
            runs = [
                _announce(
                    "ecr-crawler", partial(run_crawler, ctx, plan.crawler_cap, crawler_config)
                )
            ]
            if with_peers:
                runs += _peers(ctx, peer_cap or plan.peer_cap)
        if plan.variant is not None:
            runs.append(_variant(plan, plan.variant, scenario, workdir, crawler_config))
    notes = []
    if len(scenario.accounts) > 1:
        notes.append(f"multi-account scenario: only the first account ({account}) is scanned.")
    if not with_peers:
        notes.append(
            "the boto3 baseline and cartography run in latency-bound (and --quick) only, to "
            "keep `make bench` under 10 minutes; `--peers` runs them here too."
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
        scan_results=plan.scan_results,
    )


def _peers(ctx: Context, cap: float) -> list[Run]:
    registry, account = ctx.registry, ctx.account
    return [
        _announce(
            "boto3 baseline", lambda: run_baseline(ctx, cap, baseline_calls(registry, account))
        ),
        _announce(
            "cartography", lambda: run_cartography(ctx, cap, cartography_calls(registry, account))
        ),
    ]


def _variant(
    plan: Plan, variant: Variant, scenario: Scenario, workdir: Path, config: Path | None
) -> Run:
    """The crawler on the derived scenario, on a simulator of its own, bound by its own."""
    label, derive = variant
    other = derive(scenario)
    registry = Registry(other)
    with run_simulator(other, subprocess=True) as sim:
        ctx = _context(plan, sim, registry, workdir)
        run = _announce(
            f"ecr-crawler, {label}", partial(run_crawler, ctx, plan.crawler_cap, config)
        )
    run.tool = f"ecr-crawler, {label}"
    account = [ctx.account]
    run.bounds = (
        lower_bound(registry, account, scan_results=plan.scan_results).seconds,
        lower_bound(registry, account, manifests=True).seconds,
    )
    return run


def _result(plan: Plan, registry: Registry, runs: list[Run], notes: list[str]) -> ScenarioResult:
    account = [registry.scenario.accounts[0]]
    repositories = [
        r
        for a, reg in registry.account_regions()
        if a in account
        for r in registry.repositories(a, reg)
    ]
    bound = lower_bound(registry, account, scan_results=plan.scan_results)
    return ScenarioResult(
        name=plan.scenario,
        description=plan.description,
        images=sum(r.image_count for r in repositories),
        repositories=len(repositories),
        bound=bound.seconds,
        bound_with_manifests=lower_bound(registry, account, manifests=True).seconds,
        bound_limit=f"{bound.limit.kind} {bound.limit.detail} in {bound.limit.region}",
        runs=runs,
        figures=[],
        notes=notes,
    )


def _announce(tool: str, run: Callable[[], Run]) -> Run:
    print(f"   {tool} ...", end=" ", flush=True)
    started = time.perf_counter()
    done = run()
    print(f"{time.perf_counter() - started:.1f} s", flush=True)
    return done


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
        help="the crawler's -c file, or 'none' for its defaults (default: "
        f"{CRAWLER_CONFIG.relative_to(ROOT)}, or the scenario's own)",
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
    crawler_config = None if given == "none" else Path(given or CRAWLER_CONFIG).resolve()
    started = time.perf_counter()
    load = os.getloadavg()[0]
    plans = [QUICK] if args.quick else [PLANS[name] for name in args.scenario or PLANS]
    print("simulator raw throughput ...", end=" ", flush=True)
    raw = throughput.measure(seconds=3.0 if args.quick else 5.0).line()
    print(raw, flush=True)
    results = []
    for plan in plans:
        config = crawler_config
        if given is None and plan.config is not None:
            config = (ROOT / plan.config).resolve()
        if plan.accounts:
            result = run_accounts(
                SCENARIOS / f"{plan.scenario}.yaml",
                plan.accounts,
                description=plan.description,
                cap=plan.crawler_cap,
                config=config,
                announce=_announce,
                again=plan.again,
            )
            result.figures.extend(plan.figures(result))
        else:
            result = run_plan(plan, peers=args.peers, peer_cap=args.peer_cap, crawler_config=config)
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
        f"- command: {command}, {elapsed:.0f} s in all; the crawler ran with {config}",
        f"- simulator raw throughput (`python -m bench.throughput`): {raw}",
        "",
        "Columns: wall = the tool process's wall time (≈: extrapolated from a capped run by the "
        "share of calls made); scan = the crawler's own started_at..finished_at; bound = the "
        "lower bound of a complete scan (bench/README.md; * = including every manifest, for a "
        "tool that read them); API calls, throttled and retries = the crawler's scan_summary, "
        "or the simulator's count for the peers (which report none; boto3 retries each "
        "throttled call); peak RSS and CPU s = the tool process's own (os.wait4); images/s = "
        "images listed / wall; exact = its inventory equals the simulator's exact inventory of "
        "the scanned account (repositories, and images by digest with their sorted tags).",
    ]


FOOTER = [
    "Generated by `make bench` (`python -m bench.run`); bench/README.md describes the "
    "simulator, the scenarios and the lower bound. No figure here is asserted by a test.",
]


if __name__ == "__main__":
    sys.exit(main())
