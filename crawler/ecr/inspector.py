"""Enhanced scanning's results in bulk, from Amazon Inspector (inspector2) instead of one
DescribeImageScanFindings per image: every image's coverage (scan status, when it was last
scanned, whether it runs in ECS or EKS), its severity counts, and its active findings, for one
account-region. Permissions: inspector2:ListCoverage, inspector2:ListFindingAggregations,
inspector2:ListFindings.

The calls (botocore's inspector2 model, 2020-06-08; all POST, rest-json, paged by nextToken):

- ListCoverage (/coverage/list): maxResults 1..200. Filtered to resourceType
  AWS_ECR_CONTAINER_IMAGE and the account (a delegated administrator sees its members' too).
  A CoveredResource's resourceId is the image's ARN, `arn:aws:ecr:REGION:ACCOUNT:repository/
  NAME/sha256:...` (the model's ResourceId pattern): the only place the digest is.
  resourceMetadata.ecrImage has inUseCount ("The number of Amazon ECS tasks or Amazon EKS pods
  where the Amazon ECR container image is in use"), lastInUseAt and imagePulledAt.
- ListFindingAggregations (/findings/aggregation/list), aggregationType AWS_ECR_CONTAINER:
  maxResults 1..100, one AwsEcrContainerAggregationResponse per image (repository, imageSha,
  severityCounts), so a page holds the counts of 100 images where a page of ListFindings holds
  at most 100 findings. An image without an entry has no findings. The request has no finding
  status filter: the counts are of the findings Inspector holds active (what its console's
  views count, and what the emulators assume).
- ListFindings (/findings/list): maxResults 1..100, though the model's FindingList allows at
  most 25 items an answer. Filtered to resourceType AWS_ECR_CONTAINER_IMAGE, the account and
  findingStatus ACTIVE (SUPPRESSED and CLOSED findings are not the image's current state).

Severity counts use ECR's FindingSeverity names (findingSeverityCounts of
DescribeImageScanFindings): critical, high, medium, low and informational as they are, and
Inspector's `untriaged` ("the vendor has not assigned a severity yet") as ECR's UNDEFINED ("The
vulnerability was not assigned a priority by the CVE source", ECR User Guide). Zero counts are
left out, as ECR leaves them out.

An image's Inspector status (ScanStatus: statusCode ACTIVE or INACTIVE, and a reason) becomes
the ScanStatus value DescribeImageScanFindings would give (ECR's ImageScanStatus documentation:
ACTIVE "the scan is complete and the findings are available; Amazon ECR keeps the findings up
to date", PENDING "the scan is in progress, and the findings aren't available yet", COMPLETE,
FAILED, UNSUPPORTED_IMAGE "its media type, operating system, or package manager isn't
supported", FINDINGS_UNAVAILABLE "the findings aren't available", SCAN_ELIGIBILITY_EXPIRED,
IMAGE_ARCHIVED), reason by reason (quotes from the inspector2 model's ScanStatus.reason):

- SUCCESSFUL: ACTIVE under statusCode ACTIVE (continuous scanning); COMPLETE under INACTIVE
  (scanned, no longer kept up to date).
- PENDING_INITIAL_SCAN ("identified for scanning, results will be available soon"),
  SCAN_IN_PROGRESS and PENDING_REVIVAL_SCAN (an expired image being taken up again; not in the
  model's list of descriptions): PENDING.
- SCAN_ELIGIBILITY_EXPIRED ("The configured scan duration has lapsed"):
  SCAN_ELIGIBILITY_EXPIRED.
- SCAN_FREQUENCY_SCAN_ON_PUSH ("scanned one time and will not [get] new findings"): COMPLETE.
- SCAN_FREQUENCY_MANUAL ("will not be covered by Amazon Inspector"): no status, as
  DescribeImageScanFindings' ScanNotFoundException gives none.
- Every UNSUPPORTED_* reason (UNSUPPORTED_OS "does not support this OS, architecture, or image
  manifest type", UNSUPPORTED_MEDIA_TYPE, UNSUPPORTED_CONFIG_FILE, ...): UNSUPPORTED_IMAGE.
- IMAGE_ARCHIVED ("archived in Amazon ECR and is no longer available for scanning"):
  IMAGE_ARCHIVED.
- ACCESS_DENIED and ACCESS_DENIED_TO_ENCRYPTION_KEY (Inspector cannot read the image until a
  policy changes): FAILED.
- INTERNAL_ERROR ("will automatically resolve the issue and resume the scanning"),
  RESOURCE_TERMINATED and PENDING_DISABLE (findings "in the process of being cleaned up"):
  FINDINGS_UNAVAILABLE.
- Any other reason (EXCLUDED_BY_TAG, reasons of EC2 or Lambda, reasons newer than this module)
  passes through as Inspector spells it: a record never claims more than AWS said.

The status's description is Inspector's own: "Amazon Inspector ACTIVE: SUCCESSFUL".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

import msgspec

from crawler.aws.call import Caller
from crawler.ecr import utc
from crawler.ecr.findings import enhanced_finding
from crawler.records import ImageScanFindingsSummary, ImageScanStatus, ScanFinding

IMAGE = "AWS_ECR_CONTAINER_IMAGE"
# The largest pages the model allows (ListCoverageMaxResults, ListFindingsMaxResults,
# ListFindingAggregationsMaxResults).
COVERAGE_PAGE = 200
FINDINGS_PAGE = 100
AGGREGATIONS_PAGE = 100
AGGREGATE_SEVERITIES = {
    "critical": "CRITICAL",
    "high": "HIGH",
    "medium": "MEDIUM",
    "low": "LOW",
    "informational": "INFORMATIONAL",
    "untriaged": "UNDEFINED",
}
ECR_STATUSES = {
    "PENDING_INITIAL_SCAN": "PENDING",
    "SCAN_IN_PROGRESS": "PENDING",
    "PENDING_REVIVAL_SCAN": "PENDING",
    "SCAN_ELIGIBILITY_EXPIRED": "SCAN_ELIGIBILITY_EXPIRED",
    "SCAN_FREQUENCY_SCAN_ON_PUSH": "COMPLETE",
    "IMAGE_ARCHIVED": "IMAGE_ARCHIVED",
    "ACCESS_DENIED": "FAILED",
    "ACCESS_DENIED_TO_ENCRYPTION_KEY": "FAILED",
    "INTERNAL_ERROR": "FINDINGS_UNAVAILABLE",
    "RESOURCE_TERMINATED": "FINDINGS_UNAVAILABLE",
    "PENDING_DISABLE": "FINDINGS_UNAVAILABLE",
}
# Statuses whose findings (and counts) are the image's: as DescribeImageScanFindings has them.
WITH_FINDINGS = frozenset({"ACTIVE", "COMPLETE"})

# (repository name, image digest)
ImageKey = tuple[str, str]


class Coverage(msgspec.Struct, frozen=True, kw_only=True):
    """One image as Inspector's ListCoverage reports it."""

    status_code: str | None = None  # ACTIVE or INACTIVE
    reason: str | None = None
    last_scanned_at: datetime | None = None
    # ECS tasks and EKS pods running the image, and when it last ran in one.
    in_use_count: int | None = None
    last_in_use_at: datetime | None = None
    image_pulled_at: datetime | None = None
    scan_frequency: str | None = None  # the repository's: CONTINUOUS_SCAN, SCAN_ON_PUSH, MANUAL

    @property
    def scan_status(self) -> ImageScanStatus | None:
        """The image record's status (the module's table); None: not scanned."""
        status = ecr_scan_status(self.status_code, self.reason)
        if status is None:
            return None
        return ImageScanStatus(
            status=status, description=f"Amazon Inspector {self.status_code}: {self.reason}"
        )


def ecr_scan_status(status_code: str | None, reason: str | None) -> str | None:
    """ECR's ScanStatus for Inspector's (statusCode, reason): the module's table; a reason it
    does not know passes through unchanged."""
    if reason is None or reason == "SCAN_FREQUENCY_MANUAL":
        return None
    if reason == "SUCCESSFUL":
        return "ACTIVE" if status_code == "ACTIVE" else "COMPLETE"
    if reason.startswith("UNSUPPORTED_"):
        return "UNSUPPORTED_IMAGE"
    return ECR_STATUSES.get(reason, reason)


def image_scan(
    coverage: Coverage | None, counts: Mapping[str, int] | None
) -> tuple[ImageScanStatus | None, ImageScanFindingsSummary | None]:
    """An image record's `image_scan_status` and `image_scan_findings_summary` from its
    coverage and severity counts (None: no findings); counts only where the status has
    findings, as DescribeImageScanFindings gives them."""
    status = coverage.scan_status if coverage is not None else None
    if coverage is None or status is None or status.status not in WITH_FINDINGS:
        return status, None
    summary = ImageScanFindingsSummary(
        image_scan_completed_at=coverage.last_scanned_at,
        finding_severity_counts=dict(counts or {}),
    )
    return status, summary


def _equals(value: str) -> list[dict[str, str]]:
    return [{"comparison": "EQUALS", "value": value}]


async def image_coverage(caller: Caller, account_id: str) -> dict[ImageKey, Coverage]:
    """Every ECR image of the account-region Inspector covers, every page followed."""
    criteria = {"resourceType": _equals(IMAGE), "accountId": _equals(account_id)}
    found: dict[ImageKey, Coverage] = {}
    pages = caller.pages(
        "list_coverage", "coveredResources", filterCriteria=criteria, maxResults=COVERAGE_PAGE
    )
    async for item in pages:
        key = image_key(item.get("resourceId", ""))
        if item.get("resourceType") != IMAGE or key is None:
            continue
        metadata = item.get("resourceMetadata") or {}
        image = metadata.get("ecrImage") or {}
        status = item.get("scanStatus") or {}
        found[key] = Coverage(
            status_code=status.get("statusCode"),
            reason=status.get("reason"),
            last_scanned_at=utc(item.get("lastScannedAt")),
            in_use_count=image.get("inUseCount"),
            last_in_use_at=utc(image.get("lastInUseAt")),
            image_pulled_at=utc(image.get("imagePulledAt")),
            scan_frequency=(metadata.get("ecrRepository") or {}).get("scanFrequency"),
        )
    return found


def image_key(arn: str) -> ImageKey | None:
    """(repository, digest) of an image ARN (arn:aws:ecr:REGION:ACCOUNT:repository/NAME/
    sha256:HEX); None for any other resource."""
    _, marker, path = arn.partition(":repository/")
    repository, _, digest = path.rpartition("/")
    if not marker or not repository or not digest.startswith("sha256:"):
        return None
    return repository, digest


async def severity_counts(caller: Caller, account_id: str) -> dict[ImageKey, dict[str, int]]:
    """Each image's count of active findings per severity (ECR's names), for the images that
    have any: ListFindingAggregations by AWS_ECR_CONTAINER, 100 images a page."""
    found: dict[ImageKey, dict[str, int]] = {}
    pages = caller.pages(
        "list_finding_aggregations",
        "responses",
        aggregationType="AWS_ECR_CONTAINER",
        aggregationRequest={"awsEcrContainerAggregation": {}},
        accountIds=_equals(account_id),
        maxResults=AGGREGATIONS_PAGE,
    )
    async for item in pages:
        image = item.get("awsEcrContainerAggregation")
        if image is None:
            continue
        key = image_key(image.get("resourceId", ""))
        if image.get("repository") and image.get("imageSha"):
            key = image["repository"], image["imageSha"]
        if key is None:
            continue
        severities = image.get("severityCounts") or {}
        found[key] = {
            ours: int(severities[theirs])
            for theirs, ours in AGGREGATE_SEVERITIES.items()
            if severities.get(theirs)
        }
    return found


async def list_findings(
    caller: Caller,
    account_id: str,
    *,
    scan_id: str,
    region: str,
    coverage: Mapping[ImageKey, Coverage] | None = None,
) -> AsyncIterator[list[ScanFinding]]:
    """The active findings of the account-region's ECR images as `scan_finding` records
    (scan_type ENHANCED), a page at a time. `coverage` (image_coverage's answer) gives each
    finding its image's last scan time, as DescribeImageScanFindings' imageScanCompletedAt
    does; without it that field is null."""
    criteria = {
        "resourceType": _equals(IMAGE),
        "awsAccountId": _equals(account_id),
        "findingStatus": _equals("ACTIVE"),
    }
    params: dict[str, Any] = {"filterCriteria": criteria, "maxResults": FINDINGS_PAGE}
    scope = {"scan_id": scan_id, "account_id": account_id, "region": region}
    while True:
        page = await caller.call("list_findings", **params)
        records = []
        for finding in page.get("findings", []):
            for resource in finding.get("resources", []):
                image = (resource.get("details") or {}).get("awsEcrContainerImage")
                if resource.get("type") != IMAGE or not image:
                    continue
                scanned = (coverage or {}).get((image["repositoryName"], image["imageHash"]))
                completed = scanned.last_scanned_at if scanned is not None else None
                records.append(finding_record(finding, image, scope, completed))
        if records:
            yield records
        if not page.get("nextToken"):
            return
        params["nextToken"] = page["nextToken"]


def finding_record(
    finding: dict[str, Any],
    image: dict[str, Any],
    scope: dict[str, Any],
    completed: datetime | None,
) -> ScanFinding:
    """One Inspector Finding of one image as the record crawler.ecr.findings makes of the
    same finding in DescribeImageScanFindings (EnhancedImageScanFinding: `score` is Inspector's
    inspectorScore, `scoreDetails.cvss` its inspectorScoreDetails.adjustedCvss)."""
    identity = {
        **scope,
        "registry_id": image.get("registry") or scope["account_id"],
        "repository_name": image["repositoryName"],
        "image_digest": image["imageHash"],
    }
    cvss = (finding.get("inspectorScoreDetails") or {}).get("adjustedCvss") or {}
    return enhanced_finding(
        finding, identity, completed, cvss=cvss, score=finding.get("inspectorScore")
    )
