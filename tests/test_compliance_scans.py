"""The image scan checks over records in each scanning mode's shape (crawler.compliance.scans):
the same registry gives the same answer whichever call held its scan results."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from crawler.compliance import Outcome, run_checks
from crawler.media_types import DOCKER_LIST, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST
from crawler.records import (
    Error,
    Image,
    ImageManifest,
    ImageScanFindingsSummary,
    ImageScanStatus,
    ManifestChild,
    Registry,
    Repository,
    RepositoryScanningConfiguration,
    ScanRecord,
    ScanSummary,
)

NOW = datetime(2026, 11, 1, tzinfo=UTC)
ACCOUNT = "123456789012"
SCOPE: dict[str, Any] = {"scan_id": "s1", "account_id": ACCOUNT, "region": "us-east-1"}
IMAGE_CHECKS = (
    "images-never-scanned",
    "image-scan-failed",
    "vulnerable-images",
    "vulnerable-current-image",
)
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
MODES = ("clair", "aws_native", "enhanced")

# One registry as it is: what each image is, and what its latest scan said (None: never
# scanned). Statuses are the basic ones; enhanced scanning says ACTIVE where basic says
# COMPLETE.
TRUTH: list[tuple[str, str, list[str], str, str | None, dict[str, int]]] = [
    ("app", "sha256:app1", ["latest"], "image", "COMPLETE", {"HIGH": 2, "LOW": 1}),
    ("app", "sha256:app2", [], "image", None, {}),
    ("app", "sha256:app3", ["1.0"], "image", "FAILED", {}),
    ("app", "sha256:app4", ["2.0"], "image", "IN_PROGRESS", {}),
    ("app", "sha256:app5", ["3.0"], "image", "UNSUPPORTED_IMAGE", {}),
    ("app", "sha256:sig", [], "signature", None, {}),
    ("app", "sha256:old", ["0.1"], "archived", None, {}),
    ("multi", "sha256:idx", ["latest"], "index", None, {}),
    ("multi", "sha256:amd", [], "child", "COMPLETE", {"CRITICAL": 1}),
    ("multi", "sha256:arm", [], "child", None, {}),
    ("multi", "sha256:list", ["legacy"], "list", None, {}),
    ("charts", "sha256:chart", ["1.0.0"], "helm", None, {}),
    ("clean", "sha256:ok", ["latest"], "image", "COMPLETE", {}),
    ("clean", "sha256:pending", ["next"], "image", "PENDING", {}),
]
# What DescribeImages says, under Clair, of the things no scanner reads; the other modes never
# ask for them.
CLAIR_EXTRAS: dict[str, tuple[str, dict[str, int]]] = {
    "index": ("UNSUPPORTED_IMAGE", {}),
    "list": ("FAILED", {}),
    "signature": ("UNSUPPORTED_IMAGE", {}),
    "helm": ("FAILED", {}),
    "archived": ("COMPLETE", {"CRITICAL": 7}),
}


def _image(repository: str, digest: str, tags: list[str] | None = None, **fields: Any) -> Image:
    uri = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{repository}@{digest}"
    return Image(
        **SCOPE,
        registry_id=ACCOUNT,
        repository_name=repository,
        image_digest=digest,
        image_tags=tags or [],
        image_uri=uri,
        image_pushed_at=NOW,
        **fields,
    )


def _scan(status: str | None, counts: dict[str, int]) -> dict[str, Any]:
    """The two scan fields as the crawler fills them, from whichever call."""
    if status is None:
        return {}
    return {
        "image_scan_status": ImageScanStatus(status=status, description="as AWS said"),
        "image_scan_findings_summary": ImageScanFindingsSummary(
            image_scan_completed_at=NOW, finding_severity_counts=counts
        ),
    }


def _kind(kind: str) -> dict[str, Any]:
    kinds: dict[str, dict[str, Any]] = {
        "image": {"image_manifest_media_type": OCI_MANIFEST, "artifact_media_type": OCI_CONFIG},
        "child": {"image_manifest_media_type": OCI_MANIFEST, "index_digests": ["sha256:idx"]},
        "index": {"image_manifest_media_type": OCI_INDEX},
        "list": {"image_manifest_media_type": DOCKER_LIST},
        "signature": {"subject_manifest_digest": "sha256:app1"},
        "helm": {"image_manifest_media_type": OCI_MANIFEST, "artifact_media_type": HELM_CONFIG},
        "archived": {"image_status": "ARCHIVED"},
    }
    return kinds[kind]


def _registry(scan_type: str, version: str | None, frequency: str = "SCAN_ON_PUSH") -> Registry:
    rules = [
        {
            "scan_frequency": frequency,
            "repository_filters": [{"filter": "*", "filter_type": "WILDCARD"}],
        }
    ]
    return Registry(
        **SCOPE,
        registry_id=ACCOUNT,
        scanning_configuration={"scan_type": scan_type, "rules": rules},
        basic_scan_type_version=version,
    )


def _repo(name: str, frequency: str | None = "SCAN_ON_PUSH") -> Repository:
    """A repository; `frequency` None: its scanning configuration was not read (scan results
    not collected)."""
    scanning = (
        None
        if frequency is None
        else RepositoryScanningConfiguration(
            scan_on_push=frequency == "SCAN_ON_PUSH", scan_frequency=frequency
        )
    )
    return Repository(
        **SCOPE, registry_id=ACCOUNT, repository_name=name, scanning_configuration=scanning
    )


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


def _in_mode(mode: str) -> list[ScanRecord]:
    """TRUTH as a scan of the registry in `mode` records it."""
    frequency = "CONTINUOUS_SCAN" if mode == "enhanced" else "SCAN_ON_PUSH"
    registry = {
        "clair": _registry("BASIC", "CLAIR"),
        "aws_native": _registry("BASIC", "AWS_NATIVE"),
        "enhanced": _registry("ENHANCED", "AWS_NATIVE", frequency),
    }[mode]
    records: list[ScanRecord] = [registry]
    records += [_repo(name, frequency) for name in sorted({t[0] for t in TRUTH})]
    for repository, digest, tags, kind, status, counts in TRUTH:
        if mode == "enhanced" and status == "COMPLETE":
            status = "ACTIVE"
        if mode == "clair" and kind in CLAIR_EXTRAS:
            status, counts = CLAIR_EXTRAS[kind]
        records.append(_image(repository, digest, tags, **_kind(kind), **_scan(status, counts)))
    return [*records, _summary()]


def _outcomes(records: list[ScanRecord], *ids: str) -> dict[str, Outcome]:
    report = run_checks(records, as_of=NOW)
    return {o.rule.id: o for o in report.outcomes if o.rule.id in (ids or IMAGE_CHECKS)}


def _seen(outcome: Outcome) -> tuple[Any, ...]:
    findings = [(f.resource, f.severity, f.message, f.details) for f in outcome.findings]
    return outcome.status, outcome.checked, outcome.unknown, findings


def test_the_four_image_checks_agree_in_every_scanning_mode() -> None:
    """Clair (results in DescribeImages), AWS-native basic and enhanced (from
    DescribeImageScanFindings, ACTIVE for continuous scans) give the same four outcomes."""
    seen = {mode: {k: _seen(o) for k, o in _outcomes(_in_mode(mode)).items()} for mode in MODES}
    assert seen["clair"] == seen["aws_native"] == seen["enhanced"]
    outcomes = _outcomes(_in_mode("enhanced"))
    never = {f.repository_name: f.details for f in outcomes["images-never-scanned"].findings}
    assert {name: d["images"] for name, d in never.items()} == {"app": 1, "multi": 1}
    assert never["multi"]["examples"][0].endswith("multi@sha256:arm")
    failed = outcomes["image-scan-failed"].findings
    assert [f.details["statuses"] for f in failed] == [{"FAILED": 1, "UNSUPPORTED_IMAGE": 1}]
    vulnerable = {f.repository_name: f.severity for f in outcomes["vulnerable-images"].findings}
    assert vulnerable == {"app": "HIGH", "multi": "CRITICAL"}
    current: dict[str, dict[str, Any]] = {}
    for f in outcomes["vulnerable-current-image"].findings:
        assert f.image_digest is not None
        current[f.image_digest] = f.details
    assert sorted(current) == ["sha256:app1", "sha256:idx"]
    assert current["sha256:idx"]["index"] is True


def test_indexes_artifacts_and_archived_images_are_never_unscanned() -> None:
    """Image indexes, manifest lists, signatures, buildx attestations, Helm charts, archived and
    restoring images without a scan status are not flagged, nor counted as judged images."""
    records: list[ScanRecord] = [
        _registry("BASIC", "AWS_NATIVE"),
        _repo("things"),
        ImageManifest(
            **SCOPE,
            registry_id=ACCOUNT,
            repository_name="things",
            image_digest="sha256:idx",
            media_type=OCI_INDEX,
            children=[ManifestChild(digest="sha256:att", attestation=True)],
        ),
        _image("things", "sha256:idx", ["latest"], **_kind("index")),
        _image("things", "sha256:att", index_digests=["sha256:idx"]),
        _image("things", "sha256:list", ["old"], **_kind("list")),
        _image("things", "sha256:sig", **_kind("signature")),
        _image("things", "sha256:chart", ["1.0"], **_kind("helm")),
        _image("things", "sha256:arch", ["0.1"], **_kind("archived")),
        _image("things", "sha256:back", ["0.2"], image_status="ACTIVATING"),
        _summary(),
    ]
    outcomes = _outcomes(records)
    for check_id in ("images-never-scanned", "image-scan-failed", "vulnerable-images"):
        assert (outcomes[check_id].status, outcomes[check_id].checked) == ("passed", 1)


def test_every_scan_status_of_the_model() -> None:
    """COMPLETE and ACTIVE counts are vulnerabilities; IN_PROGRESS and PENDING are neither
    unscanned nor failed; four statuses are failures; SCAN_ELIGIBILITY_EXPIRED has its own
    check; IMAGE_ARCHIVED and unknown values are not judged."""
    statuses = [
        "IN_PROGRESS",
        "COMPLETE",
        "FAILED",
        "UNSUPPORTED_IMAGE",
        "ACTIVE",
        "PENDING",
        "SCAN_ELIGIBILITY_EXPIRED",
        "FINDINGS_UNAVAILABLE",
        "LIMIT_EXCEEDED",
        "IMAGE_ARCHIVED",
        "FROM_A_NEWER_MODEL",
    ]
    records: list[ScanRecord] = [_registry("ENHANCED", "AWS_NATIVE", "CONTINUOUS_SCAN"), _repo("r")]
    records += [
        _image("r", f"sha256:{s.lower()}", [s.lower()], **_scan(s, {"HIGH": 1})) for s in statuses
    ]
    outcomes = _outcomes([*records, _summary()], *IMAGE_CHECKS, "scan-eligibility-expired")
    assert outcomes["images-never-scanned"].status == "passed"
    (failed,) = outcomes["image-scan-failed"].findings
    assert failed.details["statuses"] == {
        "FAILED": 1,
        "UNSUPPORTED_IMAGE": 1,
        "FINDINGS_UNAVAILABLE": 1,
        "LIMIT_EXCEEDED": 1,
    }
    (vulnerable,) = outcomes["vulnerable-images"].findings
    assert vulnerable.details["images"] == 2
    (expired,) = outcomes["scan-eligibility-expired"].findings
    assert expired.details["images"] == 1
    assert expired.details["examples"][0].endswith("r@sha256:scan_eligibility_expired")


def test_scan_eligibility_expired_fires_only_on_that_status() -> None:
    """The check names each repository with expired images and passes one without; an archived
    image that says SCAN_ELIGIBILITY_EXPIRED is not an image of the repository to rescan."""
    expired = _scan("SCAN_ELIGIBILITY_EXPIRED", {})
    records: list[ScanRecord] = [
        _registry("ENHANCED", "AWS_NATIVE", "CONTINUOUS_SCAN"),
        _repo("stale"),
        _repo("fresh"),
        _image("stale", "sha256:a", ["1"], image_size_in_bytes=5_000_000, **expired),
        _image("stale", "sha256:b", ["2"], **_scan("ACTIVE", {})),
        _image("fresh", "sha256:c", ["1"], **_scan("ACTIVE", {})),
        _image("fresh", "sha256:d", ["0"], image_status="ARCHIVED", **expired),
        _summary(),
    ]
    outcome = _outcomes(records, "scan-eligibility-expired")["scan-eligibility-expired"]
    assert (outcome.status, outcome.checked) == ("failed", 2)
    (finding,) = outcome.findings
    assert (finding.repository_name, finding.severity) == ("stale", "MEDIUM")
    assert finding.message == (
        "stale: 1 images no longer rescanned (SCAN_ELIGIBILITY_EXPIRED) (5.0 MB)"
    )
    assert "aws inspector2 update-configuration --ecr-configuration rescanDuration=" in (
        finding.remediation
    )
    clean = _outcomes(_in_mode("enhanced"), "scan-eligibility-expired")
    assert clean["scan-eligibility-expired"].status == "passed"


def _not_asked(registry: Registry, *extra: ScanRecord) -> dict[str, Outcome]:
    """The image checks over a scan that did not collect scan results (no repository carries
    its scanning configuration): one scanned image and one without a result."""
    records: list[ScanRecord] = [
        registry,
        _repo("app", frequency=None),
        _image("app", "sha256:a", ["latest"], **_scan("COMPLETE", {})),
        _image("app", "sha256:b"),
        *extra,
        _summary(),
    ]
    return _outcomes(records)


@pytest.mark.parametrize(
    "registry",
    [_registry("BASIC", "AWS_NATIVE"), _registry("ENHANCED", None), _registry("BASIC", None)],
)
def test_results_not_asked_are_not_evaluated(registry: Registry) -> None:
    """Outside Clair basic scanning, an image without a status whose result was not asked is
    neither never-scanned nor a pass: the repository is not evaluated."""
    outcomes = _not_asked(registry)
    for check_id in ("images-never-scanned", "vulnerable-images"):
        outcome = outcomes[check_id]
        assert (outcome.status, outcome.unknown) == ("skipped", 1)
        assert outcome.explanation.startswith("1 not evaluated: needs collect.scan_findings")
    # The image behind latest was scanned: it is judged.
    assert outcomes["vulnerable-current-image"].status == "passed"


def test_when_a_missing_result_means_never_scanned() -> None:
    """Under Clair DescribeImages carries every result; elsewhere scan results were collected
    if the region's BatchGetRepositoryScanningConfiguration failed; a DescribeImageScanFindings
    error in the repository leaves its images unknown."""
    clair = _not_asked(_registry("BASIC", "CLAIR"))
    assert clair["images-never-scanned"].status == "failed"
    region_error = Error(
        **SCOPE,
        operation="BatchGetRepositoryScanningConfiguration",
        error_code="AccessDeniedException",
        message="denied",
        optional=True,
    )
    asked = _not_asked(_registry("BASIC", "AWS_NATIVE"), region_error)
    assert asked["images-never-scanned"].status == "failed"
    failed_call = Error(
        **SCOPE,
        repository_name="app",
        operation="DescribeImageScanFindings",
        error_code="ThrottlingException",
        message="slow down",
        optional=True,
    )
    unsure = _not_asked(_registry("BASIC", "AWS_NATIVE"), region_error, failed_call)
    assert unsure["images-never-scanned"].status == "skipped"


def test_current_index_with_children_not_asked_is_not_evaluated() -> None:
    """An index behind `latest` whose platform image's result was not asked is not judged; once
    the results were asked, a clean child passes it."""
    records: list[ScanRecord] = [
        _registry("ENHANCED", "AWS_NATIVE", "CONTINUOUS_SCAN"),
        _image("m", "sha256:idx", ["latest"], **_kind("index")),
        _image("m", "sha256:amd", **_kind("child")),
        _summary(),
    ]
    unknown = _outcomes([_repo("m", None), *records])["vulnerable-current-image"]
    assert (unknown.status, unknown.unknown) == ("skipped", 1)
    known = _outcomes([_repo("m"), *records])["vulnerable-current-image"]
    assert (known.status, known.checked) == ("passed", 1)


def test_registry_basic_scanning_notes_clair() -> None:
    """A basic registry still on Clair says so with the command to switch; AWS-native adds its
    version to the details; without the setting the finding is as before; an enhanced registry
    passes whatever its basic version."""

    def finding(registry: Registry) -> Any:
        outcome = _outcomes([registry, _summary()], "registry-basic-scanning")
        return next(iter(outcome["registry-basic-scanning"].findings), None)

    switch = (
        "aws ecr put-account-setting --name BASIC_SCAN_TYPE_VERSION --value AWS_NATIVE "
        "--region us-east-1"
    )
    clair = finding(_registry("BASIC", "CLAIR"))
    assert "Clair-based version AWS is retiring" in clair.message
    assert clair.message.endswith(switch)
    assert clair.details["basic_scan_type_version"] == "CLAIR"
    assert clair.details["switch_to_aws_native"] == switch
    native = finding(_registry("BASIC", "AWS_NATIVE"))
    assert "Clair" not in native.message
    assert native.details["basic_scan_type_version"] == "AWS_NATIVE"
    unknown = finding(_registry("BASIC", None))
    assert unknown.message == (
        f"registry {ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com: "
        "scanning is BASIC (operating system packages only, at push)"
    )
    assert set(unknown.details) == {"scan_type", "rules"}
    assert finding(_registry("ENHANCED", "CLAIR")) is None


def test_kinds_keep_artifacts_out_of_the_image_checks() -> None:
    """With artifact_kind on the records: a cosign signature by tag, an attestation and an SBOM
    pushed by digest (no OCI subject), all untagged and old, are never garbage for
    untagged-images-old (a leftover container image is); a Helm chart tagged latest and pushed
    last is not the current image; none of them is "never scanned"."""
    old = datetime(2025, 1, 1, tzinfo=UTC)

    def pushed_long_ago(image: Image) -> Image:
        return msgspec.structs.replace(image, image_pushed_at=old)

    attached: list[tuple[str, str, dict[str, Any]]] = [
        ("sha256:sig", "signature", {"subject_digest": "sha256:app"}),
        ("sha256:att", "attestation", {}),
        ("sha256:sbom", "sbom", {}),
        ("sha256:left", "container_image", {}),  # the one leftover that counts
    ]
    app = _image(
        "mixed", "sha256:app", ["1.0"], artifact_kind="container_image", **_scan("COMPLETE", {})
    )
    app = msgspec.structs.replace(
        pushed_long_ago(app),
        image_scan_findings_summary=ImageScanFindingsSummary(
            image_scan_completed_at=NOW, finding_severity_counts={"CRITICAL": 1}
        ),
    )
    records: list[ScanRecord] = [
        _registry("BASIC", "AWS_NATIVE"),
        _repo("mixed"),
        app,
        *(
            pushed_long_ago(_image("mixed", digest, artifact_kind=kind, **extra))
            for digest, kind, extra in attached
        ),
        _image(
            "mixed",
            "sha256:chart",
            ["latest"],
            artifact_kind="helm_chart",
            artifact_media_type=HELM_CONFIG,
        ),
        _summary(),
    ]
    outcomes = _outcomes(
        records, "untagged-images-old", "vulnerable-current-image", "images-never-scanned"
    )
    (untagged,) = outcomes["untagged-images-old"].findings
    assert untagged.details["examples"] == [app.image_uri.replace("sha256:app", "sha256:left")]
    (never,) = outcomes["images-never-scanned"].findings
    assert never.details["images"] == 1  # the leftover again, no artifact
    (current,) = outcomes["vulnerable-current-image"].findings
    assert current.image_digest == "sha256:app"
    assert current.details["roles"] == ["most recent push"]
