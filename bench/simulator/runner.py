"""Run the simulator for tests and benchmarks: in a thread of this process, or in a subprocess
(the benchmark's choice: the simulator must not share a CPU-bound interpreter with what it
measures).

    with run_simulator(scenario) as sim:          # a thread
        ... AWS_ENDPOINT_URL=sim.url ...
        sim.stats().calls["DescribeImages"]
    with run_simulator(path, subprocess=True) as sim:
        sim.reset()
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess as sp
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec

from bench.simulator.scenario import Scenario, dump_scenario, load_scenario
from bench.simulator.server import Simulator, Stats

ROOT = Path(__file__).resolve().parents[2]  # where `python -m bench.simulator` resolves


class SimulatorHandle:
    """A running simulator: its URL, its counters, and a reset between measured runs."""

    def __init__(self, url: str, scenario: Scenario, pid: int | None) -> None:
        self.url = url
        self.scenario = scenario
        self.pid = pid  # of the subprocess; None in a thread

    def stats(self) -> Stats:
        with urllib.request.urlopen(f"{self.url}/_sim/stats", timeout=10) as reply:
            return msgspec.json.decode(reply.read(), type=Stats)

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/_sim/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as reply:
            reply.read()


@contextmanager
def run_simulator(
    scenario: Scenario | str | Path, *, subprocess: bool = False, port: int = 0
) -> Iterator[SimulatorHandle]:
    """The simulator of `scenario` (an object or a YAML path) on 127.0.0.1, stopped on exit."""
    if subprocess:
        with _in_subprocess(scenario, port) as handle:
            yield handle
        return
    loaded = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    with _in_thread(loaded, port) as handle:
        yield handle


@contextmanager
def _in_thread(scenario: Scenario, port: int) -> Iterator[SimulatorHandle]:
    simulator = Simulator(scenario)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="ecr-simulator", daemon=True)
    thread.start()
    runner, url = asyncio.run_coroutine_threadsafe(simulator.start(port), loop).result()
    try:
        yield SimulatorHandle(url, scenario, None)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


@contextmanager
def _in_subprocess(scenario: Scenario | str | Path, port: int) -> Iterator[SimulatorHandle]:
    with tempfile.TemporaryDirectory(prefix="ecr-simulator-") as tmp:
        if isinstance(scenario, Scenario):
            path = Path(tmp) / f"{scenario.name}.yaml"
            path.write_text(dump_scenario(scenario))
            loaded = scenario
        else:
            path = Path(scenario).resolve()
            loaded = load_scenario(path)
        command = [sys.executable, "-m", "bench.simulator", "serve", str(path), "--port", str(port)]
        process = sp.Popen(command, cwd=ROOT, stdout=sp.PIPE, text=True)
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            if not url.startswith("http://"):
                raise RuntimeError(f"the simulator did not start (exit {process.wait()})")
            yield SimulatorHandle(url, loaded, process.pid)
        finally:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except sp.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()
