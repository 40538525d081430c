"""`make soak`: the crawler under sustained load, scan after scan in one process, for 5+ minutes.

    python -m bench.soak                  # 5 minutes; writes bench/SOAK.md
    python -m bench.soak --minutes 1      # shorter (prints only, unless --output)

The simulator runs bench/scenarios/soak.yaml (30 accounts x 4 regions, tight quotas per
account-region) in a subprocess on 127.0.0.1. This process runs the crawler's library API,
`crawler.graph.scan(config, sink, session=..., stats=...)`, with every account through a role
(`accounts:`), the crawler's default concurrency, manifests off and a sink that drops the
records, scan after scan until the time is up (the scan running then is finished; none starts
after). Every few seconds a task in the same event loop samples the process: RSS (VmRSS), open
file descriptors, the sockets among them, asyncio tasks alive, and the API calls and throttled
calls so far. The verdicts:

- memory flat: mean RSS of the last third of the samples (since the first call) within 10% of
  the first third's;
- fds and sockets bounded: at most `concurrency.accounts x regions x api_calls` sockets (every
  account-region being scanned holds one client whose pool is `api_calls`) plus 2 STS clients
  per account, and after each scan as many fds as before the first;
- no task left behind: after each scan (and a second to settle) as many tasks as before the
  first;
- throttled share low once learned: throttled / calls after the first minute < 5%.

Self-terminating: each scan is stopped (status "interrupted") if it runs past the end by more
than SCAN_GRACE seconds, and the whole run is cancelled past the end plus HARD_GRACE.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import anyio

from bench.measure import machine
from bench.simulator import access_key, load_scenario, run_simulator
from bench.simulator.scenario import Scenario
from bench.tools import ROOT

SCENARIO = ROOT / "bench" / "scenarios" / "soak.yaml"
OUTPUT = ROOT / "bench" / "SOAK.md"
ROLE = "ecr-crawler-soak"
SCAN_GRACE = 240.0  # seconds a scan may run past the end before it is stopped
HARD_GRACE = 420.0  # seconds past the end before the whole soak is cancelled
RSS_GROWTH = 0.10
THROTTLED_SHARE = 0.05
LEARNING = 60.0  # seconds before the throttled share counts


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the soak started
    cpu: float  # CPU seconds of this process so far (user + system)
    rss_mb: float
    fds: int
    sockets: int
    tasks: int  # asyncio tasks alive, the sampler's own and the soak's main task included
    calls: int  # API calls so far, every scan
    throttled: int
    units: int  # account-regions started so far, every scan
    scans: int  # scans finished


@dataclass
class ScanRun:
    number: int
    started: float
    seconds: float
    status: str
    images: int
    calls: int
    throttled: int
    tasks_after: int  # right when scan() returned
    tasks_settled: int  # a second later
    fds_settled: int
    rss_settled: float


@dataclass
class Soak:
    scenario: Scenario
    minutes: float
    interval: float
    samples: list[Sample] = field(default_factory=list)
    scans: list[ScanRun] = field(default_factory=list)
    baseline_tasks: int = 0
    baseline_fds: int = 0
    socket_bound: int = 0
    elapsed: float = 0.0


class NullSink:
    """Drops every record: the soak measures the crawler, not a sink."""

    async def write(self, batch: Sequence[Any]) -> None:
        return None

    async def aclose(self) -> None:
        return None


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def descriptors() -> tuple[int, int]:
    """Open file descriptors, and how many of them are sockets."""
    fds = sockets = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile (the listing's own fd, for one)
            continue
        fds += 1
        sockets += target.startswith("socket:")
    return fds, sockets


def isolate_from_aws(workdir: Path) -> None:
    """No real AWS: no profile, no shared files, no instance metadata, no keys from the
    environment (the session gets the simulator's keys explicitly)."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update(
        AWS_CONFIG_FILE=str(workdir / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(workdir / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )


async def run_soak(url: str, soak: Soak, workdir: Path) -> None:
    # Imported here: the crawler is what is measured, and its import is part of the process.
    import structlog
    from aiobotocore.session import AioSession

    from crawler.config import load_config
    from crawler.graph import ScanStats, scan

    # The library logs at debug (each retry) by default; a quiet service shows warnings only.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    scenario = soak.scenario
    config = load_config(
        None,
        regions=list(scenario.regions),
        endpoint_url=url,
        accounts=[
            {"account_id": a, "role_arn": f"arn:aws:iam::{a}:role/{ROLE}"}
            for a in scenario.accounts
        ],
        cache_dir=str(workdir / "cache"),
        **{"collect.manifests": "off"},
    )
    c = config.concurrency
    # Every account-region being scanned has one ECR client, its pool `api_calls` connections.
    soak.socket_bound = min(c.accounts, len(scenario.accounts)) * min(
        c.regions, len(scenario.regions)
    ) * c.api_calls + 2 * min(c.accounts, len(scenario.accounts))
    session = AioSession()
    session.set_credentials(access_key(scenario.accounts[0]), "soak-secret-not-checked")
    sink = NullSink()
    started = time.perf_counter()
    end = started + soak.minutes * 60
    done_calls = done_throttled = done_units = 0
    current = ScanStats()

    async def sample_forever() -> None:
        while True:
            fds, sockets = descriptors()
            soak.samples.append(
                Sample(
                    t=time.perf_counter() - started,
                    cpu=time.process_time(),
                    rss_mb=rss_mb(),
                    fds=fds,
                    sockets=sockets,
                    tasks=len(asyncio.all_tasks()),
                    calls=done_calls + current.calls.api_calls,
                    throttled=done_throttled + current.calls.throttled,
                    units=done_units + len(current.units),
                    scans=len(soak.scans),
                )
            )
            previous = soak.samples[-2] if len(soak.samples) > 1 else None
            print(_row(soak.samples[-1], previous), flush=True)
            await asyncio.sleep(soak.interval)

    soak.baseline_tasks = len(asyncio.all_tasks())
    soak.baseline_fds = descriptors()[0]
    print(_header(), flush=True)
    sampler = asyncio.create_task(sample_forever())
    try:
        while time.perf_counter() < end:
            current = ScanStats()
            stop = anyio.Event()
            guard = asyncio.get_running_loop().call_at(
                asyncio.get_running_loop().time() + (end - time.perf_counter()) + SCAN_GRACE,
                stop.set,
            )
            began = time.perf_counter()
            summary = await scan(config, sink, session=session, stop=stop, stats=current)
            guard.cancel()
            seconds = time.perf_counter() - began
            tasks_after = len(asyncio.all_tasks()) - 1  # the sampler is not the scan's
            done_calls += current.calls.api_calls
            done_throttled += current.calls.throttled
            done_units += len(current.units)
            current = ScanStats()
            await asyncio.sleep(1.0)
            soak.scans.append(
                ScanRun(
                    number=len(soak.scans) + 1,
                    started=began - started,
                    seconds=seconds,
                    status=summary.status,
                    images=sum(r.images for r in summary.regions.values()),
                    calls=summary.api_calls,
                    throttled=summary.throttled,
                    tasks_after=tasks_after,
                    tasks_settled=len(asyncio.all_tasks()) - 1,
                    fds_settled=descriptors()[0],
                    rss_settled=rss_mb(),
                )
            )
            run = soak.scans[-1]
            print(
                f"-- scan {run.number}: {run.status}, {run.seconds:.1f} s, {run.images:,} images, "
                f"{run.calls:,} calls ({run.throttled:,} throttled); tasks {run.tasks_settled} "
                f"(baseline {soak.baseline_tasks}), fds {run.fds_settled}, "
                f"RSS {run.rss_settled:.0f} MB",
                flush=True,
            )
    finally:
        sampler.cancel()
        soak.elapsed = time.perf_counter() - started


# -- the report -------------------------------------------------------------------------------

COLUMNS = (
    "t s",
    "CPU % (one core)",
    "RSS MB",
    "fds",
    "sockets",
    "tasks",
    "calls",
    "throttled",
    "calls since last",
    "throttled since last",
    "account-regions started",
    "scans done",
)


def _header() -> str:
    return "| " + " | ".join(COLUMNS) + " |\n|" + "---:|" * len(COLUMNS)


def _row(s: Sample, previous: Sample | None) -> str:
    share = f"{s.throttled:,} ({s.throttled / s.calls:.1%})" if s.calls else "0"
    calls = s.calls - previous.calls if previous else s.calls
    throttled = s.throttled - previous.throttled if previous else s.throttled
    recent = f"{throttled:,} ({throttled / calls:.1%})" if calls > 0 else "0"
    busy = "—"
    if previous is not None and s.t > previous.t:
        busy = f"{100 * (s.cpu - previous.cpu) / (s.t - previous.t):.0f}"
    cells = [f"{s.t:.0f}", busy, f"{s.rss_mb:.0f}", s.fds, s.sockets, s.tasks, f"{s.calls:,}"]
    cells.append(share)
    cells += [f"{calls:,}", recent, s.units, s.scans]
    return "| " + " | ".join(str(c) for c in cells) + " |"


@dataclass(frozen=True)
class Verdict:
    criterion: str
    met: bool
    detail: str

    def line(self) -> str:
        return f"- **{'PASS' if self.met else 'FAIL'}** {self.criterion}: {self.detail}"


def verdicts(soak: Soak) -> list[Verdict]:
    # The thirds are of the samples since the first call: the one taken before is the
    # interpreter with the crawler imported, not yet its working set.
    samples = [s for s in soak.samples if s.calls] or soak.samples
    third = max(1, len(samples) // 3)
    first, last = samples[:third], samples[-third:]
    rss_first = statistics.mean(s.rss_mb for s in first)
    rss_last = statistics.mean(s.rss_mb for s in last)
    growth = rss_last / rss_first - 1
    settled = [
        f"{r.rss_settled:.0f}" for r in soak.scans
    ]  # after each scan: what stays between scans
    out = [
        Verdict(
            f"memory flat (RSS growth from the first third to the last < {RSS_GROWTH:.0%})",
            growth < RSS_GROWTH,
            f"mean RSS {rss_first:.0f} MB in the first third, {rss_last:.0f} MB in the last "
            f"({growth:+.1%}); peak {max(s.rss_mb for s in samples):.0f} MB; after each scan "
            f"{', '.join(settled)} MB",
        )
    ]
    max_sockets = max(s.sockets for s in samples)
    max_fds = max(s.fds for s in samples)
    first_max = max(s.sockets for s in first)
    last_max = max(s.sockets for s in last)
    closed = all(r.fds_settled <= soak.baseline_fds for r in soak.scans)
    fds_after = ", ".join(str(r.fds_settled) for r in soak.scans)
    out.append(
        Verdict(
            f"fds and sockets bounded (sockets <= {soak.socket_bound}: concurrency.accounts x "
            "regions x api_calls, plus 2 STS per account; after each scan as many fds as "
            "before the first)",
            max_sockets <= soak.socket_bound and closed,
            f"max {max_fds} fds and {max_sockets} sockets (most in the first third "
            f"{first_max}, in the last {last_max}); fds before the first scan "
            f"{soak.baseline_fds}, a second after each scan {fds_after}",
        )
    )
    left = [r.tasks_settled for r in soak.scans]
    out.append(
        Verdict(
            "no task left behind (tasks after each scan = before the first)",
            bool(left) and all(n <= soak.baseline_tasks for n in left),
            f"before the first scan {soak.baseline_tasks} (the soak's own); right after each "
            f"scan {', '.join(str(r.tasks_after) for r in soak.scans)}, a second later "
            f"{', '.join(str(n) for n in left)}",
        )
    )
    at = next((s for s in samples if s.t >= LEARNING), samples[0])
    end = samples[-1]
    calls = end.calls - at.calls
    share = (end.throttled - at.throttled) / calls if calls else 0.0
    out.append(
        Verdict(
            f"throttled share low once learned (after the first {LEARNING:.0f} s < "
            f"{THROTTLED_SHARE:.0%})",
            calls > 0 and share < THROTTLED_SHARE,
            f"{end.throttled - at.throttled:,} of {calls:,} calls after {at.t:.0f} s "
            f"({share:.1%}); {at.throttled:,} of {at.calls:,} before. {_by_starts(samples, at)}",
        )
    )
    return out


def _by_starts(samples: list[Sample], at: Sample) -> str:
    """The throttled share of the sampling intervals in which account-regions started (each
    with new limiters) and of those in which none did (limiters that have learned)."""
    sums = {True: [0, 0, 0], False: [0, 0, 0]}  # intervals, calls, throttled
    for before, after in pairwise(samples):
        if before.t < at.t:
            continue
        started = after.units > before.units
        sums[started][0] += 1
        sums[started][1] += after.calls - before.calls
        sums[started][2] += after.throttled - before.throttled
    parts = []
    for started, label in ((True, "some account-regions started"), (False, "none started")):
        n, calls, throttled = sums[started]
        share = f"{throttled / calls:.1%}" if calls else "—"
        parts.append(f"{n} intervals where {label}: {throttled:,} of {calls:,} ({share})")
    return "; ".join(parts)


def document(soak: Soak, command: str) -> str:
    scenario = soak.scenario
    info = machine()
    scans = [
        f"| {r.number} | {r.started:.0f} | {r.seconds:.1f} | {r.status} | {r.images:,} | "
        f"{r.calls:,} | {r.throttled:,} ({r.throttled / max(r.calls, 1):.1%}) | "
        f"{r.tasks_after} / {r.tasks_settled} | {r.fds_settled} | {r.rss_settled:.0f} |"
        for r in soak.scans
    ]
    return "\n".join(
        [
            "# Soak results",
            "",
            f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            f"- machine: {info['nproc']} cores, {info['memory']}, {info['cpu']}",
            f"- command: {command}, {soak.elapsed:.0f} s in all",
            f"- scenario: `bench/scenarios/soak.yaml`: {len(scenario.accounts)} accounts x "
            f"{len(scenario.regions)} regions = "
            f"{len(scenario.accounts) * len(scenario.regions)} account-regions, each through "
            f"role `{ROLE}`; the crawler's library API in one process, its default "
            "concurrency, manifests off, records dropped; the simulator in a subprocess",
            "",
            "## Verdicts",
            "",
            *[v.line() for v in verdicts(soak)],
            "",
            "## Scans",
            "",
            "| scan | started at s | seconds | status | images | calls | throttled | "
            "tasks after / 1 s later | fds 1 s later | RSS MB 1 s later |",
            "|---:|---:|---:|---|---:|---:|---:|---|---:|---:|",
            *scans,
            "",
            f"## Samples (every {soak.interval:g} s)",
            "",
            "tasks counts every asyncio task alive, the soak's main task and the sampler "
            "included; calls and throttled are cumulative over the scans.",
            "",
            _header(),
            *[_row(s, p) for s, p in zip(soak.samples, [None, *soak.samples[:-1]], strict=True)],
            "",
            "Generated by `make soak` (`python -m bench.soak`); bench/README.md describes it.",
            "",
        ]
    )


async def _guarded(soak: Coroutine[Any, Any, None], limit: float) -> None:
    """`soak`, cancelled after `limit` seconds or on SIGTERM (which then unwinds like Ctrl-C,
    so that the simulator subprocess is stopped too)."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await asyncio.wait_for(soak, limit)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=5.0,
        help="no scan starts after this (default: %(default)s); the last one is finished, so a "
        "run takes at least one scan, about two minutes",
    )
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    parser.add_argument(
        "--output",
        type=Path,
        help=f"write the results here (default: {OUTPUT.relative_to(ROOT)} for a run of 5 "
        "minutes or more, else nowhere)",
    )
    args = parser.parse_args(argv)
    scenario = load_scenario(SCENARIO)
    soak = Soak(scenario, args.minutes, args.interval)
    with (
        tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp,
        run_simulator(SCENARIO, subprocess=True) as sim,
    ):
        isolate_from_aws(Path(tmp))
        print(f"soak: {args.minutes:g} min on {sim.url} (scenario {SCENARIO.name})", flush=True)
        limit = args.minutes * 60 + HARD_GRACE
        try:
            asyncio.run(_guarded(run_soak(sim.url, soak, Path(tmp)), limit))
        except TimeoutError:
            print(f"soak: cancelled after {limit:.0f} s", file=sys.stderr)
        except (asyncio.CancelledError, KeyboardInterrupt):
            print("soak: stopped", file=sys.stderr)
            return 130
    if not soak.samples or not soak.scans:
        print("soak: no scan finished", file=sys.stderr)
        return 1
    print()
    for verdict in verdicts(soak):
        print(verdict.line())
    output = args.output or (OUTPUT if args.minutes >= 5 else None)
    if output is not None:
        command = (
            "`make soak` (`python -m bench.soak`)"
            if not argv
            else (f"`python -m bench.soak {' '.join(argv)}`")
        )
        output.write_text(document(soak, command))
        print(f"written to {output}")
    return 0 if all(v.met for v in verdicts(soak)) else 1


if __name__ == "__main__":
    sys.exit(main())
