"""The checks that read ECR's 2026 settings (issue 17), over records built here: unsigned images
where a signing rule applies, failed signing and replication, weak creation templates, the V1
registry policy scope, and tag mutability with exclusions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from crawler.compliance import Report, run_checks
from crawler.compliance.formats import to_sarif
from crawler.records import (
    Error,
    Finding,
    Image,
    Registry,
    ReplicationStatus,
    Repository,
    RepositoryCreationTemplate,
    ScanRecord,
    ScanSummary,
    SigningStatus,
    TagMutabilityExclusionFilter,
)

NOW = datetime(2026, 11, 1, tzinfo=UTC)
ACCOUNT = "123456789012"
SCOPE: dict[str, Any] = {"scan_id": "s1", "account_id": ACCOUNT, "region": "us-east-1"}
PROFILE = "arn:aws:signer:us-east-1:123456789012:/signing-profiles/release"
HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
RULES = {
    "rules": [
        {
            "signing_profile_arn": PROFILE,
            "repository_filters": [{"filter": "prod/*", "filter_type": "WILDCARD_MATCH"}],
        }
    ]
}
NEW_CHECKS = (
    "images-unsigned",
    "signing-failed",
    "replication-failed",
    "creation-template-weak",
    "registry-policy-scope-v1",
)


def _registry(**fields: Any) -> Registry:
    return Registry(**SCOPE, registry_id=ACCOUNT, **fields)


def _repo(name: str, **fields: Any) -> Repository:
    return Repository(**SCOPE, registry_id=ACCOUNT, repository_name=name, **fields)


def _image(repository: str, digest: str, **fields: Any) -> Image:
    return Image(
        **SCOPE,
        registry_id=ACCOUNT,
        repository_name=repository,
        image_digest=digest,
        image_tags=fields.pop("image_tags", []),
        image_uri=f"{HOST}/{repository}@{digest}",
        image_pushed_at=NOW,
        **fields,
    )


def _template(prefix: str, **fields: Any) -> RepositoryCreationTemplate:
    return RepositoryCreationTemplate(**SCOPE, registry_id=ACCOUNT, prefix=prefix, **fields)


def _summary() -> ScanSummary:
    return ScanSummary(
        scan_id="s1",
        account_id=ACCOUNT,
        started_at=NOW,
        finished_at=NOW,
        status="complete",
        regions={},
        regions_skipped=[],
    )


def _run(*records: ScanRecord) -> Report:
    return run_checks([*records, _summary()], as_of=NOW)


def _outcome(report: Report, check_id: str) -> tuple[str, int, int]:
    """(status, checked, not evaluated) of one check."""
    outcome = next(o for o in report.outcomes if o.rule.id == check_id)
    return outcome.status, outcome.checked, outcome.unknown


def _found(report: Report, check_id: str) -> dict[str, Finding]:
    """The open findings of one check, by resource."""
    return {f.resource: f for f in report.open if f.check_id == check_id}


def _signed(verdict: str, by: list[str], statuses: list[SigningStatus]) -> dict[str, Any]:
    return {"signed": verdict, "signed_by": by, "signing_statuses": statuses}


COMPLETE = SigningStatus(signing_profile_arn=PROFILE, status="COMPLETE")
FAILED = SigningStatus(
    signing_profile_arn=PROFILE,
    status="FAILED",
    failure_code="SigningProfileAccessDenied",
    failure_reason="The pushing principal may not use the profile.",
)


# -- images-unsigned -------------------------------------------------------------------------


def test_unsigned_images_in_covered_repositories() -> None:
    """In a covered repository an image signed by neither source is a HIGH finding; signed by
    managed signing or by a referrer passes; signatures, archived images and platform images of
    an index are not counted; an uncovered repository is not judged."""
    records: list[ScanRecord] = [
        _registry(signing_configuration=RULES),
        _repo("prod/api"),
        _image("prod/api", "sha256:a", **_signed("yes", ["managed_signing"], [COMPLETE])),
        _image("prod/api", "sha256:b", **_signed("yes", ["referrer"], [])),
        _image("prod/api", "sha256:c", image_size_in_bytes=2_000_000, **_signed("no", [], [])),
        _image("prod/api", "sha256:d", index_digests=["sha256:i"], **_signed("no", [], [])),
        _image("prod/api", "sha256:s", subject_manifest_digest="sha256:b", signed="unknown"),
        _image("prod/api", "sha256:z", image_status="ARCHIVED", **_signed("no", [], [])),
        _repo("dev/api"),
        _image("dev/api", "sha256:e", **_signed("no", [], [])),
    ]
    report = _run(*records)
    [finding] = _found(report, "images-unsigned").values()
    assert (finding.severity, finding.repository_name) == ("HIGH", "prod/api")
    assert finding.details["images"] == 1
    assert finding.details["examples"] == [f"{HOST}/prod/api@sha256:c"]
    assert finding.details["signing_profiles"] == [PROFILE]
    assert "2.0 MB" in finding.message
    assert _outcome(report, "images-unsigned") == ("failed", 1, 0)


def test_unsigned_is_not_applicable_without_rules_and_unknown_without_data() -> None:
    """No signing rule anywhere: n/a. Without the registry record, or with `signed` unknown or
    not collected, the repository is not evaluated and the check says what it needs."""
    image = _image("prod/api", "sha256:a", **_signed("no", [], []))
    assert _outcome(_run(_registry(signing_configuration={}), image), "images-unsigned") == (
        "n/a",
        0,
        0,
    )
    skipped = _run(image)
    assert _outcome(skipped, "images-unsigned") == ("skipped", 0, 1)
    outcome = next(o for o in skipped.outcomes if o.rule.id == "images-unsigned")
    assert "collect.signing and collect.registry" in outcome.explanation
    for unknown in ("unknown", None):
        record = _image("prod/api", "sha256:a", signed=unknown)
        report = _run(_registry(signing_configuration=RULES), record)
        assert _outcome(report, "images-unsigned") == ("skipped", 0, 1)


def test_a_rule_without_filters_covers_every_repository() -> None:
    """SigningRule without repositoryFilters signs every image pushed to the registry."""
    every = {"rules": [{"signing_profile_arn": PROFILE}]}
    report = _run(
        _registry(signing_configuration=every),
        _image("anything/here", "sha256:a", **_signed("no", [], [])),
    )
    assert [f.repository_name for f in report.open if f.check_id == "images-unsigned"] == [
        "anything/here"
    ]


# -- signing-failed, replication-failed --------------------------------------------------------


def test_failed_signing_is_counted_by_profile_and_code() -> None:
    """A FAILED signing status is a finding with the failures by profile and code; COMPLETE
    and IN_PROGRESS pass; images without statuses leave the repository not evaluated."""
    in_progress = SigningStatus(signing_profile_arn=PROFILE, status="IN_PROGRESS")
    report = _run(
        _image("prod/api", "sha256:a", signing_statuses=[COMPLETE, FAILED]),
        _image("prod/api", "sha256:b", signing_statuses=[FAILED]),
        _image("prod/web", "sha256:c", signing_statuses=[in_progress]),
        _image("prod/db", "sha256:d"),
    )
    [finding] = _found(report, "signing-failed").values()
    assert finding.repository_name == "prod/api"
    assert finding.details["images"] == 2
    assert finding.details["failures"] == {f"{PROFILE}: SigningProfileAccessDenied": 2}
    assert _outcome(report, "signing-failed") == ("failed", 2, 1)


def test_failed_replication_is_counted_by_destination() -> None:
    """An image whose replication to one destination FAILED is a finding naming it; complete
    replications and repositories no rule covers pass; unread statuses are not evaluated."""
    done = ReplicationStatus(region="eu-west-1", registry_id=ACCOUNT, status="COMPLETE")
    failed = ReplicationStatus(
        region="us-west-2", registry_id="210987654321", status="FAILED", failure_code="Denied"
    )
    report = _run(
        _image("prod/api", "sha256:a", replication_statuses=[done, failed]),
        _image(
            "prod/api",
            "sha256:s",
            subject_manifest_digest="sha256:a",
            replication_statuses=[failed],
        ),
        _image("prod/web", "sha256:b", replication_statuses=[done]),
        _image("dev/api", "sha256:c", replication_statuses=[]),
        _image("dev/db", "sha256:d"),
    )
    [finding] = _found(report, "replication-failed").values()
    assert finding.repository_name == "prod/api"
    assert finding.details["images"] == 2  # the signature did not arrive either
    assert finding.details["destinations"] == {"us-west-2/210987654321: Denied": 2}
    assert _outcome(report, "replication-failed") == ("failed", 3, 1)


# -- creation-template-weak ----------------------------------------------------------------

LIFECYCLE = {"rules": [{"rulePriority": 1, "action": {"type": "expire"}}]}


def test_weak_creation_templates() -> None:
    """A template with movable tags or no lifecycle policy is a finding on registry/prefix
    naming what is weak; immutable with a lifecycle policy passes; tags default to MUTABLE."""
    latest = [TagMutabilityExclusionFilter(filter_type="WILDCARD", filter="latest")]
    report = _run(
        _registry(),
        _template(
            "prod",
            image_tag_mutability="IMMUTABLE_WITH_EXCLUSION",
            image_tag_mutability_exclusion_filters=latest,
            lifecycle_policy=LIFECYCLE,
        ),
        _template("cache", image_tag_mutability="IMMUTABLE", lifecycle_policy={}),
        _template("ROOT", lifecycle_policy=LIFECYCLE, applied_for=["CREATE_ON_PUSH"]),
    )
    found = _found(report, "creation-template-weak")
    assert set(found) == {f"{HOST}/cache", f"{HOST}/ROOT"}
    assert found[f"{HOST}/cache"].message.endswith("cache: no lifecycle policy")
    root = found[f"{HOST}/ROOT"]
    assert root.message.endswith("ROOT: tags are MUTABLE")
    assert (root.resource_type, root.details["applied_for"]) == ("registry", ["CREATE_ON_PUSH"])
    assert _outcome(report, "creation-template-weak") == ("failed", 3, 0)


def test_creation_templates_known_only_with_the_registry() -> None:
    """No registry record, or an error reading the templates: not evaluated; a registry
    without templates has nothing to judge."""
    denied = Error(
        **SCOPE,
        operation="DescribeRepositoryCreationTemplates",
        error_code="AccessDeniedException",
        message="denied",
        optional=True,
    )
    assert _outcome(_run(_repo("app")), "creation-template-weak") == ("skipped", 0, 1)
    assert _outcome(_run(_registry(), denied), "creation-template-weak") == ("skipped", 0, 1)
    assert _outcome(_run(_registry()), "creation-template-weak") == ("n/a", 0, 0)


# -- registry-policy-scope-v1 ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "status"), [("V1", "failed"), ("V2", "passed"), (None, "skipped")]
)
def test_registry_policy_scope(scope: str | None, status: str) -> None:
    """V1 is a LOW finding on the registry, V2 passes, an unread scope is not evaluated."""
    report = _run(_registry(registry_policy_scope=scope))
    assert _outcome(report, "registry-policy-scope-v1")[0] == status
    for finding in _found(report, "registry-policy-scope-v1").values():
        assert (finding.severity, finding.resource) == ("LOW", HOST)
        assert "REGISTRY_POLICY_SCOPE --value V2" in finding.remediation


# -- mutable-tags with exclusions ----------------------------------------------------------


@pytest.mark.parametrize(
    ("mutability", "exclusion", "fails"),
    [
        ("IMMUTABLE", None, False),
        ("IMMUTABLE_WITH_EXCLUSION", "latest", False),
        ("IMMUTABLE_WITH_EXCLUSION", "*", True),
        ("MUTABLE", None, True),
        ("MUTABLE_WITH_EXCLUSION", "v*", True),
        ("MUTABLE_WITH_EXCLUSION", "*", False),
    ],
)
def test_mutable_tags_with_exclusions(mutability: str, exclusion: str | None, fails: bool) -> None:
    """Immutable except a few named tags passes; an exclusion `*` matches every tag and turns
    the setting around; MUTABLE_WITH_EXCLUSION names the tags that cannot move."""
    filters = None
    if exclusion:
        filters = [TagMutabilityExclusionFilter(filter_type="WILDCARD", filter=exclusion)]
    report = _run(
        _repo(
            "app", image_tag_mutability=mutability, image_tag_mutability_exclusion_filters=filters
        )
    )
    found = list(_found(report, "mutable-tags").values())
    assert bool(found) == fails
    for finding in found:
        assert finding.details == {
            "image_tag_mutability": mutability,
            "exclusion_filters": [exclusion] if exclusion else [],
        }


# -- reports ---------------------------------------------------------------------------------


def test_new_checks_are_in_sarif_with_their_findings() -> None:
    """Every new check is a SARIF rule; a template finding is a located result whose
    fingerprint tells templates of one registry apart."""
    report = _run(
        _registry(registry_policy_scope="V1", signing_configuration=RULES),
        _template("a", lifecycle_policy={}),
        _template("b", lifecycle_policy={}),
        _image(
            "prod/api",
            "sha256:a",
            **_signed("no", [], [FAILED]),
            replication_statuses=[ReplicationStatus(region="eu-west-1", status="FAILED")],
        ),
    )
    run = to_sarif(report)["runs"][0]
    assert set(NEW_CHECKS) <= {rule["id"] for rule in run["tool"]["driver"]["rules"]}
    results = [r for r in run["results"] if r["ruleId"] in NEW_CHECKS]
    assert sorted(r["ruleId"] for r in results) == sorted([*NEW_CHECKS, "creation-template-weak"])
    levels = {r["ruleId"]: r["level"] for r in results}
    assert (levels["images-unsigned"], levels["registry-policy-scope-v1"]) == ("error", "note")
    prints = {json.dumps(r["partialFingerprints"]) for r in results}
    assert len(prints) == len(results)
