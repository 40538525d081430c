"""Compliance pieces on their own: policy analysis, repository filters, config selection and
suppressions, reading saved scans, and states the emulator cannot hold (built as records)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from crawler.compliance import RULES, Checker, open_saved, run_checks
from crawler.compliance.checks import CHECKS, check
from crawler.compliance.ecr_settings import wildcard
from crawler.compliance.grants import grants
from crawler.config import Compliance, load_config
from crawler.errors import ConfigError
from crawler.records import (
    Image,
    ImageScanFindingsSummary,
    ImageScanningConfiguration,
    ImageScanStatus,
    Registry,
    Repository,
    ScanRecord,
    ScanSummary,
)

NOW = datetime(2026, 11, 1, tzinfo=UTC)
SCOPE: dict[str, Any] = {"scan_id": "s1", "account_id": "123456789012", "region": "us-east-1"}


def _kinds(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(g.kind, g.value) for g in grants(document)]


def test_policy_grants() -> None:
    """Principal * is public unless a positive condition pins accounts or organisations; named
    principals give their account; a role's unique id is unknown; Deny grants nothing."""
    allow = {"Effect": "Allow", "Action": "ecr:BatchGetImage"}
    assert _kinds({"Statement": [{**allow, "Principal": "*"}]}) == [("public", "*")]
    assert _kinds({"Statement": {**allow, "Principal": {"AWS": ["*"]}}}) == [("public", "*")]
    assert _kinds({"Statement": [{**allow, "NotPrincipal": {"AWS": "1"}}]}) == [("public", "*")]
    pinned = {
        **allow,
        "Principal": "*",
        "Condition": {
            "StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"},
            "ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": ["o-zyxwvutsrq/r-ab12/*"]},
            "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/ci"},
        },
    }
    assert _kinds({"Statement": [pinned]}) == [
        ("organization", "o-abcdefghij"),
        ("organization", "o-zyxwvutsrq"),
        ("account", "111122223333"),
    ]
    negated = {
        **allow,
        "Principal": "*",
        "Condition": {"StringNotEquals": {"aws:SourceAccount": "1"}},
    }
    assert _kinds({"Statement": [negated]}) == [("public", "*")]
    named = {
        **allow,
        "Principal": {
            "AWS": ["210987654321", "arn:aws:iam::444455556666:root", "AROAEXAMPLE"],
            "Service": "lambda.amazonaws.com",
        },
    }
    assert _kinds({"Statement": [named]}) == [
        ("account", "210987654321"),
        ("account", "444455556666"),
        ("unknown", "AROAEXAMPLE"),
    ]
    assert _kinds({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "*"}]}) == []
    assert _kinds({}) == []


def test_repository_filter_wildcards() -> None:
    """ECR filters: `*` matches anything (slashes too), everything else is literal."""
    assert wildcard("web/*", "web/frontend")
    assert wildcard("*", "a/b/c")
    assert wildcard("prod-*-api", "prod-eu-api")
    assert not wildcard("web/*", "api/web/x")
    assert not wildcard("web.?", "web/x")


def test_unknown_check_ids_are_config_errors() -> None:
    """A misspelt check id in checks, skip_checks or a suppression is one clear ConfigError."""
    with pytest.raises(
        ConfigError, match=r"unknown check 'mutable-tag' \(did you mean 'mutable-tags'"
    ):
        Checker(Compliance(checks=["mutable-tag"]))
    with pytest.raises(ConfigError, match=r"compliance\.skip_checks"):
        Checker(Compliance(skip_checks=["nope"]))
    unknown: dict[str, Any] = {
        "compliance.suppressions": [
            {"check": "nope", "resource": "x", "reason": "r", "expires": "2030-01-01"}
        ]
    }
    bad = load_config(**unknown)
    with pytest.raises(ConfigError, match=r"compliance\.suppressions"):
        Checker(bad.compliance)
    unexplained: dict[str, Any] = {
        "compliance.suppressions": [{"check": "*", "resource": "x", "expires": "2030-01-01"}]
    }
    with pytest.raises(ConfigError, match="reason"):
        load_config(**unexplained)


def test_selection_runs_only_the_chosen_checks() -> None:
    """checks and skip_checks choose what runs; the rest is listed as not selected."""
    report = run_checks(
        [],
        Compliance(
            checks=["mutable-tags", "no-lifecycle-policy"], skip_checks=["no-lifecycle-policy"]
        ),
    )
    assert [o.rule.id for o in report.outcomes] == ["mutable-tags"]
    assert "no-lifecycle-policy" in report.not_selected


def _registry(**fields: Any) -> Registry:
    return Registry(**SCOPE, registry_id="123456789012", **fields)


def _repo(name: str, **fields: Any) -> Repository:
    return Repository(**SCOPE, registry_id="123456789012", repository_name=name, **fields)


def _image(repository: str, digest: str, **fields: Any) -> Image:
    uri = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{repository}@{digest}"
    return Image(
        **SCOPE,
        registry_id="123456789012",
        repository_name=repository,
        image_digest=digest,
        image_uri=uri,
        **fields,
    )


def _summary() -> ScanSummary:
    return ScanSummary(
        scan_id="s1",
        account_id="123456789012",
        started_at=NOW,
        finished_at=NOW,
        status="complete",
        regions={},
        regions_skipped=[],
        accounts={},
    )


def test_enhanced_scanning_rules_from_records() -> None:
    """Enhanced scanning with a CONTINUOUS_SCAN rule covers a repository; the repository-level
    flag does not count under enhanced scanning, and a MANUAL rule covers nothing."""
    config = {
        "scan_type": "ENHANCED",
        "rules": [
            {
                "scan_frequency": "CONTINUOUS_SCAN",
                "repository_filters": [{"filter": "prod/*", "filter_type": "WILDCARD"}],
            },
            {
                "scan_frequency": "MANUAL",
                "repository_filters": [{"filter": "dev/*", "filter_type": "WILDCARD"}],
            },
        ],
    }
    records: list[ScanRecord] = [
        _repo(
            "prod/api", image_scanning_configuration=ImageScanningConfiguration(scan_on_push=False)
        ),
        _repo(
            "dev/api", image_scanning_configuration=ImageScanningConfiguration(scan_on_push=True)
        ),
        _registry(scanning_configuration=config),
        _summary(),
    ]
    report = run_checks(records, as_of=NOW)
    failed = {(f.check_id, f.repository_name) for f in report.open}
    assert ("scan-on-push-disabled", "dev/api") in failed
    assert ("repository-not-in-scan-rules", "dev/api") in failed
    assert ("scan-on-push-disabled", "prod/api") not in failed
    assert ("repository-not-in-scan-rules", "prod/api") not in failed
    assert "registry-basic-scanning" not in {f.check_id for f in report.open}


def test_vulnerability_severity_of_the_worst_finding() -> None:
    """A finding takes the worst severity its images' scans found; UNTRIAGED ranks nowhere."""
    scanned = {
        "image_scan_status": ImageScanStatus(status="ACTIVE"),
        "image_pushed_at": NOW,
    }
    records: list[ScanRecord] = [
        _repo("app"),
        _image(
            "app",
            "sha256:a",
            image_tags=["latest"],
            image_scan_findings_summary=ImageScanFindingsSummary(
                finding_severity_counts={"CRITICAL": 2, "HIGH": 1}
            ),
            **scanned,
        ),
        _image(
            "app",
            "sha256:b",
            image_tags=[],
            image_scan_findings_summary=ImageScanFindingsSummary(
                finding_severity_counts={"UNTRIAGED": 9}
            ),
            **scanned,
        ),
        _summary(),
    ]
    report = run_checks(records, as_of=NOW)
    by_check = {f.check_id: f for f in report.open}
    assert by_check["vulnerable-images"].severity == "CRITICAL"
    assert by_check["vulnerable-images"].details["images"] == 1
    assert by_check["vulnerable-current-image"].details["severity_counts"] == {
        "CRITICAL": 2,
        "HIGH": 1,
    }
    assert report.exit_code("CRITICAL") == 4
    assert report.exit_code(None) == 0


def test_reading_saved_scans(tmp_path: Path) -> None:
    """JSON lines: records of unknown types (a newer crawler's) are skipped, the summary sets
    the age reference; a broken line or a missing file is a ConfigError naming it."""
    encoder = msgspec.json.Encoder()
    lines = [
        encoder.encode(_repo("app")),
        b'{"type":"from_the_future","scan_id":"s1"}',
        encoder.encode(_summary()),
    ]
    path = tmp_path / "scan.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    saved = open_saved(str(path))
    assert saved.summary is not None
    assert saved.summary.started_at == NOW
    assert [type(r).__name__ for r in saved.records] == ["Repository", "ScanSummary"]
    path.write_bytes(lines[0] + b"\nnot json\n")
    with pytest.raises(ConfigError, match=r"scan.jsonl:2: not JSON lines"):
        list(open_saved(str(path)).records)
    with pytest.raises(ConfigError, match="cannot read"):
        open_saved(str(tmp_path / "missing.jsonl"))


def test_suppression_matches_image_uris_and_lasts_through_its_day() -> None:
    """A suppression by image URI glob holds through its expiry day, and not the day after."""
    records: list[ScanRecord] = [
        _repo("app"),
        _image(
            "app",
            "sha256:a",
            image_tags=["latest"],
            image_pushed_at=NOW,
            image_scan_status=ImageScanStatus(status="COMPLETE"),
            image_scan_findings_summary=ImageScanFindingsSummary(
                finding_severity_counts={"HIGH": 1}
            ),
        ),
        _summary(),
    ]
    settings = msgspec.convert(
        {
            "checks": ["vulnerable-current-image"],
            "suppressions": [
                {
                    "check": "vulnerable-*",
                    "resource": "*/app@sha256:*",
                    "reason": "base image fix pending",
                    "expires": "2026-11-30",
                }
            ],
        },
        Compliance,
    )
    held = run_checks(records, settings, as_of=NOW, today=date(2026, 11, 30))
    assert held.findings[0].suppressed is not None
    assert held.exit_code("LOW") == 0
    lapsed = run_checks(records, settings, as_of=NOW, today=date(2026, 12, 1))
    assert lapsed.findings[0].suppressed is None
    assert lapsed.exit_code("LOW") == 4
    assert lapsed.expired[0].matched == 1


def test_docs_list_every_check_in_report_order() -> None:
    """docs/compliance.md has a table row with the severity and a section for every check, in
    the order the checks register (the order of `checks --list` and of every report)."""
    text = (Path(__file__).parent.parent / "docs" / "compliance.md").read_text()
    for rule in RULES:
        assert f"| [`{rule.id}`](#{rule.id}) | {rule.severity} |" in text
        assert f"\n### {rule.id}\n" in text
    rows = re.findall(r"^\| \[`([a-z0-9-]+)`\]", text, flags=re.MULTILINE)
    assert rows == [rule.id for rule in RULES]


def test_a_check_id_registers_once() -> None:
    """Registering a second check under a taken id fails and leaves the first in place."""
    first = CHECKS["mutable-tags"]
    with pytest.raises(ValueError, match="mutable-tags"):
        check(
            "mutable-tags",
            severity="LOW",
            title="t",
            rationale="r",
            remediation="f",
            resource_type="repository",
        )(lambda inv, ctx, out: None)
    assert CHECKS["mutable-tags"] is first
    assert len(RULES) == len(CHECKS) == len({rule.id for rule in RULES})


def test_registry_settings_of_another_shape_are_not_judged() -> None:
    """A scanning configuration or pull-through rule list the checks cannot read as AWS's
    shape counts as not collected; a repository filter without a type is a wildcard."""
    odd: list[ScanRecord] = [
        _repo("web/app"),
        _registry(
            scanning_configuration={"scan_type": "BASIC", "rules": "every repository"},
            pull_through_cache_rules=[{"upstream_registry_url": 443}],
        ),
        _summary(),
    ]
    outcomes = {o.rule.id: o for o in run_checks(odd, as_of=NOW).outcomes}
    for check_id in ("registry-basic-scanning", "pull-through-cache-upstream"):
        assert (outcomes[check_id].status, outcomes[check_id].unknown) == ("skipped", 1)
    untyped = {
        "rules": [{"scan_frequency": "SCAN_ON_PUSH", "repository_filters": [{"filter": "web/*"}]}]
    }
    records: list[ScanRecord] = [_repo("web/app"), _registry(scanning_configuration=untyped)]
    report = run_checks([*records, _summary()], as_of=NOW)
    assert not [f for f in report.open if f.check_id == "scan-on-push-disabled"]
