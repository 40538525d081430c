"""An ECR + STS simulator speaking AWS's wire protocols over a synthetic registry generated
from a scenario file, with quotas, latency and faults: for tests and the benchmark.

    python -m bench.simulator serve SCENARIO [--port P]
    python -m bench.simulator inventory SCENARIO
    python -m bench.simulator bound SCENARIO
    python -m bench.simulator scans SCENARIO RECORDS.jsonl
"""

from bench.simulator.bound import Bound, lower_bound
from bench.simulator.inventory import ScanCheck, check_scan_results
from bench.simulator.registry import Registry, access_key
from bench.simulator.runner import SimulatorHandle, run_simulator
from bench.simulator.scenario import Scenario, ScenarioError, load_scenario, parse_scenario
from bench.simulator.server import Simulator, Stats

__all__ = [
    "Bound",
    "Registry",
    "ScanCheck",
    "Scenario",
    "ScenarioError",
    "Simulator",
    "SimulatorHandle",
    "Stats",
    "access_key",
    "check_scan_results",
    "load_scenario",
    "lower_bound",
    "parse_scenario",
    "run_simulator",
]
