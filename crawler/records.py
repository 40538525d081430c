"""Typed, immutable records: what a scan produces, encoded once as JSON with `type` first.

Every AWS field keeps AWS's value under its snake_case name; fields AWS did not return are null;
timestamps are timezone-aware UTC datetimes (RFC 3339 in JSON).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

import msgspec

from crawler.artifacts import ArtifactKind


class Record(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    scan_id: str


class _Scoped(Record, frozen=True, kw_only=True):
    account_id: str
    region: str


class ImageScanningConfiguration(msgspec.Struct, frozen=True, kw_only=True):
    scan_on_push: bool | None = None


class EncryptionConfiguration(msgspec.Struct, frozen=True, kw_only=True):
    encryption_type: str | None = None
    kms_key: str | None = None


class TagMutabilityExclusionFilter(msgspec.Struct, frozen=True, kw_only=True):
    filter_type: str | None = None
    filter: str | None = None


class ScanningFilter(msgspec.Struct, frozen=True, kw_only=True):
    filter: str | None = None
    filter_type: str | None = None


class RepositoryScanningConfiguration(msgspec.Struct, frozen=True, kw_only=True):
    """The scanning that applies to a repository (BatchGetRepositoryScanningConfiguration):
    the registry's rules resolved for it."""

    scan_on_push: bool | None = None
    # SCAN_ON_PUSH, CONTINUOUS_SCAN or MANUAL
    scan_frequency: str | None = None
    applied_scan_filters: list[ScanningFilter] | None = None


class Repository(_Scoped, frozen=True, kw_only=True, tag="repository"):
    registry_id: str
    repository_name: str
    repository_arn: str | None = None
    repository_uri: str | None = None
    created_at: datetime | None = None
    image_tag_mutability: str | None = None
    image_tag_mutability_exclusion_filters: list[TagMutabilityExclusionFilter] | None = None
    image_scanning_configuration: ImageScanningConfiguration | None = None
    encryption_configuration: EncryptionConfiguration | None = None
    # Unless collect.scan_findings is off; null when not collected or unreadable.
    scanning_configuration: RepositoryScanningConfiguration | None = None
    # With collect.policies / collect.tags; null when not collected or denied, {} for none.
    lifecycle_policy: dict[str, Any] | None = None
    repository_policy: dict[str, Any] | None = None
    tags: dict[str, str] | None = None


class ImageScanStatus(msgspec.Struct, frozen=True, kw_only=True):
    status: str | None = None
    description: str | None = None


class ImageScanFindingsSummary(msgspec.Struct, frozen=True, kw_only=True):
    image_scan_completed_at: datetime | None = None
    vulnerability_source_updated_at: datetime | None = None
    # Keys are AWS's severity names (CRITICAL, HIGH, ...), kept as AWS spells them.
    finding_severity_counts: dict[str, int] | None = None


class SigningStatus(msgspec.Struct, frozen=True, kw_only=True):
    """Managed signing (AWS Signer) of one image by one signing profile."""

    signing_profile_arn: str | None = None
    # IN_PROGRESS, COMPLETE or FAILED
    status: str | None = None
    failure_code: str | None = None
    failure_reason: str | None = None


class ReplicationStatus(msgspec.Struct, frozen=True, kw_only=True):
    """The replication of one image to one destination."""

    region: str | None = None
    registry_id: str | None = None
    # IN_PROGRESS, COMPLETE or FAILED
    status: str | None = None
    failure_code: str | None = None


Signed = Literal["yes", "no", "unknown"]


class Image(_Scoped, frozen=True, kw_only=True, tag="image"):
    registry_id: str
    repository_name: str
    image_digest: str
    image_tags: list[str]
    image_uri: str
    image_size_in_bytes: int | None = None
    image_pushed_at: datetime | None = None
    image_manifest_media_type: str | None = None
    artifact_media_type: str | None = None
    last_recorded_pull_time: datetime | None = None
    # AWS's scan result, from DescribeImages where it has one (Clair basic scanning), else from
    # DescribeImageScanFindings; null: never scanned, or not asked (image indexes, artifacts,
    # archived images, collect.scan_findings off). README: "Scan results".
    image_scan_status: ImageScanStatus | None = None
    image_scan_findings_summary: ImageScanFindingsSummary | None = None
    image_status: str | None = None
    last_archived_at: datetime | None = None
    last_activated_at: datetime | None = None
    subject_manifest_digest: str | None = None
    # What the image is (crawler.artifacts), from its manifest when read, else from DescribeImages'
    # media types and tags; and the media type, predicate or cosign tag that decided it.
    artifact_kind: ArtifactKind | None = None
    artifact_kind_by: str | None = None
    # The image a signature, SBOM or attestation is about: subject_manifest_digest (an OCI
    # referrer), else the digest its cosign tag names (sha256-<hex>.sig, .att, .sbom).
    subject_digest: str | None = None
    # Digests of the image indexes (multi-arch manifests) in this repository that list this
    # image as a child; null when manifests are not collected.
    index_digests: list[str] | None = None
    # With collect.signing: managed signing per profile ([] when no rule covers the repository),
    # whether the image is signed by managed signing or a signature referrer, and which.
    signing_statuses: list[SigningStatus] | None = None
    signed: Signed | None = None
    signed_by: list[Literal["managed_signing", "referrer", "cosign_tag"]] | None = None
    # With collect.replication: one status per destination ([] when no rule covers it).
    replication_statuses: list[ReplicationStatus] | None = None
    # With collect.inspector, in registries with enhanced scanning: the ECS tasks and EKS pods
    # running the image (Inspector's ListCoverage), and when it last ran in one.
    in_use_count: int | None = None
    last_in_use_at: datetime | None = None


class Descriptor(msgspec.Struct, frozen=True, kw_only=True):
    """An OCI content descriptor: a blob or manifest by digest."""

    digest: str | None = None
    media_type: str | None = None
    size: int | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None
    # Where a foreign (Windows base) or non-distributable layer is downloaded from.
    urls: list[str] | None = None


class Platform(msgspec.Struct, frozen=True, kw_only=True):
    os: str | None = None
    architecture: str | None = None
    variant: str | None = None
    # Windows: the OS build (os.version, e.g. 10.0.17763.6414) and features (os.features).
    os_version: str | None = None
    os_features: list[str] | None = None


class ManifestChild(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of an image index / manifest list."""

    digest: str | None = None
    media_type: str | None = None
    size: int | None = None
    platform: Platform | None = None
    # A buildx attestation (platform unknown/unknown, vnd.docker.reference.type), not an image.
    attestation: bool = False
    annotations: dict[str, str] | None = None


class Referrer(msgspec.Struct, frozen=True, kw_only=True):
    digest: str | None = None
    media_type: str | None = None
    artifact_type: str | None = None
    size: int | None = None
    annotations: dict[str, str] | None = None
    artifact_status: str | None = None


class ImageManifest(_Scoped, frozen=True, kw_only=True, tag="image_manifest"):
    """What is inside an image: from BatchGetImage, or the local cache (digests are immutable)."""

    registry_id: str
    repository_name: str
    image_digest: str
    media_type: str | None = None
    schema_version: int | None = None
    artifact_type: str | None = None
    # What the manifest is and what decided it (crawler.artifacts).
    artifact_kind: ArtifactKind | None = None
    artifact_kind_by: str | None = None
    config_digest: str | None = None
    config_size: int | None = None
    config_media_type: str | None = None
    # In push order (base first), as every manifest type lists them but schema 1 (reversed);
    # the OCI artifact manifest's blobs. Schema 1 layers have no size or media type.
    layers: list[Descriptor] | None = None
    # Sum of the compressed layer sizes; null for an index and for schema 1 (no sizes).
    total_size: int | None = None
    # Schema 1 only (architecture, newest history entry's os): others keep it in the config blob
    # (not read) or their index.
    platform: Platform | None = None
    annotations: dict[str, str] | None = None
    subject: Descriptor | None = None
    children: list[ManifestChild] | None = None
    # With collect.referrers: artifacts attached to this image (signatures, SBOMs, ...).
    referrers: list[Referrer] | None = None
    # "code: reason" of a lasting BatchGetImage failure (UnsupportedImageType, InvalidImageDigest),
    # remembered in the cache so later scans do not ask again; every other field is then null.
    unavailable: str | None = None


class ScanFinding(_Scoped, frozen=True, kw_only=True, tag="scan_finding"):
    """One vulnerability of one image, from DescribeImageScanFindings (basic or enhanced)."""

    registry_id: str
    repository_name: str
    image_digest: str
    scan_type: Literal["BASIC", "ENHANCED"]
    scan_completed_at: datetime | None = None
    name: str | None = None
    title: str | None = None
    description: str | None = None
    uri: str | None = None
    severity: str | None = None
    package_name: str | None = None
    package_version: str | None = None
    fixed_in_version: str | None = None
    cvss_score: float | None = None
    cvss_vector: str | None = None
    status: str | None = None
    finding_arn: str | None = None
    first_observed_at: datetime | None = None
    last_observed_at: datetime | None = None
    fix_available: str | None = None
    exploit_available: str | None = None


class Registry(_Scoped, frozen=True, kw_only=True, tag="registry"):
    """How one account-region's registry is set up; a null field was not readable (see the
    error record) or does not exist."""

    registry_id: str
    replication_configuration: dict[str, Any] | None = None
    scanning_configuration: dict[str, Any] | None = None
    registry_policy: dict[str, Any] | None = None
    pull_through_cache_rules: list[dict[str, Any]] | None = None
    pull_time_update_exclusions: list[str] | None = None
    # Whether the crawler's own principal is excluded from pull-time updates.
    crawler_principal_excluded: bool | None = None
    # Account settings (GetAccountSetting): CLAIR or AWS_NATIVE basic scanning, the registry
    # policy scope (V1, V2), blob mounting (ENABLED, DISABLED).
    basic_scan_type_version: str | None = None
    registry_policy_scope: str | None = None
    blob_mounting: str | None = None
    # Managed signing rules (signing_profile_arn, repository_filters); {} when there are none.
    signing_configuration: dict[str, Any] | None = None


class RepositoryCreationTemplate(
    _Scoped, frozen=True, kw_only=True, tag="repository_creation_template"
):
    """The settings ECR gives repositories it creates under a prefix (replication, pull-through
    cache, create on push): DescribeRepositoryCreationTemplates, with collect.registry."""

    registry_id: str
    prefix: str
    description: str | None = None
    # REPLICATION, PULL_THROUGH_CACHE, CREATE_ON_PUSH
    applied_for: list[str] | None = None
    image_tag_mutability: str | None = None
    image_tag_mutability_exclusion_filters: list[TagMutabilityExclusionFilter] | None = None
    encryption_configuration: EncryptionConfiguration | None = None
    # Parsed JSON; {} when the template sets none.
    lifecycle_policy: dict[str, Any] | None = None
    repository_policy: dict[str, Any] | None = None
    resource_tags: dict[str, str] | None = None
    custom_role_arn: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Error(_Scoped, frozen=True, kw_only=True, tag="error"):
    """Something the scan could not collect; the rest of the scan went on."""

    repository_name: str | None = None
    operation: str
    error_code: str
    message: str
    # An optional enrichment (policies, tags, findings, ...) failed: the field stays null and
    # the inventory of repositories and images is still complete.
    optional: bool = False


Severity = Literal["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"]


class Suppressed(msgspec.Struct, frozen=True, kw_only=True):
    """The config suppression that covers a finding (compliance.suppressions)."""

    reason: str
    expires: date


class Finding(_Scoped, frozen=True, kw_only=True, tag="finding"):
    """One resource that fails one compliance check (crawler.compliance); written just before
    the summary by `scan --checks`, or computed from a saved scan by `ecr-crawler checks`."""

    check_id: str
    severity: Severity
    title: str
    message: str
    rationale: str
    remediation: str
    resource_type: Literal["registry", "repository", "image", "pull_through_cache_rule"]
    # What the finding is about: a repository ARN, an image URI (by digest), a registry URI,
    # or a pull-through cache rule (registry URI/prefix); suppressions match it.
    resource: str
    registry_id: str
    repository_name: str | None = None
    image_digest: str | None = None
    details: dict[str, Any] = msgspec.field(default_factory=dict)
    # Set when an unexpired suppression covers the finding: it is reported but does not gate.
    suppressed: Suppressed | None = None


class Change(_Scoped, frozen=True, kw_only=True, tag="change"):
    """A difference between this scan and the previous complete one."""

    previous_scan_id: str | None = None
    change: Literal[
        "repository_added",
        "repository_removed",
        "repository_changed",
        "image_added",
        "image_removed",
        "tag_moved",
    ]
    repository_name: str
    image_digest: str | None = None
    tag: str | None = None
    old_digest: str | None = None
    new_digest: str | None = None
    old_tags: list[str] | None = None
    new_tags: list[str] | None = None
    # For repository_changed: the settings that differ.
    fields: list[str] | None = None


class RegionCounts(msgspec.Struct, frozen=True, kw_only=True):
    repositories: int = 0
    images: int = 0
    errors: int = 0
    # Failed optional enrichments; they do not make the scan partial.
    optional_errors: int = 0


ScanStatus = Literal["complete", "partial", "interrupted"]


class ScanSummary(Record, frozen=True, kw_only=True, tag="scan_summary"):
    """The last record of every scan; a sink may treat it as the commit marker."""

    account_id: str | None
    started_at: datetime
    finished_at: datetime
    status: ScanStatus
    # Totals per region over all accounts, then per account and region; an account whose
    # role could not be assumed has region "*" with its error.
    regions: dict[str, RegionCounts]
    regions_skipped: list[str]
    accounts: dict[str, dict[str, RegionCounts]] = msgspec.field(default_factory=dict)
    shard: str | None = None
    api_calls: int = 0
    retries: int = 0
    throttled: int = 0


ScanRecord = (
    Repository
    | Image
    | ImageManifest
    | ScanFinding
    | Registry
    | RepositoryCreationTemplate
    | Error
    | Finding
    | Change
    | ScanSummary
)
