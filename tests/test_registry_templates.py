"""Repository creation templates on their records, the values the newer ECR model added
passing through untouched, and the test proxy's registry model itself (tests/registry_model.py)
as botocore parses it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from awsproxy import AwsProxy
from conftest import ecr_client, make_config, run_scan
from registry_model import ACCOUNT, RELEASE_PROFILE, model_registry, signing_rule, template

REGION = "us-east-1"
REGISTRY = {"collect.registry": True}
PARTNER = "210987654321"


@pytest.fixture
def orders(registry: str) -> dict[str, str]:
    """api/orders' image digests by tag in us-east-1."""
    details = ecr_client(registry, REGION).describe_images(repositoryName="api/orders")
    return {t: d["imageDigest"] for d in details["imageDetails"] for t in d.get("imageTags", [])}


# -- repository creation templates ----------------------------------------------------------

LIFECYCLE = {
    "rules": [
        {
            "rulePriority": 1,
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 14,
            },
            "action": {"type": "expire"},
        }
    ]
}
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Pull",
            "Effect": "Allow",
            "Principal": {"AWS": PARTNER},
            "Action": ["ecr:BatchGetImage"],
        }
    ],
}


def _templates() -> list[dict[str, Any]]:
    return [
        template(
            "prod",
            description="production repositories",
            appliedFor=["REPLICATION", "PULL_THROUGH_CACHE", "CREATE_ON_PUSH"],
            imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
            imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "latest"}],
            encryptionConfiguration={
                "encryptionType": "KMS_DSSE",
                "kmsKey": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/prod",
            },
            lifecyclePolicy=json.dumps(LIFECYCLE),
            repositoryPolicy=json.dumps(POLICY),
            resourceTags=[{"Key": "env", "Value": "prod"}],
            customRoleArn=f"arn:aws:iam::{ACCOUNT}:role/ecr-templates",
        ),
        template(
            "dev",
            imageTagMutability="MUTABLE_WITH_EXCLUSION",
            imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "v*"}],
        ),
        template("ROOT"),
    ]


def test_creation_templates_are_records_with_parsed_policies(proxy: AwsProxy) -> None:
    """One record per template over several pages; policies parsed ({} when none), tags as a
    map, the newer enum values and their exclusion filters as AWS gives them."""
    model_registry(proxy, templates={REGION: _templates()})
    summary, sink = run_scan(make_config(proxy, regions=[REGION, "eu-west-1"], **REGISTRY))
    records = {(t.region, t.prefix): t for t in sink.of("repository_creation_template")}
    assert set(records) == {(REGION, "prod"), (REGION, "dev"), (REGION, "ROOT")}
    assert proxy.calls["DescribeRepositoryCreationTemplates"] == 3  # 2 pages + eu-west-1's one
    prod = records[(REGION, "prod")]
    assert prod.registry_id == ACCOUNT
    assert prod.applied_for == ["REPLICATION", "PULL_THROUGH_CACHE", "CREATE_ON_PUSH"]
    assert prod.image_tag_mutability == "IMMUTABLE_WITH_EXCLUSION"
    assert [(f.filter_type, f.filter) for f in prod.image_tag_mutability_exclusion_filters] == [
        ("WILDCARD", "latest")
    ]
    assert prod.encryption_configuration.encryption_type == "KMS_DSSE"
    assert prod.lifecycle_policy == LIFECYCLE
    assert prod.repository_policy == POLICY
    assert prod.resource_tags == {"env": "prod"}
    assert prod.custom_role_arn.endswith(":role/ecr-templates")
    assert prod.created_at.year == 2026
    dev, root = records[(REGION, "dev")], records[(REGION, "ROOT")]
    assert dev.image_tag_mutability == "MUTABLE_WITH_EXCLUSION"
    assert (root.lifecycle_policy, root.repository_policy, root.resource_tags) == ({}, {}, {})
    assert summary.status == "complete"


# -- the newer model's values --------------------------------------------------------------


@pytest.fixture
def newer_repositories(registry: str) -> Iterator[None]:
    """Two repositories with the tag mutabilities and encryption type moto 5 already keeps,
    removed afterwards (the seeded registry is shared by the module)."""
    ecr = ecr_client(registry, REGION)
    ecr.create_repository(
        repositoryName="newer/immutable",
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "latest"}],
        encryptionConfiguration={
            "encryptionType": "KMS_DSSE",
            "kmsKey": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/dsse",
        },
    )
    ecr.create_repository(
        repositoryName="newer/mutable",
        imageTagMutability="MUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "release-*"}],
    )
    try:
        yield
    finally:
        for name in ("newer/immutable", "newer/mutable"):
            ecr.delete_repository(repositoryName=name, force=True)


@pytest.mark.usefixtures("newer_repositories")
def test_newer_enum_values_pass_through(proxy: AwsProxy, orders: dict[str, str]) -> None:
    """IMMUTABLE_WITH_EXCLUSION and MUTABLE_WITH_EXCLUSION with their filters, KMS_DSSE and
    image status ACTIVATING reach the records as AWS spelled them."""
    model_registry(proxy, image_statuses={orders["2.1.0"]: "ACTIVATING"})
    summary, sink = run_scan(make_config(proxy, regions=[REGION]))
    repos = {r.repository_name: r for r in sink.of("repository")}
    immutable, mutable = repos["newer/immutable"], repos["newer/mutable"]
    assert immutable.image_tag_mutability == "IMMUTABLE_WITH_EXCLUSION"
    assert [f.filter for f in immutable.image_tag_mutability_exclusion_filters] == ["latest"]
    assert immutable.encryption_configuration.encryption_type == "KMS_DSSE"
    assert immutable.encryption_configuration.kms_key.endswith(":key/dsse")
    assert mutable.image_tag_mutability == "MUTABLE_WITH_EXCLUSION"
    assert [(f.filter_type, f.filter) for f in mutable.image_tag_mutability_exclusion_filters] == [
        ("WILDCARD", "release-*")
    ]
    activating = next(i for i in sink.of("image") if i.image_digest == orders["2.1.0"])
    assert (activating.image_status, sorted(activating.image_tags)) == (
        "ACTIVATING",
        ["2.1", "2.1.0"],
    )
    assert activating.last_archived_at is not None
    assert summary.status == "complete"


# -- the model itself, through botocore's parser -------------------------------------------


def test_model_answers_in_the_shapes_of_the_ecr_model(proxy: AwsProxy, registry: str) -> None:
    """boto3 parses every modelled answer; the not-found exception, ImageNotFoundException for
    an unknown image, templates paged by maxResults and filtered by prefix."""
    import boto3
    from botocore.exceptions import ClientError
    from conftest import ACCESS_KEY, SECRET_KEY

    model_registry(
        proxy,
        signing={"eu-west-1": [signing_rule(RELEASE_PROFILE)]},
        templates={REGION: [template("a"), template("b"), template("c")]},
    )
    ecr = boto3.client(
        "ecr",
        region_name=REGION,
        endpoint_url=proxy.url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    with pytest.raises(ClientError, match="SigningConfigurationNotFoundException"):
        ecr.get_signing_configuration()
    unknown = {"imageDigest": "sha256:" + "0" * 64}
    for call in (ecr.describe_image_signing_status, ecr.describe_image_replication_status):
        with pytest.raises(ClientError, match="ImageNotFoundException"):
            call(repositoryName="api/orders", imageId=unknown)
    first = ecr.describe_repository_creation_templates(maxResults=2)
    assert [t["prefix"] for t in first["repositoryCreationTemplates"]] == ["a", "b"]
    rest = ecr.describe_repository_creation_templates(maxResults=2, nextToken=first["nextToken"])
    assert [t["prefix"] for t in rest["repositoryCreationTemplates"]] == ["c"]
    assert "nextToken" not in rest
    only = ecr.describe_repository_creation_templates(prefixes=["b"])
    assert [t["prefix"] for t in only["repositoryCreationTemplates"]] == ["b"]
    paginator = ecr.get_paginator("describe_repository_creation_templates")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 1}))
    assert len(pages) == 3
    assert first["repositoryCreationTemplates"][0]["createdAt"].year == 2026
