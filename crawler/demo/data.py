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


def frontend(region: str, name: str) -> dict[str, Any]:
    """A web/frontend image: `name` is its index (0-4) or "dangling"."""
    return docker_manifest(f"{region}/frontend/{name}")


def trainer(region: str, i: int) -> dict[str, Any]:
    return docker_manifest(f"{region}/trainer/{i}", layers=6)


# The demo's scanning, one mode per region (crawler/demo/scanner.py says what each one means):
# the legacy Clair-based basic scanning, the AWS-native basic scanning that replaces it, and
# enhanced scanning by Amazon Inspector.
DEMO_SCANNING = {"eu-west-1": "CLAIR", "us-east-1": "AWS_NATIVE", "ap-southeast-2": "ENHANCED"}
# The enhanced registry's rule, the console's default: "all of your repositories are
# continuously scanned" (User Guide, enhanced scanning).
ENHANCED_RULES = [
    {
        "scanFrequency": "CONTINUOUS_SCAN",
        "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}],
    }
]
# Images whose scan gave no findings, by digest, so the compliance report has something to show:
# a basic scan that failed, and an image Inspector stopped rescanning (its re-scan duration ran
# out). Outside the AWS-native and enhanced regions they are scanned like any other.
SCAN_OUTCOMES = {
    encode(trainer("us-east-1", 0))[1]: "FAILED",
    encode(frontend("ap-southeast-2", "dangling"))[1]: "SCAN_ELIGIBILITY_EXPIRED",
}
# The vulnerabilities the AWS-native and enhanced scanners find, a few per image chosen by its
# digest (moto's Clair keeps its own CVE-9999-9999). Made-up identifiers: sample data only.
VULNERABILITIES = [
    {
        "id": "CVE-9999-1001",
        "severity": "CRITICAL",
        "score": 9.8,
        "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "package": ("openssl", "3.0.2", "3.0.15"),
    },
    {
        "id": "CVE-9999-1002",
        "severity": "HIGH",
        "score": 7.5,
        "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
        "package": ("zlib", "1.2.11", "1.2.13"),
    },
    {
        "id": "CVE-9999-1003",
        "severity": "MEDIUM",
        "score": 5.3,
        "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N",
        "package": ("glibc", "2.35", "2.39"),
    },
    {
        "id": "CVE-9999-1004",
        "severity": "LOW",
        "score": 3.3,
        "vector": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:L",
        "package": ("busybox", "1.36.0", "1.36.1"),
    },
]

# The registry settings of the demo's AWS-native region (crawler/demo/registry_settings.py says
# what the emulator makes of them). Managed signing: api/* signed with the release profile, and
# ml/* with a profile the pushing principal may not use, so its signing fails. Made-up ARNs.
SIGNING_REGION = "us-east-1"
RELEASE_PROFILE = "arn:aws:signer:us-east-1:123456789012:/signing-profiles/ecr_release"
MODELS_PROFILE = "arn:aws:signer:us-east-1:123456789012:/signing-profiles/ml_models"
UNUSABLE_PROFILES = frozenset({MODELS_PROFILE})
SIGNING_RULES = [
    {
        "signingProfileArn": RELEASE_PROFILE,
        "repositoryFilters": [{"filter": "api/*", "filterType": "WILDCARD_MATCH"}],
    },
    {
        "signingProfileArn": MODELS_PROFILE,
        "repositoryFilters": [{"filter": "ml/*", "filterType": "WILDCARD_MATCH"}],
    },
]
# Replication of api/ to a region of its own account, and to a partner account whose registry
# policy does not let it replicate there.
PARTNER_ACCOUNT = "210987654321"
REPLICATION_RULES = [
    {
        "destinations": [
            {"region": "us-west-2", "registryId": "123456789012"},
            {"region": "eu-central-1", "registryId": PARTNER_ACCOUNT},
        ],
        "repositoryFilters": [{"filter": "api/", "filterType": "PREFIX_MATCH"}],
    }
]
# Repository creation templates: one a compliance team would write, one left at the defaults.
CREATION_TEMPLATES: list[dict[str, Any]] = [
    {
        "prefix": "prod",
        "description": "Production repositories, created on push and by replication",
        "appliedFor": ["CREATE_ON_PUSH", "REPLICATION"],
        "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
        "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "latest"}],
        "encryptionConfiguration": {
            "encryptionType": "KMS_DSSE",
            "kmsKey": "arn:aws:kms:us-east-1:123456789012:key/prod",
        },
        "lifecyclePolicy": json.dumps(LIFECYCLE_POLICY),
        "resourceTags": [{"Key": "env", "Value": "prod"}],
    },
    {
        "prefix": "docker-hub",
        "description": "Pull-through cache of Docker Hub",
        "appliedFor": ["PULL_THROUGH_CACHE"],
    },
]
