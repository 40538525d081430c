"""The demo registry: a moto ECR emulator on loopback, seeded with a realistic sample registry
(Docker v2 and OCI manifests, a multi-arch index with its children, untagged images, several tags
per image). The tests seed their emulator with the same function."""

from __future__ import annotations

import hashlib
import json
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiobotocore.session import AioSession

DEMO_REGIONS = "us-east-1,eu-west-1,ap-southeast-2"
DEMO_ACCESS_KEY = "AKIADEMODEMODEMODEMO"
DEMO_SECRET_KEY = "demo-secret-access-key-not-a-real-one"

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
IN_TOTO = "application/vnd.in-toto+json"


def _blob(seed: str, media_type: str) -> dict[str, Any]:
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
        "config": _blob(f"{seed}/config", DOCKER_CONFIG),
        "layers": [_blob(f"{seed}/layer{i}", DOCKER_LAYER) for i in range(layers)],
    }


def oci_manifest(
    seed: str, layers: int = 2, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _blob(f"{seed}/config", OCI_CONFIG),
        "layers": [_blob(f"{seed}/layer{i}", OCI_LAYER) for i in range(layers)],
    }
    if annotations:
        manifest["annotations"] = annotations
    return manifest


def encode(manifest: dict[str, Any]) -> tuple[str, str]:
    """The manifest's text and its digest: ECR's digest is the sha256 of the exact bytes."""
    text = json.dumps(manifest, separators=(",", ":"), sort_keys=True)
    return text, f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"


def _put(ecr: Any, repository: str, manifest: dict[str, Any], *tags: str) -> str:
    text, digest = encode(manifest)
    # Always pass the digest: moto otherwise invents one that is not the manifest's.
    for tag in tags or (None,):
        params = {"imageTag": tag} if tag else {}
        ecr.put_image(
            repositoryName=repository,
            imageManifest=text,
            imageManifestMediaType=manifest["mediaType"],
            imageDigest=digest,
            **params,
        )
    return digest


def _multi_arch(ecr: Any, repository: str, seed: str, *tags: str) -> None:
    """An OCI index with amd64 and arm64 images and a buildx attestation; the children are
    pushed first by digest, so they also appear as untagged images, as on ECR."""
    children = []
    for arch in ("amd64", "arm64"):
        manifest = oci_manifest(f"{seed}/{arch}")
        text, digest = encode(manifest)
        _put(ecr, repository, manifest)
        children.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": len(text),
                "platform": {"os": "linux", "architecture": arch},
            }
        )
    attestation = oci_manifest(f"{seed}/attestation", layers=1)
    attestation["layers"][0]["mediaType"] = IN_TOTO
    text, digest = encode(attestation)
    _put(ecr, repository, attestation)
    children.append(
        {
            "mediaType": OCI_MANIFEST,
            "digest": digest,
            "size": len(text),
            "platform": {"os": "unknown", "architecture": "unknown"},
            "annotations": {
                "vnd.docker.reference.type": "attestation-manifest",
                "vnd.docker.reference.digest": children[0]["digest"],
            },
        }
    )
    _put(
        ecr, repository, {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}, *tags
    )


def seed_region(ecr: Any, region: str) -> None:
    """One region of the sample registry; regions differ a little, as real ones do."""
    ecr.create_repository(
        repositoryName="web/frontend",
        imageScanningConfiguration={"scanOnPush": True},
        imageTagMutability="MUTABLE",
    )
    for i in range(5):
        tags = [f"v1.{i}.0"] + (["latest"] if i == 4 else [])
        _put(ecr, "web/frontend", docker_manifest(f"{region}/frontend/{i}"), *tags)
    _put(ecr, "web/frontend", docker_manifest(f"{region}/frontend/dangling"))

    ecr.create_repository(
        repositoryName="api/orders",
        imageTagMutability="IMMUTABLE",
        encryptionConfiguration={
            "encryptionType": "KMS",
            "kmsKey": f"arn:aws:kms:{region}:123456789012:key/orders",
        },
    )
    for i in range(3):
        manifest = oci_manifest(
            f"{region}/orders/{i}",
            annotations={
                "org.opencontainers.image.source": "https://github.com/example/orders",
                "org.opencontainers.image.revision": hashlib.sha1(str(i).encode()).hexdigest(),
            },
        )
        _put(ecr, "api/orders", manifest, f"2.{i}.0", f"2.{i}", *(["stable"] if i == 2 else []))

    ecr.create_repository(repositoryName="base/python")
    _multi_arch(ecr, "base/python", f"{region}/python/3.12", "3.12", "3.12-slim")
    _multi_arch(ecr, "base/python", f"{region}/python/3.13", "3.13", "latest")

    if region != "eu-west-1":
        ecr.create_repository(repositoryName="tools/ci-runner")  # an empty repository
        ecr.create_repository(repositoryName="ml/trainer")
        for i in range(4):
            _put(ecr, "ml/trainer", docker_manifest(f"{region}/trainer/{i}", layers=6))
    _settings(ecr, region)


COSIGN_SIGNATURE = "application/vnd.dev.cosign.artifact.sig.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"


def _settings(ecr: Any, region: str) -> None:
    """Scans, a signature attached as an OCI referrer, policies, tags and registry settings."""
    for repository, tag in (("web/frontend", "latest"), ("api/orders", "2.2.0")):
        ecr.start_image_scan(repositoryName=repository, imageId={"imageTag": tag})
    signed = ecr.describe_images(repositoryName="api/orders", imageIds=[{"imageTag": "2.2.0"}])
    subject = signed["imageDetails"][0]
    signature = oci_manifest(f"{region}/orders/signature", layers=1)
    signature["artifactType"] = COSIGN_SIGNATURE
    signature["config"] = {
        "mediaType": OCI_EMPTY,
        "digest": _blob("{}", OCI_EMPTY)["digest"],
        "size": 2,
    }
    signature["subject"] = {
        "mediaType": subject["imageManifestMediaType"],
        "digest": subject["imageDigest"],
        "size": subject["imageSizeInBytes"],
    }
    _put(ecr, "api/orders", signature)
    ecr.put_lifecycle_policy(
        repositoryName="web/frontend",
        lifecyclePolicyText=json.dumps(
            {
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
        ),
    )
    ecr.set_repository_policy(
        repositoryName="api/orders",
        policyText=json.dumps(
            {
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
        ),
    )
    for repository in ("web/frontend", "api/orders"):
        arn = ecr.describe_repositories(repositoryNames=[repository])["repositories"][0]
        ecr.tag_resource(
            resourceArn=arn["repositoryArn"],
            tags=[
                {"Key": "team", "Value": repository.split("/")[0]},
                {"Key": "env", "Value": "prod"},
            ],
        )
    ecr.put_registry_scanning_configuration(
        scanType="BASIC",
        rules=[
            {
                "scanFrequency": "SCAN_ON_PUSH",
                "repositoryFilters": [{"filter": "web/*", "filterType": "WILDCARD"}],
            }
        ],
    )


def seed(endpoint_url: str, regions: list[str]) -> None:
    """Create the sample registry in `regions` of the emulator at `endpoint_url`."""
    import boto3

    for region in regions:
        ecr = boto3.client(
            "ecr",
            region_name=region,
            endpoint_url=endpoint_url,
            aws_access_key_id=DEMO_ACCESS_KEY,
            aws_secret_access_key=DEMO_SECRET_KEY,
        )
        seed_region(ecr, region)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fill_moto_gaps() -> None:
    """moto 5 lacks a few ECR behaviours the crawler reads; the emulator gets them here, on the
    server side: DescribeImages reports the scan status and findings summary after
    StartImageScan, artifactMediaType and subjectManifestDigest from the manifest;
    ListImageReferrers answers from the subjects of the repository's manifests;
    ListPullTimeUpdateExclusions and DescribePullThroughCacheRules answer "none"."""
    from moto.core.responses import ActionResult
    from moto.ecr.models import Image
    from moto.ecr.responses import ECRResponse

    def manifest(image: Any) -> dict[str, Any]:
        return json.loads(image.image_manifest)  # type: ignore[no-any-return]

    def scanned(image: Any, value: Any) -> Any:
        return value if image.last_scan else None

    derived = {
        "image_scan_status": lambda i: scanned(
            i, {"status": "COMPLETE", "description": "The scan was completed."}
        ),
        "image_scan_findings_summary": lambda i: scanned(
            i,
            {
                "imageScanCompletedAt": i.last_scan,
                "vulnerabilitySourceUpdatedAt": i.last_scan,
                "findingSeverityCounts": {"HIGH": 1},  # what moto's findings hold
            },
        ),
        "subject_manifest_digest": lambda i: manifest(i).get("subject", {}).get("digest"),
        "artifact_media_type": lambda i: manifest(i).get("config", {}).get("mediaType"),
    }
    for name, getter in derived.items():
        setattr(Image, name, property(getter))

    def list_image_referrers(self: Any) -> Any:
        repository = self.ecr_backend._get_repository(
            self._get_param("repositoryName"), self._get_param("registryId")
        )
        subject = self._get_param("subjectId")["imageDigest"]
        referrers = [
            {
                "digest": image.image_digest,
                "mediaType": image.image_manifest_media_type,
                "artifactType": body.get("artifactType") or body["config"]["mediaType"],
                "size": len(image.image_manifest),
                "annotations": body.get("annotations", {}),
                "artifactStatus": "ACTIVE",
            }
            for image in repository.images
            if (body := manifest(image)).get("subject", {}).get("digest") == subject
        ]
        return ActionResult({"referrers": referrers})

    answers = {
        "list_image_referrers": list_image_referrers,
        "list_pull_time_update_exclusions": lambda self: ActionResult(
            {"pullTimeUpdateExclusions": []}
        ),
        "describe_pull_through_cache_rules": lambda self: ActionResult(
            {"pullThroughCacheRules": []}
        ),
    }
    for name, answer in answers.items():
        setattr(ECRResponse, name, answer)


@contextmanager
def run_emulator() -> Iterator[str]:
    """A moto server on a free loopback port, for as long as the block runs."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        from crawler.errors import ConfigError

        raise ConfigError(
            "the demo needs the emulator: pip install 'ecr-crawler[demo]' (make demo does)"
        ) from None
    # werkzeug logs every request of the emulator; those are not the scan's logs.
    logging.getLogger("werkzeug").disabled = True
    _fill_moto_gaps()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextmanager
def start_emulator() -> Iterator[str]:
    """The emulator, seeded with the sample registry in every demo region."""
    with run_emulator() as endpoint:
        seed(endpoint, DEMO_REGIONS.split(","))
        yield endpoint


def demo_session() -> AioSession:
    session = AioSession()
    session.set_credentials(DEMO_ACCESS_KEY, DEMO_SECRET_KEY)
    return session
