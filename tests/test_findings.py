"""Scan findings: only for scanned images, every page, basic and enhanced, denial is optional."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from awsproxy import AwsProxy, Rule
from conftest import make_config, run_scan

FULL = {"collect.scan_findings": "full", "collect.manifests": "off"}


def test_findings_only_for_scanned_images(proxy: AwsProxy) -> None:
    """One scan_finding per finding, and DescribeImageScanFindings only for scanned images."""
    summary, sink = run_scan(make_config(proxy, regions=["us-east-1"], **FULL))
    scanned = [i for i in sink.of("image") if i.image_scan_status is not None]
    assert len(scanned) == 2
    assert proxy.calls["DescribeImageScanFindings"] == len(scanned)
    findings = sink.of("scan_finding")
    assert {f.image_digest for f in findings} == {i.image_digest for i in scanned}
    finding = findings[0]
    assert (finding.name, finding.severity, finding.scan_type) == ("CVE-9999-9999", "HIGH", "BASIC")
    assert (finding.package_name, finding.cvss_score) == ("moto_fake", 7.5)
    assert finding.scan_completed_at.tzinfo is not None
    assert summary.status == "complete"


def test_every_page_of_findings_is_followed(proxy: AwsProxy) -> None:
    """Five findings in pages of two: three calls per image, five records per image."""

    def more_findings(region: str, request: dict[str, Any], reply: dict[str, Any]) -> None:
        found = reply["imageScanFindings"]["findings"]
        found += [{**found[0], "name": f"CVE-2026-{n}"} for n in range(4)]

    proxy.rewrites["DescribeImageScanFindings"] = more_findings
    _, sink = run_scan(make_config(proxy, regions=["us-east-1"], **FULL))
    assert proxy.calls["DescribeImageScanFindings"] == 2 * 3
    assert len(sink.of("scan_finding")) == 2 * 5
    assert len({(f.image_digest, f.name) for f in sink.of("scan_finding")}) == 10


def test_enhanced_findings_are_parsed(proxy: AwsProxy) -> None:
    """Inspector (enhanced) findings: CVE id, package, fixed-in version and CVSS score."""
    seen = datetime(2026, 11, 1, tzinfo=UTC).timestamp()

    def enhanced(region: str, request: dict[str, Any], reply: dict[str, Any]) -> None:
        reply["imageScanFindings"]["findings"] = []
        reply["imageScanFindings"]["enhancedFindings"] = [
            {
                "findingArn": "arn:aws:inspector2:us-east-1:123456789012:finding/abc",
                "severity": "CRITICAL",
                "status": "ACTIVE",
                "title": "CVE-2026-1234 - openssl",
                "firstObservedAt": seen,
                "packageVulnerabilityDetails": {
                    "vulnerabilityId": "CVE-2026-1234",
                    "sourceUrl": "https://nvd.nist.gov/vuln/detail/CVE-2026-1234",
                    "vulnerablePackages": [
                        {"name": "openssl", "version": "3.0.1", "fixedInVersion": "3.0.9"}
                    ],
                },
                "scoreDetails": {"cvss": {"score": 9.8, "scoringVector": "CVSS:3.1/AV:N"}},
                "fixAvailable": "YES",
            }
        ]

    proxy.rewrites["DescribeImageScanFindings"] = enhanced
    _, sink = run_scan(make_config(proxy, regions=["us-east-1"], **FULL))
    finding = sink.of("scan_finding")[0]
    assert finding.scan_type == "ENHANCED"
    assert (finding.name, finding.package_name, finding.fixed_in_version) == (
        "CVE-2026-1234",
        "openssl",
        "3.0.9",
    )
    assert (finding.cvss_score, finding.cvss_vector) == (9.8, "CVSS:3.1/AV:N")
    assert finding.first_observed_at == datetime(2026, 11, 1, tzinfo=UTC)


def test_denied_findings_are_an_optional_error(proxy: AwsProxy) -> None:
    """Denied DescribeImageScanFindings: error records naming the action, scan still complete."""
    proxy.rules.append(Rule("access_denied", operation="DescribeImageScanFindings"))
    summary, sink = run_scan(make_config(proxy, regions=["us-east-1"], **FULL))
    errors = sink.of("error")
    assert errors
    assert all(e.optional for e in errors)
    assert "add ecr:DescribeImageScanFindings" in errors[0].message
    assert summary.status == "complete"
    assert summary.regions["us-east-1"].optional_errors == len(errors)
