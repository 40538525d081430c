"""The simulator's raw throughput: DescribeImages pages of 1000 images per second, with a client
that does not parse the answers, so that the figure is the simulator's alone.

    python -m bench.throughput [--seconds S] [--concurrency N]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass

import aiohttp
import msgspec

from bench.simulator import access_key, parse_scenario, run_simulator
from bench.simulator.registry import repository_name
from bench.simulator.scenario import Scenario

ACCOUNT = "111111111111"
REGION = "us-east-1"
TARGET = "AmazonEC2ContainerRegistry_V20150921.DescribeImages"


def scenario() -> Scenario:
    """Eight repositories of 100,000 images: every page is full; no latency, no quota."""
    return parse_scenario(
        {
            "name": "throughput",
            "accounts": [ACCOUNT],
            "regions": [REGION],
            "repositories_per_region": 8,
            "images": {"distribution": "fixed", "value": 100_000, "cap": 100_000},
            "archived_fraction": 0.01,
        }
    )


@dataclass
class Throughput:
    seconds: float
    calls: int
    images: int
    megabytes: float
    simulator_cpu: float  # share of one core the simulator used

    @property
    def calls_per_second(self) -> float:
        return self.calls / self.seconds

    def line(self) -> str:
        return (
            f"{self.calls_per_second:.0f} DescribeImages pages of 1000/s "
            f"({self.images / self.seconds:,.0f} images/s, "
            f"{self.megabytes / self.seconds:.0f} MB/s), simulator CPU {self.simulator_cpu:.0%}"
        )


class _Page(msgspec.Struct):
    """Only the token: msgspec skips the rest of the page without building it."""

    nextToken: str | None = None


async def _walk(url: str, repository: str, deadline: float, received: list[int]) -> None:
    headers = {
        "X-Amz-Target": TARGET,
        "Content-Type": "application/x-amz-json-1.1",
        # The simulator reads the access key and region from the scope; it checks no signature.
        "Authorization": f"AWS4-HMAC-SHA256 Credential={access_key(ACCOUNT)}/20260101/"
        f"{REGION}/ecr/aws4_request, SignedHeaders=host, Signature=0",
    }
    body: dict[str, object] = {
        "repositoryName": repository,
        "maxResults": 1000,
        "filter": {"tagStatus": "ANY", "imageStatus": "ANY"},
    }
    async with aiohttp.ClientSession() as session:
        while time.perf_counter() < deadline:
            async with session.post(url, data=msgspec.json.encode(body), headers=headers) as r:
                data = await r.read()
            received.append(len(data))
            token = msgspec.json.decode(data, type=_Page).nextToken
            body.pop("nextToken", None)
            if token:
                body["nextToken"] = token


async def _measure(url: str, repositories: list[str], seconds: float, concurrency: int) -> int:
    """Bytes received by `concurrency` clients walking repositories' pages for `seconds`."""
    received: list[int] = []
    deadline = time.perf_counter() + seconds
    async with asyncio.TaskGroup() as tg:
        for n in range(concurrency):
            tg.create_task(_walk(url, repositories[n % len(repositories)], deadline, received))
    return sum(received)


def measure(seconds: float = 5.0, concurrency: int = 4) -> Throughput:
    """Starts its own simulator subprocess, warms it up for a second, then measures."""
    spec = scenario()
    names = [repository_name(p) for p in range(spec.repositories_per_region)]
    with run_simulator(spec, subprocess=True) as sim:
        asyncio.run(_measure(sim.url, names, 1.0, concurrency))
        sim.reset()
        before = sim.stats().cpu_seconds
        started = time.perf_counter()
        received = asyncio.run(_measure(sim.url, names, seconds, concurrency))
        elapsed = time.perf_counter() - started
        stats = sim.stats()
    return Throughput(
        seconds=elapsed,
        calls=stats.calls.get("DescribeImages", 0),
        images=stats.items.get("DescribeImages", 0),
        megabytes=received / 1e6,
        simulator_cpu=(stats.cpu_seconds - before) / elapsed,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    print(measure(args.seconds, args.concurrency).line())


if __name__ == "__main__":
    main()
