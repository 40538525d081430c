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
