"""Seeding the sample registry into an ECR (the emulator) through boto3: repositories, images
pushed by digest and tag, artifacts of every kind, scans, a signature, policies, tags and
registry settings; and, for the demo, each region's scanning mode, set with the calls that set
it on AWS."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from crawler.demo.data import (
    CREATION_TEMPLATES,
    DEMO_ACCESS_KEY,
    DEMO_SECRET_KEY,
    ENHANCED_RULES,
    LIFECYCLE_POLICY,
    REPLICATION_RULES,
    REPOSITORY_POLICY,
    SCANNING_RULES,
    SIGNING_REGION,
    SIGNING_RULES,
    attestation,
    child,
    encode,
    frontend,
    index,
    oci_manifest,
    orders_annotations,
    signature,
    trainer,
)
from crawler.demo.kinds import (
    KINDS_REGION,
    WINDOWS_BUILDS,
    artifact_manifest,
    cosign_tag_signature,
    helm_chart,
    manifest_list,
    sbom,
    schema1,
    windows_image,
    windows_platform,
    zstd_image,
)
from crawler.demo.kinds import (
    attestation as attestation_referrer,
)

# Regions without ml/trainer and tools/ci-runner: regions differ a little, as real ones do.
SMALL_REGIONS = frozenset({"eu-west-1"})


def put(ecr: Any, repository: str, manifest: dict[str, Any], *tags: str) -> str:
    """Push `manifest` once per tag (untagged without tags); its digest."""
    text, _ = encode(manifest)
    return put_text(ecr, repository, text, manifest["mediaType"], *tags)


def put_text(ecr: Any, repository: str, text: str, media_type: str, *tags: str) -> str:
    """Push a manifest's exact text once per tag (untagged without tags); its digest, the
    sha256 of that text."""
    digest = f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"
    # Always pass the digest: moto otherwise invents one that is not the manifest's.
    for tag in tags or (None,):
        params = {"imageTag": tag} if tag else {}
        ecr.put_image(
            repositoryName=repository,
            imageManifest=text,
            imageManifestMediaType=media_type,
            imageDigest=digest,
            **params,
        )
    return digest


def multi_arch(ecr: Any, repository: str, seed: str, *tags: str) -> None:
    """An OCI index with amd64 and arm64 images and a buildx attestation; the children are
    pushed first by digest, so they also appear as untagged images, as on ECR."""
    children = []
    for arch in ("amd64", "arm64"):
        manifest = oci_manifest(f"{seed}/{arch}")
        put(ecr, repository, manifest)
        children.append(child(manifest, {"os": "linux", "architecture": arch}))
    proof = attestation(seed)
    put(ecr, repository, proof)
    references = {
        "vnd.docker.reference.type": "attestation-manifest",
        "vnd.docker.reference.digest": children[0]["digest"],
    }
    unknown = {"os": "unknown", "architecture": "unknown"}
    children.append(child(proof, unknown, annotations=references))
    put(ecr, repository, index(children), *tags)


def seed_region(ecr: Any, region: str) -> None:
    """One region of the sample registry; regions differ a little, as real ones do."""
    ecr.create_repository(
        repositoryName="web/frontend",
        imageScanningConfiguration={"scanOnPush": True},
        imageTagMutability="MUTABLE",
    )
    for i in range(5):
        tags = [f"v1.{i}.0"] + (["latest"] if i == 4 else [])
        put(ecr, "web/frontend", frontend(region, str(i)), *tags)
    put(ecr, "web/frontend", frontend(region, "dangling"))

    ecr.create_repository(
        repositoryName="api/orders",
        imageTagMutability="IMMUTABLE",
        encryptionConfiguration={
            "encryptionType": "KMS",
            "kmsKey": f"arn:aws:kms:{region}:123456789012:key/orders",
        },
    )
    for i in range(3):
        manifest = oci_manifest(f"{region}/orders/{i}", annotations=orders_annotations(i))
        put(ecr, "api/orders", manifest, f"2.{i}.0", f"2.{i}", *(["stable"] if i == 2 else []))

    ecr.create_repository(repositoryName="base/python")
    multi_arch(ecr, "base/python", f"{region}/python/3.12", "3.12", "3.12-slim")
    multi_arch(ecr, "base/python", f"{region}/python/3.13", "3.13", "latest")

    if region not in SMALL_REGIONS:
        ecr.create_repository(repositoryName="tools/ci-runner")  # an empty repository
        ecr.create_repository(repositoryName="ml/trainer")
        for i in range(4):
            put(ecr, "ml/trainer", trainer(region, i))
    if region == KINDS_REGION:
        seed_kinds(ecr, region)
    _settings(ecr, region)


def seed_kinds(ecr: Any, region: str) -> None:
    """One artifact of every kind (crawler/demo/kinds.py), in repositories of their own: a
    signed schema 1 image, a Helm chart, an image with a cosign signature by tag and an SBOM,
    an attestation and an OCI 1.1 draft artifact manifest as referrers, a Windows manifest list
    (two builds, foreign layers) and a zstd image."""
    ecr.create_repository(repositoryName="legacy/app")
    put_text(ecr, "legacy/app", *schema1("legacy/app", "1.0", f"{region}/legacy"), "1.0")
    ecr.create_repository(repositoryName="charts/orders")
    put(ecr, "charts/orders", helm_chart(f"{region}/charts/orders", "0.3.0"), "0.3.0")
    ecr.create_repository(repositoryName="shop/payments")
    image = oci_manifest(f"{region}/payments/1")
    digest = put(ecr, "shop/payments", image, "1.0.0")
    subject = {"mediaType": image["mediaType"], "digest": digest, "size": len(encode(image)[0])}
    signature_manifest, tag = cosign_tag_signature(f"{region}/payments", digest)
    put(ecr, "shop/payments", signature_manifest, tag)
    for referrer in (sbom, attestation_referrer, artifact_manifest):
        put(ecr, "shop/payments", referrer(f"{region}/payments", subject))
    ecr.create_repository(repositoryName="windows/iis")
    children = []
    for build in WINDOWS_BUILDS:
        manifest = windows_image(f"{region}/iis", build)
        put(ecr, "windows/iis", manifest)
        children.append(child(manifest, windows_platform(build)))
    put(ecr, "windows/iis", manifest_list(children), "ltsc")
    ecr.create_repository(repositoryName="base/busybox")
    put(ecr, "base/busybox", zstd_image(f"{region}/busybox"), "1.36-zstd")


def _settings(ecr: Any, region: str) -> None:
    """Scans, a signature attached as an OCI referrer, policies, tags and registry settings."""
    for repository, tag in (("web/frontend", "latest"), ("api/orders", "2.2.0")):
        ecr.start_image_scan(repositoryName=repository, imageId={"imageTag": tag})
    signed = ecr.describe_images(repositoryName="api/orders", imageIds=[{"imageTag": "2.2.0"}])
    put(ecr, "api/orders", signature(f"{region}/orders", signed["imageDetails"][0]))
    ecr.put_lifecycle_policy(
        repositoryName="web/frontend", lifecyclePolicyText=json.dumps(LIFECYCLE_POLICY)
    )
    ecr.set_repository_policy(repositoryName="api/orders", policyText=json.dumps(REPOSITORY_POLICY))
    for repository in ("web/frontend", "api/orders"):
        arn = ecr.describe_repositories(repositoryNames=[repository])["repositories"][0]
        ecr.tag_resource(
            resourceArn=arn["repositoryArn"],
            tags=[
                {"Key": "team", "Value": repository.split("/")[0]},
                {"Key": "env", "Value": "prod"},
            ],
        )
    ecr.put_registry_scanning_configuration(scanType="BASIC", rules=SCANNING_RULES)


def configure_scanning(ecr: Any, region: str, mode: str) -> None:
    """The region's scanning mode (crawler/demo/scanner.py); CLAIR is where an account starts.
    Enhanced registries are on the AWS-native basic version too."""
    if mode == "CLAIR":
        return
    ecr.put_account_setting(name="BASIC_SCAN_TYPE_VERSION", value="AWS_NATIVE")
    if mode == "ENHANCED":
        ecr.put_registry_scanning_configuration(scanType="ENHANCED", rules=ENHANCED_RULES)
    elif region not in SMALL_REGIONS:
        # A basic scan of one more image, one the AWS-native scanner fails on (SCAN_OUTCOMES).
        digest = encode(trainer(region, 0))[1]
        ecr.start_image_scan(repositoryName="ml/trainer", imageId={"imageDigest": digest})


def configure_registry(ecr: Any, region: str) -> None:
    """Managed signing, replication and repository creation templates, set with the calls that
    set them on AWS, then one more push to each repository they cover: the images pushed before
    were neither signed nor replicated (crawler/demo/registry_settings.py)."""
    ecr.put_replication_configuration(replicationConfiguration={"rules": REPLICATION_RULES})
    ecr.put_signing_configuration(signingConfiguration={"rules": SIGNING_RULES})
    for template in CREATION_TEMPLATES:
        ecr.create_repository_creation_template(**template)
    orders = oci_manifest(f"{region}/orders/3", annotations=orders_annotations(3))
    put(ecr, "api/orders", orders, "2.3.0", "2.3")
    put(ecr, "ml/trainer", trainer(region, 4))


def seed(
    endpoint_url: str,
    regions: list[str],
    scanning: Mapping[str, str] | None = None,
    *,
    settings: bool = False,
) -> None:
    """Create the sample registry in `regions` of the emulator at `endpoint_url`, each region
    scanning in its mode in `scanning` (region -> CLAIR, AWS_NATIVE or ENHANCED; moto's Clair
    where not given); with `settings`, the demo's managed signing, replication and creation
    templates too (`configure_registry`)."""
    import boto3  # the demo extra; the crawler itself never uses boto3

    for region in regions:
        ecr = boto3.client(
            "ecr",
            region_name=region,
            endpoint_url=endpoint_url,
            aws_access_key_id=DEMO_ACCESS_KEY,
            aws_secret_access_key=DEMO_SECRET_KEY,
        )
        seed_region(ecr, region)
        configure_scanning(ecr, region, (scanning or {}).get(region, "CLAIR"))
        if settings and region == SIGNING_REGION:
            configure_registry(ecr, region)
