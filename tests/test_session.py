"""Credentials: an assumed role scans the role's account; failures are credential errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from aiobotocore.config import AioConfig
from aiobotocore.credentials import AioRefreshableCredentials
from aiobotocore.session import AioSession
from awsproxy import AwsProxy, Rule
from conftest import ACCESS_KEY, SECRET_KEY, make_config, run_scan

from crawler.aws.session import SharedTLSSession, role_session, share_tls
from crawler.demo import docker_manifest, encode
from crawler.errors import CredentialsError

ROLE = "arn:aws:iam::111111111111:role/inventory"


def seed_role_account(moto_url: str) -> None:
    sts = boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=moto_url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    creds = sts.assume_role(RoleArn=ROLE, RoleSessionName="seed")["Credentials"]
    ecr = boto3.client(
        "ecr",
        region_name="us-east-1",
        endpoint_url=moto_url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    if not ecr.describe_repositories()["repositories"]:
        ecr.create_repository(repositoryName="team/app")
        text, digest = encode(docker_manifest("team/app"))
        ecr.put_image(repositoryName="team/app", imageManifest=text, imageDigest=digest)


def test_role_arn_scans_the_roles_account(proxy: AwsProxy) -> None:
    """With auth.role_arn the scan runs as the role, in the role's account."""
    seed_role_account(proxy.upstream)
    config = make_config(
        proxy, regions=["us-east-1"], **{"auth.role_arn": ROLE, "auth.external_id": "x-1"}
    )
    summary, sink = run_scan(config)
    assert proxy.calls["AssumeRole"] == 1
    assert summary.account_id == "111111111111"
    assert [(r.account_id, r.repository_name) for r in sink.of("repository")] == [
        ("111111111111", "team/app")
    ]
    assert len(sink.of("image")) == 1


def test_denied_assume_role_is_a_credentials_error(proxy: AwsProxy) -> None:
    """A role the caller may not assume stops the scan before it starts, naming the role."""
    proxy.rules.append(Rule("access_denied", operation="AssumeRole"))
    config = make_config(proxy, regions=["us-east-1"], **{"auth.role_arn": ROLE})
    with pytest.raises(
        CredentialsError, match=f"cannot assume role {ROLE}: AssumeRole: AccessDenied"
    ):
        run_scan(config)


def test_slow_region_times_out_into_an_error_record(proxy: AwsProxy) -> None:
    """A region whose calls outlast the read timeout is an error; the other region completes."""
    proxy.rules.append(
        Rule("latency", operation="DescribeRepositories", region="eu-west-1", delay=1.5)
    )
    config = make_config(
        proxy,
        regions=["us-east-1", "eu-west-1"],
        **{"timeouts.read_seconds": 0.3, "retry.max_attempts": 2},
    )
    summary, sink = run_scan(config)
    [error] = sink.of("error")
    assert (error.region, error.operation, error.error_code) == (
        "eu-west-1",
        "DescribeRepositories",
        "ReadTimeoutError",
    )
    assert summary.retries >= 1
    assert summary.regions["us-east-1"].errors == 0
    assert summary.regions["us-east-1"].images > 0


def test_clients_share_one_tls_context() -> None:
    """Every client of the scan's session and of its role sessions builds its HTTP session
    from the same TLS context (the CA bundle is loaded once); a proxy gets contexts of its
    own."""
    base = AioSession()
    share_tls(base)
    expiry = datetime.now(UTC) + timedelta(hours=1)
    credentials = AioRefreshableCredentials(
        "AKIAROLE", "secret", "token", expiry_time=expiry, refresh_using=dict, method="test"
    )
    role = role_session(base, credentials)
    config = role.get_default_client_config()
    assert config is not None
    assert config.http_session_cls is SharedTLSSession  # type: ignore[attr-defined]
    first, _ = SharedTLSSession(verify=True)._build_ssl_contexts(None)
    again, _ = SharedTLSSession(verify=True)._build_ssl_contexts(None)
    proxied, _ = SharedTLSSession(verify=True)._build_ssl_contexts("http://127.0.0.1:3128")
    assert first is again
    assert proxied is not first


def test_a_callers_client_defaults_are_kept() -> None:
    """A session whose caller set default client settings keeps them."""
    own = AioConfig(connect_timeout=7)
    session = AioSession()
    session.set_default_client_config(own)
    share_tls(session)
    assert session.get_default_client_config() is own
