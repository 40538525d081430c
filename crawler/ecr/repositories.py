"""Repositories of one account-region (ecr:DescribeRepositories), page by page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from crawler.aws.client import RegionClient
from crawler.ecr import utc
from crawler.records import (
    EncryptionConfiguration,
    ImageScanningConfiguration,
    Repository,
    TagMutabilityExclusionFilter,
)

PAGE_SIZE = 1000


async def list_repositories(client: RegionClient, scan_id: str) -> AsyncIterator[Repository]:
    params: dict[str, Any] = {"registryId": client.account_id, "maxResults": PAGE_SIZE}
    async for item in client.pages("describe_repositories", "repositories", **params):
        yield to_repository(item, scan_id, client.account_id, client.region)


def to_repository(item: dict[str, Any], scan_id: str, account_id: str, region: str) -> Repository:
    scanning = item.get("imageScanningConfiguration")
    return Repository(
        scan_id=scan_id,
        account_id=account_id,
        region=region,
        registry_id=item["registryId"],
        repository_name=item["repositoryName"],
        repository_arn=item.get("repositoryArn"),
        repository_uri=item.get("repositoryUri"),
        created_at=utc(item.get("createdAt")),
        image_tag_mutability=item.get("imageTagMutability"),
        image_tag_mutability_exclusion_filters=exclusion_filters(item),
        image_scanning_configuration=None
        if scanning is None
        else ImageScanningConfiguration(scan_on_push=scanning.get("scanOnPush")),
        encryption_configuration=encryption(item),
    )


def exclusion_filters(item: dict[str, Any]) -> list[TagMutabilityExclusionFilter] | None:
    """IMMUTABLE_WITH_EXCLUSION / MUTABLE_WITH_EXCLUSION: the tags that are the exception."""
    filters = item.get("imageTagMutabilityExclusionFilters")
    if filters is None:
        return None
    return [
        TagMutabilityExclusionFilter(filter_type=f.get("filterType"), filter=f.get("filter"))
        for f in filters
    ]


def encryption(item: dict[str, Any]) -> EncryptionConfiguration | None:
    """AES256, KMS or KMS_DSSE (dual-layer), with the key for the KMS kinds."""
    value = item.get("encryptionConfiguration")
    if value is None:
        return None
    return EncryptionConfiguration(
        encryption_type=value.get("encryptionType"), kms_key=value.get("kmsKey")
    )
