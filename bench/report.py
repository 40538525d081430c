"""Tables and figures of a benchmark run, as Markdown for the terminal and bench/RESULTS.md."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.tools import Run

COLUMNS = (
    "tool",
    "wall s",
    "scan s",
    "bound s",
    "wall/bound",
    "API calls",
    "throttled",
    "retries",
    "peak RSS MB",
    "CPU s",
    "images/s",
    "exact",
    "scope",
)


@dataclass(frozen=True)
class Figure:
    """One headline number next to its target (never asserted)."""

    label: str
    value: float | None
    unit: str = ""
    at_most: float | None = None  # the target, if any
    at_least: float | None = None

    def met(self) -> bool | None:
        if self.value is None or (self.at_most is None and self.at_least is None):
            return None
        if self.at_most is not None:
            return self.value <= self.at_most
        assert self.at_least is not None
        return self.value >= self.at_least

    def line(self) -> str:
        value = "n/a" if self.value is None else f"{self.value:,.2f}{self.unit}"
        if self.at_most is None and self.at_least is None:
            return f"- {self.label}: **{value}**"
        target = (
            f"<= {self.at_most:g}{self.unit}"
            if self.at_most is not None
            else f">= {self.at_least:g}{self.unit}"
        )
        verdict = {True: "met", False: "missed", None: "not measured"}[self.met()]
        return f"- {self.label}: **{value}** (target {target}): {verdict}"


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    description: str
    images: int
    repositories: int
    bound: float  # of the inventory (DescribeRepositories + DescribeImages)
    bound_with_manifests: float
    bound_limit: str
    runs: list[Run]
    figures: list[Figure]
    notes: list[str]
    scanned: str = "the scanned account"  # what `repositories` and `images` count

    def bound_for(self, run: Run) -> float:
        """A tool that read every image's manifest is held to the bound that includes them."""
        inventory, with_manifests = run.bounds or (self.bound, self.bound_with_manifests)
        return with_manifests if read_manifests(run) else inventory


def read_manifests(run: Run) -> bool:
    """Whether the run read every image's manifest."""
    return bool(run.images) and run.stats.items.get("BatchGetImage", 0) >= run.images


def _number(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _row(result: ScenarioResult, run: Run) -> list[str]:
    m = run.measurement
    wall = run.wall_seconds
    bound = result.bound_for(run)
    throttled = "—"
    if run.throttled is not None and run.api_calls:
        throttled = f"{run.throttled:,} ({run.throttled / run.api_calls:.1%})"
    rate = None
    if m is not None and m.wall_seconds > 0 and run.images:
        rate = run.images / m.wall_seconds
    scope = run.scope if run.note is None else f"{run.scope}; {run.note}"
    return [
        run.tool,
        ("≈" if run.extrapolated else "") + _number(wall),
        _number(run.scan_seconds),
        _number(bound, 2) + ("*" if read_manifests(run) else ""),
        "—" if wall is None or bound <= 0 else f"{wall / bound:,.2f}",
        _number(run.api_calls, 0),
        throttled,
        _number(run.retries, 0),
        "—" if m is None else f"{m.peak_rss_mb:,.0f}",
        "—" if m is None else f"{m.cpu_seconds:,.1f}",
        _number(rate, 0),
        "—" if run.check is None else run.check.text(),
        scope,
    ]


def table(result: ScenarioResult) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_row(result, run)) + " |" for run in result.runs]
    return "\n".join(lines)


def simulator_view(run: Run) -> str:
    """What the simulator saw of one run: calls per operation, throttled, its own CPU."""
    stats = run.stats
    calls = ", ".join(
        f"{op} {n:,}" + (f" ({stats.throttled[op]:,} throttled)" if stats.throttled.get(op) else "")
        for op, n in sorted(stats.calls.items())
    )
    wall = run.measurement.wall_seconds if run.measurement else 0.0
    busy = f"{run.simulator_cpu / wall:.0%}" if wall else "—"
    cpu = f"simulator CPU {run.simulator_cpu:.1f} s ({busy} of one core)"
    return f"- {run.tool}: {calls or 'no calls'}; {cpu}"


def section(result: ScenarioResult) -> str:
    parts = [
        f"### {result.name}",
        "",
        f"{result.description} {result.repositories:,} repositories and {result.images:,} "
        f"images in {result.scanned}. Lower bound {result.bound:.2f} s "
        f"(set by {result.bound_limit})"
        + (
            f"; {result.bound_with_manifests:.2f} s* when every manifest is read too."
            if result.bound_with_manifests != result.bound
            else "."
        ),
        "",
        table(result),
        "",
        *[figure.line() for figure in result.figures],
        "",
        "Calls seen by the simulator:",
        "",
        *[simulator_view(run) for run in result.runs if run.measurement is not None],
    ]
    if result.notes:
        parts += ["", *[f"Note: {note}" for note in result.notes]]
    return "\n".join(parts) + "\n"


def document(
    header: Sequence[str], results: Sequence[ScenarioResult], footer: Sequence[str]
) -> str:
    return "\n".join([*header, "", *[section(r) for r in results], *footer]) + "\n"
