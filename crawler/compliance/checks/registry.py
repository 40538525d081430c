"""Checks of a registry's own settings: pull-through cache rules and pull-time exclusions."""

from __future__ import annotations

from fnmatch import fnmatchcase

from crawler.compliance.checks.base import Context, Result, check
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
