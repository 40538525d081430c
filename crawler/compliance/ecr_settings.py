"""The registry and repository settings the checks read, as typed structs decoded from the
records' dict fields (which keep AWS's shape, snake-cased, for every other reader)."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

T = TypeVar("T")


class RepositoryFilter(msgspec.Struct, frozen=True, kw_only=True):
    filter: str | None = None
    filter_type: str | None = "WILDCARD"


class ScanningRule(msgspec.Struct, frozen=True, kw_only=True):
    scan_frequency: str | None = None
    repository_filters: list[RepositoryFilter] | None = None


class ScanningConfiguration(msgspec.Struct, frozen=True, kw_only=True):
    """GetRegistryScanningConfiguration's scanningConfiguration."""

    scan_type: str | None = None
    rules: list[ScanningRule] | None = None


class PullThroughCacheRule(msgspec.Struct, frozen=True, kw_only=True):
    ecr_repository_prefix: str | None = None
    upstream_registry_url: str | None = None
    upstream_registry: str | None = None
    credential_arn: str | None = None


class LifecyclePolicy(msgspec.Struct, frozen=True, kw_only=True):
    """The lifecycle policy document; its rules are only counted."""

    rules: list[Any] | None = None


def decode(value: Any, into: type[T]) -> T | None:
    """`value` as `into`; None (not known) when it is null or not of that shape, as a saved
    scan from another version may hold, so that a check never judges what it cannot read."""
    if value is None:
        return None
    try:
        return msgspec.convert(value, into)
    except msgspec.ValidationError:
        return None
