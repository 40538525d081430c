"""Replication of images to other regions and accounts: which repositories the registry's
replication rules cover, and each covered image's status per destination
(DescribeImageReplicationStatus)."""

from __future__ import annotations

from typing import Any

from crawler.aws.client import RegionClient
from crawler.records import Image, ReplicationStatus


def replication_covers(configuration: dict[str, Any] | None, repository: str) -> bool:
    """Whether a rule replicates `repository`. ReplicationConfiguration: a rule's
    repositoryFilters (PREFIX_MATCH, the only type) narrow it; "If no filters are added, the
    contents of all repositories are replicated" (ECR User Guide, private image replication)."""
    for rule in (configuration or {}).get("rules", []):
        if not rule.get("destinations"):
            continue
        filters = rule.get("repository_filters") or []
        if not filters or any(repository.startswith(f.get("filter", "")) for f in filters):
            return True
    return False


async def describe_replication(client: RegionClient, image: Image) -> list[ReplicationStatus]:
    reply = await client.call(
        "describe_image_replication_status",
        registryId=image.registry_id,
        repositoryName=image.repository_name,
        imageId={"imageDigest": image.image_digest},
    )
    return [
        ReplicationStatus(
            region=s.get("region"),
            registry_id=s.get("registryId"),
            status=s.get("status"),
            failure_code=s.get("failureCode"),
        )
        for s in reply.get("replicationStatuses", [])
    ]
