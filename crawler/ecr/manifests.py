"""Image manifests (ecr:BatchGetImage, 100 digests a call) and their referrers
(ecr:ListImageReferrers), parsed into `image_manifest` records: Docker schema 1 and 2, manifest
lists, OCI manifests and indexes, the OCI 1.1 drafts' artifact manifest; an unknown type is
recorded as such."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import msgspec

from crawler.artifacts import ArtifactKind, manifest_kind
from crawler.aws.client import RegionClient
from crawler.cache import Entry, ManifestCache
from crawler.ecr import Optional
from crawler.errors import AwsError, CrawlerError
from crawler.media_types import (
    ACCEPTED_MEDIA_TYPES,
    DOCKER_MANIFEST,
    IMAGE_CONFIG_TYPES,
    OCI_MANIFEST,
    SAFE_MEDIA_TYPES,
    SCHEMA1_TYPES,
)
from crawler.records import Descriptor, ImageManifest, ManifestChild, Platform, Referrer

BATCH = 100
# BatchGetImage calls in flight at once for one repository: one after the other, the 500 calls
# of a 50,000-image repository would take 500 round trips.
FETCHES = 4
REFERRERS_PAGE = 50
# (media type, manifest text, lasting failure) by digest
Manifests = dict[str, Entry]
# BatchGetImage failures that asking again will not mend: the stored manifest's type is none of
# the accepted ones (by digest ECR converts nothing), or the digest is malformed. Remembered in
# the cache. ImageNotFound (deleted meanwhile) is no failure; KmsError, Upstream* and
# ImageInaccessible may pass, and are asked again next time.
LASTING_FAILURES = frozenset({"UnsupportedImageType", "InvalidImageDigest"})
PLAIN_MANIFESTS = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})


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
        self._accepted = ACCEPTED_MEDIA_TYPES
        # A failed image is an optional error of its repository.
        self._errors = optional.errors
        self._cache = cache
        self._refetch = refetch

    async def get(
        self, registry_id: str, repository: str, digests: list[str]
    ) -> AsyncIterator[Manifests]:
        """Yields batches of at most BATCH manifests: the cached ones, then the others fetched
        in full calls; a digest deleted meanwhile is left out. A digest that failed for a
        lasting reason comes with its failure (from the answer, then from the cache)."""
        missing = digests
        if not self._refetch:
            # A batch at a time, so that a repository holds no more than one batch's manifests.
            missing = []
            for start in range(0, len(digests), BATCH):
                wanted = digests[start : start + BATCH]
                if found := await self._cache.get_many(wanted):
                    yield found
                missing += [d for d in wanted if d not in found]
        batches = [missing[start : start + BATCH] for start in range(0, len(missing), BATCH)]
        for start in range(0, len(batches), FETCHES):
            for fetched in await self._fetch_all(
                registry_id, repository, batches[start : start + FETCHES]
            ):
                await self._cache.put_many(fetched.items())
                yield fetched

    async def _fetch_all(
        self, registry_id: str, repository: str, batches: list[list[str]]
    ) -> list[Manifests]:
        """The batches' calls at once; an error of ours is raised as itself (the first)."""
        if len(batches) == 1:
            return [await self._fetch(registry_id, repository, batches[0])]
        fetched: list[Manifests] = [{} for _ in batches]
        failed: list[CrawlerError] = []

        async def fetch(number: int) -> None:
            try:
                fetched[number] = await self._fetch(registry_id, repository, batches[number])
            except CrawlerError as exc:
                failed.append(exc)

        async with anyio.create_task_group() as group:
            for number in range(len(batches)):
                group.start_soon(fetch, number)
        if failed:
            raise failed[0]
        return fetched

    async def _fetch(self, registry_id: str, repository: str, digests: list[str]) -> Manifests:
        params = {
            "registryId": registry_id,
            "repositoryName": repository,
            "imageIds": [{"imageDigest": d} for d in digests],
        }
        try:
            reply = await self._client.call(
                "batch_get_image", acceptedMediaTypes=self._accepted, **params
            )
        except AwsError as exc:
            # The API reference lists three acceptedMediaTypes values, yet ECR has answered
            # with lists and indexes as asked since they exist; should it reject the schema 1
            # or artifact types we add, ask again with those it always took.
            if exc.code != "InvalidParameterException" or self._accepted is SAFE_MEDIA_TYPES:
                raise
            self._accepted = SAFE_MEDIA_TYPES
            reply = await self._client.call(
                "batch_get_image", acceptedMediaTypes=self._accepted, **params
            )
        batch: _Batch = reply["decoded"]
        fetched: Manifests = {
            image.image_id.image_digest: (
                image.image_manifest_media_type or "",
                image.image_manifest,
                None,
            )
            for image in batch.images
            if image.image_id.image_digest
        }
        for failure in batch.failures:
            digest = failure.image_id.image_digest if failure.image_id else None
            reason = f"{failure.failure_code}: {failure.failure_reason}"
            if failure.failure_code in LASTING_FAILURES and digest:
                fetched[digest] = ("", "", reason)
            # ImageNotFound: deleted since DescribeImages listed it, which is no failure.
            elif failure.failure_code != "ImageNotFound":
                self._errors.append(
                    AwsError(
                        "BatchGetImage",
                        str(failure.failure_code),
                        f"{digest}: {failure.failure_reason}",
                    )
                )
        return fetched


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
    urls: list[str] | None = None
    platform: dict[str, Any] | None = None


class _FsLayer(msgspec.Struct, rename="camel"):
    blob_sum: str | None = None


class _History(msgspec.Struct, rename="camel"):
    v1_compatibility: str = ""


class _V1Compatibility(msgspec.Struct):
    os: str | None = None


class _Manifest(msgspec.Struct, rename="camel"):
    """Every manifest type's members: Docker schema 2 and OCI (config, layers, manifests,
    subject, artifactType), the OCI 1.1 drafts' artifact manifest (blobs), Docker schema 1
    (architecture, fsLayers, history; its signatures are not read)."""

    schema_version: int | None = None
    media_type: str | None = None
    artifact_type: str | None = None
    config: _Blob | None = None
    layers: list[_Blob] | None = None
    blobs: list[_Blob] | None = None
    manifests: list[_Blob] | None = None
    subject: _Blob | None = None
    annotations: dict[str, str] | None = None
    architecture: str | None = None
    fs_layers: list[_FsLayer] | None = None
    history: list[_History] | None = None


_V1_DECODER = msgspec.json.Decoder(_V1Compatibility)


def _descriptor(blob: _Blob) -> Descriptor:
    return Descriptor(
        digest=blob.digest,
        media_type=blob.media_type,
        size=blob.size,
        artifact_type=blob.artifact_type,
        annotations=blob.annotations,
        urls=blob.urls,
    )


def _platform(platform: dict[str, Any]) -> Platform:
    return Platform(
        os=platform.get("os"),
        architecture=platform.get("architecture"),
        variant=platform.get("variant"),
        os_version=platform.get("os.version"),
        os_features=platform.get("os.features"),
    )


def _child(blob: _Blob) -> ManifestChild:
    platform = blob.platform or {}
    annotations = blob.annotations or {}
    return ManifestChild(
        digest=blob.digest,
        media_type=blob.media_type,
        size=blob.size,
        platform=_platform(platform) if platform else None,
        # buildx stores provenance and SBOMs as index entries that are no runnable image.
        attestation="vnd.docker.reference.type" in annotations
        or (platform.get("os"), platform.get("architecture")) == ("unknown", "unknown"),
        annotations=blob.annotations,
    )


def _schema1(manifest: _Manifest) -> tuple[list[Descriptor], Platform]:
    """Schema 1's layers and platform (distribution docs/spec/manifest-v2-1.md). fsLayers are
    listed newest first ("FSLayers is in the wrong order. Must iterate over it backwards",
    distribution's schema1 package): reversed into push order, as schema 2 lists them. The os
    is in the newest history entry's v1Compatibility, the image's v1 config as text."""
    layers = [Descriptor(digest=layer.blob_sum) for layer in reversed(manifest.fs_layers or ())]
    os = None
    if manifest.history:
        with contextlib.suppress(msgspec.DecodeError):
            os = _V1_DECODER.decode(manifest.history[0].v1_compatibility).os
    return layers, Platform(os=os, architecture=manifest.architecture)


def parse_manifest(
    text: str, media_type: str, *, scope: dict[str, str], referrers: list[Referrer] | None
) -> ImageManifest:
    """The record of one manifest; `scope` gives scan_id, account_id, region, registry_id,
    repository_name and image_digest. An unparsable manifest keeps only its media type."""
    try:
        manifest = msgspec.json.decode(text, type=_Manifest)
    except msgspec.DecodeError:
        manifest = _Manifest()
    media = manifest.media_type or media_type or None
    # Schema 1 names no mediaType in its text: ECR's answer (or its schemaVersion) does.
    platform = None
    layers: list[Descriptor] | None
    if media in SCHEMA1_TYPES or (media is None and manifest.schema_version == 1):
        layers, platform = _schema1(manifest)
    else:
        blobs = manifest.layers if manifest.layers is not None else manifest.blobs
        layers = [_descriptor(layer) for layer in blobs] if blobs is not None else None
    config = manifest.config or _Blob()
    children = manifest.manifests
    is_index = children is not None
    kind: ArtifactKind | None
    if _plain_image(media, manifest.artifact_type, config.media_type, layers):
        kind, by = "container_image", config.media_type
    else:
        kind, by = manifest_kind(
            media,
            artifact_type=manifest.artifact_type,
            config_type=config.media_type,
            layers=layers or (),
            annotations=manifest.annotations,
            is_index=is_index,
        )
    return ImageManifest(
        **scope,
        media_type=media,
        schema_version=manifest.schema_version,
        artifact_type=manifest.artifact_type,
        artifact_kind=kind,
        artifact_kind_by=by,
        config_digest=config.digest,
        config_size=config.size,
        config_media_type=config.media_type,
        layers=layers,
        # The compressed size of the layers; unknown for an index or schema 1 (no sizes).
        total_size=None
        if is_index or platform is not None
        else sum(layer.size or 0 for layer in layers or ()),
        platform=platform,
        annotations=manifest.annotations,
        subject=_descriptor(manifest.subject) if manifest.subject else None,
        children=[_child(m) for m in children] if children is not None else None,
        referrers=referrers,
    )


def _plain_image(
    media: str | None, artifact: str | None, config: str | None, layers: list[Descriptor] | None
) -> bool:
    """The common case, told without crawler.artifacts: a Docker v2 or OCI manifest with an
    image config, no artifactType, and a filesystem for its first layer (what an artifact that
    keeps an image config never has: crawler.artifacts.manifest_kind)."""
    if not layers or artifact is not None:
        return False
    return (
        config in IMAGE_CONFIG_TYPES
        and media in PLAIN_MANIFESTS
        and (".tar" in (layers[0].media_type or ""))
    )


def unavailable_manifest(failure: str, *, scope: dict[str, str]) -> ImageManifest:
    """The record of a manifest that cannot be read for a lasting reason."""
    return ImageManifest(
        scan_id=scope["scan_id"],
        account_id=scope["account_id"],
        region=scope["region"],
        registry_id=scope["registry_id"],
        repository_name=scope["repository_name"],
        image_digest=scope["image_digest"],
        unavailable=failure,
    )
