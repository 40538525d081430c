"""Manifests: every kind ECR stores (Docker schema 1 and 2, OCI, Helm charts, signatures, SBOMs,
attestations, Windows and zstd images), multi-arch indexes, referrers and the digest cache."""

from __future__ import annotations

import json
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import msgspec
import pytest
from awsproxy import AwsProxy, Call, Rule
from awswire import AwsError as WireError
from conftest import MANIFEST_SCOPE, ListSink, ecr_client, make_config, run_scan

import crawler.collect
import crawler.ecr.manifests
import crawler.held
from crawler.demo import COSIGN_SIGNATURE, docker_manifest, encode
from crawler.ecr.manifests import parse_manifest
from crawler.media_types import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST


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
    """With referrers on, the signed image's manifest record lists its cosign signature, and
    shop/payments' image its SBOM, attestation and draft artifact manifest."""
    _, sink = run_scan(make_config(proxy, regions=["us-east-1"], **{"collect.referrers": True}))
    manifests = {m.image_digest: m for m in sink.of("imagemanifest")}
    signed = {m.repository_name: m for m in manifests.values() if m.referrers}
    assert sorted(signed) == ["api/orders", "shop/payments"]
    [referrer] = signed["api/orders"].referrers
    assert referrer.artifact_type == COSIGN_SIGNATURE
    assert manifests[referrer.digest].subject.digest == signed["api/orders"].image_digest
    kinds = {manifests[r.digest].artifact_kind for r in signed["shop/payments"].referrers}
    assert kinds == {"sbom", "attestation", "artifact"}


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
    record = parse_manifest(text, "", scope=MANIFEST_SCOPE, referrers=None)
    assert record.children is not None
    [child] = record.children
    assert child.platform is not None
    assert (child.platform.variant, child.attestation) == ("v7", False)
    broken = parse_manifest("{not json", "application/x", scope=MANIFEST_SCOPE, referrers=None)
    assert (broken.media_type, broken.layers) == ("application/x", None)


# us-east-1 of the tests' registry holds an artifact of every kind (crawler/demo/kinds.py).
KINDS = {
    "legacy/app": {"container_image"},
    "charts/orders": {"helm_chart"},
    "shop/payments": {"container_image", "signature", "sbom", "attestation", "artifact"},
    "windows/iis": {"image_index", "container_image"},
    "base/busybox": {"container_image"},
    "base/python": {"image_index", "container_image", "attestation"},
    "api/orders": {"container_image", "signature"},
}


def _kinds(images: list[Any]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for image in images:
        found.setdefault(image.repository_name, set()).add(image.artifact_kind)
    return found


def test_every_kind_has_its_manifest_record_and_no_error(proxy: AwsProxy) -> None:
    """A registry of mixed kinds: no error record, one manifest record per image, and each
    image's artifact_kind is its manifest's."""
    summary, sink = run_scan(make_config(proxy, regions=["us-east-1"]))
    assert summary.status == "complete"
    assert sink.of("error") == []
    images = {i.image_digest: i for i in sink.of("image")}
    manifests = {m.image_digest: m for m in sink.of("imagemanifest")}
    assert sorted(manifests) == sorted(images)
    assert len(sink.of("imagemanifest")) == len(images)
    for digest, image in images.items():
        read = manifests[digest]
        assert (image.artifact_kind, image.artifact_kind_by) == (
            read.artifact_kind,
            read.artifact_kind_by,
        )
        assert read.unavailable is None
    found = _kinds(list(images.values()))
    assert {repo: found[repo] for repo in KINDS} == KINDS
    by_repo = {m.repository_name: m for m in manifests.values()}
    legacy = by_repo["legacy/app"]
    assert legacy.media_type == "application/vnd.docker.distribution.manifest.v1+prettyjws"
    assert legacy.platform is not None
    assert (legacy.platform.os, legacy.platform.architecture) == ("linux", "amd64")
    assert legacy.layers is not None
    assert len(legacy.layers) == 3


def test_a_cosign_tag_links_the_signature_to_its_subject(proxy: AwsProxy) -> None:
    """shop/payments' signature is pushed by tag (no OCI subject): its record names the image it
    signs, and that image is signed, by cosign_tag."""
    _, sink = run_scan(make_config(proxy, regions=["us-east-1"], **{"collect.signing": True}))
    payments = [i for i in sink.of("image") if i.repository_name == "shop/payments"]
    [image] = [i for i in payments if i.image_tags == ["1.0.0"]]
    [signature] = [i for i in payments if i.artifact_kind == "signature"]
    assert signature.subject_manifest_digest is None
    assert signature.subject_digest == image.image_digest
    assert signature.image_tags == [image.image_digest.replace(":", "-") + ".sig"]
    # The manifest's simple signing layer decided it; the tag decided it too.
    assert signature.artifact_kind_by == "application/vnd.dev.cosign.simplesigning.v1+json"
    assert (image.signed, image.signed_by) == ("yes", ["cosign_tag"])
    referred = {i.artifact_kind: i.subject_digest for i in payments if i.subject_manifest_digest}
    assert referred == dict.fromkeys(["sbom", "attestation", "artifact"], image.image_digest)


def test_without_manifests_the_kind_comes_from_describe_images(proxy: AwsProxy) -> None:
    """manifests: off gives the same kinds, from imageManifestMediaType, artifactMediaType and
    cosign's tags (the signature's decided by its tag)."""
    _, sink = run_scan(make_config(proxy, regions=["us-east-1"], **{"collect.manifests": "off"}))
    images = sink.of("image")
    found = _kinds(images)
    assert {repo: found[repo] for repo in KINDS if repo != "base/python"} == {
        repo: kinds for repo, kinds in KINDS.items() if repo != "base/python"
    }
    [signature] = [i for i in images if i.artifact_kind_by and i.artifact_kind_by.endswith(".sig")]
    assert signature.artifact_kind == "signature"
    assert signature.subject_digest is not None


def test_second_scan_of_every_kind_asks_nothing(proxy: AwsProxy) -> None:
    """Every kind's manifest is cached: the second scan makes no BatchGetImage call and writes
    the same manifest records."""
    config = make_config(proxy, regions=["us-east-1"])
    _, first = run_scan(config)
    proxy.calls.clear()
    _, second = run_scan(config)
    assert proxy.calls["BatchGetImage"] == 0

    def stripped(sink: ListSink) -> list[Any]:
        return sorted(
            (msgspec.structs.replace(m, scan_id="") for m in sink.of("imagemanifest")),
            key=lambda m: m.image_digest,
        )

    assert stripped(second) == stripped(first)


def test_lasting_failures_are_remembered_not_asked_again(
    proxy: AwsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked with the accepted types of old (no schema 1, no artifact manifest), BatchGetImage
    fails those with UnsupportedImageType: a manifest record says so, no error record, the image
    keeps DescribeImages' kind, and the next scan does not ask for them again."""
    monkeypatch.setattr(
        crawler.ecr.manifests,
        "ACCEPTED_MEDIA_TYPES",
        [DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX],
    )
    asked = _asked(proxy)
    config = make_config(proxy, regions=["us-east-1"])
    _, first = run_scan(config)
    assert first.of("error") == []
    failed = {m.image_digest: m for m in first.of("imagemanifest") if m.unavailable}
    assert {m.repository_name for m in failed.values()} == {"legacy/app", "shop/payments"}
    assert all(m.unavailable.startswith("UnsupportedImageType: ") for m in failed.values())
    assert all(m.media_type is None and m.layers is None for m in failed.values())
    images = {i.image_digest: i for i in first.of("image")}
    assert {images[d].artifact_kind for d in failed} == {"container_image", "artifact"}
    assert set(failed) <= set(asked)

    asked.clear()
    proxy.calls.clear()
    _, second = run_scan(config)
    assert proxy.calls["BatchGetImage"] == 0
    assert {m.image_digest for m in second.of("imagemanifest") if m.unavailable} == set(failed)


def test_a_passing_failure_is_asked_again(proxy: AwsProxy) -> None:
    """A failure that may pass (KmsError) is an optional error record and is not cached: the
    next scan asks for that digest alone."""
    config = make_config(proxy, regions=["eu-west-1"])
    victim = ecr_client(proxy.upstream, "eu-west-1").describe_images(
        repositoryName="web/frontend", imageIds=[{"imageTag": "v1.0.0"}]
    )["imageDetails"][0]["imageDigest"]

    def kms(region: str, request: dict[str, Any], reply: dict[str, Any]) -> None:
        kept = [i for i in reply["images"] if i["imageId"]["imageDigest"] != victim]
        if len(kept) < len(reply["images"]):
            reply["images"] = kept
            reply.setdefault("failures", []).append(
                {
                    "imageId": {"imageDigest": victim},
                    "failureCode": "KmsError",
                    "failureReason": "The KMS key is disabled",
                }
            )

    proxy.rewrites["BatchGetImage"] = kms
    _, first = run_scan(config)
    [error] = first.of("error")
    assert (error.optional, error.error_code) == (True, "KmsError")
    assert victim not in {m.image_digest for m in first.of("imagemanifest")}
    del proxy.rewrites["BatchGetImage"]
    asked = _asked(proxy)
    _, second = run_scan(config)
    assert asked == [victim]
    assert second.of("error") == []


def test_full_calls_across_pages_and_kinds_from_each_page(
    proxy: AwsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With calls of 3 digests and pages of 2 images: every call but the last of a repository
    is full, each image is emitted once with its manifest's kind and its parents."""
    monkeypatch.setattr(crawler.collect, "BATCH", 3)
    monkeypatch.setattr(crawler.ecr.manifests, "BATCH", 3)
    sizes: list[tuple[str, int]] = []
    proxy.hooks.append(
        lambda operation, region, request: (
            sizes.append((request["repositoryName"], len(request["imageIds"])))
            if operation == "BatchGetImage"
            else None
        )
    )
    _, sink = run_scan(make_config(proxy, regions=["us-east-1"]))
    assert sink.of("error") == []
    images = sink.of("image")
    manifests = {m.image_digest: m for m in sink.of("imagemanifest")}
    assert sorted(i.image_digest for i in images) == sorted(manifests)
    assert len(manifests) == len(sink.of("imagemanifest"))
    for image in images:
        assert image.artifact_kind == manifests[image.image_digest].artifact_kind
    for image in images:
        for parent in image.index_digests or ():
            assert image.image_digest in {c.digest for c in manifests[parent].children or ()}
    per_repo: dict[str, list[int]] = {}
    for repository, size in sizes:
        per_repo.setdefault(repository, []).append(size)
    for repository, calls in per_repo.items():
        assert sum(calls) == sum(m.repository_name == repository for m in manifests.values())
        # Short: at most the last call for the indexes with the first page, and the last.
        assert sum(n < 3 for n in calls) <= 2, (repository, calls)
    assert sum(len(calls) > 2 for calls in per_repo.values()) >= 2


def test_a_repositorys_manifest_calls_overlap(
    proxy: AwsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repository's BatchGetImage calls are sent several at once, not each after the last
    answer: with every answer 1 s late, some call of a repository goes out less than 1 s after
    the one before it; the manifests stay exact."""
    monkeypatch.setattr(crawler.collect, "BATCH", 2)
    monkeypatch.setattr(crawler.ecr.manifests, "BATCH", 2)
    sent: dict[str, list[float]] = {}
    proxy.hooks.append(
        lambda operation, region, request: (
            sent.setdefault(f"{region}/{request['repositoryName']}", []).append(time.monotonic())
            if operation == "BatchGetImage"
            else None
        )
    )
    proxy.rules.append(Rule("latency", operation="BatchGetImage", delay=1.0))
    _, sink = run_scan(make_config(proxy, regions=["us-east-1"]))
    assert sink.of("error") == []
    assert sorted(m.image_digest for m in sink.of("imagemanifest")) == sorted(
        i.image_digest for i in sink.of("image")
    )
    gaps = [later - earlier for times in sent.values() for earlier, later in pairwise(times)]
    assert min(gaps) < 0.5, sent


def _asked(proxy: AwsProxy) -> list[str]:
    """The digests of every BatchGetImage call from now on."""
    asked: list[str] = []

    def hook(operation: str, region: str, request: dict[str, Any]) -> None:
        if operation == "BatchGetImage":
            asked.extend(i["imageDigest"] for i in request["imageIds"])

    proxy.hooks.append(hook)
    return asked


def test_an_ecr_that_takes_only_its_older_media_types_still_gives_every_manifest(
    proxy: AwsProxy,
) -> None:
    """Should ECR reject the schema 1 and artifact types in acceptedMediaTypes, the crawler asks
    again with the types it always took: every manifest read, no error record."""
    older = {DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX}
    asked: list[list[str]] = []

    def strict_ecr(call: Call) -> dict[str, Any]:
        types = call.request.get("acceptedMediaTypes", [])
        asked.append(types)
        if not set(types) <= older:
            raise WireError(
                "InvalidParameterException", "Invalid parameter at 'acceptedMediaTypes'"
            )
        return call.ask(call.operation, call.request)

    proxy.handlers["BatchGetImage"] = strict_ecr
    _, sink = run_scan(make_config(proxy, regions=["eu-west-1"]))
    assert sink.of("error") == []
    assert len(sink.of("imagemanifest")) == len(sink.of("image"))
    assert any(not set(types) <= older for types in asked)  # the longer list was tried first
    assert set(asked[-1]) == older
