"""Amazon Inspector's bulk calls for the scenario's ENHANCED regions: ListCoverage,
ListFindingAggregations (aggregationType AWS_ECR_CONTAINER) and ListFindings, each the same
truth as DescribeImageScanFindings (bench/simulator/findings.py) for every image at once.
Another region's images are not covered (Inspector scans a basic registry's images not at all).

- Coverage: an image DISF would answer is covered, the status it would give as Inspector's
  (statusCode, reason) (REASONS: ACTIVE is ACTIVE/SUCCESSFUL, PENDING ACTIVE/
  PENDING_INITIAL_SCAN, FINDINGS_UNAVAILABLE INACTIVE/INTERNAL_ERROR, UNSUPPORTED_IMAGE
  INACTIVE/UNSUPPORTED_OS (UNSUPPORTED_MEDIA_TYPE for an index), IMAGE_ARCHIVED
  INACTIVE/IMAGE_ARCHIVED); an image drawn never scanned (ScanNotFoundException) is not.
  lastScannedAt is DISF's imageScanCompletedAt, imagePulledAt the image's
  lastRecordedPullTime; a quarter of the runnable, unarchived images run in ECS or EKS
  (inUseCount 1..8, lastInUseAt since the push), drawn from a hash of their own.
- Aggregations: one per image with findings; severityCounts in Inspector's names (ECR's
  UNDEFINED is `untriaged`), `all` their sum.
- Findings: DISF's enhancedFindings in Inspector's Finding shape (inspectorScore,
  inspectorScoreDetails.adjustedCvss, remediation, resources with region and partition),
  image by image in listing order.

Paging as the inspector2 model says: maxResults 1..200 (ListCoverage) or 1..100 (else
ValidationException), the maximum when absent, at most 25 findings an answer (FindingList
"max": 25), the scenario's page_cap on top; nextTokens bound to the operation, account, region
and filters. Filters: resourceType, accountId / awsAccountId / accountIds and findingStatus
(EQUALS, NOT_EQUALS, PREFIX); another filter is a ValidationException, never ignored. Nothing
is stored: every page is generated from the hash, from where its token says.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from bench.simulator.findings import ImageRef, ScanResult, findings_page, scan_result
from bench.simulator.paging import Pager
from bench.simulator.registry import EPOCH_NOW, ImageMeta, Registry, Repository
from bench.simulator.wire import ApiError

IMAGE = "AWS_ECR_CONTAINER_IMAGE"
MAX_RESULTS = {"ListCoverage": 200, "ListFindings": 100, "ListFindingAggregations": 100}
MAX_ITEMS = {"ListFindings": 25}
REASONS = {
    "ACTIVE": ("ACTIVE", "SUCCESSFUL"),
    "PENDING": ("ACTIVE", "PENDING_INITIAL_SCAN"),
    "FINDINGS_UNAVAILABLE": ("INACTIVE", "INTERNAL_ERROR"),
    "UNSUPPORTED_IMAGE": ("INACTIVE", "UNSUPPORTED_OS"),
    "IMAGE_ARCHIVED": ("INACTIVE", "IMAGE_ARCHIVED"),
}
SEVERITY_KEYS = {
    "CRITICAL": "critical",
    "HIGH": "high",
    "MEDIUM": "medium",
    "LOW": "low",
    "INFORMATIONAL": "informational",
    "UNDEFINED": "untriaged",
}
REMEDIATION = {"recommendation": {"text": "Upgrade the package to the fixed in version."}}
# Findings of one image fit in 6 bits of a cursor (at most 36, findings.draw_counts_of).
FINDING_BITS = 6

Result = tuple[dict[str, Any], int]


class Inspector:
    """The three operations over one simulator's registry."""

    def __init__(self, registry: Registry, pager: Pager) -> None:
        self.registry = registry
        self.pager = pager
        self.operations: dict[str, Callable[[str, str, dict[str, Any]], Result]] = {
            "ListCoverage": self.list_coverage,
            "ListFindings": self.list_findings,
            "ListFindingAggregations": self.list_finding_aggregations,
        }

    def call(self, operation: str, account: str, region: str, payload: dict[str, Any]) -> Result:
        handler = self.operations.get(operation)
        if handler is None:
            raise ApiError("UnknownOperationException", f"Unknown operation {operation}")
        return handler(account, region, payload)

    def list_coverage(self, account: str, region: str, payload: dict[str, Any]) -> Result:
        criteria = payload.get("filterCriteria") or {}
        wanted = _matches(criteria, {"resourceType": IMAGE, "accountId": account})
        items: list[dict[str, Any]] = []

        def add(repo: Repository, meta: ImageMeta) -> bool:
            found = coverage(self.registry, repo, meta)
            if found is not None:
                items.append(found)
            return found is not None

        answer = self._page("ListCoverage", account, region, payload, wanted, add)
        return {"coveredResources": items, **answer}, len(items)

    def list_finding_aggregations(
        self, account: str, region: str, payload: dict[str, Any]
    ) -> Result:
        kind = payload.get("aggregationType")
        if kind != "AWS_ECR_CONTAINER":
            raise ApiError("ValidationException", f"the simulator has no aggregation {kind}")
        inner = (payload.get("aggregationRequest") or {}).get("awsEcrContainerAggregation")
        _matches(inner or {}, {})  # sorting only; a filter of images is not modelled
        accounts = {"accountIds": payload["accountIds"]} if "accountIds" in payload else {}
        wanted = _matches(accounts, {"accountIds": account})
        items: list[dict[str, Any]] = []

        def add(repo: Repository, meta: ImageMeta) -> bool:
            found = aggregation(self.registry, repo, meta)
            if found is not None:
                items.append({"awsEcrContainerAggregation": found})
            return found is not None

        answer = self._page("ListFindingAggregations", account, region, payload, wanted, add)
        return {"aggregationType": kind, "responses": items, **answer}, len(items)

    def list_findings(self, account: str, region: str, payload: dict[str, Any]) -> Result:
        criteria = payload.get("filterCriteria") or {}
        values = {"resourceType": IMAGE, "awsAccountId": account, "findingStatus": "ACTIVE"}
        wanted = _matches(criteria, values)
        size = self._size("ListFindings", payload)
        scope = _scope("ListFindings", account, region, payload)
        # The cursor: (repository, image << FINDING_BITS | the image's next finding).
        position, packed = self._cursor(scope, payload)
        start, skip = packed >> FINDING_BITS, packed & ((1 << FINDING_BITS) - 1)
        items: list[dict[str, Any]] = []
        cursor = None
        walk = self._walk(account, region, position, start) if wanted else iter(())
        for repo, meta in walk:
            first = skip if (repo.position, meta.index) == (position, start) else 0
            found, total = self._findings(repo, meta, first, first + size - len(items))
            items += found
            if len(items) < size:
                continue
            if first + len(found) < total:
                cursor = repo.position, meta.index << FINDING_BITS | first + len(found)
            elif after := self._after(region, repo, meta):
                cursor = after[0], after[1] << FINDING_BITS
            break
        answer: dict[str, Any] = {"findings": items}
        if cursor is not None:
            answer["nextToken"] = self.pager.token(scope, cursor)
        return answer, len(items)

    # -- walking the registry -----------------------------------------------------------------

    def _page(
        self,
        operation: str,
        account: str,
        region: str,
        payload: dict[str, Any],
        wanted: bool,
        add: Callable[[Repository, ImageMeta], bool],
    ) -> dict[str, Any]:
        """Images from the token's cursor, until `add` has taken a page of them."""
        size = self._size(operation, payload)
        scope = _scope(operation, account, region, payload)
        position, start = self._cursor(scope, payload)
        taken = 0
        walk = self._walk(account, region, position, start) if wanted else iter(())
        for repo, meta in walk:
            taken += add(repo, meta)
            if taken == size:
                after = self._after(region, repo, meta)
                return {} if after is None else {"nextToken": self.pager.token(scope, after)}
        return {}

    def _walk(
        self, account: str, region: str, position: int, start: int
    ) -> Iterator[tuple[Repository, ImageMeta]]:
        """The images of an ENHANCED account-region from (repository position, image index)."""
        if self.registry.scenario.scan_mode(region) != "ENHANCED":
            return
        for repo in self.registry.repositories(account, region)[position:]:
            first = start if repo.position == position else 0
            for i in range(first, repo.image_count):
                yield repo, self.registry.meta(repo, i)

    def _after(self, region: str, repo: Repository, meta: ImageMeta) -> tuple[int, int] | None:
        """The cursor of the image after `meta`; None at the end of the region."""
        if meta.index + 1 < repo.image_count:
            return repo.position, meta.index + 1
        following = self.registry.repositories(repo.account, region)[repo.position + 1 :]
        return None if not following else (repo.position + 1, 0)

    def _cursor(self, scope: str, payload: dict[str, Any]) -> tuple[int, int]:
        try:
            return self.pager.cursor(scope, payload)
        except ApiError as error:  # Inspector validates its parameters as ValidationException
            raise ApiError("ValidationException", error.message) from None

    def _size(self, operation: str, payload: dict[str, Any]) -> int:
        most = MAX_RESULTS[operation]
        size = payload.get("maxResults", most)
        if type(size) is not int or not 1 <= size <= most:
            raise ApiError(
                "ValidationException",
                f"1 validation error detected: Value '{size}' at 'maxResults' failed to "
                f"satisfy constraint: Member must have value less than or equal to {most}",
            )
        return self.pager.cap(min(size, MAX_ITEMS.get(operation, most)))

    def _findings(
        self, repo: Repository, meta: ImageMeta, start: int, stop: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Findings start..stop-1 of the image, and how many it has."""
        result = _result(self.registry, repo, meta)
        if result is None or not result.counts or result.completed_at is None:
            return [], 0
        total = sum(result.counts.values())
        digest = self.registry.digest(repo, meta)
        image = ImageRef(
            repo.key, meta.index, repo.account, repo.region, repo.name, digest,
            result.completed_at, EPOCH_NOW,
        )  # fmt: skip
        running = in_use(self.registry, repo, meta)
        pushed = self.registry.pushed_at(repo, meta)
        page = findings_page(image, result.counts, start, min(stop, total), enhanced=True)
        return [inspector_finding(f, repo.region, pushed, running) for f in page], total


def _result(registry: Registry, repo: Repository, meta: ImageMeta) -> ScanResult | None:
    """What DescribeImageScanFindings answers for the image in an ENHANCED region."""
    draw = registry.scan_draw(repo, meta)
    return scan_result("ENHANCED", index=meta.no_scan, archived=meta.archived, draw=draw)


def in_use(registry: Registry, repo: Repository, meta: ImageMeta) -> tuple[int, float] | None:
    """(inUseCount, lastInUseAt since its push) of a runnable, unarchived image that runs in
    ECS or EKS: a quarter of them."""
    if meta.no_scan or meta.archived:
        return None
    data = repo.key + b"U" + meta.index.to_bytes(5, "big")
    bits = int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")
    if bits % 4:
        return None
    pushed = registry.pushed_at(repo, meta)
    return 1 + (bits >> 2) % 8, round(pushed + (bits >> 5) % 1000 / 1000 * (EPOCH_NOW - pushed), 3)


def coverage(registry: Registry, repo: Repository, meta: ImageMeta) -> dict[str, Any] | None:
    """The image's CoveredResource (None: not covered, as DISF's ScanNotFoundException)."""
    result = _result(registry, repo, meta)
    if result is None:
        return None
    code, reason = REASONS[result.status]
    if meta.no_scan and not meta.archived:
        reason = "UNSUPPORTED_MEDIA_TYPE"
    image: dict[str, Any] = {"tags": list(meta.tags)}
    pulled = registry.pulled_at(repo, meta)
    if pulled is not None:
        image["imagePulledAt"] = pulled
    running = in_use(registry, repo, meta)
    if running is not None:
        image["inUseCount"], image["lastInUseAt"] = running
    item: dict[str, Any] = {
        "resourceType": IMAGE,
        "resourceId": f"{repo.arn}/{registry.digest(repo, meta)}",
        "accountId": repo.account,
        "scanType": "PACKAGE",
        "scanStatus": {"statusCode": code, "reason": reason},
        "resourceMetadata": {
            "ecrRepository": {"name": repo.name, "scanFrequency": "CONTINUOUS_SCAN"},
            "ecrImage": image,
        },
    }
    if result.completed_at is not None:
        item["lastScannedAt"] = result.completed_at
    return item


def aggregation(registry: Registry, repo: Repository, meta: ImageMeta) -> dict[str, Any] | None:
    """The image's AwsEcrContainerAggregationResponse (None: it has no findings)."""
    result = _result(registry, repo, meta)
    if result is None or not result.counts:
        return None
    digest = registry.digest(repo, meta)
    counts = {key: result.counts.get(severity, 0) for severity, key in SEVERITY_KEYS.items()}
    answer: dict[str, Any] = {
        "resourceId": f"{repo.arn}/{digest}",
        "imageSha": digest,
        "repository": repo.name,
        "imageTags": list(meta.tags),
        "accountId": repo.account,
        "severityCounts": {"all": sum(result.counts.values()), **counts},
    }
    running = in_use(registry, repo, meta)
    if running is not None:
        answer["inUseCount"], answer["lastInUseAt"] = running
    return answer


def inspector_finding(
    enhanced: dict[str, Any], region: str, pushed: float, running: tuple[int, float] | None
) -> dict[str, Any]:
    """DISF's EnhancedImageScanFinding as Inspector's Finding: `score` is its inspectorScore,
    `scoreDetails.cvss` its inspectorScoreDetails.adjustedCvss."""
    finding = {k: v for k, v in enhanced.items() if k not in ("score", "scoreDetails")}
    if "score" in enhanced:
        cvss = enhanced["scoreDetails"]["cvss"]
        finding["inspectorScore"] = enhanced["score"]
        finding["inspectorScoreDetails"] = {"adjustedCvss": cvss}
    finding["remediation"] = REMEDIATION
    resource = dict(enhanced["resources"][0], partition="aws", region=region)
    details = dict(resource["details"]["awsEcrContainerImage"], pushedAt=pushed)
    if running is not None:
        details["inUseCount"], details["lastInUseAt"] = running
    resource["details"] = {"awsEcrContainerImage": details}
    finding["resources"] = [resource]
    return finding


def _scope(operation: str, account: str, region: str, payload: Mapping[str, Any]) -> str:
    filters = {k: v for k, v in payload.items() if k not in ("maxResults", "nextToken")}
    return f"{operation}|{account}|{region}|{json.dumps(filters, sort_keys=True)}"


def _matches(criteria: Mapping[str, Any], values: Mapping[str, str]) -> bool:
    """Whether StringFilters match `values` (per field: any EQUALS or PREFIX matches, no
    NOT_EQUALS does); sorting is accepted, a filter of another field is a ValidationException."""
    for name, filters in criteria.items():
        if name in ("sortBy", "sortOrder"):
            continue
        if name not in values:
            raise ApiError("ValidationException", f"the simulator does not filter on {name}")
        value = values[name]
        positive = [f for f in filters if f.get("comparison") in ("EQUALS", "PREFIX")]
        if positive and not any(
            value == f["value"] if f["comparison"] == "EQUALS" else value.startswith(f["value"])
            for f in positive
        ):
            return False
        if any(f["value"] == value for f in filters if f.get("comparison") == "NOT_EQUALS"):
            return False
    return True
