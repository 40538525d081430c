"""What a rule is (the metadata a check registers with, see `crawler.compliance.checks`) and
how severities rank."""

from __future__ import annotations

from dataclasses import dataclass

from crawler.records import Severity

SEVERITIES: tuple[Severity, ...] = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL")
RANK: dict[str, int] = {s: len(SEVERITIES) - i for i, s in enumerate(SEVERITIES)}
"""CRITICAL 5 > HIGH 4 > MEDIUM 3 > LOW 2 > INFORMATIONAL 1."""


def at_least(severity: str, threshold: str) -> bool:
    return RANK.get(severity, 0) >= RANK[threshold]


def as_severity(name: str) -> Severity:
    """`name` as a Severity; it must be one of SEVERITIES."""
    return next(s for s in SEVERITIES if s == name)


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
