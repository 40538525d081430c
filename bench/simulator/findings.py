"""Scan results of the synthetic registry: each image's scan as its hash draws it, what each
scanning mode reports of that draw, and the findings themselves, generated from the hash a page
at a time (nothing is stored: memory stays flat whatever the registry's size).

The modes (a scenario's `scanning.mode`, optionally per region):

- CLAIR, the Clair-based basic scanning: DescribeImages carries each image's imageScanStatus
  and imageScanFindingsSummary, DescribeImageScanFindings (DISF) the same and the findings.
- AWS_NATIVE, the AWS-native basic scanning: the same results, in DISF only. DescribeImages'
  documentation (botocore's ECR model): "The new version of Amazon ECR Basic Scanning doesn't
  use the ImageDetail$imageScanFindingsSummary and ImageDetail$imageScanStatus attributes from
  the API response to return scan results. Use the DescribeImageScanFindings API instead."
- ENHANCED, Amazon Inspector (continuous scanning): in DISF only, with Inspector's statuses
  (COMPLETE draws are ACTIVE, "Continuous scan is selected for image.") and findings in
  `enhancedFindings`, at most 100 a page.

Whatever the mode: an image index has no scan of its own (ScanNotFoundException in basic modes,
UNSUPPORTED_IMAGE in enhanced, nothing in DescribeImages); an archived image (index or not) is
IMAGE_ARCHIVED.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple

from bench.simulator.scenario import ScanMode

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED")
DESCRIPTIONS = {
    "COMPLETE": "The scan was completed successfully.",
    "ACTIVE": "Continuous scan is selected for image.",
    "FAILED": "UnsupportedImageError: The operating system and/or package manager are not "
    "supported.",
    "FINDINGS_UNAVAILABLE": "Findings are unavailable for this image.",
    "IN_PROGRESS": "The scan is in progress.",
    "PENDING": "The image is waiting to be scanned.",
    "UNSUPPORTED_IMAGE": "The image is not supported for scanning.",
    "IMAGE_ARCHIVED": "The image is archived.",
}
# Inspector's statuses for the same draws (ScanStatus: "ACTIVE", "PENDING", ...).
ENHANCED_STATUSES = {
    "COMPLETE": "ACTIVE",
    "IN_PROGRESS": "PENDING",
    "FAILED": "FINDINGS_UNAVAILABLE",
}
WITH_FINDINGS = frozenset({"COMPLETE", "ACTIVE"})
# Enhanced scanning returns at most 100 findings a page, whatever maxResults says.
ENHANCED_PAGE = 100
PACKAGES = (
    ("openssl", "3.0.2", "3.0.13", "OS"),
    ("glibc", "2.35", "2.35-0ubuntu3.6", "OS"),
    ("zlib", "1.2.11", "1.2.13", "OS"),
    ("curl", "7.81.0", "7.88.1", "OS"),
    ("libxml2", "2.9.13", "2.9.14", "OS"),
    ("busybox", "1.35.0", "1.36.1", "OS"),
    ("requests", "2.28.1", "2.31.0", "PYTHONPKG"),
    ("urllib3", "1.26.5", "1.26.18", "PYTHONPKG"),
    ("log4j-core", "2.14.1", "2.17.1", "JAR"),
    ("lodash", "4.17.20", "4.17.21", "NODE"),
    ("golang.org/x/net", "0.7.0", "0.23.0", "GOMOD"),
    ("jackson-databind", "2.13.2", "2.13.4.2", "JAR"),
)
# CVSS v3 score bands of the severities (INFORMATIONAL and UNDEFINED have no score).
SCORES = {"CRITICAL": (9.0, 1.0), "HIGH": (7.0, 1.9), "MEDIUM": (4.0, 2.9), "LOW": (0.1, 3.8)}
VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:{c}/I:{i}/A:N"


class ScanDraw(NamedTuple):
    """An image's scan as its hash draws it: the basic status, and for a COMPLETE scan the
    count of findings per severity."""

    status: str
    counts: dict[str, int]
    completed_at: float
    updated_at: float


class ScanResult(NamedTuple):
    """What AWS reports of one image's scan in one mode; counts only with findings."""

    status: str
    counts: dict[str, int] | None = None
    completed_at: float | None = None
    updated_at: float | None = None

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self.status]


def draw_counts_of(bits: int) -> dict[str, int]:
    """Findings per severity of a COMPLETE scan: 0..1 CRITICAL, 0..3 HIGH, ... 0..11 UNDEFINED."""
    counts = {s: (bits >> 3 * k) % (2 * k + 2) for k, s in enumerate(SEVERITIES)}
    return {s: n for s, n in counts.items() if n}


def scan_result(
    mode: ScanMode, *, index: bool, archived: bool, draw: ScanDraw | None
) -> ScanResult | None:
    """DISF's answer for an image (None: ScanNotFoundException)."""
    if archived:
        return ScanResult("IMAGE_ARCHIVED")
    if index:
        return ScanResult("UNSUPPORTED_IMAGE") if mode == "ENHANCED" else None
    if draw is None:
        return None
    status = ENHANCED_STATUSES.get(draw.status, draw.status) if mode == "ENHANCED" else draw.status
    if status not in WITH_FINDINGS:
        return ScanResult(status)
    return ScanResult(status, draw.counts, draw.completed_at, draw.updated_at)


def in_describe_images(
    mode: ScanMode, *, index: bool, archived: bool, draw: ScanDraw | None
) -> ScanResult | None:
    """The result DescribeImages carries: Clair mode only, and never for an index (unless it is
    archived: IMAGE_ARCHIVED)."""
    if mode != "CLAIR" or (index and not archived):
        return None
    return scan_result(mode, index=index, archived=archived, draw=draw)


def truth(
    mode: ScanMode, *, index: bool, archived: bool, draw: ScanDraw | None
) -> tuple[str | None, dict[str, int] | None]:
    """(status, severity counts) a correct crawler records: what the call that carries the
    result says (DescribeImages in Clair mode, else DISF); IMAGE_ARCHIVED for an archived image
    in every mode (ScanStatus's own value for it, known without asking); nothing for an index,
    which no one asks DISF about."""
    if archived:
        return "IMAGE_ARCHIVED", None
    if index:
        return None, None
    result = scan_result(mode, index=index, archived=archived, draw=draw)
    return (None, None) if result is None else (result.status, result.counts)


def finding_severities(counts: dict[str, int], start: int, stop: int) -> list[str]:
    """The severities of findings start..stop-1, worst first as AWS lists them."""
    out: list[str] = []
    first = 0
    for severity in SEVERITIES:
        n = counts.get(severity, 0)
        low, high = max(start, first), min(stop, first + n)
        out += [severity] * max(0, high - low)
        first += n
    return out


def findings_page(
    image: ImageRef, counts: dict[str, int], start: int, stop: int, *, enhanced: bool
) -> list[dict[str, Any]]:
    """Findings start..stop-1 of an image, basic or in Inspector's shape."""
    severities = finding_severities(counts, start, stop)
    make = _enhanced if enhanced else _basic
    return [make(image, start + n, severity) for n, severity in enumerate(severities)]


class ImageRef(NamedTuple):
    """Who an image is, for its findings: the hash key of its repository and its index."""

    key: bytes
    image_index: int
    account: str
    region: str
    repository: str
    digest: str
    completed_at: float  # when its findings were first observed
    observed_at: float  # when continuous scanning last observed them


class _Finding(NamedTuple):
    cve: str
    package: tuple[str, str, str, str]
    score: float | None
    vector: str | None


def _finding(image: ImageRef, j: int, severity: str) -> _Finding:
    data = image.key + b"F" + image.image_index.to_bytes(5, "big") + j.to_bytes(3, "big")
    bits = int.from_bytes(hashlib.blake2b(data, digest_size=16).digest(), "big")
    # Unique in the image: the finding's number is part of the id.
    cve = f"CVE-{2016 + bits % 10}-{100_000 + j * 1000 + (bits >> 8) % 1000}"
    package = PACKAGES[(bits >> 20) % len(PACKAGES)]
    band = SCORES.get(severity)
    if band is None:
        return _Finding(cve, package, None, None)
    score = round(band[0] + ((bits >> 32) % 1000) / 1000 * band[1], 1)
    impact = "H" if severity in ("CRITICAL", "HIGH") else "L"
    return _Finding(cve, package, score, VECTOR.format(c=impact, i=impact))


def _basic(image: ImageRef, j: int, severity: str) -> dict[str, Any]:
    found = _finding(image, j, severity)
    name, version, _, _ = found.package
    attributes = [
        {"key": "package_version", "value": version},
        {"key": "package_name", "value": name},
    ]
    if found.score is not None and found.vector is not None:
        attributes += [
            {"key": "CVSS3_SCORE", "value": str(found.score)},
            {"key": "CVSS3_VECTOR", "value": found.vector},
        ]
    return {
        "name": found.cve,
        "description": f"{found.cve}: a vulnerability in {name} {version}.",
        "uri": f"https://nvd.nist.gov/vuln/detail/{found.cve}",
        "severity": severity,
        "attributes": attributes,
    }


def _enhanced(image: ImageRef, j: int, severity: str) -> dict[str, Any]:
    """EnhancedImageScanFinding, as Amazon Inspector reports it through DISF."""
    found = _finding(image, j, severity)
    name, version, fixed, manager = found.package
    ident = hashlib.blake2b(f"{image.digest}/{found.cve}".encode(), digest_size=16).hexdigest()
    finding: dict[str, Any] = {
        "awsAccountId": image.account,
        "findingArn": f"arn:aws:inspector2:{image.region}:{image.account}:finding/{ident}",
        "description": f"{found.cve}: a vulnerability in {name} {version}.",
        "severity": severity,
        "status": "ACTIVE",
        "title": f"{found.cve} - {name}",
        "type": "PACKAGE_VULNERABILITY",
        "firstObservedAt": image.completed_at,
        "lastObservedAt": image.observed_at,
        "updatedAt": image.observed_at,
        "fixAvailable": "YES",
        "packageVulnerabilityDetails": {
            "vulnerabilityId": found.cve,
            "source": "NVD",
            "sourceUrl": f"https://nvd.nist.gov/vuln/detail/{found.cve}",
            "vulnerablePackages": [
                {
                    "name": name,
                    "version": version,
                    "fixedInVersion": fixed,
                    "packageManager": manager,
                }
            ],
        },
        "resources": [
            {
                "type": "AWS_ECR_CONTAINER_IMAGE",
                "id": f"arn:aws:ecr:{image.region}:{image.account}:repository/"
                f"{image.repository}/{image.digest}",
                "details": {
                    "awsEcrContainerImage": {
                        "imageHash": image.digest,
                        "registry": image.account,
                        "repositoryName": image.repository,
                    }
                },
            }
        ],
    }
    if found.score is not None:
        finding["score"] = found.score
        finding["scoreDetails"] = {
            "cvss": {
                "score": found.score,
                "scoringVector": found.vector,
                "version": "3.1",
                "scoreSource": "NVD",
            }
        }
    return finding
