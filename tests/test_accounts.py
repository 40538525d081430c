"""Many accounts: a configured list or an organization, one failing account, and shards."""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import Any

import anyio
import boto3
import pytest
from aiobotocore.client import AioBaseClient
from aiobotocore.session import AioSession
from awsproxy import AwsProxy, Rule
from conftest import ACCESS_KEY, SECRET_KEY, ListSink, cli, make_config, run_scan
from hypothesis import given
from hypothesis import strategies as st

from crawler.demo import docker_manifest, encode
from crawler.graph import scan
from crawler.plan import in_shard, shard_of
from crawler.records import ScanRecord

ALPHA, BRAVO, CHARLIE = "111111111111", "222222222222", "333333333333"


def role(account: str) -> str:
    return f"arn:aws:iam::{account}:role/inventory"


def client(moto_url: str, service: str, account: str | None = None) -> Any:
    """A boto3 client straight to moto, as the base identity or as `account`'s role."""
    keys = {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY}
    if account is not None:
        sts = boto3.client("sts", region_name="us-east-1", endpoint_url=moto_url, **keys)
        creds = sts.assume_role(RoleArn=role(account), RoleSessionName="seed")["Credentials"]
        keys = {
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        }
    return boto3.client(service, region_name="us-east-1", endpoint_url=moto_url, **keys)


@pytest.fixture(scope="module")
def accounts(registry: str) -> str:
    """ALPHA has two repositories, BRAVO one, CHARLIE none, each with one image per repo."""
    for account, names in ((ALPHA, ["alpha/api", "alpha/web"]), (BRAVO, ["bravo/job"])):
        ecr = client(registry, "ecr", account)
        for name in names:
            ecr.create_repository(repositoryName=name)
            text, digest = encode(docker_manifest(f"{account}/{name}"))
            ecr.put_image(repositoryName=name, imageManifest=text, imageDigest=digest)
    return registry


def accounts_config(*ids: str) -> list[dict[str, str]]:
    return [{"account_id": a, "role_arn": role(a)} for a in ids]


def test_each_account_is_scanned_through_its_role(accounts: str, proxy: AwsProxy) -> None:
    """Two accounts: each repository under its own account id, counts per account."""
    config = make_config(proxy, regions=["us-east-1"], accounts=accounts_config(ALPHA, BRAVO))
    summary, sink = run_scan(config)
    found = sorted((r.account_id, r.repository_name) for r in sink.of("repository"))
    assert found == [(ALPHA, "alpha/api"), (ALPHA, "alpha/web"), (BRAVO, "bravo/job")]
    assert {i.account_id for i in sink.of("image")} == {ALPHA, BRAVO}
    assert summary.accounts[ALPHA]["us-east-1"].repositories == 2
    assert summary.accounts[BRAVO]["us-east-1"].images == 1
    assert summary.status == "complete"
    assert proxy.calls["AssumeRole"] == 2
    # The scan's own identity only: AssumeRole's answer names each assumed role.
    assert proxy.calls["GetCallerIdentity"] == 1


def test_an_accounts_role_is_refreshed_through_the_scans_sts_client(
    accounts: str, proxy: AwsProxy
) -> None:
    """900 s sessions are inside botocore's refresh window: each account's role is assumed
    again mid-scan, and the accounts complete."""
    config = make_config(
        proxy,
        regions=["us-east-1"],
        accounts=accounts_config(ALPHA, BRAVO),
        **{"auth.duration_seconds": 900},
    )
    summary, sink = run_scan(config)
    assert summary.status == "complete"
    assert proxy.calls["AssumeRole"] > 2
    assert len(sink.of("repository")) == 3


def test_a_failed_assume_role_is_retried(accounts: str, proxy: AwsProxy) -> None:
    """The endpoint and the base credentials were proved at the start: a 5xx on an account's
    AssumeRole is retried, not taken for a role that cannot be assumed."""
    proxy.rules.append(Rule("server_error", operation="AssumeRole", within=BRAVO, times=1))
    config = make_config(proxy, regions=["us-east-1"], accounts=accounts_config(ALPHA, BRAVO))
    summary, _ = run_scan(config)
    assert summary.status == "complete"
    assert summary.accounts[BRAVO]["us-east-1"].repositories == 1
    assert proxy.calls["AssumeRole"] == 3


class LiveClients(ListSink):
    """Counts the botocore clients alive whenever records arrive."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []

    async def write(self, batch: Sequence[ScanRecord]) -> None:
        gc.collect()
        self.seen.append(sum(isinstance(o, AioBaseClient) for o in gc.get_objects()))
        await super().write(batch)


def test_a_finished_account_releases_its_clients(accounts: str, proxy: AwsProxy) -> None:
    """One account at a time, three accounts of two regions: while any account is scanned,
    only its own ECR clients and the scan's STS client are alive, never a finished account's."""
    config = make_config(
        proxy,
        regions=["us-east-1", "eu-west-1"],
        accounts=accounts_config(ALPHA, BRAVO, CHARLIE),
        **{"concurrency.accounts": 1, "collect.manifests": "off"},
    )
    session = AioSession()
    session.set_credentials(ACCESS_KEY, SECRET_KEY)
    sink = LiveClients()
    gc.collect()
    before = sum(isinstance(o, AioBaseClient) for o in gc.get_objects())
    summary = anyio.run(lambda: scan(config, sink, session=session))
    assert summary.status == "complete"
    assert len(sink.seen) > 3
    assert max(sink.seen) - before <= 2 + 1  # two regions' ECR clients, one STS client
    gc.collect()
    assert sum(isinstance(o, AioBaseClient) for o in gc.get_objects()) == before


def test_one_failing_account_does_not_stop_the_others(
    accounts: str, proxy: AwsProxy, aws_env: dict[str, str]
) -> None:
    """CHARLIE's role is denied: an error record for CHARLIE, exit 1, ALPHA and BRAVO complete."""
    proxy.rules.append(Rule("access_denied", operation="AssumeRole", within=CHARLIE))
    config = make_config(
        proxy, regions=["us-east-1"], accounts=accounts_config(ALPHA, BRAVO, CHARLIE)
    )
    summary, sink = run_scan(config)
    [error] = sink.of("error")
    assert (error.account_id, error.region, error.operation) == (CHARLIE, "*", "AssumeRole")
    assert "AccessDenied" in error.message
    assert summary.status == "partial"
    assert summary.accounts[CHARLIE]["*"].errors == 1
    assert summary.accounts[ALPHA]["us-east-1"].repositories == 2
    assert summary.accounts[BRAVO]["us-east-1"].repositories == 1


def test_organization_discovery_follows_ous_and_skips_suspended(
    accounts: str, proxy: AwsProxy
) -> None:
    """Accounts of an OU and its child OUs are found; suspended and excluded ones are not."""
    org = client(accounts, "organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    prod = org.create_organizational_unit(ParentId=root, Name="prod")["OrganizationalUnit"]["Id"]
    child = org.create_organizational_unit(ParentId=prod, Name="eu")["OrganizationalUnit"]["Id"]
    made = []
    for name in ("kept", "in-child", "suspended", "excluded", "elsewhere"):
        status = org.create_account(Email=f"{name}@example.com", AccountName=name)
        made.append(status["CreateAccountStatus"]["AccountId"])
    kept, in_child, suspended, excluded, _ = made
    for account, parent in ((kept, prod), (in_child, child), (suspended, prod), (excluded, prod)):
        org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=parent)
    org.close_account(AccountId=suspended)

    config = make_config(
        proxy,
        regions=["us-east-1"],
        organization={"member_role_name": "inventory", "ous": [prod], "exclude": [excluded]},
    )
    summary, _ = run_scan(config)
    assert sorted(summary.accounts) == sorted([kept, in_child])
    assert summary.status == "complete"


def test_plan_prints_every_unit_with_its_shard(
    accounts: str, aws_env: dict[str, str], tmp_path: Any
) -> None:
    """`plan` lists account x region units and the shard of each, calling no ECR operation."""
    config = tmp_path / "accounts.yaml"
    config.write_text(
        "accounts:\n"
        + "".join(f"  - account_id: '{a}'\n    role_arn: {role(a)}\n" for a in (ALPHA, BRAVO))
    )
    result = cli(
        "plan", "-c", str(config), "--regions", "us-east-1,eu-west-1", "--shards", "3", env=aws_env
    )
    assert result.code == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert len(rows) == 4
    for account, region, shard in rows:
        assert shard == f"{shard_of(account, region, 3)}/3"


@given(
    units=st.sets(
        st.tuples(
            st.from_regex(r"\d{12}", fullmatch=True),
            st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1"]),
        ),
        max_size=60,
    ),
    shards=st.integers(min_value=1, max_value=9),
)
def test_shards_are_disjoint_and_cover_every_unit(units: set[tuple[str, str]], shards: int) -> None:
    """For any units and any N, every unit falls in exactly one of the N shards."""
    for account, region in units:
        hits = [k for k in range(shards) if in_shard(account, region, f"{k}/{shards}")]
        assert len(hits) == 1


def test_union_of_shard_scans_is_the_full_scan(accounts: str, proxy: AwsProxy) -> None:
    """Three shard scans of 2 accounts x 3 regions together hold exactly the full scan's images."""
    base: dict[str, Any] = {
        "regions": ["us-east-1", "eu-west-1", "ap-southeast-2"],
        "accounts": accounts_config(ALPHA, BRAVO),
    }
    _, full = run_scan(make_config(proxy, **base))
    parts: list[tuple[str, str, str]] = []
    for k in range(3):
        summary, sink = run_scan(make_config(proxy, shard=f"{k}/3", **base))
        assert summary.shard == f"{k}/3"
        parts += [(i.account_id, i.region, i.image_digest) for i in sink.of("image")]
    assert sorted(parts) == sorted(
        (i.account_id, i.region, i.image_digest) for i in full.of("image")
    )


def test_since_keeps_recent_images_and_all_repositories(proxy: AwsProxy) -> None:
    """--since in the future: every repository, no image; a week back: every image."""
    _, everything = run_scan(make_config(proxy, regions=["eu-west-1"], since="7d"))
    _, nothing = run_scan(make_config(proxy, regions=["eu-west-1"], since="2099-01-01T00:00:00Z"))
    assert len(nothing.of("repository")) == len(everything.of("repository")) > 0
    assert nothing.of("image") == []
    assert len(everything.of("image")) > 10
