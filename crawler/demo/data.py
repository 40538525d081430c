"""The sample registry as data: manifests (Docker v2, OCI, a multi-arch index with an
attestation, a signature), the policies and settings of its repositories, and the emulator's
made-up credentials. Nothing here calls anything."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from crawler.media_types import (
    COSIGN_SIGNATURE,
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    IN_TOTO,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
)

DEMO_REGIONS = "us-east-1,eu-west-1,ap-southeast-2"
DEMO_ACCESS_KEY = "AKIADEMODEMODEMODEMO"
DEMO_SECRET_KEY = "demo-secret-access-key-not-a-real-one"


def blob(seed: str, media_type: str) -> dict[str, Any]:
    """A descriptor of a made-up blob: the same seed always gives the same digest and size."""
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return {
        "mediaType": media_type,
        "digest": f"sha256:{digest}",
        "size": 1000 + int(digest[:6], 16),
    }


def docker_manifest(seed: str, layers: int = 3) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": blob(f"{seed}/config", DOCKER_CONFIG),
        "layers": [blob(f"{seed}/layer{i}", DOCKER_LAYER) for i in range(layers)],
    }


def oci_manifest(
    seed: str, layers: int = 2, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": blob(f"{seed}/config", OCI_CONFIG),
        "layers": [blob(f"{seed}/layer{i}", OCI_LAYER) for i in range(layers)],
    }
    if annotations:
        manifest["annotations"] = annotations
    return manifest


def encode(manifest: dict[str, Any]) -> tuple[str, str]:
    """The manifest's text and its digest: ECR's digest is the sha256 of the exact bytes."""
    text = json.dumps(manifest, separators=(",", ":"), sort_keys=True)
    return text, f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"


def child(manifest: dict[str, Any], platform: dict[str, str], **extra: Any) -> dict[str, Any]:
    """The descriptor of `manifest` in an index, for `platform`."""
    text, digest = encode(manifest)
    return {
        "mediaType": manifest["mediaType"],
        "digest": digest,
        "size": len(text),
        "platform": platform,
        **extra,
    }


def attestation(seed: str) -> dict[str, Any]:
    """A buildx provenance attestation: an OCI manifest with one in-toto layer."""
    manifest = oci_manifest(f"{seed}/attestation", layers=1)
    manifest["layers"][0]["mediaType"] = IN_TOTO
    return manifest


def index(children: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}


def signature(seed: str, subject: dict[str, Any]) -> dict[str, Any]:
    """A cosign signature attached to the image `subject` (an ECR image detail) as an OCI
    referrer."""
    manifest = oci_manifest(f"{seed}/signature", layers=1)
    manifest["artifactType"] = COSIGN_SIGNATURE
    manifest["config"] = {
        "mediaType": OCI_EMPTY,
        "digest": blob("{}", OCI_EMPTY)["digest"],
        "size": 2,
    }
    manifest["subject"] = {
        "mediaType": subject["imageManifestMediaType"],
        "digest": subject["imageDigest"],
        "size": subject["imageSizeInBytes"],
    }
    return manifest


def orders_annotations(i: int) -> dict[str, str]:
    return {
        "org.opencontainers.image.source": "https://github.com/example/orders",
        "org.opencontainers.image.revision": hashlib.sha1(str(i).encode()).hexdigest(),
    }


LIFECYCLE_POLICY = {
    "rules": [
        {
            "rulePriority": 1,
            "description": "expire untagged images after 14 days",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 14,
            },
            "action": {"type": "expire"},
        }
    ]
}
REPOSITORY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "PullFromProd",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
        }
    ],
}
SCANNING_RULES = [
    {
        "scanFrequency": "SCAN_ON_PUSH",
        "repositoryFilters": [{"filter": "web/*", "filterType": "WILDCARD"}],
    }
]
