"""ECR's operations over the synthetic registry, with ECR's semantics: pagination, filters,
lookups by imageIds (at most 100), RepositoryNotFoundException and friends.

Each operation takes the caller's account and region (from the access key and the SigV4 scope)
and the decoded JSON payload, and returns the response shape and the number of items in it (the
simulator's latency grows with it).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

import msgspec

from bench.simulator.artifacts import REFERRERS
from bench.simulator.paging import Pager
from bench.simulator.registry import EPOCH_NOW, ImageMeta, Registry, Repository
from bench.simulator.shapes import (
    AuthorizationData,
    BatchGetImageResponse,
    DescribeImagesResponse,
    DescribeRepositoriesResponse,
    EncryptionConfiguration,
    GetAuthorizationTokenResponse,
    ImageFailure,
    ImageIdentifier,
    ImageScanningConfiguration,
    ImageShape,
    ListImagesResponse,
    RepositoryShape,
)
from bench.simulator.wire import ApiError, invalid_parameter

MAX_IMAGE_IDS = 100
MAX_REPOSITORY_NAMES = 100
TAG_STATUSES = ("TAGGED", "UNTAGGED", "ANY")
IMAGE_STATUSES = ("ACTIVE", "ARCHIVED", "ACTIVATING", "ANY")
# Without an imageStatus filter, DescribeImages and ListImages return ACTIVE images only.
DEFAULT_IMAGE_STATUS = "ACTIVE"

# The response (a shape, or a plain dict for the constant answers) and the items in it.
Result = tuple[msgspec.Struct | dict[str, Any], int]
Handler = Callable[[str, str, dict[str, Any]], Result]


class Ecr:
    """The ECR operations the simulator serves."""

    def __init__(self, registry: Registry, pager: Pager) -> None:
        self.registry = registry
        self.pager = pager
        # Filled here, and by the scanning operations (bench/simulator/scanning.py).
        self.operations: dict[str, Handler] = {
            "DescribeRepositories": self.describe_repositories,
            "DescribeImages": self.describe_images,
            "ListImages": self.list_images,
            "BatchGetImage": self.batch_get_image,
            "GetAuthorizationToken": self.get_authorization_token,
            **{name: _constant(answer) for name, answer in SETTINGS.items()},
            "GetRegistryPolicy": _no_registry_policy,
            "ListImageReferrers": self.list_image_referrers,
            "ListPullTimeUpdateExclusions": _pull_time_exclusions,
        }

    def call(self, operation: str, account: str, region: str, payload: dict[str, Any]) -> Result:
        handler = self.operations.get(operation)
        if handler is None:
            raise ApiError("UnknownOperationException", f"Unknown operation {operation}")
        return handler(account, region, payload)

    # -- operations ---------------------------------------------------------------------------

    def describe_repositories(self, account: str, region: str, payload: dict[str, Any]) -> Result:
        check_registry(payload, account, region, "DescribeRepositories")
        names = payload.get("repositoryNames")
        if names is not None:
            _lookup_only(payload, "repositoryNames", len(names), MAX_REPOSITORY_NAMES)
            repos = [self.find_repository(account, region, name) for name in names]
            return DescribeRepositoriesResponse([_repository_shape(r) for r in repos]), len(repos)
        all_repos = self.registry.repositories(account, region)
        size = self.pager.page_size(payload)
        scope = f"DescribeRepositories|{account}|{region}"
        start, _ = self.pager.cursor(scope, payload)
        page = all_repos[start : start + size]
        token = None
        if start + size < len(all_repos):
            token = self.pager.token(scope, (start + size, 0))
        return DescribeRepositoriesResponse([_repository_shape(r) for r in page], token), len(page)

    def describe_images(self, account: str, region: str, payload: dict[str, Any]) -> Result:
        check_registry(payload, account, region, "DescribeImages")
        repo = self.find_repository(account, region, payload.get("repositoryName"))
        registry = self.registry
        mode = registry.scenario.scan_mode(region)
        ids = payload.get("imageIds")
        if ids is not None:
            _lookup_only(payload, "imageIds", len(ids), MAX_IMAGE_IDS)
            found: dict[int, None] = {}  # ordered and deduplicated, like ECR's answer
            for image_id in ids:
                i = self.resolve(repo, image_id)
                if i is None:
                    raise image_not_found(repo, image_id)
                found[i] = None
            details = [registry.image(repo, registry.meta(repo, i), mode) for i in found]
            return DescribeImagesResponse(details), len(details)
        tag_status, image_status = _filter(payload)
        size = self.pager.page_size(payload)
        scope = f"DescribeImages|{account}|{region}|{repo.name}|{tag_status}|{image_status}"
        start, _ = self.pager.cursor(scope, payload)
        if tag_status == "ANY" and image_status == "ANY":
            # The common case (a complete inventory) is a plain slice: nothing to skip.
            stop = min(start + size, repo.image_count)
            metas = [registry.meta(repo, i) for i in range(start, stop)]
            more = stop < repo.image_count
            next_index = stop
        else:
            matching = self._matching(repo, start, tag_status, image_status)
            metas = list(islice(matching, size))
            following = next(matching, None)
            more, next_index = following is not None, following.index if following else 0
        details = [registry.image(repo, m, mode) for m in metas]
        token = self.pager.token(scope, (next_index, 0)) if more else None
        return DescribeImagesResponse(details, token), len(details)

    def list_images(self, account: str, region: str, payload: dict[str, Any]) -> Result:
        check_registry(payload, account, region, "ListImages")
        repo = self.find_repository(account, region, payload.get("repositoryName"))
        tag_status, image_status = _filter(payload)
        size = self.pager.page_size(payload)
        scope = f"ListImages|{account}|{region}|{repo.name}|{tag_status}|{image_status}"
        start, skip = self.pager.cursor(scope, payload)
        ids: list[ImageIdentifier] = []
        token = None
        # One entry per tag of a tagged image, one entry for an untagged image, as in ECR; the
        # cursor is (image, entries of that image already returned).
        for meta in self._matching(repo, start, tag_status, image_status):
            digest = self.registry.digest(repo, meta)
            entries = [ImageIdentifier(digest, t) for t in meta.tags] or [ImageIdentifier(digest)]
            first = skip if meta.index == start else 0
            room = size - len(ids)
            if room == 0:
                token = self.pager.token(scope, (meta.index, first))
                break
            ids.extend(entries[first : first + room])
            if len(entries) - first > room:
                token = self.pager.token(scope, (meta.index, first + room))
                break
        return ListImagesResponse(ids, token), len(ids)

    def batch_get_image(self, account: str, region: str, payload: dict[str, Any]) -> Result:
        check_registry(payload, account, region, "BatchGetImage")
        repo = self.find_repository(account, region, payload.get("repositoryName"))
        ids = payload.get("imageIds") or []
        if not 1 <= len(ids) <= MAX_IMAGE_IDS:
            raise _too_many("imageIds", MAX_IMAGE_IDS)
        accepted = payload.get("acceptedMediaTypes")
        images: list[ImageShape] = []
        failures: list[ImageFailure] = []
        for image_id in ids:
            ident = ImageIdentifier(image_id.get("imageDigest"), image_id.get("imageTag"))
            if ident.imageDigest is None and ident.imageTag is None:
                failures.append(ImageFailure(ident, "MissingDigestAndTag", "Invalid request"))
                continue
            i = self.resolve(repo, image_id)
            if i is None:
                if self._resolve_either(repo, ident):
                    failures.append(
                        ImageFailure(ident, "ImageTagDoesNotMatchDigest", "Invalid request")
                    )
                else:
                    failures.append(
                        ImageFailure(ident, "ImageNotFound", "Requested image not found")
                    )
                continue
            text, media, _ = self.registry.manifest(repo, self.registry.meta(repo, i))
            if accepted and media not in accepted:
                failures.append(
                    ImageFailure(ident, "UnsupportedImageType", "Unsupported image type")
                )
                continue
            digest = f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"
            found = ImageIdentifier(digest, ident.imageTag)
            images.append(ImageShape(repo.account, repo.name, found, text, media))
        return BatchGetImageResponse(images, failures), len(images)

    def list_image_referrers(self, account: str, region: str, payload: dict[str, Any]) -> Result:
        """The referrers of an image: the SBOM, attestation or artifact manifest drawn right
        after it (bench/simulator/artifacts.py), if any; one page."""
        check_registry(payload, account, region, "ListImageReferrers")
        repo = self.find_repository(account, region, payload.get("repositoryName"))
        subject = self.resolve(repo, payload.get("subjectId") or {})
        if subject is None:
            raise image_not_found(repo, payload.get("subjectId") or {})
        registry, after = self.registry, subject + 1
        referrers = []
        if after < repo.image_count and (meta := registry.meta(repo, after)).artifact in REFERRERS:
            text, media, artifact, _ = registry.served(repo, meta)
            digest = f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"
            referrers.append(
                {
                    "digest": digest,
                    "mediaType": media,
                    "artifactType": artifact,
                    "size": len(text),
                    "artifactStatus": "ARCHIVED" if meta.archived else "ACTIVE",
                }
            )
        return {"referrers": referrers}, len(referrers)

    def get_authorization_token(self, account: str, region: str, payload: dict[str, Any]) -> Result:
        token = base64.b64encode(f"AWS:bench-simulator-token-{account}".encode()).decode()
        data = AuthorizationData(
            token, EPOCH_NOW + 43_200.0, f"https://{account}.dkr.ecr.{region}.amazonaws.com"
        )
        return GetAuthorizationTokenResponse([data]), 1

    # -- helpers (the scanning operations use them too) ----------------------------------------

    def find_repository(self, account: str, region: str, name: Any) -> Repository:
        repo = self.registry.repository(account, region, name) if isinstance(name, str) else None
        if repo is None:
            raise ApiError(
                "RepositoryNotFoundException",
                f"The repository with name '{name}' does not exist in the registry with id "
                f"'{account}'",
            )
        return repo

    def resolve(self, repo: Repository, image_id: dict[str, Any]) -> int | None:
        """The image an imageId names; with both digest and tag, they must agree."""
        digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
        by_tag = self.registry.find_tag(repo, tag) if isinstance(tag, str) else None
        if isinstance(digest, str):
            by_digest = self.registry.find_digest(repo, digest)
            if tag is not None and by_tag != by_digest:
                return None
            return by_digest
        return by_tag

    def _resolve_either(self, repo: Repository, ident: ImageIdentifier) -> bool:
        """Whether the digest and the tag each name an image (but not the same one)."""
        if ident.imageDigest is None or ident.imageTag is None:
            return False
        return (
            self.registry.find_digest(repo, ident.imageDigest) is not None
            and self.registry.find_tag(repo, ident.imageTag) is not None
        )

    def _matching(
        self, repo: Repository, start: int, tag_status: str, image_status: str
    ) -> Iterator[ImageMeta]:
        for i in range(start, repo.image_count):
            meta = self.registry.meta(repo, i)
            if tag_status == "TAGGED" and not meta.tags:
                continue
            if tag_status == "UNTAGGED" and meta.tags:
                continue
            # The simulator has no ACTIVATING images: only ANY, ACTIVE and ARCHIVED match.
            status = "ARCHIVED" if meta.archived else "ACTIVE"
            if image_status != "ANY" and image_status != status:
                continue
            yield meta


# Registry settings the crawler may read: a plain registry (no replication, no pull-through
# cache rules), constant for every account-region. Scanning settings are
# bench/simulator/scanning.py's.
SETTINGS: dict[str, dict[str, Any]] = {
    "DescribeRegistry": {"replicationConfiguration": {"rules": []}},
    "DescribePullThroughCacheRules": {"pullThroughCacheRules": []},
}


def _constant(answer: dict[str, Any]) -> Handler:
    def handler(account: str, region: str, payload: dict[str, Any]) -> Result:
        return {"registryId": account, **answer}, 0

    return handler


def _no_registry_policy(account: str, region: str, payload: dict[str, Any]) -> Result:
    raise ApiError(
        "RegistryPolicyNotFoundException",
        f"Registry policy does not exist in the registry with id '{account}'",
    )


def _pull_time_exclusions(account: str, region: str, payload: dict[str, Any]) -> Result:
    """The bench user is excluded from pull-time updates, as AWS advises for a crawler that
    reads manifests (BatchGetImage would otherwise update lastRecordedPullTime)."""
    return {"pullTimeUpdateExclusions": [f"arn:aws:iam::{account}:user/bench"]}, 1


def _repository_shape(repo: Repository) -> RepositoryShape:
    encryption = (
        EncryptionConfiguration(
            "KMS", f"arn:aws:kms:{repo.region}:{repo.account}:key/{repo.key[:16].hex()}"
        )
        if repo.kms
        else EncryptionConfiguration("AES256")
    )
    return RepositoryShape(
        repositoryArn=repo.arn,
        registryId=repo.account,
        repositoryName=repo.name,
        repositoryUri=repo.uri,
        createdAt=repo.created_at,
        imageTagMutability=repo.mutability,
        imageScanningConfiguration=ImageScanningConfiguration(repo.scan_on_push),
        encryptionConfiguration=encryption,
    )


def check_registry(payload: dict[str, Any], account: str, region: str, operation: str) -> None:
    """The simulator models no registry policies: another account's registry is denied."""
    registry_id = payload.get("registryId")
    if registry_id is not None and registry_id != account:
        raise ApiError(
            "AccessDeniedException",
            f"User: arn:aws:iam::{account}:user/bench is not authorized to perform: "
            f"ecr:{operation} on resource: arn:aws:ecr:{region}:{registry_id}:repository/* "
            f"because no resource-based policy allows the ecr:{operation} action",
        )


def _lookup_only(payload: dict[str, Any], member: str, count: int, limit: int) -> None:
    if "maxResults" in payload or "nextToken" in payload:
        raise invalid_parameter(f"Cannot specify maxResults or nextToken together with {member}")
    if not 1 <= count <= limit:
        raise _too_many(member, limit)


def _too_many(member: str, limit: int) -> ApiError:
    return invalid_parameter(
        f"Invalid parameter at '{member}' failed to satisfy constraint: "
        f"'Member must have length less than or equal to {limit}'"
    )


def _filter(payload: dict[str, Any]) -> tuple[str, str]:
    raw = payload.get("filter") or {}
    tag_status = raw.get("tagStatus", "ANY")
    image_status = raw.get("imageStatus", DEFAULT_IMAGE_STATUS)
    if tag_status not in TAG_STATUSES:
        raise _enum("filter.tagStatus", tag_status, TAG_STATUSES)
    if image_status not in IMAGE_STATUSES:
        raise _enum("filter.imageStatus", image_status, IMAGE_STATUSES)
    return tag_status, image_status


def _enum(member: str, value: Any, allowed: tuple[str, ...]) -> ApiError:
    return invalid_parameter(
        f"Invalid parameter at '{member}' failed to satisfy constraint: "
        f"'Member must satisfy enum value set: [{', '.join(allowed)}]' (got {value!r})"
    )


def image_not_found(repo: Repository, image_id: dict[str, Any]) -> ApiError:
    digest = image_id.get("imageDigest") or "null"
    tag = image_id.get("imageTag") or "null"
    return ApiError(
        "ImageNotFoundException",
        f"The image with imageId {{imageDigest:'{digest}', imageTag:'{tag}'}} does not exist "
        f"within the repository with name '{repo.name}' in the registry with id "
        f"'{repo.account}'",
    )
