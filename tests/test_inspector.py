"""Amazon Inspector's bulk calls for enhanced registries (crawler/ecr/inspector.py) against the
proxy's model of Inspector (tests/inspector.py): the statuses, counts and findings it holds,
every page followed, and the same answers as DescribeImageScanFindings image by image."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio
import boto3
import pytest
from aiobotocore.session import AioSession
from awsproxy import AwsProxy, Rule
from conftest import ACCESS_KEY, SECRET_KEY, ecr_client, make_config
from inspector import REASONS, InspectorModel, model_inspector
from scanning import scan_truth

from crawler.aws.call import Caller, open_client
from crawler.ecr.findings import finding_records
from crawler.ecr.inspector import (
    Coverage,
    ecr_scan_status,
    image_coverage,
    image_scan,
    list_findings,
    severity_counts,
)
from crawler.errors import AccessDeniedError
from crawler.media_types import INDEX_TYPES
from crawler.records import Image, ScanFinding

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's
T = TypeVar("T")


def inspect(proxy: AwsProxy, work: Callable[[Caller], Awaitable[T]]) -> T:
    """Run `work` with a Caller of an inspector2 client through the proxy."""
    config = make_config(proxy, regions=[REGION])

    async def main() -> T:
        session = AioSession()
        session.set_credentials(ACCESS_KEY, SECRET_KEY)
        async with open_client(session, "inspector2", REGION, config) as client:
            return await work(Caller(client, config))

    return anyio.run(main)


def all_findings(proxy: AwsProxy, coverage: dict[Any, Coverage]) -> list[ScanFinding]:
    async def work(caller: Caller) -> list[ScanFinding]:
        pages = list_findings(caller, ACCOUNT, scan_id="s", region=REGION, coverage=coverage)
        return [record async for page in pages for record in page]

    return inspect(proxy, work)


def forced(proxy: AwsProxy) -> dict[str, str]:
    """Five plain images, taken from each repository in turn, get a status other than ACTIVE."""
    statuses = ["FAILED", "SCAN_ELIGIBILITY_EXPIRED", "IMAGE_ARCHIVED", "PENDING", "COMPLETE"]
    ecr = ecr_client(proxy.upstream, REGION)
    plain = []
    for repository in ecr.describe_repositories()["repositories"]:
        details = ecr.describe_images(repositoryName=repository["repositoryName"])
        plain.append(
            [d for d in details["imageDetails"] if d["imageManifestMediaType"] not in INDEX_TYPES]
        )
    turns = [d["imageDigest"] for round_ in itertools.zip_longest(*plain) for d in round_ if d]
    assert len(turns) > len(statuses)
    return dict(zip(turns, statuses, strict=False))


@pytest.fixture
def model(proxy: AwsProxy) -> InspectorModel:
    return model_inspector(proxy, {REGION: "ENHANCED"}, statuses=forced(proxy))


def at(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def test_coverage_is_every_image_the_model_covers(proxy: AwsProxy, model: InspectorModel) -> None:
    """Status code, reason, scan and use times of every image, across every page."""
    coverage = inspect(proxy, lambda caller: image_coverage(caller, ACCOUNT))
    covered = model.covered(REGION)
    assert coverage == {
        key: Coverage(
            status_code=REASONS[image.status][0],
            reason=REASONS[image.status][1],
            last_scanned_at=at(image.last_scanned_at),
            in_use_count=image.in_use_count,
            last_in_use_at=at(image.last_in_use_at),
            image_pulled_at=at(image.pulled_at),
            scan_frequency="CONTINUOUS_SCAN",
        )
        for key, image in covered.items()
    }
    in_use = [c.in_use_count for c in coverage.values()]
    assert any(in_use)
    assert None in in_use
    # The request filters out the repositories Inspector also covers: 2 images a page.
    assert proxy.calls["ListCoverage"] == math.ceil(len(covered) / 2) > 1


def test_statuses_and_counts_are_describe_image_scan_findings(
    proxy: AwsProxy, model: InspectorModel
) -> None:
    """Each image's status and severity counts equal what DescribeImageScanFindings reports."""
    coverage = inspect(proxy, lambda caller: image_coverage(caller, ACCOUNT))
    counts = inspect(proxy, lambda caller: severity_counts(caller, ACCOUNT))
    got = {}
    for (_, digest), covered in coverage.items():
        status, summary = image_scan(covered, counts.get((_, digest)))
        got[digest] = (
            status.status if status else None,
            summary.finding_severity_counts if summary else None,
        )
    truth = {d: r for d, r in scan_truth(proxy, [REGION]).items() if r != (None, None)}
    assert {d: got[d] for d in truth} == truth
    assert {s for s, _ in truth.values()} >= {"ACTIVE", "FAILED", "SCAN_ELIGIBILITY_EXPIRED"}
    assert {s for s, _ in truth.values()} >= {"IMAGE_ARCHIVED", "PENDING", "COMPLETE"}


def test_severity_counts_follow_every_page(proxy: AwsProxy, model: InspectorModel) -> None:
    """One aggregation per image with findings, in ECR's severity names, 2 images a page."""
    counts = inspect(proxy, lambda caller: severity_counts(caller, ACCOUNT))
    expected = {key: image.counts for key, image in model.covered(REGION).items() if image.findings}
    assert counts == expected
    assert len(expected) > 2
    assert proxy.calls["ListFindingAggregations"] == math.ceil(len(expected) / 2)


def test_findings_are_describe_image_scan_findings_records(
    proxy: AwsProxy, model: InspectorModel
) -> None:
    """Every active finding, as the same record DescribeImageScanFindings' parser makes."""
    coverage = inspect(proxy, lambda caller: image_coverage(caller, ACCOUNT))
    records = all_findings(proxy, coverage)
    expected = []
    ecr = boto3.client(
        "ecr",
        region_name=REGION,
        endpoint_url=proxy.url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    for (repository, digest), image in model.covered(REGION).items():
        if not image.findings:
            continue
        record = Image(
            scan_id="s",
            account_id=ACCOUNT,
            region=REGION,
            registry_id=ACCOUNT,
            repository_name=repository,
            image_digest=digest,
            image_tags=[],
            image_uri="",
        )
        paginator = ecr.get_paginator("describe_image_scan_findings")
        for page in paginator.paginate(repositoryName=repository, imageId={"imageDigest": digest}):
            expected += finding_records(page, record)
    assert len(records) == len(expected) > 2
    assert set(records) == set(expected)
    assert proxy.calls["ListFindings"] == math.ceil(len(expected) / 2)


def test_findings_without_coverage_have_no_scan_time(
    proxy: AwsProxy, model: InspectorModel
) -> None:
    """Without the coverage, a finding's scan_completed_at is null, the rest the same."""
    records = all_findings(proxy, {})
    assert records
    assert {r.scan_completed_at for r in records} == {None}
    assert {r.scan_type for r in records} == {"ENHANCED"}


def test_access_denied_on_list_coverage_raises_access_denied_error(
    proxy: AwsProxy, model: InspectorModel
) -> None:
    """A denied inspector2:ListCoverage is our AccessDeniedError, naming the operation."""
    proxy.rules.append(Rule("access_denied", operation="ListCoverage"))
    with pytest.raises(AccessDeniedError) as denied:
        inspect(proxy, lambda caller: image_coverage(caller, ACCOUNT))
    assert denied.value.operation == "ListCoverage"
    assert "inspector2:ListCoverage" in denied.value.message


def test_model_pages_as_the_inspector2_model_says(proxy: AwsProxy, model: InspectorModel) -> None:
    """Too large a maxResults or an unknown filter is rejected; 25 findings an answer at most."""
    image = next(i for i in model.images[REGION] if i.findings)
    many = dataclasses.replace(image, findings=image.findings * 30)
    wide = InspectorModel(proxy, {REGION: [many]})
    proxy.responses["ListFindings"] = wide.list_findings
    proxy.page_cap = None
    inspector = boto3.client(
        "inspector2",
        region_name=REGION,
        endpoint_url=proxy.url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    with pytest.raises(inspector.exceptions.ValidationException):
        inspector.list_coverage(maxResults=201)
    unknown = {"vulnerabilityId": [{"comparison": "EQUALS", "value": "CVE-9999-9999"}]}
    with pytest.raises(inspector.exceptions.ValidationException):
        inspector.list_findings(filterCriteria=unknown)
    pages = inspector.get_paginator("list_findings").paginate(PaginationConfig={"PageSize": 100})
    assert [len(page["findings"]) for page in pages] == [25, 5]


@pytest.mark.parametrize(
    ("code", "reason", "status"),
    [
        ("ACTIVE", "SUCCESSFUL", "ACTIVE"),
        ("INACTIVE", "SUCCESSFUL", "COMPLETE"),
        ("ACTIVE", "PENDING_INITIAL_SCAN", "PENDING"),
        ("ACTIVE", "SCAN_IN_PROGRESS", "PENDING"),
        ("INACTIVE", "SCAN_ELIGIBILITY_EXPIRED", "SCAN_ELIGIBILITY_EXPIRED"),
        ("INACTIVE", "SCAN_FREQUENCY_SCAN_ON_PUSH", "COMPLETE"),
        ("INACTIVE", "SCAN_FREQUENCY_MANUAL", None),
        ("INACTIVE", "UNSUPPORTED_OS", "UNSUPPORTED_IMAGE"),
        ("INACTIVE", "UNSUPPORTED_MEDIA_TYPE", "UNSUPPORTED_IMAGE"),
        ("INACTIVE", "IMAGE_ARCHIVED", "IMAGE_ARCHIVED"),
        ("INACTIVE", "ACCESS_DENIED", "FAILED"),
        ("INACTIVE", "INTERNAL_ERROR", "FINDINGS_UNAVAILABLE"),
        ("INACTIVE", "RESOURCE_TERMINATED", "FINDINGS_UNAVAILABLE"),
        ("INACTIVE", "EXCLUDED_BY_TAG", "EXCLUDED_BY_TAG"),
        ("INACTIVE", "SOMETHING_NEW", "SOMETHING_NEW"),
        (None, None, None),
    ],
)
def test_inspector_status_as_ecr_scan_status(
    code: str | None, reason: str | None, status: str | None
) -> None:
    """Each Inspector status maps to ECR's ScanStatus as documented; unknown reasons pass."""
    assert ecr_scan_status(code, reason) == status


def test_counts_only_where_the_status_has_findings() -> None:
    """image_scan gives a summary for ACTIVE and COMPLETE only, {} when no finding counted."""
    active = Coverage(status_code="ACTIVE", reason="SUCCESSFUL")
    expired = Coverage(status_code="INACTIVE", reason="SCAN_ELIGIBILITY_EXPIRED")
    status, summary = image_scan(active, None)
    assert status is not None
    assert status.status == "ACTIVE"
    assert status.description == "Amazon Inspector ACTIVE: SUCCESSFUL"
    assert summary is not None
    assert summary.finding_severity_counts == {}
    status, summary = image_scan(expired, {"HIGH": 1})
    assert status is not None
    assert status.status == "SCAN_ELIGIBILITY_EXPIRED"
    assert summary is None
    assert image_scan(None, {"HIGH": 1}) == (None, None)
