"""Manifests: Docker v2 and OCI manifests, multi-arch indexes, referrers and the digest cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from awsproxy import AwsProxy
from conftest import ListSink, ecr_client, make_config, run_scan

import crawler.held
from crawler.demo import COSIGN_SIGNATURE, docker_manifest, encode
from crawler.ecr.manifests import parse_manifest

SCOPE = {
    "scan_id": "s",
    "account_id": "1",
    "region": "r",
    "registry_id": "1",
    "repository_name": "x",
    "image_digest": "sha256:0",
}


def test_index_children_have_platforms_and_know_their_parent(proxy: AwsProxy) -> None:
    """An OCI index lists amd64, arm64 and an attestation; each child image names its index."""
    _, sink = run_scan(make_config(proxy, regions=["us-east-1"]))
    manifests = {m.image_digest: m for m in sink.of("imagemanifest")}
    images = [i for i in sink.of("image") if i.repository_name == "base/python"]
    index = next(i for i in images if "3.12" in i.image_tags)
    children = manifests[index.image_digest].children
    assert [(c.platform.os, c.platform.architecture, c.attestation) for c in children] == [
        ("linux", "amd64", False),
        ("linux", "arm64", False),
        ("unknown", "unknown", True),
    ]
    for child in children:
        image = next(i for i in images if i.image_digest == child.digest)
        assert image.index_digests == [index.image_digest]
        assert image.image_tags == []
    assert index.index_digests == []
    assert manifests[index.image_digest].total_size is None


def test_repositories_of_many_pages_spill_to_disk_and_stay_exact(
    proxy: AwsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of two images, every page after the first held on disk: each child still names
    its index (listed on whichever page), each image has one manifest record, and the held
    pages are gone from the cache directory after the scan."""
    config = make_config(proxy, regions=["us-east-1"])
    _, memory = run_scan(config)
    monkeypatch.setattr(crawler.held, "SPOOL_BYTES", 0)
    _, disk = run_scan(config)

    def images(sink: ListSink) -> dict[str, tuple[list[str], list[str]]]:
        return {i.image_digest: (i.image_tags, i.index_digests) for i in sink.of("image")}

    assert proxy.page_cap == 2
    assert images(disk) == images(memory)
    assert sum(1 for parents in images(disk).values() if parents[1]) >= 6
    assert sorted(m.image_digest for m in disk.of("imagemanifest")) == sorted(images(disk))
    assert config.cache_dir is not None
    assert [p.name for p in Path(config.cache_dir).iterdir() if "images" in p.name] == []


def test_docker_and_oci_manifests_are_parsed(proxy: AwsProxy) -> None:
    """Docker v2: config and layers with sizes; OCI: annotations such as the source repo."""
    _, sink = run_scan(make_config(proxy, regions=["eu-west-1"]))
    images = {i.image_digest: i for i in sink.of("image")}
    by_repo: dict[str, list[Any]] = {}
    for m in sink.of("imagemanifest"):
        by_repo.setdefault(m.repository_name, []).append(m)
        assert m.image_digest in images  # one manifest record per image
    docker = by_repo["web/frontend"][0]
    assert docker.media_type == "application/vnd.docker.distribution.manifest.v2+json"
    assert docker.config_digest.startswith("sha256:")
    assert len(docker.layers) == 3
    assert docker.total_size == sum(layer.size for layer in docker.layers)
    oci = next(m for m in by_repo["api/orders"] if m.annotations)
    assert oci.annotations["org.opencontainers.image.source"] == "https://github.com/example/orders"
    assert len(sink.of("imagemanifest")) == len(images)


def test_referrers_list_the_signature_of_an_image(proxy: AwsProxy) -> None:
    """With referrers on, the signed image's manifest record lists its cosign signature."""
    _, sink = run_scan(make_config(proxy, regions=["us-east-1"], **{"collect.referrers": True}))
    signed = [m for m in sink.of("imagemanifest") if m.referrers]
    assert len(signed) == 1
    [referrer] = signed[0].referrers
    assert referrer.artifact_type == COSIGN_SIGNATURE
    signature = next(m for m in sink.of("imagemanifest") if m.image_digest == referrer.digest)
    assert signature.subject.digest == signed[0].image_digest


def test_second_scan_fetches_only_new_digests(proxy: AwsProxy) -> None:
    """manifests: new reads known digests from the cache: BatchGetImage only for the new image,
    yet every image still has its manifest record; manifests: all fetches them all again."""
    config = make_config(proxy, regions=["eu-west-1"])
    _, first = run_scan(config)
    first_calls = proxy.calls["BatchGetImage"]
    assert first_calls > 0

    ecr = ecr_client(proxy.upstream, "eu-west-1")
    text, digest = encode(docker_manifest("brand-new"))
    ecr.put_image(repositoryName="web/frontend", imageManifest=text, imageDigest=digest)
    try:
        proxy.calls.clear()
        _, second = run_scan(config)
        assert proxy.calls["BatchGetImage"] == 1
        assert len(second.of("imagemanifest")) == len(first.of("imagemanifest")) + 1
        assert {m.image_digest: m for m in second.of("imagemanifest")}[digest].layers

        proxy.calls.clear()
        run_scan(make_config(proxy, regions=["eu-west-1"], **{"collect.manifests": "all"}))
        assert proxy.calls["BatchGetImage"] >= first_calls
    finally:
        ecr.batch_delete_image(repositoryName="web/frontend", imageIds=[{"imageDigest": digest}])


def test_manifests_off_makes_no_batch_get_image_call(proxy: AwsProxy) -> None:
    """manifests: off never calls BatchGetImage and leaves index_digests null."""
    _, sink = run_scan(make_config(proxy, regions=["eu-west-1"], **{"collect.manifests": "off"}))
    assert proxy.calls["BatchGetImage"] == 0
    assert proxy.calls["ListPullTimeUpdateExclusions"] == 0
    assert sink.of("imagemanifest") == []
    assert all(i.index_digests is None for i in sink.of("image"))


def test_docker_manifest_list_and_garbage_parse() -> None:
    """A Docker manifest list gives children with variants; unparsable text keeps its type."""
    text = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
            "manifests": [
                {
                    "digest": "sha256:a",
                    "size": 1,
                    "platform": {"os": "linux", "architecture": "arm", "variant": "v7"},
                }
            ],
        }
    )
    record = parse_manifest(text, "", scope=SCOPE, referrers=None)
    assert record.children is not None
    [child] = record.children
    assert child.platform is not None
    assert (child.platform.variant, child.attestation) == ("v7", False)
    broken = parse_manifest("{not json", "application/x", scope=SCOPE, referrers=None)
    assert (broken.media_type, broken.layers) == ("application/x", None)
