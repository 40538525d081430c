"""Registry settings of one account-region (DescribeRegistry, GetRegistryPolicy,
DescribePullThroughCacheRules, ListPullTimeUpdateExclusions, GetAccountSetting) and the
per-repository settings (GetLifecyclePolicy, GetRepositoryPolicy, ListTagsForResource).

Every call here is optional in effect: a denied call leaves its field null and is reported."""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

from crawler.config import Collect
from crawler.ecr import Optional, snake_keys
from crawler.ecr.scanning import account_setting
from crawler.records import Registry, Repository
from crawler.region import Region


def role_arn(principal: str) -> str:
    """An assumed-role session ARN as the role ARN that IAM policies and exclusions name
    (arn:aws:sts::1:assumed-role/Role/session -> arn:aws:iam::1:role/Role)."""
    match = re.fullmatch(r"arn:(aws[\w-]*):sts::(\d+):assumed-role/([^/]+)/.+", principal)
    return f"arn:{match[1]}:iam::{match[2]}:role/{match[3]}" if match else principal


async def pull_time_exclusions(optional: Optional) -> list[str] | None:
    return await optional.pages("list_pull_time_update_exclusions", "pullTimeUpdateExclusions")


async def describe_registry(region: Region, scan_id: str) -> Registry:
    """The registry record, from what was learned when the region's scan began and the calls
    only the record needs."""
    optional, client = region.optional, region.client
    policy = await optional.call("get_registry_policy")
    rules = await optional.pages("describe_pull_through_cache_rules", "pullThroughCacheRules")
    exclusions = await pull_time_exclusions(optional)
    return Registry(
        scan_id=scan_id,
        account_id=client.account_id,
        region=client.region,
        registry_id=(region.registry or {}).get("registryId", client.account_id),
        replication_configuration=region.replication,
        scanning_configuration=region.scanning.configuration,
        registry_policy=_policy(policy, "policyText"),
        pull_through_cache_rules=snake_keys(rules),
        pull_time_update_exclusions=exclusions,
        crawler_principal_excluded=None
        if exclusions is None
        else role_arn(region.principal) in exclusions,
        basic_scan_type_version=region.scanning.basic_version,
        registry_policy_scope=await account_setting(optional, "REGISTRY_POLICY_SCOPE"),
        blob_mounting=await account_setting(optional, "BLOB_MOUNTING"),
        signing_configuration=region.signing,
    )


async def with_settings(optional: Optional, repository: Repository, collect: Collect) -> Repository:
    """The repository record with its policies and tags, as far as they are readable."""
    ids = {"registryId": repository.registry_id, "repositoryName": repository.repository_name}
    changes: dict[str, Any] = {}
    if collect.policies:
        lifecycle = await optional.call("get_lifecycle_policy", **ids)
        changes["lifecycle_policy"] = _policy(lifecycle, "lifecyclePolicyText")
        policy = await optional.call("get_repository_policy", **ids)
        changes["repository_policy"] = _policy(policy, "policyText")
    if collect.tags and repository.repository_arn:
        tags = await optional.call("list_tags_for_resource", resourceArn=repository.repository_arn)
        changes["tags"] = (
            None if tags is None else {t["Key"]: t.get("Value", "") for t in tags.get("tags", [])}
        )
    return msgspec.structs.replace(repository, **changes) if changes else repository


def _policy(reply: dict[str, Any] | None, field: str) -> dict[str, Any] | None:
    """A policy document as parsed JSON; {} when there is none, null when unreadable."""
    if reply is None:
        return None
    text = reply.get(field)
    return json.loads(text) if text else {}
