"""Checks of who can reach the images: repository and registry policies, and the encryption
key."""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any

from crawler.compliance.checks.base import Context, Result, check
from crawler.compliance.grants import Grant, grants
from crawler.compliance.inventory import Inventory, RepoState, Unit, UnitState
from crawler.records import Repository

KMS_TYPES = frozenset({"KMS", "KMS_DSSE"})
POLICIES = "collect.policies (repositories), collect.registry (registry policy)"

Owner = RepoState | tuple[Unit, UnitState]
"""What a policy belongs to: a repository, or a registry."""


def _policies(inv: Inventory) -> Iterator[tuple[Owner, str, dict[str, Any] | None]]:
    """(owner, account, policy document) for every repository and registry."""
    for repo, record in inv.described():
        yield repo, repo.key[0], record.repository_policy
    for unit, state in inv.registries():
        yield (unit, state), unit[0], state.registry.registry_policy if state.registry else None


def _judged_grants(inv: Inventory, out: Result) -> Iterator[tuple[Owner, str, list[Grant]]]:
    """(owner, account, grants) of every policy that was collected."""
    for (owner, account, _), document in out.judged(_policies(inv), lambda p: p[2]):
        yield owner, account, list(grants(document))


def _on_policy(out: Result, owner: Owner, message: str, found: list[Grant]) -> None:
    details = {
        "grants": [
            {"principal": g.value, "kind": g.kind, "sid": g.sid, "actions": list(g.actions)}
            for g in found
        ]
    }
    if isinstance(owner, RepoState):
        out.on_repository(owner, f"repository policy {message}", details)
    else:
        out.on_registry(*owner, f"registry policy {message}", details)


@check(
    "policy-public-access",
    severity="CRITICAL",
    title="A policy grants access to everyone",
    rationale="A statement that allows Principal `*` without a condition on the caller's "
    "account or organisation lets any AWS account use the repository (or registry).",
    remediation="Replace Principal `*` with the accounts that need access, or add a "
    "condition on aws:PrincipalOrgID; aws ecr set-repository-policy / "
    "put-registry-policy with the new document.",
    resource_type="repository or registry",
    needs=POLICIES,
)
def policy_public(inv: Inventory, ctx: Context, out: Result) -> None:
    for owner, _, found in _judged_grants(inv, out):
        public = [g for g in found if g.kind == "public"]
        if public:
            sids = ", ".join(sorted({g.sid or "(no Sid)" for g in public}))
            message = f"allows Principal * with no account or organisation condition ({sids})"
            _on_policy(out, owner, message, public)


@check(
    "policy-external-access",
    severity="HIGH",
    title="A policy grants access outside the trusted accounts",
    rationale="A policy that names accounts or organisations outside your own gives them "
    "your images (least privilege); each one should be deliberate.",
    remediation="Remove the principal from the policy, or, if the access is intended, add "
    "the account to compliance.trusted_accounts (or the organisation to "
    "compliance.trusted_organizations).",
    resource_type="repository or registry",
    needs=POLICIES,
)
def policy_external(inv: Inventory, ctx: Context, out: Result) -> None:
    for owner, account, found in _judged_grants(inv, out):
        trusted = ctx.trusted_accounts | {account}
        outside = [
            g
            for g in found
            if (g.kind == "account" and g.value not in trusted)
            or (g.kind == "organization" and g.value not in ctx.trusted_organizations)
            or g.kind == "unknown"
        ]
        if outside:
            names = ", ".join(sorted({g.value for g in outside}))
            message = f"grants access to {names}, outside the trusted accounts"
            _on_policy(out, owner, message, outside)


@check(
    "encryption-not-kms",
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
)
def encryption_not_kms(inv: Inventory, ctx: Context, out: Result) -> None:
    patterns = ctx.settings.require_kms
    if not patterns:
        out.note = "no repository requires KMS (compliance.require_kms is empty)"
        return
    required = (
        (repo, record)
        for repo, record in inv.described()
        if any(fnmatchcase(repo.key[2], p) for p in patterns)
    )
    for (repo, _), encryption in out.judged(required, _encryption_type):
        if encryption not in KMS_TYPES:
            out.on_repository(
                repo,
                f"encrypted with {encryption}, KMS required",
                {"encryption_type": encryption},
            )


def _encryption_type(described: tuple[RepoState, Repository]) -> str | None:
    encryption = described[1].encryption_configuration
    return encryption.encryption_type if encryption else None
