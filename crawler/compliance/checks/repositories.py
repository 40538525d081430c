"""Checks of a repository's own settings: tag mutability and its lifecycle policy."""

from __future__ import annotations

from crawler.compliance.checks.base import Context, Result, check
from crawler.compliance.inventory import Inventory
from crawler.records import TagMutabilityExclusionFilter

IMMUTABLE = frozenset({"IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"})
WITH_EXCLUSION = frozenset({"IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION"})


def tags_immutable(mutability: str, filters: list[TagMutabilityExclusionFilter] | None) -> bool:
    """Whether a pushed tag stays where it is. *_WITH_EXCLUSION applies the setting to every tag
    but those the exclusion filters match (ImageTagMutabilityExclusionFilter, type WILDCARD): a
    few named tags (latest) leave the setting as it says, a filter of `*` alone matches every
    tag and turns it around."""
    every = mutability in WITH_EXCLUSION and any(
        set(f.filter or "") == {"*"} for f in filters or []
    )
    return (mutability in IMMUTABLE) != every


@check(
    "mutable-tags",
    severity="MEDIUM",
    title="Image tags are mutable",
    rationale="A mutable tag can be pushed over: what `app:1.2` runs changes without a "
    "deployment, and a compromised pipeline can replace a released image.",
    remediation="aws ecr put-image-tag-mutability --repository-name NAME "
    "--image-tag-mutability IMMUTABLE (IMMUTABLE_WITH_EXCLUSION with "
    "--image-tag-mutability-exclusion-filters filterType=WILDCARD,filter=latest keeps a few "
    "tags such as latest movable).",
    resource_type="repository",
    security_hub="ECR.2",
)
def mutable_tags(inv: Inventory, ctx: Context, out: Result) -> None:
    for (repo, record), mutability in out.judged(
        inv.described(), lambda described: described[1].image_tag_mutability
    ):
        filters = record.image_tag_mutability_exclusion_filters
        if tags_immutable(mutability, filters):
            continue
        message = f"image tag mutability is {mutability}"
        if mutability == "IMMUTABLE_WITH_EXCLUSION":
            message += ", with an exclusion filter that matches every tag"
        # MUTABLE_WITH_EXCLUSION's filters name the tags that cannot move.
        exclusions = [f.filter for f in filters or []]
        out.on_repository(
            repo, message, {"image_tag_mutability": mutability, "exclusion_filters": exclusions}
        )


@check(
    "no-lifecycle-policy",
    severity="MEDIUM",
    title="No lifecycle policy",
    rationale="Without a lifecycle policy every image ever pushed is kept and paid for, "
    "and old vulnerable images stay pullable.",
    remediation="aws ecr put-lifecycle-policy --repository-name NAME "
    "--lifecycle-policy-text file://policy.json, e.g. expire untagged images after 14 days "
    "and keep the last N tagged ones.",
    resource_type="repository",
    needs="collect.policies",
    security_hub="ECR.3",
)
def no_lifecycle_policy(inv: Inventory, ctx: Context, out: Result) -> None:
    for (repo, _), policy in out.judged(inv.described(), lambda described: described[0].lifecycle):
        if not policy.rules:
            out.on_repository(repo, "no lifecycle policy", {"images": repo.images})
