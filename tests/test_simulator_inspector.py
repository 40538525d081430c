"""The bench simulator's Amazon Inspector (bench/simulator/inspector.py): for an ENHANCED
region, the crawler's Inspector functions (crawler/ecr/inspector.py) get, every page followed,
exactly what DescribeImageScanFindings says image by image; nothing for another region."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import anyio
import boto3
import pytest
from aiobotocore.session import AioSession
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from bench.simulator import Registry, SimulatorHandle, access_key, parse_scenario, run_simulator
from bench.simulator.findings import scan_result
from crawler.aws.call import Caller, open_client
from crawler.config import load_config
from crawler.ecr.findings import finding_records
from crawler.ecr.inspector import (
    Coverage,
    image_coverage,
    image_scan,
    list_findings,
    severity_counts,
)
from crawler.records import Image, ScanFinding

ACCOUNT = "123456789012"
ENHANCED, NATIVE = "ap-southeast-2", "us-east-1"
SCENARIO: dict[str, Any] = {
    "name": "inspector",
    "seed": 7,
    "accounts": [ACCOUNT, "210987654321"],
    "regions": [ENHANCED, NATIVE],
    "repositories_per_region": 4,
    "images": {"median": 25, "sigma": 0.5, "cap": 60, "total": 400},
    "multi_arch_fraction": 0.2,
    "archived_fraction": 0.15,
    "scan_status": {"COMPLETE": 0.7, "FAILED": 0.1, "IN_PROGRESS": 0.1, "NONE": 0.1},
    "scanning": {"mode": "ENHANCED", "regions": {NATIVE: "AWS_NATIVE"}},
    "page_cap": 7,
}
T = TypeVar("T")


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    with run_simulator(parse_scenario(SCENARIO)) as handle:
        yield handle


def inspect(sim: SimulatorHandle, region: str, work: Callable[[Caller], Awaitable[T]]) -> T:
    """Run `work` with a Caller of an inspector2 client of the simulator."""
    config = load_config(None, regions=[region], endpoint_url=sim.url)

    async def main() -> T:
        session = AioSession()
        session.set_credentials(access_key(ACCOUNT), "not-checked")
        async with open_client(session, "inspector2", region, config) as client:
            return await work(Caller(client, config))

    return anyio.run(main)


def client(sim: SimulatorHandle, service: str, region: str) -> Any:
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=sim.url,
        aws_access_key_id=access_key(ACCOUNT),
        aws_secret_access_key="not-checked",
        config=BotoConfig(retries={"total_max_attempts": 1}),
    )


def disf(sim: SimulatorHandle) -> dict[tuple[str, str], tuple[str | None, dict[str, int] | None]]:
    """(repository, digest) -> DescribeImageScanFindings' status and counts, as the registry
    draws them, for every image of the ENHANCED region."""
    registry = Registry(sim.scenario)
    answers: dict[tuple[str, str], tuple[str | None, dict[str, int] | None]] = {}
    for repo in registry.repositories(ACCOUNT, ENHANCED):
        for i in range(repo.image_count):
            meta = registry.meta(repo, i)
            result = scan_result(
                "ENHANCED",
                index=meta.kind == "index",
                archived=meta.archived,
                draw=registry.scan_draw(repo, meta),
            )
            key = repo.name, registry.digest(repo, meta)
            answers[key] = (result.status, result.counts) if result else (None, None)
    return answers


def test_coverage_and_counts_are_describe_image_scan_findings(sim: SimulatorHandle) -> None:
    """Every image's status and counts from Inspector equal DISF's, across pages of 7."""
    sim.reset()
    coverage = inspect(sim, ENHANCED, lambda caller: image_coverage(caller, ACCOUNT))
    counts = inspect(sim, ENHANCED, lambda caller: severity_counts(caller, ACCOUNT))
    truth = disf(sim)
    got = {}
    for key in truth:
        status, summary = image_scan(coverage.get(key), counts.get(key))
        got[key] = (
            status.status if status else None,
            summary.finding_severity_counts if summary else None,
        )
    assert got == truth
    statuses = {status for status, _ in truth.values()}
    assert statuses >= {"ACTIVE", "PENDING", "FINDINGS_UNAVAILABLE", "UNSUPPORTED_IMAGE"}
    assert statuses >= {"IMAGE_ARCHIVED", None}
    assert any(n for c in counts.values() for s, n in c.items() if s == "UNDEFINED")
    calls = sim.stats().calls
    assert calls["ListCoverage"] == math.ceil(len(coverage) / 7)
    assert calls["ListFindingAggregations"] == math.ceil(len(counts) / 7)


def test_some_images_run_in_ecs_or_eks(sim: SimulatorHandle) -> None:
    """inUseCount and lastInUseAt for some runnable images, never for an index."""
    coverage: dict[Any, Coverage] = inspect(
        sim, ENHANCED, lambda caller: image_coverage(caller, ACCOUNT)
    )
    running = [c for c in coverage.values() if c.in_use_count]
    assert 0 < len(running) < len(coverage)
    assert all(c.last_in_use_at is not None for c in running)
    assert all(c.reason != "UNSUPPORTED_MEDIA_TYPE" for c in running)
    assert any(c.image_pulled_at for c in coverage.values())


def test_findings_are_describe_image_scan_findings_records(sim: SimulatorHandle) -> None:
    """list_findings yields the records DISF's findings make, every page followed."""

    async def work(caller: Caller) -> list[ScanFinding]:
        coverage = await image_coverage(caller, ACCOUNT)
        pages = list_findings(caller, ACCOUNT, scan_id="s", region=ENHANCED, coverage=coverage)
        return [record async for page in pages for record in page]

    sim.reset()
    records = inspect(sim, ENHANCED, work)
    ecr = client(sim, "ecr", ENHANCED)
    expected: list[ScanFinding] = []
    for (repository, digest), (_, counts) in disf(sim).items():
        if not counts:
            continue
        image = Image(
            scan_id="s",
            account_id=ACCOUNT,
            region=ENHANCED,
            registry_id=ACCOUNT,
            repository_name=repository,
            image_digest=digest,
            image_tags=[],
            image_uri="",
        )
        pages = ecr.get_paginator("describe_image_scan_findings").paginate(
            repositoryName=repository, imageId={"imageDigest": digest}
        )
        for page in pages:
            expected += finding_records(page, image)
    assert len(records) == len(expected) > 100
    assert set(records) == set(expected)
    assert sim.stats().calls["ListFindings"] == math.ceil(len(expected) / 7)


def test_a_basic_region_has_no_coverage(sim: SimulatorHandle) -> None:
    """Inspector covers no image of an AWS-native basic registry."""
    assert inspect(sim, NATIVE, lambda caller: image_coverage(caller, ACCOUNT)) == {}
    assert inspect(sim, NATIVE, lambda caller: severity_counts(caller, ACCOUNT)) == {}


def test_paging_and_filters_as_the_inspector2_model_says(sim: SimulatorHandle) -> None:
    """Bad maxResults, filters or tokens are rejected; account and resource filters apply."""
    inspector = client(sim, "inspector2", ENHANCED)
    with pytest.raises(ClientError) as big:
        inspector.list_coverage(maxResults=201)
    assert big.value.response["Error"]["Code"] == "ValidationException"
    unknown = {"vulnerabilityId": [{"comparison": "EQUALS", "value": "CVE-2020-1"}]}
    with pytest.raises(ClientError) as filtered:
        inspector.list_findings(filterCriteria=unknown)
    assert filtered.value.response["Error"]["Code"] == "ValidationException"
    first = inspector.list_findings(maxResults=100)
    assert len(first["findings"]) == 7
    with pytest.raises(ClientError) as foreign:
        inspector.list_coverage(nextToken=first["nextToken"])
    assert foreign.value.response["Error"]["Code"] == "ValidationException"
    other = {"accountId": [{"comparison": "EQUALS", "value": "210987654321"}]}
    assert inspector.list_coverage(filterCriteria=other)["coveredResources"] == []
    lambdas = {"resourceType": [{"comparison": "EQUALS", "value": "AWS_LAMBDA_FUNCTION"}]}
    assert inspector.list_coverage(filterCriteria=lambdas)["coveredResources"] == []


def test_an_answer_holds_at_most_25_findings() -> None:
    """FindingList's maximum, 25, whatever maxResults says, without a page_cap."""
    scenario = parse_scenario({**SCENARIO, "page_cap": None})
    with run_simulator(scenario) as handle:
        pages = client(handle, "inspector2", ENHANCED).get_paginator("list_findings")
        sizes = [len(p["findings"]) for p in pages.paginate(PaginationConfig={"PageSize": 100})]
    assert sizes[0] == 25
    assert max(sizes) == 25
    assert len(sizes) > 2
