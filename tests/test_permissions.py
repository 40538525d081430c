"""`ecr-crawler permissions`: every action tried once per region, failures with the fix to paste."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from awsproxy import AwsProxy, Rule
from conftest import cli

from crawler.config import load_config
from crawler.policy import ecr_actions

ALL_OPTIONS = (
    "collect:\n  scan_findings: full\n  policies: true\n  tags: true\n  registry: true\n"
    "  referrers: true\n  signing: true\n  replication: true\n"
    "retry:\n  base_delay_seconds: 0.01\n  max_delay_seconds: 0.05\n"
)
ECR_OPERATIONS = frozenset(botocore.session.get_session().get_service_model("ecr").operation_names)


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(ALL_OPTIONS)
    return str(path)


def run_permissions(env: dict[str, str], config: str, *extra: str) -> tuple[int, dict[str, Any]]:
    result = cli(
        "permissions",
        "-c",
        config,
        "--regions",
        "us-east-1,eu-west-1",
        "--format",
        "json",
        *extra,
        env=env,
    )
    return result.code, json.loads(result.stdout) if result.stdout else {}


def test_everything_allowed_exits_0(aws_env: dict[str, str], proxy: AwsProxy, config: str) -> None:
    """With every permission, each action of the config's policy is tried and ok in both
    regions, and nothing is missing."""
    code, report = run_permissions(aws_env, config)
    assert code == 0
    assert report["missing_actions"] == []
    policy = ecr_actions(load_config(config))
    for region in ("us-east-1", "eu-west-1"):
        tried = [p for p in report["probes"] if p["region"] == region]
        assert [p["action"] for p in tried] == policy
        assert {p["status"] for p in tried} == {"ok"}
    assert report["account_id"] == "123456789012"
    assert proxy.calls["DescribeRepositories"] == 2  # one page of one item per region


@pytest.mark.parametrize("text", ["", ALL_OPTIONS])
def test_probes_call_exactly_the_policys_actions(
    aws_env: dict[str, str], proxy: AwsProxy, tmp_path: Path, text: str
) -> None:
    """The ECR calls the probe makes are the policy's actions, each once per region: none
    the policy lacks (it would fail a user holding exactly that policy), none left untried."""
    path = tmp_path / "probe.yaml"
    path.write_text(text)
    code, report = run_permissions(aws_env, str(path))
    assert code == 0, report
    policy = ecr_actions(load_config(path))
    made = {f"ecr:{op}": n for op, n in proxy.calls.items() if op in ECR_OPERATIONS}
    assert made == dict.fromkeys(policy, 2)


def test_scan_result_calls_are_tried_as_the_scan_makes_them(
    aws_env: dict[str, str], proxy: AwsProxy, config: str
) -> None:
    """GetAccountSetting is asked for BASIC_SCAN_TYPE_VERSION and
    BatchGetRepositoryScanningConfiguration for one repository name."""
    asked: list[tuple[str, dict[str, Any]]] = []
    proxy.hooks.append(lambda operation, region, payload: asked.append((operation, payload)))
    code, _ = run_permissions(aws_env, config)
    assert code == 0
    settings = [p for op, p in asked if op == "GetAccountSetting"]
    assert settings == [{"name": "BASIC_SCAN_TYPE_VERSION"}] * 2
    scanning = "BatchGetRepositoryScanningConfiguration"
    names = [p["repositoryNames"] for op, p in asked if op == scanning]
    assert [len(n) for n in names] == [1, 1]


@pytest.mark.parametrize(
    "operation", ["GetAccountSetting", "BatchGetRepositoryScanningConfiguration"]
)
def test_denied_scan_result_action_is_missing(
    aws_env: dict[str, str], proxy: AwsProxy, config: str, operation: str
) -> None:
    """A denied scan-result action exits 1 and is the one action to add."""
    proxy.rules.append(Rule("access_denied", operation=operation))
    code, report = run_permissions(aws_env, config)
    assert code == 1
    assert report["missing_actions"] == [f"ecr:{operation}"]


def test_denied_actions_are_named_with_the_statement_to_add(
    aws_env: dict[str, str], proxy: AwsProxy, config: str
) -> None:
    """A denied required and a denied optional action: exit 1, both in the statement."""
    proxy.rules += [
        Rule("access_denied", operation="DescribeImages"),
        Rule("access_denied", operation="GetLifecyclePolicy", region="eu-west-1"),
    ]
    code, report = run_permissions(aws_env, config)
    assert code == 1
    assert report["missing_actions"] == ["ecr:DescribeImages", "ecr:GetLifecyclePolicy"]
    assert report["policy_statement"]["Action"] == report["missing_actions"]
    denied = {(p["action"], p["region"]) for p in report["probes"] if p["status"] == "denied"}
    assert ("ecr:GetLifecyclePolicy", "us-east-1") not in denied
    assert ("ecr:GetLifecyclePolicy", "eu-west-1") in denied


def test_table_shows_the_denial_and_the_fix(
    aws_env: dict[str, str], proxy: AwsProxy, config: str
) -> None:
    """The human table marks the denied action and prints the statement ready to paste."""
    proxy.rules.append(Rule("access_denied", operation="ListTagsForResource"))
    result = cli("permissions", "-c", config, "--regions", "us-east-1", env=aws_env)
    assert result.code == 1
    assert "denied" in result.stdout
    assert '"ecr:ListTagsForResource"' in result.stdout
    assert "Add this statement" in result.stdout


def test_region_not_enabled_is_reported_not_failed(
    aws_env: dict[str, str], proxy: AwsProxy, config: str
) -> None:
    """An opt-in region the account has not enabled says so and its other probes are skipped."""
    proxy.rules.append(Rule("not_enabled", region="eu-west-1"))
    code, report = run_permissions(aws_env, config)
    rows = [p for p in report["probes"] if p["region"] == "eu-west-1"]
    assert rows[0]["status"] == "not enabled"
    assert {p["status"] for p in rows[1:]} == {"skipped"}
    assert code == 0


def test_long_lived_keys_are_warned_about(aws_env: dict[str, str], config: str) -> None:
    """AKIA keys from the environment give a warning suggesting a role."""
    _, report = run_permissions(aws_env, config)
    assert any("long-lived access keys" in w for w in report["warnings"])


def test_rejected_credentials_exit_3(aws_env: dict[str, str], proxy: AwsProxy, config: str) -> None:
    """Credentials STS rejects: exit 3, one line."""
    proxy.rules.append(Rule("reject_credentials", operation="GetCallerIdentity"))
    result = cli("permissions", "-c", config, "--regions", "us-east-1", env=aws_env)
    assert result.code == 3
    assert "rejected the credentials" in result.stderr
