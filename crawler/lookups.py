"""The calls asked per image, concurrently a chunk of images at a time: the scan result where
DescribeImages has none (DescribeImageScanFindings), the managed signing status and the
replication status; then each image record with their answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import msgspec

from crawler.artifacts import ATTACHED_KINDS
from crawler.aws.client import RegionClient
from crawler.config import Collect
from crawler.ecr import Optional
from crawler.ecr.findings import is_scanned
from crawler.ecr.inspector import image_scan
from crawler.ecr.replication import describe_replication, replication_covers
from crawler.ecr.scanning import ScanResult, can_have_result, describe_scan
from crawler.ecr.signing import (
    SignedBy,
    describe_signing,
    signature_subjects,
    signed,
    signing_covers,
)
from crawler.errors import AwsError
from crawler.records import Image, ImageScanStatus, ScanRecord
from crawler.region import Inspector, Region

# Images whose calls are asked at once (the client's limit bounds the calls in flight).
CHUNK = 100
SCAN = "describe_image_scan_findings"
ARCHIVED = ImageScanStatus(status="IMAGE_ARCHIVED", description="The image is archived.")

Lookup = Callable[[RegionClient, Image], Awaitable[Any]]


@dataclass
class _Answers:
    """What the calls of one chunk answered, by operation and digest."""

    by: dict[str, dict[str, Any]] = field(default_factory=dict)

    def get(self, operation: str, digest: str) -> Any:
        return self.by.get(operation, {}).get(digest)


class ImageLookups:
    """Chosen once from `collect:`; `enrich` runs for every page of images."""

    def __init__(self, collect: Collect) -> None:
        self._scan = collect.scan_findings
        self._signing = collect.signing
        self._replication = collect.replication

    async def enrich(
        self,
        region: Region,
        optional: Optional,
        images: list[Image],
        *,
        subjects: SignedBy | None = None,
    ) -> AsyncIterator[Sequence[ScanRecord]]:
        """The scan findings of `images` (scan_findings: full), then the images with every
        answer on them. `subjects`: the digests signatures are attached to in the whole
        repository, when known (else only this page's signatures are known)."""
        asks = self._asks(region, images[0].repository_name) if images else []
        answers = _Answers()
        for start in range(0, len(images), CHUNK):
            chunk = images[start : start + CHUNK]
            async with anyio.create_task_group() as tg:
                for image in chunk:
                    for operation, wanted, lookup in asks:
                        if wanted(image):
                            tg.start_soon(_ask, optional, operation, lookup, image, answers)
            for image in chunk:
                result: ScanResult | None = answers.get(
                    "describe_image_scan_findings", image.image_digest
                )
                if result is not None and result.findings:
                    yield result.findings
                    answers.by["describe_image_scan_findings"][image.image_digest] = (
                        msgspec.structs.replace(result, findings=[])
                    )
        whole = subjects is not None
        if subjects is None:
            subjects = signature_subjects(images) if self._signing else {}
        yield [self._answered(region, i, answers, subjects, whole) for i in images]

    def _asks(
        self, region: Region, repository: str
    ) -> list[tuple[str, Callable[[Image], bool], Lookup]]:
        asks: list[tuple[str, Callable[[Image], bool], Lookup]] = []
        if self._scan != "off":
            full = self._scan == "full"

            async def scan(client: RegionClient, image: Image) -> ScanResult:
                return await describe_scan(client, image, findings=full)

            asks.append(
                ("describe_image_scan_findings", lambda i: self._asks_scan(region, i), scan)
            )
        if self._signing and signing_covers(region.signing, repository):
            asks.append(("describe_image_signing_status", _runnable, describe_signing))
        if self._replication and replication_covers(region.replication, repository):
            asks.append(("describe_image_replication_status", _any, describe_replication))
        return asks

    def _asks_scan(self, region: Region, image: Image) -> bool:
        if image.image_scan_status is not None:  # DescribeImages had it (Clair basic scanning)
            return self._scan == "full" and is_scanned(image)
        if region.inspector is not None:  # Inspector answered for the whole registry
            return False
        return not region.scanning.in_describe_images and can_have_result(image)

    def _answered(
        self, region: Region, image: Image, answers: _Answers, subjects: SignedBy, whole: bool
    ) -> Image:
        digest = image.image_digest
        changes: dict[str, Any] = {}
        if region.inspector is not None:
            changes.update(_inspected(image, region.inspector))
        elif self._scan != "off":
            changes.update(_scan_fields(image, answers.get(SCAN, digest)))
        if self._signing:
            statuses = _statuses(
                answers.get("describe_image_signing_status", digest),
                region.signing,
                signing_covers(region.signing, image.repository_name),
            )
            changes["signing_statuses"] = statuses
            changes["signed"], changes["signed_by"] = signed(
                statuses, subjects.get(digest), whole and statuses is not None
            )
        if self._replication:
            changes["replication_statuses"] = _statuses(
                answers.get("describe_image_replication_status", digest),
                region.replication,
                replication_covers(region.replication, image.repository_name),
            )
        return msgspec.structs.replace(image, **changes) if changes else image


async def _ask(
    optional: Optional, operation: str, lookup: Lookup, image: Image, answers: _Answers
) -> None:
    if optional.denied(operation):
        return
    try:
        answer = await lookup(optional.client, image)
    except AwsError as exc:
        optional.failed(exc)
        return
    answers.by.setdefault(operation, {})[image.image_digest] = answer


def _statuses(answer: Any, rules: dict[str, Any] | None, covered: bool) -> Any:
    """An image's statuses under a registry's rules: the answer where a rule covers it, [] where
    none does, None where that is unknown (the rules unreadable, or the call failed)."""
    if covered:
        return answer
    return None if rules is None else []


def _scan_fields(image: Image, result: ScanResult | None) -> dict[str, Any]:
    """AWS's scan result where DescribeImages had none. An archived image is not asked: its
    status is IMAGE_ARCHIVED by definition (ScanStatus in the ECR model)."""
    if image.image_scan_status is not None:
        return {}
    if image.image_status == "ARCHIVED":
        return {"image_scan_status": ARCHIVED}
    if result is None or result.status is None:
        return {}
    return {"image_scan_status": result.status, "image_scan_findings_summary": result.summary}


def _inspected(image: Image, inspector: Inspector) -> dict[str, Any]:
    """What Amazon Inspector says of the image: its scan result, and whether it runs."""
    key = (image.repository_name, image.image_digest)
    coverage = inspector.coverage.get(key)
    fields: dict[str, Any] = {}
    if image.image_status == "ARCHIVED":
        fields["image_scan_status"] = ARCHIVED
    elif can_have_result(image):
        # The same images as with per-image calls: Inspector also covers indexes and
        # artifacts (UNSUPPORTED_IMAGE), which would make the two ways of asking differ.
        status, summary = image_scan(coverage, inspector.counts.get(key))
        fields.update(image_scan_status=status, image_scan_findings_summary=summary)
    if coverage is not None:
        fields.update(in_use_count=coverage.in_use_count, last_in_use_at=coverage.last_in_use_at)
    return fields


def _runnable(image: Image) -> bool:
    """Signing rules sign images, not the signatures and other artifacts attached to them
    (as OCI referrers, or by cosign's tags)."""
    return not image.subject_digest and image.artifact_kind not in ATTACHED_KINDS


def _any(image: Image) -> bool:
    return True
