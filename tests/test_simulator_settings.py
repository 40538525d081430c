"""The simulator's registry settings of today's ECR (bench/simulator/settings.py): nothing
configured by default, the model's shapes when configured, and a scan with signing, replication
and the registry collected against it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from aiobotocore.session import AioSession
from conftest import ListSink

from bench.simulator import access_key, parse_scenario
from bench.simulator.server import Simulator
from bench.simulator.settings import REPLICATION_FAILURE, RegistrySettings, SettingsOperations
from bench.simulator.wire import ApiError
from crawler.config import load_config
from crawler.graph import scan

ACCOUNT = "111111111111"
REGION = "us-east-1"
PROFILE = "arn:aws:signer:us-east-1:111111111111:/signing-profiles/release"
SCENARIO = {
    "name": "settings",
    "accounts": [ACCOUNT],
    "regions": [REGION],
    "repositories_per_region": 4,
    "images": {"distribution": "fixed", "value": 3},
    "page_cap": 2,
}
FAILED = ("us-west-2", "222222222222")
SETTINGS = RegistrySettings(
    signing_rules=(
        {
            "signingProfileArn": PROFILE,
            "repositoryFilters": [{"filter": "platform/*", "filterType": "WILDCARD_MATCH"}],
        },
    ),
    templates=tuple(
        {"prefix": p, "appliedFor": ["CREATE_ON_PUSH"], "imageTagMutability": "IMMUTABLE"}
        for p in ("a", "b", "c")
    ),
    replication_rules=(
        {
            "destinations": [
                {"region": "eu-west-1", "registryId": ACCOUNT},
                {"region": FAILED[0], "registryId": FAILED[1]},
            ],
            "repositoryFilters": [{"filter": "payments/", "filterType": "PREFIX_MATCH"}],
        },
    ),
    failed_destination=FAILED,
)


def _simulator(settings: RegistrySettings | None = None) -> Simulator:
    simulator = Simulator(parse_scenario(SCENARIO))
    if settings is not None:
        SettingsOperations(simulator.ecr, settings)
    return simulator


def _call(simulator: Simulator, operation: str, **payload: Any) -> Any:
    return simulator.ecr.call(operation, ACCOUNT, REGION, payload)[0]


def _first_image(simulator: Simulator, repository: str) -> dict[str, str]:
    page = _call(simulator, "DescribeImages", repositoryName=repository)
    return {"imageDigest": page.imageDetails[0].imageDigest}


def test_nothing_is_configured_by_default() -> None:
    """No signing configuration (its not-found exception), no templates, no replication rules,
    no statuses; an unknown image is ImageNotFoundException."""
    simulator = _simulator()
    with pytest.raises(ApiError, match="SigningConfigurationNotFoundException"):
        _call(simulator, "GetSigningConfiguration")
    registry = _call(simulator, "DescribeRegistry")
    assert registry == {"registryId": ACCOUNT, "replicationConfiguration": {"rules": []}}
    assert (
        _call(simulator, "DescribeRepositoryCreationTemplates")["repositoryCreationTemplates"] == []
    )
    image = _first_image(simulator, "platform/api")
    signing = _call(
        simulator, "DescribeImageSigningStatus", repositoryName="platform/api", imageId=image
    )
    assert signing["signingStatuses"] == []
    replication = _call(
        simulator, "DescribeImageReplicationStatus", repositoryName="platform/api", imageId=image
    )
    assert replication["replicationStatuses"] == []
    with pytest.raises(ApiError, match="ImageNotFoundException"):
        _call(
            simulator,
            "DescribeImageSigningStatus",
            repositoryName="platform/api",
            imageId={"imageDigest": "sha256:" + "0" * 64},
        )


def test_configured_settings_answer_per_rule() -> None:
    """A status per profile for covered images, templates page by page, a replication status
    per destination with the failed one's code."""
    simulator = _simulator(SETTINGS)
    signed = _call(
        simulator,
        "DescribeImageSigningStatus",
        repositoryName="platform/api",
        imageId=_first_image(simulator, "platform/api"),
    )
    assert signed["signingStatuses"] == [{"signingProfileArn": PROFILE, "status": "COMPLETE"}]
    first = _call(simulator, "DescribeRepositoryCreationTemplates", maxResults=2)
    rest = _call(simulator, "DescribeRepositoryCreationTemplates", nextToken=first["nextToken"])
    prefixes = [t["prefix"] for t in first["repositoryCreationTemplates"]]
    assert prefixes + [t["prefix"] for t in rest["repositoryCreationTemplates"]] == ["a", "b", "c"]
    assert "nextToken" not in rest
    replication = _call(
        simulator,
        "DescribeImageReplicationStatus",
        repositoryName="payments/api",
        imageId=_first_image(simulator, "payments/api"),
    )
    assert replication["replicationStatuses"] == [
        {"region": "eu-west-1", "registryId": ACCOUNT, "status": "COMPLETE"},
        {
            "region": FAILED[0],
            "registryId": FAILED[1],
            "status": "FAILED",
            "failureCode": REPLICATION_FAILURE,
        },
    ]


@pytest.fixture
def served() -> Iterator[tuple[Simulator, str]]:
    """The configured simulator on 127.0.0.1, in a thread of its own."""
    simulator = _simulator(SETTINGS)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner, url = asyncio.run_coroutine_threadsafe(simulator.start(), loop).result()
    try:
        yield simulator, url
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def test_scan_with_every_new_option(served: tuple[Simulator, str], tmp_path: Any) -> None:
    """A scan with registry, signing and replication collected is complete, without errors,
    and its records carry the simulator's settings."""
    simulator, url = served
    collect: dict[str, Any] = {
        "collect.registry": True,
        "collect.signing": True,
        "collect.replication": True,
    }
    config = load_config(
        None, regions=[REGION], endpoint_url=url, cache_dir=str(tmp_path), **collect
    )
    session = AioSession()
    session.set_credentials(access_key(ACCOUNT), "anything")
    sink = ListSink()
    summary = anyio.run(lambda: scan(config, sink, session=session))
    assert summary.status == "complete"
    assert not sink.of("error")
    [registry] = sink.of("registry")
    assert registry.signing_configuration["rules"][0]["signing_profile_arn"] == PROFILE
    assert [t.prefix for t in sink.of("repository_creation_template")] == ["a", "b", "c"]
    images = sink.of("image")
    for image in images:
        platform = image.repository_name.startswith("platform/")
        assert bool(image.signing_statuses) == platform
        failed = [s for s in image.replication_statuses if s.status == "FAILED"]
        assert bool(failed) == image.repository_name.startswith("payments/")
    stats = simulator.stats
    assert stats.calls["DescribeImageSigningStatus"] == sum(
        1 for i in images if i.repository_name.startswith("platform/")
    )
