"""The tools the benchmark runs against one simulator, one after the other, each as a measured
subprocess: ecr-crawler (the real CLI), the sequential boto3 baseline, and cartography's ECR
getters in their own virtualenv. Between two runs the simulator is reset: counters cleared,
quota buckets full."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path

import msgspec

from bench import compare
from bench.measure import Measurement, run_measured
from bench.simulator import Registry, ScanCheck, SimulatorHandle, Stats, access_key
from bench.simulator.inventory import check_scan_results

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the project's venv: `make bench` runs $(BIN)/python
CARTOGRAPHY_VENV = ROOT / "bench" / ".venv-cartography"
CARTOGRAPHY_REQUIREMENTS = ROOT / "bench" / "requirements-cartography.txt"
STS_OPERATIONS = ("GetCallerIdentity", "AssumeRole")
# The manifests-off rows' config: the crawler's defaults but collect.manifests: off.
MANIFESTS_OFF = ROOT / "bench" / "crawler-manifests-off.yaml"


@dataclass
class Context:
    """One scenario's simulator and what every run compares against."""

    sim: SimulatorHandle
    registry: Registry
    account: str  # whose keys the tools use: the scanned account, or the base of the roles
    regions: list[str]
    workdir: Path
    expected: Callable[[], compare.Expected]
    scan_results: bool = False  # check the image records' scan results against the truth


@dataclass
class Run:
    """One tool's run: the measurement, the simulator's view and the inventory check."""

    tool: str
    scope: str = "all regions"
    measurement: Measurement | None = None
    note: str | None = None  # why it was skipped or failed
    wall_seconds: float | None = None  # measured, or extrapolated from a capped run
    extrapolated: bool = False
    scan_seconds: float | None = None  # the crawler's own started_at -> finished_at
    api_calls: int | None = None
    throttled: int | None = None
    retries: int | None = None
    images: int = 0
    check: compare.Check | None = None
    stats: Stats = field(default_factory=Stats)
    simulator_cpu: float = 0.0  # seconds the simulator spent serving this run
    # This run's own lower bounds (inventory, with every manifest), when it scanned other
    # accounts than its scenario's table states (the multi-account runs); else None.
    bounds: tuple[float, float] | None = None
    scans: ScanCheck | None = None  # its scan results against the simulator's truth


class Summary(msgspec.Struct):
    """The fields of the crawler's scan_summary record that the benchmark reads."""

    status: str
    started_at: datetime
    finished_at: datetime
    api_calls: int
    retries: int
    throttled: int
    regions: dict[str, dict[str, int]]


def aws_env(ctx: Context) -> dict[str, str]:
    """The scenario account's keys, the simulator for every service, no profile files and a
    fresh cache directory (a cold scan)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    cache_dir = ctx.workdir / "cache"
    env.update(
        AWS_ACCESS_KEY_ID=access_key(ctx.account),
        AWS_SECRET_ACCESS_KEY="bench-secret-not-checked",
        AWS_ENDPOINT_URL=ctx.sim.url,
        AWS_ENDPOINT_URL_ECR=ctx.sim.url,
        AWS_CONFIG_FILE=str(ctx.workdir / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(ctx.workdir / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        XDG_CACHE_HOME=str(cache_dir),
    )
    return env


def _measure(ctx: Context, name: str, command: list[str], cap: float) -> tuple[Run, Path]:
    ctx.sim.reset()
    before = ctx.sim.stats().cpu_seconds
    log = ctx.workdir / f"{name}.log"
    measurement = run_measured(command, env=aws_env(ctx), cwd=ROOT, log=log, cap_seconds=cap)
    stats = ctx.sim.stats()
    run = Run(name, measurement=measurement, stats=stats)
    run.simulator_cpu = stats.cpu_seconds - before
    return run, log


def announce(tool: str, run: Callable[[], Run]) -> Run:
    print(f"   {tool} ...", end=" ", flush=True)
    started = time.perf_counter()
    done = run()
    print(f"{time.perf_counter() - started:.1f} s", flush=True)
    return done


def run_crawler(ctx: Context, cap: float, config: Path | None) -> Run:
    output = ctx.workdir / "crawler.jsonl"
    command = [str(BIN / "ecr-crawler"), "scan", "--regions", ",".join(ctx.regions)]
    command += ["--sink", f"jsonl:{output}", "--log-format", "json"]
    if config is not None:
        command += ["-c", str(config)]
    run, log = _measure(ctx, "ecr-crawler", command, cap)
    assert run.measurement is not None
    run.wall_seconds = run.measurement.wall_seconds
    if run.measurement.capped or not output.exists():
        reason = f"stopped at the {cap:.0f} s cap" if run.measurement.capped else "no output"
        run.note = f"{reason} (exit {run.measurement.exit_code}): {_tail(log)}"
        return run
    summary = _summary(output)
    run.scan_seconds = (summary.finished_at - summary.started_at).total_seconds()
    run.api_calls, run.retries, run.throttled = (
        summary.api_calls,
        summary.retries,
        summary.throttled,
    )
    run.images = sum(r.get("images", 0) for r in summary.regions.values())
    run.check = compare.check(ctx.expected(), compare.keys_in(output))
    if ctx.scan_results:
        run.scans = check_scan_results(ctx.registry, output, [ctx.account])
    if summary.status != "complete":
        run.note = f"scan status {summary.status} (exit {run.measurement.exit_code})"
    output.unlink()
    return run


def run_baseline(ctx: Context, cap: float, expected_calls: int) -> Run:
    output = ctx.workdir / "baseline.jsonl"
    command = [sys.executable, "-m", "bench.baseline", "--regions", ",".join(ctx.regions)]
    command += ["--output", str(output)]
    return _peer(ctx, "boto3 baseline", command, output, cap, expected_calls)


def run_cartography(ctx: Context, cap: float, expected_calls: int) -> Run:
    python = cartography_python()
    if isinstance(python, str):
        return Run("cartography", note=f"skipped: {python}")
    output = ctx.workdir / "cartography.jsonl"
    driver = ROOT / "bench" / "cartography_driver.py"
    command = [str(python), str(driver), "--regions", ",".join(ctx.regions)]
    command += ["--output", str(output)]
    return _peer(ctx, "cartography", command, output, cap, expected_calls)


def _peer(
    ctx: Context, name: str, command: list[str], output: Path, cap: float, expected_calls: int
) -> Run:
    run, log = _measure(ctx, name, command, cap)
    assert run.measurement is not None
    stats = run.stats
    run.api_calls = stats.total("calls", exclude=STS_OPERATIONS)
    run.throttled = stats.total("throttled")
    run.images = stats.items.get("DescribeImages", 0)
    # Calls that did their work: what the expected count of a complete scan counts.
    done = run.api_calls - run.throttled - stats.total("errors") - stats.total("faults")
    if run.measurement.capped:
        share = max(done, 1) / expected_calls
        run.wall_seconds = run.measurement.wall_seconds / share
        run.extrapolated = True
        run.scope = (
            f"capped at {cap:.0f} s after {done:,} of {expected_calls:,} calls ({share:.0%}); "
            "wall extrapolated by calls"
        )
    elif run.measurement.exit_code != 0:
        run.note = f"exit {run.measurement.exit_code}: {_tail(log)}"
    else:
        run.wall_seconds = run.measurement.wall_seconds
        run.check = compare.check(ctx.expected(), compare.keys_in(output))
    output.unlink(missing_ok=True)
    return run


def _summary(path: Path) -> Summary:
    """The scan_summary: the last line of the file."""
    with path.open("rb") as records:
        records.seek(max(0, path.stat().st_size - 65_536))
        last = records.read().rstrip(b"\n").rpartition(b"\n")[2]
    return msgspec.json.decode(last, type=Summary)


def _tail(log: Path, lines: int = 3) -> str:
    text = log.read_text(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:])[-600:] or "(no output)"


@cache
def cartography_python() -> Path | str:
    """bench/.venv-cartography's python, created on first use (not timed); or why not."""
    python = CARTOGRAPHY_VENV / "bin" / "python"
    probe = [str(python), "-c", "import cartography.intel.aws.ecr"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    print(f"creating {CARTOGRAPHY_VENV} (pip install cartography; once)", flush=True)
    steps = [
        [sys.executable, "-m", "venv", str(CARTOGRAPHY_VENV)],
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(CARTOGRAPHY_REQUIREMENTS)],
        probe,
    ]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=1200, check=False)
        except subprocess.TimeoutExpired:
            return f"`{' '.join(step[:3])}` timed out"
        if done.returncode != 0:
            return f"cartography could not be installed: {done.stderr.strip()[-300:]}"
    return python
