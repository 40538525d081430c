"""Checks that the test proxy paginates ECR listings and injects each fault kind."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.exceptions
import pytest
from awsproxy import AwsProxy, Call, Fault, Rule
from awswire import AwsError
from botocore.config import Config
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
ClientFactory = Callable[..., Any]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def module_proxy(moto_url: str) -> Iterator[AwsProxy]:
    with AwsProxy(moto_url, page_cap=2, seed=7) as proxy:
        yield proxy


@pytest.fixture
def proxy(module_proxy: AwsProxy, moto_url: str, monkeypatch: pytest.MonkeyPatch) -> AwsProxy:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    reset = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(reset) as resp:
        assert resp.status == 200
    module_proxy.reset()
    return module_proxy


@pytest.fixture
def client(proxy: AwsProxy) -> Iterator[ClientFactory]:
    made: list[Any] = []

    def make(service: str = "ecr", region: str = REGION, **kwargs: Any) -> Any:
        kwargs.setdefault("endpoint_url", proxy.url)
        config = Config(retries={"total_max_attempts": 1})
        made.append(boto3.client(service, region_name=region, config=config, **kwargs))
        return made[-1]

    yield make
    for c in made:
        c.close()


def _seed_images(ecr: Any, repo: str, count: int) -> None:
    ecr.create_repository(repositoryName=repo)
    for i in range(count):
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"digest": f"sha256:{i:064x}"},
        }
        ecr.put_image(repositoryName=repo, imageManifest=json.dumps(manifest), imageTag=f"v{i}")


def _error_code(exc: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_paginates_listings(proxy: AwsProxy, client: ClientFactory) -> None:
    """ECR listings come back in page_cap-sized pages that together hold every item once."""
    ecr = client()
    _seed_images(ecr, "app", 5)
    for name in ("bb", "cc"):
        ecr.create_repository(repositoryName=name)
    proxy.calls.clear()

    pages = list(ecr.get_paginator("describe_images").paginate(repositoryName="app"))
    assert [len(p["imageDetails"]) for p in pages] == [2, 2, 1]
    assert "nextToken" not in pages[-1]
    tags = [d["imageTags"][0] for p in pages for d in p["imageDetails"]]
    assert sorted(tags) == [f"v{i}" for i in range(5)]
    listed = [
        i
        for p in ecr.get_paginator("list_images").paginate(repositoryName="app")
        for i in p["imageIds"]
    ]
    assert len(listed) == 5
    repos = [
        r for p in ecr.get_paginator("describe_repositories").paginate() for r in p["repositories"]
    ]
    assert sorted(r["repositoryName"] for r in repos) == ["app", "bb", "cc"]
    assert proxy.calls == {"DescribeImages": 3, "ListImages": 3, "DescribeRepositories": 2}

    proxy.page_cap = None
    assert len(ecr.describe_images(repositoryName="app", maxResults=4)["imageDetails"]) == 4
    assert len(ecr.describe_images(repositoryName="app")["imageDetails"]) == 5


def test_rejects_bad_pagination_parameters(proxy: AwsProxy, client: ClientFactory) -> None:
    """Out-of-range maxResults, forged tokens and tokens from another listing are rejected."""
    ecr = client()
    _seed_images(ecr, "app", 3)
    ecr.create_repository(repositoryName="other")
    token = ecr.describe_images(repositoryName="app")["nextToken"]
    assert len(ecr.describe_images(repositoryName="app", nextToken=token)["imageDetails"]) == 1

    bad_calls: list[dict[str, Any]] = [
        {"repositoryName": "app", "maxResults": 1001},
        {"repositoryName": "app", "nextToken": "not-a-token"},
        {"repositoryName": "other", "nextToken": token},
    ]
    for kwargs in bad_calls:
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            ecr.describe_images(**kwargs)
        assert _error_code(exc) == "InvalidParameterException"
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        ecr.list_images(repositoryName="app", nextToken=token)
    assert "Invalid NextToken" in exc.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    ("fault", "ecr_code", "sts_code", "sts_status"),
    [
        ("throttle", "ThrottlingException", "Throttling", 400),
        ("server_error", "ServerException", "InternalFailure", 500),
        ("access_denied", "AccessDeniedException", "AccessDenied", 403),
        ("not_enabled", "UnrecognizedClientException", "InvalidClientTokenId", 403),
        ("reject_credentials", "UnrecognizedClientException", "InvalidClientTokenId", 403),
    ],
)
def test_error_faults_parse_in_botocore(
    proxy: AwsProxy,
    client: ClientFactory,
    fault: Fault,
    ecr_code: str,
    sts_code: str,
    sts_status: int,
) -> None:
    """Each error fault reaches botocore as a ClientError with the AWS error code, ECR and STS."""
    ecr, sts = client(), client("sts")
    proxy.rules.append(Rule(fault, operation="DescribeRepositories", times=1))
    proxy.rules.append(Rule(fault, operation="GetCallerIdentity", times=1))

    with pytest.raises(botocore.exceptions.ClientError) as exc:
        ecr.describe_repositories()
    assert _error_code(exc) == ecr_code
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        sts.get_caller_identity()
    assert _error_code(exc) == sts_code
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == sts_status

    # times=1 is used up, so the calls now pass through to moto.
    assert ecr.describe_repositories()["repositories"] == []
    assert sts.get_caller_identity()["Account"]
    assert proxy.faults == {fault: 2}


def test_rules_match_region_and_access_key(proxy: AwsProxy, client: ClientFactory) -> None:
    """A rule hits only the region and access key it names."""
    proxy.rules.append(Rule("access_denied", region="eu-west-1"))
    proxy.rules.append(Rule("reject_credentials", access_key="AKIDBAD"))
    assert client().describe_repositories()["repositories"] == []
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client(region="eu-west-1").describe_repositories()
    assert _error_code(exc) == "AccessDeniedException"
    bad = client(aws_access_key_id="AKIDBAD", aws_secret_access_key="x")
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        bad.describe_repositories()
    assert _error_code(exc) == "UnrecognizedClientException"


def test_rate_is_seeded(proxy: AwsProxy, client: ClientFactory) -> None:
    """A partial rate hits some calls, and the same calls again after reset() reseeds."""
    ecr = client()

    def run() -> list[bool]:
        proxy.rules.append(Rule("throttle", rate=0.5))
        hits = []
        for _ in range(20):
            try:
                ecr.describe_repositories()
                hits.append(False)
            except botocore.exceptions.ClientError:
                hits.append(True)
        proxy.reset()
        return hits

    first = run()
    assert 0 < sum(first) < 20
    assert run() == first


def test_reset_aborts_connection(proxy: AwsProxy, client: ClientFactory) -> None:
    """A reset fault drops the connection, which botocore reports as a connection error."""
    ecr = client()
    proxy.rules.append(Rule("reset", operation="ListImages", times=1))
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        ecr.list_images(repositoryName="app")
    assert proxy.faults == {"reset": 1}
    assert ecr.describe_repositories()["repositories"] == []


def test_latency_delays_then_forwards(proxy: AwsProxy, client: ClientFactory) -> None:
    """A latency fault delays the call and then forwards it normally."""
    ecr = client()
    proxy.rules.append(Rule("latency", delay=0.3, times=1))
    proxy.rules.append(Rule("throttle"))  # latency stops rule evaluation, so never reached
    start = time.monotonic()
    assert ecr.describe_repositories()["repositories"] == []
    assert time.monotonic() - start >= 0.3
    assert proxy.faults == {"latency": 1}


def test_hooks_run_before_forwarding(proxy: AwsProxy, client: ClientFactory, moto_url: str) -> None:
    """Hooks see each ECR call before moto does and may change moto's state mid-scan."""
    ecr = client()
    for name in ("aa", "bb", "cc"):
        ecr.create_repository(repositoryName=name)
    upstream = client(endpoint_url=moto_url)
    seen: list[tuple[str, str, dict[str, Any]]] = []

    def vanish(operation: str, region: str, request: dict[str, Any]) -> None:
        seen.append((operation, region, request))
        if operation == "DescribeImages":
            upstream.delete_repository(repositoryName="bb")

    proxy.hooks.append(vanish)
    with pytest.raises(ecr.exceptions.RepositoryNotFoundException):
        ecr.describe_images(repositoryName="bb")
    client("sts").get_caller_identity()
    assert seen == [("DescribeImages", REGION, {"repositoryName": "bb"})]
    assert [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]] == [
        "aa",
        "cc",
    ]


def test_handlers_ask_moto_and_answer_errors(proxy: AwsProxy, client: ClientFactory) -> None:
    """A handler computes the answer from moto's (asked as the caller, unseen by the counters)
    in a worker thread; AwsError from a handler or responder is an AWS error answer."""
    ecr = client()
    ecr.create_repository(repositoryName="app")

    def names(call: Call) -> dict[str, Any]:
        if call.request.get("repositoryNames") == ["refused"]:
            raise AwsError("ValidationException", "refused")
        with pytest.raises(AwsError) as missing:
            call.ask("DescribeImages", {"repositoryName": "nope"})
        assert missing.value.code == "RepositoryNotFoundException"
        found = call.ask("DescribeRepositories", {})["repositories"]
        return {"scanningConfigurations": [{"repositoryName": r["repositoryName"]} for r in found]}

    def refuse(region: str, request: dict[str, Any]) -> dict[str, Any]:
        raise AwsError("ValidationException", "no such setting")

    proxy.handlers["BatchGetRepositoryScanningConfiguration"] = names
    proxy.responses["GetAccountSetting"] = refuse
    reply = ecr.batch_get_repository_scanning_configuration(repositoryNames=["app"])
    assert reply["scanningConfigurations"] == [{"repositoryName": "app"}]
    assert proxy.calls == {"CreateRepository": 1, "BatchGetRepositoryScanningConfiguration": 1}
    refusals: list[Callable[[], object]] = [
        lambda: ecr.batch_get_repository_scanning_configuration(repositoryNames=["refused"]),
        lambda: ecr.get_account_setting(name="X"),
    ]
    for refusal in refusals:
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            refusal()
        assert _error_code(refused) == "ValidationException"


def test_enhanced_findings_pages_hold_100(proxy: AwsProxy, client: ClientFactory) -> None:
    """DescribeImageScanFindings pages whichever findings list the answer has, enhanced ones
    100 at most whatever maxResults says, and adds no list the answer lacks."""
    ecr = client()
    _seed_images(ecr, "app", 1)
    ecr.start_image_scan(repositoryName="app", imageId={"imageTag": "v0"})
    proxy.page_cap = None

    def enhanced(region: str, request: dict[str, Any], reply: dict[str, Any]) -> None:
        found = reply["imageScanFindings"]
        found["enhancedFindings"] = [{"title": f"CVE-{n}"} for n in range(150)]
        del found["findings"]

    proxy.rewrites["DescribeImageScanFindings"] = enhanced
    pages = list(
        ecr.get_paginator("describe_image_scan_findings").paginate(
            repositoryName="app", imageId={"imageTag": "v0"}, maxResults=1000
        )
    )
    assert [len(p["imageScanFindings"]["enhancedFindings"]) for p in pages] == [100, 50]
    assert all("findings" not in p["imageScanFindings"] for p in pages)
