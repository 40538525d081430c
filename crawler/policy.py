"""The least-privilege IAM policy for a config: the base actions plus those of each enabled
`collect` option, nothing more."""

from __future__ import annotations

from typing import Any

from crawler.config import Config

BASE_ACTIONS = (
    "ecr:GetAuthorizationToken",
    "ecr:DescribeRepositories",
    "ecr:ListImages",
    "ecr:DescribeImages",
    "ecr:BatchGetImage",
)
REGISTRY_ACTIONS = (
    "ecr:DescribeRegistry",
    "ecr:GetRegistryScanningConfiguration",
    "ecr:GetRegistryPolicy",
    "ecr:DescribePullThroughCacheRules",
    "ecr:ListPullTimeUpdateExclusions",
)


def ecr_actions(config: Config) -> list[str]:
    collect = config.collect
    actions = list(BASE_ACTIONS)
    if collect.manifests != "off":
        # To warn when BatchGetImage would update pull times that lifecycle rules read.
        actions.append("ecr:ListPullTimeUpdateExclusions")
    if collect.referrers:
        actions.append("ecr:ListImageReferrers")
    if collect.scan_findings == "full":
        actions.append("ecr:DescribeImageScanFindings")
    if collect.registry:
        actions += REGISTRY_ACTIONS
    if collect.policies:
        actions += ["ecr:GetLifecyclePolicy", "ecr:GetRepositoryPolicy"]
    if collect.tags:
        actions.append("ecr:ListTagsForResource")
    return list(dict.fromkeys(actions))


def policy_document(config: Config) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EcrCrawlerReadOnly",
                "Effect": "Allow",
                "Action": ecr_actions(config),
                "Resource": "*",
            },
            {
                "Sid": "EcrCrawlerWhoAmI",
                "Effect": "Allow",
                "Action": "sts:GetCallerIdentity",
                "Resource": "*",
            },
        ],
    }


def multi_account_policies(config: Config) -> dict[str, Any]:
    """For accounts: or organization: the three documents a multi-account scan needs."""
    if config.organization is not None:
        name = config.organization.member_role_name
        roles: list[str] = [f"arn:{config.partition}:iam::*:role/{name}"]
        external_id = config.organization.external_id
    else:
        roles = [a.role_arn for a in config.accounts]
        external_id = next((a.external_id for a in config.accounts if a.external_id), None)
    crawler: list[dict[str, Any]] = [
        {
            "Sid": "AssumeMemberRoles",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": roles,
        },
        {
            "Sid": "EcrCrawlerWhoAmI",
            "Effect": "Allow",
            "Action": "sts:GetCallerIdentity",
            "Resource": "*",
        },
    ]
    if config.organization is not None:
        crawler.append(
            {
                "Sid": "DiscoverAccounts",
                "Effect": "Allow",
                "Action": [
                    "organizations:ListAccounts",
                    "organizations:ListAccountsForParent",
                    "organizations:ListOrganizationalUnitsForParent",
                ],
                "Resource": "*",
            }
        )
    trust: dict[str, Any] = {
        "Effect": "Allow",
        # Replace with the role or user the crawler runs as (auth.role_arn when set).
        "Principal": {
            "AWS": config.auth.role_arn or "arn:aws:iam::CRAWLER_ACCOUNT_ID:role/ecr-crawler"
        },
        "Action": "sts:AssumeRole",
    }
    if external_id:
        trust["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return {
        "crawler_policy": {"Version": "2012-10-17", "Statement": crawler},
        "member_role_policy": policy_document(config),
        "member_role_trust_policy": {"Version": "2012-10-17", "Statement": [trust]},
    }
