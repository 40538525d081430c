"""The figures of each scenario's table in bench/RESULTS.md, each against its target (never
asserted): bench/run.py's plans name which ones a scenario shows. A figure is of the row of
the crawler's default config unless it names another row."""

from __future__ import annotations

from bench.measure import Measurement
from bench.report import Figure, ScenarioResult
from bench.tools import Run

DEFAULT = "ecr-crawler"  # the crawler's defaults, from a cold cache directory
OFF = "ecr-crawler, manifests off"  # its defaults but collect.manifests: off
WARM = "ecr-crawler, warm"  # its defaults again, from the cache directory of DEFAULT's run


def crawler(result: ScenarioResult, row: str = DEFAULT) -> Run | None:
    return next((r for r in result.runs if r.tool == row), None)


def _measured(run: Run | None) -> Measurement | None:
    """A completed run's measurement (None for a failed, capped or missing run)."""
    return None if run is None or run.note is not None else run.measurement


def _rss(run: Run | None) -> float | None:
    measured = _measured(run)
    return None if measured is None else measured.peak_rss_mb


def _cpu(run: Run | None) -> float | None:
    measured = _measured(run)
    return None if measured is None else measured.cpu_seconds


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return None if top is None or not bottom else top / bottom


def ratio_to_bound(
    result: ScenarioResult, at_most: float | None = None, row: str = DEFAULT
) -> Figure:
    run = crawler(result, row)
    value = None
    bound = result.bound_for(run) if run is not None else 0.0
    if run is not None and run.wall_seconds is not None and run.note is None and bound > 0:
        value = run.wall_seconds / bound
    return Figure(f"{row} wall / lower bound", value, at_most=at_most)


def throttled_share(result: ScenarioResult, at_most: float = 3) -> Figure:
    run = crawler(result)
    value = None
    if run is not None and run.api_calls:
        value = 100 * (run.throttled or 0) / run.api_calls
    return Figure("ecr-crawler throttled calls", value, "%", at_most=at_most)


def speedup(
    result: ScenarioResult, peer: str, at_least: float | None = None, row: str = DEFAULT
) -> Figure:
    run = crawler(result, row)
    other = next((r for r in result.runs if r.tool == peer), None)
    value = None
    if run and other and run.wall_seconds and other.wall_seconds and run.note is None:
        value = other.wall_seconds / run.wall_seconds
    return Figure(f"speedup of {row} over {peer}", value, "x", at_least=at_least)


def memory(result: ScenarioResult) -> list[Figure]:
    """Peak RSS and CPU of the default scan (cold), against the manifests-off scan's, and the
    warm scan's CPU."""
    rss = _rss(crawler(result))
    return [
        Figure(f"ecr-crawler peak RSS at {result.images:,} images", rss, " MB", at_most=150),
        images_per_cpu(result, at_least=25_000),
        images_per_cpu(result, row=OFF),
        Figure(
            "peak RSS, ecr-crawler / manifests off",
            _ratio(rss, _rss(crawler(result, OFF))),
            "x",
            at_most=1.25,
        ),
        cpu_warm_over_off(result),
    ]


def images_per_cpu(
    result: ScenarioResult, at_least: float | None = None, row: str = DEFAULT
) -> Figure:
    run = crawler(result, row)
    images = None if run is None else float(run.images)
    return Figure(f"{row} images per CPU second", _ratio(images, _cpu(run)), at_least=at_least)


def cpu_warm_over_off(result: ScenarioResult) -> Figure:
    """What a warm scan (every manifest cached) costs over a scan without manifests."""
    value = _ratio(_cpu(crawler(result, WARM)), _cpu(crawler(result, OFF)))
    return Figure("CPU seconds, warm scan / manifests off", value, "x", at_most=1.10)


def relative(result: ScenarioResult, other: str, at_most: float | None = None) -> Figure:
    """The crawler's wall time over its wall time on the variant scenario `other`."""
    run = crawler(result)
    variant = next((r for r in result.runs if r.tool == f"ecr-crawler, {other}"), None)
    value = None
    if run and variant and run.wall_seconds and variant.wall_seconds and not variant.note:
        value = run.wall_seconds / variant.wall_seconds
    return Figure(f"ecr-crawler wall / wall {other}", value, "x", at_most=at_most)


def neighbour(result: ScenarioResult) -> Figure:
    """How the other client of a shared quota fared while the crawler ran."""
    run = crawler(result)
    value = None
    if run is not None and run.stats.background_calls:
        value = 100 * run.stats.background_throttled / run.stats.background_calls
    return Figure("the other client's calls throttled meanwhile", value, "%")


def scan_results(result: ScenarioResult) -> list[Figure]:
    """Calls for scan results, their rate, and the results against the simulator's truth."""
    out = []
    for run in result.runs:
        stats, wall = run.stats, run.wall_seconds or 0.0
        asked = stats.calls.get("DescribeImageScanFindings", 0)
        if not asked and run.scans is None:
            continue  # a peer, or a row whose scan results are not checked
        out.append(Figure(f"{run.tool}: DescribeImageScanFindings calls", float(asked)))
        if asked and wall:
            out.append(Figure(f"{run.tool}: DescribeImageScanFindings per second", asked / wall))
        if run.scans is not None:
            share = 100 * run.scans.matched / max(1, run.scans.expected)
            out.append(Figure(f"{run.tool}: scan results as the truth", share, "%", at_least=100))
    return out


def organisation(result: ScenarioResult) -> list[Figure]:
    """The issue's targets for each run of the most accounts (cold, and again from the rates
    learned): wall / its bound, throttled share, peak RSS."""
    out = []
    for run in result.runs[1:]:
        if run.wall_seconds is None or run.note:
            continue
        bound = result.bound_for(run)
        out.append(Figure(f"{run.tool}: wall / lower bound", run.wall_seconds / bound, "x", 1.25))
        if run.api_calls:
            share = 100 * (run.throttled or 0) / run.api_calls
            out.append(Figure(f"{run.tool}: throttled calls", share, "%", at_most=5))
        if run.measurement is not None:
            rss = run.measurement.peak_rss_mb
            out.append(Figure(f"{run.tool}: peak RSS", rss, " MB", at_most=300))
    return out
