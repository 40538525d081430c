"""Registry and repository settings, and the pull-time update exclusion check."""

from __future__ import annotations

from awsproxy import AwsProxy, Rule
from conftest import make_config, run_scan
from structlog.testing import capture_logs

from crawler.ecr.registry import role_arn

SETTINGS = {"collect.registry": True, "collect.policies": True, "collect.tags": True}
MOTO_PRINCIPAL = "arn:aws:sts::123456789012:user/moto"


def test_registry_record_per_region(proxy: AwsProxy) -> None:
    """A registry record per region with scanning rules, replication, policy and cache rules."""
    _, sink = run_scan(make_config(proxy, regions=["us-east-1", "eu-west-1"], **SETTINGS))
    registries = {r.region: r for r in sink.of("registry")}
    assert set(registries) == {"us-east-1", "eu-west-1"}
    registry = registries["eu-west-1"]
    assert registry.scanning_configuration == {
        "scan_type": "BASIC",
        "rules": [
            {
                "scan_frequency": "SCAN_ON_PUSH",
                "repository_filters": [{"filter": "web/*", "filter_type": "WILDCARD"}],
            }
        ],
    }
    assert registry.replication_configuration == {"rules": []}
    assert registry.registry_policy == {}  # none set: not found is data
    assert registry.pull_through_cache_rules == []


def test_repository_policies_and_tags(proxy: AwsProxy) -> None:
    """Lifecycle and repository policies as parsed JSON ({} when none) and tags as a map."""
    summary, sink = run_scan(make_config(proxy, regions=["us-east-1"], **SETTINGS))
    repos = {r.repository_name: r for r in sink.of("repository")}
    assert repos["web/frontend"].lifecycle_policy["rules"][0]["action"] == {"type": "expire"}
    assert repos["api/orders"].repository_policy["Statement"][0]["Sid"] == "PullFromProd"
    assert repos["base/python"].lifecycle_policy == {}
    assert repos["base/python"].repository_policy == {}
    assert repos["web/frontend"].tags == {"team": "web", "env": "prod"}
    assert repos["base/python"].tags == {}
    assert summary.status == "complete"


def test_denied_optional_call_is_null_and_one_error_each(proxy: AwsProxy) -> None:
    """Denied GetLifecyclePolicy: null field, an optional error naming the IAM action,
    everything else collected and the scan complete."""
    proxy.rules.append(Rule("access_denied", operation="GetLifecyclePolicy"))
    summary, sink = run_scan(make_config(proxy, regions=["us-east-1"], **SETTINGS))
    repos = sink.of("repository")
    assert all(r.lifecycle_policy is None for r in repos)
    assert all(r.tags is not None for r in repos)
    errors = sink.of("error")
    assert len(errors) == len(repos)
    assert {(e.operation, e.optional) for e in errors} == {("GetLifecyclePolicy", True)}
    assert "add ecr:GetLifecyclePolicy to the crawler's IAM policy" in errors[0].message
    assert summary.status == "complete"


def test_warns_once_per_principal_when_the_crawler_updates_pull_times(proxy: AwsProxy) -> None:
    """Not excluded from pull-time updates: one warning per principal, naming every region."""
    with capture_logs() as logs:
        _, sink = run_scan(make_config(proxy, regions=["us-east-1", "eu-west-1"], **SETTINGS))
    warnings = [e for e in logs if "register-pull-time-update-exclusion" in e["event"]]
    assert len(warnings) == 1
    assert f"--principal-arn {MOTO_PRINCIPAL}" in warnings[0]["event"]
    assert "for r in eu-west-1 us-east-1;" in warnings[0]["event"]
    assert all(r.crawler_principal_excluded is False for r in sink.of("registry"))


def test_no_warning_when_the_crawler_is_excluded(proxy: AwsProxy) -> None:
    """When the registry excludes the crawler's principal, the record says so and no warning."""
    proxy.responses["ListPullTimeUpdateExclusions"] = lambda region, request: {
        "pullTimeUpdateExclusions": [MOTO_PRINCIPAL]
    }
    with capture_logs() as logs:
        _, sink = run_scan(make_config(proxy, regions=["us-east-1"], **SETTINGS))
    assert not [e for e in logs if "pull" in e["event"]]
    assert [r.crawler_principal_excluded for r in sink.of("registry")] == [True]


def test_assumed_role_session_maps_to_its_role() -> None:
    """Exclusions name roles, so an assumed-role session ARN is compared as its role ARN."""
    assert (
        role_arn("arn:aws:sts::123456789012:assumed-role/Inventory/ecr-crawler")
        == "arn:aws:iam::123456789012:role/Inventory"
    )
    assert role_arn("arn:aws:iam::123456789012:user/ci") == "arn:aws:iam::123456789012:user/ci"
