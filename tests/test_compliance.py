"""Compliance checks over real scans of the emulator: each check with a repository (or registry)
that passes and one that fails, suppressions, the checking sink, and the CI gate."""

from __future__ import annotations

import gzip
import json
import sqlite3
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from aiobotocore.session import AioSession
from awsproxy import AwsProxy
from conftest import ACCESS_KEY, SECRET_KEY, cli, ecr_client, make_config, run_scan
from registry_model import model_registry

from crawler.compliance import Checker, CheckingSink, Report, open_saved, run_checks
from crawler.config import Compliance, load_config
from crawler.demo import _multi_arch, docker_manifest, encode
from crawler.graph import scan
from crawler.records import Finding, Image, ImageManifest, Repository, ScanRecord, ScanSummary
from crawler.sinks.sqlite import SqliteSink

EAST, WEST = "us-east-1", "eu-west-1"
FULL = {"collect.registry": True, "collect.policies": True}
OLD = time.time() - 200 * 86400
PULL_THROUGH = [
    {
        "ecrRepositoryPrefix": "ecr-public",
        "upstreamRegistryUrl": "public.ecr.aws",
        "upstreamRegistry": "ecr-public",
        "registryId": "123456789012",
    },
    {
        "ecrRepositoryPrefix": "docker-hub",
        "upstreamRegistryUrl": "registry-1.docker.io",
        "upstreamRegistry": "docker-hub",
        "registryId": "123456789012",
        "credentialArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:hub",
    },
]
MOTO_PRINCIPAL = "arn:aws:sts::123456789012:user/moto"


def _policy(statement: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **statement}]})


def _push(ecr: Any, repository: str, seed: str, *tags: str) -> str:
    text, digest = encode(docker_manifest(seed))
    for tag in tags or (None,):
        extra = {"imageTag": tag} if tag else {}
        ecr.put_image(
            repositoryName=repository,
            imageManifest=text,
            imageManifestMediaType="application/vnd.docker.distribution.manifest.v2+json",
            imageDigest=digest,
            **extra,
        )
    return digest


def _create_extras(ecr: Any) -> list[str]:
    """Repositories for the cases the sample registry lacks; all under compliance/."""
    names = []

    def create(name: str, **params: Any) -> None:
        ecr.create_repository(repositoryName=name, **params)
        names.append(name)

    create("compliance/public")
    ecr.set_repository_policy(
        repositoryName="compliance/public",
        policyText=_policy({"Sid": "Everyone", "Principal": "*", "Action": "ecr:BatchGetImage"}),
    )
    create("compliance/org")
    ecr.set_repository_policy(
        repositoryName="compliance/org",
        policyText=_policy(
            {
                "Sid": "OurOrg",
                "Principal": "*",
                "Action": "ecr:BatchGetImage",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}},
            }
        ),
    )
    create("compliance/scanned", imageScanningConfiguration={"scanOnPush": True})
    _push(ecr, "compliance/scanned", "scanned", "1.0")
    ecr.start_image_scan(repositoryName="compliance/scanned", imageId={"imageTag": "1.0"})
    create("compliance/failed")
    _push(ecr, "compliance/failed", "failed", "1.0")
    create("compliance/old")
    _push(ecr, "compliance/old", "old/tagged", "1.0")
    _push(ecr, "compliance/old", "old/untagged")
    create("compliance/multiarch")
    _multi_arch(ecr, "compliance/multiarch", "multiarch", "latest")
    index = ecr.batch_get_image(
        repositoryName="compliance/multiarch", imageIds=[{"imageTag": "latest"}]
    )
    child = json.loads(index["images"][0]["imageManifest"])["manifests"][0]["digest"]
    ecr.start_image_scan(repositoryName="compliance/multiarch", imageId={"imageDigest": child})
    return names


def _rewrite_images(region: str, request: dict[str, Any], reply: dict[str, Any]) -> None:
    """What moto cannot hold: a failed scan, and images pushed 200 days ago."""
    for detail in reply.get("imageDetails", []):
        if detail.get("repositoryName") == "compliance/failed":
            detail["imageScanStatus"] = {"status": "FAILED", "description": "scan failed"}
        if detail.get("repositoryName") == "compliance/old":
            detail["imagePushedAt"] = OLD


@pytest.fixture(scope="module")
def scanned(session_proxy: AwsProxy, registry: str) -> list[ScanRecord]:
    """One scan of us-east-1 (basic scanning, the extra repositories) and eu-west-1 (enhanced
    scanning of every repository); the emulator is put back as it was before the tests run."""
    proxy = session_proxy
    proxy.reset()
    model_registry(proxy)
    east, west = ecr_client(registry, EAST), ecr_client(registry, WEST)
    created: list[str] = []
    try:
        created = _create_extras(east)
        west.put_registry_scanning_configuration(
            scanType="ENHANCED",
            rules=[
                {
                    "scanFrequency": "CONTINUOUS_SCAN",
                    "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}],
                }
            ],
        )
        proxy.responses["DescribePullThroughCacheRules"] = lambda region, request: {
            "pullThroughCacheRules": PULL_THROUGH if region == EAST else []
        }
        proxy.rewrites["DescribeImages"] = _rewrite_images
        _, sink = run_scan(make_config(proxy, regions=[EAST, WEST], **FULL))
        return sink.records
    finally:
        for name in created:
            east.delete_repository(repositoryName=name, force=True)
        west.put_registry_scanning_configuration(
            scanType="BASIC",
            rules=[
                {
                    "scanFrequency": "SCAN_ON_PUSH",
                    "repositoryFilters": [{"filter": "web/*", "filterType": "WILDCARD"}],
                }
            ],
        )
        proxy.reset()


def check(records: Sequence[ScanRecord], **settings: Any) -> Report:
    as_of = settings.pop("as_of", None)
    return run_checks(records, msgspec.convert(settings, Compliance), as_of=as_of)


def failing(report: Report, check_id: str) -> dict[tuple[str, str], Finding]:
    """The check's open findings by (region, repository name or resource)."""
    outcome = next(o for o in report.outcomes if o.rule.id == check_id)
    return {(f.region, f.repository_name or f.resource): f for f in outcome.open}


def test_scan_on_push(scanned: list[ScanRecord]) -> None:
    """Off and no SCAN_ON_PUSH/CONTINUOUS_SCAN rule fails; a matching rule or the repository's
    own flag under basic scanning passes, and enhanced continuous scanning covers everything."""
    found = failing(check(scanned), "scan-on-push-disabled")
    assert (EAST, "api/orders") in found
    assert found[(EAST, "api/orders")].severity == "HIGH"
    assert (EAST, "web/frontend") not in found  # rule web/*
    assert (EAST, "compliance/scanned") not in found  # scanOnPush on the repository
    assert not [key for key in found if key[0] == WEST]


def test_registry_basic_scanning(scanned: list[ScanRecord]) -> None:
    """A registry with basic scanning fails; one with enhanced scanning passes."""
    found = failing(check(scanned), "registry-basic-scanning")
    assert [region for region, _ in found] == [EAST]
    assert next(iter(found.values())).resource_type == "registry"


def test_repository_not_in_scan_rules(scanned: list[ScanRecord]) -> None:
    """A repository outside every registry rule's filter fails; one the filter matches passes."""
    found = failing(check(scanned), "repository-not-in-scan-rules")
    assert (EAST, "api/orders") in found
    assert found[(EAST, "api/orders")].details["filters"] == ["web/*"]
    assert (EAST, "web/frontend") not in found
    assert not [key for key in found if key[0] == WEST]


def test_mutable_tags(scanned: list[ScanRecord]) -> None:
    """MUTABLE tags fail; IMMUTABLE passes."""
    found = failing(check(scanned), "mutable-tags")
    assert (EAST, "web/frontend") in found
    assert (EAST, "api/orders") not in found


def test_lifecycle_policy_and_skipped_without_data(scanned: list[ScanRecord]) -> None:
    """No lifecycle policy fails and one passes; without collect.policies (null) nothing is
    reported and the summary names the option that enables the check."""
    found = failing(check(scanned), "no-lifecycle-policy")
    assert (EAST, "base/python") in found
    assert (EAST, "web/frontend") not in found
    uncollected = [
        msgspec.structs.replace(r, lifecycle_policy=None) if isinstance(r, Repository) else r
        for r in scanned
    ]
    outcome = next(o for o in check(uncollected).outcomes if o.rule.id == "no-lifecycle-policy")
    assert (outcome.findings, outcome.status) == ((), "skipped")
    assert "needs collect.policies" in outcome.explanation


def test_policies_public_and_external(scanned: list[ScanRecord]) -> None:
    """Principal * without a condition is public (CRITICAL); another account or organisation is
    external (HIGH) until trusted; no policy passes."""
    report = check(scanned)
    public = failing(report, "policy-public-access")
    assert set(public) == {(EAST, "compliance/public")}
    assert public[(EAST, "compliance/public")].severity == "CRITICAL"
    external = failing(report, "policy-external-access")
    assert {(EAST, "api/orders"), (EAST, "compliance/org")} <= set(external)
    assert (EAST, "base/python") not in external
    assert "210987654321" in external[(EAST, "api/orders")].message
    trusted = check(
        scanned, trusted_accounts=["210987654321"], trusted_organizations=["o-abcdefghij"]
    )
    assert not failing(trusted, "policy-external-access")


def test_encryption_kms_where_required(scanned: list[ScanRecord]) -> None:
    """With require_kms, AES256 fails and KMS passes; without it the check judges nothing."""
    found = failing(check(scanned, require_kms=["*"]), "encryption-not-kms")
    assert (EAST, "web/frontend") in found
    assert (EAST, "api/orders") not in found
    outcome = next(o for o in check(scanned).outcomes if o.rule.id == "encryption-not-kms")
    assert outcome.status == "n/a"


def test_vulnerable_images_per_repository_and_current_image(scanned: list[ScanRecord]) -> None:
    """HIGH findings in the latest scan fail per repository and for the image behind `latest`
    (an index through its scanned platform image); a higher threshold passes them."""
    report = check(scanned)
    per_repo = failing(report, "vulnerable-images")
    assert (EAST, "web/frontend") in per_repo
    assert per_repo[(EAST, "web/frontend")].details["images"] == 1
    assert (EAST, "base/python") not in per_repo
    current = {f.repository_name: f for f in failing(report, "vulnerable-current-image").values()}
    assert "tag latest" in current["web/frontend"].details["roles"]
    assert current["web/frontend"].resource_type == "image"
    assert current["compliance/multiarch"].details["index"] is True
    assert "base/python" not in current
    critical = check(scanned, vulnerability_severity="CRITICAL")
    assert not failing(critical, "vulnerable-images")
    assert not failing(critical, "vulnerable-current-image")


def test_images_never_scanned_and_scan_failed(scanned: list[ScanRecord]) -> None:
    """Unscanned images fail (not the index or its attestation), a scanned repository passes;
    a FAILED scan fails the scan-failed check."""
    report = check(scanned)
    never = failing(report, "images-never-scanned")
    assert never[(EAST, "base/python")].details["images"] == 4  # two platforms of two indexes
    assert (EAST, "compliance/scanned") not in never
    failed = failing(report, "image-scan-failed")
    assert set(failed) == {(EAST, "compliance/failed")}
    assert failed[(EAST, "compliance/failed")].details["statuses"] == {"FAILED": 1}


def test_cost_hygiene(scanned: list[ScanRecord]) -> None:
    """Images pushed 200 days ago and never pulled fail, fresh ones pass; an old untagged image
    fails while an index's untagged children never do, and are not judged without manifests."""
    report = check(scanned)
    assert set(failing(report, "images-not-pulled")) == {(EAST, "compliance/old")}
    untagged = failing(report, "untagged-images-old")
    assert set(untagged) == {(EAST, "compliance/old")}
    assert untagged[(EAST, "compliance/old")].details["images"] == 1
    later = check(scanned, as_of=datetime.now(UTC) + timedelta(days=100))
    assert (EAST, "web/frontend") in failing(later, "untagged-images-old")  # the dangling one
    assert (EAST, "base/python") not in failing(later, "untagged-images-old")
    no_manifests = [
        msgspec.structs.replace(r, index_digests=None) if isinstance(r, Image) else r
        for r in scanned
        if not isinstance(r, ImageManifest)
    ]
    blind = check(no_manifests, as_of=datetime.now(UTC) + timedelta(days=100))
    assert (EAST, "base/python") not in failing(blind, "untagged-images-old")
    outcome = next(o for o in blind.outcomes if o.rule.id == "untagged-images-old")
    assert outcome.unknown
    assert "collect.manifests" in outcome.explanation


def test_pull_through_cache_upstream(scanned: list[ScanRecord]) -> None:
    """A rule to an upstream on the allow list passes; any other fails."""
    found = failing(
        check(scanned, pull_through_upstreams=["public.ecr.aws"]), "pull-through-cache-upstream"
    )
    assert [f.details["ecr_repository_prefix"] for f in found.values()] == ["docker-hub"]
    assert next(iter(found.values())).resource.endswith("/docker-hub")


def test_crawler_pull_time_exclusion(scanned: list[ScanRecord], proxy: AwsProxy) -> None:
    """Manifests read by a crawler that is not excluded fail; an excluded crawler passes."""
    assert {region for region, _ in failing(check(scanned), "crawler-updates-pull-times")} == {
        EAST,
        WEST,
    }
    proxy.responses["ListPullTimeUpdateExclusions"] = lambda region, request: {
        "pullTimeUpdateExclusions": [MOTO_PRINCIPAL]
    }
    _, sink = run_scan(make_config(proxy, regions=[EAST], **FULL))
    assert not failing(check(sink.records), "crawler-updates-pull-times")


def test_suppressions_expire(scanned: list[ScanRecord]) -> None:
    """An unexpired suppression (glob on the resource) keeps the finding but out of the gate;
    an expired one suppresses nothing and the report says it expired."""
    today = date.today()
    settings = {
        "suppressions": [
            {
                "check": "mutable-tags",
                "resource": "web/*",
                "reason": "release job",
                "expires": today,
            },
            {
                "check": "policy-public-access",
                "resource": "arn:aws:ecr:*:repository/compliance/*",
                "reason": "was a demo",
                "expires": today - timedelta(days=1),
            },
        ]
    }
    report = run_checks(scanned, msgspec.convert(settings, Compliance))
    mutable = [f for f in report.findings if f.check_id == "mutable-tags"]
    web = [f for f in mutable if f.repository_name == "web/frontend"]
    assert web
    assert all(f.suppressed and f.suppressed.reason == "release job" for f in web)
    assert any(f.suppressed is None for f in mutable)  # other repositories still count
    assert failing(report, "policy-public-access")  # expired: counts again
    assert [u.suppression.check for u in report.expired] == ["policy-public-access"]
    assert report.expired[0].matched == 1
    assert report.exit_code("CRITICAL") == 4


def test_checking_sink_writes_findings_before_the_summary(proxy: AwsProxy, tmp_path: Path) -> None:
    """`scan --checks` into SQLite: the findings get a table, the summary stays last, and
    `checks` over the database finds the same as the live scan."""
    path = tmp_path / "inventory.db"
    checker = Checker(Compliance())
    written: list[ScanRecord] = []

    class Spy:
        def __init__(self) -> None:
            self.inner = SqliteSink(path)

        async def write(self, batch: Sequence[ScanRecord]) -> None:
            written.extend(batch)
            await self.inner.write(batch)

        async def aclose(self) -> None:
            await self.inner.aclose()

    session = AioSession()
    session.set_credentials(ACCESS_KEY, SECRET_KEY)
    sink = CheckingSink(Spy(), checker)
    config = make_config(proxy, regions=[EAST], **FULL)

    async def main() -> None:
        try:
            await scan(config, sink, session=session)
        finally:
            await sink.aclose()

    anyio.run(main)
    assert isinstance(written[-1], ScanSummary)
    findings = [r for r in written if isinstance(r, Finding)]
    assert findings
    assert written.index(findings[0]) > max(
        i for i, r in enumerate(written) if not isinstance(r, Finding | ScanSummary)
    )
    rows = sqlite3.connect(path).execute("SELECT check_id, resource FROM findings").fetchall()
    assert set(rows) == {(f.check_id, f.resource) for f in findings}
    saved = open_saved(str(path))
    assert saved.summary is not None
    again = run_checks(saved.records, as_of=saved.summary.started_at)
    assert {(f.check_id, f.resource) for f in again.findings} == set(rows)


def test_cli_scan_checks_gate(aws_env: dict[str, str], tmp_path: Path) -> None:
    """`scan --checks --fail-on HIGH` exits 4 with findings in the sink; with HIGH suppressed
    and CRITICAL as the gate, it exits 0."""
    out = tmp_path / "inventory.jsonl"
    result = cli(
        "scan", "--regions", EAST, "--sink", f"jsonl:{out}", "--fail-on", "HIGH", env=aws_env
    )
    assert result.code == 4, result.stderr
    assert "open findings at or above HIGH" in result.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[-1]["type"] == "scan_summary"
    assert any(line["type"] == "finding" for line in lines)
    config = tmp_path / "config.yaml"
    config.write_text("compliance:\n  skip_checks: [policy-external-access]\n")
    result = cli(
        "scan", "-c", str(config), "--regions", EAST, "--sink", f"jsonl:{out}", "--checks",
        "--fail-on", "CRITICAL", env=aws_env,
    )  # fmt: skip
    assert result.code == 0, result.stderr


def _save(records: Sequence[ScanRecord], path: Path) -> Path:
    data = msgspec.json.Encoder().encode_lines(list(records))
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def test_cli_checks_saved_scan(
    scanned: list[ScanRecord], tmp_path: Path, aws_env: dict[str, str]
) -> None:
    """`checks FILE` reads JSON lines (gzip too) without AWS: exit 4 at --fail-on CRITICAL with
    the public repository, 0 once it is suppressed, and JSON output names every check."""
    env = {k: v for k, v in aws_env.items() if k != "AWS_ENDPOINT_URL"}
    saved = _save(scanned, tmp_path / "inventory.jsonl.gz")
    result = cli("checks", str(saved), "--fail-on", "critical", "--format", "json", env=env)
    assert result.code == 4, result.stderr
    data = json.loads(result.stdout)
    assert {c["id"] for c in data["checks"]} >= {"mutable-tags", "policy-public-access"}
    assert data["counts"]["CRITICAL"] == 1
    config = tmp_path / "config.yaml"
    config.write_text(
        "compliance:\n  suppressions:\n    - check: policy-public-access\n"
        "      resource: compliance/public\n      reason: test\n      expires: 2999-01-01\n"
    )
    result = cli("checks", str(saved), "-c", str(config), "--fail-on", "CRITICAL", env=env)
    assert result.code == 0, result.stderr
    assert "open findings:" in result.stdout
    assert load_config(config).compliance.suppressions[0].expires == date(2999, 1, 1)
