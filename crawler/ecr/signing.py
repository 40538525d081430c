"""Managed signing (ECR with AWS Signer): the registry's signing rules (GetSigningConfiguration;
SigningConfigurationNotFoundException means none) and each covered image's signing status per
signing profile (DescribeImageSigningStatus); with signatures attached as OCI referrers, whether
an image is signed."""

from __future__ import annotations

import fnmatch
from collections.abc import Collection
from typing import Any

from crawler.aws.client import RegionClient
from crawler.ecr import Optional, snake_keys
from crawler.records import Image, Signed, SigningStatus

# How a signature names the image it signs: an OCI referrer's subject, or cosign's tag scheme.
SignedBy = dict[str, str]


async def signing_configuration(optional: Optional) -> dict[str, Any] | None:
    """The rules as the registry record carries them: {} when the registry has none."""
    reply = await optional.call("get_signing_configuration")
    if reply is None:
        return None
    rules: dict[str, Any] = snake_keys(reply.get("signingConfiguration", {}))
    return rules


def signing_covers(configuration: dict[str, Any] | None, repository: str) -> bool:
    """Whether a rule signs the images of `repository`. SigningRepositoryFilter's only type is
    WILDCARD_MATCH ("*" matches any characters); a rule without filters covers every repository
    (the model makes repositoryFilters optional)."""
    for rule in (configuration or {}).get("rules", []):
        filters = rule.get("repository_filters") or []
        if not filters or any(_wildcard(f.get("filter", ""), repository) for f in filters):
            return True
    return False


def _wildcard(pattern: str, name: str) -> bool:
    # fnmatch also reads ? and [..], which ECR's filters do not have: escape them.
    escaped = pattern.replace("[", "[[]").replace("?", "[?]")
    return fnmatch.fnmatchcase(name, escaped)


async def describe_signing(client: RegionClient, image: Image) -> list[SigningStatus]:
    reply = await client.call(
        "describe_image_signing_status",
        registryId=image.registry_id,
        repositoryName=image.repository_name,
        imageId={"imageDigest": image.image_digest},
    )
    return [
        SigningStatus(
            signing_profile_arn=s.get("signingProfileArn"),
            status=s.get("status"),
            failure_code=s.get("failureCode"),
            failure_reason=s.get("failureReason"),
        )
        for s in reply.get("signingStatuses", [])
    ]


def signed(
    statuses: list[SigningStatus] | None, signature: str | None, complete: bool
) -> tuple[Signed, list[str]]:
    """yes when managed signing COMPLETEd for a profile or a signature names the image (as an
    OCI referrer, or by a cosign tag: `signature` says which); no when neither, and both were
    looked at in full (`complete`); else unknown."""
    by = []
    if any(s.status == "COMPLETE" for s in statuses or ()):
        by.append("managed_signing")
    if signature:
        by.append(signature)
    if by:
        return "yes", by
    return ("no" if complete else "unknown"), by


def signature_subjects(images: Collection[Image]) -> SignedBy:
    """The digests that a signature among `images` is about, each with how it names it:
    `referrer` (DescribeImages gives each referrer's subjectManifestDigest and
    artifactMediaType) or `cosign_tag` (a tag sha256-<hex>.sig, cosign's tag-based discovery)."""
    return {
        i.subject_digest: "referrer" if i.subject_manifest_digest else "cosign_tag"
        for i in images
        if i.subject_digest and i.artifact_kind == "signature"
    }
