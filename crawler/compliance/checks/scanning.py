"""Checks of how images get scanned: the registry's scanning configuration and the
repositories its rules cover."""

from __future__ import annotations

from crawler.compliance.checks.base import Context, Result, check
from crawler.compliance.ecr_settings import ScanningConfiguration, ScanningRule, wildcard
from crawler.compliance.inventory import Inventory, RepoState

ON_PUSH = frozenset({"SCAN_ON_PUSH", "CONTINUOUS_SCAN"})
# PutAccountSetting in botocore's ECR model (2015-09-21): name BASIC_SCAN_TYPE_VERSION, whose
# one valid value is AWS_NATIVE; the Clair-based version is deprecated (ECR User Guide, "Scan
# images for OS vulnerabilities").
SWITCH_TO_AWS_NATIVE = (
    "aws ecr put-account-setting --name BASIC_SCAN_TYPE_VERSION --value AWS_NATIVE"
)


def rules_for(config: ScanningConfiguration, name: str) -> list[ScanningRule]:
    """The registry scanning rules whose repository filters match the repository name."""
    return [
        rule
        for rule in config.rules or []
        if any(
            wildcard(f.filter or "", name)
            for f in rule.repository_filters or []
            if f.filter_type == "WILDCARD"
        )
    ]


def _scanning(inv: Inventory, repo: RepoState) -> ScanningConfiguration | None:
    unit = inv.units.get(repo.key[:2])
    return unit.scanning if unit else None


@check(
    "scan-on-push-disabled",
    severity="HIGH",
    title="Images are not scanned when pushed",
    rationale="An image nobody scanned can ship known vulnerabilities; scanning on push "
    "finds them before the image is deployed.",
    remediation="Add a registry scanning rule that covers the repository: aws ecr "
    "put-registry-scanning-configuration --scan-type BASIC --rules "
    '\'[{"scanFrequency":"SCAN_ON_PUSH","repositoryFilters":'
    '[{"filter":"*","filterType":"WILDCARD"}]}]\' (or ENHANCED with CONTINUOUS_SCAN).',
    resource_type="repository",
    needs="collect.registry",
    security_hub="ECR.1",
)
def scan_on_push(inv: Inventory, ctx: Context, out: Result) -> None:
    for repo, record in inv.described():
        setting = record.image_scanning_configuration
        flag = setting.scan_on_push if setting else None
        config = _scanning(inv, repo)
        if config is None:
            # The repository's own setting is enough to pass; to fail, the registry's rules
            # must be known not to cover it.
            out.checked += bool(flag)
            out.unknown += not flag
            continue
        out.checked += 1
        scan_type = config.scan_type or "BASIC"
        rules = [r for r in rules_for(config, repo.key[2]) if r.scan_frequency in ON_PUSH]
        if rules or (scan_type == "BASIC" and flag):
            continue
        out.on_repository(
            repo,
            f"new images are not scanned (registry scanning {scan_type}: no SCAN_ON_PUSH or "
            f"CONTINUOUS_SCAN rule matches; repository scan_on_push {str(flag).lower()})",
            {"registry_scan_type": scan_type, "repository_scan_on_push": flag},
        )


@check(
    "registry-basic-scanning",
    severity="LOW",
    title="Registry scanning is basic only",
    rationale="Basic scanning looks at operating system packages once, at push; enhanced "
    "scanning (Amazon Inspector) also covers language packages and rescans images as "
    "new vulnerabilities are published.",
    remediation="aws ecr put-registry-scanning-configuration --scan-type ENHANCED --rules "
    '\'[{"scanFrequency":"CONTINUOUS_SCAN","repositoryFilters":'
    '[{"filter":"*","filterType":"WILDCARD"}]}]\' (Amazon Inspector charges per image).',
    resource_type="registry",
    needs="collect.registry",
)
def registry_basic_scanning(inv: Inventory, ctx: Context, out: Result) -> None:
    for (unit, state), config in out.judged(inv.registries(), lambda u: u[1].scanning):
        if (config.scan_type or "BASIC") != "BASIC":
            continue
        # The rules as AWS returned them: the report shows them as collected.
        collected = state.registry.scanning_configuration if state.registry else None
        message = "scanning is BASIC (operating system packages only, at push)"
        details = {"scan_type": "BASIC", "rules": (collected or {}).get("rules") or []}
        version = state.registry.basic_scan_type_version if state.registry else None
        if version is not None:
            details["basic_scan_type_version"] = version
        if version == "CLAIR":
            switch = f"{SWITCH_TO_AWS_NATIVE} --region {unit[1]}"
            message += f", still the Clair-based version AWS is retiring: switch with {switch}"
            details["switch_to_aws_native"] = switch
        out.on_registry(unit, state, message, details)


@check(
    "repository-not-in-scan-rules",
    severity="MEDIUM",
    title="No registry scanning rule covers the repository",
    rationale="The registry's scanning rules decide what is scanned; a repository outside "
    "every filter relies on the deprecated repository setting or on manual scans, and "
    "with enhanced scanning it is not scanned at all.",
    remediation="Widen a repository filter of the registry scanning configuration (aws ecr "
    "put-registry-scanning-configuration) so that it matches the repository name.",
    resource_type="repository",
    needs="collect.registry",
)
def not_in_scan_rules(inv: Inventory, ctx: Context, out: Result) -> None:
    for (repo, _), config in out.judged(inv.described(), lambda d: _scanning(inv, d[0])):
        if any(r.scan_frequency != "MANUAL" for r in rules_for(config, repo.key[2])):
            continue
        filters = sorted(
            f.filter or "" for r in config.rules or [] for f in r.repository_filters or []
        )
        out.on_repository(
            repo,
            "no registry scanning rule matches the repository"
            + (f" (filters: {', '.join(filters)})" if filters else " (no rules)"),
            {"scan_type": config.scan_type, "filters": filters},
        )
