"""How each registry scans and what each image's scan found: the registry's scan type
(GetRegistryScanningConfiguration), its basic scanning version (GetAccountSetting), each
repository's effective scanning (BatchGetRepositoryScanningConfiguration, 25 names a call), and
the result of one image (DescribeImageScanFindings) where DescribeImages has none.

DescribeImages' own documentation (botocore's ECR model): "The new version of Amazon ECR Basic
Scanning doesn't use the ImageDetail$imageScanFindingsSummary and ImageDetail$imageScanStatus
attributes from the API response to return scan results. Use the DescribeImageScanFindings API
instead." Enhanced scanning (Amazon Inspector) never filled them (aws/containers-roadmap#1662).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from crawler.artifacts import SCANNABLE_KINDS
from crawler.aws.client import RegionClient
from crawler.ecr import Optional, snake_keys, utc
from crawler.ecr.findings import finding_records
from crawler.errors import NotFoundError
from crawler.media_types import IMAGE_CONFIG_TYPES, INDEX_TYPES
from crawler.records import (
    Image,
    ImageScanFindingsSummary,
    ImageScanStatus,
    Repository,
    RepositoryScanningConfiguration,
    ScanFinding,
    ScanningFilter,
)

# BatchGetRepositoryScanningConfiguration: "ScanningConfigurationRepositoryNameList" max 25.
NAMES_PER_CALL = 25
# The largest page DescribeImageScanFindings allows (MaxResults 1..1000); enhanced scanning
# returns at most 100 findings a page whatever maxResults says.
FINDINGS_PAGE = 1000
# Images that cannot have a result of their own: archived (AWS reports IMAGE_ARCHIVED) or
# being restored.
NOT_SCANNABLE_STATUSES = frozenset({"ARCHIVED", "ACTIVATING"})


class Scanning(msgspec.Struct, frozen=True):
    """How one account-region scans; None where the answer was unreadable."""

    # BASIC or ENHANCED, and the registry's scanning configuration as the record carries it.
    scan_type: str | None
    configuration: dict[str, Any] | None
    # CLAIR or AWS_NATIVE (GetAccountSetting BASIC_SCAN_TYPE_VERSION).
    basic_version: str | None

    @property
    def in_describe_images(self) -> bool:
        """Only Clair-based basic scanning puts every result in DescribeImages: there, an image
        without one was never scanned. Anything else, or unknown, asks DescribeImageScanFindings."""
        return self.scan_type == "BASIC" and self.basic_version == "CLAIR"


UNKNOWN = Scanning(None, None, None)


async def learn_scanning(optional: Optional) -> Scanning:
    reply = await optional.call("get_registry_scanning_configuration")
    configuration = None if reply is None else reply.get("scanningConfiguration", {})
    return Scanning(
        scan_type=(configuration or {}).get("scanType"),
        configuration=None if configuration is None else snake_keys(configuration),
        basic_version=await account_setting(optional, "BASIC_SCAN_TYPE_VERSION"),
    )


async def account_setting(optional: Optional, name: str) -> str | None:
    reply = await optional.call("get_account_setting", name=name)
    return None if reply is None else reply.get("value")


async def with_scanning_configuration(
    optional: Optional, repositories: Sequence[Repository]
) -> list[Repository]:
    """The repositories with their effective scanning configuration, 25 names a call; a
    repository deleted meanwhile (failure REPOSITORY_NOT_FOUND) keeps null."""
    found: dict[str, RepositoryScanningConfiguration] = {}
    names = [r.repository_name for r in repositories]
    for start in range(0, len(names), NAMES_PER_CALL):
        reply = await optional.call(
            "batch_get_repository_scanning_configuration",
            repositoryNames=names[start : start + NAMES_PER_CALL],
        )
        for item in (reply or {}).get("scanningConfigurations", []):
            found[item["repositoryName"]] = _repository_scanning(item)
    return [
        msgspec.structs.replace(r, scanning_configuration=found[r.repository_name])
        if r.repository_name in found
        else r
        for r in repositories
    ]


def _repository_scanning(item: dict[str, Any]) -> RepositoryScanningConfiguration:
    return RepositoryScanningConfiguration(
        scan_on_push=item.get("scanOnPush"),
        scan_frequency=item.get("scanFrequency"),
        applied_scan_filters=[
            ScanningFilter(filter=f.get("filter"), filter_type=f.get("filterType"))
            for f in item.get("appliedScanFilters", [])
        ],
    )


def can_have_result(image: Image) -> bool:
    """Scanners scan runnable images only: a container image (artifact_kind), not an image
    index or manifest list, not an artifact (a signature, SBOM or attestation attached to a
    subject, a Helm chart, an unknown type), not an archived image. A record without a kind
    (written before kinds were) is judged by its media types."""
    if image.image_status in NOT_SCANNABLE_STATUSES:
        return False
    if image.artifact_kind is not None:
        return image.artifact_kind in SCANNABLE_KINDS and not image.subject_digest
    if image.image_manifest_media_type in INDEX_TYPES or image.subject_manifest_digest:
        return False
    return not image.artifact_media_type or image.artifact_media_type in IMAGE_CONFIG_TYPES


class ScanResult(msgspec.Struct, frozen=True):
    """AWS's answer for one image; empty when it has no scan (ScanNotFoundException)."""

    status: ImageScanStatus | None = None
    summary: ImageScanFindingsSummary | None = None
    findings: list[ScanFinding] = msgspec.field(default_factory=list)


async def describe_scan(client: RegionClient, image: Image, *, findings: bool) -> ScanResult:
    """One image's scan status and severity counts from DescribeImageScanFindings: the
    smallest page (one finding) when only the counts are wanted, else every page followed,
    with each finding as a record."""
    params: dict[str, Any] = {
        "registryId": image.registry_id,
        "repositoryName": image.repository_name,
        "imageId": {"imageDigest": image.image_digest},
        "maxResults": FINDINGS_PAGE if findings else 1,
    }
    records: list[ScanFinding] = []
    while True:
        try:
            page = await client.call("describe_image_scan_findings", **params)
        except NotFoundError:  # ScanNotFound: never scanned; or the image was deleted meanwhile
            return ScanResult()
        if findings:
            records += finding_records(page, image)
        if not findings or not page.get("nextToken"):
            break
        params["nextToken"] = page["nextToken"]
    status = page.get("imageScanStatus")
    found = page.get("imageScanFindings")
    return ScanResult(
        status=None
        if status is None
        else ImageScanStatus(status=status.get("status"), description=status.get("description")),
        summary=None
        if found is None
        else ImageScanFindingsSummary(
            image_scan_completed_at=utc(found.get("imageScanCompletedAt")),
            vulnerability_source_updated_at=utc(found.get("vulnerabilitySourceUpdatedAt")),
            finding_severity_counts=found.get("findingSeverityCounts"),
        ),
        findings=records,
    )
