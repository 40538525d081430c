"""Sink throughput: `python -m bench.sinks`.

Writes synthetic records (built from `crawler.records`, shaped like a real account's: mostly
images with tags, sizes, timestamps and nested scan summaries, a repository per 50 images) into
every sink in batches of the scan writer's size, twice (a first scan, then a rerun that upserts
the same keys), and prints records per second with the CPU time per record: on the event loop's
thread (what competes with the crawl directly) and in the whole process (worker threads too).

    python -m bench.sinks                      # 200,000 records into each sink
    python -m bench.sinks --records 50000 --json
    python -m bench.sinks --postgres postgresql://me@127.0.0.1/bench   # an existing database
    python -m bench.sinks --scan bench/scenarios/huge-repo.yaml         # + wall time of a scan

Without --postgres, a throwaway PostgreSQL cluster is started as the tests start it
(tests/pg.py) when PostgreSQL's binaries are installed; otherwise PostgreSQL is skipped.

With --scan, the scenario's simulator (bench.simulator) is started once and the real CLI scans
it with each sink in turn, the simulator reset in between: the scan's wall time per sink next to
the JSON lines sink's, which is the target's yardstick (no sink more than 10% slower).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import msgspec

from crawler.graph import SINK_BATCH
from crawler.records import (
    Image,
    ImageScanFindingsSummary,
    ImageScanningConfiguration,
    ImageScanStatus,
    RegionCounts,
    Repository,
    ScanRecord,
    ScanSummary,
)
from crawler.sinks import Sink, describe, open_sink

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "123456789012"
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2"]


def records(scan_id: str, n: int) -> list[ScanRecord]:
    """About n records of one scan, the summary last, the same keys for every scan_id."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    out: list[ScanRecord] = []
    counts = {r: RegionCounts() for r in REGIONS}
    repositories = max(1, n // 51)
    for i in range(n - repositories - 1):
        region = REGIONS[i % len(REGIONS)]
        repo = f"team-{i % repositories % 40}/service-{i % repositories}"
        if i < repositories:
            out.append(
                Repository(
                    scan_id=scan_id,
                    account_id=ACCOUNT,
                    region=REGIONS[i % len(REGIONS)],
                    registry_id=ACCOUNT,
                    repository_name=repo,
                    repository_arn=f"arn:aws:ecr:{region}:{ACCOUNT}:repository/{repo}",
                    repository_uri=f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{repo}",
                    created_at=start,
                    image_tag_mutability="MUTABLE",
                    image_scanning_configuration=ImageScanningConfiguration(scan_on_push=True),
                )
            )
        digest = f"sha256:{i:064x}"
        out.append(
            Image(
                scan_id=scan_id,
                account_id=ACCOUNT,
                region=region,
                registry_id=ACCOUNT,
                repository_name=repo,
                image_digest=digest,
                image_tags=[f"v1.{i % 97}.{i}", "latest"] if i % 3 == 0 else [f"sha-{i:08x}"],
                image_uri=f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{repo}@{digest}",
                image_size_in_bytes=50_000_000 + i,
                image_pushed_at=start + timedelta(minutes=i),
                image_manifest_media_type="application/vnd.oci.image.manifest.v1+json",
                artifact_media_type="application/vnd.oci.image.config.v1+json",
                last_recorded_pull_time=start + timedelta(days=1, minutes=i),
                image_scan_status=ImageScanStatus(status="COMPLETE", description="done"),
                image_scan_findings_summary=ImageScanFindingsSummary(
                    image_scan_completed_at=start,
                    vulnerability_source_updated_at=start,
                    finding_severity_counts={"HIGH": i % 5, "MEDIUM": i % 11},
                ),
                image_status="ACTIVE",
            )
        )
    for record in out:
        c = counts[record.region]  # type: ignore[union-attr]
        counts[record.region] = msgspec.structs.replace(  # type: ignore[union-attr]
            c,
            repositories=c.repositories + isinstance(record, Repository),
            images=c.images + isinstance(record, Image),
        )
    now = datetime.now(UTC)
    out.append(
        ScanSummary(
            scan_id=scan_id,
            account_id=ACCOUNT,
            started_at=now,
            finished_at=now,
            status="complete",
            regions=counts,
            regions_skipped=[],
            api_calls=0,
            retries=0,
            throttled=0,
        )
    )
    return out


@dataclass
class Result:
    sink: str
    run: str
    records: int
    seconds: float
    records_per_second: float
    loop_cpu_us_per_record: float
    total_cpu_us_per_record: float


async def _write(sink: Sink, batches: Sequence[Sequence[ScanRecord]]) -> None:
    for batch in batches:
        await sink.write(batch)
    await sink.aclose()


def measure(name: str, uri: str, batches: Sequence[Sequence[ScanRecord]], run: str) -> Result:
    count = sum(len(b) for b in batches)
    sink = open_sink(uri)
    wall, loop_cpu, all_cpu = time.perf_counter(), time.thread_time(), time.process_time()
    anyio.run(_write, sink, batches)
    wall = time.perf_counter() - wall
    loop_cpu = time.thread_time() - loop_cpu
    all_cpu = time.process_time() - all_cpu
    return Result(
        name,
        run,
        count,
        round(wall, 3),
        round(count / wall),
        round(loop_cpu / count * 1e6, 1),
        round(all_cpu / count * 1e6, 1),
    )


@contextlib.contextmanager
def postgres(dsn: str | None) -> Iterator[str | None]:
    """An existing database, a throwaway cluster (as the tests start one), or None."""
    if dsn is not None:
        yield dsn
        return
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        import pg  # type: ignore[import-not-found]  # tests/pg.py, put on sys.path above
    except ImportError as exc:
        print(f"PostgreSQL skipped: cannot load tests/pg.py ({exc})", file=sys.stderr)
        yield None
        return
    if pg.find_pg_ctl() is None:
        print("PostgreSQL skipped: no pg_ctl (apt-get install postgresql)", file=sys.stderr)
        yield None
        return
    with pg.cluster() as cluster:
        yield cluster.dsn(cluster.database())


def sink_uris(workdir: Path, dsn: str | None, tag: str) -> dict[str, str]:
    uris = {
        "jsonl": f"jsonl:{workdir / f'{tag}.jsonl'}",
        "sqlite": f"sqlite:{workdir / f'{tag}.db'}",
        "parquet": f"parquet:{workdir / f'{tag}-parquet'}",
    }
    if dsn is not None:
        uris["postgresql"] = dsn
    return uris


def throughput(n: int, dsn: str | None, workdir: Path) -> list[Result]:
    first = records("bench-scan-1", n)
    rerun = records("bench-scan-2", n)
    results = []
    for name, uri in sink_uris(workdir, dsn, "throughput").items():
        for run, recs in (("first", first), ("rerun", rerun)):
            batches = [recs[i : i + SINK_BATCH] for i in range(0, len(recs), SINK_BATCH)]
            results.append(measure(name, uri, batches, run))
            print(f"  {name:10} {run:5} {results[-1].records_per_second:>9,} records/s", flush=True)
    return results


def scan_times(
    scenario: Path, dsn: str | None, workdir: Path, rounds: int
) -> list[dict[str, object]]:
    """The scenario's scan into each sink, `rounds` times in turn (so that a noisy moment hits
    every sink alike), each run cold (its own manifest cache, the simulator reset): the median
    wall seconds per sink and their ratio to the JSON lines sink's."""
    from bench.measure import run_measured
    from bench.simulator import access_key, run_simulator

    walls: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    with run_simulator(scenario, subprocess=True) as sim:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ACCESS_KEY_ID=access_key(sim.scenario.accounts[0]),
            AWS_SECRET_ACCESS_KEY="bench-secret-not-checked",
            AWS_ENDPOINT_URL=sim.url,
            AWS_CONFIG_FILE=str(workdir / "no-aws-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(workdir / "no-aws-credentials"),
            AWS_EC2_METADATA_DISABLED="true",
        )
        for n in range(rounds):
            for name, uri in sink_uris(workdir, dsn, f"scan{n}").items():
                sim.reset()
                cache = workdir / f"cache-{name}-{n}"
                command = [sys.executable, "-m", "crawler", "scan", "--quiet"]
                command += ["--regions", ",".join(sim.scenario.regions), "--sink", uri]
                m = run_measured(
                    command,
                    env={**env, "XDG_CACHE_HOME": str(cache)},
                    cwd=ROOT,
                    log=workdir / f"scan-{name}-{n}.log",
                    cap_seconds=900,
                )
                if m.exit_code != 0:
                    print(f"  {name}: exit {m.exit_code}, see the log", file=sys.stderr)
                walls.setdefault(name, []).append(m.wall_seconds)
                cpus.setdefault(name, []).append(m.cpu_seconds)
                print(f"  {name:10} round {n + 1}: {m.wall_seconds:7.2f} s", flush=True)
    base = statistics.median(walls["jsonl"])
    return [
        {
            "sink": name,
            "runs": len(times),
            "median_wall_seconds": round(statistics.median(times), 2),
            "vs_jsonl": f"{statistics.median(times) / base - 1:+.1%}",
            "median_cpu_seconds": round(statistics.median(cpus[name]), 2),
        }
        for name, times in walls.items()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sinks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--postgres", metavar="DSN", help="an existing database to write to")
    parser.add_argument("--scan", metavar="SCENARIO", type=Path, help="also time this scan")
    parser.add_argument("--rounds", type=int, default=3, help="scans per sink (median)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-sinks-"))
    try:
        with postgres(args.postgres) as dsn:
            if dsn is not None:
                print(f"PostgreSQL: {describe(dsn)}", file=sys.stderr)
            print(f"{args.records:,} records into each sink:", flush=True)
            results = throughput(args.records, dsn, workdir)
            scans = scan_times(args.scan, dsn, workdir, args.rounds) if args.scan else []
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(
            msgspec.json.encode(
                {"throughput": [asdict(r) for r in results], "scan": scans}
            ).decode()
        )
        return 0
    print()
    print("| sink | run | records/s | loop CPU µs/record | total CPU µs/record |")
    print("|---|---|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.sink} | {r.run} | {r.records_per_second:,} | {r.loop_cpu_us_per_record} "
            f"| {r.total_cpu_us_per_record} |"
        )
    if scans:
        print()
        print("| sink | scans | median scan wall s | vs jsonl | median CPU s |")
        print("|---|---:|---:|---:|---:|")
        for row in scans:
            print(
                f"| {row['sink']} | {row['runs']} | {row['median_wall_seconds']} "
                f"| {row['vs_jsonl']} | {row['median_cpu_seconds']} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
