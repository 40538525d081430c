"""A saved scan's lifecycle dry run: per repository what its policy (or a proposed one) would
expire or archive, the bytes and the monthly storage that saves, and the danger list.

    records -> Holdings.observe    each repository's policy and images, a few fields each
            -> dry_run             evaluate (crawler.lifecycle.evaluate) repository by repository
            -> DryRun              outcomes, totals, dangers; printed by crawler.lifecycle.output
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from crawler.config import Lifecycle
from crawler.lifecycle.evaluate import Action, Held, evaluate
from crawler.lifecycle.policy import Policy, PolicyError, matches, policy_of
from crawler.media_types import INDEX_TYPES
from crawler.records import Image, Repository, ScanRecord

GB = 2**30
# The kinds a deployment runs; None: a record saved before kinds.
DEPLOYED_KINDS = frozenset({"container_image", "image_index", None})

RepoKey = tuple[str, str, str]
"""(account_id, region, repository_name)"""


@dataclass
class Holding:
    """One repository: its policy as the scan saw it (None: not collected) and its images."""

    key: RepoKey
    described: bool = False
    policy: dict[str, Any] | None = None
    images: list[Held] = field(default_factory=list)


class Holdings:
    """The repositories of a scan, folded from its records in stream order. With
    `only_with_policy`, the images of a repository whose record says it has no policy (or that
    it was not collected) are dropped, so a compliance run keeps only what it evaluates."""

    def __init__(self, *, only_with_policy: bool = False) -> None:
        self.only_with_policy = only_with_policy
        self.repos: dict[RepoKey, Holding] = {}

    def _holding(self, key: RepoKey) -> Holding:
        return self.repos.setdefault(key, Holding(key))

    def observe(self, record: ScanRecord) -> None:
        if isinstance(record, Repository):
            holding = self._holding((record.account_id, record.region, record.repository_name))
            holding.described = True
            holding.policy = record.lifecycle_policy
            if self.only_with_policy and not record.lifecycle_policy:
                holding.images.clear()
        elif isinstance(record, Image):
            holding = self._holding((record.account_id, record.region, record.repository_name))
            if self.only_with_policy and holding.described and not holding.policy:
                return
            is_index = record.image_manifest_media_type in INDEX_TYPES
            holding.images.append(Held.of(record, is_index))

    def __iter__(self) -> Iterator[Holding]:
        for key in sorted(self.repos):
            yield self.repos[key]


@dataclass(frozen=True)
class Danger:
    action: Action
    reasons: tuple[str, ...]
    """in use (Inspector), protected tag, newest image of the repository."""


@dataclass(frozen=True)
class Outcome:
    """What one repository's policy would do."""

    key: RepoKey
    images: int
    actions: tuple[Action, ...]
    dangers: tuple[Danger, ...]
    in_use_known: bool
    """Some image of the repository carries Inspector's in-use data (collect.inspector)."""

    def tally(self, action: str, storage: str | None = None) -> tuple[int, int]:
        """Images and bytes of one action (and of images in one storage class)."""
        chosen = [
            a for a in self.actions if a.type == action and storage in (None, a.image.storage)
        ]
        return len(chosen), sum(a.image.size for a in chosen if not a.image.is_index)

    def savings(self, prices: Lifecycle) -> float:
        """Dollars a month: an expired image's storage, an archived one's price difference."""
        standard, archive = prices.price_per_gb_month, prices.archive_price_per_gb_month
        expired_standard = self.tally("expire", "standard")[1]
        expired_archive = self.tally("expire", "archive")[1]
        archived = self.tally("transition")[1]
        return (
            expired_standard * standard
            + expired_archive * archive
            + archived * (standard - archive)
        ) / GB


@dataclass(frozen=True)
class DryRun:
    scan_id: str | None
    as_of: datetime
    source: str
    """"attached" (each repository's own policy) or the proposed policy's file."""
    settings: Lifecycle
    outcomes: tuple[Outcome, ...]
    without_policy: int
    not_collected: int
    invalid: tuple[tuple[RepoKey, str], ...]

    def totals(self) -> dict[str, float]:
        expire = [o.tally("expire") for o in self.outcomes]
        archive = [o.tally("transition") for o in self.outcomes]
        return {
            "repositories": len(self.outcomes),
            "images": sum(o.images for o in self.outcomes),
            "expire_images": sum(n for n, _ in expire),
            "expire_bytes": sum(b for _, b in expire),
            "archive_images": sum(n for n, _ in archive),
            "archive_bytes": sum(b for _, b in archive),
            "monthly_savings": round(sum(o.savings(self.settings) for o in self.outcomes), 4),
            "dangers": sum(len(o.dangers) for o in self.outcomes),
        }


def dry_run(
    holdings: Holdings,
    settings: Lifecycle,
    as_of: datetime,
    *,
    scan_id: str | None = None,
    proposed: Policy | None = None,
    source: str = "attached",
    repositories: str | None = None,
) -> DryRun:
    """Every repository (whose name matches `repositories`, * and ? wildcards) under its own
    policy, or under `proposed` when given."""
    outcomes: list[Outcome] = []
    invalid: list[tuple[RepoKey, str]] = []
    without = not_collected = 0
    for holding in holdings:
        if repositories is not None and not fnmatchcase(holding.key[2], repositories):
            continue
        policy = proposed
        if policy is None:
            if holding.described and holding.policy is None:
                not_collected += 1
                continue
            if not holding.policy:
                without += 1
                continue
            try:
                policy = policy_of(holding.policy, source="/".join(holding.key))
            except PolicyError as exc:
                invalid.append((holding.key, "; ".join(exc.problems)))
                continue
        outcomes.append(outcome(holding, policy, settings, as_of))
    return DryRun(
        scan_id, as_of, source, settings, tuple(outcomes), without, not_collected, tuple(invalid)
    )


def outcome(holding: Holding, policy: Policy, settings: Lifecycle, as_of: datetime) -> Outcome:
    """One repository's evaluation with its danger list."""
    actions = evaluate(policy, holding.images, as_of)
    recent = as_of - timedelta(days=settings.in_use_days)
    used = {i.digest for i in holding.images if in_use(i, recent)}
    # An index runs as its children: it is in use when one of them is.
    used |= {p for i in holding.images if i.digest in used for p in i.parents}
    newest = newest_image(holding.images)
    dangers = []
    for action in actions:
        reasons = []
        if action.image.digest in used:
            reasons.append("in use")
        protected = sorted(
            t for t in action.image.tags if any(matches(p, t) for p in settings.protected_tags)
        )
        if protected:
            reasons.append("protected tag " + ", ".join(protected))
        if newest is not None and action.image.digest == newest.digest:
            reasons.append("newest image")
        if reasons:
            dangers.append(Danger(action, tuple(reasons)))
    return Outcome(
        key=holding.key,
        images=len(holding.images),
        actions=tuple(actions),
        dangers=tuple(dangers),
        in_use_known=any(i.in_use_count is not None for i in holding.images),
    )


def in_use(image: Held, recent: datetime) -> bool:
    """Inspector saw it running: tasks or pods now, or since `recent`."""
    if image.in_use_count:
        return True
    return image.last_in_use_at is not None and image.last_in_use_at >= recent


def newest_image(images: list[Held]) -> Held | None:
    """The repository's most recently pushed deployable image (not an index's child, not a
    signature, SBOM or other artifact); on a tie, a tagged one."""
    deployable = [
        i
        for i in images
        if not i.parents and i.subject is None and i.kind in DEPLOYED_KINDS and i.storage
    ]
    return max(deployable, key=lambda i: (i.since, bool(i.tags), i.digest), default=None)
