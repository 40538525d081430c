"""A report as a person or a program reads it: the summary table, JSON and SARIF 2.1.0
(the HTML report is `crawler.compliance.html`)."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from rich.console import Console
from rich.table import Table
from rich.text import Text

from crawler import __version__
from crawler.compliance.checker import Report
from crawler.compliance.checks import partition
from crawler.compliance.rules import RANK, Rule
from crawler.records import Finding

SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
LEVEL = {"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "LOW": "note"}
# GitHub code scanning ranks security alerts by this score (CVSS-like, as a string).
SECURITY_SEVERITY = {"CRITICAL": "9.5", "HIGH": "8.0", "MEDIUM": "5.5", "LOW": "3.0"}
STYLE = {
    "CRITICAL": "bold white on red",
    "HIGH": "bold red",
    "MEDIUM": "yellow",
    "LOW": "cyan",
    "INFORMATIONAL": "dim",
}
STATUS_STYLE = {
    "failed": "bold red",
    "suppressed": "magenta",
    "passed": "green",
    "partial": "yellow",
    "skipped": "dim",
    "n/a": "dim",
}


def level(severity: str) -> str:
    return LEVEL.get(severity, "note")


def severity_line(report: Report) -> str:
    counts = report.counts()
    suppressed = len(report.findings) - len(report.open)
    text = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "none"
    return f"open findings: {text}" + (f" ({suppressed} suppressed)" if suppressed else "")


def print_table(report: Report, console: Console, *, findings: bool = True) -> None:
    """The summary per check, then every open finding, then what was skipped and expired."""
    title = (
        f"compliance checks: scan {report.scan_id or '?'} ({report.scan_status or 'no summary'}), "
        f"as of {report.as_of:%Y-%m-%d %H:%M} UTC"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("check", no_wrap=True)
    table.add_column("severity")
    table.add_column("status")
    for column in ("findings", "suppressed", "checked"):
        table.add_column(column, justify="right")
    table.add_column("note", overflow="fold")
    for outcome in report.outcomes:
        rule = outcome.rule
        table.add_row(
            rule.id,
            Text(rule.severity, style=STYLE[rule.severity]),
            Text(outcome.status, style=STATUS_STYLE[outcome.status]),
            str(len(outcome.open)),
            str(len(outcome.findings) - len(outcome.open)),
            str(outcome.checked),
            outcome.explanation,
        )
    console.print(table)
    if findings and report.open:
        listing = Table(title="open findings", title_justify="left")
        for column in ("severity", "check", "region", "finding"):
            listing.add_column(column, no_wrap=column != "finding", overflow="fold")
        for finding in sorted(report.open, key=_order):
            listing.add_row(
                Text(finding.severity, style=STYLE[finding.severity]),
                finding.check_id,
                finding.region,
                finding.message,
            )
        console.print(listing)
    console.print(severity_line(report))
    for use in report.expired:
        s = use.suppression
        console.print(
            Text(
                f"expired suppression: {s.check} for {s.resource} ended {s.expires} "
                f"({s.reason}); {use.matched} findings count again",
                style="yellow",
            )
        )
    skipped = [o for o in report.outcomes if o.status == "skipped"]
    if skipped:
        console.print(
            "skipped for lack of data: "
            + "; ".join(f"{o.rule.id} (needs {o.needs})" for o in skipped)
        )


def _order(finding: Finding) -> tuple[int, str, str, str]:
    return (-RANK[finding.severity], finding.check_id, finding.region, finding.resource)


def to_json(report: Report) -> dict[str, Any]:
    return {
        "scan": {
            "scan_id": report.scan_id,
            "status": report.scan_status,
            "accounts": list(report.account_ids),
            "regions": list(report.regions),
            "as_of": report.as_of.isoformat(),
        },
        "counts": report.counts(),
        "checks": [
            {
                "id": o.rule.id,
                "severity": o.rule.severity,
                "title": o.rule.title,
                "status": o.status,
                "findings": len(o.open),
                "suppressed": len(o.findings) - len(o.open),
                "checked": o.checked,
                "not_evaluated": o.unknown,
                "needs": o.needs if o.unknown else None,
                "note": o.explanation or None,
            }
            for o in report.outcomes
        ],
        "not_selected": list(report.not_selected),
        "suppressions": [
            {
                **msgspec.to_builtins(use.suppression),
                "matched": use.matched,
                "expired": use.expired,
            }
            for use in report.suppressions
        ],
        "findings": [msgspec.to_builtins(f) for f in report.findings],
    }


def location_uri(finding: Finding) -> str:
    """Where a SARIF viewer points: the repository (or registry) URI, as a relative URI."""
    if finding.resource_type == "pull_through_cache_rule":
        return finding.resource
    host = f"{finding.registry_id}.dkr.ecr.{finding.region}.{partition(finding.region)[1]}"
    return f"{host}/{finding.repository_name}" if finding.repository_name else host


def _descriptor(rule: Rule) -> dict[str, Any]:
    words = rule.id.split("-")
    return {
        "id": rule.id,
        "name": "".join(w.capitalize() for w in words),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.rationale},
        "help": {
            "text": f"{rule.rationale}\n\nRemediation: {rule.remediation}",
            "markdown": f"{rule.rationale}\n\n**Remediation:** {rule.remediation}"
            + (f"\n\nNeeds `{rule.needs}`." if rule.needs else "")
            + "\n\nSee docs/compliance.md in ecr-crawler.",
        },
        "defaultConfiguration": {"level": level(rule.severity)},
        "properties": {
            "tags": ["security", "container", "ecr"],
            "precision": "very-high",
            "security-severity": SECURITY_SEVERITY.get(rule.severity, "1.0"),
            "severity": rule.severity,
        },
    }


def _result(finding: Finding, index: int) -> dict[str, Any]:
    name = finding.repository_name or finding.resource
    if finding.image_digest:
        name = f"{finding.repository_name}@{finding.image_digest}"
    fingerprint = hashlib.sha256(f"{finding.check_id}|{finding.resource}".encode()).hexdigest()
    result: dict[str, Any] = {
        "ruleId": finding.check_id,
        "ruleIndex": index,
        "level": level(finding.severity),
        "message": {"text": f"{finding.message}. {finding.remediation}"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": location_uri(finding)},
                    "region": {"startLine": 1},
                },
                "logicalLocations": [
                    {"kind": "resource", "name": name, "fullyQualifiedName": finding.resource}
                ],
            }
        ],
        "partialFingerprints": {"ecrCrawlerFinding/v1": fingerprint},
        "properties": {
            "severity": finding.severity,
            "account_id": finding.account_id,
            "region": finding.region,
            "resource_type": finding.resource_type,
            "details": finding.details,
        },
    }
    if finding.suppressed is not None:
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": f"{finding.suppressed.reason} "
                f"(until {finding.suppressed.expires.isoformat()})",
            }
        ]
    return result


def to_sarif(report: Report) -> dict[str, Any]:
    """One SARIF 2.1.0 run: a rule per selected check, a result per finding (suppressed ones
    carry an accepted external suppression, as GitHub code scanning expects)."""
    rules = [o.rule for o in report.outcomes]
    index = {rule.id: i for i, rule in enumerate(rules)}
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "ecr-crawler",
                        "version": __version__,
                        "rules": [_descriptor(rule) for rule in rules],
                    }
                },
                # The category is the part before the last slash: stable across scans, so
                # GitHub closes an alert when a later scan no longer reports it.
                "automationDetails": {"id": f"ecr-crawler/{report.scan_id or 'scan'}"},
                "results": [_result(f, index[f.check_id]) for f in report.findings],
                "properties": {
                    "scan_id": report.scan_id,
                    "scan_status": report.scan_status,
                    "accounts": list(report.account_ids),
                    "as_of": report.as_of.isoformat(),
                },
            }
        ],
    }
