"""How the checks read an image's scan result, the same way in every scanning mode.

The image record carries AWS's scan status and severity counts whichever call had them:
DescribeImages under Clair-based basic scanning, DescribeImageScanFindings under AWS-native
basic and enhanced (Amazon Inspector) scanning. The crawler asks only where a result can exist,
so an image index, an artifact or an archived image has none in the second case; the checks
ignore them in every case, or a Clair registry would be judged on more than the others.
docs/compliance.md: "Scan results in each scanning mode".
"""

from __future__ import annotations

from typing import Literal

from crawler.artifacts import SCANNABLE_KINDS
from crawler.media_types import IMAGE_CONFIG_TYPES, INDEX_TYPES
from crawler.records import Image

# The model's ScanStatus values (botocore ECR 2015-09-21), in the groups the checks tell apart.
# Basic scans end COMPLETE; enhanced (continuous) ones stay ACTIVE: both carry the counts.
COMPLETED = frozenset({"COMPLETE", "ACTIVE"})
NOT_FINISHED = frozenset({"IN_PROGRESS", "PENDING"})
FAILED = frozenset({"FAILED", "UNSUPPORTED_IMAGE", "FINDINGS_UNAVAILABLE", "LIMIT_EXCEEDED"})
# Inspector stopped rescanning the image (its re-scan duration ran out): the last result
# stands, and its findings are being closed, so its counts say nothing any more.
EXPIRED = "SCAN_ELIGIBILITY_EXPIRED"
# Said of an archived image, which no scanner reads.
ARCHIVED = "IMAGE_ARCHIVED"
# Image states whose image has no result of its own: archived, or being restored.
NOT_SCANNABLE_STATES = frozenset({"ARCHIVED", "ACTIVATING"})

Outcome = Literal["none", "completed", "not_finished", "failed", "expired", "not_applicable"]


def scannable(image: Image) -> bool:
    """Whether a scanner reads the image: a container image (artifact_kind), not an image index
    or manifest list, not an artifact (attached to a subject, or with a config that is not an
    image's: Helm chart, SBOM), not archived. The crawler's own test
    (crawler.ecr.scanning.can_have_result), kept here so that the checks import nothing that
    calls AWS; a saved record without a kind is judged by its media types."""
    if image.image_status in NOT_SCANNABLE_STATES:
        return False
    if image.artifact_kind is not None:
        return image.artifact_kind in SCANNABLE_KINDS and not image.subject_digest
    if image.image_manifest_media_type in INDEX_TYPES or image.subject_manifest_digest:
        return False
    return not image.artifact_media_type or image.artifact_media_type in IMAGE_CONFIG_TYPES


def outcome(image: Image) -> Outcome:
    """What the image's scan status says, for an image a scanner reads; "none" when the record
    has no status (never scanned, or not asked: the inventory tells which)."""
    status = image.image_scan_status.status if image.image_scan_status else None
    if status is None:
        return "none"
    if status in COMPLETED:
        return "completed"
    if status in NOT_FINISHED:
        return "not_finished"
    if status in FAILED:
        return "failed"
    if status == EXPIRED:
        return "expired"
    # IMAGE_ARCHIVED, or a value newer than this model: nothing to judge.
    return "not_applicable"


def severity_counts(image: Image) -> dict[str, int] | None:
    """The severity counts of the image's latest completed scan; None when there is none."""
    summary = image.image_scan_findings_summary
    if outcome(image) != "completed" or summary is None:
        return None
    return {k.upper(): v for k, v in (summary.finding_severity_counts or {}).items() if v}
