"""The benchmark's scenarios as `make bench` runs them (bench/run.py): for each, the crawler's
rows (each a config, a scenario derived from the plan's, and a cold or warm cache directory),
whether the peers run, the caps and the figures (bench/figures.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from bench import figures
from bench.figures import DEFAULT, OFF, WARM
from bench.report import Figure, ScenarioResult
from bench.simulator import Scenario
from bench.simulator.scenario import Faults, Scanning
from bench.tools import MANIFESTS_OFF

Figures = Callable[[ScenarioResult], list[Figure]]


@dataclass(frozen=True)
class Row:
    """One crawler run of a scenario, each from a cold cache directory of its own unless
    `warm_from` names an earlier row whose cache directory it scans again from."""

    label: str
    config: Path | None = None  # its -c file; None: the crawler's defaults (or --crawler-config)
    derive: Callable[[Scenario], Scenario] | None = None  # another scenario, its own simulator
    warm_from: str | None = None


ROWS = (Row(DEFAULT), Row(OFF, MANIFESTS_OFF))


@dataclass(frozen=True)
class Plan:
    scenario: str
    description: str
    figures: Figures
    rows: tuple[Row, ...] = ROWS
    peers: bool = False  # run the boto3 baseline and cartography too
    crawler_cap: float = 300.0  # seconds before the crawler is stopped
    peer_cap: float = 35.0  # seconds before a peer is stopped and extrapolated
    accounts: tuple[int, ...] = ()  # scan this many accounts through roles, a run each
    again: bool = False  # and the most accounts once more, from the rates learned
    check_scans: bool = False  # check each row's scan results against the truth


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
            lambda r: [
                figures.ratio_to_bound(r, at_most=1.10),
                figures.throttled_share(r),
                figures.ratio_to_bound(r, row=OFF),
            ],
        ),
        Plan(
            "latency-bound",
            "The same registry with generous quotas (500 calls/s), 40 ms per call.",
            lambda r: [
                figures.speedup(r, "boto3 baseline", 20),
                figures.speedup(r, "boto3 baseline", row=OFF),
                figures.speedup(r, "cartography", 5),
                figures.ratio_to_bound(r),
                figures.ratio_to_bound(r, row=OFF),
            ],
            peers=True,
        ),
        Plan(
            "huge-repo",
            "A few repositories of 50,000+ images: each one's pages are a chain.",
            lambda r: [figures.ratio_to_bound(r), figures.ratio_to_bound(r, row=OFF)],
        ),
        Plan(
            "background-throttle",
            "No quota reached, but 8% of calls throttled at random (others draining the "
            "account's quotas), 1% 5xx, 0.5% resets; 5 ms a call. Also scanned without faults.",
            lambda r: [figures.relative(r, "without faults", at_most=1.5)],
            rows=(*ROWS, Row(f"{DEFAULT}, without faults", derive=_without_faults)),
        ),
        Plan(
            "shared-quota",
            "DescribeImages 20/s per region, of which another client steadily takes 10/s; "
            "40 ms. The bound assumes the 10/s left.",
            lambda r: [
                figures.ratio_to_bound(r, at_most=1.2),
                figures.throttled_share(r, at_most=5),
                figures.neighbour(r),
                figures.ratio_to_bound(r, row=OFF),
            ],
        ),
        Plan(
            "multi-account",
            "20 accounts x 4 regions, quotas per account-region (DescribeImages 2/s), 40 ms, "
            "each account through a role; 1, 5 and 20 accounts scanned, and 20 with manifests "
            "off.",
            lambda r: [],  # bench/multi_account.py computes its figures
            crawler_cap=120.0,
            accounts=(1, 5, 20),
        ),
        Plan(
            "org",
            "60 accounts x 3 regions through roles, all at once, 400 images per "
            "account-region, DescribeImages 2/s and DescribeRepositories 1/s per "
            "account-region; 40 ms. The 60 accounts are scanned cold, again from the cache "
            "(rates learned, manifests cached) of the first scan, and cold with manifests off.",
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
            rows=(*ROWS, Row(f"{DEFAULT}, Clair mode", derive=_clair)),
            check_scans=True,
        ),
        Plan(
            "memory",
            "1,000,000 images, no latency, no quotas; the defaults scanned again warm (from "
            "the cold scan's cache directory: manifests cached).",
            figures.memory,
            rows=(*ROWS, Row(WARM, warm_from=DEFAULT)),
            # The default scan of a million images reads a million manifests: minutes here.
            crawler_cap=600.0,
        ),
    )
}
QUICK = Plan(
    "quick",
    "Smoke run: 2 regions, every tool, small caps.",
    lambda r: [
        figures.ratio_to_bound(r),
        figures.speedup(r, "boto3 baseline", 20),
        figures.speedup(r, "cartography", 5),
        figures.cpu_warm_over_off(r),
        *figures.scan_results(r),
    ],
    rows=(*ROWS, Row(WARM, warm_from=DEFAULT)),
    peers=True,
    crawler_cap=120.0,
    peer_cap=20.0,
    check_scans=True,
)
