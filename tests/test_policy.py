"""`ecr-crawler policy`: exactly the IAM actions that the calls of a scan with the config need,
as a scan makes them (counted at the test proxy), not as policy.py lists them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from awsproxy import AwsProxy
from conftest import REGIONS, cli, make_config, run_scan
from inspector import model_inspector
from registry_model import model_registry, replication_rule, signing_rule
from scanning import model_scanning

from crawler.config import load_config
from crawler.policy import ecr_actions, policy_document

_MODELS = botocore.session.get_session()
ECR = _MODELS.get_service_model("ecr")
STS = _MODELS.get_service_model("sts")
INSPECTOR = _MODELS.get_service_model("inspector2")
EVERY_OPTION = {
    "collect.manifests": "all",
    "collect.referrers": True,
    "collect.scan_findings": "full",
    "collect.registry": True,
    "collect.policies": True,
    "collect.tags": True,
}
CONFIGS: dict[str, dict[str, Any]] = {
    "every collect option": EVERY_OPTION,
    "defaults": {},
    "nothing optional": {"collect.manifests": "off", "collect.scan_findings": "off"},
    "referrers without manifests": {"collect.manifests": "off", "collect.referrers": True},
    "registry without scan results": {"collect.registry": True, "collect.scan_findings": "off"},
    "signing, replication and Inspector": {
        "collect.manifests": "off",
        "collect.scan_findings": "full",
        "collect.signing": True,
        "collect.replication": True,
        "collect.inspector": True,
    },
    "settings, summary, no manifests": {
        "collect.manifests": "off",
        "collect.policies": True,
        "collect.tags": True,
    },
}


def documented_needs(operation: str) -> set[str]:
    """The other IAM actions an ECR operation needs, as botocore's ECR model documents them
    (ListImageReferrers: "must have the <code>ecr:BatchGetImage</code> permission")."""
    text = ECR.operation_model(operation).documentation or ""
    return set(re.findall(r"must have the <code>(ecr:\w+)</code> permission", text))


def needed_by(calls: set[str]) -> set[str]:
    """The IAM actions the calls `calls` (operation names, ECR's and STS's) need."""
    actions = set()
    for operation in calls:
        if operation in ECR.operation_names:
            actions |= {f"ecr:{operation}", *documented_needs(operation)}
        elif operation in STS.operation_names:
            actions.add(f"sts:{operation}")
        elif operation in INSPECTOR.operation_names:
            actions.add(f"inspector2:{operation}")
    return actions


def policy_actions(document: dict[str, Any]) -> list[str]:
    """Every action the document allows, in the order written, repeats kept."""
    actions: list[str] = []
    for statement in document["Statement"]:
        action = statement["Action"]
        actions += [action] if isinstance(action, str) else action
    return actions


@pytest.mark.parametrize("case", list(CONFIGS))
def test_policy_allows_exactly_the_calls_a_scan_makes(proxy: AwsProxy, case: str) -> None:
    """A denial-free scan's calls need exactly the policy's actions, each listed once. In
    AWS-native and enhanced scanning DescribeImages has no scan result, so every image that can
    have one is asked (DescribeImageScanFindings), as the policy must allow for any registry."""
    model_inspector(proxy, {"us-east-1": "AWS_NATIVE", "eu-west-1": "ENHANCED"})
    # A signing rule and a replication rule in each region, so that their per-image calls run.
    rules = {region: [signing_rule("arn:aws:signer:::/signing-profiles/p")] for region in REGIONS}
    copies = {r: [replication_rule([("us-west-2", "123456789012")])] for r in REGIONS}
    model_registry(proxy, signing=rules, replication=copies)
    config = make_config(proxy, REGIONS, **CONFIGS[case])
    summary, sink = run_scan(config)
    assert summary.status == "complete"
    assert sink.of("error") == []
    actions = policy_actions(policy_document(config))
    assert len(actions) == len(set(actions))
    assert set(actions) == needed_by(set(proxy.calls))


def test_every_collect_option_calls_every_scan_result_and_settings_operation(
    proxy: AwsProxy,
) -> None:
    """The scan behind the equality above does reach each optional call (so the equality holds
    no vacuous policy), and GetAccountSetting also for the registry's own settings."""
    model_scanning(proxy, {"us-east-1": "AWS_NATIVE"})
    run_scan(make_config(proxy, ["us-east-1"], **EVERY_OPTION))
    for operation in (
        "ListImageReferrers",
        "DescribeImageScanFindings",
        "BatchGetRepositoryScanningConfiguration",
        "GetRegistryScanningConfiguration",
        "DescribeRegistry",
        "GetLifecyclePolicy",
        "ListTagsForResource",
    ):
        assert proxy.calls[operation] > 0, operation
    # BASIC_SCAN_TYPE_VERSION, REGISTRY_POLICY_SCOPE and BLOB_MOUNTING
    assert proxy.calls["GetAccountSetting"] == 3


@pytest.mark.parametrize("manifests", ["off", "new", "all"])
def test_what_an_allowed_operation_needs_besides_itself_is_allowed(manifests: str) -> None:
    """Each other action that botocore's ECR model says an allowed operation needs is allowed
    too: ListImageReferrers needs ecr:BatchGetImage."""
    assert documented_needs("ListImageReferrers") == {"ecr:BatchGetImage"}
    overrides: dict[str, Any] = {**EVERY_OPTION, "collect.manifests": manifests}
    actions = set(ecr_actions(load_config(**overrides)))
    for action in actions:
        assert documented_needs(action.removeprefix("ecr:")) <= actions, action


def test_cli_prints_the_policy_of_the_config(tmp_path: Path) -> None:
    """`policy -c FILE` prints the document for FILE: ECR read actions, then the STS identity."""
    config = tmp_path / "c.yaml"
    config.write_text("collect:\n  referrers: true\n  scan_findings: full\n  tags: true\n")
    result = cli("policy", "-c", str(config), env={})
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document == policy_document(load_config(config))
    statements = document["Statement"]
    assert "ecr:ListTagsForResource" in statements[0]["Action"]
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
