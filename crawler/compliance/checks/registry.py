"""Checks of a registry's own settings: pull-through cache rules, pull-time exclusions,
repository creation templates and the registry policy scope."""

from __future__ import annotations

from fnmatch import fnmatchcase

from crawler.compliance.checks.base import Context, Result, check
from crawler.compliance.checks.repositories import tags_immutable
from crawler.compliance.ecr_settings import LifecyclePolicy, decode
from crawler.compliance.inventory import Inventory


@check(
    "pull-through-cache-upstream",
    severity="MEDIUM",
    title="Pull-through cache rule to a registry not on the allow list",
    rationale="A pull-through cache rule lets anyone who can pull from the registry bring "
    "in images from the upstream registry; only approved upstreams should be reachable.",
    remediation="Delete the rule (aws ecr delete-pull-through-cache-rule "
    "--ecr-repository-prefix PREFIX), or add the upstream to "
    "compliance.pull_through_upstreams.",
    resource_type="pull_through_cache_rule",
    needs="collect.registry",
)
def pull_through_upstream(inv: Inventory, ctx: Context, out: Result) -> None:
    allowed = ctx.settings.pull_through_upstreams
    for (unit, state), rules in out.judged(inv.registries(), lambda u: u[1].cache_rules):
        for cache in rules:
            upstream = cache.upstream_registry_url or ""
            names = [upstream, cache.upstream_registry or ""]
            if any(fnmatchcase(n, p) for n in names if n for p in allowed):
                continue
            prefix = cache.ecr_repository_prefix or ""
            out.on_registry(
                unit,
                state,
                f"pull-through cache rule {prefix}/ pulls from {upstream}, "
                "which is not on compliance.pull_through_upstreams",
                {
                    "ecr_repository_prefix": prefix,
                    "upstream_registry_url": upstream,
                    "upstream_registry": cache.upstream_registry,
                    "credential_arn": cache.credential_arn,
                },
                resource_type="pull_through_cache_rule",
                suffix=f"/{prefix}",
            )


@check(
    "crawler-updates-pull-times",
    severity="LOW",
    title="The crawler's manifest reads count as pulls",
    rationale="BatchGetImage by the crawler updates each image's lastRecordedPullTime, so "
    "lifecycle rules on pull time (and the images-not-pulled check) see images as used.",
    remediation="aws ecr register-pull-time-update-exclusion --principal-arn "
    "CRAWLER_ROLE_ARN in each region, or set collect.manifests: off.",
    resource_type="registry",
    needs="collect.registry",
)
def crawler_pull_times(inv: Inventory, ctx: Context, out: Result) -> None:
    for (unit, state), excluded in out.judged(
        inv.registries(),
        lambda u: u[1].registry.crawler_principal_excluded if u[1].registry else None,
    ):
        if not excluded and state.manifests_read and state.registry is not None:
            out.on_registry(
                unit,
                state,
                "the crawler read manifests but is not excluded from pull-time updates",
                {"pull_time_update_exclusions": state.registry.pull_time_update_exclusions},
            )


@check(
    "creation-template-weak",
    severity="MEDIUM",
    title="A repository creation template makes weak repositories",
    rationale="Repositories that ECR creates itself (pull-through cache, replication, create "
    "on push) take their settings from the template: without immutable tags or a lifecycle "
    "policy every one of them starts with movable tags and keeps every image forever.",
    remediation="aws ecr update-repository-creation-template --prefix PREFIX "
    "--image-tag-mutability IMMUTABLE --lifecycle-policy file://lifecycle.json (existing "
    "repositories keep their settings: fix them with put-image-tag-mutability and "
    "put-lifecycle-policy).",
    resource_type="registry",
    needs="collect.registry",
)
def creation_template_weak(inv: Inventory, ctx: Context, out: Result) -> None:
    for unit, state in inv.registries():
        templates = inv.templates(unit)
        if templates is None:
            out.unknown += 1
            continue
        for template in templates:
            out.checked += 1
            # RepositoryCreationTemplate: "If this parameter is omitted, the default setting of
            # MUTABLE will be used".
            mutability = template.image_tag_mutability or "MUTABLE"
            filters = template.image_tag_mutability_exclusion_filters
            lifecycle = decode(template.lifecycle_policy, LifecyclePolicy)
            weak = []
            if not tags_immutable(mutability, filters):
                weak.append(f"tags are {mutability}")
            if lifecycle is not None and not lifecycle.rules:
                weak.append("no lifecycle policy")
            if weak:
                out.on_registry(
                    unit,
                    state,
                    f"repository creation template {template.prefix}: {' and '.join(weak)}",
                    {
                        "prefix": template.prefix,
                        "applied_for": template.applied_for,
                        "image_tag_mutability": mutability,
                        "exclusion_filters": [f.filter for f in filters or []],
                        "lifecycle_policy": lifecycle is not None and bool(lifecycle.rules),
                    },
                    suffix=f"/{template.prefix}",
                )


@check(
    "registry-policy-scope-v1",
    severity="LOW",
    title="The registry policy still has the V1 scope",
    rationale="Under the V1 scope ECR enforces only ecr:ReplicateImage, "
    "ecr:BatchImportUpstreamImage and ecr:CreateRepository from the registry policy; V2 "
    "enforces the registry policy in every ECR request, so one registry-wide statement can "
    "govern every repository (ECR User Guide, private registry permissions).",
    remediation="aws ecr put-account-setting --name REGISTRY_POLICY_SCOPE --value V2 --region "
    "REGION (review the registry policy first: under V2 each of its statements applies to "
    "every ECR action it names).",
    resource_type="registry",
    needs="collect.registry",
)
def registry_policy_scope_v1(inv: Inventory, ctx: Context, out: Result) -> None:
    for (unit, state), scope in out.judged(
        inv.registries(),
        lambda u: u[1].registry.registry_policy_scope if u[1].registry else None,
    ):
        if scope == "V1":
            out.on_registry(
                unit,
                state,
                "the registry policy scope is V1: ECR enforces only three actions from it",
                {"registry_policy_scope": scope},
            )
