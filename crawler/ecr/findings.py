"""Scan findings (ecr:DescribeImageScanFindings) as records: basic (Clair or AWS-native) and
enhanced (Inspector) shapes."""

from __future__ import annotations

from typing import Any

from crawler.ecr import utc
from crawler.records import Image, ScanFinding

# Basic scans end COMPLETE, enhanced (Inspector) ones stay ACTIVE; nothing else has findings.
SCANNED = frozenset({"COMPLETE", "ACTIVE"})


def is_scanned(image: Image) -> bool:
    return image.image_scan_status is not None and image.image_scan_status.status in SCANNED


def finding_records(page: dict[str, Any], image: Image) -> list[ScanFinding]:
    """The findings of one DescribeImageScanFindings page, basic and enhanced, as records."""
    found = page.get("imageScanFindings", {})
    completed = utc(found.get("imageScanCompletedAt"))
    records = [_basic(f, image, completed) for f in found.get("findings", [])]
    return records + [_enhanced(f, image, completed) for f in found.get("enhancedFindings", [])]


def _identity(image: Image) -> dict[str, Any]:
    return {
        "scan_id": image.scan_id,
        "account_id": image.account_id,
        "region": image.region,
        "registry_id": image.registry_id,
        "repository_name": image.repository_name,
        "image_digest": image.image_digest,
    }


def _basic(finding: dict[str, Any], image: Image, completed: Any) -> ScanFinding:
    attributes = {a.get("key"): a.get("value") for a in finding.get("attributes", [])}
    score = attributes.get("CVSS3_SCORE") or attributes.get("CVSS2_SCORE")
    return ScanFinding(
        **_identity(image),
        scan_type="BASIC",
        scan_completed_at=completed,
        name=finding.get("name"),
        description=finding.get("description"),
        uri=finding.get("uri"),
        severity=finding.get("severity"),
        package_name=attributes.get("package_name"),
        package_version=attributes.get("package_version"),
        cvss_score=float(score) if score else None,
        cvss_vector=attributes.get("CVSS3_VECTOR") or attributes.get("CVSS2_VECTOR"),
    )


def _enhanced(finding: dict[str, Any], image: Image, completed: Any) -> ScanFinding:
    cvss = finding.get("scoreDetails", {}).get("cvss", {})
    return enhanced_finding(
        finding, _identity(image), completed, cvss=cvss, score=finding.get("score")
    )


def enhanced_finding(
    finding: dict[str, Any],
    identity: dict[str, Any],
    completed: Any,
    *,
    cvss: dict[str, Any],
    score: float | None,
) -> ScanFinding:
    """An Inspector finding as a record, from ECR's EnhancedImageScanFinding or from
    Inspector's own Finding (crawler.ecr.inspector), which name the score fields differently."""
    details = finding.get("packageVulnerabilityDetails") or {}
    package = (details.get("vulnerablePackages") or [{}])[0]
    return ScanFinding(
        **identity,
        scan_type="ENHANCED",
        scan_completed_at=completed,
        name=details.get("vulnerabilityId"),
        title=finding.get("title"),
        description=finding.get("description"),
        uri=details.get("sourceUrl"),
        severity=finding.get("severity"),
        package_name=package.get("name"),
        package_version=package.get("version"),
        fixed_in_version=package.get("fixedInVersion"),
        cvss_score=cvss.get("score", score),
        cvss_vector=cvss.get("scoringVector"),
        status=finding.get("status"),
        finding_arn=finding.get("findingArn"),
        first_observed_at=utc(finding.get("firstObservedAt")),
        last_observed_at=utc(finding.get("lastObservedAt")),
        fix_available=finding.get("fixAvailable"),
        exploit_available=finding.get("exploitAvailable"),
    )
