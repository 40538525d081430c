"""The check of what a repository's lifecycle policy would do: expire or archive an image that
is running (crawler.lifecycle, the evaluator of `ecr-crawler lifecycle`)."""

from __future__ import annotations

from crawler.compliance.checks.base import Context, Result, check
from crawler.compliance.inventory import Inventory
from crawler.lifecycle.output import verb
from crawler.lifecycle.policy import PolicyError, policy_of
from crawler.lifecycle.report import Holding, Outcome, outcome


def evaluated(holding: Holding, inv: Inventory, ctx: Context) -> Outcome | None:
    """The policy's outcome in a repository where it and Inspector's in-use data were
    collected, in use as the config's lifecycle.in_use_days says; None where either is missing
    (or the policy cannot be read)."""
    if not holding.policy:
        return None
    try:
        policy = policy_of(holding.policy)
    except PolicyError:
        return None
    result = outcome(holding, policy, ctx.lifecycle, inv.as_of)
    return result if result.in_use_known else None


@check(
    "lifecycle-expires-in-use",
    severity="HIGH",
    title="A lifecycle policy would expire or archive an image in use",
    rationale="ECR applies a lifecycle policy within 24 hours, and an expired or archived image "
    "can no longer be pulled: the next task or pod that starts from it fails. Amazon Inspector "
    "reports the ECS tasks and EKS pods running each image (in use now, or within 7 days).",
    remediation="Add a rule of higher priority that selects the running image's tags (a "
    "tagPatternList with imageCountMoreThan high enough to keep it), or tag what deploys with "
    "a pattern no rule selects; preview with `ecr-crawler lifecycle INPUT --policy FILE`.",
    resource_type="image",
    needs="collect.policies, collect.inspector",
)
def lifecycle_expires_in_use(inv: Inventory, ctx: Context, out: Result) -> None:
    # A policy not collected (null) is a repository not judged; none ({}) expires nothing.
    judged = [h for h in inv.lifecycle if h.policy or (h.described and h.policy is None)]
    for holding, result in out.judged(judged, lambda h: evaluated(h, inv, ctx)):
        name = holding.key[2]
        for danger in result.dangers:
            if "in use" not in danger.reasons:
                continue
            action, image = danger.action, danger.action.image
            shown = ", ".join(image.tags) or image.digest
            out.on_image(
                holding.key,
                image.uri.split(".", 1)[0],  # the registry's host begins with its id
                (image.uri, image.digest),
                f"{name}: rule {action.rule} would {verb(action)} {shown}, which is in use",
                {
                    "rule_priority": action.rule,
                    "action": action.type,
                    "image_tags": list(image.tags),
                    "in_use_count": image.in_use_count,
                    "last_in_use_at": image.last_in_use_at,
                },
            )
