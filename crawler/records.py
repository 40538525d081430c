"""Typed, immutable records: what a scan produces, encoded once as JSON with `type` first.

Every AWS field keeps AWS's value under its snake_case name; fields AWS did not return are null;
timestamps are timezone-aware UTC datetimes (RFC 3339 in JSON).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec


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


class ImageScanStatus(msgspec.Struct, frozen=True, kw_only=True):
    status: str | None = None
    description: str | None = None


class ImageScanFindingsSummary(msgspec.Struct, frozen=True, kw_only=True):
    image_scan_completed_at: datetime | None = None
    vulnerability_source_updated_at: datetime | None = None
    # Keys are AWS's severity names (CRITICAL, HIGH, ...), kept as AWS spells them.
    finding_severity_counts: dict[str, int] | None = None


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
    image_scan_status: ImageScanStatus | None = None
    image_scan_findings_summary: ImageScanFindingsSummary | None = None
    image_status: str | None = None
    last_archived_at: datetime | None = None
    last_activated_at: datetime | None = None
    subject_manifest_digest: str | None = None


class Error(_Scoped, frozen=True, kw_only=True, tag="error"):
    """Something the scan could not collect; the rest of the scan went on."""

    repository_name: str | None = None
    operation: str
    error_code: str
    message: str


class RegionCounts(msgspec.Struct, frozen=True, kw_only=True):
    repositories: int = 0
    images: int = 0
    errors: int = 0


ScanStatus = Literal["complete", "partial", "interrupted"]


class ScanSummary(Record, frozen=True, kw_only=True, tag="scan_summary"):
    """The last record of every scan; a sink may treat it as the commit marker."""

    account_id: str | None
    started_at: datetime
    finished_at: datetime
    status: ScanStatus
    regions: dict[str, RegionCounts]
    regions_skipped: list[str]
    api_calls: int
    retries: int
    throttled: int


ScanRecord = Repository | Image | Error | ScanSummary
