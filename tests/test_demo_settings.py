"""The demo emulator's registry settings of today's ECR (crawler/demo/registry_settings.py):
managed signing by push time and profile, repository creation templates, replication status per
destination, as boto3 sees them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import ecr_client, reseed

from crawler.demo.data import PARTNER_ACCOUNT, RELEASE_PROFILE, SIGNING_RULES, encode, trainer
from crawler.demo.moto_patches import paced_pushes
from crawler.demo.seed import configure_registry

NATIVE, CLAIR = "us-east-1", "eu-west-1"


@pytest.fixture(scope="module")
def settings(moto_url: str) -> Iterator[str]:
    """The tests' emulator seeded as the demo's us-east-1 registry settings are, pushes paced
    as the demo paces them; reseeded without them afterwards, as the other modules expect."""
    with paced_pushes(start=1_780_000_000, step=60):
        reseed(moto_url)
        configure_registry(ecr_client(moto_url, NATIVE), NATIVE)
    yield moto_url
    reseed(moto_url)


def test_signing_status_follows_the_rules_and_the_push_time(settings: str) -> None:
    """An image pushed before the signing configuration has no status; one pushed after has a
    status per profile whose rule covers it, FAILED for the profile the pusher may not use; a
    repository no rule covers has none; a region without a configuration has none at all."""
    ecr = ecr_client(settings, NATIVE)
    assert ecr.get_signing_configuration()["signingConfiguration"]["rules"] == SIGNING_RULES

    def statuses(repository: str, image: dict[str, str]) -> list[dict[str, Any]]:
        reply = ecr.describe_image_signing_status(repositoryName=repository, imageId=image)
        return reply["signingStatuses"]  # type: ignore[no-any-return]

    assert statuses("api/orders", {"imageTag": "2.3.0"}) == [
        {"signingProfileArn": RELEASE_PROFILE, "status": "COMPLETE"}
    ]
    assert statuses("api/orders", {"imageTag": "2.0.0"}) == []
    [failed] = statuses("ml/trainer", {"imageDigest": encode(trainer(NATIVE, 4))[1]})
    assert (failed["status"], failed["failureCode"]) == ("FAILED", "SigningProfileAccessDenied")
    assert statuses("web/frontend", {"imageTag": "latest"}) == []
    with pytest.raises(ClientError) as raised:
        ecr_client(settings, CLAIR).get_signing_configuration()
    assert raised.value.response["Error"]["Code"] == "SigningConfigurationNotFoundException"
    with pytest.raises(ClientError) as raised:
        statuses("api/orders", {"imageTag": "9.9.9"})
    assert raised.value.response["Error"]["Code"] == "ImageNotFoundException"


def test_creation_templates_page_and_filter(settings: str) -> None:
    """DescribeRepositoryCreationTemplates pages by maxResults, filters by prefix, and gives a
    template without tag mutability the model's default, MUTABLE."""
    ecr = ecr_client(settings, NATIVE)
    first = ecr.describe_repository_creation_templates(maxResults=1)
    rest = ecr.describe_repository_creation_templates(maxResults=1, nextToken=first["nextToken"])
    pages = first["repositoryCreationTemplates"] + rest["repositoryCreationTemplates"]
    assert [t["prefix"] for t in pages] == ["docker-hub", "prod"]
    assert "nextToken" not in rest
    [prod] = ecr.describe_repository_creation_templates(prefixes=["prod"])[
        "repositoryCreationTemplates"
    ]
    assert prod["encryptionConfiguration"]["encryptionType"] == "KMS_DSSE"
    assert pages[0]["imageTagMutability"] == "MUTABLE"
    empty = ecr_client(settings, CLAIR).describe_repository_creation_templates()
    assert empty["repositoryCreationTemplates"] == []


def test_replication_status_per_destination_after_the_rule(settings: str) -> None:
    """An image pushed after the replication rule has a status per destination: COMPLETE in
    its own account, FAILED in the partner account whose registry policy does not allow it;
    an image pushed before it, or of a repository no rule covers, has none."""
    ecr = ecr_client(settings, NATIVE)

    def statuses(repository: str, tag: str) -> list[tuple[str, str, str, str | None]]:
        reply = ecr.describe_image_replication_status(
            repositoryName=repository, imageId={"imageTag": tag}
        )
        return [
            (s["region"], s["registryId"], s["status"], s.get("failureCode"))
            for s in reply["replicationStatuses"]
        ]

    assert statuses("api/orders", "2.3.0") == [
        ("us-west-2", "123456789012", "COMPLETE", None),
        ("eu-central-1", PARTNER_ACCOUNT, "FAILED", "RegistryPolicyDeniesReplication"),
    ]
    assert statuses("api/orders", "2.0.0") == []
    assert statuses("web/frontend", "latest") == []
