"""The scan's fan-out against the moto emulator behind the fault proxy."""

from __future__ import annotations

from typing import Any

from awsproxy import AwsProxy, Rule
from conftest import ecr_client, inventory, make_config, run_scan, truth

from crawler.demo import docker_manifest, encode


def test_scan_returns_every_repository_and_image_across_pages(proxy: AwsProxy) -> None:
    """Every repository and image of every region, each once, though every listing is paged."""
    summary, sink = run_scan(make_config(proxy))
    assert inventory(sink.records) == truth(proxy.upstream, summary.regions)
    assert summary.status == "complete"
    assert sink.records[-1] == summary
    # page_cap=2: several pages of repositories per region and of images per repository
    assert proxy.calls["DescribeRepositories"] > 2 * len(summary.regions)
    assert proxy.calls["DescribeImages"] > len(sink.of("repository"))
    assert sum(c.images for c in summary.regions.values()) == len(sink.of("image"))


def test_untagged_and_multi_tag_images_are_reported(proxy: AwsProxy) -> None:
    """Untagged images have tags [], multi-tag images carry every tag, sorted."""
    _, sink = run_scan(make_config(proxy, regions=["us-east-1"]))
    python = [i for i in sink.of("image") if i.repository_name == "base/python"]
    assert sorted(i.image_tags for i in python if i.image_tags) == [
        ["3.12", "3.12-slim"],
        ["3.13", "latest"],
    ]
    assert sum(1 for i in python if i.image_tags == []) == 6  # 2 x (amd64, arm64, attestation)
    orders = {tuple(i.image_tags) for i in sink.of("image") if i.repository_name == "api/orders"}
    assert ("2.2", "2.2.0", "stable") in orders


def test_records_carry_aws_fields_image_uri_and_utc_times(proxy: AwsProxy) -> None:
    """Image records name their repository, registry and a pullable by-digest URI, in UTC."""
    _, sink = run_scan(make_config(proxy, regions=["eu-west-1"]))
    image = next(i for i in sink.of("image") if i.repository_name == "web/frontend")
    assert image.image_uri == (
        f"{image.registry_id}.dkr.ecr.eu-west-1.amazonaws.com/web/frontend@{image.image_digest}"
    )
    assert image.image_pushed_at.utcoffset().total_seconds() == 0
    assert image.image_manifest_media_type.startswith("application/vnd.docker")
    orders = next(r for r in sink.of("repository") if r.repository_name == "api/orders")
    assert orders.image_tag_mutability == "IMMUTABLE"
    assert orders.encryption_configuration.encryption_type == "KMS"


def test_throttling_storm_still_yields_the_exact_inventory(proxy: AwsProxy) -> None:
    """With 30% of calls throttled, retries resume each page and nothing is lost or doubled."""
    proxy.rules.append(Rule("throttle", rate=0.3))
    summary, sink = run_scan(make_config(proxy))
    assert inventory(sink.records) == truth(proxy.upstream, summary.regions)
    assert summary.status == "complete"
    assert summary.throttled == proxy.faults["throttle"] > 0
    assert summary.retries >= summary.throttled


def test_server_errors_and_connection_resets_are_retried(proxy: AwsProxy) -> None:
    """5xx answers and dropped connections are retried to the exact inventory."""
    proxy.rules += [Rule("server_error", rate=0.15), Rule("reset", rate=0.1)]
    summary, sink = run_scan(make_config(proxy, regions=["us-east-1", "eu-west-1"]))
    assert inventory(sink.records) == truth(proxy.upstream, ["us-east-1", "eu-west-1"])
    assert proxy.faults["server_error"] > 0
    assert proxy.faults["reset"] > 0
    assert summary.status == "complete"


def test_access_denied_in_one_region_leaves_the_other_complete(proxy: AwsProxy) -> None:
    """AccessDenied in eu-west-1 is an error record; us-east-1 is scanned in full."""
    proxy.rules.append(Rule("access_denied", operation="DescribeRepositories", region="eu-west-1"))
    summary, sink = run_scan(make_config(proxy, regions=["us-east-1", "eu-west-1"]))
    assert summary.status == "partial"
    [error] = sink.of("error")
    assert (error.region, error.operation, error.error_code) == (
        "eu-west-1",
        "DescribeRepositories",
        "AccessDeniedException",
    )
    assert "not authorized" in error.message
    assert summary.regions["eu-west-1"].errors == 1
    assert inventory(sink.records) == truth(proxy.upstream, ["us-east-1"])


def test_repository_deleted_mid_scan_is_an_error_record(proxy: AwsProxy) -> None:
    """A repository deleted between listing and describing gives an error; the rest goes on."""
    moto = proxy.upstream
    ecr = ecr_client(moto, "us-east-1")
    ecr.create_repository(repositoryName="tmp/vanishing")
    text, digest = encode(docker_manifest("vanishing"))
    ecr.put_image(repositoryName="tmp/vanishing", imageManifest=text, imageDigest=digest)

    def vanish(operation: str, region: str, request: dict[str, Any]) -> None:
        if operation == "DescribeImages" and request["repositoryName"] == "tmp/vanishing":
            ecr.delete_repository(repositoryName="tmp/vanishing", force=True)

    proxy.hooks.append(vanish)
    summary, sink = run_scan(make_config(proxy, regions=["us-east-1"]))
    [error] = sink.of("error")
    assert (error.repository_name, error.error_code) == (
        "tmp/vanishing",
        "RepositoryNotFoundException",
    )
    assert summary.status == "partial"
    repositories, images = inventory(sink.records)
    assert ("us-east-1", "tmp/vanishing") in repositories
    assert (repositories - {("us-east-1", "tmp/vanishing")}, images) == truth(moto, ["us-east-1"])


def test_region_not_enabled_is_skipped_when_it_came_from_all(proxy: AwsProxy) -> None:
    """With regions: all, an opt-in region the account has not enabled is skipped, not failed."""
    proxy.rules.append(Rule("not_enabled", region="af-south-1"))
    summary, sink = run_scan(make_config(proxy, regions="all"))
    assert summary.regions_skipped == ["af-south-1"]
    assert "af-south-1" not in summary.regions
    assert "us-east-1" in summary.regions
    assert len(summary.regions) > 20
    assert summary.status == "complete"
    assert sink.of("error") == []


def test_named_region_not_enabled_is_an_error(proxy: AwsProxy) -> None:
    """A region the user named but the account has not enabled is an error record."""
    proxy.rules.append(Rule("not_enabled", region="af-south-1"))
    summary, sink = run_scan(make_config(proxy, regions=["eu-west-1", "af-south-1"]))
    [error] = sink.of("error")
    assert (error.region, error.error_code) == ("af-south-1", "UnrecognizedClientException")
    assert summary.status == "partial"
    assert summary.regions["eu-west-1"].images > 0
