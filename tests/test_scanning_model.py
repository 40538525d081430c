"""The scanning model of tests/scanning.py answers as botocore's ECR model documents, in each of
the three modes (Clair basic, AWS-native basic, enhanced), through the proxy with boto3."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from awsproxy import AwsProxy
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import ACCESS_KEY, SECRET_KEY, ecr_client
from scanning import Mode, model_scanning, scan_truth

CLAIR, NATIVE, ENHANCED = "us-east-1", "eu-west-1", "ap-southeast-2"
MODES: dict[str, Mode] = {CLAIR: "CLAIR", NATIVE: "AWS_NATIVE", ENHANCED: "ENHANCED"}
INDEX = "application/vnd.oci.image.index.v1+json"
Clients = Callable[[str], Any]


@pytest.fixture
def ecr(proxy: AwsProxy) -> Iterator[Clients]:
    """boto3 ECR clients through the proxy, one per region, without retries."""
    made: dict[str, Any] = {}

    def make(region: str) -> Any:
        if region not in made:
            made[region] = boto3.client(
                "ecr",
                region_name=region,
                endpoint_url=proxy.url,
                aws_access_key_id=ACCESS_KEY,
                aws_secret_access_key=SECRET_KEY,
                config=Config(retries={"total_max_attempts": 1}),
            )
        return made[region]

    yield make
    for client in made.values():
        client.close()


def digest(client: Any, repository: str, tag: str) -> str:
    details = client.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    return str(details["imageDetails"][0]["imageDigest"])


def index_children(client: Any, tag: str) -> list[str]:
    """The platform images and the attestation of the base/python index tagged `tag`."""
    reply = client.batch_get_image(repositoryName="base/python", imageIds=[{"imageTag": tag}])
    return [m["digest"] for m in json.loads(reply["images"][0]["imageManifest"])["manifests"]]


def signature(client: Any) -> str:
    """The cosign signature (an OCI referrer) in api/orders."""
    pages = client.get_paginator("describe_images").paginate(repositoryName="api/orders")
    details = [d for page in pages for d in page["imageDetails"]]
    return next(str(d["imageDigest"]) for d in details if d.get("subjectManifestDigest"))


def findings(client: Any, repository: str, image: str, **kwargs: Any) -> dict[str, Any]:
    reply = client.describe_image_scan_findings(
        repositoryName=repository, imageId={"imageDigest": image}, **kwargs
    )
    return dict(reply)


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_account_setting_says_the_basic_scanning_version(proxy: AwsProxy, ecr: Clients) -> None:
    """BASIC_SCAN_TYPE_VERSION is CLAIR or AWS_NATIVE (enhanced too); other names per the doc."""
    model_scanning(proxy, MODES)
    versions = {
        region: ecr(region).get_account_setting(name="BASIC_SCAN_TYPE_VERSION")["value"]
        for region in MODES
    }
    assert versions == {CLAIR: "CLAIR", NATIVE: "AWS_NATIVE", ENHANCED: "AWS_NATIVE"}
    client = ecr(CLAIR)
    assert client.get_account_setting(name="REGISTRY_POLICY_SCOPE")["value"] == "V2"
    reply = client.get_account_setting(name="BLOB_MOUNTING")
    assert (reply["name"], reply["value"]) == ("BLOB_MOUNTING", "DISABLED")
    with pytest.raises(ClientError) as unknown:
        client.get_account_setting(name="NO_SUCH_SETTING")
    assert error_code(unknown) == "ValidationException"


def test_unlisted_regions_are_motos(proxy: AwsProxy, ecr: Clients, moto_url: str) -> None:
    """A region without a mode answers GetAccountSetting as moto does (Clair if moto cannot)."""
    model_scanning(proxy, {NATIVE: "AWS_NATIVE"})
    moto = ecr_client(moto_url, CLAIR)
    try:
        want = moto.get_account_setting(name="BASIC_SCAN_TYPE_VERSION")["value"]
    except ClientError:
        want = "CLAIR"
    got = ecr(CLAIR).get_account_setting(name="BASIC_SCAN_TYPE_VERSION")["value"]
    assert got == want == "CLAIR"
    assert ecr(NATIVE).get_account_setting(name="BASIC_SCAN_TYPE_VERSION")["value"] == "AWS_NATIVE"


def test_registry_scanning_configuration_per_mode(proxy: AwsProxy, ecr: Clients) -> None:
    """Enhanced registries scan every repository continuously; basic ones keep moto's rules."""
    model_scanning(proxy, MODES)
    enhanced = ecr(ENHANCED).get_registry_scanning_configuration()["scanningConfiguration"]
    assert enhanced == {
        "scanType": "ENHANCED",
        "rules": [
            {
                "scanFrequency": "CONTINUOUS_SCAN",
                "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}],
            }
        ],
    }
    for region in (CLAIR, NATIVE):
        basic = ecr(region).get_registry_scanning_configuration()["scanningConfiguration"]
        assert basic["scanType"] == "BASIC"
        assert basic["rules"][0]["scanFrequency"] == "SCAN_ON_PUSH"


def test_repository_scanning_configuration(proxy: AwsProxy, ecr: Clients) -> None:
    """Effective scanning per repository, failures for unknown names, at most 25 names a call."""
    model_scanning(proxy, MODES)
    names = ["web/frontend", "api/orders", "no/such-repository"]
    basic = ecr(NATIVE).batch_get_repository_scanning_configuration(repositoryNames=names)
    got = {c["repositoryName"]: c for c in basic["scanningConfigurations"]}
    web = got["web/frontend"]
    assert (web["scanOnPush"], web["scanFrequency"]) == (True, "SCAN_ON_PUSH")
    assert web["appliedScanFilters"] == [{"filter": "web/*", "filterType": "WILDCARD"}]
    assert web["repositoryArn"].endswith(":repository/web/frontend")
    orders = got["api/orders"]
    assert (orders["scanOnPush"], orders["scanFrequency"], orders["appliedScanFilters"]) == (
        False,
        "MANUAL",
        [],
    )
    [failure] = basic["failures"]
    assert (failure["repositoryName"], failure["failureCode"]) == (
        "no/such-repository",
        "REPOSITORY_NOT_FOUND",
    )
    enhanced = ecr(ENHANCED).batch_get_repository_scanning_configuration(repositoryNames=names[:2])
    for config in enhanced["scanningConfigurations"]:
        assert config["scanFrequency"] == "CONTINUOUS_SCAN"
        assert config["appliedScanFilters"] == [{"filter": "*", "filterType": "WILDCARD"}]
    with pytest.raises(ClientError) as too_many:
        ecr(NATIVE).batch_get_repository_scanning_configuration(
            repositoryNames=[f"repo-{n}" for n in range(26)]
        )
    assert error_code(too_many) == "InvalidParameterException"


def test_filters_match_as_the_user_guide_says(proxy: AwsProxy, ecr: Clients, moto_url: str) -> None:
    """No wildcard: the name contains the filter; '*' stands for any characters, whole name."""
    model_scanning(proxy, MODES)
    moto = ecr_client(moto_url, NATIVE)
    before = moto.get_registry_scanning_configuration()["scanningConfiguration"]
    moto.put_registry_scanning_configuration(
        scanType="BASIC",
        rules=[
            {
                "scanFrequency": "SCAN_ON_PUSH",
                "repositoryFilters": [
                    {"filter": "rders", "filterType": "WILDCARD"},
                    {"filter": "b*/p*n", "filterType": "WILDCARD"},
                    {"filter": "web*x", "filterType": "WILDCARD"},
                ],
            }
        ],
    )
    try:
        names = ["api/orders", "base/python", "web/frontend"]
        reply = ecr(NATIVE).batch_get_repository_scanning_configuration(repositoryNames=names)
    finally:
        moto.put_registry_scanning_configuration(scanType="BASIC", rules=before["rules"])
    got = {c["repositoryName"]: c for c in reply["scanningConfigurations"]}
    assert got["api/orders"]["appliedScanFilters"][0]["filter"] == "rders"
    assert got["base/python"]["appliedScanFilters"][0]["filter"] == "b*/p*n"
    assert got["web/frontend"]["scanFrequency"] == "MANUAL"


def test_describe_images_has_no_result_in_native_and_enhanced(
    proxy: AwsProxy, ecr: Clients
) -> None:
    """DescribeImages carries imageScanStatus and its summary in Clair mode only."""
    model_scanning(proxy, MODES)
    latest = ecr(CLAIR).describe_images(
        repositoryName="web/frontend", imageIds=[{"imageTag": "latest"}]
    )["imageDetails"][0]
    assert latest["imageScanStatus"]["status"] == "COMPLETE"
    assert latest["imageScanFindingsSummary"]["findingSeverityCounts"] == {"HIGH": 1}
    for region in (NATIVE, ENHANCED):
        pages = ecr(region).get_paginator("describe_images").paginate(repositoryName="web/frontend")
        details = [d for page in pages for d in page["imageDetails"]]
        assert len(details) == 6
        for detail in details:
            assert "imageScanStatus" not in detail
            assert "imageScanFindingsSummary" not in detail


def test_basic_findings_in_clair_and_native(proxy: AwsProxy, ecr: Clients) -> None:
    """Scanned images: COMPLETE, basic findings, counts, timestamps; others: ScanNotFound."""
    model_scanning(proxy, MODES)
    for region in (CLAIR, NATIVE):
        client = ecr(region)
        reply = findings(client, "web/frontend", digest(client, "web/frontend", "latest"))
        assert reply["imageScanStatus"]["status"] == "COMPLETE"
        found = reply["imageScanFindings"]
        assert [f["name"] for f in found["findings"]] == ["CVE-9999-9999"]
        assert "enhancedFindings" not in found
        assert found["findingSeverityCounts"] == {"HIGH": 1}
        assert found["imageScanCompletedAt"]
        assert found["vulnerabilitySourceUpdatedAt"]
        never = [digest(client, "web/frontend", "v1.0.0"), digest(client, "base/python", "3.12")]
        for image in never:
            with pytest.raises(ClientError) as missing:
                findings(client, "web/frontend" if image == never[0] else "base/python", image)
            assert error_code(missing) == "ScanNotFoundException"


def test_enhanced_findings_for_every_runnable_image(proxy: AwsProxy, ecr: Clients) -> None:
    """Enhanced: every runnable image ACTIVE with Inspector findings, scanned by moto or not."""
    model_scanning(proxy, MODES)
    client = ecr(ENHANCED)
    for tag in ("latest", "v1.0.0"):
        reply = findings(client, "web/frontend", digest(client, "web/frontend", tag))
        assert reply["imageScanStatus"] == {
            "status": "ACTIVE",
            "description": "Continuous scan is selected for image.",
        }
        found = reply["imageScanFindings"]
        assert "findings" not in found
        assert found["findingSeverityCounts"] == {"HIGH": 1}
        [finding] = found["enhancedFindings"]
        assert finding["findingArn"].startswith(f"arn:aws:inspector2:{ENHANCED}:")
        assert (finding["severity"], finding["status"]) == ("HIGH", "ACTIVE")
        assert finding["title"].startswith("CVE-9999-9999")
        details = finding["packageVulnerabilityDetails"]
        assert details["vulnerabilityId"] == "CVE-9999-9999"
        assert details["sourceUrl"].startswith("https://")
        [package] = details["vulnerablePackages"]
        assert {"name", "version", "fixedInVersion"} <= set(package)
        assert finding["scoreDetails"]["cvss"]["score"] == 7.5
        assert finding["scoreDetails"]["cvss"]["scoringVector"]
        assert finding["firstObservedAt"] <= finding["lastObservedAt"]
        assert finding["fixAvailable"] in ("YES", "NO", "PARTIAL")
    amd64, _, attestation = index_children(client, "3.12")
    assert findings(client, "base/python", amd64)["imageScanStatus"]["status"] == "ACTIVE"
    unsupported = [
        ("base/python", digest(client, "base/python", "3.12")),
        ("base/python", attestation),
        ("api/orders", signature(client)),
    ]
    for repository, image in unsupported:
        reply = findings(client, repository, image)
        assert reply["imageScanStatus"]["status"] == "UNSUPPORTED_IMAGE"
        assert "imageScanFindings" not in reply


@pytest.mark.parametrize("mode", ["CLAIR", "AWS_NATIVE", "ENHANCED"])
def test_forced_statuses(proxy: AwsProxy, ecr: Clients, mode: Mode) -> None:
    """DISF reports a forced status (findings only if COMPLETE/ACTIVE); in Clair, DescribeImages."""
    client = ecr(CLAIR)
    failed, pending = (digest(client, "web/frontend", t) for t in ("latest", "v1.0.0"))
    model_scanning(proxy, {CLAIR: mode}, statuses={failed: "FAILED", pending: "COMPLETE"})
    reply = findings(client, "web/frontend", failed)
    assert reply["imageScanStatus"]["status"] == "FAILED"
    assert "imageScanFindings" not in reply
    forced = findings(client, "web/frontend", pending)
    assert forced["imageScanStatus"]["status"] == "COMPLETE"
    assert forced["imageScanFindings"]["findingSeverityCounts"] == {"HIGH": 1}
    details = client.describe_images(
        repositoryName="web/frontend", imageIds=[{"imageDigest": failed}]
    )["imageDetails"]
    if mode == "CLAIR":
        assert details[0]["imageScanStatus"]["status"] == "FAILED"
        assert "imageScanFindingsSummary" not in details[0]
    else:
        assert "imageScanStatus" not in details[0]


def test_archived_images(proxy: AwsProxy, ecr: Clients) -> None:
    """IMAGE_ARCHIVED archives the image: listed only when asked for, DISF says IMAGE_ARCHIVED."""
    client = ecr(NATIVE)
    archived = digest(client, "web/frontend", "latest")
    model_scanning(proxy, MODES, statuses={archived: "IMAGE_ARCHIVED"})

    def listed(operation: str, items: str, **filter_: str) -> set[str]:
        pages = client.get_paginator(operation).paginate(
            repositoryName="web/frontend", filter=filter_
        )
        return {i["imageDigest"] for p in pages for i in p[items]}

    assert archived not in listed("describe_images", "imageDetails")
    assert archived not in listed("list_images", "imageIds")
    assert listed("describe_images", "imageDetails", imageStatus="ARCHIVED") == {archived}
    assert listed("list_images", "imageIds", imageStatus="ARCHIVED") == {archived}
    assert archived in listed("describe_images", "imageDetails", imageStatus="ANY")
    lookup = client.describe_images(
        repositoryName="web/frontend", imageIds=[{"imageTag": "latest"}]
    )
    detail = lookup["imageDetails"][0]
    assert (detail["imageStatus"], bool(detail["lastArchivedAt"])) == ("ARCHIVED", True)
    reply = findings(client, "web/frontend", archived)
    assert reply["imageScanStatus"]["status"] == "IMAGE_ARCHIVED"
    assert "imageScanFindings" not in reply


def _many_findings(extra: int) -> Callable[[str, dict[str, Any], dict[str, Any]], None]:
    """A rewrite (applied after the model) that gives each image `extra` more findings."""

    def rewrite(region: str, request: dict[str, Any], reply: dict[str, Any]) -> None:
        found = reply.get("imageScanFindings", {})
        for field in ("findings", "enhancedFindings"):
            if field in found:
                first = found[field][0]
                key = "name" if field == "findings" else "title"
                found[field] += [{**first, key: f"CVE-2026-{n}"} for n in range(extra)]

    return rewrite


@pytest.mark.parametrize(("mode", "region"), [("AWS_NATIVE", NATIVE), ("ENHANCED", ENHANCED)])
def test_findings_are_paged(proxy: AwsProxy, ecr: Clients, mode: str, region: str) -> None:
    """maxResults (1..1000, 100 by default) and nextToken; enhanced pages hold 100 at most."""
    model_scanning(proxy, MODES)
    proxy.page_cap = None
    proxy.rewrites["DescribeImageScanFindings"] = _many_findings(249)
    client = ecr(region)
    image = digest(client, "web/frontend", "latest")
    field = "enhancedFindings" if mode == "ENHANCED" else "findings"
    sizes = {}
    for max_results in (None, 7, 1000):
        kwargs = {} if max_results is None else {"maxResults": max_results}
        pages = client.get_paginator("describe_image_scan_findings").paginate(
            repositoryName="web/frontend", imageId={"imageDigest": image}, **kwargs
        )
        lists = [p["imageScanFindings"][field] for p in pages]
        sizes[max_results] = [len(page) for page in lists]
        assert len({f.get("name") or f.get("title") for page in lists for f in page}) == 250
    assert sizes[None] == [100, 100, 50]
    assert sizes[7][0] == 7
    assert sizes[1000] == ([100, 100, 50] if mode == "ENHANCED" else [250])
    first = findings(client, "web/frontend", image, maxResults=1)
    other = digest(client, "web/frontend", "v1.0.0")
    for bad in ({"maxResults": 1001}, {"nextToken": "made-up"}):
        with pytest.raises(ClientError) as rejected:
            findings(client, "web/frontend", image, **bad)
        assert error_code(rejected) == "InvalidParameterException"
    # A token is bound to its image's findings.
    with pytest.raises(ClientError) as foreign:
        findings(client, "web/frontend", other, nextToken=first["nextToken"])
    assert error_code(foreign) == "InvalidParameterException"


def test_scan_truth_is_what_the_proxy_answers(proxy: AwsProxy, ecr: Clients, moto_url: str) -> None:
    """scan_truth agrees with the proxy's answers in each mode, and is Clair's for moto alone."""
    failed = digest(ecr(NATIVE), "api/orders", "2.0.0")
    model_scanning(proxy, MODES, statuses={failed: "FAILED"})
    truth = scan_truth(proxy, list(MODES))
    for region in (CLAIR, NATIVE):
        client = ecr(region)
        assert truth[digest(client, "web/frontend", "latest")] == ("COMPLETE", {"HIGH": 1})
        assert truth[digest(client, "web/frontend", "v1.0.0")] == (None, None)
    assert truth[failed] == ("FAILED", None)
    client = ecr(ENHANCED)
    assert truth[digest(client, "web/frontend", "v1.0.0")] == ("ACTIVE", {"HIGH": 1})
    assert truth[digest(client, "base/python", "3.12")] == (None, None)
    assert truth[signature(client)] == (None, None)
    amd64, _, attestation = index_children(client, "3.12")
    assert truth[amd64] == ("ACTIVE", {"HIGH": 1})
    # The attestation looks like an image to DescribeImages: a crawler asks, DISF refuses.
    assert truth[attestation] == ("UNSUPPORTED_IMAGE", None)
    plain = scan_truth(moto_url, [ENHANCED])
    assert plain[digest(client, "web/frontend", "v1.0.0")] == (None, None)
    assert [r for r in plain.values() if r[0]] == [("COMPLETE", {"HIGH": 1})] * 2
    proxy.reset()
    assert scan_truth(proxy, [ENHANCED]) == plain
