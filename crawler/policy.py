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
