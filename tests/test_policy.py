"""`ecr-crawler policy`: exactly the IAM actions the config needs."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import cli

from crawler.config import load_config
from crawler.policy import BASE_ACTIONS, ecr_actions


def test_defaults_need_the_base_actions_and_the_pull_time_check() -> None:
    """The default config needs the base read actions plus ListPullTimeUpdateExclusions."""
    assert ecr_actions(load_config()) == [*BASE_ACTIONS, "ecr:ListPullTimeUpdateExclusions"]


def test_manifests_off_needs_only_the_base() -> None:
    """With nothing optional enabled, the policy is the base read actions."""
    assert ecr_actions(load_config(**{"collect.manifests": "off"})) == list(BASE_ACTIONS)


def test_cli_prints_a_policy_with_each_enabled_option(tmp_path: Path) -> None:
    """Each enabled collect option adds its actions to the printed policy, once."""
    config = tmp_path / "c.yaml"
    config.write_text(
        "collect:\n  referrers: true\n  scan_findings: full\n  registry: true\n"
        "  policies: true\n  tags: true\n"
    )
    result = cli("policy", "-c", str(config), env={})
    assert result.code == 0, result.stderr
    statements = json.loads(result.stdout)["Statement"]
    actions = statements[0]["Action"]
    assert len(actions) == len(set(actions))
    for action in (
        "ecr:ListImageReferrers",
        "ecr:DescribeImageScanFindings",
        "ecr:GetRegistryScanningConfiguration",
        "ecr:GetLifecyclePolicy",
        "ecr:ListTagsForResource",
    ):
        assert action in actions
    assert statements[1]["Action"] == "sts:GetCallerIdentity"


def test_organization_mode_prints_crawler_member_and_trust_policies(tmp_path: Path) -> None:
    """With organization:, the crawler may assume the member role and list accounts, and the
    member role trusts the crawler with the external id."""
    config = tmp_path / "org.yaml"
    config.write_text(
        "organization:\n  member_role_name: inventory\n  external_id: ext-1\n"
        "auth:\n  role_arn: arn:aws:iam::999999999999:role/crawler\n"
    )
    result = cli("policy", "-c", str(config), env={})
    documents = json.loads(result.stdout)
    crawler = {s["Sid"]: s for s in documents["crawler_policy"]["Statement"]}
    assert crawler["AssumeMemberRoles"]["Resource"] == ["arn:aws:iam::*:role/inventory"]
    assert "organizations:ListAccounts" in crawler["DiscoverAccounts"]["Action"]
    [trust] = documents["member_role_trust_policy"]["Statement"]
    assert trust["Principal"] == {"AWS": "arn:aws:iam::999999999999:role/crawler"}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": "ext-1"}}
    member = documents["member_role_policy"]["Statement"][0]["Action"]
    assert "ecr:DescribeImages" in member
