"""`ecr-crawler demo`: the embedded emulator, the sample registry in one scanning mode per
region with today's registry settings in one, a full scan into SQLite; and the emulator's
scanning operations themselves (its registry settings: tests/test_demo_settings.py)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import REGIONS, ecr_client, reseed

from crawler.demo import DEMO_SCANNING
from crawler.demo.data import MODELS_PROFILE, RELEASE_PROFILE, encode, frontend, trainer
from crawler.demo.seed import configure_scanning
from crawler.media_types import IMAGE_CONFIG_TYPES, INDEX_TYPES

CLAIR, NATIVE, ENHANCED = "eu-west-1", "us-east-1", "ap-southeast-2"
# The figures of the compliance summary table, after check, severity and status.
COLUMNS = ("findings", "suppressed", "checked")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One run of `ecr-crawler demo` with no AWS settings at all: its output and database."""
    cwd = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["XDG_CACHE_HOME"] = str(cwd / ".cache")
    done = subprocess.run(
        [sys.executable, "-m", "crawler", "demo"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done, cwd / "demo-inventory.db"


def rows(db_path: Path, query: str) -> list[Any]:
    with closing(sqlite3.connect(db_path)) as db:
        return db.execute(query).fetchall()


def statuses(db_path: Path, region: str) -> dict[str, str | None]:
    """digest -> scan status of every image of `region`."""
    found = rows(
        db_path,
        "SELECT image_digest, json_extract(image_scan_status, '$.status') FROM images "
        f"WHERE region = '{region}'",
    )
    return dict(found)


def test_demo_scans_the_sample_registry(demo: tuple[Any, Path]) -> None:
    """The demo writes the whole sample registry into demo-inventory.db and shows example
    queries that work on it."""
    done, db_path = demo
    assert "records written to demo-inventory.db" in done.stderr
    with closing(sqlite3.connect(db_path)) as db:
        status, regions = db.execute("SELECT status, regions FROM scans").fetchone()
        counts = json.loads(regions)
        images = db.execute("SELECT json_array_length(image_tags) FROM images").fetchall()
        kinds = {t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        for query in [
            line.split('"')[1] for line in done.stderr.splitlines() if "sqlite3 " in line
        ]:
            assert db.execute(query).fetchall()
    assert status == "complete"
    assert set(counts) == {"us-east-1", "eu-west-1", "ap-southeast-2"}
    assert len(images) == sum(c["images"] for c in counts.values()) > 50
    assert (0,) in images
    assert max(images)[0] >= 3
    # every record type of the demo lands in a table of its own
    assert {"repositories", "image_manifests", "scan_findings", "registries"} <= kinds


def test_the_demo_scan_has_no_error_record(demo: tuple[Any, Path]) -> None:
    """The emulator answers every call the demo's scan makes: no error record, optional or
    not, and no error counted in any region."""
    _, db_path = demo
    assert rows(db_path, "SELECT operation, error_code, message FROM errors") == []
    (regions,) = rows(db_path, "SELECT regions FROM scans")[0]
    for region, counts in json.loads(regions).items():
        assert counts["errors"] == counts["optional_errors"] == 0, region


def test_each_demo_region_scans_in_its_own_mode(demo: tuple[Any, Path]) -> None:
    """The registry records say each region's mode: Clair-based basic, AWS-native basic, and
    enhanced (on the AWS-native basic version too), with the account's other settings."""
    _, db_path = demo
    found = {
        region: (json.loads(configuration)["scan_type"], version, scope, mounting)
        for region, configuration, version, scope, mounting in rows(
            db_path,
            "SELECT region, scanning_configuration, basic_scan_type_version, "
            "registry_policy_scope, blob_mounting FROM registries",
        )
    }
    assert found == {
        CLAIR: ("BASIC", "CLAIR", "V2", "DISABLED"),
        NATIVE: ("BASIC", "AWS_NATIVE", "V2", "DISABLED"),
        ENHANCED: ("ENHANCED", "AWS_NATIVE", "V2", "DISABLED"),
    }


def test_demo_images_carry_the_results_of_their_regions_mode(demo: tuple[Any, Path]) -> None:
    """Basic scans end COMPLETE (one AWS-native scan FAILED); under enhanced scanning every
    container image is ACTIVE and one image's eligibility expired; indexes, referrers and
    attestations (artifact_kind other than container_image) are never asked, and have none."""
    _, db_path = demo
    assert set(statuses(db_path, CLAIR).values()) == {"COMPLETE", None}
    assert set(statuses(db_path, NATIVE).values()) == {"COMPLETE", "FAILED", None}
    enhanced = statuses(db_path, ENHANCED)
    assert set(enhanced.values()) == {"ACTIVE", "SCAN_ELIGIBILITY_EXPIRED", None}
    assert statuses(db_path, NATIVE)[encode(trainer(NATIVE, 0))[1]] == "FAILED"
    assert enhanced[encode(frontend(ENHANCED, "dangling"))[1]] == "SCAN_ELIGIBILITY_EXPIRED"
    never_asked = {
        digest
        for digest, media_type, artifact, subject, kind in rows(
            db_path,
            "SELECT image_digest, image_manifest_media_type, artifact_media_type, "
            f"subject_manifest_digest, artifact_kind FROM images WHERE region = '{ENHANCED}'",
        )
        if media_type in INDEX_TYPES
        or subject
        or artifact not in IMAGE_CONFIG_TYPES
        or kind != "container_image"
    }
    assert never_asked
    assert {d for d, status in enhanced.items() if status is None} == never_asked


def test_demo_findings_have_each_modes_shape(demo: tuple[Any, Path]) -> None:
    """Basic findings in the basic regions, Inspector's (with a finding ARN) in the enhanced
    one, and each scanned image's severity counts add up to its findings."""
    _, db_path = demo
    shapes = rows(
        db_path,
        "SELECT region, scan_type, count(*), count(finding_arn) FROM scan_findings GROUP BY 1, 2",
    )
    assert {(region, kind) for region, kind, _, _ in shapes} == {
        (CLAIR, "BASIC"),
        (NATIVE, "BASIC"),
        (ENHANCED, "ENHANCED"),
    }
    assert all(arns == (count if kind == "ENHANCED" else 0) for _, kind, count, arns in shapes)
    per_image = rows(
        db_path,
        "SELECT i.image_scan_findings_summary, count(f.image_digest) FROM images AS i "
        "LEFT JOIN scan_findings AS f ON f.region = i.region AND f.image_digest = i.image_digest "
        "WHERE i.image_scan_findings_summary IS NOT NULL GROUP BY i.region, i.image_digest",
    )
    assert per_image
    for summary, findings in per_image:
        assert sum(json.loads(summary)["finding_severity_counts"].values()) == findings


@pytest.fixture(scope="module")
def report(demo: tuple[Any, Path]) -> dict[str, Any]:
    """`ecr-crawler checks --format json` on the demo's database."""
    done = subprocess.run(
        [sys.executable, "-m", "crawler", "checks", str(demo[1]), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_the_demo_compliance_report_shows_failed_and_expired_scans(report: dict[str, Any]) -> None:
    """The compliance report on the demo shows the failed scan and the image whose scan
    eligibility expired, one finding each, and registry-basic-scanning spares the enhanced
    region."""
    checks = {c["id"]: (c["status"], c["findings"]) for c in report["checks"]}
    assert checks["image-scan-failed"] == ("failed", 1)
    assert checks["scan-eligibility-expired"] == ("failed", 1)
    basic = {f["region"] for f in report["findings"] if f["check_id"] == "registry-basic-scanning"}
    assert basic == {CLAIR, NATIVE}


def test_docs_show_the_demos_compliance_summary(report: dict[str, Any]) -> None:
    """docs/compliance.md's demo table is what `ecr-crawler checks` says of the demo, figure for
    figure: the demo's content and push order are the same on every run."""
    docs = (Path(__file__).parent.parent / "docs" / "compliance.md").read_text()
    section = docs.split("## The demo registry", 1)[1].split("```", 2)[1]
    lines = section.strip().splitlines()
    checks = report["checks"]
    shown = [line.split() for line in lines[1 : 1 + len(checks)]]
    regenerate = "regenerate it: ecr-crawler demo; ecr-crawler checks demo-inventory.db"
    assert shown == [
        [c["id"], c["severity"], c["status"], *(str(c[k]) for k in COLUMNS)] for c in checks
    ], regenerate
    counts = ", ".join(f"{n} {severity}" for severity, n in report["counts"].items() if n)
    assert lines[1 + len(checks)] == f"open findings: {counts}", regenerate


def test_demo_pushes_have_a_history_in_the_seeds_order(demo: tuple[Any, Path]) -> None:
    """Each image of the demo was pushed at a time of its own, in the order the seed pushes
    them, so the most recent push of a repository is the same on every run."""
    _, db_path = demo
    for region in (CLAIR, NATIVE, ENHANCED):
        pushed = rows(
            db_path,
            "SELECT image_tags FROM images WHERE repository_name = 'web/frontend' "
            f"AND region = '{region}' ORDER BY image_pushed_at",
        )
        assert [json.loads(tags) for (tags,) in pushed] == [
            ["v1.0.0"],
            ["v1.1.0"],
            ["v1.2.0"],
            ["v1.3.0"],
            ["latest", "v1.4.0"],
            [],
        ]
    (duplicates,) = rows(
        db_path,
        "SELECT count(*) FROM (SELECT region, image_pushed_at FROM images "
        "GROUP BY 1, 2 HAVING count(*) > 1)",
    )[0]
    assert duplicates == 0


@pytest.fixture(scope="module")
def modes(moto_url: str) -> Iterator[str]:
    """The tests' emulator seeded as the demo's, scanning modes included; reseeded without
    them afterwards, as the other modules expect."""
    reseed(moto_url)
    for region in REGIONS:
        configure_scanning(ecr_client(moto_url, region), region, DEMO_SCANNING[region])
    yield moto_url
    reseed(moto_url)


def test_enhanced_findings_come_in_pages(modes: str) -> None:
    """DescribeImageScanFindings follows maxResults with a nextToken; the pages together are the
    whole answer, and every page carries the counts of all findings."""
    ecr = ecr_client(modes, ENHANCED)
    ids = {"repositoryName": "web/frontend", "imageId": {"imageTag": "latest"}}
    whole = ecr.describe_image_scan_findings(**ids)
    assert whole["imageScanStatus"]["status"] == "ACTIVE"
    assert "nextToken" not in whole
    pages, token = [], None
    while True:
        page = ecr.describe_image_scan_findings(
            **ids, maxResults=1, **({"nextToken": token} if token else {})
        )
        pages.append(page["imageScanFindings"])
        token = page.get("nextToken")
        if not token:
            break
    expected = whole["imageScanFindings"]
    assert len(pages) == len(expected["enhancedFindings"]) > 1
    assert [p["enhancedFindings"][0] for p in pages] == expected["enhancedFindings"]
    assert all(p["findingSeverityCounts"] == expected["findingSeverityCounts"] for p in pages)


def test_aws_native_results_come_only_from_scan_findings(modes: str) -> None:
    """Under AWS-native basic scanning DescribeImages has no scan result even for a scanned
    image; DescribeImageScanFindings has it, and ScanNotFoundException for an unscanned one."""
    ecr = ecr_client(modes, NATIVE)
    detail = ecr.describe_images(repositoryName="web/frontend", imageIds=[{"imageTag": "latest"}])
    assert "imageScanStatus" not in detail["imageDetails"][0]
    assert "imageScanFindingsSummary" not in detail["imageDetails"][0]
    found = ecr.describe_image_scan_findings(
        repositoryName="web/frontend", imageId={"imageTag": "latest"}
    )
    assert found["imageScanStatus"]["status"] == "COMPLETE"
    assert found["imageScanFindings"]["findings"]
    with pytest.raises(ClientError) as raised:
        ecr.describe_image_scan_findings(
            repositoryName="web/frontend", imageId={"imageTag": "v1.0.0"}
        )
    assert raised.value.response["Error"]["Code"] == "ScanNotFoundException"
    clair = ecr_client(modes, CLAIR)
    kept = clair.describe_images(repositoryName="web/frontend", imageIds=[{"imageTag": "latest"}])
    assert kept["imageDetails"][0]["imageScanStatus"]["status"] == "COMPLETE"


def test_account_settings_know_three_names_and_their_values(modes: str) -> None:
    """GetAccountSetting answers the three documented names and refuses others; PutAccountSetting
    refuses a value the model does not list."""
    ecr = ecr_client(modes, CLAIR)
    assert ecr.get_account_setting(name="BLOB_MOUNTING")["value"] == "DISABLED"
    refused: list[Callable[[], object]] = [
        lambda: ecr.get_account_setting(name="NO_SUCH_SETTING"),
        lambda: ecr.put_account_setting(name="BLOB_MOUNTING", value="SOMETIMES"),
    ]
    for call in refused:
        with pytest.raises(ClientError) as raised:
            call()
        assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_repository_scanning_follows_the_registry_rules(modes: str) -> None:
    """BatchGetRepositoryScanningConfiguration applies the registry's current rules, reports a
    missing repository as a failure and refuses more than 25 names."""
    ecr = ecr_client(modes, ENHANCED)
    reply = ecr.batch_get_repository_scanning_configuration(
        repositoryNames=["api/orders", "no/such"]
    )
    (orders,) = reply["scanningConfigurations"]
    assert (orders["scanFrequency"], orders["scanOnPush"]) == ("CONTINUOUS_SCAN", True)
    assert [f["failureCode"] for f in reply["failures"]] == ["REPOSITORY_NOT_FOUND"]
    basic = ecr_client(modes, NATIVE).batch_get_repository_scanning_configuration(
        repositoryNames=["web/frontend", "api/orders"]
    )
    frequencies = {c["repositoryName"]: c["scanFrequency"] for c in basic["scanningConfigurations"]}
    assert frequencies == {"web/frontend": "SCAN_ON_PUSH", "api/orders": "MANUAL"}
    with pytest.raises(ClientError) as raised:
        ecr.batch_get_repository_scanning_configuration(
            repositoryNames=[f"r{i}" for i in range(26)]
        )
    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"


def test_an_index_lists_its_children_by_the_digest_and_size_they_are_pushed_with() -> None:
    """The sample index's descriptors are the digests and sizes of the children's exact text,
    as ECR computes them, so the crawler can fold children under their parent."""
    from crawler.demo.data import child, index, oci_manifest

    manifest = oci_manifest("test/amd64")
    text, digest = encode(manifest)
    parent = index([child(manifest, {"os": "linux", "architecture": "amd64"})])
    assert parent["manifests"][0]["digest"] == digest
    assert parent["manifests"][0]["size"] == len(text)


# -- the registry settings of today's ECR (crawler/demo/registry_settings.py) ----------------


def test_demo_registry_has_signing_rules_and_creation_templates(demo: tuple[Any, Path]) -> None:
    """The demo's us-east-1 registry record carries its two signing rules (the other regions
    none) and its two creation templates, the policies parsed."""
    _, db_path = demo
    signing = dict(rows(db_path, "SELECT region, signing_configuration FROM registries"))
    rules = json.loads(signing[NATIVE])["rules"]
    assert [r["signing_profile_arn"] for r in rules] == [RELEASE_PROFILE, MODELS_PROFILE]
    assert json.loads(signing[CLAIR]) == json.loads(signing[ENHANCED]) == {}
    templates = rows(
        db_path,
        "SELECT region, prefix, image_tag_mutability, json_extract(lifecycle_policy, '$.rules') "
        "FROM repository_creation_templates ORDER BY prefix",
    )
    assert [t[:3] for t in templates] == [
        (NATIVE, "docker-hub", "MUTABLE"),
        (NATIVE, "prod", "IMMUTABLE_WITH_EXCLUSION"),
    ]
    assert templates[0][3] is None
    assert json.loads(templates[1][3])


def test_demo_images_are_signed_or_not_and_replicated_or_not(demo: tuple[Any, Path]) -> None:
    """With every collect option on, the demo's images say how they are signed and where they
    replicated: signed by managed signing, by a referrer, not at all, or FAILED; a replication
    FAILED to the partner account."""
    _, db_path = demo
    found = rows(
        db_path,
        "SELECT repository_name, image_tags, signed, signed_by, signing_statuses, "
        f"replication_statuses FROM images WHERE region = '{NATIVE}' "
        "AND repository_name IN ('api/orders', 'ml/trainer') AND subject_manifest_digest IS NULL",
    )
    missing = "the demo must collect signing and replication (crawler/cli/scan.py demo_command)"
    assert all(row[2] is not None for row in found), missing
    by_tag = {tag: tuple(row) for _, tags, *row in found for tag in json.loads(tags)}
    assert by_tag["2.3.0"][:2] == ("yes", '["managed_signing"]')
    assert by_tag["2.2.0"][:2] == ("yes", '["referrer"]')
    assert by_tag["2.0.0"][:2] == ("no", "[]")
    replicated = {(s["region"], s["status"]) for s in json.loads(by_tag["2.3.0"][3])}
    assert replicated == {("us-west-2", "COMPLETE"), ("eu-central-1", "FAILED")}
    assert json.loads(by_tag["2.0.0"][3]) == []  # pushed before replication was configured
    trainer_statuses = [json.loads(row[4]) for row in found if row[0] == "ml/trainer"]
    failed = [s for statuses in trainer_statuses for s in statuses if s["status"] == "FAILED"]
    assert [s["signing_profile_arn"] for s in failed] == [MODELS_PROFILE]


def test_the_demo_holds_an_artifact_of_every_kind(demo: tuple[Any, Path]) -> None:
    """us-east-1 of the demo has every artifact_kind, each with its manifest record of the same
    kind: signed schema 1, a Helm chart, signatures (referrer and cosign tag), an SBOM, an
    attestation, a draft artifact manifest, a Windows list with foreign layers, a zstd image."""
    _, db_path = demo
    found = rows(
        db_path,
        "SELECT i.artifact_kind, m.artifact_kind, m.media_type FROM images AS i JOIN "
        "image_manifests AS m ON m.region = i.region AND m.image_digest = i.image_digest "
        f"WHERE i.region = '{NATIVE}'",
    )
    assert all(image == manifest for image, manifest, _ in found)
    assert {kind for kind, _, _ in found} == {
        "container_image",
        "image_index",
        "helm_chart",
        "signature",
        "sbom",
        "attestation",
        "artifact",
    }
    media_types = {media for _, _, media in found}
    assert "application/vnd.docker.distribution.manifest.v1+prettyjws" in media_types
    assert "application/vnd.oci.artifact.manifest.v1+json" in media_types
    layers = [
        layer
        for (text,) in rows(
            db_path, f"SELECT layers FROM image_manifests WHERE region = '{NATIVE}'"
        )
        for layer in json.loads(text or "[]")
    ]
    assert any(layer["urls"] and "foreign" in layer["media_type"] for layer in layers)
    assert any((layer["media_type"] or "").endswith("+zstd") for layer in layers)
    (tagged,) = rows(
        db_path,
        "SELECT subject_digest FROM images "
        "WHERE artifact_kind = 'signature' AND repository_name = 'shop/payments'",
    )
    assert tagged[0] is not None
