"""The partition's ECR regions, read from botocore's endpoint data without starting botocore."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from aiobotocore.session import AioSession
from conftest import cli

from crawler.aws.regions import partition_regions


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
def test_same_regions_as_botocore(partition: str) -> None:
    """Each partition lists exactly the regions botocore's session offers ECR in, sorted."""
    expected = anyio.run(AioSession().get_available_regions, "ecr", partition)
    assert partition_regions(partition) == sorted(expected)
    assert partition_regions(partition)


def test_unknown_partition_has_no_regions() -> None:
    """A partition the endpoint data does not know lists nothing."""
    assert partition_regions("aws-mars") == []


def test_unknown_region_flag_is_rejected_with_a_hint(aws_env: dict[str, str]) -> None:
    """`--regions eu-west-9`: exit 2 at once, naming the nearest region, no call to AWS."""
    result = cli("scan", "--regions", "eu-west-9", env=aws_env)
    assert result.code == 2, result.stderr
    assert "'eu-west-9'" in result.stderr
    assert "did you mean 'eu-west-" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_default_region_is_rejected_with_its_source(aws_env: dict[str, str]) -> None:
    """A mistyped AWS_DEFAULT_REGION is named as the source, with the region it resembles."""
    env = {**aws_env, "AWS_DEFAULT_REGION": "us-eats-1"}
    env.pop("AWS_REGION", None)
    result = cli("plan", env=env)
    assert result.code == 2, result.stderr
    assert "AWS_DEFAULT_REGION" in result.stderr
    assert "did you mean 'us-east-1'" in result.stderr


def test_unlisted_regions_escape_accepts_a_newer_region(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    """With unlisted_regions: true a region botocore does not know is planned like any other."""
    config = tmp_path / "new.yaml"
    config.write_text("unlisted_regions: true\n")
    result = cli("plan", "-c", str(config), "--regions", "xx-new-1", env=aws_env)
    assert result.code == 0, result.stderr
    assert "xx-new-1" in result.stdout
