"""Repository creation templates (DescribeRepositoryCreationTemplates, paginated): the settings
ECR gives the repositories it creates itself (replication, pull-through cache, create on push)."""

from __future__ import annotations

import json
from typing import Any

from crawler.ecr import Optional, utc
from crawler.ecr.repositories import encryption, exclusion_filters
from crawler.records import RepositoryCreationTemplate

PAGE_SIZE = 1000


async def creation_templates(
    optional: Optional, scan_id: str, registry_id: str
) -> list[RepositoryCreationTemplate] | None:
    """Every template of the registry; None when unreadable (the error is in `optional`)."""
    items = await optional.pages(
        "describe_repository_creation_templates",
        "repositoryCreationTemplates",
        maxResults=PAGE_SIZE,
    )
    if items is None:
        return None
    client = optional.client
    return [
        _template(item, scan_id, client.account_id, client.region, registry_id) for item in items
    ]


def _template(
    item: dict[str, Any], scan_id: str, account_id: str, region: str, registry_id: str
) -> RepositoryCreationTemplate:
    return RepositoryCreationTemplate(
        scan_id=scan_id,
        account_id=account_id,
        region=region,
        registry_id=registry_id,
        prefix=item["prefix"],
        description=item.get("description"),
        applied_for=item.get("appliedFor"),
        image_tag_mutability=item.get("imageTagMutability"),
        image_tag_mutability_exclusion_filters=exclusion_filters(item),
        encryption_configuration=encryption(item),
        lifecycle_policy=_json(item.get("lifecyclePolicy")),
        repository_policy=_json(item.get("repositoryPolicy")),
        resource_tags={t["Key"]: t.get("Value", "") for t in item.get("resourceTags", [])},
        custom_role_arn=item.get("customRoleArn"),
        created_at=utc(item.get("createdAt")),
        updated_at=utc(item.get("updatedAt")),
    )


def _json(text: str | None) -> dict[str, Any]:
    return json.loads(text) if text else {}
