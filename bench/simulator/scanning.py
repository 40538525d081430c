"""The simulator's scanning operations, each answering in the scanning mode the scenario gives
the caller's region (bench/simulator/findings.py says what each mode reports):
GetAccountSetting, GetRegistryScanningConfiguration, BatchGetRepositoryScanningConfiguration
and DescribeImageScanFindings. `ScanOperations(ecr)` adds them to the ECR operations.
"""

from __future__ import annotations

from typing import Any

from bench.simulator.ecr import Ecr, Result, check_registry, image_not_found
from bench.simulator.findings import ENHANCED_PAGE, ImageRef, findings_page, scan_result
from bench.simulator.registry import EPOCH_NOW, Repository
from bench.simulator.scenario import ScanMode
from bench.simulator.wire import ApiError, invalid_parameter

# BatchGetRepositoryScanningConfigurationRequest.repositoryNames: "min": 1, "max": 25.
MAX_REPOSITORY_NAMES = 25
# GetAccountSettingResponse.value: "Valid values for registry policy scope: V2. Valid values
# for blob mounting: ENABLED or DISABLED."
ACCOUNT_SETTINGS = {"REGISTRY_POLICY_SCOPE": "V2", "BLOB_MOUNTING": "DISABLED"}
EVERY_REPOSITORY = [{"filter": "*", "filterType": "WILDCARD"}]
# The console's default for enhanced scanning: "all of your repositories are continuously
# scanned" (User Guide).
ENHANCED_CONFIGURATION = {
    "scanType": "ENHANCED",
    "rules": [{"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": EVERY_REPOSITORY}],
}
BASIC_CONFIGURATION: dict[str, Any] = {"scanType": "BASIC", "rules": []}


class ScanOperations:
    """The scanning operations over one simulator's registry."""

    def __init__(self, ecr: Ecr) -> None:
        self.ecr = ecr
        self.registry = ecr.registry
        self.pager = ecr.pager
        ecr.operations.update(
            {
                "GetAccountSetting": self.get_account_setting,
                "GetRegistryScanningConfiguration": self.get_registry_scanning_configuration,
                "BatchGetRepositoryScanningConfiguration": self.batch_get_repository_scanning,
                "DescribeImageScanFindings": self.describe_image_scan_findings,
            }
        )

    def mode(self, region: str) -> ScanMode:
        return self.registry.scenario.scan_mode(region)

    def get_account_setting(self, account: str, region: str, payload: dict[str, Any]) -> Result:
        """BASIC_SCAN_TYPE_VERSION: CLAIR, or AWS_NATIVE ("Valid value for basic scan type:
        AWS_NATIVE"), which enhanced registries are on too."""
        name = payload.get("name")
        if name == "BASIC_SCAN_TYPE_VERSION":
            value = "CLAIR" if self.mode(region) == "CLAIR" else "AWS_NATIVE"
        elif isinstance(name, str) and name in ACCOUNT_SETTINGS:
            value = ACCOUNT_SETTINGS[name]
        else:
            raise ApiError("ValidationException", f"Invalid account setting name: {name}")
        return {"name": name, "value": value}, 1

    def get_registry_scanning_configuration(
        self, account: str, region: str, payload: dict[str, Any]
    ) -> Result:
        enhanced = self.mode(region) == "ENHANCED"
        configuration = ENHANCED_CONFIGURATION if enhanced else BASIC_CONFIGURATION
        return {"registryId": account, "scanningConfiguration": configuration}, 0

    def batch_get_repository_scanning(
        self, account: str, region: str, payload: dict[str, Any]
    ) -> Result:
        """Each repository's effective scanning: continuous for every repository of an enhanced
        registry; in a basic one, the repository's own scan-on-push setting (the registry has no
        rules), else MANUAL. Unknown names are failures, not errors."""
        names = payload.get("repositoryNames")
        if not isinstance(names, list) or not 1 <= len(names) <= MAX_REPOSITORY_NAMES:
            raise invalid_parameter(
                "Invalid parameter at 'repositoryNames' failed to satisfy constraint: "
                f"'Member must have length less than or equal to {MAX_REPOSITORY_NAMES}'"
            )
        enhanced = self.mode(region) == "ENHANCED"
        configurations: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []
        for name in names:
            repo = None
            if isinstance(name, str):
                repo = self.registry.repository(account, region, name)
            if repo is None:
                failures.append(
                    {
                        "repositoryName": name,
                        "failureCode": "REPOSITORY_NOT_FOUND",
                        "failureReason": f"The repository with name '{name}' does not exist in "
                        f"the registry with id '{account}'",
                    }
                )
            else:
                configurations.append(_effective(repo, enhanced))
        reply = {"scanningConfigurations": configurations, "failures": failures}
        return reply, len(configurations)

    def describe_image_scan_findings(
        self, account: str, region: str, payload: dict[str, Any]
    ) -> Result:
        """Status, severity counts and a page of findings (maxResults 1..1000, 100 by default;
        at most 100 enhanced findings a page); ScanNotFoundException for an image never
        scanned."""
        check_registry(payload, account, region, "DescribeImageScanFindings")
        size = self.pager.page_size(payload)
        repo = self.ecr.find_repository(account, region, payload.get("repositoryName"))
        image_id = payload.get("imageId")
        if not isinstance(image_id, dict):
            raise invalid_parameter("Invalid parameter at 'imageId': it is required")
        i = self.ecr.resolve(repo, image_id)
        if i is None:
            raise image_not_found(repo, image_id)
        registry, mode = self.registry, self.mode(region)
        meta = registry.meta(repo, i)
        digest = registry.digest(repo, meta)
        scope = f"DescribeImageScanFindings|{account}|{region}|{repo.name}|{digest}"
        start, _ = self.pager.cursor(scope, payload)
        draw = registry.scan_draw(repo, meta)
        result = scan_result(mode, index=meta.no_scan, archived=meta.archived, draw=draw)
        if result is None:
            raise _scan_not_found(repo, image_id)
        answer: dict[str, Any] = {
            "registryId": account,
            "repositoryName": repo.name,
            "imageId": {**image_id, "imageDigest": digest},
            "imageScanStatus": {"status": result.status, "description": result.description},
        }
        if result.counts is None or result.completed_at is None:
            return answer, 0
        enhanced = mode == "ENHANCED"
        total = sum(result.counts.values())
        stop = min(total, start + (min(size, ENHANCED_PAGE) if enhanced else size))
        image = ImageRef(
            repo.key, i, account, region, repo.name, digest, result.completed_at, EPOCH_NOW
        )
        page = findings_page(image, result.counts, start, stop, enhanced=enhanced)
        answer["imageScanFindings"] = {
            "imageScanCompletedAt": result.completed_at,
            "vulnerabilitySourceUpdatedAt": result.updated_at,
            "findingSeverityCounts": result.counts,
            "enhancedFindings" if enhanced else "findings": page,
        }
        if stop < total:
            answer["nextToken"] = self.pager.token(scope, (stop, 0))
        return answer, len(page)


def _effective(repo: Repository, enhanced: bool) -> dict[str, Any]:
    if enhanced:
        # Continuous scanning scans each image on push too.
        frequency, on_push, filters = "CONTINUOUS_SCAN", True, EVERY_REPOSITORY
    else:
        frequency = "SCAN_ON_PUSH" if repo.scan_on_push else "MANUAL"
        on_push, filters = repo.scan_on_push, []
    return {
        "repositoryArn": repo.arn,
        "repositoryName": repo.name,
        "scanOnPush": on_push,
        "scanFrequency": frequency,
        "appliedScanFilters": filters,
    }


def _scan_not_found(repo: Repository, image_id: dict[str, Any]) -> ApiError:
    digest = image_id.get("imageDigest") or "null"
    tag = image_id.get("imageTag") or "null"
    return ApiError(
        "ScanNotFoundException",
        f"Image scan does not exist for the image with '{{imageDigest:'{digest}', "
        f"imageTag:'{tag}'}}' in the repository with name '{repo.name}' in the registry with "
        f"id '{repo.account}'",
    )
