"""ECR as it is in 2026 (issue 17), as the records show it: managed signing and account
settings, replication status, the calls made per image, and each new call denied
(tests/registry_model.py models what moto lacks; creation templates and the newer enum values:
tests/test_registry_templates.py)."""

from __future__ import annotations

from typing import Any

import pytest
from awsproxy import AwsProxy, Rule
from conftest import ecr_client, make_config, run_scan
from registry_model import (
    ACCOUNT,
    AUDIT_PROFILE,
    RELEASE_PROFILE,
    REPLICATION_FAILURE,
    SIGNING_FAILURE,
    model_registry,
    replication_rule,
    signing_rule,
    template,
)

REGION = "us-east-1"
SIGNING = {"collect.signing": True}
REPLICATION = {"collect.replication": True}
REGISTRY = {"collect.registry": True}
PARTNER = "210987654321"
FAILED = ("us-west-2", PARTNER)


@pytest.fixture
def orders(registry: str) -> dict[str, str]:
    """api/orders' image digests by tag in us-east-1, and its cosign signature's as "sig"."""
    details = ecr_client(registry, REGION).describe_images(repositoryName="api/orders")
    digests = {}
    for detail in details["imageDetails"]:
        for tag in detail.get("imageTags", ["sig"]):
            digests[tag] = detail["imageDigest"]
    return digests


def _images(sink: Any, repository: str) -> dict[str, Any]:
    return {i.image_digest: i for i in sink.of("image") if i.repository_name == repository}


def _asked(proxy: AwsProxy, operation: str) -> list[tuple[str, str]]:
    """(repository, digest) of every `operation` call the scan makes from now on."""
    seen: list[tuple[str, str]] = []

    def hook(op: str, region: str, payload: dict[str, Any]) -> None:
        if op == operation:
            seen.append((payload["repositoryName"], payload["imageId"]["imageDigest"]))

    proxy.hooks.append(hook)
    return seen


# -- managed signing -------------------------------------------------------------------------


def test_registry_record_has_signing_rules_and_account_settings(proxy: AwsProxy) -> None:
    """The registry record carries the signing rules ({} where none) and the account settings."""
    model_registry(proxy, signing={REGION: [signing_rule(RELEASE_PROFILE, "api/*")]})
    summary, sink = run_scan(make_config(proxy, regions=[REGION, "eu-west-1"], **REGISTRY))
    registries = {r.region: r for r in sink.of("registry")}
    assert registries[REGION].signing_configuration == {
        "rules": [
            {
                "signing_profile_arn": RELEASE_PROFILE,
                "repository_filters": [{"filter": "api/*", "filter_type": "WILDCARD_MATCH"}],
            }
        ]
    }
    assert registries["eu-west-1"].signing_configuration == {}
    for record in registries.values():
        assert (record.basic_scan_type_version, record.registry_policy_scope) == ("CLAIR", "V2")
        assert record.blob_mounting == "DISABLED"
    assert not sink.of("error")
    assert summary.status == "complete"


def test_signed_by_managed_signing_a_referrer_or_neither(
    proxy: AwsProxy, orders: dict[str, str]
) -> None:
    """In a covered repository: COMPLETE is signed by managed signing, a cosign referrer alone
    is signed by referrer, FAILED and IN_PROGRESS without a referrer are not signed; the
    statuses are one per profile; an uncovered repository's images are not signed, with []."""
    rules = [signing_rule(RELEASE_PROFILE, "api/*"), signing_rule(AUDIT_PROFILE, "*/orders")]
    statuses = {orders["2.2.0"]: None, orders["2.1.0"]: "FAILED", orders["2.0.0"]: "IN_PROGRESS"}
    model_registry(proxy, signing={REGION: rules}, signing_statuses=statuses)
    _, sink = run_scan(make_config(proxy, regions=[REGION], **SIGNING))
    images = _images(sink, "api/orders")
    signed = images[orders["2.2.0"]]
    assert (signed.signed, signed.signed_by, signed.signing_statuses) == ("yes", ["referrer"], [])
    failed = images[orders["2.1.0"]]
    assert (failed.signed, failed.signed_by) == ("no", [])
    assert [(s.signing_profile_arn, s.status) for s in failed.signing_statuses] == [
        (RELEASE_PROFILE, "FAILED"),
        (AUDIT_PROFILE, "FAILED"),
    ]
    code, reason = SIGNING_FAILURE
    assert {(s.failure_code, s.failure_reason) for s in failed.signing_statuses} == {(code, reason)}
    assert images[orders["2.0.0"]].signed == "no"
    for image in _images(sink, "web/frontend").values():
        assert (image.signed, image.signing_statuses) == ("no", [])


def test_managed_signing_complete_is_signed(proxy: AwsProxy, orders: dict[str, str]) -> None:
    """A COMPLETE status for any profile signs the image; with its referrer it names both."""
    model_registry(proxy, signing={REGION: [signing_rule(RELEASE_PROFILE)]})
    _, sink = run_scan(make_config(proxy, regions=[REGION], **SIGNING))
    images = _images(sink, "api/orders")
    assert images[orders["2.0.0"]].signed_by == ["managed_signing"]
    assert images[orders["2.2.0"]].signed_by == ["managed_signing", "referrer"]
    assert images[orders["2.0.0"]].signing_statuses[0].failure_code is None
    assert all(i.signed == "yes" for i in _images(sink, "web/frontend").values())


def test_signed_is_unknown_without_the_whole_repository(
    proxy: AwsProxy, orders: dict[str, str]
) -> None:
    """Without manifests the images come page by page, so a signature may be on another page:
    an image without a COMPLETE status is unknown, not unsigned."""
    model_registry(
        proxy,
        signing={REGION: [signing_rule(RELEASE_PROFILE, "api/*")]},
        signing_statuses={orders["2.1.0"]: "FAILED"},
    )
    config = make_config(proxy, regions=[REGION], **SIGNING, **{"collect.manifests": "off"})
    _, sink = run_scan(config)
    images = _images(sink, "api/orders")
    assert images[orders["2.1.0"]].signed == "unknown"
    assert images[orders["2.0.0"]].signed == "yes"


def test_signing_status_is_asked_only_for_covered_images(
    proxy: AwsProxy, orders: dict[str, str]
) -> None:
    """DescribeImageSigningStatus once per image of a covered repository, never for the
    signature attached to one; none without a rule, none with the option off."""
    model_registry(proxy, signing={REGION: [signing_rule(RELEASE_PROFILE, "api/*")]})
    asked = _asked(proxy, "DescribeImageSigningStatus")
    run_scan(make_config(proxy, regions=[REGION], **SIGNING))
    assert sorted(asked) == sorted(("api/orders", orders[t]) for t in ("2.0.0", "2.1.0", "2.2.0"))
    asked.clear()
    _, sink = run_scan(make_config(proxy, regions=[REGION], **REGISTRY))
    assert asked == []
    assert proxy.calls["GetSigningConfiguration"] == 2
    assert all(i.signing_statuses is None and i.signed is None for i in sink.of("image"))
    model_registry(proxy)
    run_scan(make_config(proxy, regions=[REGION], **SIGNING))
    assert asked == []


# -- replication ----------------------------------------------------------------------------


def test_replication_statuses_per_destination(proxy: AwsProxy, orders: dict[str, str]) -> None:
    """Each image of a replicated repository has a status per destination, the failed one with
    its failure code; an image no rule covers has []."""
    rules = [replication_rule([("eu-west-1", ACCOUNT), FAILED], "api/")]
    model_registry(proxy, replication={REGION: rules}, failed_destination=FAILED)
    _, sink = run_scan(make_config(proxy, regions=[REGION], **REPLICATION, **REGISTRY))
    image = _images(sink, "api/orders")[orders["stable"]]
    assert [
        (s.region, s.registry_id, s.status, s.failure_code) for s in image.replication_statuses
    ] == [
        ("eu-west-1", ACCOUNT, "COMPLETE", None),
        ("us-west-2", PARTNER, "FAILED", REPLICATION_FAILURE),
    ]
    assert all(i.replication_statuses == [] for i in _images(sink, "web/frontend").values())
    [registry] = sink.of("registry")
    assert registry.replication_configuration["rules"][0]["repository_filters"] == [
        {"filter": "api/", "filter_type": "PREFIX_MATCH"}
    ]


def test_replication_status_is_asked_only_for_covered_images(proxy: AwsProxy) -> None:
    """DescribeImageReplicationStatus once per image of a covered repository (artifacts too:
    they are replicated with it); none without rules, none with the option off."""
    model_registry(proxy, replication={REGION: [replication_rule([FAILED], "web/")]})
    asked = _asked(proxy, "DescribeImageReplicationStatus")
    _, sink = run_scan(make_config(proxy, regions=[REGION], **REPLICATION))
    web = _images(sink, "web/frontend")
    assert sorted(asked) == sorted(("web/frontend", d) for d in web)
    asked.clear()
    _, sink = run_scan(make_config(proxy, regions=[REGION], **REGISTRY))
    assert asked == []
    assert all(i.replication_statuses is None for i in sink.of("image"))
    model_registry(proxy)  # moto's own rules: none
    run_scan(make_config(proxy, regions=[REGION], **REPLICATION))
    assert asked == []


# -- denied calls ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "settings"),
    [
        ("GetSigningConfiguration", REGISTRY),
        ("DescribeRepositoryCreationTemplates", REGISTRY),
        ("DescribeImageSigningStatus", SIGNING),
        ("DescribeImageReplicationStatus", REPLICATION),
    ],
)
def test_denied_call_is_null_and_one_error(
    proxy: AwsProxy, operation: str, settings: dict[str, bool]
) -> None:
    """A denied new call: its field null (no record for templates), one optional error naming
    the IAM action, everything else collected and the scan complete."""
    model_registry(
        proxy,
        signing={REGION: [signing_rule(RELEASE_PROFILE, "api/*")]},
        templates={REGION: [template("prod")]},
        replication={REGION: [replication_rule([FAILED], "api/")]},
    )
    proxy.rules.append(Rule("access_denied", operation=operation))
    summary, sink = run_scan(make_config(proxy, regions=[REGION], **settings))
    [error] = sink.of("error")
    assert (error.operation, error.optional) == (operation, True)
    assert f"add ecr:{operation} to the crawler's IAM policy" in error.message
    assert summary.status == "complete"
    orders = _images(sink, "api/orders").values()
    if operation == "GetSigningConfiguration":
        assert sink.of("registry")[0].signing_configuration is None
    elif operation == "DescribeRepositoryCreationTemplates":
        assert sink.of("registry")
        assert not sink.of("repository_creation_template")
    elif operation == "DescribeImageSigningStatus":
        assert all(i.signing_statuses is None for i in orders)
        assert {i.signed for i in orders} == {"yes", "unknown"}  # the referrer still counts
    else:
        assert all(i.replication_statuses is None for i in orders)


# -- an unreadable configuration -----------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "settings"),
    [("GetSigningConfiguration", SIGNING), ("DescribeRegistry", REPLICATION)],
)
def test_unreadable_rules_leave_the_image_fields_unknown(
    proxy: AwsProxy, operation: str, settings: dict[str, bool]
) -> None:
    """When the registry's rules cannot be read, no image is known to be uncovered: its
    statuses are null and it is not called unsigned (a referrer still signs it)."""
    model_registry(
        proxy,
        signing={REGION: [signing_rule(RELEASE_PROFILE)]},
        replication={REGION: [replication_rule([FAILED])]},
    )
    proxy.rules.append(Rule("access_denied", operation=operation))
    _, sink = run_scan(make_config(proxy, regions=[REGION], **settings))
    images = sink.of("image")
    if operation == "GetSigningConfiguration":
        assert all(i.signing_statuses is None for i in images)
        assert "no" not in {i.signed for i in images}
    else:
        assert all(i.replication_statuses is None for i in images)
