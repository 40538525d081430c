"""The bench simulator speaks ECR and STS as AWS does: boto3 sees AWS's pagination, limits and
errors, and the real CLI's scan of it equals its exact inventory, with and without throttling."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import msgspec
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bench.simulator import (
    Registry,
    Scenario,
    ScenarioError,
    SimulatorHandle,
    access_key,
    check_scan_results,
    lower_bound,
    parse_scenario,
    run_simulator,
)
from bench.simulator.inventory import ImageEntry, RepositoryEntry, inventory
from bench.simulator.scenario import dump_scenario

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
REGIONS = ["us-east-1", "eu-west-1"]
SCENARIO: dict[str, Any] = {
    "name": "test",
    "seed": 5,
    "accounts": [ACCOUNT, OTHER_ACCOUNT],
    "regions": REGIONS,
    "repositories_per_region": 12,
    # The first repository of each region has 130 images: more than a default page of 100.
    "images": {"median": 12, "sigma": 1.0, "cap": 60, "total": 1200, "large": [130]},
    "untagged_fraction": 0.3,
    "multi_tag_fraction": 0.3,
    "multi_arch_fraction": 0.2,
    "archived_fraction": 0.05,
    "page_cap": 7,  # every listing the crawler makes takes several pages
}
# Few DescribeRepositories calls, each region's second one over quota: throttling without
# slowing the rest of the scan down.
THROTTLED = {
    **SCENARIO,
    "quotas": {"DescribeRepositories": {"rate": 2.0, "burst": 1}},
}
FAST_RETRY = "retry:\n  base_delay_seconds: 0.05\n  max_delay_seconds: 0.5\n"
BIG = "platform/api"  # the first repository: 130 images


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    with run_simulator(parse_scenario(SCENARIO)) as handle:
        yield handle


ClientFactory = Callable[..., Any]


@pytest.fixture
def client() -> Iterator[ClientFactory]:
    """boto3 clients of the scenario's account, without retries, closed after the test."""
    made: list[Any] = []

    def make(
        sim: SimulatorHandle, service: str = "ecr", *, region: str = REGIONS[0], key: str = ""
    ) -> Any:
        made.append(
            boto3.client(
                service,
                region_name=region,
                endpoint_url=sim.url,
                aws_access_key_id=key or access_key(ACCOUNT),
                aws_secret_access_key="not-checked",
                config=Config(retries={"total_max_attempts": 1}),
            )
        )
        return made[-1]

    yield make
    for c in made:
        c.close()


@pytest.fixture
def ecr(sim: SimulatorHandle, client: ClientFactory) -> Any:
    return client(sim)


def _expected(scenario: Scenario) -> tuple[set[Any], list[Any]]:
    repositories, images = set(), []
    for entry in inventory(Registry(scenario), [ACCOUNT]):
        if isinstance(entry, RepositoryEntry):
            repositories.add((entry.region, entry.repository_name))
        elif isinstance(entry, ImageEntry):
            images.append(
                (entry.region, entry.repository_name, entry.image_digest, entry.image_tags)
            )
    return repositories, sorted(images)


def _scan(
    sim: SimulatorHandle, tmp_path: Path, extra_config: str = ""
) -> tuple[set[Any], list[Any], list[dict[str, Any]]]:
    """The real CLI against the simulator; its repositories, images and records (the scan
    summary last)."""
    config = tmp_path / "config.yaml"
    config.write_text(FAST_RETRY + extra_config)
    sink = tmp_path / "inventory.jsonl"
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ENDPOINT_URL": sim.url,
        "AWS_ACCESS_KEY_ID": access_key(ACCOUNT),
        "AWS_SECRET_ACCESS_KEY": "anything",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    command = [sys.executable, "-m", "crawler", "scan", "--regions", ",".join(REGIONS)]
    command += ["--sink", f"jsonl:{sink}", "--log-format", "json", "-c", str(config)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    records = [msgspec.json.decode(line) for line in sink.read_text().splitlines()]
    repositories = {
        (r["region"], r["repository_name"]) for r in records if r["type"] == "repository"
    }
    images = sorted(
        (r["region"], r["repository_name"], r["image_digest"], r["image_tags"])
        for r in records
        if r["type"] == "image"
    )
    return repositories, images, records


def _keyed(records: list[dict[str, Any]], account: str = "account_id") -> set[Any]:
    """Repositories and images as (account, region, repository[, digest, sorted tags])."""
    keys: set[Any] = set()
    for r in records:
        if r["type"] == "repository":
            keys.add((r[account], r["region"], r["repository_name"]))
        elif r["type"] == "image":
            where = (r[account], r["region"], r["repository_name"])
            keys.add((*where, r["image_digest"], tuple(sorted(r["image_tags"]))))
    return keys


def test_scan_equals_exact_inventory(sim: SimulatorHandle, tmp_path: Path) -> None:
    """The CLI's scan of the simulator has exactly the simulator's repositories and images."""
    repositories, images, records = _scan(sim, tmp_path)
    summary = records[-1]
    want_repositories, want_images = _expected(sim.scenario)
    assert summary["type"] == "scan_summary"
    assert summary["status"] == "complete"
    assert summary["throttled"] == 0
    assert repositories == want_repositories
    assert images == want_images
    assert len(images) > 400


def test_scan_under_throttling_equals_exact_inventory(tmp_path: Path) -> None:
    """A scan throttled by the simulator's quota retries and still gets the exact inventory."""
    with run_simulator(parse_scenario(THROTTLED)) as throttled:
        repositories, images, records = _scan(throttled, tmp_path)
        seen = throttled.stats()
    summary = records[-1]
    want_repositories, want_images = _expected(throttled.scenario)
    assert summary["throttled"] > 0
    assert seen.throttled.get("DescribeRepositories", 0) > 0
    assert summary["status"] == "complete"
    assert repositories == want_repositories
    assert images == want_images


def test_scan_of_two_accounts_through_roles_equals_their_inventory(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    """With `accounts:` the CLI assumes a role in each account (sts:AssumeRole on the
    simulator) and its records are exactly `python -m bench.simulator inventory` of both."""
    roles = "".join(
        f"  - account_id: '{a}'\n    role_arn: arn:aws:iam::{a}:role/bench\n"
        for a in (ACCOUNT, OTHER_ACCOUNT)
    )
    _, _, records = _scan(sim, tmp_path, "accounts:\n" + roles)
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(dump_scenario(sim.scenario))
    command = [sys.executable, "-m", "bench.simulator", "inventory", str(scenario)]
    command += ["--accounts", f"{ACCOUNT},{OTHER_ACCOUNT}"]
    done = subprocess.run(command, capture_output=True, check=True, timeout=60)
    want = _keyed([msgspec.json.decode(line) for line in done.stdout.splitlines()], "account")
    summary = records[-1]
    assert summary["status"] == "complete"
    assert sorted(summary["accounts"]) == sorted([ACCOUNT, OTHER_ACCOUNT])
    assert {a for a, *_ in want} == {ACCOUNT, OTHER_ACCOUNT}
    assert _keyed(records) == want
    assert len(want) > 800
    seen = sim.stats()
    assert seen.calls.get("AssumeRole", 0) >= 2


def test_invalid_next_token_is_invalid_parameter(ecr: Any) -> None:
    """A made-up nextToken, or one from another listing, is InvalidParameterException."""
    with pytest.raises(ClientError) as made_up:
        ecr.describe_images(repositoryName=BIG, nextToken="bm90LWEtdG9rZW4=")
    assert made_up.value.response["Error"]["Code"] == "InvalidParameterException"
    token = ecr.describe_repositories(maxResults=2)["nextToken"]
    with pytest.raises(ClientError) as foreign:
        ecr.describe_images(repositoryName=BIG, nextToken=token)
    assert foreign.value.response["Error"]["Code"] == "InvalidParameterException"


def test_more_than_100_image_ids_are_rejected(ecr: Any) -> None:
    """DescribeImages and BatchGetImage take at most 100 imageIds, like ECR."""
    ids = [{"imageTag": f"1.0.{i:02d}"} for i in range(100)] + [{"imageTag": "1.1.00"}]
    for call in (ecr.describe_images, ecr.batch_get_image):
        with pytest.raises(ClientError) as rejected:
            call(repositoryName=BIG, imageIds=ids)
        assert rejected.value.response["Error"]["Code"] == "InvalidParameterException"
        assert rejected.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_pages_default_to_100_and_chain_by_token(
    sim: SimulatorHandle, client: ClientFactory
) -> None:
    """Without maxResults a page has 100 items; following nextToken gives each image once."""
    # The module's simulator caps pages at 7; one without the cap shows ECR's default of 100.
    with run_simulator(parse_scenario({**SCENARIO, "page_cap": None})) as uncapped:
        plain = client(uncapped)
        first = plain.describe_images(repositoryName=BIG, filter={"imageStatus": "ANY"})
        assert len(first["imageDetails"]) == 100
        rest = plain.describe_images(
            repositoryName=BIG, filter={"imageStatus": "ANY"}, nextToken=first["nextToken"]
        )
    assert "nextToken" not in rest
    digests = [d["imageDigest"] for d in first["imageDetails"] + rest["imageDetails"]]
    assert len(digests) == len(set(digests)) == 130
    pages = (
        client(sim)
        .get_paginator("describe_images")
        .paginate(repositoryName=BIG, filter={"imageStatus": "ANY"})
    )
    assert sorted(d["imageDigest"] for p in pages for d in p["imageDetails"]) == sorted(digests)


def test_filters_split_images_like_ecr(ecr: Any) -> None:
    """TAGGED and UNTAGGED partition ANY; without imageStatus only ACTIVE images are listed."""

    def digests(**filter_: str) -> set[str]:
        pages = ecr.get_paginator("describe_images").paginate(repositoryName=BIG, filter=filter_)
        return {d["imageDigest"] for p in pages for d in p["imageDetails"]}

    every = digests(tagStatus="ANY", imageStatus="ANY")
    tagged = digests(tagStatus="TAGGED", imageStatus="ANY")
    untagged = digests(tagStatus="UNTAGGED", imageStatus="ANY")
    archived = digests(imageStatus="ARCHIVED")
    assert tagged
    assert untagged
    assert archived
    assert tagged | untagged == every
    assert not tagged & untagged
    assert digests(tagStatus="ANY") == every - archived


def test_list_images_has_one_entry_per_tag_across_pages(sim: SimulatorHandle, ecr: Any) -> None:
    """ListImages gives each tag (and each untagged image) once, even when a page boundary
    falls between an image's tags."""
    registry = Registry(sim.scenario)
    repo = registry.repository(ACCOUNT, REGIONS[0], BIG)
    assert repo is not None
    want: list[tuple[str, str | None]] = []
    for i in range(repo.image_count):
        meta = registry.meta(repo, i)
        if not meta.archived:
            digest = registry.digest(repo, meta)
            want += [(digest, tag) for tag in meta.tags] or [(digest, None)]
    pages = list(ecr.get_paginator("list_images").paginate(repositoryName=BIG))
    got = [(e["imageDigest"], e.get("imageTag")) for p in pages for e in p["imageIds"]]
    assert got == want
    assert len(pages) == -(-len(want) // 7)  # full pages of page_cap 7


def test_manifests_hash_to_their_digests(ecr: Any) -> None:
    """BatchGetImage returns each manifest's exact text: its sha256 is the image digest."""
    details = ecr.describe_images(repositoryName=BIG, maxResults=30)["imageDetails"]
    reply = ecr.batch_get_image(
        repositoryName=BIG, imageIds=[{"imageDigest": d["imageDigest"]} for d in details]
    )
    assert not reply["failures"]
    for image in reply["images"]:
        text = image["imageManifest"].encode()
        assert image["imageId"]["imageDigest"] == f"sha256:{hashlib.sha256(text).hexdigest()}"
    missing = ecr.batch_get_image(repositoryName=BIG, imageIds=[{"imageTag": "no-such-tag"}])
    assert missing["failures"][0]["failureCode"] == "ImageNotFound"


def test_identity_and_region_come_from_the_signature(
    sim: SimulatorHandle, client: ClientFactory
) -> None:
    """GetCallerIdentity names the access key's account and an unknown key is rejected; the
    SigV4 scope picks the region; an unknown repository is RepositoryNotFoundException."""
    identity = client(sim, "sts").get_caller_identity()
    assert identity["Account"] == ACCOUNT
    assert identity["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/bench"
    with pytest.raises(ClientError) as rejected:
        client(sim, "sts", key="AKIATESTTESTTESTTEST").get_caller_identity()
    assert rejected.value.response["Error"]["Code"] == "InvalidClientTokenId"
    assert client(sim, region="ap-south-1").describe_repositories()["repositories"] == []
    assert len(client(sim, region=REGIONS[1]).describe_repositories()["repositories"]) == 7
    with pytest.raises(ClientError) as missing:
        client(sim).describe_images(repositoryName="no/such-repository")
    assert missing.value.response["Error"]["Code"] == "RepositoryNotFoundException"


def test_over_quota_calls_are_throttling_exceptions(client: ClientFactory) -> None:
    """Calls past the bucket's burst get HTTP 400 ThrottlingException until it refills."""
    scenario = parse_scenario({**SCENARIO, "quotas": {"default": {"rate": 0.5, "burst": 2}}})
    with run_simulator(scenario) as tight:
        ecr = client(tight)
        ecr.describe_repositories()
        ecr.describe_repositories()
        with pytest.raises(ClientError) as throttled:
            ecr.describe_repositories()
        # Quotas are per operation: DescribeImages has a bucket of its own.
        ecr.describe_images(repositoryName=BIG)
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_lower_bound_is_the_slowest_chain_or_quota() -> None:
    """The bound is the longest chain of dependent pages, or calls past the burst / rate."""
    scenario = parse_scenario(
        {
            "name": "bound",
            "regions": ["us-east-1"],
            "repositories_per_region": 3,
            "images": {"distribution": "fixed", "value": 10, "large": [2500]},
            "latency": {"base_ms": 100, "per_item_us": 100},
        }
    )
    registry = Registry(scenario)
    # STS 0.1001 + repositories page 0.1003 + image pages of 1000, 1000, 500 items.
    chain = 0.1001 + 0.1003 + 0.2 + 0.2 + 0.15
    assert lower_bound(registry).seconds == pytest.approx(chain)
    quota = parse_scenario({**msgspec.to_builtins(scenario), "quotas": {"default": {"rate": 1}}})
    # 5 DescribeImages calls, 1 in the burst: 4 s past STS and the first repositories page.
    assert lower_bound(Registry(quota)).seconds == pytest.approx(0.1001 + 0.1003 + 4 + 0.1)


# -- scanning modes ---------------------------------------------------------------------------

NATIVE, ENHANCED = REGIONS  # the scanning scenario's regions
SCANNING = {**SCENARIO, "scanning": {"mode": "AWS_NATIVE", "regions": {ENHANCED: "ENHANCED"}}}


@pytest.fixture(scope="module")
def scanning_sim() -> Iterator[SimulatorHandle]:
    with run_simulator(parse_scenario(SCANNING)) as handle:
        yield handle


def _truth(scenario: Scenario, region: str, repository: str = BIG) -> dict[str, ImageEntry]:
    return {
        e.image_digest: e
        for e in inventory(Registry(scenario), [ACCOUNT])
        if isinstance(e, ImageEntry) and e.region == region and e.repository_name == repository
    }


def _images(ecr: Any, repository: str = BIG) -> list[dict[str, Any]]:
    pages = ecr.get_paginator("describe_images").paginate(
        repositoryName=repository, filter={"imageStatus": "ANY"}
    )
    return [d for p in pages for d in p["imageDetails"]]


def _scan_findings(ecr: Any, digest: str, **kwargs: Any) -> list[dict[str, Any]]:
    pages = ecr.get_paginator("describe_image_scan_findings").paginate(
        repositoryName=BIG, imageId={"imageDigest": digest}, **kwargs
    )
    return list(pages)


def _scan_findings_or_error(ecr: Any, digest: str) -> list[dict[str, Any]] | str:
    """Every page of an image's findings, or the error code."""
    try:
        return _scan_findings(ecr, digest)
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])


def test_scanning_mode_is_checked() -> None:
    """A scanning mode must be one of the three, its regions the scenario's."""
    for scanning in ({"mode": "INSPECTOR"}, {"regions": {"ap-south-1": "ENHANCED"}}):
        with pytest.raises(ScenarioError):
            parse_scenario({**SCENARIO, "scanning": scanning})
    scenario = parse_scenario(SCANNING)
    assert (scenario.scan_mode(NATIVE), scenario.scan_mode(ENHANCED)) == ("AWS_NATIVE", "ENHANCED")
    assert parse_scenario(SCENARIO).scan_mode(NATIVE) == "CLAIR"


def test_settings_say_how_each_region_scans(
    sim: SimulatorHandle, scanning_sim: SimulatorHandle, client: ClientFactory
) -> None:
    """GetAccountSetting and GetRegistryScanningConfiguration answer each region's mode."""
    versions = {
        (handle.scenario.scanning.mode, region): client(handle, region=region).get_account_setting(
            name="BASIC_SCAN_TYPE_VERSION"
        )["value"]
        for handle in (sim, scanning_sim)
        for region in REGIONS
    }
    assert set(versions.values()) == {"CLAIR", "AWS_NATIVE"}
    assert versions[("CLAIR", NATIVE)] == "CLAIR"
    assert versions[("AWS_NATIVE", ENHANCED)] == "AWS_NATIVE"
    ecr = client(scanning_sim)
    assert ecr.get_account_setting(name="REGISTRY_POLICY_SCOPE")["value"] == "V2"
    assert ecr.get_account_setting(name="BLOB_MOUNTING")["value"] == "DISABLED"
    with pytest.raises(ClientError) as unknown:
        ecr.get_account_setting(name="NO_SUCH_SETTING")
    assert unknown.value.response["Error"]["Code"] == "ValidationException"
    basic = ecr.get_registry_scanning_configuration()["scanningConfiguration"]
    assert basic == {"scanType": "BASIC", "rules": []}
    enhanced = client(scanning_sim, region=ENHANCED).get_registry_scanning_configuration()
    assert enhanced["scanningConfiguration"]["scanType"] == "ENHANCED"
    assert enhanced["scanningConfiguration"]["rules"][0]["scanFrequency"] == "CONTINUOUS_SCAN"


def test_repository_scanning_configuration(
    scanning_sim: SimulatorHandle, client: ClientFactory
) -> None:
    """25 names a call at most; unknown names are failures; enhanced repositories continuous."""
    names = [
        r["repositoryName"] for r in client(scanning_sim).describe_repositories()["repositories"]
    ]
    basic = client(scanning_sim).batch_get_repository_scanning_configuration(
        repositoryNames=[*names, "no/such-repository"]
    )
    assert [c["repositoryName"] for c in basic["scanningConfigurations"]] == names
    assert {c["scanFrequency"] for c in basic["scanningConfigurations"]} == {
        "SCAN_ON_PUSH",
        "MANUAL",
    }
    for config in basic["scanningConfigurations"]:
        assert config["scanOnPush"] == (config["scanFrequency"] == "SCAN_ON_PUSH")
    [failure] = basic["failures"]
    assert failure["failureCode"] == "REPOSITORY_NOT_FOUND"
    enhanced = client(scanning_sim, region=ENHANCED).batch_get_repository_scanning_configuration(
        repositoryNames=names[:2]
    )
    for config in enhanced["scanningConfigurations"]:
        assert config["scanFrequency"] == "CONTINUOUS_SCAN"
        assert config["appliedScanFilters"] == [{"filter": "*", "filterType": "WILDCARD"}]
    # botocore checks the least (1) itself, but not the most.
    with pytest.raises(ClientError) as rejected:
        client(scanning_sim).batch_get_repository_scanning_configuration(
            repositoryNames=[f"team/repo-{n}" for n in range(26)]
        )
    assert rejected.value.response["Error"]["Code"] == "InvalidParameterException"


def test_describe_images_holds_results_in_clair_mode_only(
    sim: SimulatorHandle, scanning_sim: SimulatorHandle, client: ClientFactory
) -> None:
    """Clair: DescribeImages has the truth's results (none for an active index); else none."""
    truth = _truth(sim.scenario, NATIVE)
    details = _images(client(sim))
    for detail in details:
        want = truth[detail["imageDigest"]]
        status = detail.get("imageScanStatus", {}).get("status")
        counts = detail.get("imageScanFindingsSummary", {}).get("findingSeverityCounts")
        assert (status, counts) == (want.image_scan_status, want.finding_severity_counts)
        if detail["imageManifestMediaType"].endswith("index.v1+json"):
            assert status == ("IMAGE_ARCHIVED" if detail["imageStatus"] == "ARCHIVED" else None)
    assert {d.get("imageScanStatus", {}).get("status") for d in details} >= {
        "COMPLETE",
        "IMAGE_ARCHIVED",
        None,
    }
    for region in REGIONS:
        for detail in _images(client(scanning_sim, region=region)):
            assert "imageScanStatus" not in detail
            assert "imageScanFindingsSummary" not in detail


def test_scan_findings_are_the_truth_page_by_page(
    scanning_sim: SimulatorHandle, client: ClientFactory
) -> None:
    """DISF: the truth's status and counts, one finding per count across pages of page_cap;
    never scanned and index: ScanNotFound (basic) or UNSUPPORTED_IMAGE (enhanced)."""
    seen: dict[str, set[str | None]] = {NATIVE: set(), ENHANCED: set()}
    for region in REGIONS:
        ecr = client(scanning_sim, region=region)
        truth = _truth(scanning_sim.scenario, region)
        for detail in _images(ecr)[:40]:
            want = truth[detail["imageDigest"]]
            pages = _scan_findings_or_error(ecr, detail["imageDigest"])
            if isinstance(pages, str):
                assert (pages, want.image_scan_status) == ("ScanNotFoundException", None)
                seen[region].add(None)
                continue
            status = pages[0]["imageScanStatus"]["status"]
            seen[region].add(status)
            if detail["imageManifestMediaType"].endswith("index.v1+json"):
                assert status in ("UNSUPPORTED_IMAGE", "IMAGE_ARCHIVED")
                continue
            counts = pages[0].get("imageScanFindings", {}).get("findingSeverityCounts")
            assert (status, counts) == (want.image_scan_status, want.finding_severity_counts)
            field = "enhancedFindings" if region == ENHANCED else "findings"
            found = [f for p in pages for f in p.get("imageScanFindings", {}).get(field, [])]
            assert all(len(p.get("imageScanFindings", {}).get(field, [])) <= 7 for p in pages)
            assert len(found) == sum((counts or {}).values())
            severities = [f["severity"] for f in found]
            assert {s: severities.count(s) for s in severities} == (counts or {})
    assert {"COMPLETE", "IMAGE_ARCHIVED", None} <= seen[NATIVE]
    assert {"ACTIVE", "UNSUPPORTED_IMAGE", "IMAGE_ARCHIVED", None} <= seen[ENHANCED]


def test_enhanced_findings_have_inspectors_shape(
    scanning_sim: SimulatorHandle, client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Enhanced findings: Inspector's fields, at most ENHANCED_PAGE a page whatever maxResults."""
    from bench.simulator import scanning

    monkeypatch.setattr(scanning, "ENHANCED_PAGE", 2)
    ecr = client(scanning_sim, region=ENHANCED)
    truth = _truth(scanning_sim.scenario, ENHANCED)
    digest = next(
        d for d, e in truth.items() if sum((e.finding_severity_counts or {}).values()) > 4
    )
    pages = _scan_findings(ecr, digest, maxResults=5)
    assert pages[0]["imageScanStatus"] == {
        "status": "ACTIVE",
        "description": "Continuous scan is selected for image.",
    }
    assert all(len(p["imageScanFindings"]["enhancedFindings"]) <= 2 for p in pages)
    assert all("findings" not in p["imageScanFindings"] for p in pages)
    finding = pages[0]["imageScanFindings"]["enhancedFindings"][0]
    assert finding["findingArn"].startswith(f"arn:aws:inspector2:{ENHANCED}:{ACCOUNT}:finding/")
    assert (finding["status"], finding["type"]) == ("ACTIVE", "PACKAGE_VULNERABILITY")
    details = finding["packageVulnerabilityDetails"]
    assert details["vulnerabilityId"] in finding["title"]
    assert {"name", "version", "fixedInVersion"} <= set(details["vulnerablePackages"][0])
    every = [f for p in pages for f in p["imageScanFindings"]["enhancedFindings"]]
    order = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED"]
    assert [f["severity"] for f in every] == sorted(
        (f["severity"] for f in every), key=order.index
    )  # worst first
    bands = {"CRITICAL": (9.0, 10.0), "HIGH": (7.0, 8.9), "MEDIUM": (4.0, 6.9), "LOW": (0.1, 3.9)}
    for f in every:
        if f["severity"] in bands:
            low, high = bands[f["severity"]]
            assert low <= f["scoreDetails"]["cvss"]["score"] <= high
    assert finding["firstObservedAt"] <= finding["lastObservedAt"]
    with pytest.raises(ClientError) as foreign:
        ecr.describe_image_scan_findings(
            repositoryName=BIG,
            imageId={"imageDigest": next(d for d in truth if d != digest)},
            nextToken=pages[0]["nextToken"],
        )
    assert foreign.value.response["Error"]["Code"] == "InvalidParameterException"


def test_scans_of_each_mode_record_the_truth(
    sim: SimulatorHandle, scanning_sim: SimulatorHandle, tmp_path: Path
) -> None:
    """The CLI's image records carry the truth's scan results in Clair, AWS-native and
    enhanced regions (python -m bench.simulator scans says so)."""
    for handle in (sim, scanning_sim):
        _scan(handle, tmp_path)
        path = tmp_path / "inventory.jsonl"
        check = check_scan_results(Registry(handle.scenario), path, [ACCOUNT])
        assert check.expected > 300
        assert check.exact, check
        scenario = tmp_path / "scenario.yaml"
        scenario.write_text(dump_scenario(handle.scenario))
        command = [sys.executable, "-m", "bench.simulator", "scans", str(scenario), str(path)]
        done = subprocess.run([*command, "--accounts", ACCOUNT], capture_output=True, timeout=60)
        assert done.returncode == 0, done.stdout
    calls = scanning_sim.stats().calls
    assert calls["DescribeImageScanFindings"] > 300
    assert calls["BatchGetRepositoryScanningConfiguration"] >= 2


def test_lower_bound_counts_scan_result_calls() -> None:
    """With scan results, DISF per scannable image is a quota term, in AWS-native mode only."""
    scenario = parse_scenario(
        {
            "name": "bound",
            "regions": ["us-east-1"],
            "repositories_per_region": 2,
            "images": {"distribution": "fixed", "value": 50},
            "multi_arch_fraction": 0.0,
            "latency": {"base_ms": 100},
            "quotas": {"default": {"rate": 10, "burst": 10}},
            "scanning": {"mode": "AWS_NATIVE"},
        }
    )
    bound = lower_bound(Registry(scenario), scan_results=True)
    assert bound.limit.detail == "DescribeImageScanFindings x100"
    # 90 calls past the burst at 10/s, after STS and the repositories page, plus one latency.
    assert bound.seconds == pytest.approx(0.1 + 0.1 + 0.1 + 9.0 + 0.1)
    clair = parse_scenario({**msgspec.to_builtins(scenario), "scanning": {"mode": "CLAIR"}})
    assert "DescribeImageScanFindings" not in str(lower_bound(Registry(clair), scan_results=True))
