"""Lifecycle dry run: what each repository's lifecycle policy, or a proposed one, would expire
or move to the archive storage class, from a saved scan, with no AWS call and no write
permission (AWS's own preview needs one, runs per repository and only for the policy attached).

    policy.py    the policy document, validated as ECR validates it (PolicyError per rule)
    evaluate.py  the evaluator of the User Guide, over one repository's images
    report.py    a scan folded per repository (Holdings), evaluated into a DryRun: bytes,
                 monthly savings at the config's prices, the danger list
    output.py    the table and the JSON
    command.py   `ecr-crawler lifecycle INPUT [--policy FILE] [--repositories GLOB]`

docs/lifecycle.md cites the User Guide sentence behind every choice. The compliance check
lifecycle-expires-in-use (crawler.compliance.checks.lifecycle) runs the same evaluator.
"""

from __future__ import annotations

from crawler.lifecycle.evaluate import Action, Held, evaluate
from crawler.lifecycle.policy import Policy, PolicyError, Rule, load_policy, parse_policy
from crawler.lifecycle.report import Danger, DryRun, Holdings, Outcome, dry_run

__all__ = [
    "Action",
    "Danger",
    "DryRun",
    "Held",
    "Holdings",
    "Outcome",
    "Policy",
    "PolicyError",
    "Rule",
    "dry_run",
    "evaluate",
    "load_policy",
    "parse_policy",
]
