"""What the scanning model (tests/scanning.py) reports about one image: which images a scanner
can scan at all, the status descriptions, and the findings: moto's basic ones, or the same in
Amazon Inspector's shape (EnhancedImageScanFinding) for enhanced scanning."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from typing import Any

WITH_FINDINGS = frozenset({"COMPLETE", "ACTIVE"})
DESCRIPTIONS = {
    "COMPLETE": "The scan was completed successfully.",
    "ACTIVE": "Continuous scan is selected for image.",
    "IN_PROGRESS": "The scan is in progress.",
    "PENDING": "The image is waiting to be scanned.",
    "FAILED": "The scan failed.",
    "UNSUPPORTED_IMAGE": "UnsupportedImageError: the image is not an image with scannable "
    "operating system or language packages.",
    "SCAN_ELIGIBILITY_EXPIRED": "Continuous scanning of this image ended: its scan "
    "eligibility expired.",
    "FINDINGS_UNAVAILABLE": "Findings are unavailable for this image.",
    "LIMIT_EXCEEDED": "The image was already scanned today: one scan per image per 24 hours.",
    "IMAGE_ARCHIVED": "The image is archived.",
}
INDEX_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    }
)
IMAGE_CONFIG_TYPES = frozenset(
    {"application/vnd.docker.container.image.v1+json", "application/vnd.oci.image.config.v1+json"}
)
# moto's own finding for every scanned image; continuous scanning finds it in the others too.
MOTO_FINDING: dict[str, Any] = {
    "name": "CVE-9999-9999",
    "uri": "https://cve.mitre.org/cgi-bin/cvename.cgi?name=CVE-9999-9999",
    "severity": "HIGH",
    "attributes": [
        {"key": "package_version", "value": "9.9.9"},
        {"key": "package_name", "value": "moto_fake"},
        {"key": "CVSS2_VECTOR", "value": "AV:N/AC:L/Au:N/C:P/I:P/A:P"},
        {"key": "CVSS2_SCORE", "value": "7.5"},
    ],
}


# cosign's tag scheme: a signature, attestation or SBOM of the image its tag names.
COSIGN_TAG = re.compile(r"sha(256|384|512)-[0-9a-f]{64,128}\.(sig|att|sbom)")


def may_have_result(detail: dict[str, Any]) -> bool:
    """Whether DescribeImages leaves open that the image has a scan result: not an index, not
    a referrer, not an artifact whose config is not an image's, not tagged as cosign tags its
    signatures, attestations and SBOMs."""
    artifact = detail.get("artifactMediaType")
    return not (
        detail.get("imageManifestMediaType") in INDEX_TYPES
        or detail.get("subjectManifestDigest")
        or (artifact is not None and artifact not in IMAGE_CONFIG_TYPES)
        or any(COSIGN_TAG.fullmatch(tag) for tag in detail.get("imageTags", []))
    )


def runnable(manifest: dict[str, Any]) -> bool:
    """From its manifest: whether an image is one of its own with filesystem layers (not an
    index, not a referrer, not an artifact such as a signature or a buildx attestation)."""
    if "fsLayers" in manifest:  # Docker schema 1
        return True
    config = (manifest.get("config") or {}).get("mediaType")
    layers = [layer.get("mediaType", "") for layer in manifest.get("layers", [])]
    return (
        "manifests" not in manifest
        and "subject" not in manifest
        and config in IMAGE_CONFIG_TYPES
        and any(".tar" in media for media in layers)
    )


def findings(
    enhanced_shape: bool, detail: dict[str, Any], moto: dict[str, Any] | None, region: str
) -> dict[str, Any]:
    """imageScanFindings with every finding: moto's, or moto's one finding when it never
    scanned the image; basic findings, or in Inspector's shape (`enhanced_shape`)."""
    found = (moto or {}).get("imageScanFindings", {})
    basic = found.get("findings", [MOTO_FINDING]) if moto else [MOTO_FINDING]
    completed = found.get("imageScanCompletedAt", detail.get("imagePushedAt"))
    updated = found.get("vulnerabilitySourceUpdatedAt", completed)
    answer: dict[str, Any] = {
        "imageScanCompletedAt": completed,
        "vulnerabilitySourceUpdatedAt": updated,
        "findingSeverityCounts": counts(basic),
    }
    if enhanced_shape:
        answer["enhancedFindings"] = [enhanced(f, detail, region, completed) for f in basic]
    else:
        answer["findings"] = basic
    return answer


def counts(findings: list[dict[str, Any]]) -> dict[str, int]:
    return dict(Counter(f["severity"] for f in findings))


def enhanced(
    finding: dict[str, Any], detail: dict[str, Any], region: str, seen: Any
) -> dict[str, Any]:
    """A basic finding in the shape of EnhancedImageScanFinding (Amazon Inspector's)."""
    attributes = {a["key"]: a["value"] for a in finding.get("attributes", [])}
    package = attributes.get("package_name", "unknown")
    account, digest = detail["registryId"], detail["imageDigest"]
    ident = hashlib.sha256(f"{digest}/{finding['name']}/{package}".encode()).hexdigest()[:32]
    score = float(attributes.get("CVSS2_SCORE", attributes.get("CVSS3_SCORE", "0")))
    vector = attributes.get("CVSS2_VECTOR", attributes.get("CVSS3_VECTOR", ""))
    return {
        "awsAccountId": account,
        "findingArn": f"arn:aws:inspector2:{region}:{account}:finding/{ident}",
        "description": finding.get("description", finding["name"]),
        "severity": finding["severity"],
        "status": "ACTIVE",
        "title": f"{finding['name']} - {package}",
        "type": "PACKAGE_VULNERABILITY",
        "firstObservedAt": seen,
        "lastObservedAt": seen,
        "updatedAt": seen,
        "score": score,
        "fixAvailable": "YES",
        "packageVulnerabilityDetails": {
            "vulnerabilityId": finding["name"],
            "source": "NVD",
            "sourceUrl": finding.get("uri", ""),
            "vulnerablePackages": [
                {
                    "name": package,
                    "version": attributes.get("package_version", ""),
                    "fixedInVersion": "10.0.0",
                    "packageManager": "OS",
                }
            ],
        },
        "scoreDetails": {"cvss": {"score": score, "scoringVector": vector, "version": "2.0"}},
        "resources": [
            {
                "type": "AWS_ECR_CONTAINER_IMAGE",
                "id": f"arn:aws:ecr:{region}:{account}:repository/{detail['repositoryName']}"
                f"/{digest}",
                "details": {
                    "awsEcrContainerImage": {
                        "imageHash": digest,
                        "registry": account,
                        "repositoryName": detail["repositoryName"],
                        "imageTags": detail.get("imageTags", []),
                    }
                },
            }
        ],
    }
