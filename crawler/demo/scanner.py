"""The demo emulator's scanning, as today's ECR reports it: one of three modes per region, chosen
by the region's own settings, as on AWS.

- CLAIR (GetAccountSetting BASIC_SCAN_TYPE_VERSION = CLAIR, scan type BASIC): the legacy
  Clair-based basic scanning, moto's own behaviour. DescribeImages carries each scanned image's
  imageScanStatus and imageScanFindingsSummary.
- AWS_NATIVE (BASIC_SCAN_TYPE_VERSION = AWS_NATIVE, scan type BASIC). DescribeImages'
  documentation (botocore's ECR model): "The new version of Amazon ECR Basic Scanning doesn't
  use the ImageDetail$imageScanFindingsSummary and ImageDetail$imageScanStatus attributes from
  the API response to return scan results. Use the DescribeImageScanFindings API instead."
  DescribeImageScanFindings (DISF) gives COMPLETE and basic findings (ImageScanFinding) for a
  scanned image, ScanNotFoundException for the others.
- ENHANCED (GetRegistryScanningConfiguration scanType ENHANCED, BASIC_SCAN_TYPE_VERSION =
  AWS_NATIVE): Amazon Inspector.
  DescribeImages never had the two fields (aws/containers-roadmap#1662). With continuous
  scanning every runnable image is covered: DISF answers ACTIVE ("Continuous scan is selected
  for image.") with `enhancedFindings` (EnhancedImageScanFinding: "This is returned when
  enhanced scanning is enabled for your private registry"). An image index, or an artifact that
  is not a runnable image (a signature, an attestation), is UNSUPPORTED_IMAGE: Inspector scans
  the packages of image layers, which those do not have.

`SCAN_OUTCOMES` (crawler/demo/data.py) names the images whose scan gave no findings in the last
two modes. Nothing here calls anything; crawler/demo/moto_patches.py serves it.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from crawler.demo.data import SCAN_OUTCOMES, VULNERABILITIES
from crawler.media_types import IMAGE_CONFIG_TYPES

Mode = Literal["CLAIR", "AWS_NATIVE", "ENHANCED"]

# GetAccountSettingResponse.value: "Valid value for basic scan type: AWS_NATIVE. Valid values for
# registry policy scope: V2. Valid values for blob mounting: ENABLED or DISABLED." CLAIR is what
# an account had before it moved, and what moto's scans are: the default here.
SETTINGS: dict[str, tuple[str, frozenset[str]]] = {
    "BASIC_SCAN_TYPE_VERSION": ("CLAIR", frozenset({"CLAIR", "AWS_NATIVE"})),
    "REGISTRY_POLICY_SCOPE": ("V2", frozenset({"V2"})),
    "BLOB_MOUNTING": ("DISABLED", frozenset({"ENABLED", "DISABLED"})),
}
# BatchGetRepositoryScanningConfiguration: ScanningConfigurationRepositoryNameList max 25.
MAX_NAMES = 25
# DISF maxResults: "If this parameter is not used, then DescribeImageScanFindings returns up to
# 100 results"; enhanced scanning pages hold at most 100 findings whatever it says.
DEFAULT_PAGE = ENHANCED_PAGE = 100
WITH_FINDINGS = frozenset({"COMPLETE", "ACTIVE"})
DESCRIPTIONS = {
    "COMPLETE": "The scan was completed successfully.",
    "ACTIVE": "Continuous scan is selected for image.",
    "FAILED": "The scan failed: the image's layers could not be read.",
    "UNSUPPORTED_IMAGE": "UnsupportedImageError: the image is not an image with scannable "
    "operating system or language packages.",
    "SCAN_ELIGIBILITY_EXPIRED": "Continuous scanning of this image ended: its scan "
    "eligibility expired.",
}


@dataclass(frozen=True)
class ScannedImage:
    """What the scanners know of one image."""

    registry_id: str
    region: str
    repository: str
    digest: str
    tags: list[str]
    manifest: dict[str, Any]


def mode(scan_type: str, basic_version: str) -> Mode:
    """A region's mode from its settings. A region still on the CLAIR version scans as moto
    does, even with scan type ENHANCED: on AWS an enhanced registry is on the AWS-native version
    too, and the tests build their own modes on moto's old behaviour (tests/scanning.py), some
    by putting ENHANCED alone."""
    if basic_version != "AWS_NATIVE":
        return "CLAIR"
    return "ENHANCED" if scan_type == "ENHANCED" else "AWS_NATIVE"


def status(scan_mode: Mode, image: ScannedImage, *, scanned: bool) -> str | None:
    """The ScanStatus DISF reports outside CLAIR mode; None for ScanNotFoundException.
    `scanned`: a basic scan ran (StartImageScan)."""
    outcome = SCAN_OUTCOMES.get(image.digest)
    if scan_mode == "ENHANCED":
        return outcome or ("ACTIVE" if runnable(image.manifest) else "UNSUPPORTED_IMAGE")
    if not scanned:
        return None
    return outcome or "COMPLETE"


def runnable(manifest: dict[str, Any]) -> bool:
    """Whether an image is one of its own with filesystem layers: not an index, not a referrer,
    not an artifact such as a signature or a buildx attestation."""
    config = (manifest.get("config") or {}).get("mediaType")
    layers = [layer.get("mediaType", "") for layer in manifest.get("layers", [])]
    return (
        "manifests" not in manifest
        and "subject" not in manifest
        and config in IMAGE_CONFIG_TYPES
        and any(".tar" in media for media in layers)
    )


def scan_findings(
    scan_mode: Mode, image: ScannedImage, scan_status: str, completed: Any, start: int, size: int
) -> dict[str, Any]:
    """DISF's imageScanStatus, imageScanFindings (its page of findings from `start`, `size` at
    most) and nextToken; the severity counts are of every finding."""
    answer: dict[str, Any] = {
        "imageScanStatus": {"status": scan_status, "description": DESCRIPTIONS[scan_status]}
    }
    if scan_status not in WITH_FINDINGS:
        return answer
    found = vulnerabilities(image.digest)
    page = found[start : start + size]
    findings: dict[str, Any] = {
        "imageScanCompletedAt": completed,
        "vulnerabilitySourceUpdatedAt": completed,
        "findingSeverityCounts": dict(Counter(str(v["severity"]) for v in found)),
    }
    if scan_mode == "ENHANCED":
        findings["enhancedFindings"] = [enhanced_finding(v, image, completed) for v in page]
    else:
        findings["findings"] = [basic_finding(v) for v in page]
    answer["imageScanFindings"] = findings
    if start + size < len(found):
        answer["nextToken"] = str(start + size)
    return answer


def vulnerabilities(digest: str) -> list[dict[str, Any]]:
    """One to all of the sample vulnerabilities, chosen by the digest's bits."""
    bits = int(digest.removeprefix("sha256:")[:8], 16)
    chosen = [v for i, v in enumerate(VULNERABILITIES) if bits >> i & 1]
    return chosen or [VULNERABILITIES[bits % len(VULNERABILITIES)]]


def basic_finding(vulnerability: dict[str, Any]) -> dict[str, Any]:
    """ImageScanFinding: basic scanning's shape."""
    name, version, _ = vulnerability["package"]
    return {
        "name": vulnerability["id"],
        "description": f"Sample vulnerability in {name} {version}.",
        "uri": _uri(vulnerability),
        "severity": vulnerability["severity"],
        "attributes": [
            {"key": "package_name", "value": name},
            {"key": "package_version", "value": version},
            {"key": "CVSS3_SCORE", "value": str(vulnerability["score"])},
            {"key": "CVSS3_VECTOR", "value": vulnerability["vector"]},
        ],
    }


def enhanced_finding(
    vulnerability: dict[str, Any], image: ScannedImage, seen: Any
) -> dict[str, Any]:
    """EnhancedImageScanFinding: Amazon Inspector's shape."""
    name, version, fixed = vulnerability["package"]
    account, region, cve = image.registry_id, image.region, vulnerability["id"]
    ident = hashlib.sha256(f"{image.digest}/{cve}/{name}".encode()).hexdigest()[:32]
    return {
        "awsAccountId": account,
        "findingArn": f"arn:aws:inspector2:{region}:{account}:finding/{ident}",
        "description": f"Sample vulnerability in {name} {version}.",
        "severity": vulnerability["severity"],
        "status": "ACTIVE",
        "title": f"{cve} - {name}",
        "type": "PACKAGE_VULNERABILITY",
        "firstObservedAt": seen,
        "lastObservedAt": seen,
        "updatedAt": seen,
        "score": vulnerability["score"],
        "fixAvailable": "YES",
        "exploitAvailable": "NO",
        "packageVulnerabilityDetails": {
            "vulnerabilityId": cve,
            "source": "NVD",
            "sourceUrl": _uri(vulnerability),
            "vulnerablePackages": [
                {"name": name, "version": version, "fixedInVersion": fixed, "packageManager": "OS"}
            ],
        },
        "remediation": {"recommendation": {"text": f"Upgrade {name} to {fixed} or later."}},
        "scoreDetails": {
            "cvss": {
                "score": vulnerability["score"],
                "scoringVector": vulnerability["vector"],
                "version": "3.1",
                "scoreSource": "NVD",
            }
        },
        "resources": [
            {
                "type": "AWS_ECR_CONTAINER_IMAGE",
                "id": f"arn:aws:ecr:{region}:{account}:repository/{image.repository}"
                f"/{image.digest}",
                "details": {
                    "awsEcrContainerImage": {
                        "imageHash": image.digest,
                        "registry": account,
                        "repositoryName": image.repository,
                        "imageTags": image.tags,
                    }
                },
            }
        ],
    }


def effective(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    """A repository's scanning under the registry's rules, as
    BatchGetRepositoryScanningConfiguration reports it: a continuous rule wins over scan on
    push; no matching rule is MANUAL (RegistryScanningRule: "If scan on push is not specified,
    then the MANUAL scan frequency is set by default.")."""
    rank = {"SCAN_ON_PUSH": 1, "CONTINUOUS_SCAN": 2}
    best: tuple[int, str, list[dict[str, Any]]] = (0, "MANUAL", [])
    for rule in rules:
        frequency = rule.get("scanFrequency", "MANUAL")
        matching = [f for f in rule.get("repositoryFilters", []) if matches(f["filter"], name)]
        if matching and rank.get(frequency, 0) > best[0]:
            best = (rank.get(frequency, 0), frequency, matching)
    _, frequency, filters = best
    # Continuous scanning scans each image on push too.
    return {
        "scanOnPush": frequency != "MANUAL",
        "scanFrequency": frequency,
        "appliedScanFilters": filters,
    }


def matches(pattern: str, name: str) -> bool:
    """User Guide, scanning filters: "Filters with no wildcard will match all repository names
    that contain the filter. Filters with wildcards (*) match on a repository name where the
    wildcard replaces zero or more characters in the repository name." """
    if "*" not in pattern:
        return pattern in name
    head, *middle, tail = pattern.split("*")
    if len(name) < len(head + tail) or not (name.startswith(head) and name.endswith(tail)):
        return False
    position, end = len(head), len(name) - len(tail)
    for part in middle:
        found = name.find(part, position, end)
        if found < 0:
            return False
        position = found + len(part)
    return True


def _uri(vulnerability: dict[str, Any]) -> str:
    return f"https://nvd.nist.gov/vuln/detail/{vulnerability['id']}"
