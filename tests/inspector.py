"""Amazon Inspector (inspector2) on the test proxy (tests/awsproxy.py), which moto does not
model: ListCoverage, ListFindingAggregations and ListFindings for the regions scanned ENHANCED,
from the truth of tests/scanning.py's ENHANCED mode. `model_inspector` installs both models.

- Every image of an enhanced region is covered: a runnable image is ACTIVE/SUCCESSFUL
  (continuous scanning), any other UNSUPPORTED_MEDIA_TYPE, as DescribeImageScanFindings says
  ACTIVE or UNSUPPORTED_IMAGE for it; a forced status (`statuses`) is the Inspector reason that
  stands for it (REASONS). Each repository is covered too (AWS_ECR_REPOSITORY), so a client
  that does not filter by resource type sees more than images.
- An ACTIVE image's findings are its enhancedFindings of DescribeImageScanFindings in
  Inspector's Finding shape (inspectorScore, inspectorScoreDetails.adjustedCvss, remediation,
  resources[] with region and partition); its severity counts are theirs.
- `in_use` (digest -> (inUseCount, lastInUseAt)) says which images run in ECS or EKS; by
  default every other ACTIVE image does.

Inspector's view is a snapshot of moto's registry taken when the model is installed. Paging
follows the inspector2 model: maxResults 1..200 (ListCoverage), 1..100 (the others; else
ValidationException), at most 25 findings an answer (FindingList "max": 25), nextTokens bound
to the listing, and the proxy's page_cap on top. A filter the model does not know is a
ValidationException rather than silently ignored.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import operator
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from awsproxy import AwsProxy
from awswire import AwsError, Page
from conftest import ecr_client
from scanfindings import WITH_FINDINGS, findings, runnable
from scanning import Mode, model_scanning

IMAGE, REPOSITORY = "AWS_ECR_CONTAINER_IMAGE", "AWS_ECR_REPOSITORY"
# ListCoverageMaxResults, ListFindingsMaxResults, ListFindingAggregationsMaxResults.
MAX_RESULTS = {"ListCoverage": 200, "ListFindings": 100, "ListFindingAggregations": 100}
# StringFilter comparisons other than NOT_EQUALS: (the field's value, the filter's) -> match.
COMPARISONS: dict[str, Callable[[str, str], bool]] = {
    "EQUALS": operator.eq,
    "PREFIX": str.startswith,
}
# FindingList: "max": 25, whatever maxResults says.
MAX_ITEMS = {"ListFindings": 25}
# ECR's ScanStatus (the scanning model's) -> the (statusCode, reason) Inspector gives for it.
REASONS = {
    "ACTIVE": ("ACTIVE", "SUCCESSFUL"),
    "PENDING": ("ACTIVE", "PENDING_INITIAL_SCAN"),
    "COMPLETE": ("INACTIVE", "SCAN_FREQUENCY_SCAN_ON_PUSH"),
    "FAILED": ("INACTIVE", "ACCESS_DENIED"),
    "UNSUPPORTED_IMAGE": ("INACTIVE", "UNSUPPORTED_MEDIA_TYPE"),
    "FINDINGS_UNAVAILABLE": ("INACTIVE", "INTERNAL_ERROR"),
    "SCAN_ELIGIBILITY_EXPIRED": ("INACTIVE", "SCAN_ELIGIBILITY_EXPIRED"),
    "IMAGE_ARCHIVED": ("INACTIVE", "IMAGE_ARCHIVED"),
}
SEVERITY_KEYS = {
    "CRITICAL": "critical",
    "HIGH": "high",
    "MEDIUM": "medium",
    "LOW": "low",
    "INFORMATIONAL": "informational",
    "UNDEFINED": "untriaged",
    "UNTRIAGED": "untriaged",
}
REMEDIATION = {"recommendation": {"text": "Upgrade the package to the fixed in version."}}


@dataclasses.dataclass(frozen=True)
class Covered:
    """One image as the model's Inspector knows it."""

    account: str
    region: str
    repository: str
    digest: str
    tags: list[str]
    status: str  # ECR's ScanStatus that the coverage stands for
    pushed_at: float
    last_scanned_at: float | None
    pulled_at: float | None
    in_use_count: int | None
    last_in_use_at: float | None
    counts: dict[str, int]  # ECR's findingSeverityCounts; {} without findings
    findings: list[dict[str, Any]]  # in Inspector's Finding shape

    @property
    def arn(self) -> str:
        return f"arn:aws:ecr:{self.region}:{self.account}:repository/{self.repository}"


class InspectorModel:
    """The three operations' answers over a snapshot of the enhanced regions."""

    def __init__(self, proxy: AwsProxy, images: dict[str, list[Covered]]) -> None:
        self.proxy = proxy
        self.images = images  # region -> covered images in listing order

    def covered(self, region: str) -> dict[tuple[str, str], Covered]:
        return {(i.repository, i.digest): i for i in self.images.get(region, [])}

    def list_coverage(self, region: str, request: dict[str, Any]) -> dict[str, Any]:
        criteria = request.get("filterCriteria") or {}
        items = []
        repositories: dict[str, Covered] = {}
        for image in self.images.get(region, []):
            repositories.setdefault(image.repository, image)
            values = {"resourceType": IMAGE, "accountId": image.account}
            if _matches(criteria, values, "ListCoverage"):
                items.append(_coverage(image))
        for image in repositories.values():
            values = {"resourceType": REPOSITORY, "accountId": image.account}
            if _matches(criteria, values, "ListCoverage"):
                items.append(_repository_coverage(image))
        return self._page("ListCoverage", region, request, "coveredResources", items)

    def list_findings(self, region: str, request: dict[str, Any]) -> dict[str, Any]:
        criteria = request.get("filterCriteria") or {}
        items = [
            finding
            for image in self.images.get(region, [])
            for finding in image.findings
            if _matches(
                criteria,
                {"resourceType": IMAGE, "awsAccountId": image.account, "findingStatus": "ACTIVE"},
                "ListFindings",
            )
        ]
        return self._page("ListFindings", region, request, "findings", items)

    def list_finding_aggregations(self, region: str, request: dict[str, Any]) -> dict[str, Any]:
        kind = request.get("aggregationType")
        if kind != "AWS_ECR_CONTAINER":
            raise AwsError("ValidationException", f"the test model has no aggregation {kind}")
        inner = (request.get("aggregationRequest") or {}).get("awsEcrContainerAggregation") or {}
        _matches(inner, {}, "ListFindingAggregations")  # no filter of images is modelled
        accounts = {"accountIds": request["accountIds"]} if "accountIds" in request else {}
        items = [
            {"awsEcrContainerAggregation": _aggregation(image)}
            for image in self.images.get(region, [])
            if image.findings and _matches(accounts, {"accountIds": image.account}, kind)
        ]
        answer = self._page("ListFindingAggregations", region, request, "responses", items)
        return {"aggregationType": kind, **answer}

    def _page(
        self, operation: str, region: str, request: dict[str, Any], field: str, items: list[Any]
    ) -> dict[str, Any]:
        most = MAX_RESULTS[operation]
        size = request.get("maxResults")
        if size is not None and not (type(size) is int and 1 <= size <= most):
            raise AwsError(
                "ValidationException",
                f"1 validation error detected: Value '{size}' at 'maxResults' failed to "
                f"satisfy constraint: Member must have value less than or equal to {most}",
            )
        page = Page.asked(operation, region, request, (field,), self.proxy.page_cap)
        page = dataclasses.replace(page, size=min(page.size, MAX_ITEMS.get(operation, most)))
        answer = {field: items}
        page.cut(answer)
        return answer


def model_inspector(
    proxy: AwsProxy,
    modes: dict[str, Mode],
    *,
    statuses: dict[str, str] | None = None,
    in_use: Mapping[str, tuple[int, float]] | None = None,
) -> InspectorModel:
    """Install the scanning modes (tests/scanning.py) and Inspector's operations for the
    ENHANCED regions among them; returns the model, whose `images` are the truth."""
    statuses = statuses or {}
    unknown = set(statuses.values()) - set(REASONS)
    if unknown:
        raise ValueError(f"Inspector has no status standing for {sorted(unknown)}")
    model_scanning(proxy, modes, statuses=statuses)
    images = {
        region: _snapshot(proxy.upstream, region, statuses, in_use)
        for region, mode in modes.items()
        if mode == "ENHANCED"
    }
    model = InspectorModel(proxy, images)
    proxy.responses["ListCoverage"] = model.list_coverage
    proxy.responses["ListFindings"] = model.list_findings
    proxy.responses["ListFindingAggregations"] = model.list_finding_aggregations
    return model


def _snapshot(
    url: str,
    region: str,
    statuses: Mapping[str, str],
    in_use: Mapping[str, tuple[int, float]] | None,
) -> list[Covered]:
    """Every image of `region` as the scanning model's ENHANCED mode has it (its `scan`)."""
    ecr = ecr_client(url, region)
    covered: list[Covered] = []
    for repository in ecr.describe_repositories()["repositories"]:
        name = repository["repositoryName"]
        details = ecr.describe_images(repositoryName=name, filter={"tagStatus": "ANY"})
        for detail in map(_epochs, details["imageDetails"]):
            digest = detail["imageDigest"]
            status = statuses.get(digest)
            if status is None:
                status = "ACTIVE" if _runnable(ecr, name, digest) else "UNSUPPORTED_IMAGE"
            scanned: dict[str, Any] = {}
            if status in WITH_FINDINGS:
                scanned = findings(True, detail, _moto_scan(ecr, name, digest), region)
            running = (in_use or {}).get(digest)
            if in_use is None and status == "ACTIVE":
                active = sum(c.status == "ACTIVE" for c in covered)
                if active % 2 == 0:
                    running = (1 + active % 3, detail["imagePushedAt"] + 3600.0 * (1 + active))
            covered.append(_covered(region, detail, status, scanned, running))
    return covered


def _covered(
    region: str,
    detail: dict[str, Any],
    status: str,
    scanned: dict[str, Any],
    running: tuple[int, float] | None,
) -> Covered:
    image = Covered(
        account=detail["registryId"],
        region=region,
        repository=detail["repositoryName"],
        digest=detail["imageDigest"],
        tags=detail.get("imageTags", []),
        status=status,
        pushed_at=detail["imagePushedAt"],
        last_scanned_at=scanned.get("imageScanCompletedAt"),
        pulled_at=detail.get("lastRecordedPullTime"),
        in_use_count=running[0] if running else None,
        last_in_use_at=running[1] if running else None,
        counts=scanned.get("findingSeverityCounts", {}),
        findings=[],
    )
    image.findings.extend(_finding(f, image) for f in scanned.get("enhancedFindings", []))
    return image


def _finding(enhanced: dict[str, Any], image: Covered) -> dict[str, Any]:
    """An EnhancedImageScanFinding (ECR's) as Inspector's Finding: `score` is Inspector's
    inspectorScore, `scoreDetails.cvss` its inspectorScoreDetails.adjustedCvss."""
    finding = {
        k: copy.deepcopy(v) for k, v in enhanced.items() if k not in ("score", "scoreDetails")
    }
    cvss = enhanced["scoreDetails"]["cvss"]
    finding["inspectorScore"] = enhanced["score"]
    finding["inspectorScoreDetails"] = {
        "adjustedCvss": {
            "scoreSource": "NVD",
            "version": cvss["version"],
            "score": cvss["score"],
            "scoringVector": cvss["scoringVector"],
        }
    }
    finding["remediation"] = REMEDIATION
    for resource in finding["resources"]:
        resource.update(partition="aws", region=image.region)
        details = resource["details"]["awsEcrContainerImage"]
        details["pushedAt"] = image.pushed_at
        details.update(_in_use(image))
    return finding


def _in_use(image: Covered) -> dict[str, Any]:
    if image.in_use_count is None:
        return {}
    return {"inUseCount": image.in_use_count, "lastInUseAt": image.last_in_use_at}


def _coverage(image: Covered) -> dict[str, Any]:
    code, reason = REASONS[image.status]
    metadata: dict[str, Any] = {"tags": image.tags, **_in_use(image)}
    if image.pulled_at is not None:
        metadata["imagePulledAt"] = image.pulled_at
    item: dict[str, Any] = {
        "resourceType": IMAGE,
        "resourceId": f"{image.arn}/{image.digest}",
        "accountId": image.account,
        "scanType": "PACKAGE",
        "scanStatus": {"statusCode": code, "reason": reason},
        "resourceMetadata": {
            "ecrRepository": {"name": image.repository, "scanFrequency": "CONTINUOUS_SCAN"},
            "ecrImage": metadata,
        },
    }
    if image.last_scanned_at is not None:
        item["lastScannedAt"] = image.last_scanned_at
    return item


def _repository_coverage(image: Covered) -> dict[str, Any]:
    return {
        "resourceType": REPOSITORY,
        "resourceId": image.arn,
        "accountId": image.account,
        "scanType": "PACKAGE",
        "scanStatus": {"statusCode": "ACTIVE", "reason": "SUCCESSFUL"},
        "resourceMetadata": {
            "ecrRepository": {"name": image.repository, "scanFrequency": "CONTINUOUS_SCAN"}
        },
    }


def _aggregation(image: Covered) -> dict[str, Any]:
    counts = dict.fromkeys(sorted(set(SEVERITY_KEYS.values())), 0)
    for severity, n in image.counts.items():
        counts[SEVERITY_KEYS[severity]] += n
    return {
        "resourceId": f"{image.arn}/{image.digest}",
        "imageSha": image.digest,
        "repository": image.repository,
        "imageTags": image.tags,
        "accountId": image.account,
        "severityCounts": {"all": sum(image.counts.values()), **counts},
        **_in_use(image),
    }


def _matches(criteria: Mapping[str, Any], values: Mapping[str, str], operation: str) -> bool:
    """Whether StringFilters match `values` (each field: any EQUALS or PREFIX matches, no
    NOT_EQUALS does); sorting is accepted, a filter on another field is a ValidationException."""
    for name, filters in criteria.items():
        if name in ("sortBy", "sortOrder"):
            continue
        if name not in values:
            raise AwsError("ValidationException", f"the test model of {operation} has no {name}")
        value = values[name]
        positive = [f for f in filters if f["comparison"] != "NOT_EQUALS"]
        if positive and not any(COMPARISONS[f["comparison"]](value, f["value"]) for f in positive):
            return False
        if any(f["value"] == value for f in filters if f["comparison"] == "NOT_EQUALS"):
            return False
    return True


def _runnable(ecr: Any, repository: str, digest: str) -> bool:
    images = ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageDigest": digest}])
    found = images.get("images", [])
    return bool(found) and runnable(json.loads(found[0]["imageManifest"]))


def _moto_scan(ecr: Any, repository: str, digest: str) -> dict[str, Any] | None:
    try:
        answer = ecr.describe_image_scan_findings(
            repositoryName=repository, imageId={"imageDigest": digest}
        )
    except ecr.exceptions.ScanNotFoundException:
        return None
    scan: dict[str, Any] = _epochs(answer)
    return scan


def _epochs(value: Any) -> Any:
    """boto3's answer as the wire had it: timestamps as epoch seconds."""
    if isinstance(value, dict):
        return {k: _epochs(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [_epochs(v) for v in value]
    return value.timestamp() if isinstance(value, datetime) else value
