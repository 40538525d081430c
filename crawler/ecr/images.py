"""Images of one repository (ecr:DescribeImages), tagged, untagged and archived, page by page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import msgspec

from crawler.artifacts import COSIGN_TAG_LENGTH, cosign_tag, described_kind
from crawler.aws.client import RegionClient
from crawler.records import Image, ImageScanFindingsSummary, ImageScanStatus, Repository

PAGE_SIZE = 1000
# Without imageStatus ANY, DescribeImages returns only ACTIVE images: archived ones would be
# silently missing (botocore models older than 1.42 cannot even send this filter).
ALL_IMAGES = {"tagStatus": "ANY", "imageStatus": "ANY"}


class _ScanStatus(msgspec.Struct, rename="camel"):
    status: str | None = None
    description: str | None = None


class _FindingsSummary(msgspec.Struct, rename="camel"):
    image_scan_completed_at: datetime | None = None
    vulnerability_source_updated_at: datetime | None = None
    finding_severity_counts: dict[str, int] | None = None


class _ImageDetail(msgspec.Struct, rename="camel"):
    """AWS's ImageDetail, as the wire spells it (epoch-second timestamps)."""

    image_digest: str
    registry_id: str | None = None
    repository_name: str | None = None
    image_tags: list[str] = msgspec.field(default_factory=list)
    image_size_in_bytes: int | None = None
    image_pushed_at: datetime | None = None
    image_scan_status: _ScanStatus | None = None
    image_scan_findings_summary: _FindingsSummary | None = None
    image_manifest_media_type: str | None = None
    artifact_media_type: str | None = None
    last_recorded_pull_time: datetime | None = None
    subject_manifest_digest: str | None = None
    image_status: str | None = None
    last_archived_at: datetime | None = None
    last_activated_at: datetime | None = None


class _Page(msgspec.Struct, rename="camel"):
    image_details: list[_ImageDetail] = msgspec.field(default_factory=list)
    next_token: str | None = None


# strict=False: AWS's JSON timestamps are epoch seconds, which msgspec turns into UTC datetimes.
# Pages are decoded straight into typed structs, bypassing botocore's parser (the scan's hot
# spot): the client is built with these decoders (crawler.aws.client.open_region_client).
DECODERS = {"describe_images": msgspec.json.Decoder(_Page, strict=False)}


async def list_images(
    client: RegionClient, repository: Repository, *, linked: bool = False
) -> AsyncIterator[list[Image]]:
    """Each page's images as one list: the crawl sends pages, not single records. `linked`:
    manifests are read, so each image's index_digests start empty, not unknown."""
    params: dict[str, Any] = {
        "registryId": repository.registry_id,
        "repositoryName": repository.repository_name,
        "maxResults": PAGE_SIZE,
        "filter": ALL_IMAGES,
    }
    host = (repository.repository_uri or "").split("/", 1)[0] or (
        f"{repository.registry_id}.dkr.ecr.{client.region}.amazonaws.com"
    )
    while True:
        page: _Page = (await client.call("describe_images", **params))["decoded"]
        images = [to_image(i, repository, host, linked) for i in page.image_details]
        token = page.next_token
        # The decoded answer outweighs its records: not held while the caller has the page.
        del page
        if images:
            yield images
        if not token:
            return
        params["nextToken"] = token


def to_image(item: _ImageDetail, repository: Repository, host: str, linked: bool) -> Image:
    status = item.image_scan_status
    summary = item.image_scan_findings_summary
    digest = item.image_digest
    subject = item.subject_manifest_digest
    # What the image is, as far as DescribeImages tells (crawler.artifacts); a manifest read
    # later may say more. A cosign tag names the subject even without an OCI referrer.
    kind, by = described_kind(
        item.image_manifest_media_type, item.artifact_media_type, bool(subject)
    )
    for tag in item.image_tags:
        # A cosign tag is 75 characters or more: the length rules out nearly every other tag.
        if len(tag) >= COSIGN_TAG_LENGTH and (cosign := cosign_tag(item.image_tags)):
            subject = subject or cosign[1]
            if kind in ("container_image", "artifact", "unknown"):
                kind, by = cosign[0], cosign[2]
            break
    return Image(
        scan_id=repository.scan_id,
        account_id=repository.account_id,
        region=repository.region,
        registry_id=item.registry_id or repository.registry_id,
        repository_name=item.repository_name or repository.repository_name,
        image_digest=digest,
        image_tags=sorted(item.image_tags) if len(item.image_tags) > 1 else item.image_tags,
        image_uri=f"{host}/{repository.repository_name}@{digest}",
        image_size_in_bytes=item.image_size_in_bytes,
        image_pushed_at=item.image_pushed_at,
        image_manifest_media_type=item.image_manifest_media_type,
        artifact_media_type=item.artifact_media_type,
        last_recorded_pull_time=item.last_recorded_pull_time,
        image_scan_status=None
        if status is None
        else ImageScanStatus(status=status.status, description=status.description),
        image_scan_findings_summary=None
        if summary is None
        else ImageScanFindingsSummary(
            image_scan_completed_at=summary.image_scan_completed_at,
            vulnerability_source_updated_at=summary.vulnerability_source_updated_at,
            finding_severity_counts=summary.finding_severity_counts,
        ),
        image_status=item.image_status,
        last_archived_at=item.last_archived_at,
        last_activated_at=item.last_activated_at,
        subject_manifest_digest=item.subject_manifest_digest,
        artifact_kind=kind,
        artifact_kind_by=by,
        subject_digest=subject,
        index_digests=[] if linked else None,
    )
