"""The checks as data: id, severity, title, rationale, remediation, and the collect option
whose data each needs. The logic of each lives in `crawler.compliance.checks`."""

from __future__ import annotations

from dataclasses import dataclass

from crawler.records import Severity

SEVERITIES: tuple[Severity, ...] = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL")
RANK: dict[str, int] = {s: len(SEVERITIES) - i for i, s in enumerate(SEVERITIES)}
"""CRITICAL 5 > HIGH 4 > MEDIUM 3 > LOW 2 > INFORMATIONAL 1."""


def at_least(severity: str, threshold: str) -> bool:
    return RANK.get(severity, 0) >= RANK[threshold]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    """The default; a vulnerability finding takes the severity of the worst vulnerability."""
    title: str
    rationale: str
    remediation: str
    resource_type: str
    """What a finding names: registry, repository, image or pull_through_cache_rule."""
    needs: str | None = None
    """The collect option that gives the check its data; without it the check is skipped."""
    security_hub: str | None = None
    """The AWS Security Hub (CSPM) control that checks the same, if any."""


RULES: tuple[Rule, ...] = (
    Rule(
        id="scan-on-push-disabled",
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
    ),
    Rule(
        id="registry-basic-scanning",
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
    ),
    Rule(
        id="repository-not-in-scan-rules",
        severity="MEDIUM",
        title="No registry scanning rule covers the repository",
        rationale="The registry's scanning rules decide what is scanned; a repository outside "
        "every filter relies on the deprecated repository setting or on manual scans, and "
        "with enhanced scanning it is not scanned at all.",
        remediation="Widen a repository filter of the registry scanning configuration (aws ecr "
        "put-registry-scanning-configuration) so that it matches the repository name.",
        resource_type="repository",
        needs="collect.registry",
    ),
    Rule(
        id="mutable-tags",
        severity="MEDIUM",
        title="Image tags are mutable",
        rationale="A mutable tag can be pushed over: what `app:1.2` runs changes without a "
        "deployment, and a compromised pipeline can replace a released image.",
        remediation="aws ecr put-image-tag-mutability --repository-name NAME "
        "--image-tag-mutability IMMUTABLE (IMMUTABLE_WITH_EXCLUSION keeps a few tags such "
        "as latest movable).",
        resource_type="repository",
        security_hub="ECR.2",
    ),
    Rule(
        id="no-lifecycle-policy",
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
    ),
    Rule(
        id="policy-public-access",
        severity="CRITICAL",
        title="A policy grants access to everyone",
        rationale="A statement that allows Principal `*` without a condition on the caller's "
        "account or organisation lets any AWS account use the repository (or registry).",
        remediation="Replace Principal `*` with the accounts that need access, or add a "
        "condition on aws:PrincipalOrgID; aws ecr set-repository-policy / "
        "put-registry-policy with the new document.",
        resource_type="repository or registry",
        needs="collect.policies (repositories), collect.registry (registry policy)",
    ),
    Rule(
        id="policy-external-access",
        severity="HIGH",
        title="A policy grants access outside the trusted accounts",
        rationale="A policy that names accounts or organisations outside your own gives them "
        "your images (least privilege); each one should be deliberate.",
        remediation="Remove the principal from the policy, or, if the access is intended, add "
        "the account to compliance.trusted_accounts (or the organisation to "
        "compliance.trusted_organizations).",
        resource_type="repository or registry",
        needs="collect.policies (repositories), collect.registry (registry policy)",
    ),
    Rule(
        id="encryption-not-kms",
        severity="MEDIUM",
        title="Encrypted with AES256 where KMS is required",
        rationale="With a KMS key, who may decrypt the images is controlled and logged "
        "(CloudTrail) by the key policy; AES256 uses a key AWS owns. The config requires "
        "KMS for this repository (compliance.require_kms).",
        remediation="Encryption cannot be changed on an existing repository: create a new one "
        "with --encryption-configuration encryptionType=KMS,kmsKey=KEY, copy the images, "
        "and delete the old one.",
        resource_type="repository",
        security_hub="ECR.5",
    ),
    Rule(
        id="vulnerable-images",
        severity="HIGH",
        title="Images with vulnerabilities at or above the threshold",
        rationale="Images whose latest scan found CRITICAL or HIGH vulnerabilities (the "
        "threshold is compliance.vulnerability_severity) can be pulled and run.",
        remediation="Rebuild the images on patched base images and push them; expire the old "
        "ones with a lifecycle policy. See the scan_finding records (collect.scan_findings: "
        "full) for the packages and fixed versions.",
        resource_type="repository",
    ),
    Rule(
        id="vulnerable-current-image",
        severity="HIGH",
        title="The current image has vulnerabilities at or above the threshold",
        rationale="The image behind the `latest` tag, or the most recently pushed image, is "
        "what gets deployed next; its vulnerabilities are the ones that ship.",
        remediation="Rebuild on a patched base image, push, and move the tag; then rescan "
        "(aws ecr start-image-scan) or wait for continuous scanning.",
        resource_type="image",
        needs="collect.manifests (when `latest` is an image index)",
    ),
    Rule(
        id="images-never-scanned",
        severity="MEDIUM",
        title="Images never scanned",
        rationale="An image without a scan result has unknown vulnerabilities.",
        remediation="Scan them (aws ecr start-image-scan --repository-name NAME --image-id "
        "imageDigest=DIGEST) and turn on scanning on push for the repository.",
        resource_type="repository",
    ),
    Rule(
        id="image-scan-failed",
        severity="MEDIUM",
        title="Image scans failed",
        rationale="A failed or unsupported scan leaves the image's vulnerabilities unknown "
        "while it looks scanned.",
        remediation="Read the scan status description: UNSUPPORTED_IMAGE means basic scanning "
        "does not know the base OS (enhanced scanning may); otherwise start the scan again.",
        resource_type="repository",
    ),
    Rule(
        id="images-not-pulled",
        severity="LOW",
        title="Images not pulled for a long time",
        rationale="Images nobody pulled for compliance.not_pulled_days days are storage paid "
        "for nothing, and old images are the most vulnerable.",
        remediation="Expire them with a lifecycle rule (countType sinceImagePulled), or "
        "archive them to the archive storage class.",
        resource_type="repository",
    ),
    Rule(
        id="untagged-images-old",
        severity="LOW",
        title="Old untagged images",
        rationale="An untagged image no index refers to is left over from a moved tag; it "
        "costs storage and is rarely pulled again.",
        remediation="Add a lifecycle rule: tagStatus untagged, countType sinceImagePushed, "
        "countNumber 14, action expire.",
        resource_type="repository",
        needs="collect.manifests (in repositories with an image index)",
    ),
    Rule(
        id="pull-through-cache-upstream",
        severity="MEDIUM",
        title="Pull-through cache rule to a registry not on the allow list",
        rationale="A pull-through cache rule lets anyone who can pull from the registry bring "
        "in images from the upstream registry; only approved upstreams should be reachable.",
        remediation="Delete the rule (aws ecr delete-pull-through-cache-rule "
        "--ecr-repository-prefix PREFIX), or add the upstream to "
        "compliance.pull_through_upstreams.",
        resource_type="pull_through_cache_rule",
        needs="collect.registry",
    ),
    Rule(
        id="crawler-updates-pull-times",
        severity="LOW",
        title="The crawler's manifest reads count as pulls",
        rationale="BatchGetImage by the crawler updates each image's lastRecordedPullTime, so "
        "lifecycle rules on pull time (and the images-not-pulled check) see images as used.",
        remediation="aws ecr register-pull-time-update-exclusion --principal-arn "
        "CRAWLER_ROLE_ARN in each region, or set collect.manifests: off.",
        resource_type="registry",
        needs="collect.registry",
    ),
)

BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}
