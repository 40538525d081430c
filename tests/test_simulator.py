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
    SimulatorHandle,
    access_key,
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
) -> tuple[set[Any], list[Any], dict[str, Any]]:
    """The real CLI against the simulator; its repositories, images and scan summary."""
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
