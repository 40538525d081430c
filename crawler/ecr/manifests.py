"""Image manifests (ecr:BatchGetImage, 100 digests a call) and their referrers
(ecr:ListImageReferrers), parsed into `image_manifest` records."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec

from crawler.aws.client import RegionClient
from crawler.cache import ManifestCache
from crawler.ecr import Optional
from crawler.errors import AwsError
from crawler.media_types import ACCEPTED_MEDIA_TYPES
from crawler.records import Descriptor, ImageManifest, ManifestChild, Platform, Referrer

BATCH = 100
REFERRERS_PAGE = 50
# (media type, manifest text) by digest
Manifests = dict[str, tuple[str, str]]


class _ImageId(msgspec.Struct, rename="camel"):
    image_digest: str | None = None
    image_tag: str | None = None


class _Image(msgspec.Struct, rename="camel"):
    image_id: _ImageId
    image_manifest: str = ""
    image_manifest_media_type: str | None = None


class _Failure(msgspec.Struct, rename="camel"):
    image_id: _ImageId | None = None
    failure_code: str | None = None
    failure_reason: str | None = None


class _Batch(msgspec.Struct, rename="camel"):
    images: list[_Image] = msgspec.field(default_factory=list)
    failures: list[_Failure] = msgspec.field(default_factory=list)


# BatchGetImage answers decoded straight into structs, as DescribeImages pages are
# (crawler.aws.client): botocore's parser cost more than the rest of reading a manifest.
DECODERS = {"batch_get_image": msgspec.json.Decoder(_Batch)}


class ManifestSource:
    """Manifests by digest: from the cache when allowed, else one BatchGetImage per 100."""

    def __init__(self, optional: Optional, cache: ManifestCache, refetch: bool) -> None:
        self._client = optional.client
        # A failed image is an optional error of its repository.
        self._errors = optional.errors
        self._cache = cache
        self._refetch = refetch

    async def get(
        self, registry_id: str, repository: str, digests: list[str]
    ) -> AsyncIterator[Manifests]:
        """Yields batches of at most BATCH manifests: the cached ones, then the others fetched
        in full calls; a digest deleted meanwhile is left out."""
        found = {} if self._refetch or not digests else await self._cache.get_many(digests)
        cached = list(found.items())
        for start in range(0, len(cached), BATCH):
            yield dict(cached[start : start + BATCH])
        missing = [d for d in digests if d not in found] if found else digests
        for start in range(0, len(missing), BATCH):
            fetched = await self._fetch(registry_id, repository, missing[start : start + BATCH])
            await self._cache.put_many((d, mt, text) for d, (mt, text) in fetched.items())
            yield fetched

    async def _fetch(self, registry_id: str, repository: str, digests: list[str]) -> Manifests:
        reply = await self._client.call(
            "batch_get_image",
            registryId=registry_id,
            repositoryName=repository,
            imageIds=[{"imageDigest": d} for d in digests],
            acceptedMediaTypes=ACCEPTED_MEDIA_TYPES,
        )
        batch: _Batch = reply["decoded"]
        for failure in batch.failures:
            # ImageNotFound: deleted since DescribeImages listed it, which is no failure.
            if failure.failure_code != "ImageNotFound":
                digest = failure.image_id.image_digest if failure.image_id else None
                self._errors.append(
                    AwsError(
                        "BatchGetImage",
                        str(failure.failure_code),
                        f"{digest}: {failure.failure_reason}",
                    )
                )
        return {
            image.image_id.image_digest: (
                image.image_manifest_media_type or "",
                image.image_manifest,
            )
            for image in batch.images
            if image.image_id.image_digest
        }


async def list_referrers(
    client: RegionClient, registry_id: str, repository: str, digest: str
) -> list[Referrer]:
    params: dict[str, Any] = {
        "registryId": registry_id,
        "repositoryName": repository,
        "subjectId": {"imageDigest": digest},
        "maxResults": REFERRERS_PAGE,
    }
    referrers = []
    while True:
        page = await client.call("list_image_referrers", **params)
        referrers += [
            Referrer(
                digest=r.get("digest"),
                media_type=r.get("mediaType"),
                artifact_type=r.get("artifactType"),
                size=r.get("size"),
                annotations=r.get("annotations"),
                artifact_status=r.get("artifactStatus"),
            )
            for r in page.get("referrers", [])
        ]
        if not page.get("nextToken"):
            return referrers
        params["nextToken"] = page["nextToken"]


class _Blob(msgspec.Struct, rename="camel"):
    digest: str | None = None
    media_type: str | None = None
    size: int | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None
    platform: dict[str, Any] | None = None


class _Manifest(msgspec.Struct, rename="camel"):
    schema_version: int | None = None
    media_type: str | None = None
    artifact_type: str | None = None
    config: _Blob | None = None
    layers: list[_Blob] | None = None
    manifests: list[_Blob] | None = None
    subject: _Blob | None = None
    annotations: dict[str, str] | None = None


def _descriptor(blob: _Blob) -> Descriptor:
    return Descriptor(
        digest=blob.digest,
        media_type=blob.media_type,
        size=blob.size,
        artifact_type=blob.artifact_type,
        annotations=blob.annotations,
    )


def _child(blob: _Blob) -> ManifestChild:
    platform = blob.platform or {}
    annotations = blob.annotations or {}
    return ManifestChild(
        digest=blob.digest,
        media_type=blob.media_type,
        size=blob.size,
        platform=Platform(
            os=platform.get("os"),
            architecture=platform.get("architecture"),
            variant=platform.get("variant"),
            os_version=platform.get("os.version"),
        )
        if platform
        else None,
        # buildx stores provenance and SBOMs as index entries that are no runnable image.
        attestation="vnd.docker.reference.type" in annotations
        or (platform.get("os"), platform.get("architecture")) == ("unknown", "unknown"),
        annotations=blob.annotations,
    )


def parse_manifest(
    text: str, media_type: str, *, scope: dict[str, str], referrers: list[Referrer] | None
) -> ImageManifest:
    """The record of one manifest; `scope` gives scan_id, account_id, region, registry_id,
    repository_name and image_digest. An unparsable manifest keeps only its media type."""
    try:
        manifest = msgspec.json.decode(text, type=_Manifest)
    except msgspec.DecodeError:
        manifest = _Manifest()
    layers = [_descriptor(layer) for layer in manifest.layers] if manifest.layers else None
    is_index = manifest.manifests is not None
    return ImageManifest(
        **scope,
        media_type=manifest.media_type or media_type or None,
        schema_version=manifest.schema_version,
        artifact_type=manifest.artifact_type,
        config_digest=manifest.config.digest if manifest.config else None,
        config_size=manifest.config.size if manifest.config else None,
        config_media_type=manifest.config.media_type if manifest.config else None,
        layers=layers,
        total_size=None if is_index else sum(layer.size or 0 for layer in layers or ()),
        annotations=manifest.annotations,
        subject=_descriptor(manifest.subject) if manifest.subject else None,
        children=[_child(m) for m in manifest.manifests]
        if manifest.manifests is not None
        else None,
        referrers=referrers,
    )
