"""The sample registry's artifacts of every kind, as data: a signed Docker schema 1 image, a Helm
chart, a cosign signature pushed by tag, an SBOM and an attestation attached as OCI referrers,
an artifact manifest of the OCI 1.1 drafts, a Windows image with foreign layers and a zstd
image. Each follows the spec or the tool that pushes it (cited below); nothing here calls
anything."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from crawler.demo.data import blob, oci_manifest
from crawler.media_types import (
    COSIGN_SIMPLESIGNING,
    DOCKER_CONFIG,
    DOCKER_FOREIGN_LAYER,
    DOCKER_LAYER,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    DOCKER_SCHEMA1_SIGNED,
    DSSE_ENVELOPE,
    HELM_CHART,
    HELM_CONFIG,
    OCI_ARTIFACT_MANIFEST,
    OCI_EMPTY,
    OCI_LAYER_ZSTD,
)

# The region of the demo (and of the tests' registry) that holds them.
KINDS_REGION = "us-east-1"
SPDX_JSON = "application/spdx+json"
SARIF = "application/sarif+json"
# Windows Server 2019 and 2022 builds, as `docker manifest inspect` shows them in os.version.
WINDOWS_BUILDS = ("10.0.17763.6414", "10.0.20348.2762")
MCR = "https://mcr.microsoft.com/v2/windows/servercore/blobs/"


def schema1(name: str, tag: str, seed: str, layers: int = 3) -> tuple[str, str]:
    """A signed Docker schema 1 manifest (distribution docs/spec/manifest-v2-1.md) as Docker
    1.9 pushed it: pretty-printed JSON with three-space indents and a JWS in `signatures`;
    fsLayers and history newest first, the newest history entry holding the v1 config with
    its os. Its text and its media type."""
    ids = [hashlib.sha256(f"{seed}/layer{i}".encode()).hexdigest() for i in range(layers)]
    history: list[dict[str, Any]] = [
        {"id": ids[i], **({"parent": ids[i - 1]} if i else {})} for i in reversed(range(layers))
    ]
    history[0].update(os="linux", architecture="amd64", config={"Cmd": ["/app"]})
    manifest = {
        "schemaVersion": 1,
        "name": name,
        "tag": tag,
        "architecture": "amd64",
        "fsLayers": [{"blobSum": f"sha256:{i}"} for i in reversed(ids)],
        "history": [{"v1Compatibility": json.dumps(h, separators=(",", ":"))} for h in history],
        "signatures": [
            {
                "header": {
                    "jwk": {"crv": "P-256", "kid": "DEMO:KEY0", "kty": "EC", "x": "AA", "y": "AA"},
                    "alg": "ES256",
                },
                "signature": "ZGVtby1zaWduYXR1cmU",
                "protected": "eyJmb3JtYXRMZW5ndGgiOjEsImZvcm1hdFRhaWwiOiJDbjAifQ",
            }
        ],
    }
    return json.dumps(manifest, indent=3), DOCKER_SCHEMA1_SIGNED


def helm_chart(seed: str, version: str) -> dict[str, Any]:
    """A Helm chart as `helm push` stores it: an OCI manifest with Helm's config and one chart
    layer (helm.sh/docs/topics/registries)."""
    manifest = oci_manifest(seed, layers=0)
    manifest["config"] = blob(f"{seed}/config", HELM_CONFIG)
    manifest["layers"] = [blob(f"{seed}/chart", HELM_CHART)]
    manifest["annotations"] = {
        "org.opencontainers.image.title": seed.rsplit("/", 1)[-1],
        "org.opencontainers.image.version": version,
    }
    return manifest


def cosign_tag_signature(seed: str, subject: str) -> tuple[dict[str, Any], str]:
    """A cosign signature as cosign pushes it without OCI 1.1 referrers (cosign
    specs/SIGNATURE_SPEC.md): an OCI manifest with an image config and one simple signing
    layer carrying the signature in an annotation, tagged `sha256-<hex>.sig`. The manifest and
    its tag."""
    manifest = oci_manifest(f"{seed}/cosign", layers=1)
    layer = blob(f"{seed}/simplesigning", COSIGN_SIMPLESIGNING)
    layer["annotations"] = {"dev.cosignproject.cosign/signature": "MEUCIQDdemo"}
    manifest["layers"] = [layer]
    return manifest, subject.replace(":", "-") + ".sig"


def _referrer(seed: str, artifact_type: str, subject: dict[str, Any]) -> dict[str, Any]:
    """An OCI 1.1 referrer: artifactType, the empty config, one layer, the subject."""
    manifest = oci_manifest(seed, layers=0)
    manifest["artifactType"] = artifact_type
    empty = blob("{}", OCI_EMPTY)["digest"]
    manifest["config"] = {"mediaType": OCI_EMPTY, "digest": empty, "size": 2}
    manifest["layers"] = [blob(f"{seed}/layer", artifact_type)]
    manifest["subject"] = subject
    return manifest


def sbom(seed: str, subject: dict[str, Any]) -> dict[str, Any]:
    """An SPDX SBOM attached as a referrer (`oras attach --artifact-type application/spdx+json`)."""
    return _referrer(f"{seed}/sbom", SPDX_JSON, subject)


def attestation(seed: str, subject: dict[str, Any]) -> dict[str, Any]:
    """A SLSA provenance in a DSSE envelope attached as a referrer (cosign
    specs/ATTESTATION_SPEC.md's layer type, with in-toto's predicate-type annotation)."""
    manifest = _referrer(f"{seed}/attestation", DSSE_ENVELOPE, subject)
    manifest["layers"][0]["annotations"] = {
        "in-toto.io/predicate-type": "https://slsa.dev/provenance/v1"
    }
    return manifest


def artifact_manifest(seed: str, subject: dict[str, Any]) -> dict[str, Any]:
    """A SARIF report pushed as the artifact manifest of image-spec v1.1.0-rc2 (artifact.md:
    mediaType, artifactType, blobs, subject, annotations; no config)."""
    return {
        "mediaType": OCI_ARTIFACT_MANIFEST,
        "artifactType": SARIF,
        "blobs": [blob(f"{seed}/sarif", SARIF)],
        "subject": subject,
        "annotations": {"org.opencontainers.image.created": "2023-03-01T00:00:00Z"},
    }


def windows_image(seed: str, build: str) -> dict[str, Any]:
    """A Windows image (Docker v2): its two base layers are foreign, fetched from their `urls`
    at Microsoft's registry and never pushed (manifest-v2-2.md, "urls"), then its own."""
    foreign = []
    for i in range(2):
        layer = blob(f"windows/servercore/{build}/{i}", DOCKER_FOREIGN_LAYER)
        layer["size"] += 1_500_000_000
        layer["urls"] = [MCR + layer["digest"]]
        foreign.append(layer)
    return {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": blob(f"{seed}/{build}/config", DOCKER_CONFIG),
        "layers": [*foreign, blob(f"{seed}/{build}/app", DOCKER_LAYER)],
    }


def windows_platform(build: str) -> dict[str, str]:
    return {"architecture": "amd64", "os": "windows", "os.version": build}


def manifest_list(children: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": children}


def zstd_image(seed: str) -> dict[str, Any]:
    """An OCI image whose layers are zstd-compressed (image-spec layer.md, `+zstd`)."""
    manifest = oci_manifest(seed, layers=2)
    for layer in manifest["layers"]:
        layer["mediaType"] = OCI_LAYER_ZSTD
    return manifest
