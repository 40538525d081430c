"""The registry and repository settings the checks read, as typed structs decoded from the
records' dict fields (which keep AWS's shape, snake-cased, for every other reader)."""

from __future__ import annotations

import re
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


class SigningRule(msgspec.Struct, frozen=True, kw_only=True):
    signing_profile_arn: str | None = None
    repository_filters: list[RepositoryFilter] | None = None


class SigningConfiguration(msgspec.Struct, frozen=True, kw_only=True):
    """GetSigningConfiguration's signingConfiguration ({} when the registry has none)."""

    rules: list[SigningRule] | None = None

    def profiles_for(self, name: str) -> list[str]:
        """The signing profiles whose rules cover the repository: SigningRule "If no filters
        are specified, all images pushed to the registry are signed"; a filter is
        WILDCARD_MATCH, where "the * character matches any sequence of characters"."""
        return [
            rule.signing_profile_arn or ""
            for rule in self.rules or []
            if not rule.repository_filters
            or any(wildcard(f.filter or "", name) for f in rule.repository_filters)
        ]


def wildcard(pattern: str, name: str) -> bool:
    """ECR's repository filters: `*` matches any characters, everything else is literal."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, name) is not None


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
