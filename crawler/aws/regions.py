"""The regions where a service is offered in a partition, read from botocore's endpoint data
without starting botocore: `ecr-crawler regions` answers in a few milliseconds, no AWS call."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import msgspec

# ECR's endpoint prefix, the key of its entry in the endpoint data.
ECR = "api.ecr"


class _Service(msgspec.Struct):
    endpoints: dict[str, msgspec.Raw]


class _Partition(msgspec.Struct):
    partition: str
    regions: dict[str, msgspec.Raw]
    services: dict[str, _Service]


class _Endpoints(msgspec.Struct):
    partitions: list[_Partition]


def partition_regions(partition: str, service: str = ECR) -> list[str]:
    """The regions of `partition` where `service` (an endpoint prefix) has an endpoint, sorted;
    what botocore's `get_available_regions` answers, without importing botocore."""
    for entry in _endpoints().partitions:
        if entry.partition == partition and service in entry.services:
            endpoints = entry.services[service].endpoints
            # Besides regions, the data lists global and FIPS endpoints: not regions to scan.
            return sorted(name for name in endpoints if name in entry.regions)
    return []


def _endpoints() -> _Endpoints:
    spec = importlib.util.find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("botocore is not installed")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    plain = data / "endpoints.json"
    # Some botocore builds ship their data files compressed.
    if plain.exists():
        raw = plain.read_bytes()
    else:
        raw = gzip.decompress((data / "endpoints.json.gz").read_bytes())
    return msgspec.json.decode(raw, type=_Endpoints)
