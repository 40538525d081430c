"""Images of one repository (ecr:DescribeImages), tagged, untagged and archived, page by page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from crawler.aws.client import RegionClient
from crawler.ecr import utc
from crawler.records import Image, ImageScanFindingsSummary, ImageScanStatus, Repository

PAGE_SIZE = 1000
# Without imageStatus ANY, DescribeImages returns only ACTIVE images: archived ones would be
# silently missing (botocore models older than 1.42 cannot even send this filter).
ALL_IMAGES = {"tagStatus": "ANY", "imageStatus": "ANY"}


async def list_images(client: RegionClient, repository: Repository) -> AsyncIterator[list[Image]]:
    """Each page's images as one list: the crawl sends pages, not single records."""
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
        page = await client.call("describe_images", **params)
        if images := [to_image(item, repository, host) for item in page.get("imageDetails", [])]:
            yield images
        if not page.get("nextToken"):
            return
        params["nextToken"] = page["nextToken"]


def to_image(item: dict[str, Any], repository: Repository, host: str) -> Image:
    status = item.get("imageScanStatus")
    summary = item.get("imageScanFindingsSummary")
    digest = item["imageDigest"]
    return Image(
        scan_id=repository.scan_id,
        account_id=repository.account_id,
        region=repository.region,
        registry_id=item.get("registryId", repository.registry_id),
        repository_name=item.get("repositoryName", repository.repository_name),
        image_digest=digest,
        image_tags=sorted(item.get("imageTags", ())),
        image_uri=f"{host}/{repository.repository_name}@{digest}",
        image_size_in_bytes=item.get("imageSizeInBytes"),
        image_pushed_at=utc(item.get("imagePushedAt")),
        image_manifest_media_type=item.get("imageManifestMediaType"),
        artifact_media_type=item.get("artifactMediaType"),
        last_recorded_pull_time=utc(item.get("lastRecordedPullTime")),
        image_scan_status=None
        if status is None
        else ImageScanStatus(status=status.get("status"), description=status.get("description")),
        image_scan_findings_summary=None
        if summary is None
        else ImageScanFindingsSummary(
            image_scan_completed_at=utc(summary.get("imageScanCompletedAt")),
            vulnerability_source_updated_at=utc(summary.get("vulnerabilitySourceUpdatedAt")),
            finding_severity_counts=summary.get("findingSeverityCounts"),
        ),
        image_status=item.get("imageStatus"),
        last_archived_at=utc(item.get("lastArchivedAt")),
        last_activated_at=utc(item.get("lastActivatedAt")),
        subject_manifest_digest=item.get("subjectManifestDigest"),
    )
