"""Scan results as today's AWS gives them (issue 14): in Clair basic, AWS-native basic and
enhanced scanning, image records carry AWS's status and severity counts, asked only where a
result can exist."""

from __future__ import annotations

from typing import Any

import pytest
from awsproxy import AwsProxy, Rule
from conftest import ecr_client, make_config, run_scan
from inspector import model_inspector
from scanning import Mode, model_scanning, scan_truth

from crawler.media_types import INDEX_TYPES

REGION = "us-east-1"
MODES: list[Mode] = ["CLAIR", "AWS_NATIVE", "ENHANCED"]
OFF = {"collect.manifests": "off"}


def asked_digests(proxy: AwsProxy) -> list[str]:
    """Records the image digest of every DescribeImageScanFindings call for a first page."""
    asked: list[str] = []

    def hook(operation: str, region: str, request: dict[str, Any]) -> None:
        if operation == "DescribeImageScanFindings" and "nextToken" not in request:
            asked.append(request["imageId"]["imageDigest"])

    proxy.hooks.append(hook)
    return asked


def results(images: list[Any]) -> dict[str, tuple[str | None, dict[str, int] | None]]:
    return {
        i.image_digest: (
            i.image_scan_status.status if i.image_scan_status else None,
            i.image_scan_findings_summary.finding_severity_counts
            if i.image_scan_findings_summary
            else None,
        )
        for i in images
    }


def forced_statuses(proxy: AwsProxy) -> dict[str, str]:
    """One plain image of each repository of REGION gets a status other than COMPLETE/ACTIVE."""
    statuses = ["FAILED", "SCAN_ELIGIBILITY_EXPIRED", "IMAGE_ARCHIVED", "IN_PROGRESS"]
    ecr = ecr_client(proxy.upstream, REGION)
    forced = {}
    for repository in ecr.describe_repositories()["repositories"]:
        name = repository["repositoryName"]
        details = ecr.describe_images(repositoryName=name)["imageDetails"]
        plain = [d for d in details if d["imageManifestMediaType"] not in INDEX_TYPES]
        if plain and statuses:
            forced[plain[0]["imageDigest"]] = statuses.pop()
    return forced


@pytest.mark.parametrize("mode", MODES)
def test_every_image_carries_the_emulators_scan_result(proxy: AwsProxy, mode: Mode) -> None:
    """Status and severity counts equal the emulator's truth, whichever mode holds them."""
    model_scanning(proxy, {REGION: mode}, statuses=forced_statuses(proxy))
    summary, sink = run_scan(make_config(proxy, regions=[REGION], **OFF))
    assert summary.status == "complete"
    assert not sink.of("error")
    truth = scan_truth(proxy, [REGION])
    got = results(sink.of("image"))
    assert {d: r for d, r in got.items() if r != (None, None)} == {
        d: r for d, r in truth.items() if r != (None, None)
    }
    statuses = {status for status, _ in got.values()}
    assert {"FAILED", "IMAGE_ARCHIVED", "SCAN_ELIGIBILITY_EXPIRED"} <= statuses
    assert ("ACTIVE" if mode == "ENHANCED" else "COMPLETE") in statuses


@pytest.mark.parametrize("mode", MODES)
def test_full_yields_each_finding_once(proxy: AwsProxy, mode: Mode) -> None:
    """With scan_findings: full, the findings of every scanned image, each image asked once."""
    model_scanning(proxy, {REGION: mode})
    asked = asked_digests(proxy)
    config = make_config(proxy, regions=[REGION], **OFF, **{"collect.scan_findings": "full"})
    _, sink = run_scan(config)
    findings = sink.of("scan_finding")
    scanned = {d for d, (status, _) in results(sink.of("image")).items() if status}
    assert {f.image_digest for f in findings} <= scanned
    assert findings
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.image_digest] = counts.get(f.image_digest, 0) + 1
    for image in sink.of("image"):
        summary = image.image_scan_findings_summary
        if summary and summary.finding_severity_counts:
            assert counts[image.image_digest] == sum(summary.finding_severity_counts.values())
    expected = "ENHANCED" if mode == "ENHANCED" else "BASIC"
    assert {f.scan_type for f in findings} == {expected}
    # Summary and findings come from the same calls: no image is asked twice.
    assert len(asked) == len(set(asked))


@pytest.mark.parametrize("mode", ["AWS_NATIVE", "ENHANCED"])
def test_no_scan_call_for_indexes_artifacts_or_archived_images(proxy: AwsProxy, mode: Mode) -> None:
    """DescribeImageScanFindings is never asked for an index, an artifact or an archived image."""
    model_scanning(proxy, {REGION: mode})
    modelled = proxy.rewrites.get("DescribeImages")

    def archive_312(region: str, request: dict[str, Any], reply: dict[str, Any]) -> None:
        if modelled is not None:
            modelled(region, request, reply)
        for detail in reply.get("imageDetails", []):
            if "3.12" in detail.get("imageTags", []):
                detail["imageStatus"] = "ARCHIVED"

    proxy.rewrites["DescribeImages"] = archive_312
    asked = asked_digests(proxy)
    _, sink = run_scan(make_config(proxy, regions=[REGION], **OFF))
    images = {i.image_digest: i for i in sink.of("image")}
    never = {
        d
        for d, i in images.items()
        if i.image_manifest_media_type in INDEX_TYPES
        or i.subject_manifest_digest
        or i.image_status == "ARCHIVED"
    }
    assert any(i.image_status == "ARCHIVED" for i in images.values())
    assert any(i.subject_manifest_digest for i in images.values())
    assert asked
    assert not never & set(asked)


def test_no_scan_call_with_scan_findings_off(proxy: AwsProxy) -> None:
    """collect.scan_findings: off makes no scanning call at all."""
    model_scanning(proxy, {REGION: "AWS_NATIVE"})
    config = make_config(proxy, regions=[REGION], **OFF, **{"collect.scan_findings": "off"})
    run_scan(config)
    for operation in (
        "DescribeImageScanFindings",
        "GetAccountSetting",
        "BatchGetRepositoryScanningConfiguration",
    ):
        assert proxy.calls[operation] == 0, operation


def test_clair_mode_asks_nothing_that_describe_images_said(proxy: AwsProxy) -> None:
    """In Clair basic scanning DescribeImages holds every result: no per-image call."""
    model_scanning(proxy, {REGION: "CLAIR"})
    run_scan(make_config(proxy, regions=[REGION], **OFF))
    assert proxy.calls["DescribeImageScanFindings"] == 0


def test_registry_and_repositories_say_how_they_scan(proxy: AwsProxy) -> None:
    """The registry record has the basic scanning version; repositories their scan frequency."""
    model_scanning(proxy, {REGION: "ENHANCED", "eu-west-1": "AWS_NATIVE"})
    config = make_config(proxy, regions=[REGION, "eu-west-1"], **OFF, **{"collect.registry": True})
    _, sink = run_scan(config)
    registries = {r.region: r for r in sink.of("registry")}
    assert registries[REGION].scanning_configuration["scan_type"] == "ENHANCED"
    assert registries["eu-west-1"].basic_scan_type_version == "AWS_NATIVE"
    assert registries["eu-west-1"].registry_policy_scope == "V2"
    enhanced = [r for r in sink.of("repository") if r.region == REGION]
    assert enhanced
    assert {r.scanning_configuration.scan_frequency for r in enhanced} == {"CONTINUOUS_SCAN"}
    # 25 names a call
    repositories = len(sink.of("repository"))
    assert proxy.calls["BatchGetRepositoryScanningConfiguration"] <= repositories // 25 + 2


def test_denied_scan_findings_is_one_optional_error_per_repository(proxy: AwsProxy) -> None:
    """Without ecr:DescribeImageScanFindings the scan is complete, statuses null, errors say why."""
    model_scanning(proxy, {REGION: "AWS_NATIVE"})
    proxy.rules.append(Rule("access_denied", operation="DescribeImageScanFindings"))
    summary, sink = run_scan(make_config(proxy, regions=[REGION], **OFF))
    assert summary.status == "complete"
    errors = sink.of("error")
    assert errors
    assert all(e.optional and e.operation == "DescribeImageScanFindings" for e in errors)
    assert len({e.repository_name for e in errors}) == len(errors)
    assert all(i.image_scan_status is None for i in sink.of("image"))


def test_inspector_stands_in_for_per_image_calls(proxy: AwsProxy) -> None:
    """collect.inspector in an enhanced registry: the same results as the per-image calls, no
    DescribeImageScanFindings at all, and whether each image runs in ECS or EKS."""
    truth_model = model_inspector(proxy, {REGION: "ENHANCED"})
    running = next(i.digest for i in truth_model.images[REGION] if i.status == "ACTIVE")
    model_inspector(proxy, {REGION: "ENHANCED"}, in_use={running: (3, 1_790_000_000.0)})
    config = make_config(proxy, regions=[REGION], **OFF, **{"collect.inspector": True})
    summary, sink = run_scan(config)
    assert summary.status == "complete"
    assert not sink.of("error")
    assert proxy.calls["DescribeImageScanFindings"] == 0
    assert proxy.calls["ListCoverage"] >= 1
    truth = scan_truth(proxy, [REGION])
    got = results(sink.of("image"))
    assert {d: r for d, r in got.items() if r != (None, None)} == {
        d: r for d, r in truth.items() if r != (None, None)
    }
    images = {i.image_digest: i for i in sink.of("image")}
    assert images[running].in_use_count == 3
    assert images[running].last_in_use_at is not None


def test_inspector_denied_falls_back_to_per_image_calls(proxy: AwsProxy) -> None:
    """Without inspector2:ListCoverage the results still come, image by image, and one optional
    error names the inspector2 action to add."""
    model_inspector(proxy, {REGION: "ENHANCED"})
    proxy.rules.append(Rule("access_denied", operation="ListCoverage"))
    config = make_config(proxy, regions=[REGION], **OFF, **{"collect.inspector": True})
    summary, sink = run_scan(config)
    assert summary.status == "complete"
    [error] = sink.of("error")
    assert error.optional
    assert "inspector2:ListCoverage" in error.message
    assert proxy.calls["DescribeImageScanFindings"] > 0
    truth = scan_truth(proxy, [REGION])
    assert {d: r for d, r in results(sink.of("image")).items() if r != (None, None)} == {
        d: r for d, r in truth.items() if r != (None, None)
    }


@pytest.mark.parametrize("manifests", ["new", "off"])
def test_scan_results_are_asked_for_container_images_only(proxy: AwsProxy, manifests: str) -> None:
    """Helm charts, signatures (by referrer or cosign tag), SBOMs, attestations and other
    artifacts are never asked for a scan result, with manifests read or not; every active
    container image is."""
    model_scanning(proxy, {REGION: "AWS_NATIVE"})
    asked = asked_digests(proxy)
    _, sink = run_scan(make_config(proxy, regions=[REGION], **{"collect.manifests": manifests}))
    assert not sink.of("error")
    images = sink.of("image")
    kinds = {i.artifact_kind for i in images}
    assert {"helm_chart", "signature", "sbom", "attestation", "artifact"} <= kinds
    containers = {
        i.image_digest
        for i in images
        if i.artifact_kind == "container_image" and i.image_status != "ARCHIVED"
    }
    assert set(asked) == containers
