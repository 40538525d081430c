"""The least-privilege IAM policy for a config: the IAM actions of the ECR operations a scan with
its `collect` options calls, and sts:GetCallerIdentity (the account id, and proof that the
credentials work), nothing more."""

from __future__ import annotations

from typing import Any

from crawler.config import Config

# The ECR operations a scan calls, by what turns them on (crawler/collect.py, crawler/ecr/).
# tests/test_policy.py checks them against the calls scans make, counted at the test proxy.
# Every scan: repositories and images (DescribeImages lists every image, archived too; neither
# ListImages nor GetAuthorizationToken, which only `docker pull` needs, is ever called).
ALWAYS = ("DescribeRepositories", "DescribeImages")
# collect.manifests "new" or "all": the manifests, and whether BatchGetImage updates the
# crawler's pull times (asked once per account-region, for a warning).
MANIFESTS = ("BatchGetImage", "ListPullTimeUpdateExclusions")
# collect.referrers: the referrers of each manifest fetched, so none with manifests off.
REFERRERS = ("ListImageReferrers",)
# collect.scan_findings "summary" or "full", or collect.registry: how the registry scans,
# learned once per account-region (GetAccountSetting BASIC_SCAN_TYPE_VERSION).
SCANNING = ("GetRegistryScanningConfiguration", "GetAccountSetting")
# collect.scan_findings "summary" or "full": each repository's scanning (25 a call), and the
# result of each image DescribeImages carries none for. Whether it does depends on the
# registry's scanning (only Clair basic scanning), which a policy written ahead cannot know.
SCAN_RESULTS = ("BatchGetRepositoryScanningConfiguration", "DescribeImageScanFindings")
# collect.registry: the registry record (GetAccountSetting: REGISTRY_POLICY_SCOPE, BLOB_MOUNTING).
REGISTRY = (
    "DescribeRegistry",
    "GetRegistryPolicy",
    "DescribePullThroughCacheRules",
    "ListPullTimeUpdateExclusions",
    "GetAccountSetting",
    "GetSigningConfiguration",
    "DescribeRepositoryCreationTemplates",
)
# collect.signing: the registry's signing rules, then each covered image's signing status.
SIGNING = ("GetSigningConfiguration", "DescribeImageSigningStatus")
# collect.replication: the registry's replication rules, then each covered image's status.
REPLICATION = ("DescribeRegistry", "DescribeImageReplicationStatus")
POLICIES = ("GetLifecyclePolicy", "GetRepositoryPolicy")
TAGS = ("ListTagsForResource",)
# IAM actions an operation needs besides its own. ListImageReferrers, in botocore's ECR model:
# "The IAM principal invoking this operation must have the ecr:BatchGetImage permission."
ALSO_NEEDS = {"ListImageReferrers": ("BatchGetImage",)}


def ecr_operations(config: Config) -> list[str]:
    """The ECR operations a scan with `config` may call, each once, in a stable order."""
    collect = config.collect
    manifests = collect.manifests != "off"
    scan_results = collect.scan_findings != "off"
    groups = (
        (True, ALWAYS),
        (manifests, MANIFESTS),
        (manifests and collect.referrers, REFERRERS),
        (scan_results or collect.registry, SCANNING),
        (scan_results, SCAN_RESULTS),
        (collect.registry, REGISTRY),
        (collect.signing, SIGNING),
        (collect.replication, REPLICATION),
        (collect.policies, POLICIES),
        (collect.tags, TAGS),
    )
    return list(dict.fromkeys(op for wanted, group in groups if wanted for op in group))


def ecr_actions(config: Config) -> list[str]:
    """The IAM actions of the operations a scan with `config` may call, each once."""
    operations = ecr_operations(config)
    needed = (action for op in operations for action in (op, *ALSO_NEEDS.get(op, ())))
    return [f"ecr:{action}" for action in dict.fromkeys(needed)]


# collect.inspector (with scan results): enhanced registries' results in bulk
# (crawler/ecr/inspector.py); the findings themselves with scan_findings: full.
INSPECTOR = ("ListCoverage", "ListFindingAggregations")
INSPECTOR_FINDINGS = ("ListFindings",)


def actions(config: Config) -> list[str]:
    """Every IAM action a scan with `config` needs on its accounts' resources."""
    collect = config.collect
    inspector: tuple[str, ...] = ()
    if collect.inspector and collect.scan_findings != "off":
        inspector = INSPECTOR + (INSPECTOR_FINDINGS if collect.scan_findings == "full" else ())
    return ecr_actions(config) + [f"inspector2:{op}" for op in inspector]


def policy_document(config: Config) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EcrCrawlerReadOnly",
                "Effect": "Allow",
                "Action": actions(config),
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
