"""ECR's and STS's response shapes, under AWS's own (camelCase) member names, encoded once by
msgspec. A member left at None is omitted from the JSON, as AWS omits what is not set."""

from __future__ import annotations

import msgspec


class _Shape(msgspec.Struct, omit_defaults=True, gc=False):
    pass


class ImageScanStatus(_Shape):
    status: str
    description: str | None = None


class ImageScanFindingsSummary(_Shape):
    imageScanCompletedAt: float
    vulnerabilitySourceUpdatedAt: float
    findingSeverityCounts: dict[str, int]


class ImageDetail(_Shape):
    registryId: str
    repositoryName: str
    imageDigest: str
    imageSizeInBytes: int
    imagePushedAt: float
    imageManifestMediaType: str
    imageStatus: str
    imageTags: list[str] | None = None  # absent for an untagged image, as in ECR
    artifactMediaType: str | None = None
    subjectManifestDigest: str | None = None
    lastRecordedPullTime: float | None = None
    imageScanStatus: ImageScanStatus | None = None
    imageScanFindingsSummary: ImageScanFindingsSummary | None = None
    lastArchivedAt: float | None = None


class ImageIdentifier(_Shape):
    imageDigest: str | None = None
    imageTag: str | None = None


class ImageScanningConfiguration(_Shape):
    scanOnPush: bool


class EncryptionConfiguration(_Shape):
    encryptionType: str
    kmsKey: str | None = None


class RepositoryShape(_Shape):
    repositoryArn: str
    registryId: str
    repositoryName: str
    repositoryUri: str
    createdAt: float
    imageTagMutability: str
    imageScanningConfiguration: ImageScanningConfiguration
    encryptionConfiguration: EncryptionConfiguration


class ImageShape(_Shape):
    """One image of BatchGetImage: its manifest text, exactly the bytes its digest hashes."""

    registryId: str
    repositoryName: str
    imageId: ImageIdentifier
    imageManifest: str
    imageManifestMediaType: str


class ImageFailure(_Shape):
    imageId: ImageIdentifier
    failureCode: str
    failureReason: str


class DescribeRepositoriesResponse(_Shape):
    repositories: list[RepositoryShape]
    nextToken: str | None = None


class DescribeImagesResponse(_Shape):
    imageDetails: list[ImageDetail]
    nextToken: str | None = None


class ListImagesResponse(_Shape):
    imageIds: list[ImageIdentifier]
    nextToken: str | None = None


class BatchGetImageResponse(_Shape):
    images: list[ImageShape]
    failures: list[ImageFailure]


class AuthorizationData(_Shape):
    authorizationToken: str
    expiresAt: float
    proxyEndpoint: str


class GetAuthorizationTokenResponse(_Shape):
    authorizationData: list[AuthorizationData]


class JsonError(_Shape):
    code: str = msgspec.field(name="__type")
    message: str = ""
