"""Artifact kinds: what a manifest, or DescribeImages' media types and tags, say an image is."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import MANIFEST_SCOPE

from crawler.artifacts import cosign_tag, described_kind, settled
from crawler.demo.data import attestation as buildx_attestation
from crawler.demo.data import docker_manifest, encode, index, oci_manifest, signature
from crawler.demo.kinds import (
    artifact_manifest,
    attestation,
    cosign_tag_signature,
    helm_chart,
    manifest_list,
    sbom,
    schema1,
    windows_image,
    zstd_image,
)
from crawler.ecr.manifests import parse_manifest
from crawler.media_types import (
    COSIGN_SIGNATURE,
    COSIGN_SIMPLESIGNING,
    DOCKER_CONFIG,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    HELM_CONFIG,
    IN_TOTO,
    NOTARY_SIGNATURE,
    OCI_ARTIFACT_MANIFEST,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
)

SUBJECT_DIGEST = "sha256:" + "a" * 64
SUBJECT: dict[str, Any] = {"mediaType": OCI_MANIFEST, "digest": SUBJECT_DIGEST, "size": 500}
# The subject as DescribeImages describes it (crawler.demo.data.signature takes that).
DETAIL = {"imageManifestMediaType": OCI_MANIFEST, "imageDigest": "sha256:a", "imageSizeInBytes": 1}
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"


def kind_of(manifest: dict[str, Any] | str, media_type: str = "") -> tuple[str | None, str | None]:
    text = manifest if isinstance(manifest, str) else encode(manifest)[0]
    record = parse_manifest(text, media_type, scope=MANIFEST_SCOPE, referrers=None)
    return record.artifact_kind, record.artifact_kind_by


def _bundle(content: str, predicate: str | None = None) -> dict[str, Any]:
    """cosign's Sigstore bundle referrer (cosign specs/BUNDLE_SPEC.md)."""
    manifest = oci_manifest("bundle", layers=1)
    manifest["artifactType"] = "application/vnd.dev.sigstore.bundle.v0.3+json"
    manifest["config"] = {"mediaType": OCI_EMPTY, "digest": "sha256:44", "size": 2}
    manifest["annotations"] = {"dev.sigstore.bundle.content": content}
    if predicate:
        manifest["annotations"]["dev.sigstore.bundle.predicateType"] = predicate
    return manifest


@pytest.mark.parametrize(
    ("manifest", "kind", "by"),
    [
        (docker_manifest("d"), "container_image", DOCKER_CONFIG),
        (oci_manifest("o"), "container_image", OCI_CONFIG),
        (zstd_image("z"), "container_image", OCI_CONFIG),
        (windows_image("w", "10.0.17763.6414"), "container_image", DOCKER_CONFIG),
        (index([]), "image_index", OCI_INDEX),
        (manifest_list([]), "image_index", DOCKER_LIST),
        (helm_chart("charts/c", "1.0.0"), "helm_chart", HELM_CONFIG),
        (signature("s", DETAIL), "signature", COSIGN_SIGNATURE),
        (cosign_tag_signature("c", SUBJECT_DIGEST)[0], "signature", COSIGN_SIMPLESIGNING),
        (sbom("b", SUBJECT), "sbom", "application/spdx+json"),
        (attestation("a", SUBJECT), "attestation", "application/vnd.dsse.envelope.v1+json"),
        (buildx_attestation("x"), "attestation", IN_TOTO),
        (artifact_manifest("m", SUBJECT), "artifact", "application/sarif+json"),
        (_bundle("message-signature"), "signature", BUNDLE),
        (_bundle("dsse-envelope", "https://slsa.dev/provenance/v1"), "attestation", BUNDLE),
        (
            _bundle("dsse-envelope", "https://spdx.dev/Document"),
            "sbom",
            "https://spdx.dev/Document",
        ),
    ],
)
def test_each_manifest_kind_and_what_decided_it(
    manifest: dict[str, Any], kind: str, by: str
) -> None:
    """Each kind is recognised from its manifest, with the type that decided it."""
    assert kind_of(manifest) == (kind, by)


def test_schema1_is_a_container_image_with_layers_in_push_order_and_a_platform() -> None:
    """Schema 1 (signed or not): fsLayers reversed into push order, no sizes, the platform from
    architecture and the newest history entry's os."""
    text, media_type = schema1("legacy/app", "1.0", "s", layers=3)
    body = json.loads(text)
    for media, manifest_text in ((media_type, text), (DOCKER_SCHEMA1, json.dumps(body))):
        record = parse_manifest(manifest_text, media, scope=MANIFEST_SCOPE, referrers=None)
        assert (record.artifact_kind, record.artifact_kind_by) == ("container_image", media)
        assert record.schema_version == 1
        assert record.layers is not None
        assert [layer.digest for layer in record.layers] == [
            entry["blobSum"] for entry in reversed(body["fsLayers"])
        ]
        assert all(layer.size is None for layer in record.layers)
        assert record.total_size is None
        assert record.platform is not None
        assert (record.platform.os, record.platform.architecture) == ("linux", "amd64")
    assert media_type == DOCKER_SCHEMA1_SIGNED


def test_layers_as_they_are() -> None:
    """Foreign layers keep their urls, zstd and non-distributable layers their media types."""
    record = parse_manifest(
        encode(windows_image("w", "10.0.17763.6414"))[0], "", scope=MANIFEST_SCOPE, referrers=None
    )
    assert record.layers is not None
    foreign = [layer for layer in record.layers if layer.urls]
    assert len(foreign) == 2
    assert all(layer.media_type and "foreign" in layer.media_type for layer in foreign)
    assert foreign[0].urls
    assert foreign[0].urls[0].endswith(str(foreign[0].digest))
    zstd = parse_manifest(encode(zstd_image("z"))[0], "", scope=MANIFEST_SCOPE, referrers=None)
    assert {layer.media_type for layer in zstd.layers or ()} == {
        "application/vnd.oci.image.layer.v1.tar+zstd"
    }
    nondistributable = oci_manifest("n", layers=1)
    nondistributable["layers"][0]["mediaType"] = (
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    )
    nondistributable["layers"][0]["urls"] = ["https://example.com/layer"]
    record = parse_manifest(encode(nondistributable)[0], "", scope=MANIFEST_SCOPE, referrers=None)
    assert record.artifact_kind == "container_image"
    assert record.layers
    assert record.layers[0].urls == ["https://example.com/layer"]


def test_windows_platforms_keep_os_version_and_features() -> None:
    """A manifest list's Windows entries keep os.version and os.features."""
    platform = {
        "architecture": "amd64",
        "os": "windows",
        "os.version": "10.0.20348.2762",
        "os.features": ["win32k"],
    }
    child = {"mediaType": DOCKER_MANIFEST, "digest": "sha256:c", "size": 1, "platform": platform}
    record = parse_manifest(
        encode(manifest_list([child]))[0], "", scope=MANIFEST_SCOPE, referrers=None
    )
    assert record.children is not None
    found = record.children[0].platform
    assert found is not None
    assert (found.os, found.os_version, found.os_features) == (
        "windows",
        "10.0.20348.2762",
        ["win32k"],
    )


def test_artifact_manifest_blobs_are_its_layers() -> None:
    """The OCI 1.1 drafts' artifact manifest: blobs as layers, with subject and sizes."""
    manifest = artifact_manifest("m", SUBJECT)
    record = parse_manifest(encode(manifest)[0], "", scope=MANIFEST_SCOPE, referrers=None)
    assert record.media_type == OCI_ARTIFACT_MANIFEST
    assert record.layers
    assert record.layers[0].digest == manifest["blobs"][0]["digest"]
    assert record.total_size == manifest["blobs"][0]["size"]
    assert record.subject
    assert record.subject.digest == SUBJECT["digest"]


def test_unknown_manifest_types_are_recorded_as_such() -> None:
    """A manifest type the crawler does not know, or text it cannot parse, is `unknown`."""
    strange = json.dumps({"mediaType": "application/vnd.example.manifest.v9+json"})
    assert kind_of(strange) == ("unknown", "application/vnd.example.manifest.v9+json")
    assert kind_of("{not json", "application/x-strange") == ("unknown", "application/x-strange")


@pytest.mark.parametrize(
    ("manifest_type", "artifact_type", "attached", "kind"),
    [
        (DOCKER_MANIFEST, DOCKER_CONFIG, False, "container_image"),
        (OCI_MANIFEST, OCI_CONFIG, False, "container_image"),
        (DOCKER_SCHEMA1_SIGNED, None, False, "container_image"),
        (OCI_INDEX, None, False, "image_index"),
        (DOCKER_LIST, None, False, "image_index"),
        (OCI_MANIFEST, HELM_CONFIG, False, "helm_chart"),
        (OCI_MANIFEST, NOTARY_SIGNATURE, True, "signature"),
        (OCI_MANIFEST, "application/vnd.cyclonedx+json", True, "sbom"),
        (OCI_MANIFEST, IN_TOTO, True, "attestation"),
        (OCI_MANIFEST, OCI_CONFIG, True, "artifact"),
        (OCI_MANIFEST, "application/vnd.example.thing", False, "artifact"),
        (OCI_ARTIFACT_MANIFEST, None, True, "artifact"),
        ("application/vnd.example.v9", None, False, "unknown"),
    ],
)
def test_described_kind_from_describe_images(
    manifest_type: str, artifact_type: str | None, attached: bool, kind: str
) -> None:
    """Without the manifest, DescribeImages' media types give the kind."""
    assert described_kind(manifest_type, artifact_type, attached)[0] == kind


def test_cosign_tags_name_their_subject() -> None:
    """sha256-<hex>.sig, .att and .sbom are cosign's; anything else is a plain tag."""
    hexdigest = "b" * 64
    assert cosign_tag(["v1", f"sha256-{hexdigest}.sig"]) == (
        "signature",
        f"sha256:{hexdigest}",
        f"sha256-{hexdigest}.sig",
    )
    assert cosign_tag([f"sha256-{hexdigest}.att"]) == (
        "attestation",
        f"sha256:{hexdigest}",
        f"sha256-{hexdigest}.att",
    )
    assert cosign_tag([f"sha256-{hexdigest}.sbom"])[0] == "sbom"  # type: ignore[index]
    assert cosign_tag(["sha256-short.sig", f"sha256-{hexdigest}", "latest"]) is None


def test_a_manifest_does_not_unsay_an_attached_artifact() -> None:
    """A cosign artifact whose layers say nothing keeps the kind its tag gave."""
    assert settled(("signature", "sha256-x.sig"), ("container_image", OCI_CONFIG)) == (
        "signature",
        "sha256-x.sig",
    )
    assert settled(("container_image", OCI_CONFIG), ("sbom", "text/spdx")) == ("sbom", "text/spdx")
