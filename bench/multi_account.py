"""The multi-account scenario of `make bench`: one registry of many accounts, scanned by the
crawler through a role per account (`accounts:` in its config, sts:AssumeRole on the
simulator) for the first 1, 5 and all of them, one run each on the same simulator, with the
crawler's defaults; and all of them once more with manifests off.

Every account-region has quotas of its own, so the lower bound (the largest over the units) does
not grow with the accounts, and neither should the wall time: the figure is wall(all) /
wall(1). The crawler scans `concurrency.accounts` accounts at once (8 by default); the runs set
it to the number of accounts listed, so that every account's regions start together.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any

import yaml

from bench import compare
from bench.report import Figure, ScenarioResult
from bench.simulator import (
    Registry,
    SimulatorHandle,
    load_scenario,
    lower_bound,
    run_simulator,
)
from bench.tools import Context, Run, announce, run_crawler

ROLE = "ecr-crawler-bench"


def crawler_config(path: Path, base: Path | None, accounts: list[str]) -> Path:
    """`base` (the benchmark's crawler config, or none) with the accounts to scan, each
    through ROLE, and as many accounts at once as listed."""
    config: dict[str, Any] = {}
    if base is not None:
        config = yaml.safe_load(base.read_text()) or {}
    config["accounts"] = [
        {"account_id": a, "role_arn": f"arn:aws:iam::{a}:role/{ROLE}"} for a in accounts
    ]
    config.setdefault("concurrency", {}).setdefault("accounts", len(accounts))
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass(frozen=True)
class Planned:
    """One crawler run: the first `accounts` of the scenario, from the cache directory `home`
    (cold unless an earlier run used it), with the base config `config` (None: defaults)."""

    accounts: int
    home: str
    label: str
    config: Path | None
    scope: str = ""


def _label(accounts: int) -> str:
    return f"ecr-crawler, {accounts} account{'s' if accounts > 1 else ''}"


def run_accounts(
    scenario_path: Path,
    counts: tuple[int, ...],
    *,
    description: str,
    cap: float,
    config: Path | None,
    again: bool = False,
    off: Path | None = None,
) -> ScenarioResult:
    """A run per count, with `config` (None: the crawler's defaults), each cold (a cache
    directory of its own). `again` scans the most accounts once more from the cache directory
    of the run before, as the next scan of the same machine would: from the rates it learned,
    with the manifests it read. `off` (the manifests-off config) scans the most accounts once
    more, cold, with it."""
    scenario = load_scenario(scenario_path)
    registry = Registry(scenario)
    counts = tuple(n for n in counts if n <= len(scenario.accounts))
    most = counts[-1]
    label = _label(most)
    runs = [Planned(n, f"cold-{n}", _label(n), config) for n in counts]
    if again:
        learned = "; from the rates the run before learned and the manifests it read"
        runs.append(Planned(most, f"cold-{most}", f"{label}, again", config, learned))
    if off is not None:
        runs.append(Planned(most, f"off-{most}", f"{label}, manifests off", off))
    print(f"== {scenario.name}: starting the simulator", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix=f"bench-{scenario.name}-") as tmp,
        run_simulator(scenario_path, subprocess=True) as sim,
    ):
        done = [_run(planned, sim, registry, Path(tmp), cap) for planned in runs]
    result = _result(registry, most, description, done)
    result.figures.extend(figures(result, counts))
    return result


def _run(
    planned: Planned,
    sim: SimulatorHandle,
    registry: Registry,
    workdir: Path,
    cap: float,
) -> Run:
    n, regions = planned.accounts, list(registry.scenario.regions)
    accounts = registry.scenario.accounts[:n]
    (workdir / planned.home).mkdir(exist_ok=True)
    ctx = Context(
        sim=sim,
        registry=registry,
        account=registry.scenario.accounts[0],  # the credentials every role is assumed from
        regions=regions,
        workdir=workdir / planned.home,
        expected=cache(partial(compare.expected, registry, accounts)),
    )
    path = crawler_config(workdir / f"{planned.home}.yaml", planned.config, accounts)
    run = announce(planned.label, partial(run_crawler, ctx, cap, path))
    run.tool = planned.label
    run.scope = f"{n} x {len(regions)} = {n * len(regions)} account-regions, via roles"
    run.scope += planned.scope
    run.bounds = (
        lower_bound(registry, accounts, roles=True, scan_results=True).seconds,
        lower_bound(registry, accounts, roles=True, manifests=True, scan_results=True).seconds,
    )
    return run


def _result(registry: Registry, most: int, description: str, runs: list[Run]) -> ScenarioResult:
    everything = registry.scenario.accounts[:most]
    bound = lower_bound(registry, everything, roles=True, scan_results=True)
    with_manifests = lower_bound(
        registry, everything, roles=True, manifests=True, scan_results=True
    )
    repositories = [
        r
        for a, reg in registry.account_regions()
        if a in everything
        for r in registry.repositories(a, reg)
    ]
    return ScenarioResult(
        name=registry.scenario.name,
        description=description,
        images=sum(r.image_count for r in repositories),
        repositories=len(repositories),
        bound=bound.seconds,
        bound_with_manifests=with_manifests.seconds,
        bound_limit=f"{bound.limit.kind} {bound.limit.detail} in "
        f"{bound.limit.account}/{bound.limit.region}",
        runs=runs,
        figures=[],
        notes=[
            f"each run lists its accounts under `accounts:` with role `{ROLE}` and "
            "`concurrency.accounts` = their number (default 8: 20 accounts would run in three "
            f"waves); the base credentials are {everything[0]}'s. The bound of each row is that "
            "of its own accounts (through a role: two STS calls before the first ECR call).",
            "the boto3 baseline and cartography scan one account only and do not run here.",
            *[_start_note(run) for run in runs],
        ],
        scanned=f"the {len(everything)} accounts",
    )


def _start_note(run: Run) -> str:
    """When the last account-region started: its one DescribeRepositories call, after the
    scan's first call (GetCallerIdentity), as the simulator saw them."""
    first, last = run.stats.first, run.stats.last
    if "GetCallerIdentity" not in first or "DescribeRepositories" not in last:
        return f"{run.tool}: no ECR call seen."
    started = last["DescribeRepositories"] - first["GetCallerIdentity"]
    return (
        f"{run.tool}: the last account-region's first ECR call came {started:.1f} s after "
        "the scan's first call (assuming the roles and making the clients comes first)."
    )


def figures(result: ScenarioResult, counts: tuple[int, ...]) -> list[Figure]:
    """wall(most accounts) / wall(fewest), and what else tells how it scales."""
    done = [
        (n, r)
        for n, r in zip(counts, result.runs[: len(counts)], strict=True)
        if r.wall_seconds and not r.note
    ]
    if len(done) < 2:
        return [Figure("wall(most accounts) / wall(1 account)", None, "x", at_most=1.25)]
    (n_first, first), (n_last, last) = done[0], done[-1]
    wall_first, wall_last = first.wall_seconds or 0.0, last.wall_seconds or 0.0
    out = [
        Figure(
            f"wall({n_last} accounts) / wall({n_first})",
            wall_last / wall_first,
            "x",
            at_most=1.25,
        ),
        Figure(
            f"lower bound({n_last} accounts) / lower bound({n_first})",
            result.bound_for(last) / result.bound_for(first),
            "x",
        ),
        Figure(f"wall / lower bound at {n_last} accounts", wall_last / result.bound_for(last)),
    ]
    if last.api_calls:
        share = 100 * (last.throttled or 0) / last.api_calls
        out.append(Figure(f"throttled calls at {n_last} accounts", share, "%"))
    if first.measurement is not None and last.measurement is not None:
        growth = last.measurement.peak_rss_mb - first.measurement.peak_rss_mb
        out.append(Figure("peak RSS per added account", growth / (n_last - n_first), " MB"))
    return out
