"""The checks: one pure function per rule, from the folded inventory to findings.

Each says how many resources it judged (`checked`) and how many it could not for lack of data
(`unknown`): a null field means "not collected", and a check never guesses over it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal

from crawler.compliance.inventory import Inventory, RepoState, Tally, UnitState, worst
from crawler.compliance.policy import Grant, grants
from crawler.compliance.rules import BY_ID, SEVERITIES, Rule, at_least
from crawler.config import Compliance
from crawler.records import Finding, Severity

KMS_TYPES = frozenset({"KMS", "KMS_DSSE"})
MUTABLE = frozenset({"MUTABLE", "MUTABLE_WITH_EXCLUSION"})
ON_PUSH = frozenset({"SCAN_ON_PUSH", "CONTINUOUS_SCAN"})

ResourceType = Literal["registry", "repository", "image", "pull_through_cache_rule"]
Owner = RepoState | tuple[str, str]
"""What a policy belongs to: a repository, or a registry (account, region)."""


@dataclass(frozen=True)
class Context:
    settings: Compliance
    scan_id: str
    trusted_accounts: frozenset[str]
    trusted_organizations: frozenset[str]


@dataclass
class Result:
    findings: list[Finding] = field(default_factory=list)
    checked: int = 0
    unknown: int = 0
    """Resources not judged for lack of data; the rule's `needs` says what would give it."""
    note: str | None = None


def partition(region: str) -> tuple[str, str]:
    """The ARN partition and the DNS suffix of a region."""
    if region.startswith("cn-"):
        return "aws-cn", "amazonaws.com.cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov", "amazonaws.com"
    return "aws", "amazonaws.com"


def registry_uri(inv: Inventory, account: str, region: str) -> str:
    unit = inv.units.get((account, region))
    if unit is not None and unit.host:
        return unit.host
    registry_id = (unit.registry_id if unit else None) or account
    return f"{registry_id}.dkr.ecr.{region}.{partition(region)[1]}"


def wildcard(pattern: str, name: str) -> bool:
    """ECR's repository filters: `*` matches any characters, everything else is literal."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, name) is not None


def _finding(
    rule: Rule,
    ctx: Context,
    *,
    account: str,
    region: str,
    registry_id: str,
    resource_type: ResourceType,
    resource: str,
    message: str,
    details: dict[str, Any],
    repository_name: str | None = None,
    image_digest: str | None = None,
    severity: Severity | None = None,
) -> Finding:
    remediation = rule.remediation
    if repository_name:
        remediation = remediation.replace("NAME", repository_name)
    return Finding(
        scan_id=ctx.scan_id,
        account_id=account,
        region=region,
        check_id=rule.id,
        severity=severity or rule.severity,
        title=rule.title,
        message=message,
        rationale=rule.rationale,
        remediation=remediation,
        resource_type=resource_type,
        resource=resource,
        registry_id=registry_id,
        repository_name=repository_name,
        image_digest=image_digest,
        details=details,
    )


def _on_repo(
    rule: Rule,
    ctx: Context,
    repo: RepoState,
    message: str,
    details: dict[str, Any],
    severity: Severity | None = None,
) -> Finding:
    account, region, name = repo.key
    record = repo.repository
    arn = record.repository_arn if record and record.repository_arn else None
    return _finding(
        rule,
        ctx,
        account=account,
        region=region,
        registry_id=record.registry_id if record else account,
        resource_type="repository",
        resource=arn or f"arn:{partition(region)[0]}:ecr:{region}:{account}:repository/{name}",
        message=f"{name}: {message}",
        details=details,
        repository_name=name,
        severity=severity,
    )


def _on_registry(
    rule: Rule,
    ctx: Context,
    inv: Inventory,
    unit: tuple[str, str],
    message: str,
    details: dict[str, Any],
    *,
    resource_type: ResourceType = "registry",
    suffix: str = "",
) -> Finding:
    account, region = unit
    state = inv.units[unit]
    host = registry_uri(inv, account, region)
    return _finding(
        rule,
        ctx,
        account=account,
        region=region,
        registry_id=state.registry_id or account,
        resource_type=resource_type,
        resource=host + suffix,
        message=f"registry {host}: {message}",
        details=details,
    )


def _repos(inv: Inventory, with_record: bool = True) -> Iterator[RepoState]:
    for key in sorted(inv.repos):
        repo = inv.repos[key]
        if repo.repository is not None or not with_record:
            yield repo


def _units(inv: Inventory) -> Iterator[tuple[tuple[str, str], UnitState]]:
    for unit in sorted(inv.units):
        yield unit, inv.units[unit]


def _scanning(inv: Inventory, repo: RepoState) -> dict[str, Any] | None:
    unit = inv.units.get(repo.key[:2])
    registry = unit.registry if unit else None
    return registry.scanning_configuration if registry else None


def _rules_for(config: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The registry scanning rules whose repository filters match the repository name."""
    return [
        rule
        for rule in config.get("rules") or []
        if any(
            wildcard(f.get("filter", ""), name)
            for f in rule.get("repository_filters") or []
            if f.get("filter_type", "WILDCARD") == "WILDCARD"
        )
    ]


def scan_on_push(inv: Inventory, ctx: Context) -> Result:
    rule, result = BY_ID["scan-on-push-disabled"], Result()
    for repo in _repos(inv):
        assert repo.repository is not None
        setting = repo.repository.image_scanning_configuration
        flag = setting.scan_on_push if setting else None
        config = _scanning(inv, repo)
        if config is None:
            # The repository's own setting is enough to pass; to fail, the registry's rules
            # must be known not to cover it.
            result.checked += bool(flag)
            result.unknown += not flag
            continue
        result.checked += 1
        scan_type = config.get("scan_type") or "BASIC"
        rules = [r for r in _rules_for(config, repo.key[2]) if r.get("scan_frequency") in ON_PUSH]
        if rules or (scan_type == "BASIC" and flag):
            continue
        result.findings.append(
            _on_repo(
                rule,
                ctx,
                repo,
                f"new images are not scanned (registry scanning {scan_type}: no SCAN_ON_PUSH or "
                f"CONTINUOUS_SCAN rule matches; repository scan_on_push {str(flag).lower()})",
                {"registry_scan_type": scan_type, "repository_scan_on_push": flag},
            )
        )
    return result


def registry_basic_scanning(inv: Inventory, ctx: Context) -> Result:
    rule, result = BY_ID["registry-basic-scanning"], Result()
    for unit, state in _units(inv):
        config = state.registry.scanning_configuration if state.registry else None
        if config is None:
            result.unknown += 1
            continue
        result.checked += 1
        if (config.get("scan_type") or "BASIC") == "BASIC":
            result.findings.append(
                _on_registry(
                    rule,
                    ctx,
                    inv,
                    unit,
                    "scanning is BASIC (operating system packages only, at push)",
                    {"scan_type": "BASIC", "rules": config.get("rules") or []},
                )
            )
    return result


def not_in_scan_rules(inv: Inventory, ctx: Context) -> Result:
    rule, result = BY_ID["repository-not-in-scan-rules"], Result()
    for repo in _repos(inv):
        config = _scanning(inv, repo)
        if config is None:
            result.unknown += 1
            continue
        result.checked += 1
        covering = [
            r for r in _rules_for(config, repo.key[2]) if r.get("scan_frequency") != "MANUAL"
        ]
        if not covering:
            filters = sorted(
                f.get("filter", "")
                for r in config.get("rules") or []
                for f in r.get("repository_filters") or []
            )
            result.findings.append(
                _on_repo(
                    rule,
                    ctx,
                    repo,
                    "no registry scanning rule matches the repository"
                    + (f" (filters: {', '.join(filters)})" if filters else " (no rules)"),
                    {"scan_type": config.get("scan_type"), "filters": filters},
                )
            )
    return result


def mutable_tags(inv: Inventory, ctx: Context) -> Result:
    rule, result = BY_ID["mutable-tags"], Result()
    for repo in _repos(inv):
        assert repo.repository is not None
        mutability = repo.repository.image_tag_mutability
        if mutability is None:
            result.unknown += 1
            continue
        result.checked += 1
        if mutability in MUTABLE:
            exclusions = [
                f.filter for f in repo.repository.image_tag_mutability_exclusion_filters or []
            ]
            result.findings.append(
                _on_repo(
                    rule,
                    ctx,
                    repo,
                    f"image tag mutability is {mutability}",
                    {"image_tag_mutability": mutability, "immutable_tags": exclusions},
                )
            )
    return result


def no_lifecycle_policy(inv: Inventory, ctx: Context) -> Result:
    rule, result = BY_ID["no-lifecycle-policy"], Result()
    for repo in _repos(inv):
        assert repo.repository is not None
        policy = repo.repository.lifecycle_policy
        if policy is None:
            result.unknown += 1
            continue
        result.checked += 1
        if not policy.get("rules"):
            result.findings.append(
                _on_repo(rule, ctx, repo, "no lifecycle policy", {"images": repo.images})
            )
    return result


def _policies(inv: Inventory) -> Iterator[tuple[Owner, str, dict[str, Any] | None]]:
    """(owner, account, policy document) for every repository and registry."""
    for repo in _repos(inv):
        assert repo.repository is not None
        yield repo, repo.key[0], repo.repository.repository_policy
    for unit, state in _units(inv):
        yield unit, unit[0], state.registry.registry_policy if state.registry else None


def _policy_finding(
    rule: Rule, ctx: Context, inv: Inventory, owner: Owner, message: str, found: list[Grant]
) -> Finding:
    details = {
        "grants": [
            {"principal": g.value, "kind": g.kind, "sid": g.sid, "actions": list(g.actions)}
            for g in found
        ]
    }
    if isinstance(owner, RepoState):
        return _on_repo(rule, ctx, owner, f"repository policy {message}", details)
    return _on_registry(rule, ctx, inv, owner, f"registry policy {message}", details)


def policy_public(inv: Inventory, ctx: Context) -> Result:
    rule, result = BY_ID["policy-public-access"], Result()
    for owner, _, document in _policies(inv):
        if document is None:
            result.unknown += 1
            continue
        result.checked += 1
        public = [g for g in grants(document) if g.kind == "public"]
        if public:
            sids = ", ".join(sorted({g.sid or "(no Sid)" for g in public}))
            message = f"allows Principal * with no account or organisation condition ({sids})"
            result.findings.append(_policy_finding(rule, ctx, inv, owner, message, public))
    return result


def policy_external(inv: Inventory, ctx: Context) -> Result:
    rule, result = BY_ID["policy-external-access"], Result()
    for owner, account, document in _policies(inv):
        if document is None:
            result.unknown += 1
            continue
        result.checked += 1
        trusted = ctx.trusted_accounts | {account}
        outside = [
            g
            for g in grants(document)
            if (g.kind == "account" and g.value not in trusted)
            or (g.kind == "organization" and g.value not in ctx.trusted_organizations)
            or g.kind == "unknown"
        ]
        if outside:
            names = ", ".join(sorted({g.value for g in outside}))
            message = f"grants access to {names}, outside the trusted accounts"
            result.findings.append(_policy_finding(rule, ctx, inv, owner, message, outside))
    return result


def encryption_not_kms(inv: Inventory, ctx: Context) -> Result:
    rule, result = BY_ID["encryption-not-kms"], Result()
    patterns = ctx.settings.require_kms
    if not patterns:
        result.note = "no repository requires KMS (compliance.require_kms is empty)"
        return result
    for repo in _repos(inv):
        assert repo.repository is not None
        if not any(fnmatchcase(repo.key[2], p) for p in patterns):
            continue
        encryption = repo.repository.encryption_configuration
        if encryption is None or encryption.encryption_type is None:
            result.unknown += 1
            continue
        result.checked += 1
        if encryption.encryption_type not in KMS_TYPES:
            result.findings.append(
                _on_repo(
                    rule,
                    ctx,
                    repo,
                    f"encrypted with {encryption.encryption_type}, KMS required",
                    {"encryption_type": encryption.encryption_type},
                )
            )
    return result


def _counts_text(counts: dict[str, int] | Counter[str]) -> str:
    return ", ".join(f"{counts[s]} {s}" for s in SEVERITIES if counts.get(s))


def vulnerable_images(inv: Inventory, ctx: Context) -> Result:
    rule, result = BY_ID["vulnerable-images"], Result()
    threshold = ctx.settings.vulnerability_severity
    for repo in _repos(inv, with_record=False):
        result.checked += 1
        found = repo.vulnerable
        severity = worst(repo.by_worst)
        if found.count and severity is not None:
            result.findings.append(
                _on_repo(
                    rule,
                    ctx,
                    repo,
                    f"{found.count} of {repo.images} images have {threshold} or worse "
                    f"vulnerabilities in their latest scan (worst: {_counts_text(repo.by_worst)})",
                    {
                        "images": found.count,
                        "images_in_repository": repo.images,
                        "by_worst_severity": dict(repo.by_worst),
                        "examples": found.examples,
                    },
                    severity=_severity(severity),
                )
            )
    return result


def _severity(name: str) -> Severity:
    return next(s for s in SEVERITIES if s == name)


def vulnerable_current_image(inv: Inventory, ctx: Context) -> Result:
    rule, result = BY_ID["vulnerable-current-image"], Result()
    threshold = ctx.settings.vulnerability_severity
    for repo in _repos(inv, with_record=False):
        roles: dict[str, list[str]] = {}
        refs = {}
        for role, ref in (("tag latest", repo.latest), ("most recent push", repo.newest)):
            if ref is not None:
                roles.setdefault(ref.digest, []).append(role)
                refs[ref.digest] = ref
        for digest, ref in refs.items():
            counts: dict[str, int] | Counter[str] | None = ref.counts
            if ref.is_index:
                if not repo.children_known:
                    result.unknown += 1  # its children carry the scans
                    continue
                counts = repo.child_counts.get(digest)
            result.checked += 1
            severity = worst(counts)
            if counts is None or severity is None or not at_least(severity, threshold):
                continue
            account, region, name = repo.key
            result.findings.append(
                _finding(
                    rule,
                    ctx,
                    account=account,
                    region=region,
                    registry_id=repo.repository.registry_id if repo.repository else account,
                    resource_type="image",
                    resource=ref.uri,
                    repository_name=name,
                    image_digest=digest,
                    severity=_severity(severity),
                    message=f"{name}@{digest[:19]} ({' and '.join(roles[digest])}"
                    + (f", tags {', '.join(ref.tags)}" if ref.tags else "")
                    + ") has vulnerabilities"
                    + (" in its platform images" if ref.is_index else "")
                    + f": {_counts_text(counts)}",
                    details={
                        "roles": roles[digest],
                        "tags": ref.tags,
                        "severity_counts": dict(counts),
                        "pushed_at": ref.pushed_at.isoformat() if ref.pushed_at else None,
                        "index": ref.is_index,
                    },
                )
            )
    return result


def _tallied(
    rule_id: str,
    inv: Inventory,
    ctx: Context,
    pick: Callable[[RepoState], Tally],
    describe: str,
    extra: Callable[[RepoState], dict[str, Any]] = lambda repo: {},
    result: Result | None = None,
) -> Result:
    """A finding for each repository with images in the category `pick` returns."""
    rule, result = BY_ID[rule_id], result or Result()
    for repo in _repos(inv, with_record=False):
        result.checked += 1
        tally = pick(repo)
        if tally.count:
            message = describe.format(n=tally.count, settings=ctx.settings)
            details = {"images": tally.count, "bytes": tally.bytes, "examples": tally.examples}
            result.findings.append(
                _on_repo(
                    rule,
                    ctx,
                    repo,
                    f"{message} ({tally.bytes / 1e6:,.1f} MB)",
                    details | extra(repo),
                )
            )
    return result


def never_scanned(inv: Inventory, ctx: Context) -> Result:
    return _tallied(
        "images-never-scanned", inv, ctx, lambda r: r.never_scanned, "{n} images never scanned"
    )


def scan_failed(inv: Inventory, ctx: Context) -> Result:
    return _tallied(
        "image-scan-failed",
        inv,
        ctx,
        lambda r: r.scan_failed,
        "{n} images whose scan failed",
        lambda r: {"statuses": dict(r.failed_statuses)},
    )


def not_pulled(inv: Inventory, ctx: Context) -> Result:
    return _tallied(
        "images-not-pulled",
        inv,
        ctx,
        lambda r: r.not_pulled,
        "{n} images neither pulled nor pushed in {settings.not_pulled_days} days",
    )


def untagged_old(inv: Inventory, ctx: Context) -> Result:
    # Without manifests, an index's children look like leftovers: in a repository with an
    # index, untagged images of unknown parentage are not judged.
    unsure = sum(1 for r in inv.repos.values() if r.has_index and r.untagged_unsure.count)
    return _tallied(
        "untagged-images-old",
        inv,
        ctx,
        lambda r: r.untagged_old if r.has_index else r.untagged_old.merged(r.untagged_unsure),
        "{n} untagged images pushed more than {settings.untagged_days} days ago",
        result=Result(unknown=unsure),
    )


def pull_through_upstream(inv: Inventory, ctx: Context) -> Result:
    rule, result = BY_ID["pull-through-cache-upstream"], Result()
    allowed = ctx.settings.pull_through_upstreams
    for unit, state in _units(inv):
        rules = state.registry.pull_through_cache_rules if state.registry else None
        if rules is None:
            result.unknown += 1
            continue
        result.checked += 1
        for cache in rules:
            upstream = cache.get("upstream_registry_url") or ""
            names = [upstream, cache.get("upstream_registry") or ""]
            if any(fnmatchcase(n, p) for n in names if n for p in allowed):
                continue
            prefix = cache.get("ecr_repository_prefix") or ""
            result.findings.append(
                _on_registry(
                    rule,
                    ctx,
                    inv,
                    unit,
                    f"pull-through cache rule {prefix}/ pulls from {upstream}, "
                    "which is not on compliance.pull_through_upstreams",
                    {
                        "ecr_repository_prefix": prefix,
                        "upstream_registry_url": upstream,
                        "upstream_registry": cache.get("upstream_registry"),
                        "credential_arn": cache.get("credential_arn"),
                    },
                    resource_type="pull_through_cache_rule",
                    suffix=f"/{prefix}",
                )
            )
    return result


def crawler_pull_times(inv: Inventory, ctx: Context) -> Result:
    rule, result = BY_ID["crawler-updates-pull-times"], Result()
    for unit, state in _units(inv):
        excluded = state.registry.crawler_principal_excluded if state.registry else None
        if excluded is None:
            result.unknown += 1
            continue
        result.checked += 1
        if not excluded and state.manifests_read:
            assert state.registry is not None
            result.findings.append(
                _on_registry(
                    rule,
                    ctx,
                    inv,
                    unit,
                    "the crawler read manifests but is not excluded from pull-time updates",
                    {"pull_time_update_exclusions": state.registry.pull_time_update_exclusions},
                )
            )
    return result


CHECKS: dict[str, Callable[[Inventory, Context], Result]] = {
    "scan-on-push-disabled": scan_on_push,
    "registry-basic-scanning": registry_basic_scanning,
    "repository-not-in-scan-rules": not_in_scan_rules,
    "mutable-tags": mutable_tags,
    "no-lifecycle-policy": no_lifecycle_policy,
    "policy-public-access": policy_public,
    "policy-external-access": policy_external,
    "encryption-not-kms": encryption_not_kms,
    "vulnerable-images": vulnerable_images,
    "vulnerable-current-image": vulnerable_current_image,
    "images-never-scanned": never_scanned,
    "image-scan-failed": scan_failed,
    "images-not-pulled": not_pulled,
    "untagged-images-old": untagged_old,
    "pull-through-cache-upstream": pull_through_upstream,
    "crawler-updates-pull-times": crawler_pull_times,
}
assert set(CHECKS) == set(BY_ID), "every rule has its check"
